import type { KVBatch } from '../lmdb/batch.js';
import { formatDbiFlags } from '../lmdb/flag-names.js';
import { MDB_PERSISTENT_FLAGS, type Dbi, type Env, type Txn } from '../lmdb/index.js';
import type { KeyComparator } from '../lmdb/key-order.js';
import type { DbiSource } from '../snapshot/types.js';
import type { DeltaFilter } from './native-source.js';

/** DBIs whose name starts with this are Lightning Stream's own: never synced as data. */
export const SYNC_DBI_PREFIX = '_sync';
/** Shadow mode's DBI holding the native headers of application DBI X: `_sync_shadow_X`. */
export const SHADOW_DBI_PREFIX = `${SYNC_DBI_PREFIX}_shadow_`;

/** What a merge plan (read txn, outside the write lock) needs of the local DBI a remote DBI merges into. */
export interface PlanTarget {
  /** The DBI holding the native headers, if it exists yet. */
  headers: Dbi | undefined;
  compare: KeyComparator;
  integerKeys: boolean;
  /** Deleted remote entries older than this (ns since epoch) are not added when absent locally. */
  tombstoneCutoffNano: bigint | undefined;
}

/** Where a plan's winners are written, inside the load's write txn. */
export interface ApplyTarget {
  headers: Dbi;
  /** Add one empty 8-byte extension block to every header (header_extra_padding_block). */
  paddingBlock: boolean;
  /** Sees every batch of entries (key → header + value) just written, in the same txn (shadow mode). */
  onFlush?: (written: KVBatch) => void;
}

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
   * The local side of one remote DBI (its final flags and transform) for a merge plan, opened before the
   * plan's read txn begins (LMDB rule); throws IncompatibleSnapshotError when this mode cannot take it.
   */
  planTarget(dbiName: string, flags: number, transform: string, snapshotName: string): PlanTarget;
  /** The same DBI inside the load's write txn, created when absent; throws IncompatibleSnapshotError too. */
  applyTarget(txn: Txn, dbiName: string, flags: number, snapshotName: string): ApplyTarget;
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

/** A remote DBI merges only into a local DBI with the same persistent flags (key order and layout). */
export function checkSamePersistentFlags(dbiName: string, remoteFlags: number, localFlags: number, where: string): void {
  if ((localFlags & MDB_PERSISTENT_FLAGS) === (remoteFlags & MDB_PERSISTENT_FLAGS)) return;
  throw new IncompatibleSnapshotError(`${where}: DBI ${dbiName} has flags ${formatDbiFlags(remoteFlags)}, ` +
    `but the local DBI has ${formatDbiFlags(localFlags)}`);
}
