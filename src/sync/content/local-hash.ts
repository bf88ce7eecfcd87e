import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { ContentHasher, type ContentHash } from '../../snapshot/content-hash.js';
import type { DbiSource } from '../../snapshot/types.js';
import type { LmdbSyncContext } from '../context.js';

/** Batches hashed between two pauses for the event loop (HTTP, timers): a few ms of work each time. */
const BATCHES_PER_SLICE = 16;

export interface LocalHash {
  hash: ContentHash;
  /** The last txn id whose changes the hash covers (shadow mode: what the shadows hold). */
  txnId: number;
  at: Date;
  ms: number;
}

/**
 * Hashes the LMDB's synced content exactly as a full snapshot would hold it, from one read txn (never
 * blocking the application's writers), pausing for the event loop every few batches.
 */
export async function hashLocalContent(ctx: LmdbSyncContext, signal: AbortSignal): Promise<LocalHash> {
  const started = Date.now();
  const dbiNames = ctx.mode.openSnapshotDbis();
  const txn = ctx.env.beginRead();
  try {
    const { sources } = ctx.mode.snapshotSources(txn, dbiNames);
    const hash = await hashDbiSources(sources, signal);
    return { hash, txnId: ctx.mode.snapshotCoversTxnId(txn.id), at: new Date(), ms: Date.now() - started };
  } finally {
    txn.abort();
  }
}

/** The content hash of snapshot DBI sources (read inside the caller's read txn), pausing for the event loop every few batches. */
export async function hashDbiSources(sources: DbiSource[], signal: AbortSignal): Promise<ContentHash> {
  const hasher = new ContentHasher();
  let batches = 0;
  for (const source of sources) {
    for await (const batch of source.batches()) {
      hasher.add(source.name, batch);
      if (++batches % BATCHES_PER_SLICE === 0) {
        await yieldToEventLoop();
        signal.throwIfAborted();
      }
    }
  }
  return hasher.digest();
}
