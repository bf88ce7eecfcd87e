/**
 * Interop with Debian's lmdb-utils (the system liblmdb 0.9.x): an env made by mdb_load reads back
 * exactly, and what we write dumps identically with mdb_dump -a and passes mdb_stat -a.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Env, KVBatchWriter, MDB_DUPFIXED, MDB_DUPSORT, MDB_INTEGERKEY, intKey, readIntKey, dbiFlagNames } from '../../src/lmdb/index.js';
import { batchPairs, run, tempDir } from './util.js';

interface DbSpec {
  name: string;
  flags: number;
  entries: [Buffer, Buffer][];
}

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function bytes(r: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

function specs(): DbSpec[] {
  const r = rng(42);
  const plain: [Buffer, Buffer][] = [];
  const seen = new Set<string>();
  for (let i = 0; i < 300; i++) {
    const k = bytes(r, 1 + Math.floor(r() * 60));
    if (seen.has(k.toString('hex'))) continue;
    seen.add(k.toString('hex'));
    plain.push([k, bytes(r, Math.floor(r() * 200))]);
  }
  plain.push([Buffer.alloc(511, 0xab), Buffer.from('longest key')]);
  plain.push([Buffer.from('empty-value'), Buffer.alloc(0)]);
  plain.push([Buffer.from('overflow'), bytes(r, 20_000)]);
  const dups: [Buffer, Buffer][] = [];
  for (let k = 0; k < 40; k++) {
    const vals = new Set<string>();
    for (let d = 0; d < 1 + (k % 9) * 30; d++) vals.add(bytes(r, 1 + Math.floor(r() * 30)).toString('hex'));
    for (const v of vals) dups.push([Buffer.from(`k${k}`), Buffer.from(v, 'hex')]);
  }
  const fixed: [Buffer, Buffer][] = [];
  for (let k = 0; k < 5; k++) for (let d = 0; d < 300; d++) fixed.push([Buffer.from(`f${k}`), intKey(d * 7 + k, 4).reverse()]);
  const ints: [Buffer, Buffer][] = [1, 2, 3, 255, 256, 65535, 65536, 2 ** 32, 2 ** 40 + 5, 2 ** 52].map((n) => [intKey(n), Buffer.from(`n${n}`)]);
  return [
    { name: 'plain', flags: 0, entries: plain },
    { name: 'dups', flags: MDB_DUPSORT, entries: dups },
    { name: 'fixed', flags: MDB_DUPSORT | MDB_DUPFIXED, entries: fixed },
    { name: 'ints', flags: MDB_INTEGERKEY, entries: ints },
  ];
}

/** Entries in the order LMDB keeps them (bytewise keys, then values; INTEGERKEY numerically). */
function lmdbOrder(spec: DbSpec): [string, string][] {
  const cmpKey = spec.flags & MDB_INTEGERKEY
    ? (a: Buffer, b: Buffer) => (readIntKey(a) < readIntKey(b) ? -1 : readIntKey(a) > readIntKey(b) ? 1 : 0)
    : (a: Buffer, b: Buffer) => Buffer.compare(a, b);
  return [...spec.entries]
    .sort((a, b) => cmpKey(a[0], b[0]) || Buffer.compare(a[1], b[1]))
    .map(([k, v]) => [k.toString('hex'), v.toString('hex')]);
}

const MAP_SIZE = 10 * 1024 * 1024;

function dumpText(spec: DbSpec): string {
  const flagLines = [
    spec.flags & MDB_DUPSORT ? 'dupsort=1\n' : '',
    spec.flags & MDB_INTEGERKEY ? 'integerkey=1\n' : '',
    spec.flags & MDB_DUPFIXED ? 'dupfixed=1\n' : '',
  ].join('');
  const header = `VERSION=3\nformat=bytevalue\ndatabase=${spec.name}\ntype=btree\nmapsize=${MAP_SIZE}\nmaxreaders=126\n${flagLines}HEADER=END\n`;
  // shuffled: mdb_load puts in input order, LMDB sorts
  const body = [...spec.entries].reverse().map(([k, v]) => ` ${k.toString('hex')}\n ${v.toString('hex')}\n`).join('');
  return `${header}${body}DATA=END\n`;
}

/** Writes the specs as mdb_dump text and loads them with mdb_load into dir/loaded. */
function loadWithMdbLoad(dir: string): { all: DbSpec[]; loaded: string } {
  const all = specs();
  const loaded = join(dir, 'loaded');
  mkdirSync(loaded);
  writeFileSync(join(dir, 'in.txt'), all.map(dumpText).join(''));
  run('mdb_load', ['-f', join(dir, 'in.txt'), loaded]);
  return { all, loaded };
}

test('interop: env made by mdb_load (plain, DUPSORT, DUPFIXED, INTEGERKEY) reads back exactly', () => {
  const { dir, cleanup } = tempDir();
  try {
    const { all, loaded } = loadWithMdbLoad(dir);

    const env = Env.open(loaded, { readOnly: true });
    try {
      assert.deepEqual(env.listDbis(), all.map((s) => s.name).sort());
      for (const spec of all) {
        const dbi = env.openDbi(spec.name)!;
        assert.equal(dbi.flags, spec.flags, `${spec.name}: flags ${dbiFlagNames(dbi.flags)}`);
        const expected = lmdbOrder(spec);
        env.read((txn) => {
          assert.equal(txn.stat(dbi).entries, expected.length);
          const scanned: [string, string][] = [];
          for (const b of txn.scan(dbi, { batchBytes: 4096 })) scanned.push(...batchPairs(b));
          assert.deepEqual(scanned, expected, `${spec.name}: bulk scan`);
          const iterated = [...txn.entries(dbi)].map((e) => [e.key.toString('hex'), e.value.toString('hex')]);
          assert.deepEqual(iterated, expected, `${spec.name}: cursor`);
          const [k0, v0] = spec.entries[spec.entries.length - 1]!;
          const c = txn.cursor(dbi);
          const found = spec.flags & MDB_DUPSORT ? c.getBoth(k0, v0) : c.seekKey(k0);
          assert.equal(found?.value.toString('hex'), v0.toString('hex'));
          c.close();
        });
      }
    } finally {
      env.close();
    }
  } finally {
    cleanup();
  }
});

test('interop: what we write dumps identically to mdb_load\'s env (mdb_dump -a) and mdb_stat -a is clean', () => {
  const { dir, cleanup } = tempDir();
  try {
    const { all, loaded } = loadWithMdbLoad(dir);

    const ours = join(dir, 'ours');
    const env = Env.open(ours, { create: true, mapSize: MAP_SIZE });
    try {
      for (const spec of all) {
        const dbi = env.openDbi(spec.name, { create: true, flags: spec.flags })!;
        const w = new KVBatchWriter(4096, 16);
        // half with putBatch (shuffled), half with single puts, one extra duplicate deleted again
        const half = Math.floor(spec.entries.length / 2);
        for (const [k, v] of spec.entries.slice(0, half).reverse()) w.add(k, v);
        env.write((txn) => {
          assert.equal(txn.putBatch(dbi, w.batch), half);
          for (const [k, v] of spec.entries.slice(half)) txn.put(dbi, k, v);
          if (spec.flags & MDB_DUPSORT) {
            const [k, v] = spec.entries[0]!;
            const extra = Buffer.alloc(v.length, 0xff);
            txn.put(dbi, k, extra);
            assert.equal(txn.del(dbi, k, extra), true);
          }
        });
      }
    } finally {
      env.close();
    }
    const theirs = run('mdb_dump', ['-a', loaded]);
    const mine = run('mdb_dump', ['-a', ours]);
    assert.ok(mine.includes('database=ints') && mine.includes('integerkey=1') && mine.includes('dupsort=1'));
    assert.equal(mine, theirs);
    const stat = run('mdb_stat', ['-a', '-e', '-f', '-r', ours]);
    assert.match(stat, /Status of plain/);
    assert.doesNotMatch(stat, /error|corrupt|invalid/i);
    const entries = [...stat.matchAll(/Status of (\w+)\n(?:.*\n){4}\s+Entries: (\d+)/g)].map((m) => [m[1], Number(m[2])]);
    assert.deepEqual(
      entries.filter(([n]) => n !== 'Main').sort(),
      all.map((s) => [s.name, s.entries.length]).sort(),
    );
  } finally {
    cleanup();
  }
});
