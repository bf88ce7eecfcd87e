// The pieces behind dump/stats/sweeper: resumable chunked scans (plain, DUPSORT, INTEGERKEY DBIs, with
// changes between chunks), the chunked dump giving the same text as a one-txn dump, Go's number formats.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Env, MDB_DUPSORT, MDB_INTEGERDUP, MDB_INTEGERKEY, type Dbi } from '../../src/lmdb/index.js';
import { canResume, scanChunk, type ScanPosition } from '../../src/ops/chunk-scan.js';
import { dumpEnv } from '../../src/ops/lmdb-dump.js';
import { goFixed1, goHumanBytes } from '../../src/ops/lmdb-tools.js';
import { tempDir } from './helpers.js';

const tmp = tempDir('tools');
after(() => tmp.remove());

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n); // INTEGERKEY keys are native-endian unsigned ints
  return b;
};

function allEntries(env: Env, dbi: Dbi): string[] {
  return env.read((txn) => [...txn.entries(dbi)].map((e) => `${e.key.toString('hex')}=${e.value.toString('hex')}`));
}

/** Every entry, read in chunks of `size` entries, each chunk in its own read txn. */
function chunked(env: Env, dbi: Dbi, size: number, between?: (pos: ScanPosition | undefined) => void): string[] {
  const out: string[] = [];
  let pos: ScanPosition | undefined;
  for (;;) {
    const r = env.read((txn) => scanChunk(txn, dbi, pos, size, (b, i) => {
      out.push(`${b.buf.toString('hex', b.keyOff[i], b.keyOff[i]! + b.keyLen[i]!)}=${b.buf.toString('hex', b.valOff[i], b.valOff[i]! + b.valLen[i]!)}`);
    }));
    assert.ok(r.visited <= size);
    pos = r.last;
    if (r.done) return out;
    between?.(pos);
  }
}

describe('chunked scans', () => {
  const env = Env.open(join(tmp.dir, 'scan'), { create: true, maxDbs: 16 });
  after(() => env.close());
  const plain = env.openDbi('plain', { create: true })!;
  const dup = env.openDbi('dup', { create: true, flags: MDB_DUPSORT })!;
  const intkey = env.openDbi('intkey', { create: true, flags: MDB_INTEGERKEY })!;
  const intdup = env.openDbi('intdup', { create: true, flags: MDB_DUPSORT | MDB_INTEGERDUP })!;
  env.write((txn) => {
    for (let i = 0; i < 25; i++) txn.put(plain, Buffer.from(`k${String(i).padStart(2, '0')}`), Buffer.from(`v${i}`));
    for (const k of ['a', 'b', 'c']) for (let i = 0; i < 7; i++) txn.put(dup, Buffer.from(k), Buffer.from(`d${i}`));
    for (const n of [1, 255, 256, 65536, 7]) txn.put(intkey, u32(n), Buffer.from(`n${n}`));
    for (const n of [3, 300, 70000]) txn.put(intdup, Buffer.from('x'), u32(n));
  });

  it('reads every entry once, in LMDB order, whatever the chunk size', () => {
    for (const dbi of [plain, dup, intkey]) {
      const whole = allEntries(env, dbi);
      for (const size of [1, 2, 3, 7, 100]) assert.deepEqual(chunked(env, dbi, size), whole, `${dbi.name} by ${size}`);
    }
    assert.equal(canResume(intdup), false);
    assert.equal(canResume(dup), true);
  });

  it('resumes correctly when the last visited entry is deleted or entries are added between chunks', () => {
    const before = allEntries(env, plain);
    let step = 0;
    const got = chunked(env, plain, 4, (pos) => {
      step++;
      env.write((txn) => {
        if (step === 1) txn.del(plain, pos!.key); // the entry the next chunk resumes from
        if (step === 2) txn.put(plain, Buffer.from('k00a'), Buffer.from('behind')); // before the position: not seen
        if (step === 3) txn.put(plain, Buffer.from('k99'), Buffer.from('ahead')); // after it: seen
      });
    });
    const deleted = before[3]!;
    assert.deepEqual(got, [...before.slice(0, 4), ...before.slice(4), `${Buffer.from('k99').toString('hex')}=${Buffer.from('ahead').toString('hex')}`]);
    assert.ok(got.includes(deleted), 'visited before it was deleted');
    env.write((txn) => {
      txn.del(plain, Buffer.from('k00a'));
      txn.del(plain, Buffer.from('k99'));
      txn.put(plain, Buffer.from(deleted.split('=')[0]!, 'hex'), Buffer.from(deleted.split('=')[1]!, 'hex'));
    });
  });

  it('the chunked dump prints what a single-txn dump prints', async () => {
    const text = async (chunkEntries: number) => {
      let out = '';
      await dumpEnv(env, 'scan', { hide: false, nativeHeaders: false, chunkEntries }, { print: (t) => { out += t; return undefined; } });
      return out;
    };
    const whole = await text(1_000_000);
    assert.equal(await text(2), whole);
    assert.equal(await text(5), whole);
    assert.match(whole, /### scan :: dup\n\na \[61\] {2}= {2}d0 \[64 30\]\n/);
  });
});

describe('Go number formats', () => {
  it('%.1f rounds exact ties to even', () => {
    assert.deepEqual([0.25, 0.75, 2.25, 0.35, 1.05, 12.5, 0].map(goFixed1), ['0.2', '0.8', '2.2', '0.3', '1.1', '12.5', '0.0']);
  });
  it('datasize HumanReadable', () => {
    assert.deepEqual(
      [0, 1024, 1025, 2304, 4096, 2 ** 20, 2 ** 30, 2 ** 30 + 2 ** 29, 5 * 2 ** 40].map(goHumanBytes),
      ['0 B', '1024 B', '1.0 KB', '2.2 KB', '4.0 KB', '1024.0 KB', '1024.0 MB', '1.5 GB', '5.0 TB'],
    );
  });
});
