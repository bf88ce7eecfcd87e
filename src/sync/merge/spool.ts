import { closeSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { EntryBatch } from '../../snapshot/batch.js';
import type { SnapshotEvent, SnapshotMeta } from '../../snapshot/types.js';

/**
 * A decoded, validated snapshot waiting to be merged. Decompressing and decoding happen while it is
 * filled, outside any LMDB transaction; the merge then reads it back synchronously inside one short
 * write txn, so the application's writers wait only for the merge itself, never for the network,
 * gunzip or the protobuf parser.
 *
 * Why hand-written: entries are kept in the engine's batch layout (typed arrays + one data buffer per
 * block), so reading a block back costs one read and a prefix sum, no parsing. Memory is bounded:
 * past `memoryLimit` bytes the blocks go to a temporary file that is unlinked as soon as it is created
 * (a killed process leaves nothing behind; the kernel frees it with the descriptor).
 *
 * Block layout (little-endian u32 unless noted): count, dataBytes, keyLen[count], valLen[count],
 * tsHi[count], tsLo[count], flags[count] (u8, padded to 4 bytes), then each entry's key and value.
 */
export interface SpooledDbi {
  name: string;
  flags: number;
  transform: string;
  count: number;
  /** Index range of its blocks. */
  firstBlock: number;
  blockCount: number;
}

export interface SpoolOptions {
  /** Bytes of blocks kept in memory before moving them to a temporary file. Default 32 MiB. */
  memoryLimit?: number;
  /** Where the temporary file is created. Default os.tmpdir(). */
  dir?: string;
  /** Entries per block at most. Default 4096 (tests use a few, to get many blocks from little data). */
  blockEntries?: number;
}

const BLOCK_ENTRIES = 4096;
const BLOCK_DATA_BYTES = 1 << 20;
const DEFAULT_MEMORY_LIMIT = 32 << 20;

function blockHeaderBytes(count: number): number {
  return 8 + count * 16 + ((count + 3) & ~3);
}

export class SnapshotSpool {
  readonly dbis: SpooledDbi[] = [];
  meta: SnapshotMeta | undefined;
  /** Entries spooled, and bytes of blocks (in memory or on disk). */
  entries = 0;
  bytes = 0;
  private readonly memBlocks: Buffer[] = [];
  /** File mode: offset and length of every block. */
  private readonly fileBlocks: Array<[offset: number, length: number]> = [];
  private fd: number | undefined;
  private fileSize = 0;
  private readonly memoryLimit: number;
  private readonly dir: string;
  private readonly blockEntries: number;
  /** The block being filled. */
  private readonly staging: {
    count: number; used: number; data: Buffer;
    keyLen: Uint32Array; valLen: Uint32Array; tsHi: Uint32Array; tsLo: Uint32Array; flags: Uint8Array;
  };
  private closed = false;
  private current: SpooledDbi | undefined;
  /** File mode: the one buffer every block is assembled in before it is written (no garbage per block). */
  private fileBlock: Buffer | undefined;

  constructor(opts: SpoolOptions = {}) {
    this.memoryLimit = opts.memoryLimit ?? DEFAULT_MEMORY_LIMIT;
    this.dir = opts.dir ?? tmpdir();
    const n = (this.blockEntries = Math.max(1, opts.blockEntries ?? BLOCK_ENTRIES));
    this.staging = {
      count: 0, used: 0, data: Buffer.allocUnsafeSlow(BLOCK_DATA_BYTES),
      keyLen: new Uint32Array(n), valLen: new Uint32Array(n), tsHi: new Uint32Array(n), tsLo: new Uint32Array(n), flags: new Uint8Array(n),
    };
  }

  /** Whether the blocks went to a temporary file. */
  get onDisk(): boolean {
    return this.fd !== undefined;
  }

  /**
   * Spools a whole decoded snapshot; resolves once its `end` event (the snapshot is complete and
   * valid) was seen, and rejects with the decoder's error otherwise.
   */
  async fill(events: AsyncIterable<SnapshotEvent>, signal?: AbortSignal): Promise<this> {
    let open = false;
    for await (const ev of events) {
      signal?.throwIfAborted();
      switch (ev.type) {
        case 'dbi-start':
          this.beginDbi(ev.name);
          open = true;
          break;
        case 'entries':
          this.addEntries(ev.batch);
          break;
        case 'dbi-end':
          if (!open) break;
          this.endDbi(ev.name, ev.flags, ev.transform, ev.count);
          open = false;
          break;
        case 'end':
          this.meta = ev.meta;
          break;
        default:
          break;
      }
    }
    if (!this.meta) throw new Error('snapshot stream ended without its end event');
    return this;
  }

  /** Starts a DBI whose entries come next (addEntries / addEntry), ended by endDbi. */
  beginDbi(name: string): void {
    this.current = { name, flags: 0, transform: '', count: 0, firstBlock: this.blockCount, blockCount: 0 };
  }

  /** Ends the DBI begun last; count: its entries as its writer declared them (checked by the decoder). */
  endDbi(name: string, flags: number, transform: string, count: number): SpooledDbi {
    const current = this.current;
    if (!current) throw new Error('spool: endDbi without beginDbi');
    this.flushBlock();
    Object.assign(current, { name, flags, transform, count });
    current.blockCount = this.blockCount - current.firstBlock;
    this.dbis.push(current);
    this.current = undefined;
    return current;
  }

  /** The entries of one spooled DBI, block by block; each batch is valid until the next is requested. */
  *batches(dbi: SpooledDbi): Generator<EntryBatch> {
    const reader = new BlockReader();
    for (let b = dbi.firstBlock; b < dbi.firstBlock + dbi.blockCount; b++) {
      yield reader.parse(this.readBlock(b, reader));
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.memBlocks.length = 0;
    this.fileBlock = undefined;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private get blockCount(): number {
    return this.fd === undefined ? this.memBlocks.length : this.fileBlocks.length;
  }

  /** Copies the batch's entries into the block being filled (the batch's buffer is reused after this). */
  addEntries(batch: EntryBatch): void {
    for (let i = 0; i < batch.count; i++) this.addEntry(batch, i);
  }

  /** Copies entry i of the batch into the block being filled. */
  addEntry(batch: EntryBatch, i: number): void {
    const st = this.staging;
    const kLen = batch.keyLen[i]!;
    const vLen = batch.valLen[i]!;
    if (st.count >= this.blockEntries || (st.count > 0 && st.used + kLen + vLen > BLOCK_DATA_BYTES)) this.flushBlock();
    if (st.used + kLen + vLen > st.data.length) {
      const grown = Buffer.allocUnsafeSlow(st.used + kLen + vLen);
      st.data.copy(grown, 0, 0, st.used);
      st.data = grown;
    }
    const n = st.count++;
    st.keyLen[n] = kLen;
    st.valLen[n] = vLen;
    st.tsHi[n] = batch.tsHi[i]!;
    st.tsLo[n] = batch.tsLo[i]!;
    st.flags[n] = batch.flags[i]!;
    batch.buf.copy(st.data, st.used, batch.keyOff[i], batch.keyOff[i]! + kLen);
    batch.buf.copy(st.data, st.used + kLen, batch.valOff[i], batch.valOff[i]! + vLen);
    st.used += kLen + vLen;
  }

  /** Ends the block being filled and keeps it (in memory or in the file). */
  private flushBlock(): void {
    const st = this.staging;
    const n = st.count;
    if (n === 0) return;
    const header = blockHeaderBytes(n);
    const block = this.fd === undefined ? Buffer.allocUnsafeSlow(header + st.used) : this.fileBlockOf(header + st.used);
    block.writeUInt32LE(n, 0);
    block.writeUInt32LE(st.used, 4);
    let at = 8;
    for (const arr of [st.keyLen, st.valLen, st.tsHi, st.tsLo]) {
      block.set(new Uint8Array(arr.buffer, 0, n * 4), at);
      at += n * 4;
    }
    block.set(st.flags.subarray(0, n), at);
    block.fill(0, at + n, header);
    st.data.copy(block, header, 0, st.used);
    st.count = 0;
    st.used = 0;
    this.entries += n;
    this.bytes += block.length;
    this.store(block);
  }

  private fileBlockOf(length: number): Buffer {
    if (!this.fileBlock || this.fileBlock.length < length) {
      this.fileBlock = Buffer.allocUnsafeSlow(Math.max(length, blockHeaderBytes(this.blockEntries) + BLOCK_DATA_BYTES));
    }
    return this.fileBlock.subarray(0, length);
  }

  private store(block: Buffer): void {
    if (this.fd === undefined && this.bytes > this.memoryLimit) this.moveToFile();
    if (this.fd === undefined) {
      this.memBlocks.push(block);
      return;
    }
    this.writeAll(block);
  }

  private moveToFile(): void {
    const path = join(this.dir, `lightningstream-spool-${process.pid}-${randomBytes(6).toString('hex')}`);
    this.fd = openSync(path, 'wx+', 0o600);
    unlinkSync(path);
    for (const block of this.memBlocks) this.writeAll(block);
    this.memBlocks.length = 0;
  }

  private writeAll(block: Buffer): void {
    const fd = this.fd!;
    const offset = this.fileSize;
    for (let done = 0; done < block.length;) done += writeSync(fd, block, done, block.length - done, offset + done);
    this.fileBlocks.push([offset, block.length]);
    this.fileSize += block.length;
  }

  private readBlock(index: number, reader: BlockReader): Buffer {
    if (this.fd === undefined) return this.memBlocks[index]!;
    const [offset, length] = this.fileBlocks[index]!;
    const buf = reader.scratch(length);
    for (let done = 0; done < length;) {
      const n = readSync(this.fd, buf, done, length - done, offset + done);
      if (n === 0) throw new Error(`spool file ended early (block ${index})`);
      done += n;
    }
    return buf;
  }
}

/** Turns stored blocks back into EntryBatches (views on the block, offsets by prefix sum). */
class BlockReader {
  private buf = Buffer.alloc(0);
  private keyOff = new Uint32Array(BLOCK_ENTRIES);
  private valOff = new Uint32Array(BLOCK_ENTRIES);

  scratch(length: number): Buffer {
    if (this.buf.length < length) this.buf = Buffer.allocUnsafeSlow(Math.max(length, 2 << 20));
    return this.buf;
  }

  parse(block: Buffer): EntryBatch {
    const count = block.readUInt32LE(0);
    const ab = block.buffer;
    const base = block.byteOffset;
    const keyLen = new Uint32Array(ab, base + 8, count);
    const valLen = new Uint32Array(ab, base + 8 + count * 4, count);
    const tsHi = new Uint32Array(ab, base + 8 + count * 8, count);
    const tsLo = new Uint32Array(ab, base + 8 + count * 12, count);
    const flags = new Uint8Array(ab, base + 8 + count * 16, count);
    if (this.keyOff.length < count) {
      this.keyOff = new Uint32Array(count);
      this.valOff = new Uint32Array(count);
    }
    let at = blockHeaderBytes(count);
    for (let i = 0; i < count; i++) {
      this.keyOff[i] = at;
      at += keyLen[i]!;
      this.valOff[i] = at;
      at += valLen[i]!;
    }
    return { count, buf: block, keyOff: this.keyOff, keyLen, valOff: this.valOff, valLen, tsHi, tsLo, flags };
  }
}
