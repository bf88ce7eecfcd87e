/**
 * `lightningstream snapshots get NAME [-o FILE]`: downloads a snapshot object byte for byte, to FILE
 * (default: NAME in the current directory, like Go; a directory means NAME inside it) or to stdout with
 * `-o -`. The download is streamed, written to a temporary file next to the target, synced and renamed
 * into place, so the target is never a partial file; a progress line shows on a terminal's stderr.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Command } from 'commander';
import type { CommandContext, ContextFactory } from './context.js';
import { createProgress } from './progress.js';
import { loadSnapshotStream, withOutput, withStorage } from './snapshots-common.js';

interface GetFlags {
  output?: string;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Calls fn for every chunk of the stream, counting them in a progress display labelled `label`. */
async function copyChunks(
  stream: AsyncIterable<Buffer | string>,
  label: string,
  total: number | undefined,
  fn: (chunk: Buffer) => Promise<unknown> | unknown,
): Promise<number> {
  const progress = createProgress({ label, total });
  try {
    for await (const chunk of stream) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      await fn(buf);
      progress.add(buf.length);
    }
  } finally {
    progress.done();
  }
  return progress.bytes;
}

async function writeAll(fh: FileHandle, chunk: Buffer): Promise<void> {
  for (let off = 0; off < chunk.length;) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
}

async function get(ctx: CommandContext, name: string, flags: GetFlags): Promise<number> {
  const toStdout = flags.output === '-';
  let target = flags.output || name;
  if (!toStdout && (await isDirectory(target))) target = join(target, basename(name));
  return withStorage(ctx, async (storage) => {
    const stream = await loadSnapshotStream(storage, name, ctx.signal);
    // The size, for the percentage of the progress line (only drawn on a terminal).
    const size = process.stderr.isTTY ? (await storage.list(name, ctx.signal)).find((o) => o.name === name)?.size : undefined;
    if (toStdout) {
      return withOutput(async (out) => {
        await copyChunks(stream, name, size, (chunk) => out.writeBytes(chunk));
      });
    }
    const tmp = join(dirname(target), `.${basename(target)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
    const fh = await open(tmp, 'wx', 0o666).catch((err: Error) => {
      stream.destroy();
      throw new Error(`cannot write ${target}: ${err.message}`, { cause: err });
    });
    let renamed = false;
    try {
      try {
        await copyChunks(stream, name, size, (chunk) => writeAll(fh, chunk));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, target);
      renamed = true;
    } finally {
      stream.destroy();
      if (!renamed) await unlink(tmp).catch(() => undefined);
    }
    ctx.logger.debug('Snapshot downloaded', { name, file: target });
    return 0;
  });
}

export function register(parent: Command, contexts: ContextFactory): void {
  parent
    .command('get')
    .description('Download a snapshot')
    .argument('<name>', 'Snapshot name in the storage')
    .option('-o, --output <file>', 'Output file, if not the same as the remote name ("-" for stdout)')
    .action(contexts.action((ctx, name: string, flags: GetFlags) => get(ctx, name, flags)));
}
