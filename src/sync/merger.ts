import type { KVBatch } from '../lmdb/batch.js';
import { MDB_APPEND, type Dbi, type Txn } from '../lmdb/index.js';
import type { EntryBatch } from '../snapshot/batch.js';
import { FLAG_DELETED } from '../snapshot/batch.js';
import { readHeaderFields } from './header-fields.js';
import { HEADER_SIZE, headerTxnId, splitTimestamp } from '../lmdb/header.js';
import type { KeyComparator } from './key-order.js';
import { mergeOrder } from './merge-rule.js';
import { PutBuffer } from './put-buffer.js';
import { ScanCursor } from './scan-cursor.js';

export interface MergeOptions {
  compare: KeyComparator;
  /** The id of the write txn the merge runs in: written into every header we write. */
  txnId: number;
  /** Add one empty 8-byte extension block to every header (header_extra_padding_block). */
  paddingBlock: boolean;
  /** Deleted remote entries older than this (ns since epoch) are not added when absent locally. */
  tombstoneCutoffNano?: bigint;
  /** Names the DBI in errors. */
  dbiName: string;
  /**
   * Start-up bookkeeping: keys (see coverageKey) written locally since our own last snapshot. A key is
   * removed when this snapshot holds the same entry or a winning one: it is then saved in the bucket.
   */
  unsaved?: Set<string>;
  /** Sees every batch of entries (key → header + value) just written, in the same txn (shadow mode). */
  onFlush?: (written: KVBatch) => void;
}

/** The identity of a key in MergeOptions.unsaved. */
export function coverageKey(dbiName: string, buf: Buffer, off: number, len: number): string {
  return `${dbiName}\0${buf.toString('latin1', off, off + len)}`;
}

export interface MergeStats {
  remoteEntries: number;
  written: number;
  /** Local entries the snapshot does not have (they are left alone). */
  localOnly: number;
  /** Entries present on both sides whose timestamp or value differ. */
  differing: number;
}

/**
 * Merges one DBI of a remote snapshot into a local DBI whose values carry native headers:
 * a merge-join of the (sorted) snapshot entries against a bulk scan of the local DBI, inside
 * the caller's write txn. Keys absent from the snapshot are left alone.
 */
export class DbiMerger {
  readonly stats: MergeStats = { remoteEntries: 0, written: 0, localOnly: 0, differing: 0 };
  private readonly local: ScanCursor;
  private appending = false;
  private readonly out = new PutBuffer();
  private readonly cutoffHi: number;
  private readonly cutoffLo: number;
  private readonly fields = { tsHi: 0, tsLo: 0, flags: 0, valOff: 0, valLen: 0 };

  constructor(private readonly txn: Txn, private readonly dbi: Dbi, private readonly opts: MergeOptions) {
    this.local = new ScanCursor(txn.scan(dbi)[Symbol.iterator]());
    [this.cutoffHi, this.cutoffLo] = splitTimestamp(opts.tombstoneCutoffNano ?? 0n);
  }

  add(batch: EntryBatch): void {
    const { compare } = this.opts;
    for (let i = 0; i < batch.count; i++) {
      this.stats.remoteEntries++;
      const rKeyOff = batch.keyOff[i]!;
      const rKeyLen = batch.keyLen[i]!;
      // Advance the local side to the first key >= the remote key.
      let cmp = 1;
      for (;;) {
        const lb = this.local.batch();
        if (!lb) break;
        const li = this.local.index;
        cmp = compare(lb.buf, lb.keyOff[li]!, lb.keyLen[li]!, batch.buf, rKeyOff, rKeyLen);
        if (cmp >= 0) break;
        this.local.index++;
        this.stats.localOnly++;
      }
      const rTsHi = batch.tsHi[i]!;
      const rTsLo = batch.tsLo[i]!;
      const rFlags = batch.flags[i]!;
      if (cmp === 0) {
        const lb = this.local.batch()!;
        const li = this.local.index;
        const f = readHeaderFields(lb.buf, lb.valOff[li]!, lb.valLen[li]!, this.fields, this.opts.dbiName);
        const rValOff = batch.valOff[i]!;
        const rValLen = batch.valLen[i]!;
        const order = mergeOrder(rTsHi, rTsLo, batch.buf, rValOff, rValLen, f.tsHi, f.tsLo, lb.buf, f.valOff, f.valLen);
        const take = order > 0;
        const differs = order !== 0 || (f.flags & FLAG_DELETED) !== (rFlags & FLAG_DELETED);
        if (differs) this.stats.differing++;
        const unsaved = this.opts.unsaved;
        if (unsaved && unsaved.size > 0 && (take || !differs)) {
          unsaved.delete(coverageKey(this.opts.dbiName, batch.buf, rKeyOff, rKeyLen));
        }
        this.local.index++;
        if (!take) continue;
      } else if ((rFlags & FLAG_DELETED) !== 0 && this.olderThanCutoff(rTsHi, rTsLo)) {
        continue;
      }
      this.put(batch, i);
    }
  }

  /** Flushes the remaining writes and counts the local entries after the snapshot's last key. */
  finish(): MergeStats {
    this.flush();
    for (let lb = this.local.batch(); lb; lb = this.local.batch()) {
      this.stats.localOnly += lb.count - this.local.index;
      this.local.index = lb.count;
    }
    return this.stats;
  }

  private olderThanCutoff(hi: number, lo: number): boolean {
    return hi < this.cutoffHi || (hi === this.cutoffHi && lo < this.cutoffLo);
  }

  private put(batch: EntryBatch, i: number): void {
    // Past the last local key every remaining snapshot key sorts after everything in the DBI: LMDB
    // can then append (MDB_APPEND), much faster than a search per key (a new instance's first load).
    if (this.local.done && !this.appending) {
      this.flush();
      this.appending = true;
    }
    this.out.addWithHeader(batch.buf, batch.keyOff[i]!, batch.keyLen[i]!, batch.buf, batch.valOff[i]!, batch.valLen[i]!,
      batch.tsHi[i]!, batch.tsLo[i]!, this.opts.txnId, batch.flags[i]! & FLAG_DELETED, this.opts.paddingBlock ? 1 : 0);
    this.stats.written++;
    if (this.out.full) this.flush();
  }

  private flush(): void {
    if (this.out.count === 0) return;
    this.txn.putBatch(this.dbi, this.out.batch, this.appending ? MDB_APPEND : 0);
    this.opts.onFlush?.(this.out.batch);
    this.out.reset();
  }
}

/**
 * Keys (coverageKey under `name`) of the header-carrying DBIs whose entries were written after txn
 * `sinceTxnId`, per the txn id in their native header.
 */
export function keysWrittenSince(txn: Txn, dbis: Array<[name: string, dbi: Dbi]>, sinceTxnId: number): Set<string> {
  const out = new Set<string>();
  for (const [name, dbi] of dbis) {
    for (const kv of txn.scan(dbi)) {
      for (let i = 0; i < kv.count; i++) {
        if (kv.valLen[i]! >= HEADER_SIZE && headerTxnId(kv.buf, kv.valOff[i]!) > sinceTxnId) {
          out.add(coverageKey(name, kv.buf, kv.keyOff[i]!, kv.keyLen[i]!));
        }
      }
    }
  }
  return out;
}
