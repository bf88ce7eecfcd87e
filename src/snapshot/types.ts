import type { EntryBatch } from './batch.js';
import type { ContentHash } from './content-hash.js';

/** The version we write, and the newest we read. */
export const FORMAT_VERSION = 3;
/** The oldest formatVersion we read (1: no KV flags, an empty value means deleted). */
export const MIN_FORMAT_VERSION = 1;
/** The compatVersion we write, and the newest we understand (a reader refuses newer). */
export const COMPAT_VERSION = 1;

/** LMDB DBI flags as they appear in `DBI.flags` (constants only: flags.ts loads no native code). */
export { MDB_REVERSEKEY, MDB_DUPSORT, MDB_INTEGERKEY, MDB_DUPFIXED, MDB_INTEGERDUP, MDB_REVERSEDUP } from '../lmdb/flags.js';

export const TRANSFORM_DUPSORT_HACK_V1 = 'dupsort_hack_v1';

/**
 * `Snapshot.Meta`. The int64 fields accept number or bigint when encoding; the decoder always
 * gives bigint (an int64 does not fit a number in general).
 */
export interface SnapshotMeta {
  generationId: string;
  instanceId: string;
  hostname: string;
  lmdbTxnId: number | bigint;
  /** fixed64: nanoseconds since the epoch. */
  timestampNano: bigint;
  databaseName: string;
  fromLmdbTxnId: number | bigint;
}

export function emptyMeta(): SnapshotMeta {
  return { generationId: '', instanceId: '', hostname: '', lmdbTxnId: 0n, timestampNano: 0n, databaseName: '', fromLmdbTxnId: 0n };
}

/** One DBI to write. `batches()` is called twice (size pass, then write pass) and must yield identical data. */
export interface DbiSource {
  name: string;
  flags: number;
  transform: string;
  batches(): Iterable<EntryBatch> | AsyncIterable<EntryBatch>;
  /**
   * The same entries for the encoder's measuring pass: lengths, timestamps and flags are right, key and value
   * bytes need not be in the batch (a cheaper read). Default: batches().
   */
  measureBatches?(): Iterable<EntryBatch> | AsyncIterable<EntryBatch>;
}

/** What the decoder reports, in stream order. */
export type SnapshotEvent =
  /** Before the first DBI (or before `end` when there is none). */
  | { type: 'meta'; formatVersion: number; meta: SnapshotMeta }
  /** Before the DBI's first entries; flags/transform are present when they preceded the entries. */
  | { type: 'dbi-start'; name: string; flags?: number; transform?: string }
  /** Entries of DBI `dbi`; the batch (and its buffer) is only valid until the next event is requested. */
  | { type: 'entries'; dbi: string; batch: EntryBatch }
  | { type: 'dbi-end'; name: string; flags: number; transform: string; count: number }
  /** The whole snapshot was read and is valid; only now may a consumer commit what it merged. */
  | { type: 'end'; formatVersion: number; compatVersion: number; meta: SnapshotMeta; contentHash?: ContentHash };
