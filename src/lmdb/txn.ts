import { native, type TxnHandle } from './native.js';
import type { Env, OpenDbiOptions, Stat } from './env.js';
import type { KVBatch } from './batch.js';
import { Dbi } from './dbi.js';
import { Cursor, scanBatches, type Entry, type ScanOptions } from './cursor.js';
import { MDB_CREATE, MDB_FIRST, MDB_NEXT, MDB_NEXT_NODUP, MDB_RDONLY, MDB_SET_RANGE } from './flags.js';
import { EINVAL, LmdbError, MDB_DBS_FULL_CODE, MDB_INCOMPATIBLE, MDB_MAP_RESIZED, requireSync, toLmdbError, usageError } from './errors.js';

const ACTIVE = 0;
const RESET = 1;
const ENDED = 2;

let beginCounter = 0;

/**
 * An LMDB transaction. Read txns: env.beginRead() / env.read(fn); the write txn:
 * env.beginWrite() / env.write(fn); nested write txns: txn.child() / txn.nested(fn).
 * Any use after the txn ended (or its env closed) throws an LmdbError, never crashes.
 */
export class Txn {
  /** @internal */ readonly h: TxnHandle;
  readonly env: Env;
  readonly parent: Txn | null;
  readonly readOnly: boolean;
  /** The open nested txn, if any (this txn cannot be used until it ends). */
  activeChild: Txn | null = null;
  /** @internal bumped whenever this txn's cursors become invalid (reset, end) */ gen = 0;
  /** @internal */ readonly beginSeq: number;
  private st = ACTIVE;
  private endReason = '';
  private openedDbis: Dbi[] = [];

  /** @internal use env.beginRead(), env.beginWrite(), txn.child() */
  constructor(env: Env, parent: Txn | null, readOnly: boolean) {
    this.env = env;
    this.parent = parent;
    this.readOnly = readOnly;
    this.h = env._begin(parent ? parent.h : null, readOnly ? MDB_RDONLY : 0);
    this.beginSeq = ++beginCounter;
    env.liveTxns.add(this);
    if (parent) parent.activeChild = this;
    else if (!readOnly) env.activeWrite = this;
  }

  get state(): 'active' | 'reset' | 'ended' {
    return this.st === ACTIVE ? 'active' : this.st === RESET ? 'reset' : 'ended';
  }

  get isActive(): boolean {
    return this.st === ACTIVE;
  }

  /** mdb_txn_id: for a write txn, the id its commit will get; for a read txn, its snapshot's. */
  get id(): number {
    this.check('mdb_txn_id');
    return native.txnId(this.h);
  }

  commit(): void {
    const op = this.parent ? 'mdb_txn_commit(nested)' : 'mdb_txn_commit';
    this.check(op);
    try {
      native.txnCommit(this.h);
    } catch (e) {
      this._markEnded('aborted (commit failed)');
      throw toLmdbError(e, op);
    }
    for (const d of this.openedDbis) this.env._cacheDbi(d);
    this.openedDbis = [];
    this._markEnded('committed');
  }

  /** Aborts (a no-op when already ended). Also ends its open child txn and cursors. */
  abort(): void {
    if (this.st === ENDED) return;
    native.txnAbort(this.h);
    this._markEnded('aborted');
  }

  /** Read txns only: releases the snapshot but keeps the handle for renew(). Cursors end. */
  reset(): void {
    this.check('mdb_txn_reset');
    if (!this.readOnly) throw usageError('mdb_txn_reset', 'only read transactions can be reset');
    native.txnReset(this.h);
    this.st = RESET;
    this.gen++;
  }

  /** Read txns only: takes a fresh snapshot after reset(). */
  renew(): void {
    if (this.st !== RESET) throw usageError('mdb_txn_renew', this.st === ENDED ? `transaction already ${this.endReason}` : 'transaction is not reset');
    for (let attempt = 0; ; attempt++) {
      try {
        native.txnRenew(this.h);
        this.st = ACTIVE;
        return;
      } catch (e) {
        const err = toLmdbError(e, 'mdb_txn_renew');
        if (err.code !== MDB_MAP_RESIZED || attempt >= 3) throw err;
        this.env._adoptMapSize(err);
      }
    }
  }

  /** Begins a nested write txn; this txn is unusable until the child ends. */
  child(): Txn {
    this.check('mdb_txn_begin(nested)');
    if (this.readOnly) throw usageError('mdb_txn_begin(nested)', 'nested transactions need a write parent');
    return new Txn(this.env, this, false);
  }

  /** Runs fn in a nested write txn: commits into this txn on return, aborts on throw. */
  nested<T>(fn: (txn: Txn) => T): T {
    return this.child()._run(fn, 'txn.nested');
  }

  /** @internal commits on return, aborts on throw (or when fn leaves a reset read txn). */
  _run<T>(fn: (txn: Txn) => T, op: string): T {
    let result: T;
    try {
      result = requireSync(fn(this), op);
    } catch (e) {
      this.abort();
      throw e;
    }
    if (this.st === ACTIVE) this.commit();
    else this.abort();
    return result;
  }

  /** @internal marks this txn (and its child) ended; the addon already freed them. */
  _markEnded(reason: string): void {
    if (this.st === ENDED) return;
    if (this.activeChild) this.activeChild._markEnded(reason);
    this.st = ENDED;
    this.endReason = reason;
    this.gen++;
    this.env.liveTxns.delete(this);
    if (this.parent && this.parent.activeChild === this) this.parent.activeChild = null;
    if (this.env.activeWrite === this) this.env.activeWrite = null;
    if (this.env.dbiOpener === this) this.env.dbiOpener = null;
    for (const d of this.openedDbis) d.closed = true; // LMDB closes handles of an aborted txn
    this.openedDbis = [];
  }

  private check(op: string): void {
    if (this.st !== ACTIVE || this.activeChild !== null) this.fail(op);
  }

  /** @internal true when this txn and dbi can be used right now */
  _ok(dbi: Dbi): boolean {
    return this.st === ACTIVE && this.activeChild === null && !dbi.closed && dbi.env === this.env;
  }

  /** @internal throws the usage error explaining why _ok() failed */
  _fail(op: string, dbi?: Dbi): never {
    return this.fail(op, dbi);
  }

  private fail(op: string, dbi?: Dbi): never {
    if (this.st === ENDED) throw usageError(op, `transaction already ${this.endReason}`);
    if (this.st === RESET) throw usageError(op, 'read transaction is reset (call renew() first)');
    if (this.activeChild) throw usageError(op, 'transaction has an active child transaction (end it first)');
    if (dbi?.closed) throw usageError(op, `${dbi.label} handle is closed (the DBI was deleted, or the txn that opened it aborted)`);
    if (dbi && dbi.env !== this.env) throw usageError(op, `${dbi.label} belongs to another env`);
    throw usageError(op, 'invalid transaction state');
  }

  /** @internal converts an addon error, naming the op and the DBI. */
  _err(e: unknown, op: string, dbi: Dbi, key?: Uint8Array | null, value?: Uint8Array | null): LmdbError {
    const err = toLmdbError(e, `${op}(${dbi.label})`, { key, value });
    if (err.code === EINVAL && dbi.openedAt > this.beginSeq) {
      return new LmdbError(err.op, EINVAL, `${dbi.label} was first opened after this transaction began; open DBIs before starting transactions`, { cause: e });
    }
    return err;
  }

  // ---------- DBIs ----------

  /**
   * Opens (or with create, creates) a DBI inside this top-level txn; the handle is cached by
   * the env when this txn commits and closed when it aborts. Null when absent.
   */
  openDbi(name: string | null, opts: OpenDbiOptions = {}): Dbi | null {
    const cached = this.env.cachedDbi(name) ?? this.openedDbis.find((d) => d.name === name);
    if (cached) return cached;
    const label = name === null ? 'main dbi' : `dbi ${JSON.stringify(name)}`;
    const op = `mdb_dbi_open(${label})`;
    this.check(op);
    if (this.parent) throw usageError(op, 'open DBIs in a top-level transaction');
    if (opts.create && this.readOnly) throw usageError(op, 'creating a DBI needs a write transaction');
    this._claimDbiOpen(op);
    let r: [number, number] | null;
    try {
      r = native.dbiOpen(this.h, name, (opts.flags ?? 0) | (opts.create ? MDB_CREATE : 0));
    } catch (e) {
      throw toLmdbError(e, op);
    }
    if (!r) return null;
    const dbi = new Dbi(this.env, name, r[0], r[1]);
    dbi.openedAt = this.beginSeq;
    this.openedDbis.push(dbi);
    return dbi;
  }

  /**
   * Names of the named DBIs (keys of the main DB that are sub-databases), in LMDB order, as this txn
   * sees them (a write txn also sees the DBIs it created). Names that are not valid UTF-8 without NUL
   * are skipped.
   */
  listDbis(): string[] {
    const main = this.openDbi(null)!;
    this._claimDbiOpen('listDbis');
    const names: string[] = [];
    const cur = this.cursor(main);
    try {
      for (let e = cur.get(MDB_FIRST); e; e = cur.get(MDB_NEXT_NODUP)) {
        if (e.key.includes(0)) continue;
        const name = e.key.toString('utf8');
        if (!Buffer.from(name, 'utf8').equals(e.key)) continue;
        if (this.env.cachedDbi(name) || this.openedDbis.some((d) => d.name === name)) {
          names.push(name);
          continue;
        }
        try {
          // A read txn discards the handle when it ends; a write txn's is the one LMDB reuses by name.
          if (native.dbiOpen(this.h, name, 0)) names.push(name);
        } catch (err) {
          const code = (err as { lmdbCode?: number }).lmdbCode;
          if (code === MDB_INCOMPATIBLE) continue; // a plain key, not a DBI
          if (code === MDB_DBS_FULL_CODE) {
            names.push(name); // cannot verify with maxDbs exhausted; mdb_dump has the same limit
            continue;
          }
          throw toLmdbError(err, `listDbis: mdb_dbi_open(${JSON.stringify(name)})`);
        }
      }
    } finally {
      cur.close();
    }
    return names;
  }

  /** @internal this txn is about to call mdb_dbi_open: refused while another txn that did has not ended */
  _claimDbiOpen(op: string): void {
    const other = this.env.dbiOpener;
    if (other && other !== this) {
      throw usageError(op, 'another open transaction of this env opened DBIs; it must commit or abort before DBIs are opened elsewhere (LMDB rule)');
    }
    this.env.dbiOpener = this;
  }

  /** mdb_stat of a DBI. */
  stat(dbi: Dbi): Stat {
    if (!this._ok(dbi)) this.fail(`mdb_stat(${dbi.label})`, dbi);
    try {
      return native.dbiStat(this.h, dbi.handle);
    } catch (e) {
      throw this._err(e, 'mdb_stat', dbi);
    }
  }

  /** mdb_drop: empties the DBI, or with del=true deletes it (its handle is closed at once). */
  drop(dbi: Dbi, del = false): void {
    if (!this._ok(dbi)) this.fail(`mdb_drop(${dbi.label})`, dbi);
    if (this.readOnly) throw usageError(`mdb_drop(${dbi.label})`, 'read-only transaction');
    try {
      native.drop(this.h, dbi.handle, del);
    } catch (e) {
      throw this._err(e, 'mdb_drop', dbi);
    }
    if (del) this.env._forgetDbi(dbi);
  }

  // ---------- data ----------

  /** A copy of the value (the first duplicate in a DUPSORT DBI), or undefined. */
  get(dbi: Dbi, key: Uint8Array): Buffer | undefined {
    if (!this._ok(dbi)) this.fail(`mdb_get(${dbi.label})`, dbi);
    try {
      return native.get(this.h, dbi.handle, key);
    } catch (e) {
      throw this._err(e, 'mdb_get', dbi, key);
    }
  }

  /**
   * Reads a value into out without allocating: returns its length, or -1 when absent. When the
   * length exceeds out.length nothing is copied: grow out and call again.
   */
  getInto(dbi: Dbi, key: Uint8Array, out: Uint8Array): number {
    if (!this._ok(dbi)) this.fail(`mdb_get(${dbi.label})`, dbi);
    try {
      return native.getInto(this.h, dbi.handle, key, out);
    } catch (e) {
      throw this._err(e, 'mdb_get', dbi, key);
    }
  }

  /** mdb_put; returns false when refused with MDB_KEYEXIST (MDB_NOOVERWRITE / MDB_NODUPDATA). */
  put(dbi: Dbi, key: Uint8Array, value: Uint8Array, flags = 0): boolean {
    if (!this._ok(dbi)) this.fail(`mdb_put(${dbi.label})`, dbi);
    try {
      return native.put(this.h, dbi.handle, key, value, flags);
    } catch (e) {
      throw this._err(e, 'mdb_put', dbi, key, value);
    }
  }

  /** mdb_del of a whole key (every duplicate), or with value of that duplicate only. False when absent. */
  del(dbi: Dbi, key: Uint8Array, value?: Uint8Array): boolean {
    if (!this._ok(dbi)) this.fail(`mdb_del(${dbi.label})`, dbi);
    try {
      return native.del(this.h, dbi.handle, key, value ?? null);
    } catch (e) {
      throw this._err(e, 'mdb_del', dbi, key, value);
    }
  }

  /**
   * Puts every entry of the batch in one native call; returns how many were written (entries
   * refused with MDB_KEYEXIST under MDB_NOOVERWRITE/MDB_NODUPDATA are skipped).
   */
  putBatch(dbi: Dbi, batch: KVBatch, flags = 0): number {
    if (!this._ok(dbi)) this.fail(`mdb_put(${dbi.label})`, dbi);
    try {
      return native.putBatch(this.h, dbi.handle, batch.buf, batch.keyOff, batch.keyLen, batch.valOff, batch.valLen, batch.count, flags);
    } catch (e) {
      const i = (e as { batchIndex?: number }).batchIndex;
      const key = i === undefined ? undefined : batch.buf.subarray(batch.keyOff[i], batch.keyOff[i]! + batch.keyLen[i]!);
      const value = i === undefined ? undefined : batch.buf.subarray(batch.valOff[i], batch.valOff[i]! + batch.valLen[i]!);
      throw this._err(e, 'mdb_put', dbi, key, value);
    }
  }

  // ---------- iteration ----------

  cursor(dbi: Dbi): Cursor {
    return new Cursor(this, dbi);
  }

  /** Every entry (every duplicate) in LMDB order from start (or the first), as copies. */
  *entries(dbi: Dbi, opts: { start?: Uint8Array } = {}): Generator<Entry> {
    const cur = this.cursor(dbi);
    try {
      let e = opts.start ? cur.get(MDB_SET_RANGE, opts.start) : cur.get(MDB_FIRST);
      for (; e; e = cur.get(MDB_NEXT)) yield e;
    } finally {
      cur.close();
    }
  }

  /**
   * Bulk scan: batches of entries (every duplicate, LMDB order) copied many at a time into a
   * reusable buffer. A batch is valid only until the next one is produced.
   */
  scan(dbi: Dbi, opts: ScanOptions = {}): Generator<KVBatch> {
    return scanBatches(this, dbi, opts);
  }
}
