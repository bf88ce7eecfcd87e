import type { KVBatch } from '../../lmdb/batch.js';
import { splitTimestamp } from '../../lmdb/header.js';
import type { Txn } from '../../lmdb/index.js';
import { comparatorForFlags } from '../../lmdb/key-order.js';
import { readHeaderFields } from '../header-fields.js';
import { SHADOW_DBI_PREFIX } from '../mode.js';
import { PutBuffer } from '../merge/put-buffer.js';
import { ScanCursor } from '../merge/scan-cursor.js';
import { appEntriesInShadowOrder } from './dupsort.js';
import type { ShadowPair } from './pair.js';

/**
 * Local changes into a shadow DBI: a merge-join of the application DBI against its shadow inside `txn`.
 * A changed key gets `now` (or just after its current timestamp, see stampAfter), a new key `newKeyTs`,
 * a key gone from the application a deletion marker. Returns the number of shadow entries written.
 */
export function diffIntoShadow(txn: Txn, pair: ShadowPair, newKeyTs: bigint, now: bigint, paddingBlocks: number): number {
  const compare = comparatorForFlags(pair.shadow.flags);
  const out = new PutBuffer();
  const [nowHi, nowLo] = splitTimestamp(now);
  const [newHi, newLo] = splitTimestamp(newKeyTs);
  const txnId = txn.id;
  const pad = paddingBlocks;
  const fields = { tsHi: 0, tsLo: 0, flags: 0, valOff: 0, valLen: 0 };
  let written = 0;
  const flush = () => {
    if (out.count === 0) return;
    txn.putBatch(pair.shadow, out.batch);
    written += out.count;
    out.reset();
  };
  const shadow = new ScanCursor(txn.scan(pair.shadow)[Symbol.iterator]());
  const markDeletedIfLive = (b: KVBatch, i: number) => {
    readHeaderFields(b.buf, b.valOff[i]!, b.valLen[i]!, fields, SHADOW_DBI_PREFIX + pair.name);
    if ((fields.flags & 0x01) === 0) {
      const [hi, lo] = stampAfter(nowHi, nowLo, fields.tsHi, fields.tsLo);
      out.addWithHeader(b.buf, b.keyOff[i]!, b.keyLen[i]!, b.buf, 0, 0, hi, lo, txnId, 0x01, pad);
      if (out.full) flush();
    }
  };
  for (const ab of appEntriesInShadowOrder(txn, pair)) {
    for (let i = 0; i < ab.count; i++) {
      const aKeyOff = ab.keyOff[i]!;
      const aKeyLen = ab.keyLen[i]!;
      let cmp = 1;
      for (let b = shadow.batch(); b; b = shadow.batch()) {
        cmp = compare(b.buf, b.keyOff[shadow.index]!, b.keyLen[shadow.index]!, ab.buf, aKeyOff, aKeyLen);
        if (cmp >= 0) break;
        markDeletedIfLive(b, shadow.index++);
      }
      const aValOff = ab.valOff[i]!;
      const aValLen = ab.valLen[i]!;
      if (cmp === 0) {
        const b = shadow.batch()!;
        const si = shadow.index++;
        const f = readHeaderFields(b.buf, b.valOff[si]!, b.valLen[si]!, fields, SHADOW_DBI_PREFIX + pair.name);
        const same = (f.flags & 0x01) === 0 && f.valLen === aValLen &&
          b.buf.compare(ab.buf, aValOff, aValOff + aValLen, f.valOff, f.valOff + f.valLen) === 0;
        if (same) continue;
        const [hi, lo] = stampAfter(nowHi, nowLo, f.tsHi, f.tsLo);
        out.addWithHeader(ab.buf, aKeyOff, aKeyLen, ab.buf, aValOff, aValLen, hi, lo, txnId, 0, pad);
      } else {
        out.addWithHeader(ab.buf, aKeyOff, aKeyLen, ab.buf, aValOff, aValLen, newHi, newLo, txnId, 0, pad);
      }
      if (out.full) flush();
    }
  }
  for (let b = shadow.batch(); b; b = shadow.batch()) markDeletedIfLive(b, shadow.index++);
  flush();
  return written;
}

/**
 * The timestamp of a local change to an entry stamped (tsHi, tsLo): now, or just after the entry's
 * current timestamp when that is not older (a clock behind, or a remote entry from a clock ahead).
 * A change must always win over what it changed, or the next merge would revert it.
 */
export function stampAfter(nowHi: number, nowLo: number, tsHi: number, tsLo: number): [number, number] {
  if (tsHi < nowHi || (tsHi === nowHi && tsLo < nowLo)) return [nowHi, nowLo];
  return tsLo === 0xffffffff ? [tsHi + 1, 0] : [tsHi, tsLo + 1];
}
