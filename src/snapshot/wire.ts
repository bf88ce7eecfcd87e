/**
 * Protobuf wire-format helpers shared by the streaming encoder and decoder.
 *
 * Lengths are JS numbers (exact up to 2^53), never 32-bit ints: a single DBI message can exceed
 * 2 GB and 4 GB, so no `| 0` / `>>> 0` arithmetic may touch a length.
 */
import { WireError } from './errors.js';

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_START_GROUP = 3;
export const WIRE_END_GROUP = 4;
export const WIRE_FIXED32 = 5;

const TWO_32 = 0x1_0000_0000;

/** Bytes taken by the varint of a non-negative integer up to 2^53. */
export function varintLength(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x20_0000) return 3;
  if (v < 0x1000_0000) return 4;
  let n = 4;
  for (v = Math.floor(v / 0x1000_0000); v >= 1; v = Math.floor(v / 0x80)) n++;
  return n;
}

/** Writes a non-negative integer (up to 2^53) as a varint at buf[pos]; returns the new position. */
export function writeVarint(buf: Uint8Array, pos: number, v: number): number {
  if (v < TWO_32) {
    while (v > 0x7f) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
  } else {
    while (v > 0x7f) {
      buf[pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
  }
  buf[pos++] = v;
  return pos;
}

/** The varint of an int64 / uint64 (two's complement for negatives: 10 bytes). */
export function bigVarint(v: bigint): Buffer {
  let u = BigInt.asUintN(64, v);
  const out: number[] = [];
  while (u > 0x7fn) {
    out.push(Number(u & 0x7fn) | 0x80);
    u >>= 7n;
  }
  out.push(Number(u));
  return Buffer.from(out);
}

function truncatedVarint(): never {
  throw new WireError('truncated varint', true);
}

/**
 * Reads protobuf values from `buf[pos, end)`, advancing `pos`. One reader is re-pointed at whatever
 * buffer is being parsed (set buf, pos and end), so reading allocates nothing.
 */
export class WireReader {
  buf: Uint8Array = new Uint8Array(0);
  pos = 0;
  end = 0;

  /** Points the reader at buf[pos, end). */
  at(buf: Uint8Array, pos: number, end: number): this {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    return this;
  }

  /**
   * A varint as a number; exact up to 2^53, which covers every length (longer ones are refused by the
   * callers' bound checks anyway). Non-minimal encodings (extra 0x80 bytes) are valid protobuf.
   */
  varint(): number {
    const { buf, end } = this;
    let p = this.pos;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (p >= end) truncatedVarint();
      const b = buf[p++]!;
      if (i === 9 && b > 1) throw new WireError('varint overflows 64 bits');
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        this.pos = p;
        return result;
      }
      mul *= 0x80;
    }
    throw new WireError('varint longer than 10 bytes');
  }

  /** A varint keeping its low 32 bits, as protobuf does for uint32 fields. */
  varint32(): number {
    const { buf, end } = this;
    let p = this.pos;
    let result = 0;
    for (let i = 0; i < 10; i++) {
      if (p >= end) truncatedVarint();
      const b = buf[p++]!;
      if (i < 5) result = (result | ((b & 0x7f) << (7 * i))) >>> 0;
      if (i === 9 && b > 1) throw new WireError('varint overflows 64 bits');
      if (b < 0x80) {
        this.pos = p;
        return result;
      }
    }
    throw new WireError('varint longer than 10 bytes');
  }

  /** A varint as an unsigned 64-bit bigint (allocates: meta fields and DBI flags only). */
  varintU64(): bigint {
    const { buf, end } = this;
    let p = this.pos;
    let result = 0n;
    for (let i = 0; i < 10; i++) {
      if (p >= end) truncatedVarint();
      const b = buf[p++]!;
      if (i === 9 && b > 1) throw new WireError('varint overflows 64 bits');
      result |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) {
        this.pos = p;
        return result;
      }
    }
    throw new WireError('varint longer than 10 bytes');
  }

  /** An int64 varint (two's complement). */
  varintInt64(): bigint {
    return BigInt.asIntN(64, this.varintU64());
  }

  /** A length prefix, checked to fit before `end`. */
  length(what: string): number {
    const len = this.varint();
    if (len > this.end - this.pos) {
      throw new WireError(`${what} declares ${len} bytes but only ${this.end - this.pos} remain in the enclosing message`, true);
    }
    return len;
  }

  /** A field tag; refuses field number 0 and tags beyond 32 bits. */
  tag(): number {
    const tag = this.varint();
    if (tag >= TWO_32 || tag >>> 3 === 0) throw new WireError(`invalid field tag ${tag}`);
    return tag;
  }

  /**
   * Skips the value of an unknown field whose tag was just read. Handles every wire type, groups
   * included (nested up to `maxDepth`), as protobuf requires.
   */
  skipValue(tag: number, maxDepth: number, depth = 0): void {
    switch (tag & 7) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.skip(8);
        return;
      case WIRE_FIXED32:
        this.skip(4);
        return;
      case WIRE_LEN: {
        const len = this.length(`field ${tag >>> 3}`);
        this.pos += len;
        return;
      }
      case WIRE_START_GROUP: {
        if (depth >= maxDepth) throw new WireError(`groups nested deeper than ${maxDepth}`);
        for (;;) {
          const t = this.tag();
          if ((t & 7) === WIRE_END_GROUP) {
            if (t >>> 3 !== tag >>> 3) throw new WireError(`end of group ${t >>> 3} inside group ${tag >>> 3}`);
            return;
          }
          this.skipValue(t, maxDepth, depth + 1);
        }
      }
      case WIRE_END_GROUP:
        throw new WireError(`unexpected end of group ${tag >>> 3}`);
      default:
        throw new WireError(`invalid wire type ${tag & 7} (field ${tag >>> 3})`);
    }
  }

  private skip(n: number): void {
    if (this.end - this.pos < n) throw new WireError('truncated fixed-width value', true);
    this.pos += n;
  }
}

export const WIRE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start-group', 'end-group', 'fixed32', 'invalid-6', 'invalid-7'];

/** The error for a known field carrying the wrong wire type. */
export function wrongWireType(message: string, tag: number, expected: number): WireError {
  return new WireError(
    `${message} field ${tag >>> 3} has wire type ${WIRE_NAMES[tag & 7]}, expected ${WIRE_NAMES[expected]}`,
  );
}
