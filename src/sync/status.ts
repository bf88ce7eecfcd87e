import { ContentAgreement } from './content/agreement.js';
import type { LoadResult } from './merge/loader.js';
import type { RemoteSnapshot } from './receive/chain-plan.js';
import { errorMessage } from '../util/errors.js';
import type { StoredSnapshot } from './send/sender.js';
import type { ReturnGuardView } from './guard/return-guard.js';

export interface RecentError {
  at: Date;
  what: string;
  message: string;
}

export interface LoadedSnapshotInfo extends LoadResult {
  name: string;
  instance: string;
  /** The timestamp in the snapshot's name. */
  timestampNano: bigint;
  at: Date;
}

/** What the status may read of the receiver: the newest object per instance, as of the last listing. */
export interface PeersView {
  readonly newest: ReadonlyMap<string, RemoteSnapshot>;
}

/** What one LMDB's syncer has done, for logs, metrics, health checks and the status page. */
export class SyncStatus {
  ready = false;
  peers: PeersView | undefined;
  /** Present peers that take only full snapshots (while this instance writes deltas): they get full snapshots beside the deltas. */
  fullOnlyPeers: string[] = [];
  /** The return guard's state (README "Coming back after a long absence"). */
  returnGuard: { view(): ReturnGuardView } | undefined;
  lastStored: (StoredSnapshot & { at: Date }) | undefined;
  lastLoaded: LoadedSnapshotInfo | undefined;
  lastLoadedByInstance = new Map<string, LoadedSnapshotInfo>();
  storedCount = 0;
  loadedCount = 0;
  loadFailures = 0;
  storeFailures = 0;
  listFailures = 0;
  lastListOkAt: Date | undefined;
  readonly recentErrors: RecentError[] = [];
  /** (time, seconds between a remote snapshot's timestamp and its load here), for the lag chart. */
  readonly lagSamples: Array<{ at: number; lagSeconds: number; instance: string }> = [];

  /** Content hashes: ours and every instance's, and whether they agree. */
  readonly content: ContentAgreement;

  constructor(readonly dbName: string, readonly instance: string) {
    this.content = new ContentAgreement(instance);
  }

  stored(s: StoredSnapshot): void {
    this.lastStored = { ...s, at: new Date() };
    this.storedCount++;
  }

  storeFailed(err: unknown): void {
    this.storeFailures++;
    this.error('store', err);
  }

  loaded(snap: RemoteSnapshot, r: LoadResult): void {
    const info = { ...r, name: snap.name, instance: snap.instance, timestampNano: snap.timestampNano, at: new Date() };
    this.lastLoaded = info;
    this.lastLoadedByInstance.set(snap.instance, info);
    this.loadedCount++;
    const lag = (Date.now() - Number(snap.timestampNano / 1_000_000n)) / 1000;
    this.lagSamples.push({ at: Date.now(), lagSeconds: lag, instance: snap.instance });
    const hourAgo = Date.now() - 3600_000;
    while (this.lagSamples.length > 0 && this.lagSamples[0]!.at < hourAgo) this.lagSamples.shift();
  }

  loadFailed(snap: RemoteSnapshot, err: unknown): void {
    this.loadFailures++;
    this.error(`load ${snap.name}`, err);
  }

  listedOk(): void {
    this.lastListOkAt = new Date();
  }

  listFailed(err: unknown): void {
    this.listFailures++;
    this.error('list', err);
  }

  private error(what: string, err: unknown): void {
    this.recentErrors.push({ at: new Date(), what, message: errorMessage(err) });
    if (this.recentErrors.length > 20) this.recentErrors.shift();
  }
}
