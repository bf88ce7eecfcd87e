import type { KVBatch } from './batch.js';

/**
 * Packs key/value pairs into one growing buffer as a KVBatch, for txn.putBatch (many puts per
 * native call). Reuse one writer: reset() keeps the memory.
 */
export class KVBatchWriter {
  readonly batch: KVBatch;
  private used = 0;

  constructor(initialBytes = 1 << 20, initialEntries = 8192) {
    this.batch = {
      count: 0,
      buf: Buffer.allocUnsafeSlow(initialBytes),
      keyOff: new Uint32Array(initialEntries),
      keyLen: new Uint32Array(initialEntries),
      valOff: new Uint32Array(initialEntries),
      valLen: new Uint32Array(initialEntries),
    };
  }

  /** Bytes used in the buffer. */
  get bytes(): number {
    return this.used;
  }

  get count(): number {
    return this.batch.count;
  }

  reset(): void {
    this.batch.count = 0;
    this.used = 0;
  }

  /** Appends a copy of key and value. */
  add(key: Uint8Array, value: Uint8Array): void {
    const at = this.reserve(key.length, value.length);
    const b = this.batch;
    b.buf.set(key, at);
    b.buf.set(value, at + key.length);
  }

  /**
   * Reserves room for one entry and returns the offset of its key in batch.buf; the value
   * follows the key directly. The caller writes both in place (no temporary Buffers).
   */
  reserve(keyLen: number, valLen: number): number {
    const b = this.batch;
    const n = b.count;
    if (n === b.keyOff.length) this.growEntries(n * 2);
    const at = this.used;
    if (at + keyLen + valLen > b.buf.length) this.growBytes(Math.max(b.buf.length * 2, at + keyLen + valLen));
    b.keyOff[n] = at;
    b.keyLen[n] = keyLen;
    b.valOff[n] = at + keyLen;
    b.valLen[n] = valLen;
    this.used = at + keyLen + valLen;
    b.count = n + 1;
    return at;
  }

  private growBytes(size: number): void {
    const buf = Buffer.allocUnsafeSlow(size);
    this.batch.buf.copy(buf, 0, 0, this.used);
    this.batch.buf = buf;
  }

  private growEntries(size: number): void {
    const b = this.batch;
    for (const f of ['keyOff', 'keyLen', 'valOff', 'valLen'] as const) {
      const a = new Uint32Array(size);
      a.set(b[f]);
      b[f] = a;
    }
  }
}
