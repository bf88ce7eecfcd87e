import { KVBatchWriter } from '../../lmdb/batch-writer.js';
import { HEADER_SIZE, writeHeader } from '../../lmdb/header.js';

/**
 * Collects puts whose values get a fresh native header, so many of them reach LMDB in a single
 * native call (txn.putBatch(dbi, buffer.batch)); `full` tells when to flush.
 */
export class PutBuffer extends KVBatchWriter {
  constructor(private readonly maxEntries = 8192, private readonly maxBytes = 4 << 20) {
    super(maxBytes + (64 << 10), maxEntries);
  }

  get full(): boolean {
    return this.count >= this.maxEntries || this.bytes >= this.maxBytes;
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
    const keyAt = this.reserve(keyLen, headerLen + bodyLen);
    const valAt = keyAt + keyLen;
    const buf = this.batch.buf;
    buf.set(keyBuf.subarray(keyOff, keyOff + keyLen), keyAt);
    writeHeader(buf, valAt, tsHi, tsLo, txnId, flags, extraBlocks);
    if (bodyLen > 0) buf.set(valBuf.subarray(valOff, valOff + bodyLen), valAt + headerLen);
  }
}
