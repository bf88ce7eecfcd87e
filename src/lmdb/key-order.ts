import { MDB_INTEGERKEY, MDB_REVERSEKEY } from './flags.js';

/**
 * The order in which LMDB iterates a DBI, for merge-joins and snapshot key-order checks. Pure code
 * (no native addon), so the snapshot decoder can use it.
 */

/** Compares key a (in bufA) with key b (in bufB) in the order LMDB iterates the DBI: negative when a sorts first. */
export type KeyComparator = (bufA: Buffer, offA: number, lenA: number, bufB: Buffer, offB: number, lenB: number) => number;

/** Below this many bytes (both keys together) a JS loop compares faster than Buffer#compare (a native call). */
const SHORT_KEYS = 64;

/** Plain DBIs: bytewise, a prefix sorts before its extensions (memcmp, then length). */
export const bytewiseCompare: KeyComparator = (bufA, offA, lenA, bufB, offB, lenB) => {
  if (lenA + lenB > SHORT_KEYS) return bufA.compare(bufB, offB, offB + lenB, offA, offA + lenA);
  const n = lenA < lenB ? lenA : lenB;
  for (let i = 0; i < n; i++) {
    const d = bufA[offA + i]! - bufB[offB + i]!;
    if (d !== 0) return d;
  }
  return lenA - lenB;
};

/** MDB_REVERSEKEY: bytes compared from the last one backwards, then length. */
export const reverseKeyCompare: KeyComparator = (bufA, offA, lenA, bufB, offB, lenB) => {
  const n = lenA < lenB ? lenA : lenB;
  for (let i = 1; i <= n; i++) {
    const d = bufA[offA + lenA - i]! - bufB[offB + lenB - i]!;
    if (d !== 0) return d;
  }
  return lenA - lenB;
};

/**
 * MDB_INTEGERKEY keys are native (little-endian here) unsigned ints of 4 or 8 bytes, ordered numerically;
 * comparing from the most significant byte down is that order without building numbers. LMDB requires
 * every key of a DBI to have the same size (see integerKeySizeProblem); mixed sizes order by size here
 * only so that the comparison stays a total order.
 */
export const integerKeyCompare: KeyComparator = (bufA, offA, lenA, bufB, offB, lenB) => {
  if (lenA !== lenB) return lenA - lenB;
  for (let i = lenA - 1; i >= 0; i--) {
    const d = bufA[offA + i]! - bufB[offB + i]!;
    if (d !== 0) return d;
  }
  return 0;
};

export function comparatorForFlags(dbiFlags: number): KeyComparator {
  if ((dbiFlags & MDB_INTEGERKEY) !== 0) return integerKeyCompare;
  if ((dbiFlags & MDB_REVERSEKEY) !== 0) return reverseKeyCompare;
  return bytewiseCompare;
}

/**
 * Why a key of `len` bytes cannot be in an MDB_INTEGERKEY DBI whose other keys have `sizeOfOthers`
 * bytes (undefined when unknown), or undefined when it can. LMDB itself does not check this: a wrong
 * size silently breaks the DBI's order.
 */
export function integerKeySizeProblem(len: number, sizeOfOthers?: number): string | undefined {
  if (len !== 4 && len !== 8) return `a key of ${len} bytes in an MDB_INTEGERKEY DBI (must be 4 or 8 bytes)`;
  if (sizeOfOthers !== undefined && len !== sizeOfOthers) {
    return `a key of ${len} bytes in an MDB_INTEGERKEY DBI whose keys have ${sizeOfOthers} bytes`;
  }
  return undefined;
}
