import type { Readable } from 'node:stream';
import { LmdbError, MDB_MAP_FULL, type Txn } from '../../lmdb/index.js';
import { ContentHasher, hashingEvents, type ContentHash } from '../../snapshot/content-hash.js';
import { decodeSnapshot } from '../../snapshot/decode.js';
import { SnapshotFormatError } from '../../snapshot/errors.js';
import { LMDB_MAX_KEY_SIZE } from '../../lmdb/flags.js';
import { SYNC_DBI_PREFIX, type SyncMode } from '../mode.js';
import type { LmdbSyncContext } from '../context.js';
import type { RestartCoverage } from '../restart-coverage.js';
import { SnapshotSpool, type SpoolOptions } from './spool.js';

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
  /** How long the LMDB's write lock was held (the merge alone). */
  lockMs: number;
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
}

/**
 * Loads one snapshot in two steps. First it is decompressed, decoded and validated into a spool,
 * outside any LMDB transaction: a corrupt or truncated snapshot is refused before the LMDB is touched,
 * and the application's writers are not held up by the network, gunzip or parsing. Then it is merged
 * in one write txn, synchronously (no await while the write lock is held): any error aborts the txn,
 * so a merge is applied whole or not at all, and a process killed at any instruction leaves the LMDB
 * as it was before the merge or after it. A merge that changes nothing commits an empty txn, which LMDB
 * does not record.
 */
export async function loadSnapshot(
  ctx: LmdbSyncContext, snapshotName: string, open: () => Promise<Readable>, signal: AbortSignal, opts: LoadOptions = {},
): Promise<LoadResult> {
  const started = Date.now();
  const spool = new SnapshotSpool(opts.spool);
  try {
    const input = await open();
    const hasher = opts.hashContent ? new ContentHasher() : undefined;
    const decoded = decodeSnapshot(input, { name: snapshotName, signal });
    await spool.fill(hasher ? hashingEvents(decoded, hasher, snapshotName) : decoded, signal);
    const contentHash = hasher?.digest();
    if (ctx.log.isEnabled('debug')) {
      ctx.log.debug('snapshot decoded, merging', { snapshot: snapshotName, entries: spool.entries, spool_bytes: spool.bytes, on_disk: spool.onDisk });
    }
    for (;;) {
      signal.throwIfAborted();
      try {
        const merged = await ctx.writeLock.run(() => mergeSpool(ctx, snapshotName, spool, opts.coverage));
        return {
          ...merged, ms: Date.now() - started, spoolBytes: spool.bytes, spooledToDisk: spool.onDisk, ...(contentHash ? { contentHash } : {}),
        };
      } catch (err) {
        if (!(err instanceof LmdbError && err.code === MDB_MAP_FULL && opts.onMapFull?.(err))) throw err;
      }
    }
  } finally {
    spool.close();
  }
}

type MergeOutcome = Omit<LoadResult, 'ms' | 'spoolBytes' | 'spooledToDisk'>;

function mergeSpool(ctx: LmdbSyncContext, snapshotName: string, spool: SnapshotSpool, coverage: LoadOptions['coverage']): MergeOutcome {
  const lockStart = Date.now();
  const { mode } = ctx;
  const txn = ctx.env.beginWrite();
  let committed = false;
  try {
    const txnId = txn.id;
    const preparedWrites = mode.beginLoad(txn);
    const result = { changed: 0, remoteEntries: 0, identical: preparedWrites === 0, baseTxnId: txnId - 1 };
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
      const merger = mode.mergeTarget(txn, dbi.name, dbi.flags, dbi.transform, { txnId, snapshotName, coverage });
      for (const batch of spool.batches(dbi)) merger.add(batch);
      const stats = merger.finish();
      if (stats.written > 0 || stats.localOnly > 0 || stats.differing > 0) result.identical = false;
      result.changed += stats.written;
      result.remoteEntries += stats.remoteEntries;
    }
    if (localDataOutside(txn, mode, seenDbis, coverage)) result.identical = false;
    txn.commit();
    committed = true;
    // A txn that wrote nothing is not recorded by LMDB: the LMDB is then still at the base txn.
    const committedTxnId = result.changed + preparedWrites > 0 ? txnId : txnId - 1;
    mode.loadCommitted(committedTxnId);
    return {
      ...result, txnId: committedTxnId, snapshotTxnId: Number(spool.meta?.lmdbTxnId ?? 0), lockMs: Date.now() - lockStart,
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
