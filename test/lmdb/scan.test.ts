import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Env, MDB_DUPSORT, MDB_INTEGERKEY, intKey } from '../../src/lmdb/index.js';
import { B, batchPairs, tempDir } from './util.js';

function fromEntries(it: Iterable<{ key: Buffer; value: Buffer }>): [string, string][] {
  return [...it].map((e) => [e.key.toString('hex'), e.value.toString('hex')]);
}

test('scan: batches resume exactly, inside DUPSORT runs, from a start key, growing for big entries', () => {
  const { dir, cleanup } = tempDir();
  const env = Env.open(join(dir, 'db'), { create: true, mapSize: 256 << 20 });
  try {
    const plain = env.openDbi('plain', { create: true })!;
    const dup = env.openDbi('dup', { create: true, flags: MDB_DUPSORT })!;
    const ik = env.openDbi('ik', { create: true, flags: MDB_INTEGERKEY })!;
    const empty = env.openDbi('empty', { create: true })!;
    env.write((txn) => {
      for (let i = 0; i < 5000; i++) txn.put(plain, randomBytes(1 + (i % 40)), randomBytes(i % 97));
      txn.put(plain, B('big'), randomBytes(300_000)); // larger than any batch buffer below
      for (let k = 0; k < 30; k++) {
        for (let d = 0; d < (k % 7) * 40; d++) txn.put(dup, B(`key-${String(k).padStart(2, '0')}`), randomBytes(1 + (d % 50)));
      }
      for (const n of [3, 1, 2, 1000, 2 ** 33]) txn.put(ik, intKey(n), B(String(n)));
    });
    env.read((txn) => {
      for (const dbi of [plain, dup, ik]) {
        const expected = fromEntries(txn.entries(dbi));
        for (const batchBytes of [64, 1000, 4096, 1 << 20]) {
          const got: [string, string][] = [];
          let batches = 0;
          for (const b of txn.scan(dbi, { batchBytes })) {
            batches++;
            got.push(...batchPairs(b));
          }
          assert.equal(got.length, expected.length, `${dbi.name} batchBytes=${batchBytes}`);
          assert.deepEqual(got, expected, `${dbi.name} batchBytes=${batchBytes}`);
          if (batchBytes === 64 && dbi === dup) assert.ok(batches >= expected.length / 4, 'many small batches');
        }
        // from a start key (the middle one)
        const mid = Buffer.from(expected[Math.floor(expected.length / 2)]![0], 'hex');
        const fromMid = fromEntries(txn.entries(dbi, { start: mid }));
        const scanned: [string, string][] = [];
        for (const b of txn.scan(dbi, { start: mid, batchBytes: 512 })) scanned.push(...batchPairs(b));
        assert.deepEqual(scanned, fromMid);
        assert.equal(fromMid[0]![0], mid.toString('hex'));
      }
      assert.equal([...txn.scan(empty)].length, 0, 'empty DBI: no batches');
      assert.equal([...txn.scan(plain, { start: Buffer.alloc(8, 0xff) })].length, 0, 'start after the last key');
      let count = 0;
      for (const b of txn.scan(dup, { batchBytes: 100 })) count += b.count;
      assert.equal(count, txn.stat(dup).entries);
    });

    // A batch must not outlive its txn: the next step fails cleanly.
    const t = env.beginRead();
    const it = t.scan(plain, { batchBytes: 128 });
    const first = it.next();
    assert.ok(!first.done && first.value.count > 0);
    t.abort();
    assert.throws(() => it.next(), /transaction already aborted/);
  } finally {
    env.close();
    cleanup();
  }
});
