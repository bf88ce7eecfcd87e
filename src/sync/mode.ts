import type { Dbi, Env, Txn } from '../lmdb/index.js';
import type { DbiSource } from '../snapshot/types.js';
import type { DbiMerger, MergeOptions } from './merge/merger.js';
import type { DeltaFilter } from './native-source.js';

/** DBIs whose name starts with this are Lightning Stream's own: never synced as data. */
export const SYNC_DBI_PREFIX = '_sync';
/** Shadow mode's DBI holding the native headers of application DBI X: `_sync_shadow_X`. */
export const SHADOW_DBI_PREFIX = `${SYNC_DBI_PREFIX}_shadow_`;

/** What a merge target needs to know beyond the DBI: where it runs and what it records. */
export type MergeContext = Pick<MergeOptions, 'txnId' | 'snapshotName' | 'coverage'>;

/**
 * What differs between native mode (the application writes native headers) and shadow mode
 * (Lightning Stream keeps headers in `_sync_shadow_<dbi>` DBIs): which DBIs a snapshot is read from,
 * where a remote DBI is merged into, and what happens around it.
 */
export interface SyncMode {
  readonly kind: 'native' | 'shadow';
  /** Checks the local DBIs can be synced in this mode; throws a clear error otherwise. */
  validate(env: Env): void;
  /**
   * Runs before a snapshot is taken (shadow mode: brings the shadows up to date in a short write txn).
   * initial: the start-up pass, where data without a shadow entry gets timestamp 1.
   */
  prepareSnapshot(signal: AbortSignal, opts: { initial: boolean }): Promise<void>;
  /**
   * The last txn id whose changes a snapshot read at `readTxnId` holds. Native mode: readTxnId. Shadow
   * mode: the txn the shadows were last brought up to date in, since application commits after it
   * are not in the shadows yet, though the read txn sees them.
   */
  snapshotCoversTxnId(readTxnId: number): number;
  /**
   * Opens the handles of every DBI a snapshot reads, before its read txn begins (LMDB rule), and
   * returns the application DBI names to read.
   */
  openSnapshotDbis(): string[];
  /**
   * The DBIs of a snapshot, read from a read txn; entries is the total entry count. With a filter, a
   * delta's: only the entries it selects (counted in filter.matched as they are read).
   */
  snapshotSources(txn: Txn, dbiNames: string[], filter?: DeltaFilter): { sources: DbiSource[]; entries: number };
  /**
   * The merger for one remote DBI (its final flags and transform) inside the load's write txn; throws
   * IncompatibleSnapshotError when this mode cannot take it.
   */
  mergeTarget(txn: Txn, dbiName: string, flags: number, transform: string, merge: MergeContext): DbiMerger;
  /** The synced DBIs as seen by `txn`, each with the DBI holding its native headers. */
  syncedDbis(txn: Txn): Array<{ name: string; headers: Dbi }>;
  /**
   * Called right after a load's write txn began; returns how many entries it wrote first (shadow mode:
   * application changes not yet in the shadows are recorded before the merge compares against them).
   */
  beginLoad(txn: Txn): number;
  /** The load's txn was committed as `txnId` (or wrote nothing and the LMDB is still at `txnId`). */
  loadCommitted(txnId: number): void;
}

/** The application's DBIs (not Lightning Stream's own), read in a short read txn or in `txn`. */
export function listDataDbis(from: Env | Txn): string[] {
  return from.listDbis().filter((name) => !name.startsWith(SYNC_DBI_PREFIX));
}

/** A snapshot this instance cannot load (flags or transform it cannot handle): skipped, not retried. */
export class IncompatibleSnapshotError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IncompatibleSnapshotError';
  }
}
