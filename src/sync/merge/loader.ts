import type { Readable } from 'node:stream';
import { LmdbError, MDB_MAP_FULL, type Txn } from '../../lmdb/index.js';
import { ContentHasher, hashingEvents, type ContentHash } from '../../snapshot/content-hash.js';
import type { EntryBatch } from '../../snapshot/batch.js';
import { decodeSnapshot } from '../../snapshot/decode.js';
import { SnapshotFormatError } from '../../snapshot/errors.js';
import { LMDB_MAX_KEY_SIZE } from '../../lmdb/flags.js';
import { SYNC_DBI_PREFIX, type PlanTarget, type SyncMode } from '../mode.js';
import type { LmdbSyncContext } from '../context.js';
import type { RestartCoverage } from '../restart-coverage.js';
import { applyWinners } from './apply.js';
import { DbiPlanner, type DbiPlan, type MergeStats } from './merge-plan.js';
import { SnapshotSpool, type SpooledDbi, type SpoolOptions } from './spool.js';
import { selectWinners, type WinnerSource } from './winners.js';

export interface LoadResult {
  /** Entries written into the LMDB (0 means the snapshot brought nothing new). */
  changed: number;
  remoteEntries: number;
  /** The txn the load committed (the base txn when it wrote nothing). */
  txnId: number;
  /** The lmdbTxnId the snapshot's writer recorded in its meta. */
  snapshotTxnId: number;
  /** The LMDB held exactly the snapshot's data (nothing written, no local-only entries or DBIs). */
  identical: boolean;
  /** The last committed txn id when the load's write txn began (nothing else can commit meanwhile). */
  baseTxnId: number;
  /** The whole load: decompressing, decoding, merging. */
  ms: number;
  /** How long the LMDB's write lock was held (writing the winners), in ms to a tenth. */
  lockMs: number;
  /** Deciding the winners against a read txn, outside the lock. */
  planMs: number;
  /** The part of lockMs that LMDB's commit took (writing the dirty pages, and syncing them). */
  commitMs: number;
  /** Decoded size, and whether it went to a temporary file. */
  spoolBytes: number;
  spooledToDisk: boolean;
  /** With `hashContent`: what the snapshot's entries hash to (checked against the hash it carries). */
  contentHash?: ContentHash;
}

export interface LoadOptions {
  coverage?: { role: 'collect' | 'cover'; keys: RestartCoverage };
  spool?: SpoolOptions;
  /** Called with the merge error when the map is full; true when it grew the map (the merge is retried). */
  onMapFull?: (err: LmdbError) => boolean;
  /** Hash the entries (full snapshots: their content is an instance's whole state). */
  hashContent?: boolean;
  /** Sees every batch of the snapshot's synced DBIs while the merge is planned (the keys a peer's state holds). */
  onRemoteBatch?: (dbiName: string, batch: EntryBatch) => void;
}

/**
 * Loads one snapshot in three steps, so the application's writers wait only for the entries that change.
 * 1. Decompress, decode and validate into a spool, outside any LMDB transaction: a corrupt or truncated
 *    snapshot is refused before the LMDB is touched.
 * 2. Plan (mergePlan): decide the winners against a read txn, outside the write lock, and gather them.
 * 3. Apply them in one write txn, synchronously (no await while the write lock is held), re-checking each
 *    winner against the current value when the LMDB changed since the plan's read txn. Any error aborts the
 *    txn, so a merge is applied whole or not at all, and a process killed at any instruction leaves the LMDB
 *    as it was before the merge or after it. A merge that changes nothing commits an empty txn, which LMDB
 *    does not record.
 */
export async function loadSnapshot(
  ctx: LmdbSyncContext, snapshotName: string, open: () => Promise<Readable>, signal: AbortSignal, opts: LoadOptions = {},
): Promise<LoadResult> {
  const started = Date.now();
  const spool = new SnapshotSpool(opts.spool);
  let winnerSpool: SnapshotSpool | undefined;
  try {
    const input = await open();
    const hasher = opts.hashContent ? new ContentHasher() : undefined;
    const decoded = decodeSnapshot(input, { name: snapshotName, signal });
    await spool.fill(hasher ? hashingEvents(decoded, hasher, snapshotName) : decoded, signal);
    const contentHash = hasher?.digest();
    if (ctx.log.isEnabled('debug')) {
      ctx.log.debug('snapshot decoded, merging', { snapshot: snapshotName, entries: spool.entries, spool_bytes: spool.bytes, on_disk: spool.onDisk });
    }
    const plan = await planLoad(ctx, snapshotName, spool, opts, () => (winnerSpool ??= new SnapshotSpool(opts.spool)), signal);
    for (;;) {
      signal.throwIfAborted();
      try {
        const merged = await ctx.writeLock.run(() => applyLoad(ctx, snapshotName, plan));
        return {
          ...merged, snapshotTxnId: Number(spool.meta?.lmdbTxnId ?? 0), ms: Date.now() - started, planMs: plan.ms,
          spoolBytes: spool.bytes, spooledToDisk: spool.onDisk, ...(contentHash ? { contentHash } : {}),
        };
      } catch (err) {
        if (!(err instanceof LmdbError && err.code === MDB_MAP_FULL && opts.onMapFull?.(err))) throw err;
      }
    }
  } finally {
    spool.close();
    winnerSpool?.close();
  }
}

interface PlannedDbi {
  name: string;
  flags: number;
  stats: MergeStats;
  winners: WinnerSource;
}

interface LoadPlan {
  /** The LMDB's last committed txn as the plan read it. */
  readTxnId: number;
  dbis: PlannedDbi[];
  /** As read: the LMDB held exactly the snapshot's entries (no winners, nothing local-only or differing). */
  identical: boolean;
  remoteEntries: number;
  ms: number;
}

/** Batches planned between two yields to the event loop (the plan runs outside the lock, in a read txn). */
const PLAN_BATCHES_PER_TURN = 32;

const tenths = (ms: number): number => Math.round(ms * 10) / 10;

async function planLoad(
  ctx: LmdbSyncContext, snapshotName: string, spool: SnapshotSpool, opts: Pick<LoadOptions, 'coverage' | 'onRemoteBatch'>,
  winnerSpool: () => SnapshotSpool, signal: AbortSignal,
): Promise<LoadPlan> {
  const started = Date.now();
  const { coverage, onRemoteBatch } = opts;
  const { mode } = ctx;
  const targets: Array<{ spooled: SpooledDbi; target: PlanTarget }> = [];
  const seenDbis = new Set<string>();
  for (const dbi of spool.dbis) {
    if (dbi.name.startsWith(SYNC_DBI_PREFIX)) {
      ctx.log.warn('remote snapshot contains a private DBI, ignored', { snapshot: snapshotName, dbi: dbi.name });
      continue;
    }
    if (seenDbis.has(dbi.name)) throw new SnapshotFormatError(snapshotName, `DBI ${JSON.stringify(dbi.name)} appears twice`);
    const nameProblem = dbiNameProblem(dbi.name);
    if (nameProblem) throw new SnapshotFormatError(snapshotName, `DBI ${JSON.stringify(dbi.name)}: ${nameProblem}`);
    seenDbis.add(dbi.name);
    targets.push({ spooled: dbi, target: mode.planTarget(dbi.name, dbi.flags, dbi.transform, snapshotName) });
  }
  const txn = ctx.env.beginRead();
  const plan: LoadPlan = { readTxnId: txn.id, dbis: [], identical: true, remoteEntries: 0, ms: 0 };
  const decided: Array<{ spooled: SpooledDbi; plan: DbiPlan }> = [];
  try {
    for (const { spooled, target } of targets) {
      const planner = new DbiPlanner(target.headers && txn.scan(target.headers)[Symbol.iterator](), spooled.count, {
        compare: target.compare, integerKeys: target.integerKeys, dbiName: spooled.name, snapshotName,
        ...(target.tombstoneCutoffNano !== undefined && { tombstoneCutoffNano: target.tombstoneCutoffNano }),
        ...(coverage && { coverage }),
      });
      let batches = 0;
      for (const batch of spool.batches(spooled)) {
        planner.add(batch);
        onRemoteBatch?.(spooled.name, batch);
        if (++batches % PLAN_BATCHES_PER_TURN === 0) {
          await new Promise((resolve) => setImmediate(resolve));
          signal.throwIfAborted();
        }
      }
      decided.push({ spooled, plan: planner.finish() });
    }
    if (localDataOutside(txn, mode, seenDbis, coverage)) plan.identical = false;
  } finally {
    txn.abort();
  }
  for (const { spooled, plan: dbiPlan } of decided) {
    const { stats } = dbiPlan;
    if (stats.winners > 0 || stats.localOnly > 0 || stats.differing > 0) plan.identical = false;
    plan.remoteEntries += stats.remoteEntries;
    plan.dbis.push({ name: spooled.name, flags: spooled.flags, stats, winners: selectWinners(spool, spooled, dbiPlan, winnerSpool) });
  }
  plan.ms = Date.now() - started;
  return plan;
}

type AppliedLoad = Omit<LoadResult, 'ms' | 'planMs' | 'spoolBytes' | 'spooledToDisk' | 'snapshotTxnId'>;

function applyLoad(ctx: LmdbSyncContext, snapshotName: string, plan: LoadPlan): AppliedLoad {
  const lockStart = performance.now();
  const { mode } = ctx;
  const txn = ctx.env.beginWrite();
  let committed = false;
  try {
    const txnId = txn.id;
    const preparedWrites = mode.beginLoad(txn);
    const changedSincePlan = preparedWrites > 0 || txnId - 1 !== plan.readTxnId;
    let changed = 0;
    for (const dbi of plan.dbis) {
      const target = mode.applyTarget(txn, dbi.name, dbi.flags, snapshotName);
      changed += applyWinners(txn, target.headers, dbi.winners, {
        txnId, paddingBlock: target.paddingBlock, recheck: changedSincePlan, dbiName: dbi.name,
        ...(target.onFlush && { onFlush: target.onFlush }),
      });
    }
    const commitStart = performance.now();
    txn.commit();
    committed = true;
    const commitMs = tenths(performance.now() - commitStart);
    // A txn that wrote nothing is not recorded by LMDB: the LMDB is then still at the base txn.
    const committedTxnId = changed + preparedWrites > 0 ? txnId : txnId - 1;
    mode.loadCommitted(committedTxnId);
    return {
      changed, remoteEntries: plan.remoteEntries, identical: plan.identical && !changedSincePlan, baseTxnId: txnId - 1,
      txnId: committedTxnId, lockMs: tenths(performance.now() - lockStart), commitMs,
    };
  } finally {
    if (!committed) txn.abort();
  }
}

/**
 * Whether a synced DBI the snapshot does not have holds entries; while collecting restart coverage
 * (our own snapshot), those entries are recorded as not held by it.
 */
function localDataOutside(txn: Txn, mode: SyncMode, seen: Set<string>, coverage: LoadOptions['coverage']): boolean {
  let found = false;
  for (const { name, headers } of mode.syncedDbis(txn)) {
    if (seen.has(name) || txn.stat(headers).entries === 0) continue;
    found = true;
    if (coverage?.role !== 'collect') continue;
    for (const kv of txn.scan(headers)) {
      for (let i = 0; i < kv.count; i++) coverage.keys.unsaved(name, kv.buf, kv.keyOff[i]!, kv.keyLen[i]!);
    }
  }
  return found;
}

/** Why a name cannot be an LMDB DBI name (a key of the main DB: 1-511 bytes; NUL would cut it short in C). */
function dbiNameProblem(name: string): string | undefined {
  const bytes = Buffer.byteLength(name);
  if (bytes === 0) return 'an empty name is not a DBI name';
  if (bytes > LMDB_MAX_KEY_SIZE) return `a name of ${bytes} bytes is longer than LMDB allows (${LMDB_MAX_KEY_SIZE})`;
  if (name.includes('\0')) return 'a DBI name cannot contain NUL';
  return undefined;
}
