/**
 * Streaming snapshot decoder (gzip, hand-written protobuf).
 *
 * Why hand-written: protobuf libraries decode a whole message from one contiguous buffer into one
 * object per KV; a snapshot can be many GB (a single DBI message beyond 2 GB / 4 GB, which
 * protobufjs's 32-bit reader cannot even address) and must be merged while it downloads. Here the
 * gunzip output is parsed in place: entries are reported in batches of typed-array offsets into
 * the current buffer (no object, no copy per entry), and memory stays at the gunzip buffers plus
 * one parse buffer as large as the largest single entry.
 *
 * Field order: protobuf allows any, and writers differ (Go 0.4.4 writes compatVersion before meta
 * and DBI flags/transform before the entries when they are not defaults; an encoder in field-number
 * order puts DBI flags, transform and compatVersion after the entries). Everything is accepted and
 * reported when known: `dbi-start` carries flags/transform only if they preceded the entries, and
 * `dbi-end` has the final values. Two restrictions of streaming: formatVersion must precede the
 * first DBI (entries cannot be interpreted without it; every writer puts it first) and a DBI's name
 * cannot change after its entries started.
 *
 * A corrupt object ends in exactly one SnapshotFormatError naming it; declared lengths are checked
 * against the enclosing message and the limits before anything is allocated, and buffers only grow
 * as data actually arrives, so a length field claiming terabytes costs nothing.
 */
import { Readable, addAbortSignal, pipeline } from 'node:stream';
import { isUtf8 } from 'node:buffer';
import zlib from 'node:zlib';
import { MDB_PERSISTENT_FLAGS } from '../lmdb/flags.js';
import { OrderCheck } from './order-check.js';
import { Source } from './source.js';
import type { EntryBatch } from './batch.js';
import { CONTENT_HASH_TAG, type ContentHash } from './content-hash.js';
import { SnapshotFormatError, WireError } from './errors.js';
import * as fields from './fields.js';
import { COMPAT_VERSION, FORMAT_VERSION, MIN_FORMAT_VERSION, emptyMeta, type SnapshotEvent, type SnapshotMeta } from './types.js';
import { WIRE_FIXED64, WIRE_LEN, WIRE_VARINT, WireReader, wrongWireType } from './wire.js';

// Module-level copies of the shared field numbers and tags: V8 compiles a module's own constants into
// the machine code, but loads an imported binding from memory at every use (hot loops compare them).
const {
  FIELD_COMPAT_VERSION, FIELD_DBI_ENTRIES, FIELD_DBI_FLAGS, FIELD_DBI_NAME, FIELD_DBI_TRANSFORM, FIELD_FORMAT_VERSION,
  FIELD_KV_FLAGS, FIELD_KV_TIMESTAMP_NANO, FIELD_META_FROM_LMDB_TXN_ID, FIELD_META_GENERATION_ID, FIELD_META_HOSTNAME,
  FIELD_META_INSTANCE_ID, FIELD_META_LMDB_TXN_ID, FIELD_META_RESERVED, FIELD_META_TIMESTAMP_NANO,
  TAG_COMPAT_VERSION, TAG_CONTENT_HASH_ALGORITHM, TAG_CONTENT_HASH_DIGEST, TAG_CONTENT_HASH_ENTRIES, TAG_DATABASES,
  TAG_DBI_ENTRY, TAG_FORMAT_VERSION, TAG_KV_FLAGS, TAG_KV_KEY, TAG_KV_TIMESTAMP, TAG_KV_VALUE, TAG_META,
} = fields;

export interface DecodeLimits {
  /** Largest single KV message (key + value + fields). Default 512 MiB. */
  maxEntryBytes?: number;
  /** Largest meta message, DBI name or transform, and unknown group. Default 1 MiB. */
  maxFieldBytes?: number;
  /** Most decompressed bytes a snapshot may have (decompression bomb guard). Default 64 GiB. */
  maxDecompressedBytes?: number;
  /**
   * Highest decompressed/compressed ratio, checked once `ratioMinBytes` were decompressed.
   * Default 1000: deflate cannot exceed ~1032:1, so only a snapshot that is almost entirely one
   * repeated byte comes near it; lower it where inputs are untrusted.
   */
  maxRatio?: number;
  /** Default 64 MiB. */
  ratioMinBytes?: number;
  /** Deepest nesting of unknown groups. Default 32. */
  maxGroupDepth?: number;
}

export interface DecodeOptions {
  /** The object name, for error messages. */
  name: string;
  signal?: AbortSignal;
  limits?: DecodeLimits;
  /** Most entries per `entries` event. Default 4096. */
  batchEntries?: number;
  /** Gunzip output chunk size. Default 256 KiB. */
  readChunkBytes?: number;
  /** The input is raw protobuf, not gzip (tests and diagnostics). */
  raw?: boolean;
}

const DEFAULT_LIMITS: Required<DecodeLimits> = {
  maxEntryBytes: 512 << 20,
  maxFieldBytes: 1 << 20,
  maxDecompressedBytes: 64 * 2 ** 30,
  maxRatio: 1000,
  ratioMinBytes: 64 << 20,
  maxGroupDepth: 32,
};

/** Bytes requested before reading a tag and a length prefix (5 + 10 would be the most). */
const HEADER_LOOKAHEAD = 16;
const EMPTY = Buffer.alloc(0);


interface DbiInfo {
  name: string;
  flags: number;
  transform: string;
  count: number;
}

function newBatch(capacity: number): EntryBatch {
  return {
    count: 0,
    buf: EMPTY,
    keyOff: new Uint32Array(capacity),
    keyLen: new Uint32Array(capacity),
    valOff: new Uint32Array(capacity),
    valLen: new Uint32Array(capacity),
    tsHi: new Uint32Array(capacity),
    tsLo: new Uint32Array(capacity),
    flags: new Uint8Array(capacity),
  };
}

/** Parses Snapshot.Meta from r.buf[r.pos, r.end) into `meta` (merging, as protobuf does for a repeated message field). */
function parseMeta(r: WireReader, meta: SnapshotMeta, maxDepth: number): void {
  while (r.pos < r.end) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wire = tag & 7;
    const expected = field === FIELD_META_LMDB_TXN_ID || field === FIELD_META_FROM_LMDB_TXN_ID ? WIRE_VARINT
      : field === FIELD_META_TIMESTAMP_NANO ? WIRE_FIXED64 : WIRE_LEN;
    if (field > FIELD_META_FROM_LMDB_TXN_ID || field === FIELD_META_RESERVED) {
      r.skipValue(tag, maxDepth);
      continue;
    }
    if (wire !== expected) throw wrongWireType('Meta', tag, expected);
    if (expected === WIRE_VARINT) {
      const v = r.varintInt64();
      if (field === FIELD_META_LMDB_TXN_ID) meta.lmdbTxnId = v;
      else meta.fromLmdbTxnId = v;
    } else if (expected === WIRE_FIXED64) {
      if (r.end - r.pos < 8) throw new WireError('truncated Meta.timestampNano', true);
      meta.timestampNano = Buffer.from(r.buf.buffer, r.buf.byteOffset, r.buf.byteLength).readBigUInt64LE(r.pos);
      r.pos += 8;
    } else {
      const len = r.length('Meta string');
      const s = utf8At(r.buf as Buffer, r.pos, len, 'Meta string');
      r.pos += len;
      if (field === FIELD_META_GENERATION_ID) meta.generationId = s;
      else if (field === FIELD_META_INSTANCE_ID) meta.instanceId = s;
      else if (field === FIELD_META_HOSTNAME) meta.hostname = s;
      else meta.databaseName = s;
    }
  }
}

/** Parses our `contentHash` extension (README, "Content hashes"); unknown sub-fields are skipped. */
function parseContentHash(r: WireReader, maxDepth: number): ContentHash {
  const out: ContentHash = { algorithm: '', digest: Buffer.alloc(0), entries: 0 };
  while (r.pos < r.end) {
    const tag = r.tag();
    if (tag === TAG_CONTENT_HASH_ALGORITHM || tag === TAG_CONTENT_HASH_DIGEST) {
      const len = r.length('ContentHash field');
      const bytes = Buffer.from(r.buf.subarray(r.pos, r.pos + len));
      r.pos += len;
      if (tag === TAG_CONTENT_HASH_ALGORITHM) out.algorithm = utf8At(bytes, 0, len, 'ContentHash.algorithm');
      else out.digest = bytes;
    } else if (tag === TAG_CONTENT_HASH_ENTRIES) {
      out.entries = r.varint();
    } else {
      r.skipValue(tag, maxDepth);
    }
  }
  return out;
}

/** A proto3 string: must be valid UTF-8. */
function utf8At(buf: Buffer, start: number, len: number, what: string): string {
  if (!isUtf8(buf.subarray(start, start + len))) throw new WireError(`${what} is not valid UTF-8`);
  return buf.toString('utf8', start, start + len);
}

class Decoder {
  private readonly limits: Required<DecodeLimits>;
  private readonly batchEntries: number;
  private src!: Source;
  private formatVersion = 0;
  private compatVersion = 0;
  private meta: SnapshotMeta = emptyMeta();
  private metaReported = false;
  private contentHash: ContentHash | undefined;
  private batch: EntryBatch;
  private readonly order = new OrderCheck();
  private readonly r = new WireReader();

  constructor(
    private readonly input: Readable,
    private readonly opts: DecodeOptions,
    private readonly skipEntries: boolean,
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.batchEntries = Math.max(1, opts.batchEntries ?? 4096);
    this.batch = newBatch(skipEntries ? 1 : this.batchEntries);
  }

  private fail = (problem: string, cause?: unknown): never => {
    throw new SnapshotFormatError(this.opts.name, problem, cause === undefined ? undefined : { cause });
  };

  async *events(): AsyncGenerator<SnapshotEvent> {
    const { input, opts } = this;
    let gunzip: zlib.Gunzip | undefined;
    let stream: Readable = input;
    if (!opts.raw) {
      gunzip = zlib.createGunzip({ chunkSize: Math.max(64, opts.readChunkBytes ?? 256 << 10) });
      pipeline(input, gunzip, () => {});
      stream = gunzip;
    }
    if (opts.signal) addAbortSignal(opts.signal, stream);
    const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    this.src = new Source(it, () => gunzip?.bytesWritten ?? 0, this.limits, this.fail, opts.signal);
    try {
      yield* this.snapshot();
    } catch (err) {
      if (err instanceof WireError) {
        this.fail(err.truncated && this.src.eof ? `truncated protobuf (${err.message})` : `malformed protobuf: ${err.message}`);
      }
      throw err;
    } finally {
      gunzip?.destroy();
      input.destroy();
    }
  }

  /** Makes the next `n` bytes readable, or fewer where the stream or `limitAbs` ends first. */
  private async lookahead(n: number, limitAbs = Infinity): Promise<void> {
    const s = this.src;
    const want = Math.min(n, limitAbs - s.abs);
    if (s.end - s.pos < want) await s.fill(want);
  }

  /** Makes a whole field body of `len` bytes readable (after flushing any batch referencing the buffer). */
  private async need(len: number, what: string): Promise<void> {
    if (!(await this.src.fill(len))) this.fail(`truncated protobuf (stream ended inside ${what})`);
  }

  private metaEvent(): SnapshotEvent {
    this.metaReported = true;
    return { type: 'meta', formatVersion: this.formatVersion, meta: { ...this.meta } };
  }

  private async *snapshot(): AsyncGenerator<SnapshotEvent> {
    const s = this.src;
    const l = this.limits;
    for (;;) {
      await this.lookahead(HEADER_LOOKAHEAD);
      if (s.pos === s.end) break; // clean end between fields
      const tag = this.r.at(s.buf, s.pos, s.end).tag();
      s.pos = this.r.pos;
      switch (tag) {
        case TAG_FORMAT_VERSION: {
          const v = this.r.at(s.buf, s.pos, s.end).varint32();
          s.pos = this.r.pos;
          if (v < MIN_FORMAT_VERSION || v > FORMAT_VERSION) this.fail(`unsupported formatVersion ${v}`);
          this.formatVersion = v;
          break;
        }
        case TAG_COMPAT_VERSION: {
          const v = this.r.at(s.buf, s.pos, s.end).varint32();
          s.pos = this.r.pos;
          if (v > COMPAT_VERSION) this.fail(`compatVersion ${v} is newer than the newest supported (${COMPAT_VERSION})`);
          this.compatVersion = v;
          break;
        }
        case TAG_META: {
          const len = this.lengthAt(Infinity, 'Meta');
          if (len > l.maxFieldBytes) this.fail(`Meta of ${len} bytes exceeds the limit of ${l.maxFieldBytes}`);
          await this.need(len, 'Meta');
          parseMeta(this.r.at(s.buf, s.pos, s.pos + len), this.meta, l.maxGroupDepth);
          s.pos = this.r.pos;
          break;
        }
        case TAG_DATABASES: {
          const len = this.lengthAt(Infinity, 'DBI');
          if (len > l.maxDecompressedBytes) this.fail(`DBI of ${len} bytes exceeds the decompressed size limit`);
          if (this.formatVersion === 0) this.fail('formatVersion missing before the first DBI');
          if (!this.metaReported) yield this.metaEvent();
          yield* this.dbi(s.abs + len);
          break;
        }
        case CONTENT_HASH_TAG: {
          const len = this.lengthAt(Infinity, 'ContentHash');
          if (len > l.maxFieldBytes) this.fail(`ContentHash of ${len} bytes exceeds the limit of ${l.maxFieldBytes}`);
          await this.need(len, 'ContentHash');
          this.contentHash = parseContentHash(this.r.at(s.buf, s.pos, s.pos + len), l.maxGroupDepth);
          s.pos = this.r.pos;
          break;
        }
        default: {
          const field = tag >>> 3;
          if (field <= FIELD_COMPAT_VERSION) {
            throw wrongWireType('Snapshot', tag, field === FIELD_FORMAT_VERSION || field === FIELD_COMPAT_VERSION ? WIRE_VARINT : WIRE_LEN);
          }
          await this.skipUnknown(tag, Infinity);
        }
      }
    }
    if (this.formatVersion === 0) this.fail('not a snapshot (formatVersion missing)');
    if (!this.metaReported) yield this.metaEvent();
    yield {
      type: 'end', formatVersion: this.formatVersion, compatVersion: this.compatVersion, meta: { ...this.meta },
      ...(this.contentHash ? { contentHash: this.contentHash } : {}),
    };
  }

  /** Reads a length prefix at the current position (already looked ahead) and checks it against limitAbs. */
  private lengthAt(limitAbs: number, what: string): number {
    const s = this.src;
    const len = this.r.at(s.buf, s.pos, s.end).varint();
    s.pos = this.r.pos;
    if (len > limitAbs - s.abs) this.fail(`${what} declares ${len} bytes but only ${limitAbs - s.abs} remain in the enclosing message`);
    return len;
  }

  /** Skips an unknown field (tag read) of the message ending at limitAbs, streaming long values. */
  private async skipUnknown(tag: number, limitAbs: number): Promise<void> {
    const s = this.src;
    if ((tag & 7) === WIRE_LEN) {
      await this.lookahead(HEADER_LOOKAHEAD, limitAbs);
      await s.skip(this.lengthAt(limitAbs, `field ${tag >>> 3}`));
      return;
    }
    // Other wire types are small, except groups (deprecated), which we buffer up to maxFieldBytes.
    for (let want = HEADER_LOOKAHEAD; ; want *= 2) {
      await this.lookahead(want, limitAbs);
      const end = Math.min(s.end, s.pos + (limitAbs - s.abs));
      try {
        this.r.at(s.buf, s.pos, end).skipValue(tag, this.limits.maxGroupDepth);
        s.pos = this.r.pos;
        return;
      } catch (err) {
        const more = end - s.pos < limitAbs - s.abs || !s.eof;
        if (!(err instanceof WireError && err.truncated && more && want < this.limits.maxFieldBytes)) throw err;
      }
    }
  }

  private flushEvent(name: string): SnapshotEvent {
    this.order.detach();
    this.batch.buf = this.src.buf;
    return { type: 'entries', dbi: name, batch: this.batch };
  }

  private async *dbi(endAbs: number): AsyncGenerator<SnapshotEvent> {
    const s = this.src;
    const l = this.limits;
    const batch = this.batch;
    const order = this.order;
    const info: DbiInfo = { name: '', flags: 0, transform: '', count: 0 };
    let flags: number | undefined;
    let transform: string | undefined;
    let started = false;
    const formatV1 = this.formatVersion === 1;
    const cap = this.batchEntries;
    order.reset();
    batch.count = 0;

    while (s.abs < endAbs) {
      if (s.end - s.pos < HEADER_LOOKAHEAD && s.end - s.pos < endAbs - s.abs) {
        if (batch.count > 0) {
          yield this.flushEvent(info.name);
          batch.count = 0;
        }
        await this.lookahead(HEADER_LOOKAHEAD, endAbs);
      }
      const limitPos = s.pos + (endAbs - s.abs);
      const end = limitPos < s.end ? limitPos : s.end;
      const buf = s.buf;
      let tag = buf[s.pos]!;
      if (tag < 0x80 && s.pos < end) s.pos++;
      else {
        tag = this.r.at(buf, s.pos, end).tag();
        s.pos = this.r.pos;
      }

      if (tag === TAG_DBI_ENTRY) {
        // An entry (KV message).
        if (!started) {
          started = true;
          yield { type: 'dbi-start', name: info.name, flags, transform };
        }
        let len: number;
        const b0 = buf[s.pos]!;
        if (b0 < 0x80 && s.pos < end) {
          len = b0;
          s.pos++;
        } else {
          len = this.r.at(buf, s.pos, end).varint();
          s.pos = this.r.pos;
        }
        if (len > endAbs - s.abs) this.fail(`entry ${info.count} of DBI ${JSON.stringify(info.name)} declares ${len} bytes but only ${endAbs - s.abs} remain in the DBI`);
        if (this.skipEntries) {
          await s.skip(len);
          info.count++;
          continue;
        }
        if (len > l.maxEntryBytes) this.fail(`entry ${info.count} of DBI ${JSON.stringify(info.name)} has ${len} bytes, more than the limit of ${l.maxEntryBytes}`);
        if (s.end - s.pos < len) {
          if (batch.count > 0) {
            yield this.flushEvent(info.name);
            batch.count = 0;
          }
          await this.need(len, `entry ${info.count} of DBI ${JSON.stringify(info.name)}`);
        }
        this.parseKV(s.buf, s.pos, s.pos + len, formatV1, info);
        s.pos += len;
        if (batch.count === cap) {
          yield this.flushEvent(info.name);
          batch.count = 0;
        }
        continue;
      }

      // Other DBI fields: small, or skipped in a streaming way.
      if (batch.count > 0) {
        yield this.flushEvent(info.name);
        batch.count = 0;
      }
      const field = tag >>> 3;
      if (field === FIELD_DBI_NAME || field === FIELD_DBI_TRANSFORM) {
        if ((tag & 7) !== WIRE_LEN) throw wrongWireType('DBI', tag, WIRE_LEN);
        const what = field === FIELD_DBI_NAME ? 'DBI name' : 'DBI transform';
        const len = this.lengthAt(endAbs, what);
        if (len > l.maxFieldBytes) this.fail(`${what} of ${len} bytes exceeds the limit of ${l.maxFieldBytes}`);
        await this.need(len, what);
        const str = utf8At(s.buf, s.pos, len, what);
        s.pos += len;
        if (field === FIELD_DBI_NAME) {
          if (started && str !== info.name) this.fail(`DBI ${JSON.stringify(info.name)} is renamed ${JSON.stringify(str)} after its entries`);
          info.name = str;
        } else {
          transform = info.transform = str;
        }
      } else if (field === FIELD_DBI_FLAGS) {
        if ((tag & 7) !== WIRE_VARINT) throw wrongWireType('DBI', tag, WIRE_VARINT);
        const raw = this.r.at(s.buf, s.pos, end).varintU64();
        s.pos = this.r.pos;
        // LMDB DBI flags are an unsigned int: anything wider is not a DBI's flags (and must not be
        // truncated into some other value).
        if (raw >= 1n << 32n) this.fail(`DBI ${JSON.stringify(info.name)} has flags 0x${raw.toString(16)}, not LMDB DBI flags (32 bits)`);
        // Writers store what mdb_dbi_flags reports, which is only ever persistent flags: other bits mean a
        // corrupt snapshot, and LMDB would refuse them (EINVAL) or silently ignore them.
        if ((raw & ~BigInt(MDB_PERSISTENT_FLAGS)) !== 0n) {
          this.fail(`DBI ${JSON.stringify(info.name)} has flags 0x${raw.toString(16)}, beyond LMDB's persistent DBI flags (0x${MDB_PERSISTENT_FLAGS.toString(16)})`);
        }
        flags = info.flags = Number(raw);
      } else if (field === FIELD_DBI_ENTRIES) {
        throw wrongWireType('DBI', tag, WIRE_LEN);
      } else {
        await this.skipUnknown(tag, endAbs);
        continue;
      }
      if (field !== FIELD_DBI_NAME) {
        const problem = order.configure(flags, transform, false);
        if (problem) this.fail(`DBI ${JSON.stringify(info.name)}: ${problem}`);
      }
    }
    if (s.abs > endAbs) this.fail(`a field crosses the end of DBI ${JSON.stringify(info.name)}`);
    if (!started) yield { type: 'dbi-start', name: info.name, flags, transform };
    if (batch.count > 0) {
      yield this.flushEvent(info.name);
      batch.count = 0;
    }
    const problem = order.configure(flags, transform, true);
    if (problem) this.fail(`DBI ${JSON.stringify(info.name)}: ${problem}`);
    yield { type: 'dbi-end', name: info.name, flags: info.flags, transform: info.transform, count: info.count };
  }

  /** Parses one KV message buf[p, end) into the batch (the hot loop of decoding). */
  private parseKV(buf: Buffer, p: number, end: number, formatV1: boolean, info: DbiInfo): void {
    let keyOff = p;
    let keyLen = 0;
    let valOff = p;
    let valLen = 0;
    let hi = 0;
    let lo = 0;
    let flags = 0;
    const r = this.r;
    while (p < end) {
      // Tags are one byte in practice; a longer (e.g. non-minimal) encoding takes the general path.
      let tag = buf[p]!;
      if (tag < 0x80) p++;
      else {
        tag = r.at(buf, p, end).tag();
        p = r.pos;
      }
      if (tag === TAG_KV_KEY || tag === TAG_KV_VALUE) {
        let len = p < end ? buf[p]! : 0x80;
        if (len < 0x80) p++;
        else {
          len = r.at(buf, p, end).varint();
          p = r.pos;
        }
        if (len > end - p) this.fail(`entry ${info.count} of DBI ${JSON.stringify(info.name)}: field ${tag >>> 3} declares ${len} bytes but only ${end - p} remain in the entry`);
        if (tag === TAG_KV_KEY) {
          keyOff = p;
          keyLen = len;
        } else {
          valOff = p;
          valLen = len;
        }
        p += len;
      } else if (tag === TAG_KV_TIMESTAMP) {
        if (end - p < 8) this.fail(`entry ${info.count} of DBI ${JSON.stringify(info.name)}: truncated timestampNano`);
        lo = (buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24)) >>> 0;
        hi = (buf[p + 4]! | (buf[p + 5]! << 8) | (buf[p + 6]! << 16) | (buf[p + 7]! << 24)) >>> 0;
        p += 8;
      } else if (tag === TAG_KV_FLAGS) {
        flags = r.at(buf, p, end).varint32();
        p = r.pos;
      } else {
        const field = tag >>> 3;
        if (field <= FIELD_KV_FLAGS) {
          throw wrongWireType('KV', tag, field === FIELD_KV_TIMESTAMP_NANO ? WIRE_FIXED64 : field === FIELD_KV_FLAGS ? WIRE_VARINT : WIRE_LEN);
        }
        r.at(buf, p, end).skipValue(tag, this.limits.maxGroupDepth);
        p = r.pos;
      }
    }
    if (formatV1) flags = valLen === 0 ? 1 : 0;
    const problem = this.order.check(buf, keyOff, keyLen, info.count);
    if (problem) this.fail(`DBI ${JSON.stringify(info.name)}: ${problem}`);
    const b = this.batch;
    const i = b.count++;
    b.keyOff[i] = keyOff;
    b.keyLen[i] = keyLen;
    b.valOff[i] = valOff;
    b.valLen[i] = valLen;
    b.tsHi[i] = hi;
    b.tsLo[i] = lo;
    b.flags[i] = flags;
    info.count++;
  }
}

/**
 * Decodes a snapshot stream (gzip, one or several members) into events, in stream order (see
 * SnapshotEvent). Only after `end` is the snapshot known to be complete and valid. Stopping the
 * iteration early, aborting `signal` or an error destroys `input`.
 */
export function decodeSnapshot(input: Readable, opts: DecodeOptions): AsyncIterable<SnapshotEvent> {
  return new Decoder(input, opts, false).events();
}

export interface SnapshotDbiInfo {
  name: string;
  flags: number;
  transform: string;
  count: number;
}

export interface SnapshotInfo {
  formatVersion: number;
  compatVersion: number;
  meta: SnapshotMeta;
  dbis: SnapshotDbiInfo[];
}

/** Meta and per-DBI name/flags/transform/count, skipping the entries' contents (still reads the whole stream). */
export async function readSnapshotInfo(input: Readable, opts: DecodeOptions): Promise<SnapshotInfo> {
  const info: SnapshotInfo = { formatVersion: 0, compatVersion: 0, meta: emptyMeta(), dbis: [] };
  for await (const ev of new Decoder(input, opts, true).events()) {
    if (ev.type === 'dbi-end') info.dbis.push({ name: ev.name, flags: ev.flags, transform: ev.transform, count: ev.count });
    else if (ev.type === 'end') Object.assign(info, { formatVersion: ev.formatVersion, compatVersion: ev.compatVersion, meta: ev.meta });
  }
  return info;
}

export interface MemoryEntry {
  key: Buffer;
  value: Buffer;
  timestampNano: bigint;
  flags: number;
}

export interface MemoryDbi extends SnapshotDbiInfo {
  entries: MemoryEntry[];
}

export interface MemorySnapshot {
  formatVersion: number;
  compatVersion: number;
  meta: SnapshotMeta;
  dbis: MemoryDbi[];
}

/** Decodes a whole (small) snapshot into objects: for tests and the dump command, not for sync. */
export async function decodeSnapshotToMemory(input: Readable, opts: DecodeOptions): Promise<MemorySnapshot> {
  const out: MemorySnapshot = { formatVersion: 0, compatVersion: 0, meta: emptyMeta(), dbis: [] };
  let entries: MemoryEntry[] = [];
  for await (const ev of decodeSnapshot(input, opts)) {
    switch (ev.type) {
      case 'dbi-start':
        entries = [];
        break;
      case 'entries': {
        const b = ev.batch;
        for (let i = 0; i < b.count; i++) {
          entries.push({
            key: Buffer.from(b.buf.subarray(b.keyOff[i], b.keyOff[i]! + b.keyLen[i]!)),
            value: Buffer.from(b.buf.subarray(b.valOff[i], b.valOff[i]! + b.valLen[i]!)),
            timestampNano: (BigInt(b.tsHi[i]!) << 32n) | BigInt(b.tsLo[i]!),
            flags: b.flags[i]!,
          });
        }
        break;
      }
      case 'dbi-end':
        out.dbis.push({ name: ev.name, flags: ev.flags, transform: ev.transform, count: ev.count, entries });
        break;
      case 'end':
        Object.assign(out, { formatVersion: ev.formatVersion, compatVersion: ev.compatVersion, meta: ev.meta });
        break;
    }
  }
  return out;
}
