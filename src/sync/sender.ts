import { pipeline, Transform } from 'node:stream';
import { encodeSnapshot } from '../snapshot/encode.js';
import { buildSnapshotName } from '../snapshot/name.js';
import { systemClock } from '../util/clock.js';
import type { LmdbSyncContext } from './context.js';
import { withRetry } from './retry.js';

export interface StoredSnapshot {
  name: string;
  txnId: number;
  entries: number;
  bytes: number;
  ms: number;
}

/**
 * Writes one snapshot of the LMDB: a read txn (never blocking the application's writers) is
 * streamed through the encoder straight into the storage. Each retry starts from a fresh read txn,
 * so a long storage outage does not pin old LMDB pages.
 */
export async function storeSnapshot(ctx: LmdbSyncContext, signal: AbortSignal): Promise<StoredSnapshot> {
  return withRetry(`store snapshot of ${ctx.dbName}`, ctx.retry, ctx.log, signal, () => storeOnce(ctx, signal));
}

async function storeOnce(ctx: LmdbSyncContext, signal: AbortSignal): Promise<StoredSnapshot> {
  const started = Date.now();
  const dbiNames = ctx.mode.openSnapshotDbis();
  const txn = ctx.env.beginRead();
  try {
    const timestampNano = (ctx.clock ?? systemClock).nowNano();
    const txnId = txn.id;
    const { sources, entries } = ctx.mode.snapshotSources(txn, dbiNames);
    const name = buildSnapshotName({
      db: ctx.dbName, instance: ctx.instance, timestamp: timestampNano, generation: ctx.generation,
    });
    const meta = {
      generationId: ctx.generation, instanceId: ctx.instance, hostname: ctx.hostname,
      lmdbTxnId: txnId, timestampNano, databaseName: ctx.dbName, fromLmdbTxnId: 0,
    };
    let bytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        cb(null, chunk);
      },
    });
    // pipeline (not pipe) so an encoder error fails the store instead of leaving it waiting.
    const body = pipeline(encodeSnapshot(meta, sources, { signal }), counter, () => {});
    await ctx.storage.store(name, body, signal);
    return { name, txnId: ctx.mode.snapshotCoversTxnId(txnId), entries, bytes, ms: Date.now() - started };
  } finally {
    txn.abort();
  }
}

