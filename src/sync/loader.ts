import type { Readable } from 'node:stream';
import { decodeSnapshot } from '../snapshot/decode.js';
import { SYNC_DBI_PREFIX } from './mode.js';
import type { LmdbSyncContext } from './context.js';
import { DbiMerger } from './merger.js';

export interface LoadResult {
  /** Entries written into the LMDB (0 means the snapshot brought nothing new). */
  changed: number;
  remoteEntries: number;
  /** The txn the load committed (the base txn when it wrote nothing). */
  txnId: number;
  /** The lmdbTxnId the snapshot's writer recorded in its meta. */
  snapshotTxnId: number;
  /**
   * The LMDB held exactly the snapshot's data when it was loaded (nothing written, no local-only
   * entries or DBIs): a restarted instance whose own last snapshot is identical needs no new one.
   */
  identical: boolean;
  /** The last committed txn id when the load's write txn began (nothing else can commit meanwhile). */
  baseTxnId: number;
  ms: number;
  lockMs: number;
}

/**
 * Merges one downloaded snapshot into the LMDB in a single write txn: decoding streams from the
 * compressed bytes while merging, so the decompressed snapshot is never held whole in memory.
 * Any error (corrupt snapshot, abort, LMDB failure) aborts the txn: a merge is applied whole or not
 * at all. A merge that changes nothing commits an empty txn, which LMDB does not record.
 */
export async function loadSnapshot(
  ctx: LmdbSyncContext, snapshotName: string, open: () => Promise<Readable>, signal: AbortSignal, unsaved?: Set<string>,
): Promise<LoadResult> {
  const started = Date.now();
  const input = await open();
  return ctx.writeLock.run(async () => {
    const lockStart = Date.now();
    const txn = ctx.env.beginWrite();
    let committed = false;
    try {
      const txnId = txn.id;
      const preparedWrites = ctx.mode.beginLoad(txn);
      const result = { changed: 0, remoteEntries: 0, snapshotTxnId: 0, identical: true, baseTxnId: txnId - 1 };
      const seenDbis = new Set<string>();
      let merger: DbiMerger | undefined;
      let currentDbi = '';
      for await (const ev of decodeSnapshot(input, { name: snapshotName, signal })) {
        if (signal.aborted) throw signal.reason;
        switch (ev.type) {
          case 'dbi-start':
            currentDbi = ev.name;
            seenDbis.add(ev.name);
            merger = ev.name.startsWith(SYNC_DBI_PREFIX)
              ? undefined
              : ctx.mode.mergeTarget(txn, ev.name, ev.flags, ev.transform, txnId, snapshotName, unsaved);
            break;
          case 'entries':
            merger?.add(ev.batch);
            break;
          case 'dbi-end': {
            if (merger) {
              ctx.mode.checkDbiEnd(ev.name, ev.flags, ev.transform, snapshotName);
              const stats = merger.finish();
              if (stats.written > 0 || stats.localOnly > 0 || stats.differing > 0) result.identical = false;
              result.changed += stats.written;
              result.remoteEntries += stats.remoteEntries;
            } else if (currentDbi.startsWith(SYNC_DBI_PREFIX)) {
              ctx.log.warn('remote snapshot contains a private DBI, ignored', { snapshot: snapshotName, dbi: currentDbi });
            }
            merger = undefined;
            break;
          }
          case 'end':
            result.snapshotTxnId = Number(ev.meta.lmdbTxnId);
            break;
          default:
            break;
        }
      }
      if (result.identical && ctx.mode.hasLocalDataOutside(txn, seenDbis)) result.identical = false;
      if (preparedWrites > 0) result.identical = false;
      txn.commit();
      committed = true;
      // A txn that wrote nothing is not recorded by LMDB: the LMDB is then still at the base txn.
      const committedTxnId = result.changed + preparedWrites > 0 ? txnId : txnId - 1;
      ctx.mode.loadCommitted(committedTxnId);
      return { ...result, txnId: committedTxnId, ms: Date.now() - started, lockMs: Date.now() - lockStart };
    } finally {
      if (!committed) txn.abort();
    }
  });
}

