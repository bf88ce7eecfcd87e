/**
 * `lightningstream snapshots get NAME [-o FILE]`: downloads a snapshot object byte for byte, to FILE
 * (default: NAME in the current directory, like Go; a directory means NAME inside it) or to stdout with
 * `-o -`. The download is streamed, written to a temporary file next to the target, synced and renamed
 * into place, so the target is never a partial file; a progress line shows on a terminal's stderr.
 * A target that is not a regular file is never replaced: a character device or FIFO (/dev/null, a pipe)
 * is written into, a symlink is followed (its target replaced, the link kept), and block devices and
 * sockets are refused.
 */
import { randomBytes } from 'node:crypto';
import { lstat, open, realpath, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
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
  fn: (chunk: Buffer) => unknown,
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

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch {
    return undefined;
  }
}

/** How to write to `target`: replace it atomically (regular or new file), or write into it (devices, FIFOs). */
async function outputMode(target: string): Promise<{ path: string; inPlace: boolean }> {
  let st = await lstatOrUndefined(target);
  let path = target;
  if (st?.isSymbolicLink()) {
    path = await realpath(target).catch(() => target); // a dangling link: created where it points
    st = await lstatOrUndefined(path);
  }
  if (!st || st.isFile()) return { path, inPlace: false };
  if (st.isCharacterDevice() || st.isFIFO()) return { path, inPlace: true };
  const kind = st.isBlockDevice() ? 'a block device' : st.isSocket() ? 'a socket' : 'not a regular file';
  throw new Error(`refusing to write the snapshot onto ${target}: it is ${kind}`);
}

async function get(ctx: CommandContext, name: string, flags: GetFlags): Promise<number> {
  const toStdout = flags.output === '-';
  let target = flags.output || name;
  if (!toStdout && (await isDirectory(target))) target = join(target, basename(name));
  const mode = toStdout ? undefined : await outputMode(target);
  return withStorage(ctx, async (storage) => {
    const stream = await loadSnapshotStream(storage, name, ctx.signal);
    // The size, for the percentage of the progress line (only drawn on a terminal).
    const size = process.stderr.isTTY ? (await storage.list(name, ctx.signal)).find((o) => o.name === name)?.size : undefined;
    if (toStdout) {
      return withOutput(async (out) => {
        await copyChunks(stream, name, size, (chunk) => out.writeBytes(chunk));
      });
    }
    if (mode?.inPlace) {
      const out = await open(mode.path, 'w').catch((err: unknown) => {
        stream.destroy();
        throw new Error(`cannot write ${target}: ${(err as Error).message}`, { cause: err });
      });
      try {
        await copyChunks(stream, name, size, (chunk) => writeAll(out, chunk));
      } finally {
        stream.destroy();
        await out.close();
      }
      ctx.logger.debug('Snapshot downloaded', { name, file: target });
      return 0;
    }
    target = mode?.path ?? target;
    const tmp = join(dirname(target), `.${basename(target)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
    const fh = await open(tmp, 'wx', 0o666).catch((err: unknown) => {
      stream.destroy();
      throw new Error(`cannot write ${target}: ${(err as Error).message}`, { cause: err });
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
