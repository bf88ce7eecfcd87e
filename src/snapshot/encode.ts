/**
 * Streaming snapshot encoder (hand-written protobuf, gzip).
 *
 * Why not protobufjs / google-protobuf / ts-proto: they all build the whole message in memory
 * (one object per KV, then one contiguous output buffer), and protobufjs's Writer keeps lengths
 * in 32-bit ints. A snapshot DBI can exceed 2 GB and 4 GB, must be produced from an LMDB read
 * transaction without materialising it, and a million entries must not cost a million objects.
 * Here the KVs go straight from EntryBatches (typed arrays over one buffer) into fixed-size output
 * chunks which are gzipped in parallel: memory is a few chunks whatever the snapshot size.
 *
 * The DBI message is length-prefixed and its length must be written before its bytes, so each DBI
 * is read twice: `batches()` is called once to add up the sizes, once to write (the caller backs
 * both passes with one read transaction). The second pass checks it wrote exactly what the first
 * one measured.
 *
 * Field order: formatVersion, compatVersion, meta, then the DBIs in the given order; inside a DBI
 * name, flags and transform come before the entries, so a streaming reader knows the flags before
 * the first entry. Proto3 defaults (0, empty) are omitted, as every protobuf encoder does.
 */
import { Readable, addAbortSignal } from 'node:stream';
import type { EntryBatch } from './batch.js';
import { CONTENT_HASH_TAG, type ContentHash, type ContentHasher } from './content-hash.js';
import { gzipMembers, type GzipOptions } from './gzip.js';
import * as fields from './fields.js';
import { COMPAT_VERSION, FORMAT_VERSION, type DbiSource, type SnapshotMeta } from './types.js';
import { bigVarint, varintLength, writeVarint } from './wire.js';

// Module-level copies of the shared field numbers and tags: V8 compiles a module's own constants into
// the machine code, but loads an imported binding from memory at every use (hot loops compare them).
const {
  TAG_COMPAT_VERSION, TAG_CONTENT_HASH_ALGORITHM, TAG_CONTENT_HASH_DIGEST, TAG_CONTENT_HASH_ENTRIES, TAG_DATABASES,
  TAG_DBI_ENTRY, TAG_DBI_FLAGS, TAG_DBI_NAME, TAG_DBI_TRANSFORM, TAG_FORMAT_VERSION, TAG_KV_FLAGS, TAG_KV_KEY,
  TAG_KV_TIMESTAMP, TAG_KV_VALUE, TAG_META, TAG_META_DATABASE_NAME, TAG_META_FROM_LMDB_TXN_ID, TAG_META_GENERATION_ID,
  TAG_META_HOSTNAME, TAG_META_INSTANCE_ID, TAG_META_LMDB_TXN_ID, TAG_META_TIMESTAMP_NANO,
} = fields;

export interface EncodeOptions extends GzipOptions {
  signal?: AbortSignal;
  /** Uncompressed protobuf bytes per output chunk (= per gzip member). Default 1 MiB. */
  chunkBytes?: number;
  /** Emit the raw protobuf without gzip (tests and diagnostics; not a snapshot object). */
  raw?: boolean;
  /**
   * Chunk buffers to reuse (the gzip stage returns them once compressed): fresh memory costs page
   * faults, which measured ~0.2 s per 100 MB here, more than the copying itself.
   */
  chunkPool?: Buffer[];
  /**
   * Hashes the written entries and appends the digest as the trailing `contentHash` field (README,
   * "Content hashes"): only for full snapshots, whose entries are the whole synced content.
   */
  contentHash?: ContentHasher;
}

const DEFAULT_CHUNK_BYTES = 1 << 20;
/** At most this many idle chunk buffers are kept for reuse. */
const MAX_POOLED_CHUNKS = 8;
/** Below this many bytes a JS loop copies faster than Buffer#copy (a native call). */
const SMALL_COPY = 48;

/** Size of one KV message body (without its tag and length). */
export function kvBodyLength(keyLen: number, valLen: number, tsHi: number, tsLo: number, flags: number): number {
  return (
    (keyLen > 0 ? 1 + varintLength(keyLen) + keyLen : 0) +
    (valLen > 0 ? 1 + varintLength(valLen) + valLen : 0) +
    (tsHi !== 0 || tsLo !== 0 ? 9 : 0) +
    (flags !== 0 ? 1 + varintLength(flags) : 0)
  );
}

/** Bytes the entries of `batch` take inside their DBI message (tags and lengths included). */
export function batchEntriesLength(batch: EntryBatch): number {
  const { count, keyLen, valLen, tsHi, tsLo, flags } = batch;
  let total = 0;
  for (let i = 0; i < count; i++) {
    const body = kvBodyLength(keyLen[i]!, valLen[i]!, tsHi[i]!, tsLo[i]!, flags[i]!);
    total += 1 + varintLength(body) + body;
  }
  return total;
}

/** The DBI message's fields other than entries (name, flags, transform), encoded. */
export function dbiHeaderFields(name: string, flags: number, transform: string): Buffer {
  const parts: Buffer[] = [];
  if (name !== '') parts.push(lenField(TAG_DBI_NAME, Buffer.from(name, 'utf8')));
  if (flags !== 0) parts.push(varintField(TAG_DBI_FLAGS, flags));
  if (transform !== '') parts.push(lenField(TAG_DBI_TRANSFORM, Buffer.from(transform, 'utf8')));
  return Buffer.concat(parts);
}

/** `databases` field tag + length prefix for a DBI message of `dbiLength` bytes (any size up to 2^53). */
export function dbiPrefix(dbiLength: number): Buffer {
  const out = Buffer.allocUnsafe(11);
  out[0] = TAG_DATABASES;
  return out.subarray(0, writeVarint(out, 1, dbiLength));
}

/** Sums a DBI's message length from its batches (first pass). */
export async function measureDbi(dbi: DbiSource, signal?: AbortSignal): Promise<number> {
  let total = dbiHeaderFields(dbi.name, dbi.flags, dbi.transform).length;
  for await (const batch of dbi.measureBatches ? dbi.measureBatches() : dbi.batches()) {
    signal?.throwIfAborted();
    total += batchEntriesLength(batch);
  }
  return total;
}

function varintField(tag: number, v: number): Buffer {
  const out = Buffer.allocUnsafe(11);
  out[0] = tag;
  return out.subarray(0, writeVarint(out, 1, v));
}

function lenField(tag: number, body: Buffer): Buffer {
  const head = Buffer.allocUnsafe(11);
  head[0] = tag;
  return Buffer.concat([head.subarray(0, writeVarint(head, 1, body.length)), body]);
}

/** Encodes `Snapshot.Meta` (proto3: default values omitted). */
export function encodeMeta(meta: SnapshotMeta): Buffer {
  const parts: Buffer[] = [];
  const str = (tag: number, s: string) => {
    if (s !== '') parts.push(lenField(tag, Buffer.from(s, 'utf8')));
  };
  const int64 = (tag: number, v: number | bigint) => {
    const b = BigInt(v);
    if (b !== 0n) parts.push(Buffer.concat([Buffer.from([tag]), bigVarint(b)]));
  };
  str(TAG_META_GENERATION_ID, meta.generationId);
  str(TAG_META_INSTANCE_ID, meta.instanceId);
  str(TAG_META_HOSTNAME, meta.hostname);
  int64(TAG_META_LMDB_TXN_ID, meta.lmdbTxnId);
  const ts = BigInt.asUintN(64, meta.timestampNano);
  if (ts !== 0n) {
    const f = Buffer.allocUnsafe(9);
    f[0] = TAG_META_TIMESTAMP_NANO;
    f.writeBigUInt64LE(ts, 1);
    parts.push(f);
  }
  str(TAG_META_DATABASE_NAME, meta.databaseName);
  int64(TAG_META_FROM_LMDB_TXN_ID, meta.fromLmdbTxnId);
  return Buffer.concat(parts);
}

/** Writes a length-delimited field (tag, length, bytes) into `out` at p, which has room; returns the new position. */
function putBytesField(out: Buffer, p: number, tag: number, src: Buffer, off: number, len: number): number {
  out[p++] = tag;
  p = len < 0x80 ? ((out[p] = len), p + 1) : writeVarint(out, p, len);
  if (len <= SMALL_COPY) for (let j = 0; j < len; j++) out[p + j] = src[off + j]!;
  else src.copy(out, p, off, off + len);
  return p + len;
}

/** Fills fixed-size chunks; `take()` hands the filled part over and starts a new chunk. */
class ChunkWriter {
  buf: Buffer;
  pos = 0;
  constructor(readonly cap: number, private readonly pool: Buffer[] = []) {
    this.buf = this.fresh();
  }
  private fresh(): Buffer {
    const reused = this.pool.pop();
    return reused && reused.length === this.cap ? reused : Buffer.allocUnsafe(this.cap);
  }
  take(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.buf = this.fresh();
    this.pos = 0;
    return out;
  }
  /** Copies bytes, yielding every chunk that fills up. */
  *put(src: Uint8Array, off = 0, len = src.length - off): Generator<Buffer> {
    while (len > 0) {
      const n = Math.min(len, this.cap - this.pos);
      this.buf.set(src.subarray(off, off + n), this.pos);
      this.pos += n;
      off += n;
      len -= n;
      if (this.pos === this.cap) yield this.take();
    }
  }
}

/** One KV larger than a chunk: written piecewise across chunks. */
function* putLargeEntry(w: ChunkWriter, b: EntryBatch, i: number, body: number): Generator<Buffer> {
  const kl = b.keyLen[i]!;
  const vl = b.valLen[i]!;
  const hi = b.tsHi[i]!;
  const lo = b.tsLo[i]!;
  const f = b.flags[i]!;
  const scratch = Buffer.allocUnsafe(32);
  let p = writeVarint(scratch, 1, body);
  scratch[0] = TAG_DBI_ENTRY;
  if (kl > 0) {
    scratch[p++] = TAG_KV_KEY;
    p = writeVarint(scratch, p, kl);
  }
  yield* w.put(scratch, 0, p);
  yield* w.put(b.buf, b.keyOff[i], kl);
  if (vl > 0) {
    scratch[0] = TAG_KV_VALUE;
    yield* w.put(scratch, 0, writeVarint(scratch, 1, vl));
    yield* w.put(b.buf, b.valOff[i], vl);
  }
  p = 0;
  if (hi !== 0 || lo !== 0) {
    scratch[p++] = TAG_KV_TIMESTAMP;
    scratch.writeUInt32LE(lo, p);
    scratch.writeUInt32LE(hi, p + 4);
    p += 8;
  }
  if (f !== 0) {
    scratch[p++] = TAG_KV_FLAGS;
    p = writeVarint(scratch, p, f);
  }
  yield* w.put(scratch, 0, p);
}

/** The raw (uncompressed) protobuf of a snapshot, as chunks of at most `chunkBytes`. */
export async function* snapshotProtobufChunks(
  meta: SnapshotMeta,
  dbis: Iterable<DbiSource> | AsyncIterable<DbiSource>,
  opts: EncodeOptions = {},
): AsyncGenerator<Buffer> {
  const { signal } = opts;
  const w = new ChunkWriter(Math.max(64, opts.chunkBytes ?? DEFAULT_CHUNK_BYTES), opts.chunkPool);
  signal?.throwIfAborted();
  yield* w.put(Buffer.concat([
    varintField(TAG_FORMAT_VERSION, FORMAT_VERSION),
    varintField(TAG_COMPAT_VERSION, COMPAT_VERSION),
    lenField(TAG_META, encodeMeta(meta)),
  ]));
  for await (const dbi of dbis) {
    const expected = await measureDbi(dbi, signal);
    const header = dbiHeaderFields(dbi.name, dbi.flags, dbi.transform);
    yield* w.put(Buffer.concat([dbiPrefix(expected), header]));
    let written = header.length;
    for await (const batch of dbi.batches()) {
      signal?.throwIfAborted();
      opts.contentHash?.add(dbi.name, batch);
      const { count, buf: src, keyOff, keyLen, valOff, valLen, tsHi, tsLo, flags } = batch;
      for (let i = 0; i < count; i++) {
        const kl = keyLen[i]!;
        const vl = valLen[i]!;
        const hi = tsHi[i]!;
        const lo = tsLo[i]!;
        const f = flags[i]!;
        const body = kvBodyLength(kl, vl, hi, lo, f);
        const total = 1 + varintLength(body) + body;
        written += total;
        if (total > w.cap - w.pos) {
          if (w.pos > 0) yield w.take();
          if (total > w.cap) {
            yield* putLargeEntry(w, batch, i, body);
            continue;
          }
        }
        // Fast path: the whole entry fits the current chunk.
        const out = w.buf;
        let p = w.pos;
        out[p++] = TAG_DBI_ENTRY;
        p = body < 0x80 ? ((out[p] = body), p + 1) : writeVarint(out, p, body);
        if (kl > 0) p = putBytesField(out, p, TAG_KV_KEY, src, keyOff[i]!, kl);
        if (vl > 0) p = putBytesField(out, p, TAG_KV_VALUE, src, valOff[i]!, vl);
        if (hi !== 0 || lo !== 0) {
          out[p] = TAG_KV_TIMESTAMP;
          out[p + 1] = lo;
          out[p + 2] = lo >>> 8;
          out[p + 3] = lo >>> 16;
          out[p + 4] = lo >>> 24;
          out[p + 5] = hi;
          out[p + 6] = hi >>> 8;
          out[p + 7] = hi >>> 16;
          out[p + 8] = hi >>> 24;
          p += 9;
        }
        if (f !== 0) {
          out[p++] = TAG_KV_FLAGS;
          p = writeVarint(out, p, f);
        }
        w.pos = p;
      }
    }
    if (written !== expected) {
      throw new Error(
        `DBI ${JSON.stringify(dbi.name)}: batches() yielded ${written} bytes on the second pass, ${expected} on the first; it must yield identical data twice`,
      );
    }
  }
  if (opts.contentHash) yield* w.put(contentHashField(opts.contentHash.digest()));
  if (w.pos > 0) yield w.take();
}

/** The `contentHash` field: `message ContentHash { string algorithm = 1; bytes digest = 2; uint64 entries = 3; }`. */
export function contentHashField(hash: ContentHash): Buffer {
  const body = Buffer.concat([
    lenField(TAG_CONTENT_HASH_ALGORITHM, Buffer.from(hash.algorithm, 'utf8')),
    lenField(TAG_CONTENT_HASH_DIGEST, hash.digest),
    hash.entries > 0 ? varintField(TAG_CONTENT_HASH_ENTRIES, hash.entries) : Buffer.alloc(0),
  ]);
  const head = Buffer.allocUnsafe(16);
  const afterTag = writeVarint(head, 0, CONTENT_HASH_TAG);
  return Buffer.concat([head.subarray(0, writeVarint(head, afterTag, body.length)), body]);
}

/**
 * Encodes a snapshot as a gzip byte stream: formatVersion 3, compatVersion 1, meta, then `dbis`
 * in the given order. Each DBI's `batches()` is called twice (see the module comment). Aborting
 * `signal` (or destroying the stream) stops the work and releases the batch iterators.
 */
export function encodeSnapshot(
  meta: SnapshotMeta,
  dbis: Iterable<DbiSource> | AsyncIterable<DbiSource>,
  opts: EncodeOptions = {},
): Readable {
  if (opts.raw) {
    const stream = Readable.from(snapshotProtobufChunks(meta, dbis, opts), { objectMode: false });
    if (opts.signal) addAbortSignal(opts.signal, stream);
    return stream;
  }
  // Compressed chunks are no longer needed: their buffers go back to the writer.
  const chunkBytes = Math.max(64, opts.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  const pool: Buffer[] = [];
  const recycle = (chunk: Buffer) => {
    const whole = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteOffset === 0 ? chunk.buffer.byteLength : 0);
    if (whole.length === chunkBytes && pool.length < MAX_POOLED_CHUNKS) pool.push(whole);
  };
  const raw = snapshotProtobufChunks(meta, dbis, { ...opts, chunkPool: pool });
  const stream = Readable.from(gzipMembers(raw, { ...opts, recycle }), { objectMode: false });
  if (opts.signal) addAbortSignal(opts.signal, stream);
  return stream;
}
