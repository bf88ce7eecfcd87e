/**
 * A batch of key/value entries packed into one buffer, described by parallel typed arrays.
 *
 * Why not an array of objects: allocating a JS object (or Buffer) per entry is what makes
 * iterating a million-entry LMDB ten times slower; batches keep the hot loops allocation-free.
 * Entry i's key is buf[keyOff[i], keyOff[i] + keyLen[i]), its value likewise.
 * A batch (and its buffer) is only valid until the producer is asked for the next one.
 */
export interface KVBatch {
  count: number;
  buf: Buffer;
  keyOff: Uint32Array;
  keyLen: Uint32Array;
  valOff: Uint32Array;
  valLen: Uint32Array;
}
