import { native, type CursorHandle } from './native.js';
import type { Txn } from './txn.js';
import type { Dbi } from './dbi.js';
import type { KVBatch } from './batch.js';
import {
  MDB_FIRST, MDB_FIRST_DUP, MDB_GET_BOTH, MDB_GET_BOTH_RANGE, MDB_GET_CURRENT, MDB_LAST, MDB_LAST_DUP,
  MDB_NEXT, MDB_NEXT_DUP, MDB_NEXT_NODUP, MDB_PREV, MDB_PREV_DUP, MDB_PREV_NODUP, MDB_SET_KEY, MDB_SET_RANGE,
} from './flags.js';
import { usageError } from './errors.js';

export interface Entry {
  key: Buffer;
  value: Buffer;
}

/**
 * An LMDB cursor. Positioning calls return a copy of the entry there, or undefined
 * (MDB_NOTFOUND). next()/prev() visit every duplicate of a DUPSORT DBI. The cursor ends with
 * its txn (commit, abort, reset): using it afterwards throws.
 */
export class Cursor {
  /** @internal */ readonly h: CursorHandle;
  readonly txn: Txn;
  readonly dbi: Dbi;
  private readonly gen: number;
  private closed = false;

  /** @internal use txn.cursor(dbi) */
  constructor(txn: Txn, dbi: Dbi) {
    if (!txn._ok(dbi)) txn._fail(`mdb_cursor_open(${dbi.label})`, dbi);
    try {
      this.h = native.cursorOpen(txn.h, dbi.handle);
    } catch (e) {
      throw txn._err(e, 'mdb_cursor_open', dbi);
    }
    this.txn = txn;
    this.dbi = dbi;
    this.gen = txn.gen;
  }

  /** @internal throws unless usable */
  _check(op: string): void {
    if (this.closed) throw usageError(`${op}(${this.dbi.label})`, 'cursor closed');
    if (!this.txn._ok(this.dbi)) this.txn._fail(`${op}(${this.dbi.label})`, this.dbi);
    if (this.gen !== this.txn.gen) throw usageError(`${op}(${this.dbi.label})`, 'cursor invalid: its transaction was reset');
  }

  /** mdb_cursor_get with any MDB_cursor_op (flags.ts); key/value are inputs for the SET and GET_BOTH ops. */
  get(op: number, key?: Uint8Array, value?: Uint8Array): Entry | undefined {
    this._check('mdb_cursor_get');
    try {
      return native.cursorGet(this.h, op, key ?? null, value ?? null);
    } catch (e) {
      throw this.txn._err(e, 'mdb_cursor_get', this.dbi, key, value);
    }
  }

  first(): Entry | undefined { return this.get(MDB_FIRST); }
  last(): Entry | undefined { return this.get(MDB_LAST); }
  next(): Entry | undefined { return this.get(MDB_NEXT); }
  prev(): Entry | undefined { return this.get(MDB_PREV); }
  current(): Entry | undefined { return this.get(MDB_GET_CURRENT); }
  /** First duplicate of the next key. */
  nextNoDup(): Entry | undefined { return this.get(MDB_NEXT_NODUP); }
  /** Last duplicate of the previous key. */
  prevNoDup(): Entry | undefined { return this.get(MDB_PREV_NODUP); }
  nextDup(): Entry | undefined { return this.get(MDB_NEXT_DUP); }
  prevDup(): Entry | undefined { return this.get(MDB_PREV_DUP); }
  firstDup(): Entry | undefined { return this.get(MDB_FIRST_DUP); }
  lastDup(): Entry | undefined { return this.get(MDB_LAST_DUP); }
  /** First entry with key >= the given key (MDB_SET_RANGE). */
  seekRange(key: Uint8Array): Entry | undefined { return this.get(MDB_SET_RANGE, key); }
  /** Exactly this key, its first duplicate (MDB_SET_KEY). */
  seekKey(key: Uint8Array): Entry | undefined { return this.get(MDB_SET_KEY, key); }
  /** Exactly this key/value pair (MDB_GET_BOTH). */
  getBoth(key: Uint8Array, value: Uint8Array): Entry | undefined { return this.get(MDB_GET_BOTH, key, value); }
  /** This key, first duplicate >= value (MDB_GET_BOTH_RANGE). */
  getBothRange(key: Uint8Array, value: Uint8Array): Entry | undefined { return this.get(MDB_GET_BOTH_RANGE, key, value); }

  /** mdb_cursor_put; false when refused with MDB_KEYEXIST. */
  put(key: Uint8Array, value: Uint8Array, flags = 0): boolean {
    this._check('mdb_cursor_put');
    try {
      return native.cursorPut(this.h, key, value, flags);
    } catch (e) {
      throw this.txn._err(e, 'mdb_cursor_put', this.dbi, key, value);
    }
  }

  /** Deletes the current entry (with MDB_NODUPDATA: every duplicate of its key). */
  del(flags = 0): void {
    this._check('mdb_cursor_del');
    try {
      native.cursorDel(this.h, flags);
    } catch (e) {
      throw this.txn._err(e, 'mdb_cursor_del', this.dbi);
    }
  }

  /** Number of duplicates of the current key (mdb_cursor_count). */
  count(): number {
    this._check('mdb_cursor_count');
    try {
      return native.cursorCount(this.h);
    } catch (e) {
      throw this.txn._err(e, 'mdb_cursor_count', this.dbi);
    }
  }

  /** @internal one bulk-scan step (see NativeAddon.cursorScan) */
  _scan(buf: Buffer, mode: 0 | 1 | 2, key: Uint8Array | null, valuePrefix?: number): number {
    this._check('cursor scan');
    try {
      return native.cursorScan(this.h, buf, mode, key, valuePrefix);
    } catch (e) {
      throw this.txn._err(e, 'mdb_cursor_get', this.dbi, key);
    }
  }

  /** Closes the cursor (idempotent; also done by the end of its txn). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    native.cursorClose(this.h);
  }
}

export interface ScanOptions {
  /** Start at the first key >= start (default: the first entry). */
  start?: Uint8Array;
  /** Size of the reusable buffer (default 256 KiB); grown when one entry does not fit. */
  batchBytes?: number;
  /**
   * Copy only the first min(valLen, valuePrefix) bytes of each value: valLen stays the value's whole length,
   * and the bytes past the prefix are not in the batch (for passes that need lengths and value headers only).
   */
  valuePrefix?: number;
}

/**
 * A scan hands the pages it has read back to the page cache every this many bytes of keys and values
 * (Env.releaseMappedPages), so the RSS of a process that scans a 2 GB LMDB stays bounded.
 */
const RELEASE_MAPPED_EVERY = 16 << 20;

const MIN_RECORD = 12; // u32 + u32 + a key of at least one byte padded to 4

function allocScanBuffer(bytes: number): { buf: Buffer; u32: Uint32Array } {
  const buf = Buffer.allocUnsafeSlow(bytes); // own ArrayBuffer: 4-byte aligned
  return { buf, u32: new Uint32Array(buf.buffer, buf.byteOffset, bytes >>> 2) };
}

function sizeBatch(batch: KVBatch, buf: Buffer): void {
  const n = Math.floor(buf.length / MIN_RECORD) + 1;
  batch.buf = buf;
  if (batch.keyOff.length < n) {
    batch.keyOff = new Uint32Array(n);
    batch.keyLen = new Uint32Array(n);
    batch.valOff = new Uint32Array(n);
    batch.valLen = new Uint32Array(n);
  }
}

/**
 * The bulk scan behind txn.scan(): the addon copies as many length-prefixed records as fit
 * into one reusable buffer per call; this loop only fills the offset/length arrays.
 * The cursor stays on the last entry returned, so the next call resumes exactly after it, also
 * in the middle of a run of DUPSORT duplicates.
 */
export function* scanBatches(txn: Txn, dbi: Dbi, opts: ScanOptions = {}): Generator<KVBatch> {
  let bytes = Math.max(64, ((opts.batchBytes ?? 256 * 1024) + 3) & ~3);
  let { buf, u32 } = allocScanBuffer(bytes);
  const batch: KVBatch = {
    count: 0, buf, keyOff: new Uint32Array(0), keyLen: new Uint32Array(0), valOff: new Uint32Array(0), valLen: new Uint32Array(0),
  };
  sizeBatch(batch, buf);
  const cur = new Cursor(txn, dbi);
  const prefix = opts.valuePrefix;
  const copiedMax = prefix ?? Infinity;
  let mode: 0 | 1 | 2 = opts.start ? 2 : 1;
  let scannedSinceRelease = 0;
  try {
    for (;;) {
      const n = cur._scan(buf, mode, mode === 2 ? opts.start! : null, prefix);
      mode = 0;
      if (n < 0) {
        bytes = Math.max(bytes * 2, (-n + 3) & ~3);
        ({ buf, u32 } = allocScanBuffer(bytes));
        sizeBatch(batch, buf);
        continue;
      }
      if (n === 0) return;
      const { keyOff, keyLen, valOff, valLen } = batch;
      let w = 0; // offset in u32 words
      for (let i = 0; i < n; i++) {
        const kl = u32[w]!;
        const vl = u32[w + 1]!;
        const ko = (w << 2) + 8;
        const vo = ko + ((kl + 3) & ~3);
        keyOff[i] = ko;
        keyLen[i] = kl;
        valOff[i] = vo;
        valLen[i] = vl;
        const copied = vl < copiedMax ? vl : copiedMax;
        w = (vo + ((copied + 3) & ~3)) >>> 2;
        scannedSinceRelease += kl + vl;
      }
      if (scannedSinceRelease >= RELEASE_MAPPED_EVERY) {
        scannedSinceRelease = 0;
        txn.env.releaseMappedPages();
      }
      batch.count = n;
      yield batch;
    }
  } finally {
    cur.close();
  }
}
