/**
 * How far the storage holds this LMDB: the txn id up to which every local change is in a stored snapshot
 * (or needs none). The one owner of that number; the four ways it moves are named methods, so a reader finds
 * every writer here. Read by the send decision, the --only-once exit and (through ProgressView) the content loop.
 */
export class SyncProgress {
  private synced = 0;

  /** The newest txn id whose changes are all in the storage (or need no snapshot). */
  get syncedTxnId(): number {
    return this.synced;
  }

  /** Whether the LMDB at lastTxnId holds changes no snapshot holds yet. */
  unstored(lastTxnId: number): boolean {
    return lastTxnId > this.synced;
  }

  /** A snapshot (full or delta) read at a txn covering txnId was stored. */
  stored(txnId: number): void {
    this.synced = txnId;
  }

  /** A delta found that no synced data changed up to txnId: nothing to store. */
  nothingChanged(txnId: number): void {
    this.synced = txnId;
  }

  /** Start-up proved the storage holds every local entry (see StartupGate). */
  restartProven(txnId: number): void {
    this.synced = txnId;
  }

  /**
   * Lightning Stream's own record (a `_sync*` DBI, never synced) committed txnId on top of baseTxnId: like a
   * merge's commit, it needs no snapshot when nothing local was pending before it.
   */
  bookkeeping(baseTxnId: number, txnId: number): void {
    this.merged(baseTxnId, txnId);
  }

  /**
   * A merge committed txnId on top of baseTxnId (decided inside its write txn: no application commit slips in
   * between). When nothing local was pending at baseTxnId, the merge's own commit needs no snapshot (peers hold
   * what it wrote). Returns whether local changes were pending.
   */
  merged(baseTxnId: number, txnId: number): boolean {
    const pendingLocal = baseTxnId > this.synced;
    if (!pendingLocal) this.synced = txnId;
    return pendingLocal;
  }
}

/** What the content loop may read of the sync: whether start-up is over and whether local changes wait to be stored. */
export interface ProgressView {
  readonly ready: boolean;
  /** Everything local is stored (always true for `receive`, which stores nothing). */
  settled(lastTxnId: number): boolean;
}
