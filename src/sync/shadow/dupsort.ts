import type { KVBatch } from '../../lmdb/batch.js';
import { KVBatchWriter } from '../../lmdb/batch-writer.js';
import type { Txn } from '../../lmdb/index.js';
import { dupsortHackEncode } from './dupsort-hack.js';
import type { ShadowPair } from './pair.js';

/** The application entries in shadow-key order (dupsort_hack keys are built and sorted). */
export function* appEntriesInShadowOrder(txn: Txn, pair: ShadowPair): Generator<KVBatch> {
  if (!pair.dupsort) {
    yield* txn.scan(pair.app);
    return;
  }
  const hacked: Array<{ key: Buffer; value: Buffer }> = [];
  for (const b of txn.scan(pair.app)) {
    for (let i = 0; i < b.count; i++) {
      const key = b.buf.subarray(b.keyOff[i], b.keyOff[i]! + b.keyLen[i]!);
      const value = Buffer.from(b.buf.subarray(b.valOff[i], b.valOff[i]! + b.valLen[i]!));
      hacked.push({ key: dupsortHackEncode(key, value, pair.name), value });
    }
  }
  hacked.sort((a, b) => Buffer.compare(a.key, b.key));
  const packed = new KVBatchWriter(1 << 16, Math.max(1, hacked.length));
  for (let i = 0; i < hacked.length; i++) {
    const e = hacked[i]!;
    if (i > 0 && e.key.equals(hacked[i - 1]!.key)) {
      throw new Error(`DBI ${pair.name}: dupsort_hack does not give unique keys (values of one key share their first bytes)`);
    }
    packed.add(e.key, e.value);
  }
  yield packed.batch;
}
