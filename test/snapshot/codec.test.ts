/** Our encoder against our decoder, protoc and protobufjs (both directions). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import protobuf from 'protobufjs';
import { decodeSnapshot, readSnapshotInfo } from '../../src/snapshot/decode.js';
import { encodeSnapshot, snapshotProtobufChunks } from '../../src/snapshot/encode.js';
import { emptyMeta, type SnapshotEvent } from '../../src/snapshot/types.js';
import { META, PROTO, collect, decodeBuffer, encode, entriesOf, randomDbi, rng, source, type Dbi } from './helpers.js';

const root = protobuf.loadSync(PROTO);
const Snapshot = root.lookupType('snapshot.Snapshot');

/** The same schema with extra fields at every level: what a newer writer could send. */
const extended = protobuf.parse(`
syntax = "proto3";
message KV { bytes key = 1; bytes value = 2; fixed64 timestampNano = 3; uint32 flags = 4;
             string note = 5; fixed32 f32 = 17; repeated uint64 nums = 300; }
message DBI { string name = 1; repeated KV entries = 2; uint64 flags = 3; string transform = 4;
              bytes blob = 5; sint64 s = 1000; }
message Snapshot { uint32 formatVersion = 1; uint32 compatVersion = 4;
  message Meta { string generationID = 1; string instanceID = 2; string hostname = 3; int64 lmdbTxnID = 4;
                 fixed64 timestampNano = 5; string future = 6; string databaseName = 7; int64 fromLmdbTxnID = 8; double d = 9; }
  Meta meta = 2; repeated DBI databases = 3; string comment = 5; fixed64 later = 6; }
`).root.lookupType('Snapshot');

const dbis: Dbi[] = [
  {
    name: 'data', flags: 0, transform: '',
    entries: [
      { key: Buffer.from('k1'), value: Buffer.from('v1'), ts: 1795683061169218489n, flags: 0 },
      { key: Buffer.from('k2'), value: Buffer.alloc(0), ts: 1795683055632069887n, flags: 1 },
      { key: Buffer.from('k3'), value: Buffer.alloc(300, 7), ts: 1n, flags: 0 },
    ],
  },
  { name: 'empty', flags: 0, transform: '', entries: [] },
  {
    name: 'dups', flags: 4, transform: 'dupsort_hack_v1',
    entries: [{ key: Buffer.from('6431000000007802', 'hex'), value: Buffer.from('x'), ts: 1n, flags: 0 }],
  },
];

test('round trip through our decoder, with the events in stream order', async () => {
  const gz = await encode(dbis);
  const snap = await decodeBuffer(gz);
  assert.equal(snap.formatVersion, 3);
  assert.equal(snap.compatVersion, 1);
  assert.deepEqual(snap.meta, META);
  assert.deepEqual(snap.dbis.map((d) => ({ name: d.name, flags: d.flags, transform: d.transform, entries: entriesOf(d) })), dbis);

  const types: string[] = [];
  for await (const ev of decodeSnapshot(Readable.from([gz]), { name: 'x' })) {
    types.push(ev.type === 'dbi-start' ? `start:${ev.name}:${ev.flags}:${ev.transform}` : ev.type);
  }
  assert.deepEqual(types, [
    'meta', 'start:data:undefined:undefined', 'entries', 'dbi-end', 'start:empty:undefined:undefined', 'dbi-end',
    'start:dups:4:dupsort_hack_v1', 'entries', 'dbi-end', 'end',
  ]);
  const info = await readSnapshotInfo(Readable.from([gz]), { name: 'x' });
  assert.deepEqual(info.dbis, [
    { name: 'data', flags: 0, transform: '', count: 3 },
    { name: 'empty', flags: 0, transform: '', count: 0 },
    { name: 'dups', flags: 4, transform: 'dupsort_hack_v1', count: 1 },
  ]);
});

test('protoc --decode reads what we write', async () => {
  const raw = gunzipSync(await encode(dbis));
  const text = execFileSync('protoc', ['--decode=snapshot.Snapshot', `--proto_path=${PROTO.replace(/\/[^/]+$/, '')}`, 'snapshot.proto'], { input: raw }).toString();
  assert.match(text, /^formatVersion: 3$/m);
  assert.match(text, /^compatVersion: 1$/m);
  assert.match(text, /generationID: "G-0000000000000000"/);
  assert.match(text, /lmdbTxnID: 42/);
  assert.match(text, /timestampNano: 1795683062524196773/);
  assert.match(text, /fromLmdbTxnID: 7/);
  assert.match(text, /name: "data"[\s\S]*key: "k1"[\s\S]*value: "v1"[\s\S]*timestampNano: 1795683061169218489/);
  assert.match(text, /key: "k2"\s*timestampNano: 1795683055632069887\s*flags: 1/);
  assert.match(text, /name: "dups"[\s\S]*flags: 4\s*transform: "dupsort_hack_v1"/);
  assert.equal((text.match(/entries \{/g) ?? []).length, 4);
  assert.doesNotMatch(text, /^\d+: /m, 'no unknown fields');
});

test('small chunks: many gzip members, entries split across chunks, all decode the same', async () => {
  const r = rng(1);
  const big: Dbi[] = [randomDbi(r, 'a', 300), randomDbi(r, 'b', 50)];
  big[0]!.entries.push({ key: Buffer.from([0xff, 0xff, 0xff, 0xff]), value: Buffer.alloc(5000, 1), ts: 9n, flags: 0 });
  const expected = big.map((d) => d.entries);
  for (const chunkBytes of [64, 1000, 1 << 20]) {
    const gz = await encode(big, { chunkBytes, concurrency: 3, level: 6 });
    for (const readChunkBytes of [64, 4096]) {
      for (const batchEntries of [1, 7, 4096]) {
        const snap = await decodeBuffer(gz, { readChunkBytes, batchEntries });
        assert.deepEqual(snap.dbis.map(entriesOf), expected, `chunk ${chunkBytes} read ${readChunkBytes} batch ${batchEntries}`);
      }
    }
    // the raw protobuf is the same whatever the chunking
    assert.deepEqual(gunzipSync(gz), (await collect(snapshotProtobufChunks(META, big.map((d) => source(d)), { chunkBytes: 1 << 20 }))));
  }
});

test('async iterables of DBIs and batches; batches() called twice', async () => {
  let calls = 0;
  const d = randomDbi(rng(2), 'x', 20);
  // eslint-disable-next-line @typescript-eslint/require-await -- the test needs an async iterable; it has nothing to await
  async function* dbiList() {
    yield {
      name: d.name, flags: 0, transform: '',
      // eslint-disable-next-line @typescript-eslint/require-await -- as above: async batches on purpose
      async *batches() {
        calls++;
        yield* source(d, 4).batches() as Iterable<never>;
      },
    };
  }
  const snap = await decodeBuffer(await collect(encodeSnapshot(META, dbiList())));
  assert.equal(calls, 2);
  assert.deepEqual(entriesOf(snap.dbis[0]!), d.entries);
});

test('a source yielding different data on the second pass is an error', async () => {
  let pass = 0;
  const d = randomDbi(rng(3), 'x', 5);
  const src = { name: 'x', flags: 0, transform: '', batches: () => source({ ...d, entries: d.entries.slice(0, 5 - pass++) }).batches() };
  await assert.rejects(collect(encodeSnapshot(META, [src])), /second pass/);
});

test('abort stops the encoder', async () => {
  const ac = new AbortController();
  const d = randomDbi(rng(4), 'x', 2000);
  const stream = encodeSnapshot(META, [source(d, 10)], { signal: ac.signal, chunkBytes: 256 });
  const it = stream[Symbol.asyncIterator]();
  await it.next();
  ac.abort();
  await assert.rejects(async () => { for (;;) if ((await it.next()).done) break; }, { name: 'AbortError' });
});

/** What Snapshot.toObject gives with toObjectOpts(): 64-bit integers as strings, bytes as Buffers. */
interface PbSnapshot {
  formatVersion: number;
  compatVersion: number;
  meta: { lmdbTxnID: string; fromLmdbTxnID: string; timestampNano: string; hostname: string };
  databases: Array<{
    name: string; flags: string; transform: string;
    entries: Array<{ key: Buffer; value: Buffer; timestampNano: string; flags: number }>;
  }>;
}

function toObjectOpts() {
  return { longs: String, bytes: Buffer, defaults: true } as const;
}

test('protobufjs decodes random snapshots we encode', async () => {
  const r = rng(5);
  for (let round = 0; round < 30; round++) {
    const ds = Array.from({ length: Math.floor(r() * 4) }, (_, i) => ({ ...randomDbi(r, r() < 0.2 ? '' : `dbi${i}`, Math.floor(r() * 40)), flags: r() < 0.3 ? 0x18 : 0 }));
    const meta = round % 3 === 0 ? emptyMeta() : { ...META, lmdbTxnId: -5n, fromLmdbTxnId: 2n ** 62n, timestampNano: 2n ** 64n - 1n };
    const raw = gunzipSync(await encode(ds, {}, meta));
    const obj = Snapshot.toObject(Snapshot.decode(raw), toObjectOpts()) as PbSnapshot;
    assert.equal(obj.formatVersion, 3);
    assert.equal(obj.compatVersion, 1);
    assert.equal(obj.meta.lmdbTxnID, String(meta.lmdbTxnId));
    assert.equal(obj.meta.fromLmdbTxnID, String(meta.fromLmdbTxnId));
    assert.equal(BigInt.asUintN(64, BigInt(obj.meta.timestampNano)), meta.timestampNano);
    assert.equal(obj.meta.hostname, meta.hostname);
    assert.deepEqual(obj.databases.map((d) => ({
      name: d.name, flags: Number(d.flags), transform: d.transform,
      entries: d.entries.map((e) => ({ key: Buffer.from(e.key), value: Buffer.from(e.value), ts: BigInt.asUintN(64, BigInt(e.timestampNano)), flags: e.flags })),
    })), ds);
  }
});

test('we decode random snapshots protobufjs encodes, unknown fields included', async () => {
  const r = rng(6);
  for (let round = 0; round < 30; round++) {
    const ds = Array.from({ length: 1 + Math.floor(r() * 3) }, (_, i) => randomDbi(r, `d${i}`, Math.floor(r() * 30)));
    const withUnknown = round % 2 === 1;
    const msg = {
      formatVersion: 3, compatVersion: round % 4 === 0 ? 0 : 1,
      meta: { generationID: 'GX', instanceID: 'b', hostname: '', lmdbTxnID: '-1', timestampNano: '18446744073709551615', databaseName: 'main', fromLmdbTxnID: '9007199254740993', ...(withUnknown ? { future: 'x', d: 1.5 } : {}) },
      databases: ds.map((d) => ({
        name: d.name, flags: d.flags, transform: d.transform, ...(withUnknown ? { blob: Buffer.from('zz'), s: '-77' } : {}),
        entries: d.entries.map((e) => ({ key: e.key, value: e.value, timestampNano: e.ts.toString(), flags: e.flags, ...(withUnknown ? { note: 'n', f32: 3, nums: [1, 2 ** 40] } : {}) })),
      })),
      ...(withUnknown ? { comment: 'trailing unknown', later: '5' } : {}),
    };
    const type = withUnknown ? extended : Snapshot;
    let raw = Buffer.from(type.encode(type.fromObject(msg)).finish());
    if (withUnknown) {
      // an unknown group (wire types 3/4) with nested content at the top level
      raw = Buffer.concat([raw, Buffer.from([0xa3, 0x06, 0x08, 0x01, 0x13, 0x12, 0x01, 0x41, 0x14, 0xa4, 0x06])]);
    }
    const snap = await decodeBuffer(round % 3 === 0 ? raw : gzipSync(raw), { raw: round % 3 === 0 });
    assert.equal(snap.formatVersion, 3);
    assert.equal(snap.compatVersion, msg.compatVersion);
    assert.deepEqual(snap.meta, {
      generationId: 'GX', instanceId: 'b', hostname: '', lmdbTxnId: -1n, timestampNano: 2n ** 64n - 1n, databaseName: 'main', fromLmdbTxnId: 9007199254740993n,
    });
    assert.deepEqual(snap.dbis.map((d) => ({ name: d.name, flags: d.flags, transform: d.transform, entries: entriesOf(d) })), ds);
  }
});

test('field order: flags, transform and compatVersion after the entries (field-number order)', async () => {
  const msg = {
    formatVersion: 3,
    meta: { instanceID: 'x' },
    databases: [{ name: 'ints', flags: 0x08, entries: [2, 1, 256].map((n) => ({ key: Buffer.from(new Uint32Array([n]).buffer), value: Buffer.from('v'), timestampNano: '1' })) }],
    compatVersion: 1,
  };
  // protobufjs writes fields in field-number order: flags (3) after entries (2), compatVersion (4) after databases (3)
  const raw = Buffer.from(Snapshot.encode(Snapshot.fromObject(msg)).finish());
  const events: SnapshotEvent[] = [];
  for await (const ev of decodeSnapshot(Readable.from([raw]), { name: 'x', raw: true })) events.push(ev.type === 'entries' ? { ...ev, batch: { ...ev.batch } } : ev);
  assert.deepEqual(events.find((e) => e.type === 'dbi-start'), { type: 'dbi-start', name: 'ints', flags: undefined, transform: undefined });
  assert.deepEqual(events.find((e) => e.type === 'dbi-end'), { type: 'dbi-end', name: 'ints', flags: 8, transform: '', count: 3 });
  assert.equal(events.at(-1)!.type, 'end');
  // little-endian 1 < 2 < 256 as integers though not bytewise: accepted for INTEGERKEY
  // compatVersion 2 after the entries: refused when it arrives
  const newer = Buffer.from(Snapshot.encode(Snapshot.fromObject({ ...msg, compatVersion: 2 })).finish());
  await assert.rejects(decodeBuffer(newer, { raw: true }), { name: 'SnapshotFormatError', message: /compatVersion 2 is newer/ });
});
