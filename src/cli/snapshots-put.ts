/**
 * `lightningstream snapshots put FILE [-n NAME] [--force]`: uploads a local file as a snapshot object,
 * streamed. The name defaults to the file's base name. Like Go, a name that is not a valid snapshot name is
 * refused unless `--force` (sync would ignore such an object). Unlike Go, the file is also decoded first and
 * a corrupt snapshot is refused (every instance would otherwise download it and mark it corrupt);
 * `--force` skips that check too.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import type { Command } from 'commander';
import { parseSnapshotName, readSnapshotInfo } from '../snapshot/index.js';
import type { CommandContext, ContextFactory } from './context.js';
import { createProgress } from './progress.js';
import { withStorage } from './snapshots-common.js';

interface PutFlags {
  name?: string;
  force?: boolean;
}

/** The file's bytes, counted by a progress display on the way out. */
function withProgress(file: string, label: string, total: number): Readable {
  const progress = createProgress({ label, total });
  const source = createReadStream(file);
  return Readable.from((async function* () {
    try {
      for await (const chunk of source) {
        progress.add((chunk as Buffer).length);
        yield chunk as Buffer;
      }
    } finally {
      progress.done();
      source.destroy();
    }
  })());
}

async function put(ctx: CommandContext, file: string, flags: PutFlags): Promise<number> {
  const name = flags.name || basename(file);
  const parsed = parseSnapshotName(name);
  if (!parsed.ok) {
    if (!flags.force) {
      throw new Error(`invalid snapshot name (use -n to specify a different one, or --force to skip this check): ${parsed.error}`);
    }
    ctx.logger.warn('Invalid snapshot name forced', { error: parsed.error });
  }
  const st = await stat(file);
  if (!st.isFile()) throw new Error(`${file}: not a regular file`);
  if (!flags.force) {
    // Throws a SnapshotFormatError naming the file and the problem.
    await readSnapshotInfo(createReadStream(file), { name: file, signal: ctx.signal });
  }
  await withStorage(ctx, (storage) => storage.store(name, withProgress(file, name, st.size), ctx.signal));
  ctx.logger.debug('Snapshot uploaded', { name, file, size: st.size });
  return 0;
}

export function register(parent: Command, contexts: ContextFactory): void {
  parent
    .command('put')
    .description('Upload a snapshot')
    .argument('<file>', 'Local snapshot file')
    .option('-n, --name <name>', 'Name to store the snapshot as, if different from the local name')
    .option('--force', 'Store even when the name is not a valid snapshot name or the file does not decode')
    .action(contexts.action((ctx, file: string, flags: PutFlags) => put(ctx, file, flags)));
}
