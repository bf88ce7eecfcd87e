/**
 * The snapshot cleaner (`storage.cleanup`): keeps the bucket from growing forever. Per LMDB, every
 * `interval` (randomly 80-120% of it, so instances started together do not clean in lockstep) it lists
 * the snapshots of every instance and deletes:
 *
 * - snapshots that are not the newest of their instance, once they have been visible to this process
 *   for longer than `must_keep_interval` (a slow instance may still be downloading them). "Visible" is
 *   the time this process first saw the name in a listing, not the object's date: with multi-site
 *   replication a snapshot can appear long after it was written. A snapshot that appeared in this very
 *   listing does not yet make the older ones deletable: the previous newest stays one more interval.
 * - the newest snapshot of an instance that has written nothing for `remove_old_instances_interval`
 *   (judged by the timestamp in its name), but only once merging it is proven: this process loaded
 *   that snapshot (or a newer one of that instance) and then stored a snapshot of its own that
 *   includes the load. Our own instance's snapshots are never removed this way.
 *
 * - deltas (README, "Delta snapshots") older than their instance's newest long-visible full snapshot
 *   (whether that one is kept or goes for a newer one): nobody needs them any more (a receiver that merged
 *   only part of that chain falls back to a full one). The newest full snapshot and the deltas after it are
 *   kept. A stale instance's deltas go with its newest full snapshot, each once merging it is proven.
 *
 * - never a snapshot kept by a retention tier (`keep_hourly`, `keep_daily`, see retention-tiers.ts): the
 *   newest full snapshot of an hour or day within the tier's window, whatever the rules above say.
 *
 * Several instances may clean the same bucket at once: every decision only ever deletes a snapshot for
 * which a newer one of the same instance was listed (or whose data is proven to be in a newer snapshot
 * of ours), and deleting an object that another cleaner already deleted succeeds.
 *
 * Behaviour follows the Go implementation (syncer/cleaner/cleaner.go) with one deliberate difference:
 * Go lets any recently seen snapshot of an instance protect nothing but make every older-seen one
 * deletable, even when the recently seen one is *older* by name (out-of-order replication); here only
 * a newer snapshot of the same instance can make a snapshot deletable, so an instance's newest snapshot
 * is never removed by the "not the newest" rule.
 */
import type { CleanupConfig } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { SnapshotStore, type DbObjects } from '../storage/snapshot-store.js';
import { tierKeptNames } from './retention-tiers.js';
import type { Storage } from '../storage/storage.js';
import { isAborted } from '../util/abort.js';
import { sleep } from '../util/clock.js';
import { errorMessage } from '../util/errors.js';

/** The LMDBs of a running sync whose snapshots the cleaner looks after. */
export interface CleanerRun {
  instance: string;
  storage: Storage;
  cleanup: CleanupConfig;
  lmdbs: Array<{ name: string; status: CleanerStatusSource }>;
}

/** What the cleaner reads from a syncer's status (SyncStatus has these). */
export interface CleanerStatusSource {
  /** Our newest stored snapshot; txnId is the LMDB txn it was read at. */
  readonly lastStored: { readonly txnId: number } | undefined;
  /** Per instance, the last snapshot loaded; txnId is the LMDB txn the load left the LMDB at. */
  readonly lastLoadedByInstance: ReadonlyMap<string, { readonly name: string; readonly timestampNano: bigint; readonly txnId: number }>;
}

export interface CleanerTarget {
  /** The LMDB name (the `<db>` part of snapshot names). */
  db: string;
  ownInstance: string;
  storage: Storage;
  status: CleanerStatusSource;
}

/** Why a snapshot was deleted: the label values of Go's lightningstream_cleaner_delete_total. */
export type DeleteReason = 'newer snapshot' | 'stale instance';

export interface CleanerDbCounters {
  /** lightningstream_cleaner_delete_total{lmdb, reason}: delete calls made. */
  deleteCalls: Record<DeleteReason, number>;
}

/**
 * Plain counters for the /metrics module, named after Go's (syncer/cleaner/metrics.go). They only grow,
 * over every cleaner of the process, like Go's global Prometheus counters.
 */
export const cleanerMetrics = {
  /** lightningstream_cleaner_list_calls_total */
  listCalls: 0,
  /** lightningstream_cleaner_list_failed_total */
  listFailed: 0,
  /** lightningstream_cleaner_delete_failed_total */
  deleteFailed: 0,
  /** Per LMDB name. */
  byDb: new Map<string, CleanerDbCounters>(),
};

function dbCounters(db: string): CleanerDbCounters {
  let c = cleanerMetrics.byDb.get(db);
  if (!c) {
    c = { deleteCalls: { 'newer snapshot': 0, 'stale instance': 0 } };
    cleanerMetrics.byDb.set(db, c);
  }
  return c;
}

export interface CleanRunResult {
  /** Snapshots of this LMDB in the listing. */
  total: number;
  /** Deleted because a newer snapshot of the same instance exists. */
  cleanedOlder: string[];
  /** Newest snapshots of stale instances deleted after their merge was proven. */
  cleanedStale: string[];
  /** Stale instances' newest snapshots kept because the merge is not proven yet. */
  keptUnproven: string[];
  /** Snapshots another rule would have deleted, kept by a retention tier. */
  keptByTier: string[];
  failed: number;
}

interface Candidate {
  name: string;
  instance: string;
  timestamp: bigint;
  /**
   * A full snapshot, a delta, or a journal reference to the snapshot of the same timestamp; `dangling`: a reference
   * whose snapshot is not listed (deleted by another cleaner, or not visible yet).
   */
  kind: 'full' | 'delta' | 'ref' | 'dangling';
}

const NS_PER_MS = 1_000_000n;

/** The cleaner of one LMDB. Holds what it learnt across runs (first-seen times, proven merges). */
export class SnapshotCleaner {
  private readonly firstSeen = new Map<string, number>();
  private readonly ignored = new Set<string>();
  /** Per instance: the newest snapshot timestamp whose merge is included in a snapshot we stored. */
  private readonly committed = new Map<string, bigint>();
  private readonly counters: CleanerDbCounters;

  constructor(private readonly target: CleanerTarget, private readonly conf: CleanupConfig, private readonly log: Logger) {
    this.counters = dbCounters(target.db);
  }

  /** The newest timestamp (ns) of `instance` whose merge is proven, if any (for tests and the status page). */
  committedFor(instance: string): bigint | undefined {
    return this.committed.get(instance);
  }

  /**
   * Records which loaded snapshots are included in our last stored snapshot: a load that left the LMDB
   * at txn T is in every snapshot read at txn >= T (when the load changed nothing, T is the txn the
   * LMDB was already at, whose state held everything the loaded snapshot could bring).
   * Called at every run; Go records the same after each of its own stores (SetCommitted).
   */
  noteCommitted(): void {
    const { lastStored, lastLoadedByInstance } = this.target.status;
    if (!lastStored) return;
    for (const [instance, loaded] of lastLoadedByInstance) {
      if (loaded.txnId > lastStored.txnId) continue;
      const prev = this.committed.get(instance);
      if (prev === undefined || loaded.timestampNano > prev) this.committed.set(instance, loaded.timestampNano);
    }
  }

  /** One cleaning pass at time `nowMs` (ms since the epoch; injectable for tests). */
  async runOnce(nowMs = Date.now(), signal?: AbortSignal): Promise<CleanRunResult> {
    const { db, ownInstance, storage } = this.target;
    this.noteCommitted();
    cleanerMetrics.listCalls++;
    let objects: DbObjects;
    try {
      objects = await new SnapshotStore(storage).listAll(db, signal);
    } catch (err) {
      cleanerMetrics.listFailed++;
      throw err;
    }
    const byInstance = new Map<string, Candidate[]>();
    const listed = new Set<string>();
    const dangling: Candidate[] = [];
    for (const r of objects.rejected) {
      if (this.ignored.has(r.info.name)) continue;
      this.log.debug('skipping invalid snapshot name', { filename: r.info.name, reason: r.reason });
      this.ignored.add(r.info.name);
    }
    for (const c of candidatesOf(objects)) {
      listed.add(c.name);
      if (c.kind === 'dangling') {
        dangling.push(c);
        continue;
      }
      const list = byInstance.get(c.instance);
      if (list) list.push(c);
      else byInstance.set(c.instance, [c]);
    }
    for (const name of this.firstSeen.keys()) if (!listed.has(name)) this.firstSeen.delete(name);

    const older: Candidate[] = [];
    const tooOld: Candidate[] = [];
    const tierKept = new Set<string>();
    const removeOldNs = BigInt(Math.round(this.conf.removeOldInstancesInterval)) * NS_PER_MS;
    const nowNs = BigInt(Math.round(nowMs)) * NS_PER_MS;
    for (const [instance, all] of byInstance) {
      const byAge = (a: Candidate, b: Candidate) => (a.timestamp !== b.timestamp ? (a.timestamp > b.timestamp ? -1 : 1) : a.name > b.name ? -1 : 1);
      all.sort(byAge);
      const list = all.filter((c) => c.kind === 'full');
      for (const name of tierKeptNames(list, nowMs, this.conf)) tierKept.add(name);
      // True once a newer snapshot of this instance that was already visible before this run is kept.
      let newerKept = false;
      // The newest long-visible full snapshot kept as the instance's newest (a stale instance's goes with it).
      let anchor: Candidate | undefined;
      // The newest long-visible full snapshot, kept or not: the deltas before it lead nowhere a receiver needs.
      // (Not only the kept one: an instance that stores full snapshots more often than must_keep_interval always
      // has a recent one, so its long-visible ones all go, and its journal would never be cleaned.)
      let journalAnchor: Candidate | undefined;
      for (const c of list) {
        const seen = this.firstSeen.get(c.name);
        if (seen === undefined) {
          this.firstSeen.set(c.name, nowMs); // new: kept, and older ones stay one more interval
          continue;
        }
        if (nowMs - seen <= this.conf.mustKeepInterval) {
          newerKept = true; // recent: kept, older ones may go
          continue;
        }
        journalAnchor ??= c;
        if (newerKept) {
          older.push(c);
          continue;
        }
        newerKept = true; // the newest long-visible snapshot of the instance: kept
        anchor = c;
      }
      // Deltas and references older than the newest long-visible full snapshot lead nowhere a receiver needs.
      const journalAfter: Candidate[] = [];
      for (const d of all) {
        if (d.kind === 'full') continue;
        if (journalAnchor && d.timestamp < journalAnchor.timestamp) older.push(d);
        else journalAfter.push(d);
      }
      // A stale instance (nothing new for remove_old_instances_interval): its newest full snapshot and what follows it.
      const newest = all[0];
      if (anchor && newest && instance !== ownInstance && nowNs - newest.timestamp > removeOldNs) {
        tooOld.push(anchor, ...journalAfter.filter((d) => d.timestamp >= anchor.timestamp));
      }
    }

    // A reference that has pointed at nothing for must_keep_interval (its snapshot was not just being written) leads nowhere.
    for (const c of dangling) {
      const seen = this.firstSeen.get(c.name);
      if (seen === undefined) this.firstSeen.set(c.name, nowMs);
      else if (nowMs - seen > this.conf.mustKeepInterval) older.push(c);
    }

    const result: CleanRunResult = { total: listed.size, cleanedOlder: [], cleanedStale: [], keptUnproven: [], keptByTier: [], failed: 0 };
    const notTierKept = (c: Candidate): boolean => {
      if (!tierKept.has(c.name)) return true;
      result.keptByTier.push(c.name);
      return false;
    };
    for (const c of older.filter(notTierKept)) {
      this.log.debug('Cleaning old snapshot', { snapshot: c.name });
      if (await this.delete(c, 'newer snapshot', result, signal)) result.cleanedOlder.push(c.name);
    }
    for (const c of tooOld.filter(notTierKept)) {
      const committed = this.committed.get(c.instance);
      if (committed === undefined || c.timestamp > committed) {
        this.log.debug('Not cleaning stale snapshot, merge not proven yet', { snapshot: c.name });
        result.keptUnproven.push(c.name);
        continue;
      }
      if (await this.delete(c, 'stale instance', result, signal)) {
        result.cleanedStale.push(c.name);
        this.log.info('Cleaning stale instance snapshot, merge proven', { snapshot: c.name, instance: c.instance });
      }
    }
    this.log.debug('Cleaning stats', {
      cleaned: result.cleanedOlder.length + result.cleanedStale.length, failed: result.failed, total: result.total,
    });
    return result;
  }

  private async delete(c: Candidate, reason: DeleteReason, result: CleanRunResult, signal?: AbortSignal): Promise<boolean> {
    this.counters.deleteCalls[reason]++;
    try {
      await this.target.storage.delete(c.name, signal);
      this.firstSeen.delete(c.name);
      return true;
    } catch (err) {
      if (signal?.aborted) throw err;
      cleanerMetrics.deleteFailed++;
      result.failed++;
      this.log.warn('Could not delete old snapshot', { snapshot: c.name, error: errorMessage(err) });
      return false;
    }
  }
}

/** What the cleaner makes of a listed name: a candidate, undefined (another LMDB's), or why it is not a snapshot object. */
/** Every object of the LMDB the cleaner may delete: snapshots and deltas by their own time, references by their target's. */
function candidatesOf(objects: DbObjects): Candidate[] {
  const out: Candidate[] = objects.entries.map((e) => ({ name: e.name, instance: e.instance, timestamp: e.timestampNano, kind: e.kind }));
  const listed = new Set(out.map((c) => c.name));
  for (const item of objects.journal) if (item.refName === undefined) listed.add(item.snapshot.name);
  for (const item of objects.journal) {
    const { snapshot: s } = item;
    if (item.refName === undefined) out.push({ name: s.name, instance: s.instance, timestamp: s.timestampNano, kind: 'delta' });
    else out.push({ name: item.refName, instance: s.instance, timestamp: s.timestampNano, kind: listed.has(s.name) ? 'ref' : 'dangling' });
  }
  return out;
}

/** Floor of the interval between runs: `interval: 0` must not turn into a busy loop of LIST calls. */
const MIN_INTERVAL_MS = 100;

/** Go's SleepContextPerturb: a random duration between 80% and 120% of ms. */
export function perturbedInterval(ms: number, random: () => number = Math.random): number {
  return ms * (0.8 + 0.4 * random());
}

export interface CleanerHandle {
  /** One cleaner per LMDB of the run, by LMDB name. */
  readonly cleaners: ReadonlyMap<string, SnapshotCleaner>;
  /** Stops every loop and waits until they ended (an ongoing delete call is aborted). Needs no `this`. */
  readonly stop: () => Promise<void>;
}

/**
 * Starts the cleaner of every LMDB of a running sync (call it when `storage.cleanup.enabled`). Each
 * runs at once (as in Go; a first run only records what it sees, so it deletes nothing), then every
 * perturbed `interval` (at least 100 ms), until `signal` aborts or stop() is called. A failed run is
 * logged and retried at the next interval.
 */
export function startCleaner(run: CleanerRun, log: Logger, signal: AbortSignal): CleanerHandle {
  const conf = run.cleanup;
  const local = new AbortController();
  const inner = AbortSignal.any([signal, local.signal]);
  const cleaners = new Map<string, SnapshotCleaner>();
  const loops: Promise<void>[] = [];
  for (const l of run.lmdbs) {
    const clog = log.with({ db: l.name, component: 'cleaner' });
    const cleaner = new SnapshotCleaner(
      { db: l.name, ownInstance: run.instance, storage: run.storage, status: l.status }, conf, clog,
    );
    cleaners.set(l.name, cleaner);
    loops.push((async () => {
      while (!inner.aborted) {
        try {
          await cleaner.runOnce(Date.now(), inner);
        } catch (err) {
          if (isAborted(inner)) break;
          clog.warn('Clean run failed', { error: errorMessage(err) });
        }
        try {
          await sleep(perturbedInterval(Math.max(conf.interval, MIN_INTERVAL_MS)), inner);
        } catch {
          break;
        }
      }
      clog.debug('Cleaner exited');
    })());
  }
  return {
    cleaners,
    async stop() {
      local.abort(new Error('cleaner stopped'));
      await Promise.all(loops);
    },
  };
}
