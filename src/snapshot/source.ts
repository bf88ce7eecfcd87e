import type { DecodeLimits } from './decode.js';

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
export class Source {
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
