import type { KVBatch } from '../../lmdb/batch.js';
import { LMDB_MAX_KEY_SIZE } from '../../lmdb/flags.js';
import { headerIsDeleted, headerValueOffset } from '../../lmdb/header.js';
import { MDB_NODUPDATA, type Txn } from '../../lmdb/index.js';
import { dupsortHackKeyLength } from './dupsort-hack.js';
import type { ShadowPair } from './pair.js';

/** Applies shadow entries just written by a merge to the application DBI: only what changed. */
export function applyToApp(txn: Txn, pair: ShadowPair, written: KVBatch): void {
  const { buf } = written;
  for (let i = 0; i < written.count; i++) {
    const kOff = written.keyOff[i]!;
    let kLen = written.keyLen[i]!;
    const vOff = written.valOff[i]!;
    const vLen = written.valLen[i]!;
    const deleted = headerIsDeleted(buf, vOff);
    const appValOff = headerValueOffset(buf, vOff, vLen);
    const value = buf.subarray(appValOff, vOff + vLen);
    if (pair.dupsort) kLen = dupsortHackKeyLength(buf, kOff, kLen, pair.name);
    const key = buf.subarray(kOff, kOff + kLen);
    if (pair.dupsort) {
      if (deleted) deleteDuplicate(txn, pair, key, buf.subarray(kOff + kLen + 4, kOff + written.keyLen[i]! - 1));
      else txn.put(pair.app, key, value, MDB_NODUPDATA);
    } else if (deleted) {
      txn.del(pair.app, key);
    } else {
      txn.put(pair.app, key, value);
    }
  }
}

/**
 * A deletion marker carries no value: the duplicate is named by the value bytes inside the hacked key,
 * which are the whole value unless it was cut to fit 511 bytes; then the first duplicate starting with
 * them is removed.
 */
function deleteDuplicate(txn: Txn, pair: ShadowPair, key: Buffer, valueInKey: Buffer): void {
  const cut = key.length + 4 + valueInKey.length + 1 >= LMDB_MAX_KEY_SIZE;
  if (!cut) {
    txn.del(pair.app, key, valueInKey);
    return;
  }
  const cursor = txn.cursor(pair.app);
  try {
    const found = cursor.getBothRange(key, valueInKey);
    if (found && found.value.subarray(0, valueInKey.length).equals(valueInKey)) cursor.del();
  } finally {
    cursor.close();
  }
}
