import { pipeline, Readable, Transform } from 'node:stream';
import type { Storage, ObjectInfo } from '../storage/storage.js';
import { NotFoundError } from '../storage/storage.js';
import { SNAPSHOT_EXTENSION, DELTA_EXTENSION } from '../snapshot/name.js';
import type { Logger } from '../log/logger.js';
import { isAborted } from '../util/abort.js';
import { systemClock, type Clock } from '../util/clock.js';
import { RetriesExhaustedError, withRetry, type RetryPolicy } from './retry.js';
import { errorMessage } from '../util/errors.js';
import type { Semaphore } from './semaphore.js';
import { groupByInstance, planChain, type RemoteSnapshot } from './chain-plan.js';
import { DbListing } from './listing.js';

export type { RemoteSnapshot } from './chain-plan.js';

/**
 * One object of an update, ready to be merged: downloaded (its compressed bytes as chunks, never
 * concatenated: a fresh 100 MB buffer alone costs ~0.4 s of page faults here), or on a local storage
 * opened when merged.
 */
export interface UpdatePart {
  snapshot: RemoteSnapshot;
  open(): Promise<Readable>;
}

/**
 * What brings an instance up to its newest object, merged part by part in order: its newest full
 * snapshot (with the deltas chained after it), or only the deltas that follow what was merged last.
 * `snapshot` is the last part. release() frees the update's slot in the download budget.
 */
export interface ReadyUpdate {
  snapshot: RemoteSnapshot;
  parts: UpdatePart[];
  bytes: number;
  release(): void;
}

export interface ReceiverOptions {
  storage: Storage;
  db: string;
  ownInstance: string;
  log: Logger;
  retry: RetryPolicy;
  /** Shared by every LMDB of the process: at most memory_downloaded_snapshots held at once. */
  downloads: Semaphore;
  /** Called whenever a new update became ready, so the sync loop can wake up early. */
  onReady: () => void;
  /** This instance writes deltas (see DbListing). Default false. */
  ownJournals?: boolean;
  /** See DbListingOptions.fullListIntervalMs. Default 60 s. */
  fullListIntervalMs?: number;
  /** A download kept failing until its retries ran out (it is tried again at a later listing). */
  onDownloadGaveUp?: (err: Error) => void;
  clock?: Clock;
}

export const DEFAULT_FULL_LIST_INTERVAL_MS = 60_000;

/** A download that returned fewer (or more) bytes than the listing said: retried, never "corrupt". */
export class IncompleteDownloadError extends Error {
  constructor(name: string, got: number, listed: number) {
    super(`download of ${name} returned ${got} bytes, the listing says ${listed}`);
    this.name = 'IncompleteDownloadError';
  }
}

/**
 * Watches the storage for snapshots of one LMDB: lists them, and per instance downloads what brings it
 * up to that instance's newest object (concurrently per instance). Without deltas that is the newest
 * snapshot; with deltas, the deltas after the object merged last, or else the newest full snapshot and the
 * deltas chained after it (a missing or corrupt link falls back to the full one). An update still waiting
 * to be merged is replaced when a newer one arrives (parts already downloaded are reused).
 *
 * Start-up: while `ownFirst` holds (this instance's own older snapshot must be merged before
 * anything else happens), only the own snapshot is downloaded, so peers cannot take every download
 * slot while the sync loop waits for it; releasePeers() ends that phase. After start-up, the own
 * instance's snapshots are ignored.
 */
export class Receiver {
  readonly listing: DbListing;
  private readonly invalidNames = new Set<string>();
  private readonly corruptNames = new Set<string>();
  private readonly lastNotified = new Map<string, string>();
  private readonly downloading = new Set<string>();
  /** Instances whose last load failed for a local reason: not fetched again before this time. */
  private readonly retryAt = new Map<string, number>();
  private readonly ready = new Map<string, ReadyUpdate>();
  private readonly clock: Clock;
  /** Start-up: the own snapshot is still wanted; peers are held back while ownFirst. */
  private wantOwn = true;
  private ownFirst = false;
  /** Newest valid object (snapshot or delta) per instance, as of the last listing. */
  latestByInstance = new Map<string, RemoteSnapshot>();
  /** Every valid object per instance, oldest first, as of the last listing. */
  private objectsByInstance = new Map<string, RemoteSnapshot[]>();
  /** The object merged last per instance: where its next delta starts. */
  private readonly merged = new Map<string, RemoteSnapshot>();
  listedOnce = false;
  lastListAt: Date | undefined;
  lastListError: string | undefined;

  constructor(private readonly opts: ReceiverOptions) {
    this.clock = opts.clock ?? systemClock;
    this.listing = new DbListing({
      storage: opts.storage, db: opts.db, ownInstance: opts.ownInstance, ownJournals: opts.ownJournals ?? false,
      fullListIntervalMs: opts.fullListIntervalMs ?? DEFAULT_FULL_LIST_INTERVAL_MS, clock: this.clock,
    });
  }

  get hasSnapshots(): boolean {
    return this.latestByInstance.size > 0;
  }

  seenInstances(): string[] {
    return [...this.latestByInstance.keys()];
  }

  /** Start-up: download only the own snapshot until releasePeers(). */
  holdPeersForOwn(): void {
    this.ownFirst = true;
  }

  /** The own snapshot was merged (or given up): download the peers' now, and ignore own snapshots from here on. */
  releasePeers(signal: AbortSignal): void {
    this.ownFirst = false;
    this.wantOwn = false;
    this.ready.get(this.opts.ownInstance)?.release();
    this.ready.delete(this.opts.ownInstance);
    this.startDownloads(signal);
  }

  /** Lists the storage once and (unless `start` is false) starts downloads of new snapshots. */
  async pollOnce(signal: AbortSignal, start = true): Promise<void> {
    let objects: ObjectInfo[];
    try {
      objects = await this.listing.refresh(signal);
    } catch (err) {
      this.lastListError = errorMessage(err);
      throw err;
    }
    this.lastListError = undefined;
    this.lastListAt = new Date(this.clock.now());
    const fresh = objects.filter((o) => !this.invalidNames.has(o.name) && !this.corruptNames.has(o.name));
    const byInstance = groupByInstance(fresh, this.opts.db, (obj, error) => {
      this.invalidNames.add(obj.name);
      // Objects with another extension are not snapshots (other tools' files, or object kinds of newer
      // versions): ignored quietly, as Go does. A malformed snapshot or delta name is worth a warning.
      if (obj.name.endsWith(SNAPSHOT_EXTENSION) || obj.name.endsWith(DELTA_EXTENSION)) {
        this.opts.log.warn('skipping object with an invalid snapshot name', { object: obj.name, reason: error });
      } else {
        this.opts.log.debug('ignoring an object that is not a snapshot', { object: obj.name });
      }
    });
    const latest = new Map<string, RemoteSnapshot>();
    for (const [instance, list] of byInstance) latest.set(instance, list.at(-1)!);
    this.objectsByInstance = byInstance;
    this.latestByInstance = latest;
    this.listedOnce = true;
    if (start) this.startDownloads(signal);
  }

  /** Starts a download for every instance whose newest snapshot was not fetched yet (and may be now). */
  startDownloads(signal: AbortSignal): void {
    const own = this.opts.ownInstance;
    for (const instance of this.latestByInstance.keys()) {
      if (instance === own ? !this.wantOwn : this.ownFirst) continue;
      const end = this.plan(instance).at(-1);
      if (!end || this.lastNotified.get(instance) === end.name) continue;
      if ((this.retryAt.get(instance) ?? 0) > this.clock.now()) continue;
      this.lastNotified.set(instance, end.name);
      this.startDownload(instance, signal);
    }
  }

  /** Takes the next downloaded update to merge, if any (only `onlyInstance`'s when given). */
  next(onlyInstance?: string): ReadyUpdate | undefined {
    if (onlyInstance !== undefined) {
      const update = this.ready.get(onlyInstance);
      this.ready.delete(onlyInstance);
      return update;
    }
    for (const [instance, update] of this.ready) {
      this.ready.delete(instance);
      return update;
    }
    return undefined;
  }

  /** Whether something of this instance is planned, downloading or waiting to be merged. */
  hasWork(instance: string): boolean {
    return this.downloading.has(instance) || this.ready.has(instance) || this.plan(instance).length > 0;
  }

  get pendingDownloads(): number {
    return this.downloading.size;
  }

  /** A snapshot that failed to decode: never tried again; the instance's previous one may be used instead. */
  markCorrupt(name: string): void {
    this.corruptNames.add(name);
    for (const list of this.objectsByInstance.values()) {
      const i = list.findIndex((o) => o.name === name);
      if (i >= 0) list.splice(i, 1);
    }
  }

  /** The engine merged this object: the instance's next deltas follow it. */
  mergedSnapshot(snap: RemoteSnapshot): void {
    const prev = this.merged.get(snap.instance);
    if (!prev || prev.timestampNano < snap.timestampNano) this.merged.set(snap.instance, snap);
  }

  /**
   * The objects that bring `instance` up to date, in merge order (see planChain), from what was merged last.
   */
  plan(instance: string): RemoteSnapshot[] {
    return planChain(this.objectsByInstance.get(instance) ?? [], this.merged.get(instance));
  }

  /** Lets a snapshot that failed to merge for a local reason (e.g. LMDB full) be fetched again after delayMs. */
  retryLater(instance: string, delayMs: number): void {
    this.lastNotified.delete(instance);
    this.retryAt.set(instance, this.clock.now() + delayMs);
  }

  private startDownload(instance: string, signal: AbortSignal): void {
    if (this.downloading.has(instance)) return; // the loop below fetches the newest when done
    this.downloading.add(instance);
    void this.downloadLoop(instance, signal).finally(() => this.downloading.delete(instance));
  }

  private async downloadLoop(instance: string, signal: AbortSignal): Promise<void> {
    for (;;) {
      const plan = this.plan(instance);
      const end = plan.at(-1);
      if (!end || signal.aborted) return;
      const queued = this.ready.get(instance);
      if (queued && queued.snapshot.timestampNano >= end.timestampNano) return;
      let release: (() => void) | undefined;
      let current = end;
      try {
        release = await this.opts.downloads.acquire(signal);
        const started = this.clock.now();
        const reusable = new Map((this.ready.get(instance)?.parts ?? []).map((p) => [p.snapshot.name, p]));
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
        if (!this.opts.storage.local) {
          this.opts.log.debug('snapshot downloaded', {
            snapshot: end.name, parts: parts.length, bytes: sumSizes(plan), ms: this.clock.now() - started,
          });
        }
        const old = this.ready.get(instance);
        old?.release();
        this.ready.set(instance, { snapshot: end, parts, bytes: sumSizes(plan), release });
        release = undefined;
        this.opts.onReady();
      } catch (err) {
        release?.();
        if (isAborted(signal)) return;
        if (err instanceof NotFoundError) {
          this.opts.log.info('snapshot disappeared before download', { snapshot: current.name });
          this.listing.forget(current.name);
        } else {
          this.opts.log.error('snapshot download failed', { snapshot: current.name, error: errorMessage(err) });
          if (err instanceof RetriesExhaustedError) this.opts.onDownloadGaveUp?.(err);
        }
        this.lastNotified.delete(instance); // try again at the next listing
        return;
      }
      if (this.plan(instance).at(-1)?.name === end.name) return;
    }
  }

}

/**
 * Makes one object ready to merge: on a local storage it is opened when merged; otherwise downloaded now,
 * with retries. onBytes sees the compressed bytes as they arrive (a progress display).
 */
export async function fetchPart(
  from: Pick<ReceiverOptions, 'storage' | 'retry' | 'log'>, snap: RemoteSnapshot, signal: AbortSignal, onBytes?: (n: number) => void,
): Promise<UpdatePart> {
  const { storage } = from;
  if (storage.local) {
    const open = async (): Promise<Readable> => {
      const stream = await storage.loadStream(snap.name, signal);
      return onBytes ? pipeline(stream, byteCounter(onBytes), () => {}) : stream;
    };
    return { snapshot: snap, open };
  }
  const chunks = await withRetry(`load ${snap.name}`, from.retry, from.log, signal, () => downloadChunks(storage, snap, signal, onBytes));
  return { snapshot: snap, open: () => Promise.resolve(Readable.from(chunks)) };
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

function sumSizes(snaps: RemoteSnapshot[]): number {
  return snaps.reduce((n, s) => n + s.size, 0);
}

function byteCounter(onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
}

/** The object's bytes as chunks; a body shorter or longer than the listed size is an error (retried). */
async function downloadChunks(storage: Storage, snap: RemoteSnapshot, signal: AbortSignal, onBytes?: (n: number) => void): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of await storage.loadStream(snap.name, signal)) {
    chunks.push(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    onBytes?.((chunk as Buffer).length);
  }
  if (bytes !== snap.size) throw new IncompleteDownloadError(snap.name, bytes, snap.size);
  return chunks;
}
