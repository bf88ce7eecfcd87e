import { pipeline, Transform } from 'node:stream';
import { ContentHasher, type ContentHash } from '../../snapshot/content-hash.js';
import { encodeSnapshot } from '../../snapshot/encode.js';
import { buildDeltaName, buildJournalRefName, buildSnapshotName } from '../../snapshot/name.js';
import type { Txn } from '../../lmdb/index.js';
import { isAborted } from '../../util/abort.js';
import { errorMessage } from '../../util/errors.js';
import { JOURNAL_LIST_LAG_MS } from '../receive/listing.js';
import { systemClock } from '../../util/clock.js';
import type { LmdbSyncContext } from '../context.js';
import { deltaEntryCount, UntrustedTxnIdError, type DeltaFilter } from '../native-source.js';
import { withRetry } from '../retry.js';

export interface StoredSnapshot {
  name: string;
  kind: 'full' | 'delta';
  /** The timestamp in the name (nanoseconds): what the next delta names as its previous snapshot. */
  timestampNano: bigint;
  txnId: number;
  entries: number;
  bytes: number;
  ms: number;
  /** Full snapshots: the hash of the content they hold (the LMDB's synced data at txnId). */
  contentHash?: ContentHash;
}

/** Where a delta starts: the previous snapshot of the chain (its name's timestamp and the txn id it covered). */
export interface DeltaStart {
  previousNano: bigint;
  sinceTxnId: number;
  /** A delta larger than this is not worth it: a full snapshot is stored instead. */
  maxBytes: number;
}

/**
 * Chunk (= gzip member) size of deltas. A delta is mostly a few hundred bytes, and the encoder allocates a
 * chunk of this size per snapshot: the default 1 MiB, several times a second under a trickle of changes,
 * is megabytes of garbage a second outside V8's heap (and malloc's threshold for mmap moves up to it, so
 * those megabytes end up fragmenting its heap). Below 128 KiB, malloc's mmap threshold, they come from and go
 * back to malloc's heap. A large delta is written as several 64 KiB gzip members.
 */
const DELTA_CHUNK_BYTES = 64 << 10;

export type DeltaOutcome =
  /** `full`: the full snapshot stored beside the delta (see sendDelta's alsoFull), under the same timestamp. */
  | { kind: 'stored'; stored: StoredSnapshot; full?: StoredSnapshot }
  /** Nothing changed since the previous snapshot (the LMDB's txn id moved without synced data changing). */
  | { kind: 'empty'; txnId: number }
  | { kind: 'full-needed'; reason: 'too-big' | 'untrusted-txn-ids' };

/**
 * Sends a delta: the entries changed since `start` (selected by header txn id, see DeltaFilter), encoded
 * in memory up to start.maxBytes, then stored as one object, then announced in the journal when its upload
 * ended late. Nothing is stored when nothing changed.
 *
 * `alsoFull` (peers that take only full snapshots are present): a full snapshot of the same read txn is stored
 * right after the delta under the same timestamp, and announced. Both then stand for one state at one time:
 * a receiver in the delta chain takes the small delta (a chain that reaches as far as the full snapshot wins),
 * a receiver that takes the full snapshot finds the next delta chained after it (it follows that timestamp),
 * and Go peers see the full snapshot as they would without deltas.
 */
export async function sendDelta(
  ctx: LmdbSyncContext, signal: AbortSignal, start: DeltaStart, alsoFull?: AlsoFull,
): Promise<DeltaOutcome> {
  const outcome = await withRetry(`store delta of ${ctx.dbName}`, ctx.retry, ctx.log, signal, () => storeDeltaOnce(ctx, signal, start, alsoFull));
  if (outcome.kind === 'stored') {
    await announceStep(ctx, signal, outcome.stored);
    if (outcome.full) await announceStep(ctx, signal, outcome.full);
  }
  return outcome;
}

/** The full snapshot beside a delta; `evenIfEmpty`: the pair is stored even when nothing changed (the full one is owed). */
export interface AlsoFull {
  contentHash: boolean;
  evenIfEmpty: boolean;
}

async function storeDeltaOnce(
  ctx: LmdbSyncContext, signal: AbortSignal, start: DeltaStart, alsoFull: AlsoFull | undefined,
): Promise<DeltaOutcome> {
  const started = Date.now();
  const dbiNames = ctx.mode.openSnapshotDbis();
  const txn = ctx.env.beginRead();
  try {
    const readNano = (ctx.clock ?? systemClock).nowNano();
    const txnId = txn.id;
    const filter: DeltaFilter = { sinceTxnId: start.sinceTxnId, readTxnId: txnId, matchedByDbi: new Map() };
    const { sources } = ctx.mode.snapshotSources(txn, dbiNames, filter);
    const meta = {
      generationId: ctx.generation, instanceId: ctx.instance, hostname: ctx.hostname,
      lmdbTxnId: txnId, timestampNano: readNano, databaseName: ctx.dbName, fromLmdbTxnId: start.sinceTxnId,
    };
    const chunks: Buffer[] = [];
    let bytes = 0;
    try {
      for await (const chunk of encodeSnapshot(meta, sources, { signal, chunkBytes: DELTA_CHUNK_BYTES })) {
        chunks.push(chunk as Buffer);
        bytes += (chunk as Buffer).length;
        if (bytes > start.maxBytes) return { kind: 'full-needed', reason: 'too-big' };
      }
    } catch (err) {
      if (err instanceof UntrustedTxnIdError) return { kind: 'full-needed', reason: 'untrusted-txn-ids' };
      throw err;
    }
    const covers = ctx.mode.snapshotCoversTxnId(txnId);
    const entries = deltaEntryCount(filter);
    if (entries === 0 && !alsoFull?.evenIfEmpty) return { kind: 'empty', txnId: covers };
    // The name's timestamp is taken once the delta is encoded, right before its upload: receivers list the
    // journal by that timestamp, and an entry that becomes visible long after it is easy to miss.
    const now = (ctx.clock ?? systemClock).nowNano();
    const timestampNano = now > start.previousNano ? now : start.previousNano + 1n;
    const name = buildDeltaName({
      db: ctx.dbName, instance: ctx.instance, timestamp: timestampNano, generation: ctx.generation, previous: start.previousNano,
    });
    await ctx.storage.store(name, Buffer.concat(chunks, bytes), signal);
    const stored: StoredSnapshot = { name, kind: 'delta', timestampNano, txnId: covers, entries, bytes, ms: Date.now() - started };
    if (!alsoFull) return { kind: 'stored', stored };
    const full = await storeFullIn(ctx, { txn, dbiNames, timestampNano, withHash: alsoFull.contentHash, signal });
    return { kind: 'stored', stored, full };
  } finally {
    txn.abort();
  }
}

/**
 * Sends a full snapshot: a read txn (never blocking the application's writers) is streamed through the
 * encoder straight into the storage, then (`announce`: this instance writes the journal) announced in the
 * journal. Each retry starts from a fresh read txn, so a long storage outage does not pin old LMDB pages.
 */
export async function sendFull(ctx: LmdbSyncContext, signal: AbortSignal, opts: { contentHash: boolean; announce: boolean }): Promise<StoredSnapshot> {
  const stored = await withRetry(`store snapshot of ${ctx.dbName}`, ctx.retry, ctx.log, signal, () => storeOnce(ctx, signal, opts.contentHash));
  if (opts.announce) await announceStep(ctx, signal, stored);
  return stored;
}

async function storeOnce(ctx: LmdbSyncContext, signal: AbortSignal, withHash: boolean): Promise<StoredSnapshot> {
  const dbiNames = ctx.mode.openSnapshotDbis();
  const txn = ctx.env.beginRead();
  try {
    return await storeFullIn(ctx, { txn, dbiNames, timestampNano: (ctx.clock ?? systemClock).nowNano(), withHash, signal });
  } finally {
    txn.abort();
  }
}

interface FullSnapshotRead {
  txn: Txn;
  dbiNames: string[];
  timestampNano: bigint;
  withHash: boolean;
  signal: AbortSignal;
}

/** Streams a full snapshot of the caller's read txn into the storage, named with `timestampNano`. */
async function storeFullIn(ctx: LmdbSyncContext, read: FullSnapshotRead): Promise<StoredSnapshot> {
  const { txn, dbiNames, timestampNano, withHash, signal } = read;
  const started = Date.now();
  const txnId = txn.id;
  const { sources, entries } = ctx.mode.snapshotSources(txn, dbiNames);
  const name = buildSnapshotName({ db: ctx.dbName, instance: ctx.instance, timestamp: timestampNano, generation: ctx.generation });
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
  const hasher = withHash ? new ContentHasher() : undefined;
  const body = pipeline(encodeSnapshot(meta, sources, { signal, ...(hasher ? { contentHash: hasher } : {}) }), counter, () => {});
  await ctx.storage.store(name, body, signal);
  return {
    name, kind: 'full', timestampNano, txnId: ctx.mode.snapshotCoversTxnId(txnId), entries, bytes, ms: Date.now() - started,
    ...(hasher ? { contentHash: hasher.digest() } : {}),
  };
}


/** An entry visible later than this after the time in its name may have been passed over (see JOURNAL_LIST_LAG_MS). */
const LATE_AFTER_NS = BigInt(Math.round(JOURNAL_LIST_LAG_MS * 0.8)) * 1_000_000n;
/** Announcements of one object at most: each one that is late itself is followed by another. */
const MAX_ANNOUNCEMENTS = 3;

/**
 * The journal step of sending (README "Delta snapshots"): a full snapshot is always announced with an empty
 * reference (receivers that list only the journal learn of it at once); a delta only when its upload ended so
 * late that journal listings may have passed over it. A failure is only logged: peers still find a full
 * snapshot at their next full listing (and list everything each poll while our newest one has no reference),
 * and a delta when our next one names it, or at our next full snapshot.
 */
async function announceStep(ctx: LmdbSyncContext, signal: AbortSignal, stored: StoredSnapshot): Promise<void> {
  try {
    await announceInJournal(ctx, signal, stored, stored.kind === 'delta' ? stored.timestampNano : undefined);
  } catch (err) {
    if (isAborted(signal)) throw err;
    const msg = stored.kind === 'delta' ? 'could not announce a late delta in the journal'
      : 'could not announce the full snapshot in the journal; peers find it at their next full listing';
    ctx.log.warn(msg, { snapshot: stored.name, error: errorMessage(err) });
  }
}

/**
 * Writes the reference objects of one snapshot: always for a full snapshot (stampedNano undefined); for a delta
 * (stampedNano: the timestamp in its name) only when its upload ended later than LATE_AFTER_NS after that time.
 * A reference that is late itself is written again, with a new timestamp, up to MAX_ANNOUNCEMENTS times.
 */
async function announceInJournal(
  ctx: LmdbSyncContext, signal: AbortSignal, stored: Pick<StoredSnapshot, 'name' | 'bytes'>, stampedNano?: bigint,
): Promise<void> {
  const clock = ctx.clock ?? systemClock;
  let stamped = stampedNano;
  for (let i = 0; i < MAX_ANNOUNCEMENTS; i++) {
    if (stamped !== undefined && clock.nowNano() - stamped <= LATE_AFTER_NS) return;
    const at = clock.nowNano();
    const name = buildJournalRefName(stored.name, stored.bytes, at);
    await withRetry(`announce ${stored.name} in the journal`, ctx.retry, ctx.log, signal, () => ctx.storage.store(name, Buffer.alloc(0), signal));
    stamped = at;
  }
}
