import { existsSync, mkdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { native, type EnvHandle, type RawStat, type TxnHandle } from './native.js';
import { MDB_NOSUBDIR, MDB_NOSYNC, MDB_NOTLS, MDB_RDONLY } from './flags.js';
import { LmdbError, MDB_MAP_RESIZED, requireSync, toLmdbError, usageError } from './errors.js';
import { Dbi } from './dbi.js';
import { Txn } from './txn.js';

export interface EnvOptions {
  /** The path is the data file itself (lock file: path + '-lock'), not a directory. */
  noSubdir?: boolean;
  /** Create the directory / data file when missing (otherwise a missing LMDB is an error). */
  create?: boolean;
  /** Map size in bytes (LMDB keeps the larger of this and the size recorded in the file). */
  mapSize?: number;
  /** Maximum number of named DBIs (default 128). */
  maxDbs?: number;
  /** Mode of a created directory (default 0o775). */
  dirMask?: number;
  /** Mode of created files (default 0o664). */
  fileMask?: number;
  readOnly?: boolean;
  /** MDB_NOSYNC: do not fsync on commit (faster, loses durability on a crash; not corruption). */
  noSync?: boolean;
  /** Maximum reader slots when creating the lock file (LMDB default 126). */
  maxReaders?: number;
}

export interface EnvInfo {
  lastTxnId: number;
  mapSize: number;
  lastPageNo: number;
  maxReaders: number;
  numReaders: number;
}

export type Stat = RawStat;

export interface OpenDbiOptions {
  /** Create the DBI when missing (needs a write txn; not allowed while one is open). */
  create?: boolean;
  /** DBI flags used when creating (MDB_DUPSORT, MDB_INTEGERKEY, ...); an existing DBI keeps its own. */
  flags?: number;
}

/** Envs open in this process, by real data-file path: LMDB forbids opening one twice per process. */
const openEnvs = new Map<string, Env>();

const RETRIES_ON_MAP_RESIZED = 3;

/**
 * An LMDB environment. Opened with MDB_NOTLS (read txns are not tied to threads) and never
 * MDB_NOLOCK, so other processes (PowerDNS, Go Lightning Stream) can share it.
 */
export class Env {
  /** @internal */ h: EnvHandle;
  readonly path: string;
  readonly readOnly: boolean;
  /** @internal the open write txn (top-level), if any */ activeWrite: Txn | null = null;
  /** @internal live (not ended) txns, to end them on close */ readonly liveTxns = new Set<Txn>();
  /**
   * @internal the txn that opened DBI handles and has not ended yet. LMDB: such a txn must end
   * before another txn of the process calls mdb_dbi_open (both would take the same free slot).
   */
  dbiOpener: Txn | null = null;
  private readonly dbis = new Map<string | null, Dbi>();
  private readonly registryKey: string;
  private isClosed = false;

  private constructor(h: EnvHandle, path: string, readOnly: boolean, registryKey: string) {
    this.h = h;
    this.path = path;
    this.readOnly = readOnly;
    this.registryKey = registryKey;
  }

  static open(path: string, opts: EnvOptions = {}): Env {
    const abs = resolve(path);
    const op = `mdb_env_open(${JSON.stringify(abs)})`;
    const dataFile = opts.noSubdir ? abs : join(abs, 'data.mdb');
    if (!existsSync(dataFile)) {
      if (!opts.create || opts.readOnly) {
        const why = opts.readOnly ? 'and the env is opened read-only' : 'and create is not set';
        throw new LmdbError(op, 2, `no LMDB at ${JSON.stringify(abs)} (${dataFile} does not exist) ${why}`);
      }
      mkdirSync(opts.noSubdir ? dirname(abs) : abs, { recursive: true, mode: opts.dirMask ?? 0o775 });
    } else if (!opts.noSubdir && !statSync(abs).isDirectory()) {
      throw new LmdbError(op, 20, `${JSON.stringify(abs)} is not a directory (use noSubdir for a single-file LMDB)`);
    }
    const key = existsSync(dataFile) ? realpathSync(dataFile) : dataFile;
    if (openEnvs.has(key)) {
      throw usageError(op, `${JSON.stringify(abs)} is already open in this process (LMDB forbids opening an env twice per process; share the Env)`);
    }
    let flags = MDB_NOTLS;
    if (opts.noSubdir) flags |= MDB_NOSUBDIR;
    if (opts.readOnly) flags |= MDB_RDONLY;
    if (opts.noSync) flags |= MDB_NOSYNC;
    let h: EnvHandle;
    try {
      h = native.envOpen(abs, flags, opts.fileMask ?? 0o664, opts.mapSize ?? 0, opts.maxDbs ?? 128, opts.maxReaders ?? 0);
    } catch (e) {
      throw toLmdbError(e, op);
    }
    const env = new Env(h, abs, !!opts.readOnly, realpathSync(dataFile));
    openEnvs.set(env.registryKey, env);
    return env;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Ends every open txn (aborting them) and closes the env. Idempotent. */
  close(): void {
    if (this.isClosed) return;
    for (const t of [...this.liveTxns]) t._markEnded('aborted (env closed)');
    native.envClose(this.h);
    this.isClosed = true;
    for (const d of this.dbis.values()) d.closed = true;
    this.dbis.clear();
    openEnvs.delete(this.registryKey);
  }

  private check(op: string): void {
    if (this.isClosed) throw usageError(op, `env ${JSON.stringify(this.path)} already closed`);
  }

  /** mdb_env_info: last committed txn id, map size... (no txn needed). */
  info(): EnvInfo {
    this.check('mdb_env_info');
    return native.envInfo(this.h);
  }

  /**
   * Unmaps the data file's pages from this process (they stay in the page cache, shared with the application;
   * the next read maps them again), so a long scan does not leave our RSS the size of the file.
   */
  releaseMappedPages(): void {
    this.check('release mapped pages');
    native.envReleaseMap(this.h);
  }

  /** mdb_env_stat: statistics of the main (unnamed) DB. */
  stat(): Stat {
    this.check('mdb_env_stat');
    return native.envStat(this.h);
  }

  /** mdb_env_sync (useful with noSync). */
  sync(force = true): void {
    this.check('mdb_env_sync');
    try {
      native.envSync(this.h, force);
    } catch (e) {
      throw toLmdbError(e, 'mdb_env_sync');
    }
  }

  /** mdb_reader_check: clears reader slots of dead processes; returns how many. */
  readerCheck(): number {
    this.check('mdb_reader_check');
    return native.envReaderCheck(this.h);
  }

  get maxKeySize(): number {
    this.check('mdb_env_get_maxkeysize');
    return native.envMaxKeySize(this.h);
  }

  /**
   * mdb_env_set_mapsize: 0 adopts the size recorded by the process that last grew the map.
   * Refused while a txn of this env is open in this process (remapping would pull the pages
   * out from under it).
   */
  setMapSize(size: number): void {
    const op = `mdb_env_set_mapsize(${JSON.stringify(this.path)})`;
    this.check(op);
    const open = [...this.liveTxns].filter((t) => t.state !== 'reset').length;
    if (open > 0) throw usageError(op, `${open} transaction(s) of this env are open in this process; end them first`);
    try {
      native.envSetMapSize(this.h, size);
    } catch (e) {
      throw toLmdbError(e, op);
    }
  }

  /**
   * @internal Begins an LMDB txn; when another process grew the map (MDB_MAP_RESIZED) adopts
   * the new size (mdb_env_set_mapsize(env, 0)) and retries.
   */
  _begin(parent: TxnHandle | null, flags: number): TxnHandle {
    for (let attempt = 0; ; attempt++) {
      try {
        return native.txnBegin(this.h, parent, flags);
      } catch (e) {
        const err = toLmdbError(e, `mdb_txn_begin(${JSON.stringify(this.path)})`);
        if (err.code !== MDB_MAP_RESIZED || parent || attempt >= RETRIES_ON_MAP_RESIZED) throw err;
        this._adoptMapSize(err);
      }
    }
  }

  /** @internal */
  _adoptMapSize(cause: LmdbError): void {
    const open = [...this.liveTxns].filter((t) => t.state !== 'reset').length;
    if (open > 0) {
      throw new LmdbError(
        cause.op,
        MDB_MAP_RESIZED,
        `another process grew the map, and it cannot be adopted while ${open} transaction(s) of this env are open in this process; end them and retry`,
        { cause },
      );
    }
    this.setMapSize(0);
  }

  beginRead(): Txn {
    this.check('beginRead');
    return new Txn(this, null, true);
  }

  /** Begins the (single per process) top-level write txn. Nested: txn.child(). */
  beginWrite(): Txn {
    const op = `beginWrite(${JSON.stringify(this.path)})`;
    this.check(op);
    if (this.readOnly) throw usageError(op, 'env opened read-only');
    if (this.activeWrite) {
      throw usageError(op, 'a write transaction is already open on this env in this process (LMDB allows one; use txn.child() to nest)');
    }
    return new Txn(this, null, false);
  }

  /** Runs fn in a read txn, ended when fn returns or throws. fn must be synchronous. */
  read<T>(fn: (txn: Txn) => T): T {
    const txn = this.beginRead();
    try {
      return requireSync(fn(txn), 'env.read');
    } finally {
      if (txn.isActive) txn.abort();
    }
  }

  /** Runs fn in a write txn: commits when it returns, aborts when it throws. fn must be synchronous. */
  write<T>(fn: (txn: Txn) => T): T {
    return this.beginWrite()._run(fn, 'env.write');
  }

  /** The cached handle of a DBI, if opened already. */
  cachedDbi(name: string | null): Dbi | undefined {
    return this.dbis.get(name);
  }

  /** @internal */
  _cacheDbi(dbi: Dbi): void {
    this.dbis.set(dbi.name, dbi);
  }

  /** @internal */
  _forgetDbi(dbi: Dbi): void {
    dbi.closed = true;
    if (this.dbis.get(dbi.name) === dbi) this.dbis.delete(dbi.name);
  }

  /**
   * Opens a DBI (null = the unnamed main DB) and caches the handle for the env's lifetime.
   * Returns null when it does not exist and create is not requested. Opening an existing DBI
   * needs no knowledge of its flags: read them from dbi.flags. Txns begun before a DBI was first
   * opened cannot use it (LMDB answers EINVAL): open DBIs up front.
   */
  openDbi(name: string | null, opts: OpenDbiOptions = {}): Dbi | null {
    const cached = this.dbis.get(name);
    if (cached) return cached;
    const label = name === null ? 'main dbi' : `dbi ${JSON.stringify(name)}`;
    const op = `mdb_dbi_open(${label})`;
    this.check(op);
    if (opts.create && this.activeWrite) {
      throw usageError(op, 'cannot create a DBI in its own txn while a write transaction is open; use txn.openDbi() or open it before');
    }
    const txn = opts.create ? this.beginWrite() : this.beginRead();
    return txn._run((t) => t.openDbi(name, opts), 'env.openDbi');
  }

  /** Names of the named DBIs, in LMDB order (see Txn.listDbis), read in a short read txn. */
  listDbis(): string[] {
    return this.read((txn) => txn.listDbis());
  }
}
