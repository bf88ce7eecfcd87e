import type { DeltasConfig } from '../../config/config.js';
import { backoffDelay } from '../retry.js';
import type { DeltaStart, StoredSnapshot } from './sender.js';
import { StoreRateLimiter } from './store-rate.js';

/** Deltas below this size budget are not worth a chain (a full snapshot of a tiny LMDB is as small). */
export const MIN_DELTA_BUDGET_BYTES = 4096;

export interface SendSchedulerOptions {
  lmdbPollMs: number;
  /** 0 disables forced periodic snapshots. */
  forceSnapshotMs: number;
  /** Delta snapshots between full ones (off when absent or not enabled). */
  deltas?: DeltasConfig;
  /** The first pause after a failed store (then doubled, see backoffDelay). */
  retryIntervalMs: number;
}

/** The snapshots this process stored since its last full one: what the next delta follows. */
interface DeltaChain {
  fullAt: number;
  fullBytes: number;
  deltaBytes: number;
  deltas: number;
  last: StoredSnapshot;
}

/**
 * What the next store writes: a full snapshot, or a delta after the chain's last object. `alsoFull`: and a full
 * snapshot of the same state under the same timestamp, for peers that take only full snapshots; `owed`: those
 * peers have not had the chain's deltas since its full snapshot, so the pair is stored even when the delta is empty.
 */
export type SendPlan = { kind: 'full' } | { kind: 'delta'; start: DeltaStart; alsoFull: boolean; owed: boolean };

/**
 * When to store a snapshot and what kind (README "Delta snapshots"): the rate (StoreRateLimiter), the
 * forced interval, the pause after failures, and the delta-chain policy (a full snapshot first, then deltas
 * until full_interval, max_chain_ratio or max_chain_length; full snapshots only once native headers showed
 * untrusted txn ids). Pure decisions over time; the syncer does the storing and reports back.
 */
export class SendScheduler {
  private readonly rate: StoreRateLimiter;
  private lastStoredAt: number;
  private retryAt = 0;
  private failures = 0;
  private chain: DeltaChain | undefined;
  private deltasRefused = false;

  constructor(private readonly opts: SendSchedulerOptions, nowMs: number) {
    this.rate = new StoreRateLimiter(opts.lmdbPollMs, nowMs);
    this.lastStoredAt = nowMs;
  }

  /** Start-up is over: forced intervals count from now. */
  restartClock(nowMs: number): void {
    this.lastStoredAt = nowMs;
  }

  /**
   * Whether a store should start now: local changes wait (or a store is overdue: the forced interval, or a delta
   * chain past full_interval, so a receiver that lost a link waits at most that long for a complete state), the
   * rate allows one (or `skipRate`: --only-once at the end of its start-up), and no failure pause runs.
   * `fullReaders`: peers that take only full snapshots are present; a chain with deltas since its full snapshot
   * owes them one (a peer that just joined, or was just seen).
   */
  due(nowMs: number, unstored: boolean, opts: { skipRate?: boolean; fullReaders?: boolean } = {}): boolean {
    const { forceSnapshotMs, deltas } = this.opts;
    const chain = this.chain;
    const chainDue = chain !== undefined && chain.deltaBytes > 0 && deltas?.enabled === true &&
      (nowMs - chain.fullAt >= deltas.fullInterval || opts.fullReaders === true);
    const overdue = (forceSnapshotMs > 0 && nowMs - this.lastStoredAt > forceSnapshotMs) || chainDue;
    if (!unstored && !overdue) return false;
    return (this.rate.ready(nowMs) || opts.skipRate === true) && nowMs >= this.retryAt;
  }

  /**
   * A store starts: takes its place in the rate, and says whether it writes a delta (and after what) or a full
   * snapshot. With `fullReaders` (peers that take only full snapshots are present) every store writes a full
   * snapshot beside its delta; after deltas without one (a peer just seen) the pair catches those peers up.
   */
  begin(nowMs: number, fullReaders = false): SendPlan {
    this.rate.take(nowMs);
    const cfg = this.opts.deltas;
    const chain = this.chain;
    if (!cfg?.enabled || !chain || this.deltasRefused) return { kind: 'full' };
    // The forced interval keeps an instance visibly alive with full snapshots (Go's cleaners and peers judge it by
    // them), also when nothing changed, when a delta would be empty.
    const { forceSnapshotMs } = this.opts;
    if (forceSnapshotMs > 0 && nowMs - chain.fullAt > forceSnapshotMs) return { kind: 'full' };
    const budget = cfg.maxChainRatio * chain.fullBytes - chain.deltaBytes;
    if (nowMs - chain.fullAt >= cfg.fullInterval || budget < MIN_DELTA_BUDGET_BYTES || chain.deltas >= cfg.maxChainLength) {
      return { kind: 'full' };
    }
    const start = { previousNano: chain.last.timestampNano, sinceTxnId: chain.last.txnId, maxBytes: budget };
    return { kind: 'delta', start, alsoFull: fullReaders, owed: fullReaders && chain.deltaBytes > 0 };
  }

  /** Native headers showed txn ids that cannot select changes: full snapshots only from now on. Returns true the first time. */
  refuseDeltas(): boolean {
    const first = !this.deltasRefused;
    this.deltasRefused = true;
    return first;
  }

  /** A snapshot was stored (a full one starts a new chain). Returns the chain's delta bytes (0 after a full one). */
  stored(s: StoredSnapshot, nowMs: number): number {
    this.lastStoredAt = nowMs;
    this.failures = 0;
    this.retryAt = 0;
    if (s.kind === 'full' || !this.chain) {
      this.chain = { fullAt: nowMs, fullBytes: s.bytes, deltaBytes: 0, deltas: 0, last: s };
      return 0;
    }
    this.chain.last = s;
    this.chain.deltaBytes += s.bytes;
    this.chain.deltas++;
    return this.chain.deltaBytes;
  }

  /** A store ended without anything to store (an empty delta). */
  skipped(): void {
    this.failures = 0;
    this.retryAt = 0;
  }

  /** A store failed: the next attempt waits this long (ms), growing with each failure in a row. */
  failed(nowMs: number): { delayMs: number; failures: number } {
    this.failures++;
    const delayMs = backoffDelay(this.opts.retryIntervalMs, this.failures);
    this.retryAt = nowMs + delayMs;
    return { delayMs, failures: this.failures };
  }
}
