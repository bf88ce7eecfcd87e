import { bytewiseCompare, comparatorForFlags, integerKeySizeProblem, type KeyComparator } from '../lmdb/key-order.js';
import { MDB_DUPSORT, MDB_INTEGERKEY, TRANSFORM_DUPSORT_HACK_V1 } from './types.js';

const EMPTY = Buffer.alloc(0);

/**
 * Key order check of one DBI. While the DBI's flags (or, for DUPSORT, its transform) are not
 * known yet, the bytewise order is assumed and violations are only recorded; they become errors
 * once the fields (or the end of the DBI) show that order applies. MDB_INTEGERKEY keys must also
 * all have 4 or 8 bytes, the same for every key (LMDB does not check it; a snapshot breaking it
 * would silently corrupt the DBI's order): the first key breaking that is recorded too.
 */
export class OrderCheck {
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
