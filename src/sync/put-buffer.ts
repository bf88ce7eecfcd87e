import type { KVBatch } from '../lmdb/batch.js';
import { HEADER_SIZE, writeHeader } from '../lmdb/header.js';

/**
 * Collects puts as one packed KVBatch so many of them reach LMDB in a single native call.
 * Values are written with a fresh native header in front.
 */
export class PutBuffer implements KVBatch {
  count = 0;
  buf: Buffer;
  keyOff: Uint32Array;
  keyLen: Uint32Array;
  valOff: Uint32Array;
  valLen: Uint32Array;
  private used = 0;

  constructor(private readonly maxEntries = 8192, bytes = 4 << 20) {
    this.buf = Buffer.allocUnsafe(bytes);
    this.keyOff = new Uint32Array(maxEntries);
    this.keyLen = new Uint32Array(maxEntries);
    this.valOff = new Uint32Array(maxEntries);
    this.valLen = new Uint32Array(maxEntries);
  }

  get bytes(): number {
    return this.used;
  }

  get full(): boolean {
    return this.count >= this.maxEntries || this.used >= this.buf.length - 4096;
  }

  /** Reserves room for a key and a value of the given lengths; returns the offsets to write them at. */
  reserve(keyLen: number, valLen: number): { keyAt: number; valAt: number } {
    const need = keyLen + valLen;
    if (this.used + need > this.buf.length) this.grow(this.used + need);
    const i = this.count++;
    const keyAt = this.used;
    const valAt = keyAt + keyLen;
    this.keyOff[i] = keyAt;
    this.keyLen[i] = keyLen;
    this.valOff[i] = valAt;
    this.valLen[i] = valLen;
    this.used = valAt + valLen;
    return { keyAt, valAt };
  }

  /**
   * Adds key → native header (timestamp halves, txn id, flags, `extraBlocks` empty extension blocks)
   * followed by the value; a deleted entry gets no value.
   */
  addWithHeader(
    keyBuf: Uint8Array, keyOff: number, keyLen: number, valBuf: Uint8Array, valOff: number, valLen: number,
    tsHi: number, tsLo: number, txnId: number, flags: number, extraBlocks: number,
  ): void {
    const headerLen = HEADER_SIZE + extraBlocks * 8;
    const bodyLen = (flags & 0x01) !== 0 ? 0 : valLen;
    const { keyAt, valAt } = this.reserve(keyLen, headerLen + bodyLen);
    const buf = this.buf;
    buf.set(keyBuf.subarray(keyOff, keyOff + keyLen), keyAt);
    writeHeader(buf, valAt, tsHi, tsLo, txnId, flags, extraBlocks);
    if (bodyLen > 0) buf.set(valBuf.subarray(valOff, valOff + bodyLen), valAt + headerLen);
  }

  reset(): void {
    this.count = 0;
    this.used = 0;
  }

  private grow(min: number): void {
    const next = Buffer.allocUnsafe(Math.max(min, this.buf.length * 2));
    this.buf.copy(next, 0, 0, this.used);
    this.buf = next;
  }
}
