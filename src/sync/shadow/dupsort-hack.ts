/**
 * dupsort_hack (shadow mode, MDB_DUPSORT DBIs): every (key, value) duplicate becomes one unique
 * shadow key `key ‖ 00 00 00 00 ‖ value (cut so the whole stays ≤ 511 bytes) ‖ len(key)`; the value
 * is kept whole. Byte-compatible with the Go implementation's `dupsort_hack_v1` transform.
 */
import { LMDB_MAX_KEY_SIZE } from '../../lmdb/flags.js';

export const DUPSORT_HACK_TRANSFORM = 'dupsort_hack_v1';
export const DUPSORT_HACK_MAX_KEY_SIZE = 255;

export function dupsortHackEncode(key: Uint8Array, value: Uint8Array, dbiName: string): Buffer {
  if (key.length === 0) throw new Error(`DBI ${dbiName}: dupsort_hack does not support empty keys`);
  if (key.length > DUPSORT_HACK_MAX_KEY_SIZE) {
    throw new Error(`DBI ${dbiName}: key of ${key.length} bytes exceeds the dupsort_hack maximum of ${DUPSORT_HACK_MAX_KEY_SIZE}`);
  }
  const room = LMDB_MAX_KEY_SIZE - key.length - 4 - 1;
  const part = value.length > room ? room : value.length;
  const out = Buffer.alloc(key.length + 4 + part + 1);
  out.set(key, 0);
  out.set(value.subarray(0, part), key.length + 4);
  out[out.length - 1] = key.length;
  return out;
}

/** A key that is not a dupsort_hack key: the snapshot holding it is corrupt. */
export class DupsortHackKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DupsortHackKeyError';
  }
}

/** The original key inside a dupsort_hack shadow key at buf[off, off+len). */
export function dupsortHackKeyLength(buf: Uint8Array, off: number, len: number, dbiName: string): number {
  if (len < 6) throw new DupsortHackKeyError(`DBI ${dbiName}: not a dupsort_hack key (${len} bytes)`);
  const keyLen = buf[off + len - 1]!;
  if (keyLen === 0 || len < keyLen + 5) throw new DupsortHackKeyError(`DBI ${dbiName}: not a dupsort_hack key (bad key length ${keyLen})`);
  for (let i = 0; i < 4; i++) {
    if (buf[off + keyLen + i] !== 0) throw new DupsortHackKeyError(`DBI ${dbiName}: not a dupsort_hack key (no separator)`);
  }
  return keyLen;
}
