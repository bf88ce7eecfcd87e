import { MDB_INTEGERKEY } from '../lmdb/flags.js';

/** Compares key a (in bufA) with key b (in bufB) in the order LMDB iterates the DBI. */
export type KeyComparator = (bufA: Buffer, offA: number, lenA: number, bufB: Buffer, offB: number, lenB: number) => number;

export const bytewiseCompare: KeyComparator = (bufA, offA, lenA, bufB, offB, lenB) =>
  bufA.compare(bufB, offB, offB + lenB, offA, offA + lenA);

/**
 * MDB_INTEGERKEY keys are native (little-endian here) unsigned ints of 4 or 8 bytes, ordered numerically;
 * comparing from the most significant byte down is that order without building numbers.
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
  return (dbiFlags & MDB_INTEGERKEY) !== 0 ? integerKeyCompare : bytewiseCompare;
}
