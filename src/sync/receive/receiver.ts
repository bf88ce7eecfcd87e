import type { Logger } from '../../log/logger.js';
import { NotFoundError } from '../../storage/storage.js';
import type { RejectedObject, SnapshotStore } from '../../storage/snapshot-store.js';
import { isAborted } from '../../util/abort.js';
import { systemClock, type Clock } from '../../util/clock.js';
import { errorMessage } from '../../util/errors.js';
import { groupByInstance, planChain, type RemoteSnapshot } from './chain-plan.js';
import { fetchPart, type UpdatePart } from './fetch.js';
import { DbListing } from './listing.js';
import { RetriesExhaustedError, type RetryPolicy } from '../retry.js';
import type { Semaphore } from '../semaphore.js';
import type { WakeableSleep } from '../wakeable-sleep.js';

export type { RemoteSnapshot } from './chain-plan.js';
export type { UpdatePart } from './fetch.js';

/**
 * What brings an instance up to its newest object, merged part by part in order: its newest full
 * snapshot (with the deltas chained after it), or only the deltas that follow what was merged last.
 * `snapshot` is the last part. Handed out by next(), settled by settle().
 */
export interface ReadyUpdate {
  readonly snapshot: RemoteSnapshot;
  readonly parts: readonly UpdatePart[];
  readonly bytes: number;
}

/**
 * How the merge of an update ended: `merged` parts (in order) went in; then, unless all did, the next part
 * was corrupt (never tried again: the plan falls back to a full snapshot), gone (deleted since it was
 * listed: everything is listed again), or could not be merged for a local reason (tried again after delayMs).
 */
export interface MergeOutcome {
  merged: number;
  failure?: { kind: 'corrupt' } | { kind: 'gone' } | { kind: 'retry'; delayMs: number };
}

export interface ReceiverOptions {
  store: SnapshotStore;
  db: string;
  ownInstance: string;
  log: Logger;
  retry: RetryPolicy;
  /** Shared by every LMDB of the process: at most memory_downloaded_snapshots held at once. */
  downloads: Semaphore;
  /** Rung whenever an update became ready, so the sync loop wakes up early. */
  doorbell: WakeableSleep;
  /** This instance writes deltas (see DbListing). Default false. */
  ownJournals?: boolean;
  /** See DbListingOptions.fullListIntervalMs. Default 60 s. */
  fullListIntervalMs?: number;
  clock?: Clock;
}

export const DEFAULT_FULL_LIST_INTERVAL_MS = 60_000;

/** What the receiver knows of one instance. Written only by the Receiver. */
class InstanceTrack {
  /** Its valid objects, oldest first, as of the last listing (corrupt ones left out). */
  objects: RemoteSnapshot[] = [];
  /** The object merged last: where its next delta starts. */
  merged: RemoteSnapshot | undefined;
  /** The end of the plan a download was started for (not started again for the same end). */
  notified: string | undefined;
  /** Not fetched again before this time (a merge failed for a local reason). */
  retryAt = 0;
  downloading = false;
  /** Downloaded, waiting to be handed out, with the function that frees its download slot. */
  ready: { update: ReadyUpdate; release: () => void } | undefined;

  plan(): RemoteSnapshot[] {
    return planChain(this.objects, this.merged);
  }
}

/**
 * Watches the storage for snapshots of one LMDB and owns every receive decision: what is listed (DbListing),
 * which objects bring each instance up to date (planChain), what is downloaded (per instance, concurrently)
 * and what happens after a merge (settle). Without deltas an update is the newest snapshot; with deltas, the
 * deltas after the object merged last, or else the newest full snapshot and the deltas chained after it (a
 * missing or corrupt link falls back to the full one). An update still waiting to be merged is replaced when
 * a newer one arrives (parts already downloaded are reused).
 *
 * Start-up: while the own instance is held first (its older snapshot must be merged before anything else
 * happens), only the own snapshot is downloaded, so peers cannot take every download slot meanwhile;
 * releasePeers() ends that phase. After start-up, the own instance's snapshots are ignored.
 */
export class Receiver {
  readonly listing: DbListing;
  private readonly clock: Clock;
  private readonly tracks = new Map<string, InstanceTrack>();
  /** Names refused for good: malformed (warned once) or corrupt. */
  private readonly refused = new Set<string>();
  /** Updates being merged, with the functions that free their download slots. */
  private readonly handedOut = new Map<ReadyUpdate, () => void>();
  private wantOwn = true;
  private ownFirst = false;
  private newestByInstance = new Map<string, RemoteSnapshot>();
  private gaveUp: Error | undefined;

  constructor(private readonly opts: ReceiverOptions) {
    this.clock = opts.clock ?? systemClock;
    this.listing = new DbListing({
      store: opts.store, db: opts.db, ownInstance: opts.ownInstance, ownJournals: opts.ownJournals ?? false,
      fullListIntervalMs: opts.fullListIntervalMs ?? DEFAULT_FULL_LIST_INTERVAL_MS, clock: this.clock,
    });
  }

  /** The newest valid object (snapshot or delta) per instance, as of the last listing (status, metrics). */
  get newest(): ReadonlyMap<string, RemoteSnapshot> {
    return this.newestByInstance;
  }

  get hasSnapshots(): boolean {
    return this.newestByInstance.size > 0;
  }

  seenInstances(): string[] {
    return [...this.newestByInstance.keys()];
  }

  /** Start-up: download only the own snapshot until releasePeers(). */
  holdPeersForOwn(): void {
    this.ownFirst = true;
  }

  /** The own snapshot was merged (or given up): download the peers' now, and ignore own snapshots from here on. */
  releasePeers(signal: AbortSignal): void {
    this.ownFirst = false;
    this.wantOwn = false;
    const own = this.tracks.get(this.opts.ownInstance);
    own?.ready?.release();
    if (own) own.ready = undefined;
    this.startDownloads(signal);
  }

  /** Lists the storage once and (unless `start` is false) starts downloads of new snapshots. */
  async poll(signal: AbortSignal, start = true): Promise<void> {
    const { snapshots, rejected } = await this.listing.refresh(signal);
    for (const r of rejected) this.reject(r);
    const byInstance = groupByInstance(snapshots.filter((s) => !this.refused.has(s.name)));
    for (const [instance, objects] of byInstance) this.track(instance).objects = objects;
    for (const [instance, t] of this.tracks) if (!byInstance.has(instance)) t.objects = [];
    this.newestByInstance = new Map([...byInstance].map(([instance, list]) => [instance, list.at(-1)!]));
    if (start) this.startDownloads(signal);
  }

  /** Starts a download for every instance whose newest state was not fetched yet (and may be now). */
  startDownloads(signal: AbortSignal): void {
    const own = this.opts.ownInstance;
    for (const [instance, t] of this.tracks) {
      if (instance === own ? !this.wantOwn : this.ownFirst) continue;
      const end = t.plan().at(-1);
      if (!end || t.notified === end.name || t.retryAt > this.clock.now()) continue;
      t.notified = end.name;
      if (!t.downloading) void this.downloadLoop(instance, t, signal);
    }
  }

  /** Takes the next downloaded update to merge, if any (only `onlyInstance`'s when given); settle() it when merged. */
  next(onlyInstance?: string): ReadyUpdate | undefined {
    for (const [instance, t] of this.tracks) {
      if (!t.ready || (onlyInstance !== undefined && instance !== onlyInstance)) continue;
      const { update, release } = t.ready;
      t.ready = undefined;
      this.handedOut.set(update, release);
      return update;
    }
    return undefined;
  }

  /** The one way a handed-out update comes back: what its merge did (see MergeOutcome). Frees its download slot. */
  settle(update: ReadyUpdate, outcome: MergeOutcome): void {
    const release = this.handedOut.get(update);
    if (!release) throw new Error(`settle: update ${update.snapshot.name} was not handed out`);
    this.handedOut.delete(update);
    release();
    const instance = update.snapshot.instance;
    const t = this.track(instance);
    const last = update.parts[outcome.merged - 1]?.snapshot;
    if (last && (!t.merged || t.merged.timestampNano < last.timestampNano)) t.merged = last;
    const failure = outcome.failure;
    if (!failure) return;
    const part = update.parts[outcome.merged]?.snapshot;
    t.notified = undefined; // planned and fetched again at the next listing
    if (failure.kind === 'corrupt' && part) {
      this.refused.add(part.name);
      t.objects = t.objects.filter((o) => o.name !== part.name);
    } else if (failure.kind === 'gone' && part) {
      this.gone(t, part.name);
    } else if (failure.kind === 'retry') {
      t.retryAt = this.clock.now() + failure.delayMs;
    }
  }

  /** Whether something of this instance is planned, downloading, waiting to be merged or being merged. */
  hasWork(instance: string): boolean {
    const t = this.tracks.get(instance);
    if (!t) return false;
    return t.downloading || t.ready !== undefined || [...this.handedOut.keys()].some((u) => u.snapshot.instance === instance) || t.plan().length > 0;
  }

  /** The objects that would bring `instance` up to date now, in merge order. */
  plan(instance: string): RemoteSnapshot[] {
    return this.tracks.get(instance)?.plan() ?? [];
  }

  /** The error of a download that gave up since the last call (its retries ran out; it is tried again at a later listing). */
  takeDownloadGiveUp(): Error | undefined {
    const err = this.gaveUp;
    this.gaveUp = undefined;
    return err;
  }

  private track(instance: string): InstanceTrack {
    let t = this.tracks.get(instance);
    if (!t) this.tracks.set(instance, (t = new InstanceTrack()));
    return t;
  }

  /**
   * An object turned out absent (a cleaner deleted it since it was listed), found at download or at merge time:
   * one rule for both. It is dropped from the plan, and the next poll lists everything again.
   */
  private gone(t: InstanceTrack, name: string): void {
    t.objects = t.objects.filter((o) => o.name !== name);
    this.listing.forget(name);
  }

  private reject(r: RejectedObject): void {
    if (this.refused.has(r.info.name)) return;
    this.refused.add(r.info.name);
    // Objects with another extension are ignored quietly, as Go does; a malformed snapshot name is worth a warning.
    if (r.malformed) this.opts.log.warn('skipping object with an invalid snapshot name', { object: r.info.name, reason: r.reason });
    else this.opts.log.debug('ignoring an object that is not a snapshot', { object: r.info.name });
  }

  private async downloadLoop(instance: string, t: InstanceTrack, signal: AbortSignal): Promise<void> {
    t.downloading = true;
    try {
      for (;;) {
        const plan = t.plan();
        const end = plan.at(-1);
        if (!end || signal.aborted) return;
        if (t.ready && t.ready.update.snapshot.timestampNano >= end.timestampNano) return;
        if (!await this.download(t, plan, signal)) return;
        if (t.plan().at(-1)?.name === end.name) return;
      }
    } finally {
      t.downloading = false;
    }
  }

  /** Fetches one plan into t.ready; false when it failed (the plan is tried again at the next listing). */
  private async download(t: InstanceTrack, plan: RemoteSnapshot[], signal: AbortSignal): Promise<boolean> {
    const end = plan.at(-1)!;
    let release: (() => void) | undefined;
    let current = end;
    try {
      release = await this.opts.downloads.acquire(signal);
      const started = this.clock.now();
      const reusable = new Map((t.ready?.update.parts ?? []).map((p) => [p.snapshot.name, p]));
      // The parts of a chain are fetched a few at a time: a restarted receiver may need dozens of small deltas,
      // and one at a time each waits out its own round trip (and its retries).
      const parts = await mapInOrder(plan, CHAIN_FETCH_CONCURRENCY, async (snap) => {
        try {
          return reusable.get(snap.name) ?? await fetchPart(this.opts, snap, signal);
        } catch (err) {
          current = snap; // the one the error is about
          throw err;
        }
      });
      const bytes = plan.reduce((n, s) => n + s.size, 0);
      if (!this.opts.store.local) {
        this.opts.log.debug('snapshot downloaded', { snapshot: end.name, parts: parts.length, bytes, ms: this.clock.now() - started });
      }
      t.ready?.release();
      t.ready = { update: { snapshot: end, parts, bytes }, release };
      release = undefined;
      this.opts.doorbell.wake();
      return true;
    } catch (err) {
      release?.();
      if (isAborted(signal)) return false;
      if (err instanceof NotFoundError) {
        this.opts.log.info('snapshot disappeared before download', { snapshot: current.name });
        this.gone(t, current.name);
      } else {
        this.opts.log.error('snapshot download failed', { snapshot: current.name, error: errorMessage(err) });
        if (err instanceof RetriesExhaustedError) this.gaveUp ??= err;
        this.opts.doorbell.wake();
      }
      t.notified = undefined; // try again at the next listing
      return false;
    }
  }
}

/** How many parts of one update are downloaded at once. */
const CHAIN_FETCH_CONCURRENCY = 4;

/** fn over items, at most `limit` at once, results in the items' order; the first failure rejects (the rest are not started). */
async function mapInOrder<T, R>(items: readonly T[], limit: number, fn: (item: T) => R | Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
