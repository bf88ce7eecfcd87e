/** LMDB constants (values from lmdb.h 0.9.x). */

// Env flags (mdb_env_open)
export const MDB_FIXEDMAP = 0x01;
export const MDB_NOSUBDIR = 0x4000;
export const MDB_NOSYNC = 0x10000;
export const MDB_RDONLY = 0x20000;
export const MDB_NOMETASYNC = 0x40000;
export const MDB_WRITEMAP = 0x80000;
export const MDB_MAPASYNC = 0x100000;
export const MDB_NOTLS = 0x200000;
export const MDB_NOLOCK = 0x400000;
export const MDB_NORDAHEAD = 0x800000;
export const MDB_NOMEMINIT = 0x1000000;

/** The longest key (and DUPSORT value) of Debian's liblmdb 0.9 (MDB_MAXKEYSIZE); a key also has at least 1 byte. */
export const LMDB_MAX_KEY_SIZE = 511;

// DBI flags (mdb_dbi_open); the first six are persistent and reported by Dbi.flags
export const MDB_REVERSEKEY = 0x02;
export const MDB_DUPSORT = 0x04;
export const MDB_INTEGERKEY = 0x08;
export const MDB_DUPFIXED = 0x10;
export const MDB_INTEGERDUP = 0x20;
export const MDB_REVERSEDUP = 0x40;
export const MDB_CREATE = 0x40000;
/** The DBI flags stored in the database (what mdb_dbi_flags reports). */
export const MDB_PERSISTENT_FLAGS =
  MDB_REVERSEKEY | MDB_DUPSORT | MDB_INTEGERKEY | MDB_DUPFIXED | MDB_INTEGERDUP | MDB_REVERSEDUP;

// Write flags (mdb_put, mdb_cursor_put, mdb_cursor_del)
export const MDB_NOOVERWRITE = 0x10;
export const MDB_NODUPDATA = 0x20;
export const MDB_CURRENT = 0x40;
export const MDB_RESERVE = 0x10000;
export const MDB_APPEND = 0x20000;
export const MDB_APPENDDUP = 0x40000;
export const MDB_MULTIPLE = 0x80000;

// Cursor operations (MDB_cursor_op)
export const MDB_FIRST = 0;
export const MDB_FIRST_DUP = 1;
export const MDB_GET_BOTH = 2;
export const MDB_GET_BOTH_RANGE = 3;
export const MDB_GET_CURRENT = 4;
export const MDB_LAST = 6;
export const MDB_LAST_DUP = 7;
export const MDB_NEXT = 8;
export const MDB_NEXT_DUP = 9;
export const MDB_NEXT_NODUP = 11;
export const MDB_PREV = 12;
export const MDB_PREV_DUP = 13;
export const MDB_PREV_NODUP = 14;
export const MDB_SET = 15;
export const MDB_SET_KEY = 16;
export const MDB_SET_RANGE = 17;

/** Longest key vanilla LMDB 0.9 accepts (mdb_env_get_maxkeysize). */
export const MDB_MAXKEYSIZE = 511;

const DBI_FLAG_NAMES: [number, string][] = [
  [MDB_REVERSEKEY, 'REVERSEKEY'],
  [MDB_DUPSORT, 'DUPSORT'],
  [MDB_INTEGERKEY, 'INTEGERKEY'],
  [MDB_DUPFIXED, 'DUPFIXED'],
  [MDB_INTEGERDUP, 'INTEGERDUP'],
  [MDB_REVERSEDUP, 'REVERSEDUP'],
];

/** 'DUPSORT|INTEGERKEY' (or '0') for logs and error messages. */
export function dbiFlagNames(flags: number): string {
  const names = DBI_FLAG_NAMES.filter(([bit]) => flags & bit).map(([, n]) => n);
  return names.length ? names.join('|') : '0';
}

/**
 * Encodes an INTEGERKEY key: LMDB compares such keys as native unsigned integers
 * (4 bytes = unsigned int, 8 bytes = size_t), in the machine's byte order.
 */
export function intKey(n: number | bigint, size: 4 | 8 = 8): Buffer {
  const b = Buffer.allocUnsafe(size);
  const le = isLittleEndian;
  if (size === 4) {
    if (le) b.writeUInt32LE(Number(n)); else b.writeUInt32BE(Number(n));
  } else if (le) b.writeBigUInt64LE(BigInt(n)); else b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** Decodes a 4- or 8-byte INTEGERKEY key (native byte order) as a bigint. */
export function readIntKey(key: Uint8Array): bigint {
  const b = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  if (b.length === 4) return BigInt(isLittleEndian ? b.readUInt32LE() : b.readUInt32BE());
  if (b.length === 8) return isLittleEndian ? b.readBigUInt64LE() : b.readBigUInt64BE();
  throw new RangeError(`lmdb: an INTEGERKEY key has 4 or 8 bytes, not ${b.length}`);
}

const isLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
