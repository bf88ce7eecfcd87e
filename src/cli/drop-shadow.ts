/**
 * `lightningstream drop-shadow [--dry-run] [--only-db NAME...]`: deletes every DBI whose name starts with
 * `_sync` (the shadow DBIs of shadow mode and any other sync metadata) from each configured LMDB, or from
 * the ones named by --only-db, as Go's command does (Go has no flags). The application DBIs are not touched.
 * With --dry-run it only lists what it would drop (the LMDB is opened read-only, nothing is written).
 *
 * Dropping loses the change timestamps and the deletion markers, so a deleted entry can come back from
 * another instance's snapshot: that is why Go's help says "This can potentially cause data loss".
 *
 * Safety: each LMDB is changed in one short write txn (its duration is logged), so the application may
 * keep running and writing; it waits for that txn like for any other writer, and it never opens `_sync*`
 * DBIs. A `lightningstream sync`/`receive` of the same LMDB must be stopped first: its shadow DBI handles
 * would point at deleted DBIs. The LMDB is never created (a missing one is reported and skipped) and is
 * opened with the map size recorded in the file, so the command never shrinks or grows the map.
 * Exit 1 when an LMDB could not be handled (Go logs it and exits 0).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import type { LmdbConfig } from '../config/config.js';
import { Env } from '../lmdb/index.js';
import type { Logger } from '../log/logger.js';
import { chooseLmdbs, forEachLmdb, openReadOnly } from '../ops/lmdb-tools.js';
import { SYNC_DBI_PREFIX } from '../sync/mode.js';
import type { CommandContext, ContextFactory } from './context.js';
import { repeatable } from './repeatable.js';

interface DropShadowFlags {
  dryRun?: boolean;
  onlyDb?: string[];
}

export interface SyncDbi {
  name: string;
  entries: number;
}

/** Named DBIs the command can open at once: more than any real LMDB has. */
const MAX_DBS = 1024;


function dataFile(lc: LmdbConfig): string {
  return lc.options.noSubdir ? lc.path : join(lc.path, 'data.mdb');
}

function syncDbiNames(env: Env): string[] {
  return env.listDbis().filter((name) => name.startsWith(SYNC_DBI_PREFIX));
}

/** The `_sync*` DBIs of an LMDB with their entry counts, read in one read txn. */
export function listSyncDbis(env: Env): SyncDbi[] {
  const names = syncDbiNames(env);
  const dbis = names.map((name) => env.openDbi(name)).filter((d) => d !== null);
  return env.read((txn) => dbis.map((dbi) => ({ name: dbi.name!, entries: txn.stat(dbi).entries })));
}

/** Deletes every `_sync*` DBI of an LMDB in one write txn; returns what was dropped and the txn's duration. */
export function dropSyncDbis(env: Env): { dropped: SyncDbi[]; txnMs: number } {
  const names = syncDbiNames(env);
  if (names.length === 0) return { dropped: [], txnMs: 0 };
  const started = performance.now();
  const dropped = env.write((txn) => {
    const out: SyncDbi[] = [];
    for (const name of names) {
      const dbi = txn.openDbi(name);
      if (!dbi) continue; // gone since it was listed
      out.push({ name, entries: txn.stat(dbi).entries });
      txn.drop(dbi, true);
    }
    return out;
  });
  return { dropped, txnMs: performance.now() - started };
}

/** Opens an existing LMDB for writing: never creates it, adopts the map size recorded in the file. */
function openForDrop(name: string, lc: LmdbConfig): Env {
  try {
    return Env.open(lc.path, { noSubdir: lc.options.noSubdir, maxDbs: Math.max(lc.options.maxDbs, MAX_DBS) });
  } catch (err) {
    throw new Error(`lmdbs.${name}: cannot open ${lc.path}: ${(err as Error).message}`, { cause: err });
  }
}

/** One LMDB; returns how many DBIs were (with dryRun: would be) dropped. */
function dropShadowOf(name: string, lc: LmdbConfig, dryRun: boolean, log: Logger): number {
  if (!existsSync(dataFile(lc))) {
    log.warn('LMDB does not exist, nothing to drop', { path: lc.path });
    return 0;
  }
  const env = dryRun ? openReadOnly(name, lc) : openForDrop(name, lc);
  try {
    if (dryRun) {
      const found = listSyncDbis(env);
      for (const d of found) log.info('Would drop', { dbi: d.name, entries: d.entries });
      if (found.length === 0) log.info('No sync DBIs to drop', { path: lc.path });
      return found.length;
    }
    const { dropped, txnMs } = dropSyncDbis(env);
    for (const d of dropped) log.info('Dropping', { dbi: d.name, entries: d.entries });
    if (dropped.length === 0) log.info('No sync DBIs to drop', { path: lc.path });
    else log.info('Sync DBIs dropped', { path: lc.path, count: dropped.length, write_txn_ms: Math.round(txnMs * 10) / 10 });
    return dropped.length;
  } finally {
    env.close();
  }
}

async function dropShadow(ctx: CommandContext, flags: DropShadowFlags): Promise<number> {
  const dryRun = Boolean(flags.dryRun);
  const failed = await forEachLmdb(chooseLmdbs(ctx.config, flags.onlyDb), (name) => {
    dropShadowOf(name, ctx.config.lmdbs[name]!, dryRun, ctx.logger.with({ db: name }));
    return Promise.resolve();
  }, (name, err) => ctx.logger.error('LMDB drop-shadow error', { db: name, error: (err as Error).message }));
  return failed > 0 ? 1 : 0;
}

export function register(program: Command, contexts: ContextFactory): void {
  program
    .command('drop-shadow')
    .description('Drop all shadow dbs and other sync metadata. This can potentially cause data loss.')
    .option('--dry-run', 'Only list what would be dropped (opens the LMDBs read-only)')
    // Earlier versions dropped only with --force: still accepted, now the default.
    .addOption(new Option('--force').hideHelp())
    .option('--only-db <name>', 'Only this configured LMDB (repeatable)', repeatable)
    .action(contexts.action((ctx, flags: DropShadowFlags) => dropShadow(ctx, flags)));
}
