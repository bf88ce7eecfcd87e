import type { KVBatch } from '../../lmdb/batch.js';
import { integerKeySizeProblem, type KeyComparator } from '../../lmdb/key-order.js';
import type { EntryBatch } from '../../snapshot/batch.js';
import { FLAG_DELETED } from '../../snapshot/batch.js';
import { SnapshotFormatError } from '../../snapshot/errors.js';
import { splitTimestamp } from '../../lmdb/header.js';
import { readHeaderFields } from '../header-fields.js';
import { LMDB_MAX_KEY_SIZE } from '../../lmdb/flags.js';
import { mergeOrder } from './merge-rule.js';
import { IncompatibleSnapshotError } from '../mode.js';
import type { RestartCoverage } from '../restart-coverage.js';
import { ScanCursor } from './scan-cursor.js';

export interface PlanOptions {
  compare: KeyComparator;
  /** The DBI is MDB_INTEGERKEY: every key must have the size of the first (local, else remote) key. */
  integerKeys: boolean;
  /** Deleted remote entries older than this (ns since epoch) are not added when absent locally. */
  tombstoneCutoffNano?: bigint;
  /** Names the DBI in errors and coverage keys. */
  dbiName: string;
  /** Names the snapshot in errors. */
  snapshotName: string;
  /**
   * Start-up bookkeeping (see RestartCoverage): `collect` while loading our own last snapshot records
   * the local entries it does not hold; `cover` while loading a peer's removes the keys it holds.
   */
  coverage?: { role: 'collect' | 'cover'; keys: RestartCoverage };
}

export interface MergeStats {
  remoteEntries: number;
  /** Remote entries that win against the local DBI as the plan saw it. */
  winners: number;
  /** Local entries the snapshot does not have (they are left alone). */
  localOnly: number;
  /** Entries present on both sides that are not the same entry (timestamp, value, deleted flag). */
  differing: number;
}

/** Which remote entries of one DBI win, decided against a read txn, to be applied in a short write txn. */
export interface DbiPlan {
  stats: MergeStats;
  /** Bit i set: remote entry i (in snapshot order) wins. */
  winnerBits: Uint8Array;
  /** The first remote entry past the last local key (LMDB can append from there on), or -1. */
  appendFrom: number;
}

export function isWinner(plan: DbiPlan, entry: number): boolean {
  return (plan.winnerBits[entry >>> 3]! & (1 << (entry & 7))) !== 0;
}

/**
 * Decides, for one DBI of a remote snapshot, which entries win against the local DBI whose values carry
 * native headers: a merge-join of the snapshot entries against a bulk scan of the local DBI in a read txn,
 * outside the application's write lock. Keys absent from the snapshot are left alone. The remote entries
 * must come in strictly ascending key order (checked here too: the join is only right in that order,
 * whatever the decoder could check before the DBI's flags were known).
 */
export class DbiPlanner {
  private readonly stats: MergeStats = { remoteEntries: 0, winners: 0, localOnly: 0, differing: 0 };
  private readonly local: ScanCursor;
  private readonly winnerBits: Uint8Array;
  private appendFrom = -1;
  private readonly cutoffHi: number;
  private readonly cutoffLo: number;
  private readonly fields = { tsHi: 0, tsLo: 0, flags: 0, valOff: 0, valLen: 0 };
  /** The previous remote key: in the current batch, or copied to `ownKey` when its batch ended. */
  private prevKeyBuf: Buffer = Buffer.alloc(0);
  private prevKeyOff = 0;
  private prevKeyLen = -1;
  private readonly ownKey = Buffer.allocUnsafe(LMDB_MAX_KEY_SIZE);
  /** MDB_INTEGERKEY: the size every key must have (from the local DBI, else the first remote key). */
  private integerKeySize: number | undefined;

  /** local: a bulk scan of the local DBI (undefined: it does not exist); remoteCount: the snapshot DBI's entries. */
  constructor(local: Iterator<KVBatch> | undefined, remoteCount: number, private readonly opts: PlanOptions) {
    this.local = new ScanCursor(local ?? [][Symbol.iterator]());
    this.winnerBits = new Uint8Array((remoteCount + 7) >>> 3);
    [this.cutoffHi, this.cutoffLo] = splitTimestamp(opts.tombstoneCutoffNano ?? 0n);
    if (opts.integerKeys) {
      const first = this.local.batch();
      if (first) this.integerKeySize = first.keyLen[0];
    }
  }

  add(batch: EntryBatch): void {
    const { compare, coverage, dbiName } = this.opts;
    const collect = coverage?.role === 'collect' ? coverage.keys : undefined;
    const cover = coverage?.role === 'cover' ? coverage.keys : undefined;
    for (let i = 0; i < batch.count; i++) {
      const entry = this.stats.remoteEntries++;
      const rKeyOff = batch.keyOff[i]!;
      const rKeyLen = batch.keyLen[i]!;
      this.checkRemoteKey(batch.buf, rKeyOff, rKeyLen);
      // Advance the local side to the first key >= the remote key.
      let cmp = 1;
      for (;;) {
        const lb = this.local.batch();
        if (!lb) break;
        const li = this.local.index;
        cmp = compare(lb.buf, lb.keyOff[li]!, lb.keyLen[li]!, batch.buf, rKeyOff, rKeyLen);
        if (cmp >= 0) break;
        collect?.unsaved(dbiName, lb.buf, lb.keyOff[li]!, lb.keyLen[li]!);
        this.local.index++;
        this.stats.localOnly++;
      }
      const rTsHi = batch.tsHi[i]!;
      const rTsLo = batch.tsLo[i]!;
      const rDeleted = (batch.flags[i]! & FLAG_DELETED) !== 0;
      if (cmp === 0) {
        const lb = this.local.batch()!;
        const li = this.local.index;
        const f = readHeaderFields(lb.buf, lb.valOff[li]!, lb.valLen[li]!, this.fields, dbiName);
        const order = mergeOrder(rTsHi, rTsLo, rDeleted, batch.buf, batch.valOff[i]!, batch.valLen[i]!,
          f.tsHi, f.tsLo, (f.flags & FLAG_DELETED) !== 0, lb.buf, f.valOff, f.valLen);
        if (order !== 0) this.stats.differing++;
        if (order < 0) collect?.unsaved(dbiName, batch.buf, rKeyOff, rKeyLen);
        else cover?.covered(dbiName, batch.buf, rKeyOff, rKeyLen);
        this.local.index++;
        if (order <= 0) continue;
      } else if (rDeleted && this.olderThanCutoff(rTsHi, rTsLo)) {
        continue;
      }
      // Past the last local key every remaining snapshot key sorts after everything in the DBI: LMDB
      // can then append (MDB_APPEND), much faster than a search per key (a new instance's first load).
      if (this.appendFrom < 0 && this.local.done) this.appendFrom = entry;
      this.winnerBits[entry >>> 3]! |= 1 << (entry & 7);
      this.stats.winners++;
    }
    this.keepLastKey(batch);
  }

  /** The plan, once every remote entry was added; counts the local entries after the snapshot's last key. */
  finish(): DbiPlan {
    const collect = this.opts.coverage?.role === 'collect' ? this.opts.coverage.keys : undefined;
    for (let lb = this.local.batch(); lb; lb = this.local.batch()) {
      this.stats.localOnly += lb.count - this.local.index;
      if (collect) {
        for (let i = this.local.index; i < lb.count; i++) collect.unsaved(this.opts.dbiName, lb.buf, lb.keyOff[i]!, lb.keyLen[i]!);
      }
      this.local.index = lb.count;
    }
    return { stats: this.stats, winnerBits: this.winnerBits, appendFrom: this.appendFrom };
  }

  private checkRemoteKey(buf: Buffer, off: number, len: number): void {
    if (len === 0 || len > LMDB_MAX_KEY_SIZE) {
      throw new SnapshotFormatError(this.opts.snapshotName, `DBI ${JSON.stringify(this.opts.dbiName)}: ` +
        `entry ${this.stats.remoteEntries - 1} has a key of ${len} bytes (LMDB keys have 1-${LMDB_MAX_KEY_SIZE})`);
    }
    if (this.opts.integerKeys) {
      const problem = integerKeySizeProblem(len, this.integerKeySize);
      if (problem) {
        throw new IncompatibleSnapshotError(`snapshot ${this.opts.snapshotName}: DBI ${this.opts.dbiName}: ` +
          `entry ${this.stats.remoteEntries - 1} has ${problem}`);
      }
      this.integerKeySize = len;
    }
    if (this.prevKeyLen >= 0) {
      const c = this.opts.compare(this.prevKeyBuf, this.prevKeyOff, this.prevKeyLen, buf, off, len);
      if (c >= 0) {
        throw new SnapshotFormatError(this.opts.snapshotName, `DBI ${JSON.stringify(this.opts.dbiName)}: ` +
          `entry ${this.stats.remoteEntries - 1} ${c === 0 ? 'repeats the previous key' : 'is out of key order'}`);
      }
    }
    this.prevKeyBuf = buf;
    this.prevKeyOff = off;
    this.prevKeyLen = len;
  }

  /** The batch's buffer may be reused for the next one: keep a copy of its last key. */
  private keepLastKey(batch: EntryBatch): void {
    if (batch.count === 0 || this.prevKeyBuf === this.ownKey) return;
    this.prevKeyBuf.copy(this.ownKey, 0, this.prevKeyOff, this.prevKeyOff + this.prevKeyLen);
    this.prevKeyBuf = this.ownKey;
    this.prevKeyOff = 0;
  }

  private olderThanCutoff(hi: number, lo: number): boolean {
    return hi < this.cutoffHi || (hi === this.cutoffHi && lo < this.cutoffLo);
  }
}
