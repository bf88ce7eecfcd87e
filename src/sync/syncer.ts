import type { ContentHashConfig, DeltasConfig } from '../config/config.js';
import type { LmdbError } from '../lmdb/index.js';
import { shortHash } from '../snapshot/content-hash.js';
import { SnapshotStore } from '../storage/snapshot-store.js';
import { systemClock, type Clock } from '../util/clock.js';
import { errorMessage } from '../util/errors.js';
import { ContentLoop } from './content/loop.js';
import type { LmdbSyncContext } from './context.js';
import { LoadErrorPolicy } from './merge/load-errors.js';
import { PollLoop } from './poll-loop.js';
import { SyncProgress } from './progress.js';
import { Receiver } from './receive/receiver.js';
import type { Semaphore } from './semaphore.js';
import { SendScheduler } from './send/send-scheduler.js';
import { sendDelta, sendFull, type StoredSnapshot } from './send/sender.js';
import { StartupGate } from './startup-gate.js';
import { SyncStatus } from './status.js';
import { mergeUpdate, type UpdateMergeDeps } from './merge/update-merge.js';
import { WakeableSleep } from './wakeable-sleep.js';
import { defaultFullOnlyPeerTimeoutMs, presentFullOnlyPeers } from './receive/full-only-peers.js';
import { ReturnGuard, type ReturnGuardConfig } from './guard/return-guard.js';

/** How often the loop looks at the LMDB's txn id and at downloaded snapshots (never more rarely than lmdb_poll_interval). */
const LOCAL_CHECK_MS = 50;

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
  /** The return guard (on when the sweeper is; off when absent). */
  returnGuard?: ReturnGuardConfig;
}

/**
 * The two-way sync of one LMDB, as an orchestration of named parts (ARCHITECTURE.md):
 * - PollLoop lists the storage; the Receiver decides what to download and owns what was merged;
 * - StartupGate holds stores and peers until the start-up loads are done, and proves a restart needs no snapshot;
 * - mergeUpdate merges what the receiver hands out, LoadErrorPolicy says what a failure means, and the
 *   receiver is told the outcome through one call (settle);
 * - SendScheduler says when to store and whether a delta or a full snapshot; sendFull/sendDelta store and announce;
 * - SyncProgress owns how far the storage holds this LMDB; ContentLoop hashes and publishes the content.
 * This class only runs the loop that asks them, in order.
 */
export class Syncer {
  readonly status: SyncStatus;
  private readonly receiver: Receiver;
  private readonly clock: Clock;
  /** The main loop's pause between passes; a downloaded update or a fatal poll failure ends it early. */
  private readonly doorbell: WakeableSleep;
  private readonly progress = new SyncProgress();
  private readonly gate: StartupGate;
  private readonly scheduler: SendScheduler;
  private readonly polls: PollLoop;
  private readonly content: ContentLoop | undefined;
  private readonly merge: UpdateMergeDeps;
  private readonly guard: ReturnGuard;
  /** A snapshot was stored after the start-up loads ended (what --only-once waits for). */
  private storedWhenReady = false;
  /** --only-once: the error that ends the run (a daemon keeps trying instead). */
  private fatal: Error | undefined;

  constructor(private readonly ctx: LmdbSyncContext, private readonly opts: SyncerOptions) {
    this.clock = ctx.clock ?? systemClock;
    this.doorbell = new WakeableSleep(0, this.clock);
    this.status = new SyncStatus(ctx.dbName, ctx.instance);
    this.receiver = new Receiver({
      store: new SnapshotStore(ctx.storage), db: ctx.dbName, ownInstance: ctx.instance, log: ctx.log.with({ component: 'receiver' }),
      retry: ctx.retry, downloads: opts.downloads, doorbell: this.doorbell, clock: this.clock,
      ownJournals: this.journaling,
      ...(opts.deltas && { fullListIntervalMs: opts.deltas.fullListInterval }),
    });
    this.status.peers = this.receiver;
    this.gate = new StartupGate(ctx.instance, opts.receiveOnly, this.progress, ctx.log);
    this.guard = new ReturnGuard({
      ctx, receiveOnly: opts.receiveOnly, progress: this.progress, clock: this.clock, log: ctx.log,
      config: opts.returnGuard ?? { enabled: false, retentionMs: 0, marginMs: 0, releaseMs: 0, chunkEntries: 1 },
    });
    this.status.returnGuard = this.guard;
    this.scheduler = new SendScheduler({
      lmdbPollMs: opts.lmdbPollMs, forceSnapshotMs: opts.forceSnapshotMs, retryIntervalMs: ctx.retry.intervalMs,
      ...(opts.deltas && { deltas: opts.deltas }),
    }, this.clock.now());
    this.polls = new PollLoop({
      receiver: this.receiver, status: this.status, storage: ctx.storage, retry: ctx.retry, storagePollMs: opts.storagePollMs,
      onlyOnce: opts.onlyOnce, log: ctx.log, clock: this.clock, doorbell: this.doorbell,
    });
    if (opts.contentHash?.enabled) {
      const { progress, status } = this;
      this.content = new ContentLoop(ctx, status.content, {
        config: opts.contentHash, publish: opts.contentHash.publish && !opts.receiveOnly, clock: this.clock,
        knownInstances: () => this.receiver.seenInstances(),
        progress: { get ready() { return status.ready; }, settled: (lastTxnId) => opts.receiveOnly || !progress.unstored(lastTxnId) },
      });
    }
    this.merge = {
      ctx, gate: this.gate, progress: this.progress, status: this.status, decompressions: opts.decompressions,
      loadErrors: new LoadErrorPolicy(ctx.retry.intervalMs, opts.onlyOnce, ctx.log),
      hashing: this.hashing, onMapFull: (err) => this.onMapFull(err), knownHash: (hash, txnId) => this.content?.known(hash, txnId),
      guard: this.guard,
    };
  }

  /** Content hashes on (the default when the runner passes the config; off in engine tests that pass none). */
  private get hashing(): boolean {
    return this.opts.contentHash?.enabled ?? false;
  }

  /** This instance writes deltas and the journal entries that announce its snapshots. */
  private get journaling(): boolean {
    return (this.opts.deltas?.enabled ?? false) && !this.opts.receiveOnly;
  }

  /** Whether the start-up loads are done (also true once --only-once may stop). */
  get ready(): boolean {
    return this.status.ready;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { ctx, opts } = this;
    const log = ctx.log;
    ctx.mode.validate(ctx.env);
    await this.polls.initial(signal);
    const hasDataAtStart = ctx.env.info().lastTxnId > 0;
    if (hasDataAtStart && ctx.mode.kind === 'shadow') await ctx.mode.prepareSnapshot(signal, { initial: true });
    this.guard.begin(hasDataAtStart, this.receiver.seenInstances().filter((i) => i !== ctx.instance));
    if (this.gate.begin(this.receiver.seenInstances(), hasDataAtStart, this.clock.now())) this.receiver.holdPeersForOwn();
    else this.receiver.releasePeers(signal);
    this.receiver.startDownloads(signal);
    if (hasDataAtStart && !this.receiver.hasSnapshots && !opts.receiveOnly) {
      log.info('no snapshot in the storage yet: storing an initial one');
      await this.guard.finish(signal); // armed with no instance to merge: nothing to compare with
      await this.storeOrBackOff(signal, false);
    }
    this.scheduler.restartClock(this.clock.now());
    void this.polls.run(signal);
    void this.content?.run(signal);

    let warnedEmpty = false;
    for (;;) {
      await this.mergeReady(signal);
      this.fatal ??= this.polls.fatal ?? (opts.onlyOnce ? this.receiver.takeDownloadGiveUp() : undefined);
      if (this.fatal) throw this.fatal;
      this.forgetVanishedInstances(signal);
      this.gate.tick(this.clock.now());
      if (this.gate.done) await this.guard.finish(signal);
      if (this.gate.done) {
        const caughtUp = this.receiver.seenInstances().every((i) => i === ctx.instance || !this.receiver.hasWork(i));
        await this.guard.tick(caughtUp, () => !this.progress.unstored(ctx.env.info().lastTxnId));
      }
      if (!opts.receiveOnly) warnedEmpty = await this.storeIfDue(signal, warnedEmpty);
      if (this.gate.done && !this.status.ready) {
        this.status.ready = true;
        log.info('initial sync complete');
      }
      // --only-once: every instance seen at start-up was merged, and what changed here was stored once.
      if (opts.onlyOnce && this.gate.done && (opts.receiveOnly || this.storedWhenReady || !this.progress.unstored(ctx.env.info().lastTxnId))) {
        log.info('stopping: single pass requested (--only-once)');
        return;
      }
      await this.doorbell.sleep(Math.min(opts.lmdbPollMs, LOCAL_CHECK_MS), signal);
    }
  }

  /**
   * The txn id is checked often (cheap) so a commit after a quiet spell is stored at once, while the scheduler
   * keeps snapshots at most one per lmdb_poll_interval (on average) under a steady stream of commits.
   * Returns whether the "LMDB is empty" warning was given.
   */
  private async storeIfDue(signal: AbortSignal, warnedEmpty: boolean): Promise<boolean> {
    const lastTxnId = this.ctx.env.info().lastTxnId;
    const log = this.ctx.log;
    if (log.isEnabled('debug')) log.debug('checking for local changes', { txn_id: lastTxnId, synced_txn_id: this.progress.syncedTxnId });
    const skipRate = this.opts.onlyOnce && this.gate.done;
    const fullReaders = this.fullReadersPresent();
    if (!this.scheduler.due(this.clock.now(), this.progress.unstored(lastTxnId), { skipRate, fullReaders })) return warnedEmpty;
    const held = this.gate.holdsStores() ?? this.guard.holdsStores();
    if (held) {
      log.debug(held);
    } else if (lastTxnId > 0) {
      await this.storeOrBackOff(signal, fullReaders);
      if (this.gate.done) this.storedWhenReady = true;
    } else if (!warnedEmpty) {
      log.warn('LMDB is empty, waiting for data');
      return true;
    }
    return warnedEmpty;
  }

  /** Merges every downloaded update (only our own while the start-up gate holds the peers) and settles it with the receiver. */
  private async mergeReady(signal: AbortSignal): Promise<void> {
    for (let update = this.receiver.next(this.gate.onlyInstance); update; update = this.receiver.next(this.gate.onlyInstance)) {
      let result;
      try {
        result = await mergeUpdate(this.merge, update, signal);
      } catch (err) {
        this.receiver.settle(update, { merged: 0, failure: { kind: 'retry', delayMs: 0 } });
        throw err;
      }
      this.receiver.settle(update, result.outcome);
      if (result.fatal && this.opts.onlyOnce) this.fatal ??= result.fatal;
      if (result.startup !== 'retry') this.startupDone(update.snapshot.instance, result.startup === 'loaded', signal);
    }
  }

  private startupDone(instance: string, loaded: boolean, signal: AbortSignal): void {
    if (this.gate.finished(instance, loaded, () => this.ctx.env.info().lastTxnId)) this.receiver.releasePeers(signal);
  }

  /** Instances seen at start-up with nothing left to merge (snapshots gone, or none usable) are no longer waited for. */
  private forgetVanishedInstances(signal: AbortSignal): void {
    for (const instance of this.gate.pending()) {
      if (this.receiver.hasWork(instance)) continue;
      this.ctx.log.info('no longer waiting for an instance whose snapshots disappeared or cannot be merged', { snapshot_instance: instance });
      this.startupDone(instance, false, signal);
    }
  }

  /** Stores a snapshot; a failure is logged and retried later with a growing pause (--only-once: fatal). */
  private async storeOrBackOff(signal: AbortSignal, fullReaders: boolean): Promise<void> {
    try {
      await this.store(signal, fullReaders);
    } catch (err) {
      if (signal.aborted || this.opts.onlyOnce) throw err;
      const { delayMs, failures } = this.scheduler.failed(this.clock.now());
      this.ctx.log.error('storing a snapshot failed, will retry', { error: errorMessage(err), retry_in_ms: delayMs, failures });
    }
  }

  /**
   * One store: a delta when the scheduler plans one and it is worth it, else a full snapshot (`fullReaders`: peers
   * that take only full snapshots are present, see fullReadersPresent).
   */
  private async store(signal: AbortSignal, fullReaders: boolean): Promise<void> {
    const { ctx } = this;
    const plan = this.scheduler.begin(this.clock.now(), fullReaders);
    try {
      await ctx.mode.prepareSnapshot(signal, { initial: false });
      if (plan.kind === 'delta') {
        const outcome = await sendDelta(ctx, signal, plan.start, plan.alsoFull ? { contentHash: this.hashing, evenIfEmpty: plan.owed } : undefined);
        if (outcome.kind === 'empty') {
          this.progress.nothingChanged(outcome.txnId);
          this.scheduler.skipped();
          ctx.log.debug('no synced data changed since the last snapshot: no delta stored', { txn_id: outcome.txnId });
          return;
        }
        if (outcome.kind === 'stored') {
          this.recordStored(outcome.stored, 'delta stored');
          if (outcome.full) this.recordStored(outcome.full, 'snapshot stored', { beside_delta: true });
          return;
        }
        if (outcome.reason === 'untrusted-txn-ids' && this.scheduler.refuseDeltas()) {
          ctx.log.warn('deltas off for this LMDB: some native headers carry txn id 0 or one beyond the LMDB\'s, ' +
            'so changes cannot be selected by txn id; full snapshots only');
        }
      }
      const stored = await sendFull(ctx, signal, { contentHash: this.hashing, announce: this.opts.deltas?.enabled ?? false });
      this.recordStored(stored, 'snapshot stored');
    } catch (err) {
      if (!signal.aborted) this.status.storeFailed(err);
      throw err;
    }
  }

  /** After a store (full or delta): what is synced, when, the status and the log line. */
  private recordStored(stored: StoredSnapshot, msg: string, fields: Record<string, unknown> = {}): void {
    const chainBytes = this.scheduler.stored(stored, this.clock.now());
    this.progress.stored(stored.txnId);
    const extra: Record<string, unknown> = stored.kind === 'delta' ? { ...fields, chain_bytes: chainBytes } : fields;
    if (stored.contentHash) {
      this.content?.known(stored.contentHash, stored.txnId);
      extra.content_hash = shortHash(stored.contentHash);
    }
    this.status.stored(stored);
    this.ctx.log.info(msg, {
      snapshot: stored.name, entries: stored.entries, bytes: stored.bytes, ms: stored.ms, txn_id: stored.txnId, ...extra,
    });
  }

  /**
   * Whether peers that take only full snapshots are present (full-only-peers.ts): then every store writes a full
   * snapshot too. Only asked while this instance writes deltas (without, every store is a full snapshot anyway).
   */
  private fullReadersPresent(): boolean {
    if (!this.journaling) return false;
    if (this.opts.deltas?.assumeFullOnlyPeers === true) return true;
    const configured = this.opts.deltas?.fullOnlyPeerTimeout ?? 0;
    const timeout = configured > 0 ? configured : defaultFullOnlyPeerTimeoutMs(this.opts.forceSnapshotMs);
    const present = presentFullOnlyPeers(this.receiver.listing.peersWithoutJournal, this.clock.nowNano(), timeout);
    if (present.join() !== this.status.fullOnlyPeers.join()) {
      if (present.length > 0) {
        this.ctx.log.info('peers that take only full snapshots are present: full snapshots are stored beside deltas', { instances: present.join(',') });
      } else {
        this.ctx.log.info('no peer takes only full snapshots any more: deltas only between full snapshots');
      }
      this.status.fullOnlyPeers = present;
    }
    return present.length > 0;
  }

  /** MDB_MAP_FULL in a merge: grow the map where allowed (the merge is then retried at once), else report. */
  private onMapFull(err: LmdbError): boolean {
    if (this.opts.growMap?.()) return true;
    this.ctx.log.error('the LMDB map is full: a snapshot cannot be merged until map_size is raised', {
      map_size: this.ctx.env.info().mapSize, error: err.message,
    });
    return false;
  }
}
