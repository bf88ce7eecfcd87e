/**
 * The raw addon (native/lmdb_addon.c, built by node-gyp into build/Release/lmdb_addon.node).
 * Thin one-to-one LMDB calls; use the typed wrappers in env.ts / txn.ts / cursor.ts instead.
 * LMDB failures are thrown as Error(mdb_strerror) with a numeric `lmdbCode`; misuse of a dead
 * handle is thrown as a plain Error, never a crash.
 */
import { loadAddon } from '../util/addon.js';

/** Opaque handles (JS externals owned by the addon). */
export type EnvHandle = { readonly __brand: 'lmdb-env' };
export type TxnHandle = { readonly __brand: 'lmdb-txn' };
export type CursorHandle = { readonly __brand: 'lmdb-cursor' };

export interface RawStat {
  pageSize: number;
  depth: number;
  branchPages: number;
  leafPages: number;
  overflowPages: number;
  entries: number;
}

export interface RawEnvInfo {
  lastTxnId: number;
  mapSize: number;
  lastPageNo: number;
  maxReaders: number;
  numReaders: number;
}

export interface RawEntry {
  key: Buffer;
  value: Buffer;
}

export interface NativeAddon {
  envOpen(path: string, flags: number, mode: number, mapSize: number, maxDbs: number, maxReaders: number): EnvHandle;
  envClose(env: EnvHandle): void;
  envInfo(env: EnvHandle): RawEnvInfo;
  /** madvise(MADV_DONTNEED) of this process's read-only mappings of the data file; returns the bytes of them. */
  envReleaseMap(env: EnvHandle): number;
  envStat(env: EnvHandle): RawStat;
  /** size 0 adopts the size written by the process that grew the map; refused while a txn is open. */
  envSetMapSize(env: EnvHandle, size: number): void;
  envSync(env: EnvHandle, force: boolean): void;
  envReaderCheck(env: EnvHandle): number;
  envMaxKeySize(env: EnvHandle): number;
  txnBegin(env: EnvHandle, parent: TxnHandle | null, flags: number): TxnHandle;
  txnCommit(txn: TxnHandle): void;
  txnAbort(txn: TxnHandle): void;
  txnReset(txn: TxnHandle): void;
  txnRenew(txn: TxnHandle): void;
  txnId(txn: TxnHandle): number;
  /** [dbi, persistent flags], or null when the DBI does not exist (and MDB_CREATE was not given). */
  dbiOpen(txn: TxnHandle, name: string | null, flags: number): [number, number] | null;
  dbiStat(txn: TxnHandle, dbi: number): RawStat;
  drop(txn: TxnHandle, dbi: number, del: boolean): void;
  get(txn: TxnHandle, dbi: number, key: Uint8Array): Buffer | undefined;
  /** Value length (copied into out only if it fits), -1 when absent. */
  getInto(txn: TxnHandle, dbi: number, key: Uint8Array, out: Uint8Array): number;
  /** false when refused with MDB_KEYEXIST. */
  put(txn: TxnHandle, dbi: number, key: Uint8Array, value: Uint8Array, flags: number): boolean;
  /** false when not found. */
  del(txn: TxnHandle, dbi: number, key: Uint8Array, value: Uint8Array | null): boolean;
  putBatch(
    txn: TxnHandle, dbi: number, buf: Uint8Array,
    keyOff: Uint32Array, keyLen: Uint32Array, valOff: Uint32Array, valLen: Uint32Array,
    count: number, flags: number,
  ): number;
  cursorOpen(txn: TxnHandle, dbi: number): CursorHandle;
  cursorClose(cur: CursorHandle): void;
  cursorGet(cur: CursorHandle, op: number, key: Uint8Array | null, value: Uint8Array | null): RawEntry | undefined;
  cursorPut(cur: CursorHandle, key: Uint8Array, value: Uint8Array, flags: number): boolean;
  cursorDel(cur: CursorHandle, flags: number): void;
  cursorCount(cur: CursorHandle): number;
  /**
   * Fills buf (4-byte aligned) with records {u32 keyLen, u32 valLen, key, pad4, value, pad4}.
   * mode 0 continue, 1 first, 2 SET_RANGE(key). Returns the record count (0 = end), or -needed
   * when the next entry alone does not fit (the cursor stays on it).
   */
  cursorScan(cur: CursorHandle, buf: Uint8Array, mode: 0 | 1 | 2, key: Uint8Array | null, valuePrefix?: number): number;
  strerror(code: number): string;
  version(): string;
  /** glibc mallopt(param, value); false when refused. */
  mallocOption(param: number, value: number): boolean;
}

function requireAddon(): NativeAddon {
  const loaded = loadAddon('lmdb_addon');
  if ('path' in loaded) return loaded.addon as NativeAddon;
  throw new Error(`lmdb: native addon not found (looked for ${loaded.looked.join(', ')}); run npm ci / node-gyp rebuild`);
}

export const native: NativeAddon = requireAddon();
