/**
 * The proof a restarted instance needs before it skips storing a snapshot: every local entry is held
 * by some snapshot in the storage. It is built from data only (never from the txn ids applications
 * write into native headers): loading our own last snapshot records each local entry that snapshot
 * does not hold (local-only keys, and keys where the local entry wins the merge); each peer snapshot
 * loaded afterwards removes the keys it holds (the same entry, or one that replaced ours). Proven
 * when nothing is left. Bounded: past `limit` recorded keys it gives up, and a snapshot is stored.
 */
export class RestartCoverage {
  private readonly keys = new Set<string>();
  private overflowed = false;

  constructor(private readonly limit = 10_000) {}

  /** A local entry no loaded snapshot holds (yet). */
  unsaved(dbiName: string, buf: Buffer, off: number, len: number): void {
    if (this.overflowed) return;
    if (this.keys.size >= this.limit) {
      this.overflowed = true;
      this.keys.clear();
      return;
    }
    this.keys.add(coverageKey(dbiName, buf, off, len));
  }

  /** A loaded snapshot holds this key's local entry (or the entry that replaced it). */
  covered(dbiName: string, buf: Buffer, off: number, len: number): void {
    if (this.keys.size > 0) this.keys.delete(coverageKey(dbiName, buf, off, len));
  }

  /** Give up the proof (e.g. the application wrote while we loaded): a snapshot will be stored. */
  abandon(): void {
    this.overflowed = true;
    this.keys.clear();
  }

  get proven(): boolean {
    return !this.overflowed && this.keys.size === 0;
  }

  /** Keys still unsaved (for logs); -1 once given up. */
  get pending(): number {
    return this.overflowed ? -1 : this.keys.size;
  }
}

function coverageKey(dbiName: string, buf: Buffer, off: number, len: number): string {
  return `${dbiName}\0${buf.toString('latin1', off, off + len)}`;
}
