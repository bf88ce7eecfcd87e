/**
 * Scanning a DBI in chunks that can resume in a later transaction: the sweeper deletes in short write
 * txns, and the dump reads with short read txns, so neither holds a txn (and the LMDB pages it pins, or
 * the write lock) for the length of a whole DBI. Each chunk restarts at the last entry it visited
 * (MDB_SET_RANGE, then skipping what was already visited), which stays correct when that entry was
 * deleted or other entries were added in between.
 */
import type { Dbi, KVBatch, Txn } from '../lmdb/index.js';
import { MDB_DUPSORT, MDB_INTEGERDUP, MDB_REVERSEDUP } from '../lmdb/index.js';

/** Where a chunk stopped: the last visited entry (the value only matters in DUPSORT DBIs). */
export interface ScanPosition {
  key: Buffer;
  value: Buffer | undefined;
}

export interface ChunkResult {
  /** The last entry visited, or the position passed in when nothing was visited. */
  last: ScanPosition | undefined;
  /** The end of the DBI was reached: no entry left after `last`. */
  done: boolean;
  visited: number;
}

/**
 * Whether a scan of this DBI can resume by position: DUPSORT DBIs whose duplicates are not in bytewise
 * order (MDB_INTEGERDUP, MDB_REVERSEDUP) cannot, since skipping the visited duplicates compares bytes.
 */
export function canResume(dbi: Dbi): boolean {
  return (dbi.flags & MDB_DUPSORT) === 0 || (dbi.flags & (MDB_INTEGERDUP | MDB_REVERSEDUP)) === 0;
}

function visitedAlready(b: KVBatch, i: number, after: ScanPosition, dupsort: boolean): boolean {
  const key = b.buf.subarray(b.keyOff[i], b.keyOff[i]! + b.keyLen[i]!);
  if (!key.equals(after.key)) return false;
  if (!dupsort || after.value === undefined) return true;
  // Duplicates are in bytewise order (canResume): visited when this value <= the last visited one.
  return b.buf.compare(after.value, 0, after.value.length, b.valOff[i], b.valOff[i]! + b.valLen[i]!) <= 0;
}

function positionAt(b: KVBatch, i: number, dupsort: boolean): ScanPosition {
  const key = Buffer.from(b.buf.subarray(b.keyOff[i], b.keyOff[i]! + b.keyLen[i]!));
  const value = dupsort ? Buffer.from(b.buf.subarray(b.valOff[i], b.valOff[i]! + b.valLen[i]!)) : undefined;
  return { key, value };
}

/**
 * Visits, inside txn, at most `limit` entries of dbi that come after `after` (from the first entry when
 * undefined), in LMDB order. visit(batch, i) sees entry i of a bulk-scan batch, valid only during the
 * call. Pass the returned `last` to the next chunk, in any later txn.
 */
export function scanChunk(
  txn: Txn, dbi: Dbi, after: ScanPosition | undefined, limit: number,
  visit: (batch: KVBatch, i: number) => void, batchBytes = 64 << 10,
): ChunkResult {
  const dupsort = (dbi.flags & MDB_DUPSORT) !== 0;
  let skipping = after !== undefined;
  let last = after;
  let visited = 0;
  for (const b of txn.scan(dbi, { start: after?.key, batchBytes })) {
    let lastIndex = -1;
    for (let i = 0; i < b.count; i++) {
      if (skipping) {
        if (visitedAlready(b, i, after!, dupsort)) continue;
        skipping = false;
      }
      if (visited === limit) {
        if (lastIndex >= 0) last = positionAt(b, lastIndex, dupsort);
        return { last, done: false, visited };
      }
      visit(b, i);
      visited++;
      lastIndex = i;
    }
    if (lastIndex >= 0) last = positionAt(b, lastIndex, dupsort);
  }
  return { last, done: true, visited };
}
