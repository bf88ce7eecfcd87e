/**
 * `lightningstream restore (--at TIME | --snapshot NAME) --to PATH [--db NAME]`: builds a new LMDB at PATH
 * with the state of every instance as of TIME, or exactly one snapshot (src/ops/restore.ts). Prints the
 * snapshots used and a summary on stdout; a progress line shows on a terminal's stderr. An interrupted
 * restore leaves nothing at PATH and exits 1 (75 for --timeout).
 */
import type { Command } from 'commander';
import { formatBytes } from '../util/format.js';
import { formatTimestamp } from '../snapshot/name.js';
import { restoreLmdb, selectRestoreDb, type RestoreProgress, type RestoreResult, type RestoreSource } from '../ops/restore.js';
import { formatRestoreTime, parseRestoreTime } from '../ops/restore-time.js';
import { EXIT_ERROR, EXIT_USAGE, type CommandContext, type ContextFactory } from './context.js';
import { createProgress, type Progress } from './progress.js';
import { withStorage } from './snapshots-common.js';

interface RestoreFlags {
  at?: string;
  snapshot?: string;
  to: string;
  db?: string;
}

function terminalProgress(label: string): RestoreProgress & { done(): void } {
  let progress: Progress | undefined;
  let merged = 0;
  let planned = 0;
  return {
    planned(snapshots, bytes) {
      planned = snapshots;
      progress = createProgress({ label, total: bytes, detail: () => `${merged}/${planned} snapshots merged` });
    },
    downloaded: (bytes) => progress?.add(bytes),
    merged(count) {
      merged = count;
      progress?.add(0);
    },
    done: () => progress?.done(),
  };
}

function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function report(result: RestoreResult): string {
  const lines = result.used.map((s) => `  ${s.instance}  ${formatTimestamp(s.timestampNano)}  ${s.kind}  ${s.name}`);
  for (const note of result.notes) lines.push(`note: ${note}`);
  const instances = new Set(result.used.map((s) => s.instance)).size;
  lines.push(`restored ${count(result.entries, 'entry', 'entries')} (${count(result.deletionMarkers, 'deletion marker')}) ` +
    `in ${count(result.dbis, 'DBI')} from ${count(result.used.length, 'snapshot')} of ${count(instances, 'instance')} ` +
    `(${formatBytes(result.bytes)}) in ${(result.ms / 1000).toFixed(1)} s: ${result.path}`);
  return `${lines.join('\n')}\n`;
}

async function restore(ctx: CommandContext, flags: RestoreFlags, cmd: Command): Promise<number> {
  if ((flags.at === undefined) === (flags.snapshot === undefined)) {
    cmd.error('restore needs exactly one of --at TIME and --snapshot NAME', { exitCode: EXIT_USAGE, code: 'lightningstream.restore' });
  }
  const db = selectRestoreDb(ctx.config, flags.db, flags.snapshot);
  const source: RestoreSource = flags.at !== undefined ? { at: parseRestoreTime(flags.at, Date.now()) } : { snapshot: flags.snapshot! };
  const what = 'at' in source ? `as of ${formatRestoreTime(source.at)}` : `from ${source.snapshot}`;
  process.stdout.write(`restoring LMDB ${db} ${what} into ${flags.to}\n`);
  const progress = terminalProgress(`restore ${db}`);
  try {
    const result = await withStorage(ctx, (storage) => restoreLmdb({
      config: ctx.config, db, target: flags.to, source, storage, log: ctx.logger, signal: ctx.signal, progress,
    }));
    progress.done();
    process.stdout.write(report(result));
    return 0;
  } catch (err) {
    progress.done();
    if (!ctx.signal.aborted) throw err;
    process.stderr.write(`lightningstream: restore interrupted: nothing was written to ${flags.to}\n`);
    return EXIT_ERROR;
  }
}

export function register(program: Command, contexts: ContextFactory): void {
  program
    .command('restore')
    .description('Build a new LMDB with the state of all instances as of a time (or of one snapshot) from the storage')
    .option('--at <time>', 'RFC 3339 (2026-12-03T14:00:00Z), a snapshot timestamp (20261203-140000-000000000), now, -1h or "1h ago"')
    .option('--snapshot <name>', 'Restore exactly this one snapshot')
    .requiredOption('--to <path>', 'Where to create the new LMDB (must not exist, or be empty; never the live LMDB)')
    .option('--db <name>', 'The LMDB of the config to restore (needed when several are configured)')
    .action(contexts.action((ctx, flags: RestoreFlags, cmd: Command) => restore(ctx, flags, cmd)));
}
