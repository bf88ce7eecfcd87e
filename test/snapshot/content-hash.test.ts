// The content hash (README, "Content hashes") against a reference written here from the README's
// definition alone (nothing of src/snapshot/content-hash.ts): independent of batching, DBI order and
// encoding; any single change to a key, timestamp, deleted flag or value changes it; carried by encoded
// snapshots in a field a Go-style reader skips; a snapshot whose entries do not match its hash is refused.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { test } from 'node:test';
import protobuf from 'protobufjs';
import { ContentHasher, hashingEvents, CONTENT_HASH_ALGORITHM } from '../../src/snapshot/content-hash.js';
import { contentHashField } from '../../src/snapshot/encode.js';
import { decodeSnapshot } from '../../src/snapshot/decode.js';
import { SnapshotFormatError } from '../../src/snapshot/errors.js';
import type { SnapshotEvent } from '../../src/snapshot/types.js';
import { encode, FIXTURES, makeBatch, randomDbi, rng, type Dbi, type Entry } from './helpers.js';

const seed = Number(process.env.LS_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`# content-hash seed ${seed} (LS_TEST_SEED=${seed} to repeat)`);
const withSeed = (msg: string) => `${msg} (seed ${seed}; rerun with LS_TEST_SEED=${seed})`;

/** The README's definition, written out plainly. */
function referenceHash(dbis: Dbi[]): string {
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const u64 = (n: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(n);
    return b;
  };
  const perDbi = new Map<string, { digest: Buffer; count: number }>();
  for (const d of dbis) {
    if (d.name.startsWith('_sync') || d.entries.length === 0) continue;
    const h = createHash('sha256');
    for (const e of d.entries) {
      const deleted = (e.flags & 1) === 1;
      const value = deleted ? Buffer.alloc(0) : e.value;
      h.update(Buffer.concat([u32(e.key.length), e.key, u64(e.ts), Buffer.from([deleted ? 1 : 0]), u32(value.length), value]));
    }
    perDbi.set(d.name, { digest: h.digest(), count: d.entries.length });
  }
  const top = createHash('sha256').update('ls-content-sha256-v1\n');
  const names = [...perDbi.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const n of names) {
    const { digest, count } = perDbi.get(n)!;
    top.update(Buffer.concat([u32(Buffer.byteLength(n)), Buffer.from(n), u64(BigInt(count)), digest]));
  }
  return top.digest('hex');
}

function hashOf(dbis: Dbi[], perBatch: number): string {
  const h = new ContentHasher();
  for (const d of dbis) for (let i = 0; i < d.entries.length; i += perBatch) h.add(d.name, makeBatch(d.entries.slice(i, i + perBatch)));
  return h.digest().digest.toString('hex');
}

function randomFleetData(r: () => number): Dbi[] {
  const dbis = [randomDbi(r, 'records', 1 + Math.floor(r() * 200)), randomDbi(r, 'meta', Math.floor(r() * 20)), randomDbi(r, 'é-dbi', 5)];
  // A few long keys and values: across the staging buffer's boundary, and one entry larger than it.
  const big = dbis[0]!.entries[0]!;
  big.value = Buffer.alloc(300_000 + Math.floor(r() * 1000), 7);
  big.flags = 0;
  return dbis;
}

test('the hash follows the README definition, whatever the batching and DBI order', () => {
  for (let round = 0; round < 20; round++) {
    const r = rng(seed + round);
    const dbis = randomFleetData(r);
    const want = referenceHash(dbis);
    assert.equal(hashOf(dbis, 1), want, withSeed(`round ${round}, batches of 1`));
    assert.equal(hashOf(dbis, 1 + Math.floor(r() * 64)), want, withSeed(`round ${round}, random batch size`));
    assert.equal(hashOf([...dbis].reverse(), 7), want, withSeed(`round ${round}, DBIs reversed`));
    const withPrivate = [...dbis, randomDbi(r, '_sync_shadow_records', 3), { name: 'empty', flags: 0, transform: '', entries: [] }];
    assert.equal(hashOf(withPrivate, 5), want, withSeed(`round ${round}: _sync DBIs and empty DBIs do not count`));
  }
});

test('large content (many stage flushes inside one batch, entries over the stage size) follows the README definition too', () => {
  for (let round = 0; round < 3; round++) {
    const r = rng(seed + 1000 + round);
    // Three DBIs of ~4-6 MiB each: values of random length up to 120 kB (several per 256 KiB stage) and some
    // over the stage size, in batches of a few entries.
    const dbis = ['a', 'b', 'c'].map((name) => {
      const d = randomDbi(r, name, 40 + Math.floor(r() * 40));
      for (const e of d.entries) {
        e.flags = r() < 0.1 ? 1 : 0;
        e.value = e.flags === 1 ? Buffer.alloc(0) : Buffer.alloc(Math.floor(r() * (r() < 0.1 ? 400_000 : 120_000)), Math.floor(r() * 256));
      }
      return d;
    });
    const want = referenceHash(dbis);
    assert.equal(hashOf(dbis, 1 + Math.floor(r() * 8)), want, withSeed(`large round ${round}`));
    assert.equal(hashOf([...dbis].reverse(), 3), want, withSeed(`large round ${round}, DBIs reversed`));
  }
});

test('any single change to a key, timestamp, deleted flag or value changes the hash', () => {
  const r = rng(seed);
  const dbis = randomFleetData(r);
  const before = hashOf(dbis, 16);
  const mutations: Array<[string, (e: Entry) => void]> = [
    ['key byte', (e) => { const k = Buffer.from(e.key); k[k.length - 1] = k[k.length - 1]! ^ 1; e.key = k; }],
    ['key longer', (e) => { e.key = Buffer.concat([e.key, Buffer.from([0])]); }],
    ['timestamp +1 ns', (e) => { e.ts += 1n; }],
    ['deleted flag', (e) => { e.flags ^= 1; }],
    ['value byte', (e) => { e.flags = 0; e.value = Buffer.concat([e.value, Buffer.from([1])]); }],
  ];
  for (const [what, mutate] of mutations) {
    const copy = dbis.map((d) => ({ ...d, entries: d.entries.map((e) => ({ ...e })) }));
    const target = copy[0]!.entries[Math.floor(r() * copy[0]!.entries.length)]!;
    mutate(target);
    copy[0]!.entries.sort((a, b) => Buffer.compare(a.key, b.key));
    assert.notEqual(hashOf(copy, 16), before, withSeed(what));
  }
  // A deleted entry's value does not count (a deletion marker has no value).
  const deleted = dbis.map((d) => ({ ...d, entries: d.entries.map((e) => ({ ...e })) }));
  const marker = deleted[0]!.entries.at(-1)!;
  marker.flags = 1;
  marker.value = Buffer.alloc(0);
  const withJunk = deleted.map((d) => ({ ...d, entries: d.entries.map((e) => ({ ...e })) }));
  withJunk[0]!.entries.at(-1)!.value = Buffer.from('ignored');
  assert.equal(hashOf(withJunk, 3), hashOf(deleted, 3));
});

async function events(gz: Buffer, name = 'x.pb.gz'): Promise<SnapshotEvent[]> {
  const out: SnapshotEvent[] = [];
  const hasher = new ContentHasher();
  for await (const ev of hashingEvents(decodeSnapshot(Readable.from([gz]), { name }), hasher, name)) out.push(ev.type === 'entries' ? { ...ev } : ev);
  return out;
}

test('an encoded snapshot carries the hash last; our decoder reports it, a reader without the field skips it', async () => {
  const dbis = randomFleetData(rng(seed + 100));
  const gz = await encode(dbis, { contentHash: new ContentHasher(), chunkBytes: 4096 });
  const end = (await events(gz)).at(-1)!;
  assert.ok(end.type === 'end' && end.contentHash, 'the end event carries the hash');
  assert.equal(end.contentHash.algorithm, CONTENT_HASH_ALGORITHM);
  assert.equal(end.contentHash.digest.toString('hex'), referenceHash(dbis), withSeed('carried hash'));
  assert.equal(end.contentHash.entries, dbis.reduce((n, d) => n + d.entries.length, 0));

  // The schema as Go 0.4.4 knows it (the facts note): field 100 is unknown to it.
  const goSchema = protobuf.parse(`syntax = "proto3";
    message KV { bytes key = 1; bytes value = 2; fixed64 timestampNano = 3; uint32 flags = 4; }
    message DBI { string name = 1; repeated KV entries = 2; uint64 flags = 3; string transform = 4; }
    message Snapshot { uint32 formatVersion = 1; uint32 compatVersion = 4;
      message Meta { string generationID = 1; string instanceID = 2; string hostname = 3; int64 lmdbTxnID = 4;
                     fixed64 timestampNano = 5; string databaseName = 7; int64 fromLmdbTxnID = 8; }
      Meta meta = 2; repeated DBI databases = 3; }`).root.lookupType('Snapshot');
  const decoded = goSchema.toObject(goSchema.decode(gunzipSync(gz)), { defaults: true }) as { formatVersion: number; databases: Array<{ name: string; entries: unknown[] }> };
  assert.equal(decoded.formatVersion, 3);
  assert.deepEqual(decoded.databases.map((d) => [d.name, d.entries.length]), dbis.map((d) => [d.name, d.entries.length]));
  const raw = gunzipSync(gz);
  const trailer = contentHashField(end.contentHash);
  assert.deepEqual([...trailer.subarray(0, 2)], [0xa2, 0x06], 'field 100, wire type 2');
  assert.ok(raw.subarray(raw.length - trailer.length).equals(trailer), 'the hash field comes last');
});

test('a snapshot whose entries do not match the hash it carries is refused before its end', async () => {
  const dbis = randomFleetData(rng(seed + 200));
  const other = dbis.map((d) => ({ ...d, entries: d.entries.map((e) => ({ ...e })) }));
  other[0]!.entries[0]!.ts += 1n;
  const lying = new ContentHasher();
  for (const d of other) lying.add(d.name, makeBatch(d.entries));
  const body = gunzipSync(await encode(dbis, { chunkBytes: 4096 }));
  const gz = gzipSync(Buffer.concat([body, contentHashField(lying.digest())]));
  const seen: string[] = [];
  await assert.rejects(async () => {
    for await (const ev of hashingEvents(decodeSnapshot(Readable.from([gz]), { name: 'lying.pb.gz' }), new ContentHasher(), 'lying.pb.gz')) seen.push(ev.type);
  }, (err: unknown) => err instanceof SnapshotFormatError && /lying\.pb\.gz.*content hash mismatch/.test(err.message));
  assert.ok(!seen.includes('end'), 'the end event is never seen');
  // The same content with its true hash passes.
  const honest = gzipSync(Buffer.concat([body, contentHashField(hashFrom(dbis))]));
  assert.equal((await events(honest)).at(-1)!.type, 'end');
});

function hashFrom(dbis: Dbi[]) {
  const h = new ContentHasher();
  for (const d of dbis) h.add(d.name, makeBatch(d.entries));
  return h.digest();
}

test('Go 0.4.4 snapshots carry no hash; hashing their entries gives the reference hash of their dump', async () => {
  for (const file of ['nat__inst-a__20261126-085102-524196773__G-0000000000000000.pb.gz', 'shd__inst-a__20261126-085102-428483100__G-0000000000000000.pb.gz']) {
    const evs = await events(readFileSync(join(FIXTURES, file)), file);
    const end = evs.at(-1)!;
    assert.ok(end.type === 'end' && end.contentHash === undefined, `${file}: no hash`);
    const h = new ContentHasher();
    const dbis = new Map<string, Entry[]>();
    for await (const ev of decodeSnapshot(Readable.from([readFileSync(join(FIXTURES, file))]), { name: file })) {
      if (ev.type !== 'entries') continue;
      h.add(ev.dbi, ev.batch);
      const list = dbis.get(ev.dbi) ?? [];
      const b = ev.batch;
      for (let i = 0; i < b.count; i++) {
        list.push({
          key: Buffer.from(b.buf.subarray(b.keyOff[i], b.keyOff[i]! + b.keyLen[i]!)),
          value: Buffer.from(b.buf.subarray(b.valOff[i], b.valOff[i]! + b.valLen[i]!)),
          ts: (BigInt(b.tsHi[i]!) << 32n) | BigInt(b.tsLo[i]!), flags: b.flags[i]!,
        });
      }
      dbis.set(ev.dbi, list);
    }
    const ref = referenceHash([...dbis].map(([name, entries]) => ({ name, flags: 0, transform: '', entries })));
    assert.equal(h.digest().digest.toString('hex'), ref, file);
  }
});
