/** Lengths beyond 2^31 and 2^32: varints, DBI sizing, and a real >4 GiB DBI streamed through. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import protobuf from 'protobufjs';
import type { EntryBatch } from '../../src/snapshot/batch.js';
import { decodeSnapshot } from '../../src/snapshot/decode.js';
import { dbiPrefix, encodeSnapshot, kvBodyLength, measureDbi } from '../../src/snapshot/encode.js';
import { WireReader, varintLength, writeVarint } from '../../src/snapshot/wire.js';
import { META, decodeBuffer } from './helpers.js';

const LongCtor = protobuf.util.Long as unknown as { fromString(s: string, unsigned: boolean): protobuf.Long };
const EDGES = [0, 1, 127, 128, 16383, 16384, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 35, 2 ** 49 + 3, 2 ** 53 - 1];

test('varints up to 2^53 match protobufjs and round-trip', () => {
  for (const v of EDGES) {
    const ours = Buffer.alloc(10);
    const n = writeVarint(ours, 0, v);
    assert.equal(n, varintLength(v), `length of ${v}`);
    const theirs = Buffer.from(protobuf.Writer.create().uint64(LongCtor.fromString(String(v), true)).finish());
    assert.deepEqual(ours.subarray(0, n), theirs, `bytes of ${v}`);
    const r = new WireReader().at(ours, 0, n);
    assert.equal(r.varint(), v);
    assert.equal(r.pos, n);
  }
});

/** A batch that only has lengths (no bytes behind them): enough for the size pass. */
function hugeBatch(count: number, valLen: number): EntryBatch {
  return {
    count, buf: Buffer.alloc(0),
    keyOff: new Uint32Array(count), keyLen: new Uint32Array(count).fill(16),
    valOff: new Uint32Array(count), valLen: new Uint32Array(count).fill(valLen),
    tsHi: new Uint32Array(count).fill(1), tsLo: new Uint32Array(count), flags: new Uint8Array(count),
  };
}

test('DBI sizes beyond 2^31 and 2^32 are computed exactly (synthetic DBIs, not materialised)', async () => {
  for (const [batches, count, valLen] of [[1, 1, 2 ** 31], [3, 2, 2 ** 31 - 1], [1000, 1000, 1 << 20], [64, 1, 2 ** 32 - 1]] as const) {
    const src = { name: 'huge', flags: 0, transform: '', *batches() { for (let i = 0; i < batches; i++) yield hugeBatch(count, valLen); } };
    const body = kvBodyLength(16, valLen, 1, 0, 0);
    const expected = 6 /* name */ + batches * count * (1 + varintLength(body) + body);
    const got = await measureDbi(src);
    assert.equal(got, expected);
    assert.ok(got > 2 ** 31);
    const prefix = dbiPrefix(got);
    const reader = protobuf.Reader.create(prefix);
    assert.equal(reader.uint32(), 0x1a);
    assert.equal(protobuf.util.LongBits.from(reader.uint64()).toNumber(true), got);
  }
});

test('a DBI larger than 4 GiB streams through encoder and decoder (raw protobuf, 16 MiB values)', async () => {
  const VALUE = 16 << 20;
  const N = 258; // 258 * 16 MiB = 4.03 GiB
  const buf = Buffer.alloc(VALUE + 8);
  const batch: EntryBatch = {
    count: 1, buf, keyOff: new Uint32Array([VALUE]), keyLen: new Uint32Array([8]), valOff: new Uint32Array([0]), valLen: new Uint32Array([VALUE]),
    tsHi: new Uint32Array([1]), tsLo: new Uint32Array([2]), flags: new Uint8Array(1),
  };
  const src = {
    name: 'huge', flags: 0, transform: '',
    *batches() {
      for (let i = 0; i < N; i++) {
        buf.writeBigUInt64BE(BigInt(i), VALUE); // increasing keys
        buf[i] = i & 0xff; // values differ
        yield batch;
      }
    },
  };
  const rssBefore = process.memoryUsage().rss;
  let count = 0;
  let bytes = 0;
  let end: unknown;
  let maxRss = 0;
  for await (const ev of decodeSnapshot(encodeSnapshot(META, [src], { raw: true }), { name: 'huge', raw: true })) {
    if (ev.type === 'entries') {
      for (let i = 0; i < ev.batch.count; i++) {
        assert.equal(ev.batch.valLen[i], VALUE);
        assert.equal(ev.batch.buf[ev.batch.valOff[i]! + count], count & 0xff);
        count++;
        bytes += ev.batch.valLen[i]!;
      }
      maxRss = Math.max(maxRss, process.memoryUsage().rss);
    }
    if (ev.type === 'dbi-end') end = ev;
  }
  assert.equal(count, N);
  assert.ok(bytes > 2 ** 32);
  assert.deepEqual(end, { type: 'dbi-end', name: 'huge', flags: 0, transform: '', count: N });
  assert.ok(maxRss - rssBefore < 256 << 20, `RSS grew by ${(maxRss - rssBefore) >> 20} MiB`);
});

test('a declared DBI length beyond 2^32 is accepted, its entries reported, then the truncation found', async () => {
  const entry = Buffer.from([0x12, 0x07, 0x0a, 0x01, 0x61, 0x12, 0x02, 0x76, 0x31]);
  const dbiLen = 2 ** 32 + 77;
  const head = Buffer.alloc(32);
  let p = 0;
  head[p++] = 0x08; head[p++] = 3; head[p++] = 0x1a;
  p = writeVarint(head, p, dbiLen);
  const input = Buffer.concat([head.subarray(0, p), entry]);
  const seen: string[] = [];
  await assert.rejects(async () => {
    for await (const ev of decodeSnapshot(Readable.from([input]), { name: 'big.pb.gz', raw: true })) seen.push(ev.type);
  }, { name: 'SnapshotFormatError', message: /^snapshot big\.pb\.gz: truncated/ });
  assert.deepEqual(seen, ['meta', 'dbi-start', 'entries']);
});

test('scaled-down limits: entry size, field size, decompressed size', async () => {
  const { encode } = await import('./helpers.js');
  const gz = await encode([{ name: 'd', flags: 0, transform: '', entries: [{ key: Buffer.from('k'), value: Buffer.alloc(1000), ts: 1n, flags: 0 }] }]);
  await assert.rejects(decodeBuffer(gz, { limits: { maxEntryBytes: 999 } }), /more than the limit of 999/);
  await decodeBuffer(gz, { limits: { maxEntryBytes: 1100 } });
  await assert.rejects(decodeBuffer(gz, { limits: { maxFieldBytes: 10 } }), /Meta of \d+ bytes exceeds the limit of 10/);
  await assert.rejects(decodeBuffer(gz, { limits: { maxDecompressedBytes: 500 }, readChunkBytes: 64 }), /more than 500 decompressed bytes|exceeds the decompressed size limit/);
});
