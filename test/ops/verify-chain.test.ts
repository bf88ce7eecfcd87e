// The chain view of `verify`: a full snapshot and deltas decoded side by side must give, per DBI and key, the
// entry that merging the objects one after the other would leave (oracle: the merge rule re-stated here),
// in the DBI's key order (MDB_INTEGERKEY: numeric), with DBIs missing from some objects, tiny decoder batches
// and large values; and a chain whose DBIs are out of name order is refused naming the object.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { comparatorForFlags } from '../../src/lmdb/key-order.js';
import { MDB_INTEGERKEY } from '../../src/lmdb/flags.js';
import { decodeSnapshot } from '../../src/snapshot/index.js';
import { chainEvents, type ChainObject } from '../../src/ops/verify-chain.js';
import { encode, rng, type Dbi, type Entry } from '../snapshot/helpers.js';

const wins = (a: Entry, b: Entry): boolean => {
  if (a.ts !== b.ts) return a.ts > b.ts;
  const av = a.flags & 1 ? Buffer.alloc(0) : a.value;
  const bv = b.flags & 1 ? Buffer.alloc(0) : b.value;
  const c = Buffer.compare(bv, av);
  return c !== 0 ? c > 0 : (a.flags & 1) > (b.flags & 1);
};

function intKey(n: number): Buffer {
  const k = Buffer.alloc(8);
  k.writeBigUInt64LE(BigInt(n));
  return k;
}

function numericOrder(a: Buffer, b: Buffer): number {
  const x = a.readBigUInt64LE(0);
  const y = b.readBigUInt64LE(0);
  return x < y ? -1 : x > y ? 1 : 0;
}

function randomObject(r: () => number, names: string[]): Dbi[] {
  return names.filter(() => r() < 0.8).map((name) => {
    const ints = name === 'ints';
    const keys = new Map<string, Buffer>();
    for (let i = 0; i < 1 + r() * 40; i++) {
      const k = ints ? intKey(Math.floor(r() * 2 ** 20) * (r() < 0.5 ? 1 : 4096)) : Buffer.from([Math.floor(r() * 4), ...(r() < 0.5 ? [] : [Math.floor(r() * 3)])]);
      keys.set(k.toString('hex'), k);
    }
    const sorted = [...keys.values()].sort(ints ? numericOrder : (x, y) => Buffer.compare(x, y));
    const entries = sorted.map((key): Entry => {
      const deleted = r() < 0.2;
      const big = r() < 0.05;
      return { key, ts: BigInt(1 + Math.floor(r() * 4)), flags: deleted ? 1 : 0, value: deleted ? Buffer.alloc(0) : Buffer.alloc(big ? 300_000 : Math.floor(r() * 3), Math.floor(r() * 2)) };
    });
    return { name, flags: ints ? MDB_INTEGERKEY : 0, transform: '', entries };
  });
}

async function chainOf(objects: Dbi[][]): Promise<ChainObject[]> {
  return Promise.all(objects.map(async (dbis, i) => {
    const bytes = await encode(dbis);
    const name = `obj-${i}`;
    return { name, events: decodeSnapshot(Readable.from([bytes]), { name, batchEntries: 2 }) };
  }));
}

describe('verify chain view', () => {
  it('gives the merge-rule winner per key, in key order, for random chains', async () => {
    const seed = process.env.LS_TEST_SEED ? Number(process.env.LS_TEST_SEED) : Math.floor(Math.random() * 2 ** 31);
    console.log(`# verify-chain seed ${seed} (LS_TEST_SEED=${seed} to repeat)`);
    const r = rng(seed);
    for (let round = 0; round < 30; round++) {
      const objects = Array.from({ length: 1 + Math.floor(r() * 4) }, () => randomObject(r, ['a', 'ints', 'z']));
      const want = new Map<string, Map<string, Entry>>();
      for (const dbis of objects) {
        for (const d of dbis) {
          const m = want.get(d.name) ?? new Map<string, Entry>();
          want.set(d.name, m);
          for (const e of d.entries) {
            const had = m.get(e.key.toString('hex'));
            if (!had || wins(e, had)) m.set(e.key.toString('hex'), e);
          }
        }
      }
      const got = new Map<string, string[]>();
      let current = '';
      for await (const ev of chainEvents(await chainOf(objects), (_n, flags) => comparatorForFlags(flags ?? 0))) {
        if (ev.type === 'dbi-start') got.set((current = ev.name), []);
        if (ev.type !== 'entries') continue;
        const b = ev.batch;
        for (let i = 0; i < b.count; i++) {
          const ts = (BigInt(b.tsHi[i]!) << 32n) | BigInt(b.tsLo[i]!);
          got.get(current)!.push(`${b.buf.toString('hex', b.keyOff[i], b.keyOff[i]! + b.keyLen[i]!)}=${b.valLen[i]}:${b.valLen[i] ? b.buf[b.valOff[i]!] : ''}@${ts}/${b.flags[i]}`);
        }
      }
      const expected = new Map([...want].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, m]) => {
        const keys = [...m.values()].sort((x, y) => (name === 'ints' ? numericOrder(x.key, y.key) : Buffer.compare(x.key, y.key)));
        return [name, keys.map((e) => `${e.key.toString('hex')}=${e.value.length}:${e.value[0] ?? ''}@${e.ts}/${e.flags}`)];
      }));
      assert.deepEqual([...got], [...expected], `seed ${seed} (LS_TEST_SEED), round ${round}`);
    }
  });

  it('refuses an object of a longer chain whose DBIs are out of name order', async () => {
    const e: Entry = { key: Buffer.from('k'), value: Buffer.from('v'), ts: 1n, flags: 0 };
    const dbi = (name: string): Dbi => ({ name, flags: 0, transform: '', entries: [e] });
    const chain = await chainOf([[dbi('a')], [dbi('z'), dbi('b')]]);
    await assert.rejects(async () => {
      for await (const ev of chainEvents(chain, () => comparatorForFlags(0))) assert.ok(ev);
    }, /^SnapshotFormatError: snapshot obj-1: DBI "b" is out of name order/);
  });
});
