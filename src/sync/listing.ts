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
import {
  formatTimestamp, JOURNAL_PREFIX, journalPrefix, parseJournalRef, parseObjectName, snapshotPrefix, type JournalRef, type ObjectName,
} from '../snapshot/name.js';
import { listAfter } from '../storage/common.js';
import type { ObjectInfo, Storage } from '../storage/storage.js';
import type { Clock } from '../util/clock.js';

/**
 * A journal listing starts this long before the previous listing started (unless everything up to there
 * was already newer than the newest entry seen): an entry stamped just before a listing may become visible
 * just after it, as a delta's upload takes some milliseconds.
 */
export const JOURNAL_LIST_LAG_MS = 250;

export interface DbListingOptions {
  storage: Storage;
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

interface JournalEntry {
  info: ObjectInfo;
  instance: string;
  /** The snapshot's timestamp (a reference's: that of the full snapshot it stands for). */
  timestampNano: bigint;
  /** The timestamp in the entry's own name: what journal listings go by. */
  journalNano: bigint;
  /** Deltas: the timestamp of the object they follow. */
  previousNano?: bigint;
  /** A reference to a full snapshot (references to deltas are kept as the delta they stand for). */
  ref?: JournalRef;
}

/** An object of the `<db>__` listing, its name parsed once (undefined: not a snapshot of this LMDB). */
interface ListedObject {
  info: ObjectInfo;
  parsed: ObjectName | undefined;
}

type NewestFulls = Map<string, { timestampNano: bigint; name: string }>;

const NS_PER_MS = 1_000_000n;

export class DbListing {
  private readonly fullsPrefix: string;
  private readonly journalPrefix: string;
  private fulls: ListedObject[] = [];
  private readonly journal = new Map<string, JournalEntry>();
  private listed = false;
  private resyncWanted = false;
  private legacyPeers = true;
  private lastFullsAt = -Infinity;
  private lastJournalAllAt = -Infinity;
  private previousListAt: number | undefined;
  private newestJournalNano = -1n;
  private readonly checkedGaps = new Set<string>();
  readonly counts: ListingCounts = { fulls: 0, journalAll: 0, journalAfter: 0, resyncs: 0 };

  constructor(private readonly opts: DbListingOptions) {
    this.fullsPrefix = snapshotPrefix(opts.db);
    this.journalPrefix = journalPrefix(opts.db);
  }

  /** Whether the last poll could skip the full snapshots' listing (every peer announces in the journal). */
  get journalOnly(): boolean {
    return !this.legacyPeers;
  }

  /** Lists what is due and returns every known snapshot object (full snapshots and deltas), by name. */
  async refresh(signal?: AbortSignal): Promise<ObjectInfo[]> {
    const { storage, clock, fullListIntervalMs } = this.opts;
    const startedAt = clock.now();
    const resync = !this.listed || this.resyncWanted;
    const fullsDue = resync || this.legacyPeers || startedAt - this.lastFullsAt >= fullListIntervalMs;
    const journalAll = resync || (!this.journalActive && startedAt - this.lastJournalAllAt >= fullListIntervalMs);
    const journalAfter = !journalAll && this.journalActive;
    const startAfter = this.startAfter();
    const [fulls, journal] = await Promise.all([
      fullsDue ? storage.list(this.fullsPrefix, signal) : undefined,
      journalAll ? storage.list(this.journalPrefix, signal) : journalAfter ? listAfter(storage, this.journalPrefix, startAfter, signal) : undefined,
    ]);
    if (fulls) {
      this.fulls = fulls.map((info) => ({ info, parsed: this.parseListed(info.name) }));
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
    for (const info of journal ?? []) this.addJournalEntry(info);
    if (resync && this.listed) this.counts.resyncs++;
    this.listed = true;
    this.resyncWanted = false;
    this.previousListAt = startedAt;
    const newest = this.newestFulls(); // pruning below keeps every instance's newest full snapshot and its reference
    this.prune(newest);
    // Journal-only polls need an active journal: without one, nothing would announce a new peer's snapshots.
    this.legacyPeers = !this.journalActive || this.hasLegacyPeer(newest);
    if (this.newGap(newest) && !resync) {
      this.resyncWanted = true;
      return this.refresh(signal);
    }
    return this.snapshots();
  }

  /** An object that turned out absent (deleted by a cleaner since it was listed): forgotten; the next poll lists everything. */
  forget(name: string): void {
    this.fulls = this.fulls.filter((o) => o.info.name !== name);
    for (const [key, e] of this.journal) if (key === name || e.ref?.target.name === name) this.journal.delete(key);
    this.resyncWanted = true;
  }

  /** Every known snapshot object: the listed full snapshots (and deltas of earlier versions), the journal's deltas, the referenced full snapshots. */
  snapshots(): ObjectInfo[] {
    const byName = new Map<string, ObjectInfo>();
    for (const o of this.fulls) byName.set(o.info.name, o.info);
    for (const e of this.journal.values()) {
      if (!e.ref) byName.set(e.info.name, e.info);
      else if (!byName.has(e.ref.target.name)) byName.set(e.ref.target.name, { name: e.ref.target.name, size: e.ref.size, lastModified: e.info.lastModified });
    }
    return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * Where the next journal listing starts: after the newest entry seen, or earlier, JOURNAL_LIST_LAG_MS before
   * the previous listing started, when that is older (see JOURNAL_LIST_LAG_MS).
   */
  private startAfter(): string {
    let from = this.newestJournalNano + 1n;
    if (this.previousListAt !== undefined) {
      const lagged = BigInt(Math.floor(this.previousListAt - JOURNAL_LIST_LAG_MS)) * NS_PER_MS;
      if (lagged < from) from = lagged;
    }
    return this.journalPrefix + formatTimestamp(from < 0n ? 0n : from);
  }

  private addJournalEntry(info: ObjectInfo): void {
    let entry: JournalEntry | undefined;
    const delta = parseObjectName(info.name);
    if (delta.ok && delta.value.kind === 'delta' && delta.value.db === this.opts.db) {
      const ts = delta.value.timestamp;
      entry = { info, instance: delta.value.instance, timestampNano: ts, journalNano: ts, previousNano: delta.value.previous };
    } else {
      const ref = parseJournalRef(info.name);
      if (ref.ok && ref.value.target.db === this.opts.db) {
        const { target, timestamp, size } = ref.value;
        if (target.kind === 'delta') {
          // A late delta announced again: known as the delta itself (the same entry as when it is listed).
          if (this.journal.has(target.name)) return;
          const deltaInfo = { name: target.name, size, lastModified: info.lastModified };
          entry = { info: deltaInfo, instance: target.instance, timestampNano: target.timestamp, journalNano: timestamp, previousNano: target.previous };
        } else {
          entry = { info, instance: target.instance, timestampNano: target.timestamp, journalNano: timestamp, ref: ref.value };
        }
      }
    }
    if (!entry) return; // not ours to read (malformed, or a kind of a newer version)
    this.journal.set(entry.info.name, entry);
    if (entry.journalNano > this.newestJournalNano) this.newestJournalNano = entry.journalNano;
  }

  /** Something writes the journal (we, or a peer whose entries we know). */
  private get journalActive(): boolean {
    return this.opts.ownJournals || this.journal.size > 0;
  }

  private parseListed(name: string): ObjectName | undefined {
    const p = parseObjectName(name);
    return p.ok && p.value.db === this.opts.db ? p.value : undefined;
  }

  /** The newest full snapshot's timestamp per instance, listed or referenced. */
  private newestFulls(): NewestFulls {
    const newest: NewestFulls = new Map();
    const offer = (instance: string, timestampNano: bigint, name: string) => {
      const cur = newest.get(instance);
      if (!cur || cur.timestampNano < timestampNano || (cur.timestampNano === timestampNano && cur.name < name)) newest.set(instance, { timestampNano, name });
    };
    for (const { info, parsed } of this.fulls) if (parsed?.kind === 'full') offer(parsed.instance, parsed.timestamp, info.name);
    for (const e of this.journal.values()) if (e.ref) offer(e.instance, e.timestampNano, e.ref.target.name);
    return newest;
  }

  /** Journal entries older than their instance's newest full snapshot lead nowhere a receiver goes (they are the cleaner's). */
  private prune(newest: NewestFulls): void {
    for (const [key, e] of this.journal) {
      const full = newest.get(e.instance);
      if (full && e.timestampNano < full.timestampNano) this.journal.delete(key);
    }
    for (const name of this.checkedGaps) if (!this.journal.has(name)) this.checkedGaps.delete(name);
  }

  /** A peer whose newest full snapshot is not announced in the journal: only full listings see its next one. */
  private hasLegacyPeer(newest: NewestFulls): boolean {
    const referenced = new Set<string>();
    for (const e of this.journal.values()) if (e.ref) referenced.add(e.ref.target.name);
    for (const [instance, full] of newest) {
      if (instance !== this.opts.ownInstance && !referenced.has(full.name)) return true;
    }
    return false;
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
    for (const { parsed } of this.fulls) if (parsed) add(parsed.instance, parsed.timestamp);
    for (const e of this.journal.values()) add(e.instance, e.timestampNano);
    let gap = false;
    for (const e of this.journal.values()) {
      if (e.previousNano === undefined || this.checkedGaps.has(e.info.name)) continue;
      this.checkedGaps.add(e.info.name);
      const fullNano = newest.get(e.instance)?.timestampNano;
      if (fullNano !== undefined && e.previousNano < fullNano) continue;
      if (!known.get(e.instance)?.has(e.previousNano)) gap = true;
    }
    return gap;
  }
}

/** Every object of LMDB `db`: under `<db>__` (full snapshots, deltas of earlier versions) and in its journal. */
export async function listDbObjects(storage: Storage, db: string, signal?: AbortSignal): Promise<ObjectInfo[]> {
  const [fulls, journal] = await Promise.all([storage.list(snapshotPrefix(db), signal), storage.list(journalPrefix(db), signal)]);
  return [...fulls, ...journal];
}

/**
 * Every snapshot object of LMDB `db` in one go, for one-shot readers (verify, restore): listDbObjects without
 * the references (the full snapshots they stand for are listed themselves, and so are the deltas).
 */
export async function listSnapshotObjects(storage: Storage, db: string, signal?: AbortSignal): Promise<ObjectInfo[]> {
  return (await listDbObjects(storage, db, signal)).filter((o) => !o.name.startsWith(JOURNAL_PREFIX) || parseObjectName(o.name).ok);
}
