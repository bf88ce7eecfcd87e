/**
 * The snapshot objects of the storage as typed entries: every object name is parsed here, once, at the
 * storage boundary (README "Delta snapshots", "Format"), and the layers above (receiver, verify, restore,
 * cleaner) work with SnapshotEntry and JournalItem, never with raw names.
 */
import type { Readable } from 'node:stream';
import {
  DELTA_EXTENSION, journalPrefix, parseJournalRef, parseObjectName, SNAPSHOT_EXTENSION, snapshotPrefix, formatTimestamp,
  type JournalRef,
} from '../snapshot/name.js';
import { listAfter } from './common.js';
import type { ObjectInfo, Storage } from './storage.js';

/** One snapshot object of an LMDB: a full snapshot, or a delta following the object whose timestamp is previousNano. */
export interface SnapshotEntry {
  name: string;
  db: string;
  instance: string;
  generation: string;
  /** The name's timestamp as nanoseconds since the epoch. */
  timestampNano: bigint;
  size: number;
  lastModified: Date;
  kind: 'full' | 'delta';
  /** Deltas only. */
  previousNano?: bigint;
}

/**
 * An entry of the journal `_journal__<db>__`: a delta (listed itself, or announced again by a reference), or
 * the reference that announces a full snapshot. `journalNano` is the time in the journal entry's own name,
 * what journal listings go by.
 */
export type JournalItem =
  | { kind: 'delta'; snapshot: SnapshotEntry; journalNano: bigint; refName?: string }
  | { kind: 'full-ref'; snapshot: SnapshotEntry; journalNano: bigint; refName: string };

/** An object under a snapshot prefix whose name does not parse: `malformed` when it looks like one of ours. */
export interface RejectedObject {
  info: ObjectInfo;
  reason: string;
  malformed: boolean;
}

export interface FullsListing {
  entries: SnapshotEntry[];
  rejected: RejectedObject[];
}

/** Everything of one LMDB in one go (verify, restore, cleaner). */
export interface DbObjects extends FullsListing {
  journal: JournalItem[];
}

function entryOf(info: ObjectInfo, name: ReturnType<typeof parseObjectName> & { ok: true }): SnapshotEntry {
  const v = name.value;
  return {
    name: info.name, db: v.db, instance: v.instance, generation: v.generation, timestampNano: v.timestamp, size: info.size,
    lastModified: info.lastModified, kind: v.kind, ...(v.kind === 'delta' && { previousNano: v.previous }),
  };
}

/** A `<db>__` object, parsed: a snapshot entry of `db`, a rejected name, or undefined (another LMDB's). */
export function parseListedObject(info: ObjectInfo, db: string): SnapshotEntry | RejectedObject | undefined {
  const parsed = parseObjectName(info.name);
  if (!parsed.ok) {
    // Objects with another extension are not snapshots (other tools' files, object kinds of newer versions).
    const malformed = info.name.endsWith(SNAPSHOT_EXTENSION) || info.name.endsWith(DELTA_EXTENSION);
    return { info, reason: parsed.error, malformed };
  }
  return parsed.value.db === db ? entryOf(info, parsed) : undefined;
}

/** A journal object, parsed; undefined when it is not ours to read (malformed, another LMDB's, a newer kind). */
export function parseJournalObject(info: ObjectInfo, db: string): JournalItem | undefined {
  const delta = parseObjectName(info.name);
  if (delta.ok) {
    if (delta.value.kind !== 'delta' || delta.value.db !== db) return undefined;
    const snapshot = entryOf(info, delta);
    return { kind: 'delta', snapshot, journalNano: snapshot.timestampNano };
  }
  const ref = parseJournalRef(info.name);
  if (!ref.ok || ref.value.target.db !== db) return undefined;
  const snapshot = referencedEntry(info, ref.value);
  return snapshot.kind === 'delta'
    ? { kind: 'delta', snapshot, journalNano: ref.value.timestamp, refName: info.name }
    : { kind: 'full-ref', snapshot, journalNano: ref.value.timestamp, refName: info.name };
}

/** The snapshot a journal reference (the object `info`) stands for, with the size the reference names. */
function referencedEntry(info: ObjectInfo, ref: JournalRef): SnapshotEntry {
  return entryOf({ name: ref.target.name, size: ref.size, lastModified: info.lastModified }, { ok: true, value: ref.target });
}

/**
 * Any object of the storage, for display (the status page's /storage): a snapshot or delta of any LMDB, or a
 * journal reference (with the snapshot it stands for); undefined for anything else.
 */
export function describeObject(info: ObjectInfo): { kind: 'full' | 'delta' | 'reference'; entry: SnapshotEntry } | undefined {
  const parsed = parseObjectName(info.name);
  if (parsed.ok) {
    const entry = entryOf(info, parsed);
    return { kind: entry.kind, entry };
  }
  const ref = parseJournalRef(info.name);
  if (!ref.ok) return undefined;
  return { kind: 'reference', entry: referencedEntry(info, ref.value) };
}

/** Entries of one LMDB's `<db>__` listing. */
export function parseFullsListing(objects: readonly ObjectInfo[], db: string): FullsListing {
  const entries: SnapshotEntry[] = [];
  const rejected: RejectedObject[] = [];
  for (const info of objects) {
    const p = parseListedObject(info, db);
    if (!p) continue;
    if ('reason' in p) rejected.push(p);
    else entries.push(p);
  }
  return { entries, rejected };
}

/** The typed view of a Storage's snapshot objects. */
export class SnapshotStore {
  constructor(readonly storage: Storage) {}

  /** `<db>__`: full snapshots (and deltas of earlier versions). */
  async listFulls(db: string, signal?: AbortSignal): Promise<FullsListing> {
    return parseFullsListing(await this.storage.list(snapshotPrefix(db), signal), db);
  }

  /** The journal of `db`, whole, or only the entries whose own time is at or after `fromNano` (S3 StartAfter). */
  async listJournal(db: string, fromNano?: bigint, signal?: AbortSignal): Promise<JournalItem[]> {
    const prefix = journalPrefix(db);
    let objects: ObjectInfo[];
    if (fromNano === undefined) {
      objects = await this.storage.list(prefix, signal);
    } else {
      const startAfter = prefix + formatTimestamp(fromNano < 0n ? 0n : fromNano);
      objects = await listAfter(this.storage, prefix, startAfter, signal);
    }
    const items: JournalItem[] = [];
    for (const info of objects) {
      const item = parseJournalObject(info, db);
      if (item) items.push(item);
    }
    return items;
  }

  /** Both prefixes of `db`. */
  async listAll(db: string, signal?: AbortSignal): Promise<DbObjects> {
    const [fulls, journal] = await Promise.all([this.listFulls(db, signal), this.listJournal(db, undefined, signal)]);
    return { ...fulls, journal };
  }

  /**
   * Every snapshot object of `db` (full snapshots and deltas, each once; references resolved to what they
   * stand for only where that object itself was not listed), for one-shot readers (verify, restore).
   */
  async listSnapshots(db: string, signal?: AbortSignal): Promise<SnapshotEntry[]> {
    const { entries, journal } = await this.listAll(db, signal);
    const byName = new Map(entries.map((e) => [e.name, e]));
    for (const item of journal) if (item.kind === 'delta' && !item.refName) byName.set(item.snapshot.name, item.snapshot);
    return [...byName.values()];
  }

  /** The object's bytes as a stream (NotFoundError when it is gone). */
  open(entry: Pick<SnapshotEntry, 'name'>, signal?: AbortSignal): Promise<Readable> {
    return this.storage.loadStream(entry.name, signal);
  }

  /** Whether reading an object is as cheap as reading a local file: then it is opened at merge time, not downloaded. */
  get local(): boolean {
    return this.storage.local ?? false;
  }
}
