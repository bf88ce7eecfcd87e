/**
 * The native value header of Lightning Stream (schema_tracks_changes: true). Every value starts
 * with 24 bytes, big-endian:
 *   0-7   timestamp, ns since the UNIX epoch (u64)
 *   8-15  LMDB txn id of the write (u64)
 *   16    version (0)
 *   17    flags (0x01 = deleted; the app value is then empty)
 *   18-21 reserved (0)
 *   22-23 N, number of 8-byte extension blocks that follow
 *   24..  N*8 bytes of extensions, then the application value.
 *
 * Hot loops use the (buffer, offset, length) forms, which allocate nothing and return the
 * timestamp as two u32 halves (hi, lo); the bigint forms are for convenience.
 */

export const HEADER_SIZE = 24;
export const HEADER_VERSION = 0;
export const HEADER_FLAG_DELETED = 0x01;
export const HEADER_BLOCK_SIZE = 8;

export class HeaderError extends Error {
  constructor(message: string) {
    super(`native header: ${message}`);
    this.name = 'HeaderError';
  }
}

const TWO32 = 0x1_0000_0000;

/**
 * Validates the header of the value at buf[off, off+len) and returns the absolute offset of
 * the application value (off + 24 + 8N). Throws HeaderError when it is too short or its
 * version is not 0.
 */
export function headerValueOffset(buf: Uint8Array, off: number, len: number): number {
  if (len < HEADER_SIZE) throw new HeaderError(`value of ${len} bytes is shorter than the 24-byte header`);
  if (buf[off + 16] !== HEADER_VERSION) throw new HeaderError(`unsupported header version ${buf[off + 16]}`);
  const n = (buf[off + 22]! << 8) | buf[off + 23]!;
  const size = HEADER_SIZE + n * HEADER_BLOCK_SIZE;
  if (len < size) throw new HeaderError(`value of ${len} bytes is shorter than its header with ${n} extension block(s) (${size} bytes)`);
  return off + size;
}

/** High 32 bits of the timestamp (no validation: call headerValueOffset first). */
export function headerTsHi(buf: Uint8Array, off: number): number {
  return readU32(buf, off);
}

/** Low 32 bits of the timestamp. */
export function headerTsLo(buf: Uint8Array, off: number): number {
  return readU32(buf, off + 4);
}

/** The txn id as a number (exact below 2^53). */
export function headerTxnId(buf: Uint8Array, off: number): number {
  return readU32(buf, off + 8) * TWO32 + readU32(buf, off + 12);
}

export function headerFlags(buf: Uint8Array, off: number): number {
  return buf[off + 17]!;
}

export function headerIsDeleted(buf: Uint8Array, off: number): boolean {
  return (buf[off + 17]! & HEADER_FLAG_DELETED) !== 0;
}

/** Header size with `extraBlocks` extension blocks. */
export function headerSize(extraBlocks = 0): number {
  return HEADER_SIZE + extraBlocks * HEADER_BLOCK_SIZE;
}

/**
 * Writes a header at buf[off] (zeroed extension blocks included) and returns its size; the
 * application value goes at off + the returned size. txnId must be below 2^53.
 */
export function writeHeader(
  buf: Uint8Array, off: number, tsHi: number, tsLo: number, txnId: number, flags: number, extraBlocks = 0,
): number {
  if (extraBlocks < 0 || extraBlocks > 0xffff || !Number.isInteger(extraBlocks)) {
    throw new HeaderError(`extension block count ${extraBlocks} out of range 0..65535`);
  }
  writeU32(buf, off, tsHi);
  writeU32(buf, off + 4, tsLo);
  writeU32(buf, off + 8, Math.floor(txnId / TWO32));
  writeU32(buf, off + 12, txnId >>> 0);
  buf[off + 16] = HEADER_VERSION;
  buf[off + 17] = flags & 0xff;
  buf[off + 18] = buf[off + 19] = buf[off + 20] = buf[off + 21] = 0;
  buf[off + 22] = extraBlocks >>> 8;
  buf[off + 23] = extraBlocks & 0xff;
  const size = headerSize(extraBlocks);
  buf.fill(0, off + HEADER_SIZE, off + size);
  return size;
}

// ---------- bigint convenience forms ----------

export interface Header {
  /** ns since the UNIX epoch */
  timestamp: bigint;
  txnId: bigint;
  flags: number;
  deleted: boolean;
  extensionBlocks: number;
  /** offset of the application value within the value */
  valueOffset: number;
}

export interface ParsedValue extends Header {
  /** The application value (a view into the input, not a copy). */
  value: Buffer;
}

export function splitTimestamp(ts: bigint): [hi: number, lo: number] {
  if (ts < 0n || ts >= 1n << 64n) throw new HeaderError(`timestamp ${ts} out of the u64 range`);
  return [Number(ts >> 32n), Number(ts & 0xffffffffn)];
}

export function joinTimestamp(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** Parses a whole LMDB value (header + app value). */
export function parseValue(v: Uint8Array): ParsedValue {
  const at = headerValueOffset(v, 0, v.length);
  const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return {
    timestamp: joinTimestamp(headerTsHi(v, 0), headerTsLo(v, 0)),
    txnId: b.readBigUInt64BE(8),
    flags: v[17]!,
    deleted: headerIsDeleted(v, 0),
    extensionBlocks: (at - HEADER_SIZE) / HEADER_BLOCK_SIZE,
    valueOffset: at,
    value: b.subarray(at),
  };
}

export interface BuildOptions {
  deleted?: boolean;
  /** Extra zeroed 8-byte extension blocks (header_extra_padding_block). */
  extraBlocks?: number;
}

/** Builds header + app value (for a deleted entry the app value is ignored: empty). */
export function buildValue(timestamp: bigint, txnId: bigint | number, value: Uint8Array, opts: BuildOptions = {}): Buffer {
  const app = opts.deleted ? new Uint8Array(0) : value;
  const extra = opts.extraBlocks ?? 0;
  const out = Buffer.allocUnsafe(headerSize(extra) + app.length);
  const [hi, lo] = splitTimestamp(timestamp);
  const id = BigInt(txnId);
  if (id < 0n || id >= 1n << 64n) throw new HeaderError(`txn id ${id} out of the u64 range`);
  const at = writeHeader(out, 0, hi, lo, 0, opts.deleted ? HEADER_FLAG_DELETED : 0, extra);
  out.writeBigUInt64BE(id, 8);
  out.set(app, at);
  return out;
}

function readU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
