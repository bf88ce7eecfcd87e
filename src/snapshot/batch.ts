import type { KVBatch } from '../lmdb/batch.js';

/**
 * A KVBatch whose entries also carry a timestamp (nanoseconds since the epoch, split in two
 * unsigned 32-bit halves so no BigInt is allocated per entry) and the snapshot KV flags
 * (bit 0x01 = deleted). Values never include the native header.
 */
export interface EntryBatch extends KVBatch {
  tsHi: Uint32Array;
  tsLo: Uint32Array;
  flags: Uint8Array;
}

export const FLAG_DELETED = 0x01;

/** Combines the two timestamp halves of entry i into a bigint (for display and tests, not hot loops). */
export function entryTimestamp(batch: EntryBatch, i: number): bigint {
  return (BigInt(batch.tsHi[i]!) << 32n) | BigInt(batch.tsLo[i]!);
}
