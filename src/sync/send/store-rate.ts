/**
 * How often the sync loop may store a snapshot: at most one per lmdb_poll_interval on average, as Go stores
 * at most once per LMDB poll, but without the drift of "an interval since the last store": under commits
 * arriving at about that rate, each store would wait for the interval after the previous store plus that
 * store's own duration, so the delay from commit to store would grow by a store's duration per commit until
 * a commit is skipped, and start again. A bucket of two stores, refilled at one per interval, stores such a
 * stream at once and still holds a faster stream to one store per interval.
 */
export class StoreRateLimiter {
  private tokens: number;
  private at: number;

  constructor(private readonly intervalMs: number, nowMs: number, private readonly burst = 2) {
    this.tokens = burst;
    this.at = nowMs;
  }

  /** Whether a store may start now. */
  ready(nowMs: number): boolean {
    this.refill(nowMs);
    return this.tokens >= 1;
  }

  /** A store starts now. */
  take(nowMs: number): void {
    this.refill(nowMs);
    this.tokens = Math.max(0, this.tokens - 1);
  }

  private refill(nowMs: number): void {
    const elapsed = Math.max(0, nowMs - this.at);
    this.at = nowMs;
    this.tokens = this.intervalMs <= 0 ? this.burst : Math.min(this.burst, this.tokens + elapsed / this.intervalMs);
  }
}
