import type { ContentHashConfig, DeltasConfig } from '../config/config.js';
import { LmdbError } from '../lmdb/index.js';
import { SnapshotFormatError } from '../snapshot/errors.js';
import { NotFoundError } from '../storage/storage.js';
import { isAborted } from '../util/abort.js';
import { sleepOn, systemClock, type Clock } from '../util/clock.js';
import { IncompatibleSnapshotError } from './mode.js';
import type { LmdbSyncContext } from './context.js';
import { loadSnapshot, type LoadResult } from './loader.js';
import { Receiver, type ReadyUpdate, type UpdatePart } from './receiver.js';
import { RestartCoverage } from './restart-coverage.js';
import { RetriesExhaustedError, withRetry } from './retry.js';
import { errorMessage } from '../util/errors.js';
import type { Semaphore } from './semaphore.js';
import { announceInJournal, storeDelta, storeSnapshot, type StoredSnapshot } from './sender.js';
import { WakeableSleep } from './wakeable-sleep.js';
import { shortHash } from '../snapshot/content-hash.js';
import { hashLocalContent } from './content/local-hash.js';
import { ContentStates } from './content/states.js';
import { SyncStatus } from './status.js';
import { StoreRateLimiter } from './store-rate.js';

/** How often the loop looks at the LMDB's txn id and at downloaded snapshots (never more rarely than lmdb_poll_interval). */
const LOCAL_CHECK_MS = 50;

/** After a storage change notification, how long to let more changes arrive before listing. */
const WATCH_SETTLE_MS = 10;

/** How long a restart may defer its first snapshot while it proves the storage already holds its data. */
const RESUME_CHECK_MAX_MS = 60_000;

/** The longest pause between attempts after repeated local failures (a full LMDB, a snapshot that cannot be merged). */
const MAX_BACKOFF_MS = 5 * 60_000;

export interface SyncerOptions {
  /** `receive`: merge remote snapshots, never write any. */
  receiveOnly: boolean;
  onlyOnce: boolean;
  lmdbPollMs: number;
  storagePollMs: number;
  /** 0 disables forced periodic snapshots. */
  forceSnapshotMs: number;
  downloads: Semaphore;
  decompressions: Semaphore;
  /** Grows the map when a merge finds it full; false when it cannot (or must not) grow. */
  growMap?: () => boolean;
  /** Delta snapshots between full ones (off when absent or not enabled). */
  deltas?: DeltasConfig;
  /** Local content hashes and published states (off when absent or not enabled). */
  contentHash?: ContentHashConfig;
}

/** How often the content loop looks whether a hash scan, a listing or a publication is due. */
const CONTENT_CHECK_MS = 1000;

/** The snapshots this process stored since its last full one: what the next delta follows. */
interface DeltaChain {
  fullAt: number;
  fullBytes: number;
  deltaBytes: number;
  deltas: number;
  last: StoredSnapshot;
}

/**
 * The two-way sync loop of one LMDB: load what other instances wrote, snapshot what changed here.
 *
 * Start-up (the safety rules of the facts note): list first; if this instance has an older snapshot
 * of its own, load it (alone: peers are not downloaded meanwhile) before writing any snapshot, so an
 * emptied LMDB never overwrites good data; when the LMDB has data and the storage has no snapshot,
 * store one at once. A restart stores no snapshot only when it is proven from data that every local
 * entry is already held by a snapshot in the storage (see RestartCoverage); when in doubt, it stores.
 */
export class Syncer {
  readonly status: SyncStatus;
  private readonly receiver: Receiver;
  private readonly clock: Clock;
  /** The main loop's pause between passes; a downloaded snapshot ends it early. */
  private readonly loopSleep: WakeableSleep;
  private lastSyncedTxnId = 0;
  /** Instances seen at start-up whose snapshots were not merged yet. */
  private waiting = new Set<string>();
  /** Start-up: the proof that no snapshot is needed, while it is being built (undefined: store when changed). */
  private coverage: RestartCoverage | undefined;
  /** The txn id the LMDB has if only our merges committed since the own snapshot was loaded. */
  private expectedTxnId = 0;
  private lastSnapshotAt: number;
  /** Stores at most one snapshot per lmdb_poll_interval on average (see StoreRateLimiter). */
  private readonly storeRate: StoreRateLimiter;
  /** After a failed store: no new attempt before this time. */
  private storeRetryAt = 0;
  private storeFailures = 0;
  /** A snapshot was stored after the start-up loads ended (what --only-once waits for). */
  private storedWhenReady = false;
  /** --only-once: the error that ends the run (a daemon keeps trying instead). */
  private fatal: Error | undefined;
  /** The delta chain this process is writing (starts with its first full snapshot). */
  private chain: DeltaChain | undefined;
  /** Native headers showed txn ids that cannot select changes: full snapshots only. */
  private deltasRefused = false;
  /** The txn id the local content hash was computed at (-1: none yet). */
  private localHashTxnId = -1;
  private lastHashScanAt = 0;
  /** Consecutive local load failures per instance (backoff). */
  private readonly loadFailures = new Map<string, number>();

  constructor(private readonly ctx: LmdbSyncContext, private readonly opts: SyncerOptions) {
    this.clock = ctx.clock ?? systemClock;
    this.loopSleep = new WakeableSleep(0, this.clock);
    this.lastSnapshotAt = this.clock.now();
    this.storeRate = new StoreRateLimiter(opts.lmdbPollMs, this.clock.now());
    this.status = new SyncStatus(ctx.dbName, ctx.instance);
    this.receiver = new Receiver({
      storage: ctx.storage, db: ctx.dbName, ownInstance: ctx.instance, log: ctx.log.with({ component: 'receiver' }),
      retry: ctx.retry, downloads: opts.downloads, onReady: () => this.loopSleep.wake(), clock: this.clock,
      onDownloadGaveUp: (err) => this.failOnce(err),
      ownJournals: (opts.deltas?.enabled ?? false) && !opts.receiveOnly,
      ...(opts.deltas && { fullListIntervalMs: opts.deltas.fullListInterval }),
    });
    this.status.receiver = this.receiver;
  }

  /** Content hashes on (the default when the runner passes the config; off in engine tests that pass none). */
  private get hashing(): boolean {
    return this.opts.contentHash?.enabled ?? false;
  }

  /** Whether the start-up loads are done (also true once --only-once may stop). */
  get ready(): boolean {
    return this.status.ready;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { ctx, opts } = this;
    const log = ctx.log;
    ctx.mode.validate(ctx.env);
    await this.initialListing(signal);
    const own = ctx.instance;
    this.waiting = new Set(this.receiver.seenInstances());
    const hasDataAtStart = ctx.env.info().lastTxnId > 0;
    if (hasDataAtStart && ctx.mode.kind === 'shadow') await ctx.mode.prepareSnapshot(signal, { initial: true });
    if (this.waiting.has(own)) {
      log.info('this instance has an older snapshot: loading it before writing new ones');
      this.receiver.holdPeersForOwn();
      if (hasDataAtStart && !opts.receiveOnly) this.coverage = new RestartCoverage();
    } else {
      this.receiver.releasePeers(signal);
    }
    this.receiver.startDownloads(signal);
    if (hasDataAtStart && !this.receiver.hasSnapshots && !opts.receiveOnly) {
      log.info('no snapshot in the storage yet: storing an initial one');
      await this.storeOrBackOff(signal);
    }
    this.lastSnapshotAt = this.clock.now();
    void this.pollLoop(signal);
    void this.contentLoop(signal);

    let warnedEmpty = false;
    const startedAt = this.clock.now();
    for (;;) {
      await this.loadReady(signal);
      if (this.fatal) throw this.fatal;
      this.forgetVanishedInstances(signal);
      if (this.coverage && this.clock.now() - startedAt > RESUME_CHECK_MAX_MS) {
        log.info('start-up loads take long: storing a snapshot instead of proving the storage holds our data');
        this.coverage = undefined;
      }
      if (!opts.receiveOnly) {
        const lastTxnId = ctx.env.info().lastTxnId;
        if (log.isEnabled('debug')) log.debug('checking for local changes', { txn_id: lastTxnId, synced_txn_id: this.lastSyncedTxnId });
        const now = this.clock.now();
        // A delta chain gets a full snapshot every full_interval even when nothing changes, so a receiver that
        // lost a link (a delta cleaned up or corrupt) waits at most that long for a complete state.
        const chainDue = this.chain !== undefined && this.chain.deltaBytes > 0 && this.opts.deltas !== undefined &&
          now - this.chain.fullAt >= this.opts.deltas.fullInterval;
        const overdue = (opts.forceSnapshotMs > 0 && now - this.lastSnapshotAt > opts.forceSnapshotMs) || chainDue;
        // The txn id is checked often (cheap) so a commit after a quiet spell is stored at once, while
        // snapshots stay at most one per lmdb_poll_interval (on average) under a steady stream of commits.
        const due = (this.storeRate.ready(now) || (opts.onlyOnce && this.waiting.size === 0)) && now >= this.storeRetryAt;
        if ((lastTxnId > this.lastSyncedTxnId || overdue) && due) {
          if (this.waiting.has(own)) {
            log.debug('waiting to load own older snapshot before writing a new one');
          } else if (this.coverage) {
            log.debug('start-up loads in progress: deciding afterwards whether a snapshot is needed');
          } else if (lastTxnId > 0) {
            await this.storeOrBackOff(signal);
            if (this.waiting.size === 0) this.storedWhenReady = true;
          } else if (!warnedEmpty) {
            log.warn('LMDB is empty, waiting for data');
            warnedEmpty = true;
          }
        }
      }
      if (this.waiting.size === 0 && !this.status.ready) {
        this.status.ready = true;
        log.info('initial sync complete');
      }
      // --only-once: every instance seen at start-up was merged, and what changed here was stored once.
      if (opts.onlyOnce && this.waiting.size === 0 && (opts.receiveOnly || this.storedWhenReady || ctx.env.info().lastTxnId <= this.lastSyncedTxnId)) {
        log.info('stopping: single pass requested (--only-once)');
        return;
      }
      await this.loopSleep.sleep(Math.min(opts.lmdbPollMs, LOCAL_CHECK_MS), signal);
    }
  }

  /** The first listing: retried (quietly, every second) until it works; --only-once gives up like any storage call. */
  private async initialListing(signal: AbortSignal): Promise<void> {
    const policy = this.opts.onlyOnce ? this.ctx.retry : { intervalMs: 1000, count: 0, forever: true, clock: this.clock };
    await withRetry('list the storage (waiting for the initial listing)', { clock: this.clock, ...policy }, this.ctx.log, signal, async () => {
      try {
        await this.receiver.pollOnce(signal, false);
      } catch (err) {
        if (!signal.aborted) this.status.listFailed(err);
        throw err;
      }
    });
    this.status.listedOk();
  }

  private async pollLoop(signal: AbortSignal): Promise<void> {
    let failing = false;
    let failingSince = 0;
    // A storage that can tell when objects change (fs: inotify) wakes the poller early.
    const pollSleep = new WakeableSleep(WATCH_SETTLE_MS, this.clock);
    const stopWatching = this.ctx.storage.watch?.(() => pollSleep.wake());
    signal.addEventListener('abort', () => stopWatching?.(), { once: true });
    while (!signal.aborted) {
      try {
        await pollSleep.sleep(this.opts.storagePollMs, signal);
        await this.receiver.pollOnce(signal);
        this.status.listedOk();
        if (failing) this.ctx.log.info('storage listing recovered');
        failing = false;
      } catch (err) {
        if (isAborted(signal)) return;
        this.status.listFailed(err);
        if (!failing) this.ctx.log.warn('storage listing failed, will keep trying', { error: errorMessage(err) });
        if (!failing) failingSince = this.clock.now();
        failing = true;
        const deadline = this.ctx.retry.deadlineMs;
        if (deadline !== undefined && this.clock.now() - failingSince > deadline) {
          this.failOnce(new RetriesExhaustedError('list the storage', 0, this.clock.now() - failingSince, err));
          this.loopSleep.wake();
        }
      }
    }
  }

  /**
   * Content hashes (README, "Content hashes"): once the LMDB is settled (everything local stored, nothing
   * being merged), hashes it when it changed since the last hash (at most once per interval; full stores and
   * loads that leave the LMDB identical to a snapshot give the hash for free), publishes our state when it
   * changed (not in `receive`), and lists the other instances' states every interval.
   */
  private async contentLoop(signal: AbortSignal): Promise<void> {
    const cfg = this.opts.contentHash;
    if (!cfg?.enabled) return;
    const { ctx } = this;
    const agreement = this.status.content;
    const states = new ContentStates(ctx.storage, ctx.dbName, ctx.instance, agreement, this.clock);
    const publish = cfg.publish && !this.opts.receiveOnly;
    let lastListAt = -Infinity;
    let failing = false;
    while (!signal.aborted) {
      try {
        await sleepOn(this.clock, CONTENT_CHECK_MS, signal);
        const now = this.clock.now();
        if (now - lastListAt >= cfg.interval) {
          await states.list(signal);
          lastListAt = now;
          agreement.retain(this.receiver.seenInstances());
        }
        const lastTxnId = ctx.env.info().lastTxnId;
        const settled = this.status.ready && (this.opts.receiveOnly || lastTxnId <= this.lastSyncedTxnId);
        if (settled && lastTxnId !== this.localHashTxnId && now - this.lastHashScanAt >= cfg.interval) {
          this.lastHashScanAt = now;
          const local = await hashLocalContent(ctx, signal);
          agreement.setLocal(local.hash, local.at);
          this.localHashTxnId = local.txnId;
          ctx.log.debug('content hash computed', { content_hash: shortHash(local.hash), txn_id: local.txnId, entries: local.hash.entries, ms: local.ms });
        }
        const local = agreement.localHash;
        if (publish && settled && local && this.localHashTxnId === lastTxnId && await states.publish(local.hash, signal)) {
          ctx.log.debug('content state published', { content_hash: shortHash(local.hash) });
        }
        if (failing) ctx.log.info('content hash checks work again');
        failing = false;
      } catch (err) {
        if (isAborted(signal)) return;
        if (!failing) ctx.log.warn('content hash check failed, will keep trying', { error: errorMessage(err) });
        failing = true;
      }
    }
  }

  /** Instances seen at start-up with nothing left to merge (snapshots gone, or none usable) are no longer waited for. */
  private forgetVanishedInstances(signal: AbortSignal): void {
    for (const instance of this.waiting) {
      if (this.receiver.hasWork(instance)) continue;
      this.ctx.log.info('no longer waiting for an instance whose snapshots disappeared or cannot be merged', { snapshot_instance: instance });
      this.finishedWaiting(instance, false, signal);
    }
  }

  private async loadReady(signal: AbortSignal): Promise<void> {
    const own = this.ctx.instance;
    // While our own older snapshot is pending, nothing else is merged (see the class comment).
    const next = () => this.receiver.next(this.waiting.has(own) ? own : undefined);
    for (let update = next(); update; update = next()) {
      let outcome: LoadOutcome;
      try {
        outcome = await this.load(update, signal);
      } finally {
        update.release();
      }
      if (outcome !== 'retry') this.finishedWaiting(update.snapshot.instance, outcome === 'loaded', signal);
    }
  }

  /**
   * An instance seen at start-up needs no more waiting: its snapshot was merged (`loaded`), or it
   * cannot be (corrupt, vanished). Ends the own-first phase, and decides the restart once all are done.
   */
  private finishedWaiting(instance: string, loaded: boolean, signal: AbortSignal): void {
    if (!this.waiting.delete(instance)) return;
    if (instance === this.ctx.instance) {
      if (!loaded) this.coverage = undefined; // nothing proves the storage holds our data
      this.receiver.releasePeers(signal);
    }
    if (this.waiting.size === 0) this.decideRestart();
  }

  /**
   * After the start-up loads: when the proof holds (every local entry is in a loaded snapshot, and only
   * our merges wrote since our own snapshot was loaded), the storage already has all our data and no
   * snapshot is stored: a restart does not rewrite unchanged data.
   */
  private decideRestart(): void {
    const coverage = this.coverage;
    this.coverage = undefined;
    if (!coverage) return;
    const lastTxnId = this.ctx.env.info().lastTxnId;
    if (coverage.proven && lastTxnId === this.expectedTxnId) {
      this.lastSyncedTxnId = lastTxnId;
      this.ctx.log.info('the storage already holds this LMDB\'s data: no new snapshot needed');
    } else {
      this.ctx.log.info('local changes since our last snapshot: a new one will be stored',
        { unsaved_keys: coverage.pending, application_wrote: lastTxnId !== this.expectedTxnId });
    }
  }

  /**
   * Merges an update part by part, each in its own write txn. A corrupt part ends the update: what was
   * merged before it stays, and the receiver plans again without it (falling back to a full snapshot).
   */
  private async load(update: ReadyUpdate, signal: AbortSignal): Promise<LoadOutcome> {
    let merged = 0;
    for (const part of update.parts) {
      const outcome = await this.loadPart(part, merged === 0, signal);
      if (outcome === 'loaded') {
        merged++;
        continue;
      }
      if (outcome === 'skipped' && merged > 0) {
        this.receiver.retryLater(part.snapshot.instance, 0);
        return 'loaded';
      }
      return outcome;
    }
    return 'loaded';
  }

  private async loadPart(part: UpdatePart, first: boolean, signal: AbortSignal): Promise<LoadOutcome> {
    const { ctx } = this;
    const snap = part.snapshot;
    const ownStartup = snap.instance === ctx.instance && this.waiting.has(ctx.instance);
    // Our own full snapshot records what it does not hold; our own deltas after it, like peers', cover keys.
    const role = ownStartup && first && snap.kind !== 'delta' ? 'collect' as const : 'cover' as const;
    const coverage = this.coverage ? { role, keys: this.coverage } : undefined;
    let result: LoadResult;
    const release = await this.opts.decompressions.acquire(signal);
    try {
      result = await loadSnapshot(ctx, snap.name, () => part.open(), signal, {
        coverage, onMapFull: (err) => this.onMapFull(err), hashContent: snap.kind !== 'delta' && this.hashing,
      });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (err instanceof NotFoundError) {
        ctx.log.info('snapshot disappeared before it was merged', { snapshot: snap.name });
        this.receiver.retryLater(snap.instance, 0);
        return 'retry';
      }
      if (err instanceof SnapshotFormatError || err instanceof IncompatibleSnapshotError) {
        ctx.log.error('snapshot is corrupt or incompatible, skipping it', { snapshot: snap.name, error: errorMessage(err) });
        this.receiver.markCorrupt(snap.name);
        this.status.loadFailed(snap, err);
        // Our own snapshot: the receiver falls back to the previous one, if any, before peers are merged.
        if (ownStartup) this.coverage = undefined;
        if (ownStartup && first) {
          this.receiver.retryLater(snap.instance, 0);
          return 'retry';
        }
        return 'skipped';
      }
      if (this.opts.onlyOnce) {
        this.failOnce(new Error(`loading snapshot ${snap.name} failed: ${errorMessage(err)}`, { cause: err }));
        this.status.loadFailed(snap, err);
        return 'retry';
      }
      const failures = (this.loadFailures.get(snap.instance) ?? 0) + 1;
      this.loadFailures.set(snap.instance, failures);
      const delay = backoff(ctx.retry.intervalMs, failures);
      ctx.log.error('loading snapshot failed, will retry', {
        snapshot: snap.name, error: errorMessage(err), retry_in_ms: delay, failures,
      });
      this.status.loadFailed(snap, err);
      this.receiver.retryLater(snap.instance, delay);
      return 'retry';
    } finally {
      release();
    }
    this.loadFailures.delete(snap.instance);
    // Decided inside the load's write txn: no application commit can slip in between.
    const pendingLocal = result.baseTxnId > this.lastSyncedTxnId;
    if (!pendingLocal) this.lastSyncedTxnId = result.txnId;
    if (coverage && !ownStartup && result.baseTxnId !== this.expectedTxnId) {
      this.coverage = undefined; // the application wrote during start-up: store
    }
    this.expectedTxnId = result.txnId;
    if (result.contentHash) {
      this.status.content.snapshotHash(snap.instance, snap.name, result.contentHash, snap.timestampNano);
      // Identical: the LMDB now holds exactly that snapshot's content, so it has its hash.
      if (result.identical && !pendingLocal) this.setLocalHash(result.contentHash, result.txnId);
    }
    this.status.loaded(snap, result);
    ctx.log.info('snapshot loaded', {
      snapshot: snap.name, snapshot_instance: snap.instance, entries: result.remoteEntries,
      changed: result.changed, bytes: snap.size, ms: result.ms, lock_ms: result.lockMs,
    });
    this.receiver.mergedSnapshot(snap);
    return 'loaded';
  }

  /**
   * Stores a delta when one is due (deltas on, a chain this process started with a full snapshot, not past
   * full_interval, max_chain_ratio nor max_chain_length); returns 'full' when a full snapshot is needed instead. A delta with
   * nothing in it is not stored.
   */
  private async tryDelta(signal: AbortSignal): Promise<StoredSnapshot | undefined | 'full'> {
    const cfg = this.opts.deltas;
    const chain = this.chain;
    if (!cfg?.enabled || !chain || this.deltasRefused) return 'full';
    const budget = cfg.maxChainRatio * chain.fullBytes - chain.deltaBytes;
    if (this.clock.now() - chain.fullAt >= cfg.fullInterval || budget < MIN_DELTA_BUDGET_BYTES || chain.deltas >= cfg.maxChainLength) {
      return 'full';
    }
    const outcome = await storeDelta(this.ctx, signal, {
      previousNano: chain.last.timestampNano, sinceTxnId: chain.last.txnId, maxBytes: budget,
    });
    if (outcome.kind === 'full-needed') {
      if (outcome.reason === 'untrusted-txn-ids') {
        this.deltasRefused = true;
        this.ctx.log.warn('deltas off for this LMDB: some native headers carry txn id 0 or one beyond the LMDB\'s, ' +
          'so changes cannot be selected by txn id; full snapshots only');
      }
      return 'full';
    }
    if (outcome.kind === 'empty') {
      this.lastSyncedTxnId = outcome.txnId;
      this.ctx.log.debug('no synced data changed since the last snapshot: no delta stored', { txn_id: outcome.txnId });
      return undefined;
    }
    const stored = outcome.stored;
    chain.last = stored;
    chain.deltaBytes += stored.bytes;
    chain.deltas++;
    this.recordStored(stored, 'delta stored', { chain_bytes: chain.deltaBytes });
    return stored;
  }

  /** After a store (full or delta): what is synced, when, the status and the log line. */
  private recordStored(stored: StoredSnapshot, msg: string, extra: Record<string, unknown> = {}): void {
    this.lastSyncedTxnId = stored.txnId;
    if (stored.contentHash) {
      this.setLocalHash(stored.contentHash, stored.txnId);
      extra = { ...extra, content_hash: shortHash(stored.contentHash) };
    }
    this.lastSnapshotAt = this.clock.now();
    this.status.stored(stored);
    this.ctx.log.info(msg, {
      snapshot: stored.name, entries: stored.entries, bytes: stored.bytes, ms: stored.ms, txn_id: stored.txnId, ...extra,
    });
  }

  private setLocalHash(hash: NonNullable<StoredSnapshot['contentHash']>, txnId: number): void {
    this.status.content.setLocal(hash, new Date(this.clock.now()));
    this.localHashTxnId = txnId;
  }

  /** --only-once: records the first error that must end the run (a daemon never calls this). */
  private failOnce(err: Error): void {
    if (this.opts.onlyOnce) this.fatal ??= err;
  }

  /** MDB_MAP_FULL in a merge: grow the map where allowed (the merge is then retried at once), else report. */
  private onMapFull(err: LmdbError): boolean {
    if (this.opts.growMap?.()) return true;
    this.ctx.log.error('the LMDB map is full: a snapshot cannot be merged until map_size is raised', {
      map_size: this.ctx.env.info().mapSize, error: err.message,
    });
    return false;
  }

  /** Stores a snapshot; a failure is logged and retried later with a growing pause (--only-once: fatal). */
  private async storeOrBackOff(signal: AbortSignal): Promise<void> {
    try {
      await this.store(signal);
      this.storeFailures = 0;
      this.storeRetryAt = 0;
    } catch (err) {
      if (signal.aborted || this.opts.onlyOnce) throw err;
      this.storeFailures++;
      const delay = backoff(this.ctx.retry.intervalMs, this.storeFailures);
      this.storeRetryAt = this.clock.now() + delay;
      this.ctx.log.error('storing a snapshot failed, will retry', { error: errorMessage(err), retry_in_ms: delay, failures: this.storeFailures });
    }
  }

  /**
   * The journal reference of a full snapshot. Without it peers still find the snapshot, at their next full
   * listing (and they list everything each poll while our newest full snapshot has none), so a failure is
   * only logged.
   */
  private async announceFull(stored: StoredSnapshot, signal: AbortSignal): Promise<void> {
    try {
      await announceInJournal(this.ctx, signal, stored);
    } catch (err) {
      if (isAborted(signal)) throw err;
      this.ctx.log.warn('could not announce the full snapshot in the journal; peers find it at their next full listing', {
        snapshot: stored.name, error: errorMessage(err),
      });
    }
  }

  private async store(signal: AbortSignal): Promise<StoredSnapshot | undefined> {
    const { ctx } = this;
    this.storeRate.take(this.clock.now());
    try {
      await ctx.mode.prepareSnapshot(signal, { initial: false });
      const delta = await this.tryDelta(signal);
      if (delta !== 'full') return delta;
      const stored = await storeSnapshot(ctx, signal, { contentHash: this.hashing });
      this.chain = { fullAt: this.clock.now(), fullBytes: stored.bytes, deltaBytes: 0, deltas: 0, last: stored };
      this.recordStored(stored, 'snapshot stored');
      if (this.opts.deltas?.enabled) await this.announceFull(stored, signal);
      return stored;
    } catch (err) {
      if (!signal.aborted) this.status.storeFailed(err);
      throw err;
    }
  }
}

type LoadOutcome = 'loaded' | 'skipped' | 'retry';

/** Deltas below this size budget are not worth a chain (a full snapshot of a tiny LMDB is as small). */
const MIN_DELTA_BUDGET_BYTES = 4096;

/** interval, 2x, 4x ... up to MAX_BACKOFF_MS. */
function backoff(intervalMs: number, failures: number): number {
  return Math.min(intervalMs * 2 ** Math.min(failures - 1, 20), Math.max(MAX_BACKOFF_MS, intervalMs));
}
