import type { KVBatch } from '../lmdb/batch.js';
import type { Dbi, Txn } from '../lmdb/index.js';
import type { EntryBatch } from '../snapshot/batch.js';
import type { DbiSource } from '../snapshot/types.js';
import { readHeaderFields } from './header-fields.js';

/**
 * Turns the bulk scan of a DBI whose values carry native headers into snapshot entry batches:
 * the header is parsed in place (timestamp, deleted flag) and the value offsets moved past it.
 * No per-entry allocation: the typed arrays are reused from batch to batch.
 */
export function* headerScan(txn: Txn, dbi: Dbi, dbiName: string): Generator<EntryBatch> {
  let out: EntryBatch | undefined;
  const fields = { tsHi: 0, tsLo: 0, flags: 0, valOff: 0, valLen: 0 };
  for (const kv of txn.scan(dbi)) {
    out = reuse(out, kv);
    for (let i = 0; i < kv.count; i++) {
      readHeaderFields(kv.buf, kv.valOff[i]!, kv.valLen[i]!, fields, dbiName);
      out.tsHi[i] = fields.tsHi;
      out.tsLo[i] = fields.tsLo;
      out.flags[i] = fields.flags & 0x01;
      out.valOff[i] = fields.valOff;
      out.valLen[i] = fields.flags & 0x01 ? 0 : fields.valLen;
    }
    yield out;
  }
}

function reuse(prev: EntryBatch | undefined, kv: KVBatch): EntryBatch {
  const cap = prev?.tsHi.length ?? 0;
  const size = Math.max(kv.count, cap);
  const batch: EntryBatch = prev && cap >= kv.count ? prev : {
    count: 0, buf: kv.buf, keyOff: kv.keyOff, keyLen: kv.keyLen,
    valOff: new Uint32Array(size), valLen: new Uint32Array(size),
    tsHi: new Uint32Array(size), tsLo: new Uint32Array(size), flags: new Uint8Array(size),
  };
  batch.count = kv.count;
  batch.buf = kv.buf;
  batch.keyOff = kv.keyOff;
  batch.keyLen = kv.keyLen;
  return batch;
}

/** A snapshot DBI backed by a native-mode DBI of a read txn; batches() can be replayed. */
export function nativeDbiSource(txn: Txn, dbi: Dbi, name: string): DbiSource {
  return { name, flags: dbi.flags, transform: '', batches: () => headerScan(txn, dbi, name) };
}
