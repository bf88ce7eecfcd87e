import type { Logger } from '../log/logger.js';
import type { SyncProgress } from './progress.js';
import { RestartCoverage } from './restart-coverage.js';

/** How long a restart may defer its first snapshot while it proves the storage already holds its data. */
export const RESUME_CHECK_MAX_MS = 60_000;

export interface MergeRole {
  /** The own older snapshot (or a delta after it) merged at start-up, before any peer. */
  ownStartup: boolean;
  /** The restart proof this merge feeds: the own full snapshot collects what it lacks, every other merge covers keys. */
  coverage?: { role: 'collect' | 'cover'; keys: RestartCoverage };
}

/**
 * The start-up safety rules of one LMDB (facts note; README "Start-up"): every instance seen in the first
 * listing is merged before the sync reports ready; if this instance has an older snapshot of its own, it is
 * merged first and alone (peers wait), and no snapshot is stored before, so an emptied LMDB never overwrites
 * good data. A restart stores no snapshot only when it is proven from data that every local entry is held by
 * a snapshot in the storage (RestartCoverage) and only our merges committed since; when in doubt, it stores.
 *
 * Holds decisions only: the syncer asks it and tells it what happened; it never touches the receiver.
 */
export class StartupGate {
  private readonly waiting = new Set<string>();
  private coverage: RestartCoverage | undefined;
  /** The txn id the LMDB has if only our merges committed since the own snapshot was loaded. */
  private expectedTxnId = 0;
  private startedAt = 0;

  constructor(
    private readonly own: string,
    private readonly receiveOnly: boolean,
    private readonly progress: SyncProgress,
    private readonly log: Logger,
  ) {}

  /** After the first listing: which instances to wait for. Returns whether the own snapshot goes first (peers held). */
  begin(seen: readonly string[], hasData: boolean, nowMs: number): boolean {
    for (const i of seen) this.waiting.add(i);
    this.startedAt = nowMs;
    if (!this.waiting.has(this.own)) return false;
    this.log.info('this instance has an older snapshot: loading it before writing new ones');
    if (hasData && !this.receiveOnly) this.coverage = new RestartCoverage();
    return true;
  }

  /** Every instance seen at start-up was merged (or given up): the sync is ready. */
  get done(): boolean {
    return this.waiting.size === 0;
  }

  /** Only this instance's updates may be merged now (the own snapshot first), or undefined for any. */
  get onlyInstance(): string | undefined {
    return this.waiting.has(this.own) ? this.own : undefined;
  }

  /** Called at every pass of the sync loop: a restart proof that takes too long is given up (a snapshot is stored). */
  tick(nowMs: number): void {
    if (this.coverage && nowMs - this.startedAt > RESUME_CHECK_MAX_MS) {
      this.log.info('start-up loads take long: storing a snapshot instead of proving the storage holds our data');
      this.coverage = undefined;
    }
  }

  /** Why no snapshot may be stored now, or undefined when one may. */
  holdsStores(): string | undefined {
    if (this.waiting.has(this.own)) return 'waiting to load own older snapshot before writing a new one';
    if (this.coverage) return 'start-up loads in progress: deciding afterwards whether a snapshot is needed';
    return undefined;
  }

  /** How a part of `instance`'s update is merged (the first part of an update, a full snapshot or a delta). */
  roleOf(instance: string, firstPart: boolean, kind: 'full' | 'delta'): MergeRole {
    const ownStartup = instance === this.own && this.waiting.has(this.own);
    if (!this.coverage) return { ownStartup };
    // Our own full snapshot records what it does not hold; our own deltas after it, like peers', cover keys.
    return { ownStartup, coverage: { role: ownStartup && firstPart && kind !== 'delta' ? 'collect' : 'cover', keys: this.coverage } };
  }

  /** A part was merged: committed txnId on top of baseTxnId. */
  merged(role: MergeRole, baseTxnId: number, txnId: number): void {
    if (role.coverage && !role.ownStartup && baseTxnId !== this.expectedTxnId) {
      this.coverage = undefined; // the application wrote during start-up: store
    }
    this.expectedTxnId = txnId;
  }

  /** The own snapshot was corrupt: nothing proves the storage holds our data. */
  ownCorrupt(): void {
    this.coverage = undefined;
  }

  /**
   * An instance seen at start-up needs no more waiting: its snapshot was merged (`loaded`), or it cannot be
   * (corrupt, vanished). Returns true when that ends the own-first phase (the caller releases the peers).
   * Decides the restart once every instance is done.
   */
  finished(instance: string, loaded: boolean, lastTxnId: () => number): boolean {
    if (!this.waiting.delete(instance)) return false;
    const own = instance === this.own;
    if (own && !loaded) this.coverage = undefined;
    if (this.waiting.size === 0) this.decideRestart(lastTxnId());
    return own;
  }

  /** Instances still waited for. */
  pending(): string[] {
    return [...this.waiting];
  }

  /**
   * After the start-up loads: when the proof holds (every local entry is in a loaded snapshot, and only
   * our merges wrote since our own snapshot was loaded), the storage already has all our data and no
   * snapshot is stored: a restart does not rewrite unchanged data.
   */
  private decideRestart(lastTxnId: number): void {
    const coverage = this.coverage;
    this.coverage = undefined;
    if (!coverage) return;
    if (coverage.proven && lastTxnId === this.expectedTxnId) {
      this.progress.restartProven(lastTxnId);
      this.log.info('the storage already holds this LMDB\'s data: no new snapshot needed');
    } else {
      this.log.info('local changes since our last snapshot: a new one will be stored',
        { unsaved_keys: coverage.pending, application_wrote: lastTxnId !== this.expectedTxnId });
    }
  }
}
