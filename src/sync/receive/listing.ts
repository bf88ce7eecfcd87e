/**
 * What a receiver knows of the snapshot objects of one LMDB, kept up to date with as few LIST bytes as it
 * can (README, "Delta snapshots", "Listing").
 *
 * Full snapshots are listed under `<db>__` (where Go writes and reads them); deltas and the references that
 * announce full snapshots live in the time-ordered journal `_journal__<db>__`. While every peer announces
 * its full snapshots there, a poll lists only the journal entries newer than the ones seen (S3 StartAfter:
 * an answer of a few hundred bytes per change, whatever the fleet's size), and the full snapshots only every
 * `fullListIntervalMs`. A peer whose newest full snapshot has no reference (Go, or deltas off) makes every
 * poll list the full snapshots, as without deltas. A delta whose predecessor is unknown (an entry that
 * became visible after a newer one was listed) or an object that turned out absent makes the next poll
 * list everything again.
 */
import type { JournalItem, RejectedObject, SnapshotEntry, SnapshotStore } from '../../storage/snapshot-store.js';
import type { Clock } from '../../util/clock.js';

/**
 * A journal listing starts this long before the previous listing started (unless everything up to there
 * was already newer than the newest entry seen): an entry stamped just before a listing may become visible
 * just after it, as a delta's upload takes some milliseconds.
 */
export const JOURNAL_LIST_LAG_MS = 250;

export interface DbListingOptions {
  store: SnapshotStore;
  db: string;
  ownInstance: string;
  /** This instance writes deltas: the journal is listed at every poll even while no peer writes to it. */
  ownJournals: boolean;
  /** The full snapshots are listed at least this often (ms) while every peer announces them in the journal. */
  fullListIntervalMs: number;
  clock: Clock;
}

export interface ListingCounts {
  /** Listings of `<db>__`. */
  fulls: number;
  /** Listings of the whole journal. */
  journalAll: number;
  /** Listings of the journal after the entries seen. */
  journalAfter: number;
  /** Listings of everything forced by an unknown predecessor or an absent object. */
  resyncs: number;
}

/** What a poll knows: every snapshot object (full snapshots and deltas), and the `<db>__` objects whose names did not parse. */
export interface ListingResult {
  snapshots: SnapshotEntry[];
  rejected: RejectedObject[];
}

type NewestFulls = Map<string, { timestampNano: bigint; name: string }>;

const NS_PER_MS = 1_000_000n;

/** Absent objects remembered at most (the oldest are forgotten first). */
const MAX_GONE = 10_000;

export class DbListing {
  private fulls: SnapshotEntry[] = [];
  private rejected: RejectedObject[] = [];
  /** By the name of the snapshot an entry stands for (a delta announced again is the same entry as the delta). */
  private readonly journal = new Map<string, JournalItem>();
  private listed = false;
  private resyncWanted = false;
  private legacyPeers = true;
  private unannounced = new Map<string, bigint>();
  private lastFullsAt = -Infinity;
  private lastJournalAllAt = -Infinity;
  private previousListAt: number | undefined;
  private newestJournalNano = -1n;
  private readonly checkedGaps = new Set<string>();
  /**
   * Objects that turned out absent: a journal reference to one of them is not followed again (a cleaner may
   * delete an instance's newest full snapshot and leave its reference), until the object is listed itself.
   */
  private readonly gone = new Set<string>();
  readonly counts: ListingCounts = { fulls: 0, journalAll: 0, journalAfter: 0, resyncs: 0 };

  constructor(private readonly opts: DbListingOptions) {}

  /** Whether the last poll could skip the full snapshots' listing (every peer announces in the journal). */
  get journalOnly(): boolean {
    return !this.legacyPeers;
  }

  /**
   * Peers whose newest full snapshot is not announced in the journal (Go, ours with deltas off or of an older
   * version: they do not take deltas), with that snapshot's timestamp, as of the last poll.
   */
  get peersWithoutJournal(): ReadonlyMap<string, bigint> {
    return this.unannounced;
  }

  /** Lists what is due and returns every known snapshot object. */
  async refresh(signal?: AbortSignal): Promise<ListingResult> {
    const { store, db, clock, fullListIntervalMs } = this.opts;
    const startedAt = clock.now();
    const resync = !this.listed || this.resyncWanted;
    const fullsDue = resync || this.legacyPeers || startedAt - this.lastFullsAt >= fullListIntervalMs;
    const journalAll = resync || (!this.journalActive && startedAt - this.lastJournalAllAt >= fullListIntervalMs);
    const journalAfter = !journalAll && this.journalActive;
    const [fulls, journal] = await Promise.all([
      fullsDue ? store.listFulls(db, signal) : undefined,
      journalAll || journalAfter ? store.listJournal(db, journalAll ? undefined : this.listFromNano(), signal) : undefined,
    ]);
    if (fulls) {
      this.fulls = fulls.entries;
      for (const e of fulls.entries) this.gone.delete(e.name);
      this.rejected = fulls.rejected;
      this.lastFullsAt = startedAt;
      this.counts.fulls++;
    }
    if (journalAll) {
      this.journal.clear();
      this.lastJournalAllAt = startedAt;
      this.counts.journalAll++;
    } else if (journalAfter) {
      this.counts.journalAfter++;
    }
    for (const item of journal ?? []) this.addJournalItem(item);
    if (resync && this.listed) this.counts.resyncs++;
    this.listed = true;
    this.resyncWanted = false;
    this.previousListAt = startedAt;
    const newest = this.newestFulls(); // pruning below keeps every instance's newest full snapshot and its reference
    this.prune(newest);
    // Journal-only polls need an active journal: without one, nothing would announce a new peer's snapshots.
    this.unannounced = this.unannouncedPeers(newest);
    this.legacyPeers = !this.journalActive || this.unannounced.size > 0;
    if (this.newGap(newest) && !resync) {
      this.resyncWanted = true;
      return this.refresh(signal);
    }
    return { snapshots: this.snapshots(), rejected: this.rejected };
  }

  /** An object that turned out absent (deleted by a cleaner since it was listed): forgotten; the next poll lists everything. */
  forget(name: string): void {
    this.fulls = this.fulls.filter((e) => e.name !== name);
    this.journal.delete(name);
    this.gone.add(name);
    if (this.gone.size > MAX_GONE) this.gone.delete(this.gone.values().next().value!);
    this.resyncWanted = true;
  }

  /** Every known snapshot object: the listed full snapshots (and deltas of earlier versions), the journal's deltas, the referenced full snapshots. */
  snapshots(): SnapshotEntry[] {
    const byName = new Map<string, SnapshotEntry>();
    for (const e of this.fulls) byName.set(e.name, e);
    for (const item of this.journal.values()) if (!byName.has(item.snapshot.name)) byName.set(item.snapshot.name, item.snapshot);
    return [...byName.values()];
  }

  /**
   * Where the next journal listing starts: after the newest entry seen, or earlier, JOURNAL_LIST_LAG_MS before
   * the previous listing started, when that is older (see JOURNAL_LIST_LAG_MS).
   */
  private listFromNano(): bigint {
    let from = this.newestJournalNano + 1n;
    if (this.previousListAt !== undefined) {
      const lagged = BigInt(Math.floor(this.previousListAt - JOURNAL_LIST_LAG_MS)) * NS_PER_MS;
      if (lagged < from) from = lagged;
    }
    return from;
  }

  private addJournalItem(item: JournalItem): void {
    const key = item.snapshot.name;
    if (item.refName === undefined) this.gone.delete(key);
    else if (this.gone.has(key)) return;
    // A late delta announced again: known as the delta itself (the same entry as when it is listed).
    if (item.kind === 'delta' && item.refName !== undefined && this.journal.has(key)) return;
    this.journal.set(key, item);
    if (item.journalNano > this.newestJournalNano) this.newestJournalNano = item.journalNano;
  }

  /** Something writes the journal (we, or a peer whose entries we know). */
  private get journalActive(): boolean {
    return this.opts.ownJournals || this.journal.size > 0;
  }

  /** The newest full snapshot's timestamp per instance, listed or referenced. */
  private newestFulls(): NewestFulls {
    const newest: NewestFulls = new Map();
    const offer = (instance: string, timestampNano: bigint, name: string) => {
      const cur = newest.get(instance);
      if (!cur || cur.timestampNano < timestampNano || (cur.timestampNano === timestampNano && cur.name < name)) newest.set(instance, { timestampNano, name });
    };
    for (const e of this.fulls) if (e.kind === 'full') offer(e.instance, e.timestampNano, e.name);
    for (const item of this.journal.values()) if (item.kind === 'full-ref') offer(item.snapshot.instance, item.snapshot.timestampNano, item.snapshot.name);
    return newest;
  }

  /** Journal entries older than their instance's newest full snapshot lead nowhere a receiver goes (they are the cleaner's). */
  private prune(newest: NewestFulls): void {
    for (const [key, { snapshot: e }] of this.journal) {
      const full = newest.get(e.instance);
      if (full && e.timestampNano < full.timestampNano) this.journal.delete(key);
    }
    for (const name of this.checkedGaps) if (!this.journal.has(name)) this.checkedGaps.delete(name);
  }

  /** Peers whose newest full snapshot is not announced in the journal: only full listings see their next ones. */
  private unannouncedPeers(newest: NewestFulls): Map<string, bigint> {
    const out = new Map<string, bigint>();
    for (const [instance, full] of newest) {
      if (instance !== this.opts.ownInstance && this.journal.get(full.name)?.kind !== 'full-ref') out.set(instance, full.timestampNano);
    }
    return out;
  }

  /** A delta (not looked at before) whose predecessor is neither known nor older than its instance's newest full snapshot. */
  private newGap(newest: NewestFulls): boolean {
    // Every known snapshot's timestamp per instance: listed objects, journal deltas, referenced full snapshots.
    const known = new Map<string, Set<bigint>>();
    const add = (instance: string, ts: bigint) => {
      let set = known.get(instance);
      if (!set) known.set(instance, (set = new Set()));
      set.add(ts);
    };
    for (const e of this.fulls) add(e.instance, e.timestampNano);
    for (const { snapshot: e } of this.journal.values()) add(e.instance, e.timestampNano);
    let gap = false;
    for (const { snapshot: e } of this.journal.values()) {
      if (e.previousNano === undefined || this.checkedGaps.has(e.name)) continue;
      this.checkedGaps.add(e.name);
      const fullNano = newest.get(e.instance)?.timestampNano;
      if (fullNano !== undefined && e.previousNano < fullNano) continue;
      if (!known.get(e.instance)?.has(e.previousNano)) gap = true;
    }
    return gap;
  }
}
