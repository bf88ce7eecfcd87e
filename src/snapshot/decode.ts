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
import { bytewiseCompare, comparatorForFlags, integerKeySizeProblem, type KeyComparator } from '../lmdb/key-order.js';
import type { EntryBatch } from './batch.js';
import { SnapshotFormatError, WireError } from './errors.js';
import {
  COMPAT_VERSION, FORMAT_VERSION, MDB_DUPSORT, MDB_INTEGERKEY, MIN_FORMAT_VERSION,
  TRANSFORM_DUPSORT_HACK_V1, emptyMeta, type SnapshotEvent, type SnapshotMeta,
} from './types.js';
import {
  WIRE_FIXED64, WIRE_LEN, WIRE_VARINT, cur, readLength, readTag, readVarint, readVarint32, readVarintInt64,
  setCur, skipValue, wrongWireType,
} from './wire.js';

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


function zlibProblem(err: { code?: string; message: string }): string {
  if (err.code === 'Z_BUF_ERROR') return 'truncated gzip stream';
  if (/incorrect data check/.test(err.message)) return 'gzip CRC mismatch (corrupt data)';
  if (/incorrect length check/.test(err.message)) return 'gzip length mismatch (corrupt data)';
  if (/incorrect header check|unknown compression method/.test(err.message)) return 'not a gzip stream (bad header)';
  return `corrupt gzip data (${err.message})`;
}

/**
 * Pulls decompressed chunks and keeps `buf[pos, end)` as the unread bytes; `base` is the stream
 * offset of buf[0]. Refills copy the unread tail and the next chunk into one parse buffer that
 * grows (geometrically, as data arrives) up to the largest entry.
 */
class Source {
  buf: Buffer = EMPTY;
  pos = 0;
  end = 0;
  base = 0;
  eof = false;
  decompressed = 0;
  private pbuf: Buffer = EMPTY;

  constructor(
    private readonly it: AsyncIterator<Buffer>,
    private readonly compressedBytes: () => number,
    private readonly limits: Required<DecodeLimits>,
    private readonly fail: (problem: string, cause?: unknown) => never,
    private readonly signal: AbortSignal | undefined,
  ) {}

  get abs(): number {
    return this.base + this.pos;
  }

  /** Makes at least n bytes readable; false when the stream ended first. Invalidates old offsets. */
  async fill(n: number): Promise<boolean> {
    while (this.end - this.pos < n) {
      if (this.eof) return false;
      const chunk = await this.next();
      if (chunk === undefined) {
        this.eof = true;
        return false;
      }
      const rem = this.end - this.pos;
      if (rem === 0) {
        // Nothing left over: parse the chunk in place.
        this.base += this.end;
        this.buf = chunk;
        this.pos = 0;
        this.end = chunk.length;
        continue;
      }
      let dst = this.pbuf;
      if (this.buf === dst && dst.length - this.end >= chunk.length) {
        // Room behind the unread bytes (a large entry arriving chunk by chunk): append.
        chunk.copy(dst, this.end);
        this.end += chunk.length;
        continue;
      }
      const total = rem + chunk.length;
      if (dst.length < total || (dst.length > 16 * total && dst.length > 8 << 20)) {
        // Grows by half each time: amortised linear copying for a large entry, and memory
        // proportional to the data that really arrived, whatever length was declared.
        dst = Buffer.allocUnsafe(Math.max(64 << 10, total + (total >>> 1)));
      }
      if (this.buf === dst) dst.copyWithin(0, this.pos, this.end);
      else this.buf.copy(dst, 0, this.pos, this.end);
      chunk.copy(dst, rem);
      this.pbuf = dst;
      this.base += this.pos;
      this.buf = dst;
      this.pos = 0;
      this.end = total;
    }
    return true;
  }

  /** Skips n bytes without buffering them. */
  async skip(n: number): Promise<void> {
    for (;;) {
      const take = Math.min(n, this.end - this.pos);
      this.pos += take;
      n -= take;
      if (n === 0) return;
      if (!(await this.fill(1))) this.fail('truncated protobuf (stream ended inside a field)');
    }
  }

  private async next(): Promise<Buffer | undefined> {
    let r: IteratorResult<Buffer>;
    try {
      r = await this.it.next();
    } catch (err) {
      if (this.signal?.aborted) throw this.signal.reason;
      const e = err as { code?: string; message: string };
      if (typeof e.code === 'string' && e.code.startsWith('Z_')) this.fail(zlibProblem(e), err);
      throw err; // I/O error of the input: not a property of the object
    }
    if (r.done) return undefined;
    this.signal?.throwIfAborted();
    const chunk = r.value;
    const l = this.limits;
    this.decompressed += chunk.length;
    if (this.decompressed > l.maxDecompressedBytes) {
      this.fail(`more than ${l.maxDecompressedBytes} decompressed bytes (limit)`);
    }
    const compressed = this.compressedBytes();
    if (compressed > 0 && this.decompressed >= l.ratioMinBytes && this.decompressed / compressed > l.maxRatio) {
      this.fail(`compression ratio above ${l.maxRatio}:1 (decompression bomb?)`);
    }
    return chunk;
  }
}

interface DbiInfo {
  name: string;
  flags: number;
  transform: string;
  count: number;
}

/**
 * Key order check of one DBI. While the DBI's flags (or, for DUPSORT, its transform) are not
 * known yet, the bytewise order is assumed and violations are only recorded; they become errors
 * once the fields (or the end of the DBI) show that order applies. MDB_INTEGERKEY keys must also
 * all have 4 or 8 bytes, the same for every key (LMDB does not check it; a snapshot breaking it
 * would silently corrupt the DBI's order): the first key breaking that is recorded too.
 */
class OrderCheck {
  compare: KeyComparator = bytewiseCompare;
  integer = false;
  strict = true;
  definitive = false;
  firstDesc = -1;
  firstEqual = -1;
  /** The first entry whose key could not be in an INTEGERKEY DBI, and why. */
  firstBadSize = -1;
  badSizeProblem = '';
  prevBuf: Buffer = EMPTY;
  prevOff = 0;
  prevLen = -1;
  private firstLen = -1;
  private side = Buffer.allocUnsafe(512);

  reset(): void {
    this.prevLen = this.firstLen = -1;
    this.firstDesc = this.firstEqual = this.firstBadSize = -1;
    this.configure(undefined, undefined, false);
  }

  configure(flags: number | undefined, transform: string | undefined, final: boolean): string | undefined {
    const f = flags ?? 0;
    const compare = comparatorForFlags(f);
    const strict = !(f & MDB_DUPSORT) || (transform ?? '') === TRANSFORM_DUPSORT_HACK_V1;
    this.definitive = final || (flags !== undefined && (!(f & MDB_DUPSORT) || transform !== undefined));
    this.integer = (f & MDB_INTEGERKEY) !== 0;
    let problem: string | undefined;
    if (this.integer && this.firstBadSize >= 0) problem = `entry ${this.firstBadSize} has ${this.badSizeProblem}`;
    else if (compare === this.compare) {
      if (this.firstDesc >= 0) problem = `entry ${this.firstDesc} is out of key order`;
      else if (strict && this.firstEqual >= 0) problem = `entry ${this.firstEqual} repeats the previous key`;
    }
    if (this.definitive || compare !== this.compare) this.firstDesc = this.firstEqual = -1;
    this.compare = compare;
    this.strict = strict;
    return this.definitive || (this.integer && problem) ? problem : undefined;
  }

  /** Checks entry `index` against the previous one; returns a problem when definitely out of order. */
  check(buf: Buffer, off: number, len: number, index: number): string | undefined {
    let problem: string | undefined;
    if (this.firstBadSize < 0) {
      const sizeProblem = integerKeySizeProblem(len, this.firstLen < 0 ? undefined : this.firstLen);
      if (sizeProblem) {
        this.firstBadSize = index;
        this.badSizeProblem = sizeProblem;
        if (this.integer) return `entry ${index} has ${sizeProblem}`;
      }
    }
    if (this.firstLen < 0) this.firstLen = len;
    if (this.prevLen >= 0) {
      const c = this.compare(this.prevBuf, this.prevOff, this.prevLen, buf, off, len);
      if (c > 0) {
        if (this.definitive) problem = `entry ${index} is out of key order`;
        else if (this.firstDesc < 0) this.firstDesc = index;
      } else if (c === 0) {
        if (this.definitive) {
          if (this.strict) problem = `entry ${index} repeats the previous key`;
        } else if (this.firstEqual < 0) this.firstEqual = index;
      }
    }
    this.prevBuf = buf;
    this.prevOff = off;
    this.prevLen = len;
    return problem;
  }

  /** The parse buffer is about to change: keep a copy of the previous key. */
  detach(): void {
    if (this.prevLen < 0 || this.prevBuf === this.side) return;
    if (this.side.length < this.prevLen) this.side = Buffer.allocUnsafe(this.prevLen * 2);
    this.prevBuf.copy(this.side, 0, this.prevOff, this.prevOff + this.prevLen);
    this.prevBuf = this.side;
    this.prevOff = 0;
  }
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

/** Parses Snapshot.Meta from buf[cur, end) into `meta` (merging, as protobuf does for a repeated message field). */
function parseMeta(buf: Buffer, end: number, meta: SnapshotMeta, maxDepth: number): void {
  while (cur < end) {
    const tag = readTag(buf, end);
    const field = tag >>> 3;
    const wire = tag & 7;
    const expected = field === 4 || field === 8 ? WIRE_VARINT : field === 5 ? WIRE_FIXED64 : WIRE_LEN;
    if (field > 8 || field === 6) {
      skipValue(buf, end, tag, maxDepth);
      continue;
    }
    if (wire !== expected) throw wrongWireType('Meta', tag, expected);
    if (expected === WIRE_VARINT) {
      const v = readVarintInt64(buf, end);
      if (field === 4) meta.lmdbTxnId = v;
      else meta.fromLmdbTxnId = v;
    } else if (expected === WIRE_FIXED64) {
      if (end - cur < 8) throw new WireError('truncated Meta.timestampNano', true);
      meta.timestampNano = buf.readBigUInt64LE(cur);
      setCur(cur + 8);
    } else {
      const s = readString(buf, end, 'Meta string');
      if (field === 1) meta.generationId = s;
      else if (field === 2) meta.instanceId = s;
      else if (field === 3) meta.hostname = s;
      else meta.databaseName = s;
    }
  }
}

function readString(buf: Buffer, end: number, what: string): string {
  const len = readLength(buf, end, what);
  setCur(cur + len);
  return utf8At(buf, cur - len, len, what);
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
  private batch: EntryBatch;
  private readonly order = new OrderCheck();

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
      setCur(s.pos);
      const tag = readTag(s.buf, s.end);
      s.pos = cur;
      switch (tag) {
        case 0x08: {
          setCur(s.pos);
          const v = readVarint32(s.buf, s.end);
          s.pos = cur;
          if (v < MIN_FORMAT_VERSION || v > FORMAT_VERSION) this.fail(`unsupported formatVersion ${v}`);
          this.formatVersion = v;
          break;
        }
        case 0x20: {
          setCur(s.pos);
          const v = readVarint32(s.buf, s.end);
          s.pos = cur;
          if (v > COMPAT_VERSION) this.fail(`compatVersion ${v} is newer than the newest supported (${COMPAT_VERSION})`);
          this.compatVersion = v;
          break;
        }
        case 0x12: {
          const len = this.lengthAt(Infinity, 'Meta');
          if (len > l.maxFieldBytes) this.fail(`Meta of ${len} bytes exceeds the limit of ${l.maxFieldBytes}`);
          await this.need(len, 'Meta');
          setCur(s.pos);
          parseMeta(s.buf, s.pos + len, this.meta, l.maxGroupDepth);
          s.pos = cur;
          break;
        }
        case 0x1a: {
          const len = this.lengthAt(Infinity, 'DBI');
          if (len > l.maxDecompressedBytes) this.fail(`DBI of ${len} bytes exceeds the decompressed size limit`);
          if (this.formatVersion === 0) this.fail('formatVersion missing before the first DBI');
          if (!this.metaReported) yield this.metaEvent();
          yield* this.dbi(s.abs + len);
          break;
        }
        default:
          if (tag >>> 3 <= 4) throw wrongWireType('Snapshot', tag, tag >>> 3 === 1 || tag >>> 3 === 4 ? WIRE_VARINT : WIRE_LEN);
          await this.skipUnknown(tag, Infinity);
      }
    }
    if (this.formatVersion === 0) this.fail('not a snapshot (formatVersion missing)');
    if (!this.metaReported) yield this.metaEvent();
    yield { type: 'end', formatVersion: this.formatVersion, compatVersion: this.compatVersion, meta: { ...this.meta } };
  }

  /** Reads a length prefix at the current position (already looked ahead) and checks it against limitAbs. */
  private lengthAt(limitAbs: number, what: string): number {
    const s = this.src;
    setCur(s.pos);
    const len = readVarint(s.buf, s.end);
    s.pos = cur;
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
      setCur(s.pos);
      try {
        skipValue(s.buf, end, tag, this.limits.maxGroupDepth);
        s.pos = cur;
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
        setCur(s.pos);
        tag = readTag(buf, end);
        s.pos = cur;
      }

      if (tag === 0x12) {
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
          setCur(s.pos);
          len = readVarint(buf, end);
          s.pos = cur;
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
      if (field === 1 || field === 4) {
        if ((tag & 7) !== WIRE_LEN) throw wrongWireType('DBI', tag, WIRE_LEN);
        const what = field === 1 ? 'DBI name' : 'DBI transform';
        const len = this.lengthAt(endAbs, what);
        if (len > l.maxFieldBytes) this.fail(`${what} of ${len} bytes exceeds the limit of ${l.maxFieldBytes}`);
        await this.need(len, what);
        const str = utf8At(s.buf, s.pos, len, what);
        s.pos += len;
        if (field === 1) {
          if (started && str !== info.name) this.fail(`DBI ${JSON.stringify(info.name)} is renamed ${JSON.stringify(str)} after its entries`);
          info.name = str;
        } else {
          transform = info.transform = str;
        }
      } else if (field === 3) {
        if ((tag & 7) !== WIRE_VARINT) throw wrongWireType('DBI', tag, WIRE_VARINT);
        setCur(s.pos);
        flags = info.flags = readVarint(s.buf, end);
        s.pos = cur;
      } else if (field === 2) {
        throw wrongWireType('DBI', tag, WIRE_LEN);
      } else {
        await this.skipUnknown(tag, endAbs);
        continue;
      }
      if (field !== 1) {
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
    while (p < end) {
      const tag = buf[p]!;
      if (tag === 0x0a || tag === 0x12) {
        let len = buf[p + 1]!;
        if (len < 0x80 && p + 2 <= end) p += 2;
        else {
          setCur(p + 1);
          len = readVarint(buf, end);
          p = cur;
        }
        if (len > end - p) this.fail(`entry ${info.count} of DBI ${JSON.stringify(info.name)}: field ${tag >>> 3} declares ${len} bytes but only ${end - p} remain in the entry`);
        if (tag === 0x0a) {
          keyOff = p;
          keyLen = len;
        } else {
          valOff = p;
          valLen = len;
        }
        p += len;
      } else if (tag === 0x19) {
        if (end - p < 9) this.fail(`entry ${info.count} of DBI ${JSON.stringify(info.name)}: truncated timestampNano`);
        lo = (buf[p + 1]! | (buf[p + 2]! << 8) | (buf[p + 3]! << 16) | (buf[p + 4]! << 24)) >>> 0;
        hi = (buf[p + 5]! | (buf[p + 6]! << 8) | (buf[p + 7]! << 16) | (buf[p + 8]! << 24)) >>> 0;
        p += 9;
      } else if (tag === 0x20) {
        setCur(p + 1);
        flags = readVarint32(buf, end);
        p = cur;
      } else {
        setCur(p);
        const t = readTag(buf, end);
        if (t >>> 3 <= 4) throw wrongWireType('KV', t, t >>> 3 === 3 ? WIRE_FIXED64 : t >>> 3 === 4 ? WIRE_VARINT : WIRE_LEN);
        skipValue(buf, end, t, this.limits.maxGroupDepth);
        p = cur;
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
            key: Buffer.from(b.buf.subarray(b.keyOff[i]!, b.keyOff[i]! + b.keyLen[i]!)),
            value: Buffer.from(b.buf.subarray(b.valOff[i]!, b.valOff[i]! + b.valLen[i]!)),
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
