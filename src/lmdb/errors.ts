import { native } from './native.js';

/** LMDB return codes (lmdb.h) and the errno values LMDB passes through. */
export const MDB_CODES: Record<string, number> = {
  MDB_KEYEXIST: -30799,
  MDB_NOTFOUND: -30798,
  MDB_PAGE_NOTFOUND: -30797,
  MDB_CORRUPTED: -30796,
  MDB_PANIC: -30795,
  MDB_VERSION_MISMATCH: -30794,
  MDB_INVALID: -30793,
  MDB_MAP_FULL: -30792,
  MDB_DBS_FULL: -30791,
  MDB_READERS_FULL: -30790,
  MDB_TLS_FULL: -30789,
  MDB_TXN_FULL: -30788,
  MDB_CURSOR_FULL: -30787,
  MDB_PAGE_FULL: -30786,
  MDB_MAP_RESIZED: -30785,
  MDB_INCOMPATIBLE: -30784,
  MDB_BAD_RSLOT: -30783,
  MDB_BAD_TXN: -30782,
  MDB_BAD_VALSIZE: -30781,
  MDB_BAD_DBI: -30780,
  ENOENT: 2,
  EIO: 5,
  ENOMEM: 12,
  EACCES: 13,
  EBUSY: 16,
  EINVAL: 22,
  ENOSPC: 28,
  EAGAIN: 11,
};

export const MDB_KEYEXIST = -30799;
export const MDB_NOTFOUND = -30798;
export const MDB_MAP_FULL = -30792;
export const MDB_MAP_RESIZED = -30785;
export const MDB_INCOMPATIBLE = -30784;
export const MDB_DBS_FULL_CODE = -30791;
export const MDB_BAD_VALSIZE = -30781;
export const MDB_BAD_DBI = -30780;
export const EINVAL = 22;

const NAMES = new Map<number, string>(Object.entries(MDB_CODES).map(([n, c]) => [c, n]));

export function codeName(code: number): string {
  return NAMES.get(code) ?? (code > 0 ? `errno ${code}` : `code ${code}`);
}

/**
 * An LMDB failure: `code` is LMDB's numeric return code (0 for misuse detected by this
 * binding, e.g. a handle used after its transaction ended), `codeName` e.g. 'MDB_NOTFOUND'.
 * Message: `lmdb: mdb_put(dbi "records"): MDB_BAD_VALSIZE: key longer than 511 bytes`.
 */
export class LmdbError extends Error {
  readonly code: number;
  readonly codeName: string;
  readonly op: string;

  constructor(op: string, code: number, detail: string, options?: ErrorOptions) {
    const name = code === 0 ? '' : `${codeName(code)}: `;
    super(`lmdb: ${op}: ${name}${detail}`, options);
    this.name = 'LmdbError';
    this.code = code;
    this.codeName = code === 0 ? 'LMDB_USAGE' : codeName(code);
    this.op = op;
  }
}

/** Extra words for errors whose LMDB text is cryptic. */
export interface ErrorHints {
  key?: Uint8Array | null;
  value?: Uint8Array | null;
}

/**
 * Converts an error thrown by the addon into an LmdbError naming the failed operation.
 * `op` is e.g. `mdb_put(dbi "records")`.
 */
export function toLmdbError(e: unknown, op: string, hints?: ErrorHints): LmdbError {
  if (e instanceof LmdbError) return e;
  const err = e as { lmdbCode?: number; message?: string; batchIndex?: number } | null | undefined;
  const code = typeof err?.lmdbCode === 'number' ? err.lmdbCode : 0;
  let detail = code ? native.strerror(code).replace(`${codeName(code)}: `, '') : String(err?.message ?? e).replace(/^lmdb: /, '');
  if (typeof err?.batchIndex === 'number') op = `${op} (batch entry ${err.batchIndex})`;
  if (code === MDB_BAD_VALSIZE && hints) {
    const k = hints.key?.length;
    if (k !== undefined && k > 511) detail = `key longer than 511 bytes (${k})`;
    else if (k === 0) detail = 'empty key';
    else if (hints.value && hints.value.length > 511) detail = `value longer than 511 bytes in a DUPSORT DBI (${hints.value.length})`;
  } else if (code === MDB_MAP_FULL) {
    detail += ' (the map is full: open the env with a larger mapSize)';
  }
  return new LmdbError(op, code, detail, { cause: e });
}

export function usageError(op: string, detail: string): LmdbError {
  return new LmdbError(op, 0, detail);
}

/** Refuses a Promise returned to a synchronous txn scope (env.read, env.write, txn.nested). */
export function requireSync<T>(result: T, op: string): T {
  if (result && typeof (result as { then?: unknown }).then === 'function') {
    throw usageError(op, 'the callback must be synchronous (it returned a Promise); use beginRead()/beginWrite() for long-lived txns');
  }
  return result;
}
