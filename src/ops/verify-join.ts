/**
 * The merge-join of `verify`: one DBI of a snapshot (or chain) against the local DBI holding the native
 * headers, both in the DBI's key order, tallying per key what merging the snapshot here would do. Only
 * counts and the first few keys are kept, so memory does not grow with the DBI.
 */
import { MDB_INTEGERKEY, MDB_REVERSEKEY } from '../lmdb/flags.js';
import { joinTimestamp } from '../lmdb/header.js';
import type { KeyComparator } from '../lmdb/key-order.js';
import { formatDbiFlags } from '../lmdb/flag-names.js';
import type { EntryBatch } from '../snapshot/batch.js';
import { FLAG_DELETED } from '../snapshot/batch.js';
import { mergeOrder } from '../sync/merge/merge-rule.js';
import type { ScanCursor } from '../sync/merge/scan-cursor.js';

/** Flags that decide a DBI's key order: both sides must agree for a merge-join. */
const ORDER_FLAGS = MDB_INTEGERKEY | MDB_REVERSEKEY;

/** Per key, what merging the snapshot here would find. */
export interface Tally {
  /** Entries of the snapshot (chain: after combining its objects). */
  snapshotEntries: number;
  /** The same entry on both sides: timestamp, deleted flag and value. */
  same: number;
  /** The local entry wins the merge rule: the snapshot is older here. */
  newerHere: number;
  /** The snapshot's entry wins the merge rule: merging would change it here. */
  snapshotWins: number;
  /** Absent here: merging would add it. */
  missingHere: number;
  /** Absent here, and a deletion older than the sweeper's cutoff: merging would not add it. */
  sweptHere: number;
  /** Local keys the snapshot does not have (left alone by a merge: a snapshot is not a deletion list). */
  onlyHere: number;
}

export interface EntrySide {
  timestampNano: bigint;
  deleted: boolean;
  valueBytes: number;
}

export interface KeyReport {
  dbi: string;
  key: Buffer;
  /** Undefined when the key is absent here. */
  here?: EntrySide;
  /** Undefined for a key only here. */
  snapshot?: EntrySide;
  /** Which entry a merge of the snapshot here would keep (differing keys only). */
  mergeTakes?: 'here' | 'snapshot';
}

export function emptyTally(): Tally {
  return { snapshotEntries: 0, same: 0, newerHere: 0, snapshotWins: 0, missingHere: 0, sweptHere: 0, onlyHere: 0 };
}

/** Keys whose two sides are not the same entry (keys only here excluded). */
export function differingKeys(t: Tally): number {
  return t.newerHere + t.snapshotWins + t.missingHere;
}

/** What one comparison collects: counts, and the first `maxKeys` differing keys and keys only here. */
export class Findings {
  readonly tally = emptyTally();
  readonly differing: KeyReport[] = [];
  readonly onlyHere: KeyReport[] = [];

  constructor(readonly maxKeys: number) {}

  note(list: KeyReport[], make: () => KeyReport): void {
    if (list.length < this.maxKeys) list.push(make());
  }
}

function side(b: EntryBatch, i: number): EntrySide {
  const deleted = (b.flags[i]! & FLAG_DELETED) !== 0;
  return { timestampNano: joinTimestamp(b.tsHi[i]!, b.tsLo[i]!), deleted, valueBytes: deleted ? 0 : b.valLen[i]! };
}

function keyOf(b: EntryBatch, i: number): Buffer {
  return Buffer.from(b.buf.subarray(b.keyOff[i], b.keyOff[i]! + b.keyLen[i]!));
}

/** Refuses a snapshot DBI whose key order is not the local DBI's (the join would pair the wrong keys). */
export function checkSameOrder(dbiName: string, snapshotFlags: number | undefined, localFlags: number | undefined): void {
  if (snapshotFlags === undefined || localFlags === undefined) return;
  if ((snapshotFlags & ORDER_FLAGS) === (localFlags & ORDER_FLAGS)) return;
  throw new Error(`DBI ${dbiName}: the snapshot has flags ${formatDbiFlags(snapshotFlags)}, the local DBI ` +
    `${formatDbiFlags(localFlags)}: their keys are in different orders and cannot be compared`);
}

/**
 * Joins the snapshot entries of one DBI (add, batch by batch, in key order) with the local entries
 * (a cursor over a header scan; undefined when the DBI is absent here). finish() counts the local rest.
 */
export class DbiJoin {
  constructor(
    private readonly dbiName: string,
    private readonly local: ScanCursor<EntryBatch> | undefined,
    private readonly compare: KeyComparator,
    /** Deletions older than this (ns) are not added where the key is absent (sweeper enabled). */
    private readonly sweptBeforeNano: bigint | undefined,
    private readonly out: Findings,
  ) {}

  add(batch: EntryBatch): void {
    const t = this.out.tally;
    for (let i = 0; i < batch.count; i++) {
      t.snapshotEntries++;
      const lb = this.advanceLocalTo(batch, i);
      if (lb) {
        const li = this.local!.index;
        const order = mergeOrder(
          batch.tsHi[i]!, batch.tsLo[i]!, (batch.flags[i]! & FLAG_DELETED) !== 0, batch.buf, batch.valOff[i]!, batch.valLen[i]!,
          lb.tsHi[li]!, lb.tsLo[li]!, (lb.flags[li]! & FLAG_DELETED) !== 0, lb.buf, lb.valOff[li]!, lb.valLen[li]!);
        this.local!.index++;
        if (order === 0) {
          t.same++;
          continue;
        }
        if (order > 0) t.snapshotWins++;
        else t.newerHere++;
        this.out.note(this.out.differing, () => ({
          dbi: this.dbiName, key: keyOf(batch, i), here: side(lb, li), snapshot: side(batch, i), mergeTakes: order > 0 ? 'snapshot' : 'here',
        }));
      } else if ((batch.flags[i]! & FLAG_DELETED) !== 0 && this.sweptBeforeNano !== undefined &&
        joinTimestamp(batch.tsHi[i]!, batch.tsLo[i]!) < this.sweptBeforeNano) {
        t.sweptHere++;
      } else {
        t.missingHere++;
        this.out.note(this.out.differing, () => ({ dbi: this.dbiName, key: keyOf(batch, i), snapshot: side(batch, i), mergeTakes: 'snapshot' }));
      }
    }
  }

  /** Counts the local entries after the snapshot's last key as only here. */
  finish(): void {
    for (let lb = this.local?.batch(); lb; lb = this.local!.batch()) this.onlyHere(lb);
  }

  /**
   * Moves the local side to the first key >= the snapshot's key i, counting the keys passed as only here.
   * Returns the local batch when it holds that key exactly.
   */
  private advanceLocalTo(batch: EntryBatch, i: number): EntryBatch | undefined {
    if (!this.local) return undefined;
    for (let lb = this.local.batch(); lb; lb = this.local.batch()) {
      const li = this.local.index;
      const c = this.compare(lb.buf, lb.keyOff[li]!, lb.keyLen[li]!, batch.buf, batch.keyOff[i]!, batch.keyLen[i]!);
      if (c === 0) return lb;
      if (c > 0) return undefined;
      this.onlyHere(lb);
    }
    return undefined;
  }

  /** Counts the current local entry as only here and moves past it. */
  private onlyHere(lb: EntryBatch): void {
    const li = this.local!.index++;
    this.out.tally.onlyHere++;
    this.out.note(this.out.onlyHere, () => ({ dbi: this.dbiName, key: keyOf(lb, li), here: side(lb, li) }));
  }
}
