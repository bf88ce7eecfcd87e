import { SnapshotFormatError } from '../snapshot/errors.js';
import { NotFoundError } from '../storage/storage.js';
import { IncompatibleSnapshotError } from './mode.js';
import type { LmdbSyncContext } from './context.js';
import { loadSnapshot, type LoadResult } from './loader.js';
import { Receiver, type ReadyUpdate } from './receiver.js';
import { errorMessage, sleep } from './retry.js';
import type { Semaphore } from './semaphore.js';
import { storeSnapshot, type StoredSnapshot } from './sender.js';
import { WakeableSleep } from './wakeable-sleep.js';
import { SyncStatus } from './status.js';

/** How often the loop looks at the LMDB's txn id and at downloaded snapshots (never more rarely than lmdb_poll_interval). */
const LOCAL_CHECK_MS = 50;

/** After a storage change notification, how long to let more changes arrive before listing. */
const WATCH_SETTLE_MS = 10;

/** How long a restart may defer its first snapshot while it checks the bucket already has its data. */
const RESUME_CHECK_MAX_MS = 60_000;

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
}

/**
 * The two-way sync loop of one LMDB: load what other instances wrote, snapshot what changed here.
 * Start-up follows the safety rules of the facts note: list first; load this instance's own older
 * snapshot before writing a new one; write an initial snapshot at once when the LMDB has data and
 * the bucket has none.
 */
export class Syncer {
  readonly status: SyncStatus;
  private readonly receiver: Receiver;
  /** The main loop's pause between passes; a downloaded snapshot ends it early. */
  private readonly loopSleep = new WakeableSleep();
  private lastSyncedTxnId = 0;
  /**
   * Start-up bookkeeping (see resumeCheck): keys written since our own last snapshot that no loaded
   * snapshot holds yet, and the txn id the LMDB should have if only our merges wrote since.
   */
  private unsaved: Set<string> | undefined;
  private expectedTxnId = 0;
  private lastSnapshotAt = Date.now();
  /** When the last snapshot was stored: rate-limits snapshots to one per lmdb_poll_interval. */
  private lastStoreAt = 0;

  constructor(private readonly ctx: LmdbSyncContext, private readonly opts: SyncerOptions) {
    this.status = new SyncStatus(ctx.dbName, ctx.instance);
    this.receiver = new Receiver({
      storage: ctx.storage, db: ctx.dbName, ownInstance: ctx.instance, log: ctx.log.with({ component: 'receiver' }),
      retry: ctx.retry, downloads: opts.downloads, onReady: () => this.wake(),
    });
    this.status.receiver = this.receiver;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { ctx, opts } = this;
    const log = ctx.log;
    ctx.mode.validate(ctx.env);
    await this.initialListing(signal);
    const own = ctx.instance;
    const waiting = new Set(this.receiver.seenInstances());
    if (waiting.has(own)) log.info('this instance has an older snapshot: loading it before writing new ones');
    const hasDataAtStart = ctx.env.info().lastTxnId > 0;
    const hadSnapshots = this.receiver.hasSnapshots;

    if (hasDataAtStart && ctx.mode.kind === 'shadow') await ctx.mode.prepareSnapshot(signal, { initial: true });
    if (hasDataAtStart && !hadSnapshots && !opts.receiveOnly) {
      log.info('no snapshot in the storage yet: storing an initial one');
      await this.store(signal);
    }
    this.lastSnapshotAt = Date.now();
    void this.pollLoop(signal);

    let warnedEmpty = false;
    const startedAt = Date.now();
    for (;;) {
      await this.loadReady(signal, waiting);
      for (const instance of waiting) {
        if (!this.receiver.latestByInstance.has(instance) && this.receiver.pendingDownloads === 0) {
          log.info('no longer waiting for an instance whose snapshots disappeared', { snapshot_instance: instance });
          waiting.delete(instance);
        }
      }
      const overdue = opts.forceSnapshotMs > 0 && Date.now() - this.lastSnapshotAt > opts.forceSnapshotMs;
      if (!opts.receiveOnly) {
        const lastTxnId = ctx.env.info().lastTxnId;
        if (log.isEnabled('debug')) log.debug('checking for local changes', { txn_id: lastTxnId, synced_txn_id: this.lastSyncedTxnId });
        // The txn id is checked often (cheap) so a commit after a quiet spell is stored at once, while
        // snapshots stay at most one per lmdb_poll_interval under a steady stream of commits.
        const due = Date.now() - this.lastStoreAt >= opts.lmdbPollMs || (opts.onlyOnce && waiting.size === 0);
        if ((lastTxnId > this.lastSyncedTxnId && due) || overdue) {
          if (waiting.has(own)) {
            log.debug('waiting to load own older snapshot before writing a new one');
          } else if (this.unsaved && Date.now() - startedAt < RESUME_CHECK_MAX_MS) {
            log.debug('start-up loads in progress: deciding afterwards whether a snapshot is needed');
          } else if (lastTxnId > 0) {
            await this.store(signal);
          } else if (!warnedEmpty) {
            log.warn('LMDB is empty, waiting for data');
            warnedEmpty = true;
          }
        }
      }
      if (waiting.size === 0 && !this.status.ready) {
        this.status.ready = true;
        log.info('initial sync complete');
      }
      if (opts.onlyOnce && waiting.size === 0) {
        log.info('stopping: single pass requested (--only-once)');
        return;
      }
      await this.loopSleep.sleep(Math.min(opts.lmdbPollMs, LOCAL_CHECK_MS), signal);
    }
  }

  private async initialListing(signal: AbortSignal): Promise<void> {
    let logged = false;
    for (;;) {
      try {
        await this.receiver.pollOnce(true, signal);
        this.status.listedOk();
        return;
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        this.status.listFailed(err);
        if (!logged) this.ctx.log.warn('waiting for the initial storage listing', { error: errorMessage(err) });
        logged = true;
        await sleep(1000, signal);
      }
    }
  }

  private async pollLoop(signal: AbortSignal): Promise<void> {
    let failing = false;
    // A storage that can tell when objects change (fs: inotify) wakes the poller early.
    const pollSleep = new WakeableSleep(WATCH_SETTLE_MS);
    const stopWatching = this.ctx.storage.watch?.(() => pollSleep.wake());
    signal.addEventListener('abort', () => stopWatching?.(), { once: true });
    while (!signal.aborted) {
      try {
        await pollSleep.sleep(this.opts.storagePollMs, signal);
        await this.receiver.pollOnce(false, signal);
        this.status.listedOk();
        if (failing) this.ctx.log.info('storage listing recovered');
        failing = false;
      } catch (err) {
        if (signal.aborted) return;
        this.status.listFailed(err);
        if (!failing) this.ctx.log.warn('storage listing failed, will keep trying', { error: errorMessage(err) });
        failing = true;
      }
    }
  }

  private async loadReady(signal: AbortSignal, waiting: Set<string>): Promise<void> {
    const own = this.ctx.instance;
    // Our own older snapshot goes first: it decides whether a restart must store a new snapshot.
    const next = () => this.receiver.next(waiting.has(own) ? own : undefined);
    for (let update = next(); update; update = next()) {
      const wasWaiting = waiting.size > 0;
      try {
        await this.load(update, signal);
      } finally {
        update.release();
      }
      waiting.delete(update.snapshot.instance);
      if (wasWaiting && waiting.size === 0) this.resumeCheck();
    }
  }

  /**
   * After the start-up loads: when everything written since our own last snapshot is held by the
   * snapshots just loaded, and only our merges wrote since, the bucket already has all our data and
   * no snapshot is stored (a restart does not rewrite unchanged data).
   */
  private resumeCheck(): void {
    const unsaved = this.unsaved;
    this.unsaved = undefined;
    if (!unsaved) return;
    const lastTxnId = this.ctx.env.info().lastTxnId;
    if (unsaved.size === 0 && lastTxnId === this.expectedTxnId) {
      this.lastSyncedTxnId = lastTxnId;
      this.ctx.log.info('the storage already holds this LMDB\'s data: no new snapshot needed');
    } else {
      this.ctx.log.info('local changes since our last snapshot: a new one will be stored', { unsaved_keys: unsaved.size });
    }
  }

  private async load(update: ReadyUpdate, signal: AbortSignal): Promise<void> {
    const { ctx } = this;
    const snap = update.snapshot;
    let result: LoadResult;
    const release = await this.opts.decompressions.acquire(signal);
    try {
      result = await loadSnapshot(ctx, snap.name, () => update.open(), signal, this.unsaved);
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (err instanceof NotFoundError) {
        ctx.log.info('snapshot disappeared before it was merged', { snapshot: snap.name });
        return;
      }
      if (err instanceof SnapshotFormatError || err instanceof IncompatibleSnapshotError) {
        ctx.log.error('snapshot is corrupt or incompatible, skipping it', { snapshot: snap.name, error: errorMessage(err) });
        this.receiver.markCorrupt(snap.name);
        this.status.loadFailed(snap, err);
        return;
      }
      ctx.log.error('loading snapshot failed, will retry', {
        snapshot: snap.name, error: errorMessage(err), retry_in_ms: ctx.retry.intervalMs,
      });
      this.status.loadFailed(snap, err);
      this.receiver.retryLater(snap.instance, ctx.retry.intervalMs);
      return;
    } finally {
      release();
    }
    // Decided inside the load's write txn: no application commit can slip in between.
    const pendingLocal = result.baseTxnId > this.lastSyncedTxnId;
    if (!pendingLocal) this.lastSyncedTxnId = result.txnId;
    if (snap.instance === ctx.instance && !this.status.ready) {
      this.unsaved = result.identical ? new Set() : ctx.env.read((txn) => ctx.mode.writtenSince(txn, result.snapshotTxnId));
      this.expectedTxnId = result.txnId;
    } else if (this.unsaved) {
      if (result.baseTxnId !== this.expectedTxnId) this.unsaved.add('\0application wrote during start-up');
      this.expectedTxnId = result.txnId;
    }
    this.status.loaded(snap, result);
    ctx.log.info('snapshot loaded', {
      snapshot: snap.name, snapshot_instance: snap.instance, entries: result.remoteEntries,
      changed: result.changed, bytes: update.bytes, ms: result.ms, lock_ms: result.lockMs,
    });
  }

  private async store(signal: AbortSignal): Promise<StoredSnapshot> {
    const { ctx } = this;
    await ctx.mode.prepareSnapshot(signal, { initial: false });
    try {
      const stored = await storeSnapshot(ctx, signal);
      this.lastSyncedTxnId = stored.txnId;
      this.lastSnapshotAt = Date.now();
      this.lastStoreAt = Date.now();
      this.status.stored(stored);
      ctx.log.info('snapshot stored', {
        snapshot: stored.name, entries: stored.entries, bytes: stored.bytes, ms: stored.ms, txn_id: stored.txnId,
      });
      return stored;
    } catch (err) {
      if (!signal.aborted) this.status.storeFailed(err);
      throw err;
    }
  }

  private wake(): void {
    this.loopSleep.wake();
  }

}
