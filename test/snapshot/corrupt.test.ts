/** Corrupt input: one clear SnapshotFormatError, no crash, no hang, bounded memory. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { SnapshotFormatError } from '../../src/snapshot/errors.js';
import { decodeSnapshot } from '../../src/snapshot/decode.js';
import { writeVarint } from '../../src/snapshot/wire.js';
import { FIXTURES, decodeBuffer, encode, randomDbi, rng, type Dbi } from './helpers.js';

const NAME = 'main__a__20261126-085102-524196773__GX.pb.gz';

async function rejectsWith(buf: Buffer, re: RegExp, opts: Parameters<typeof decodeBuffer>[1] = {}): Promise<void> {
  await assert.rejects(decodeBuffer(buf, { name: NAME, ...opts }), (err: unknown) => {
    assert.ok(err instanceof SnapshotFormatError, String(err));
    assert.ok(err.message.startsWith(`snapshot ${NAME}: `), err.message);
    assert.match(err.message, re);
    return true;
  });
}

/** Raw protobuf: formatVersion 3, then the given bytes. */
const v3 = (...parts: number[][]) => Buffer.from([0x08, 0x03, ...parts.flat()]);
const dbi = (body: number[]) => [0x1a, body.length, ...body];
const kv = (body: number[]) => [0x12, body.length, ...body];
const key = (...k: number[]) => [0x0a, k.length, ...k];

test('gzip damage: truncation, CRC, length, not gzip, empty', async () => {
  const gz = await encode([randomDbi(rng(1), 'd', 50)]);
  await rejectsWith(gz.subarray(0, gz.length - 5), /truncated gzip stream/);
  await rejectsWith(gz.subarray(0, 30), /truncated gzip stream/);
  const crc = Buffer.from(gz);
  crc[crc.length - 6]! ^= 0x40;
  await rejectsWith(crc, /CRC mismatch/);
  const len = Buffer.from(gz);
  len[len.length - 2]! ^= 1;
  await rejectsWith(len, /length mismatch/);
  await rejectsWith(Buffer.from('definitely not gzip'), /not a gzip stream/);
  await rejectsWith(Buffer.alloc(0), /truncated gzip stream/);
  await rejectsWith(Buffer.concat([gz, Buffer.from('trailing garbage')]), /not a gzip stream/);
  await rejectsWith(gzipSync(Buffer.alloc(0)), /formatVersion missing/);
});

test('multi-member gzip split at arbitrary points decodes', async () => {
  const d = randomDbi(rng(2), 'd', 40);
  const raw = gunzipSync(await encode([d]));
  for (const cut of [1, 2, 17, 100, raw.length - 1]) {
    const snap = await decodeBuffer(Buffer.concat([gzipSync(raw.subarray(0, cut)), gzipSync(Buffer.alloc(0)), gzipSync(raw.subarray(cut))]));
    assert.equal(snap.dbis[0]!.count, 40);
  }
});

test('protobuf damage gives one clear error each', async () => {
  const cases: [Buffer, RegExp][] = [
    [Buffer.from([0x08, 0x04]), /unsupported formatVersion 4/],
    [Buffer.from([0x08, 0x00]), /unsupported formatVersion 0/],
    [v3([0x20, 0x02]), /compatVersion 2 is newer than the newest supported \(1\)/],
    [Buffer.from(dbi([])), /formatVersion missing before the first DBI/],
    [v3([0x1a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), /DBI of \d+ bytes exceeds the decompressed size limit/],
    [v3([0x1a, 0x80, 0x80, 0x80, 0x80, 0x01]), /truncated/],
    [v3(dbi([0x12, 0xff, 0xff, 0xff, 0x7f])), /declares 268435455 bytes but only 0 remain in the DBI/],
    [v3(dbi(kv([0x0a, 0x7f, 1]))), /declares 127 bytes but only 1 remain/],
    [v3(dbi(kv([0x08, 0x01]))), /KV field 1 has wire type varint, expected length-delimited/],
    [v3(dbi([0x10, 0x01])), /DBI field 2 has wire type varint, expected length-delimited/],
    [v3([0x10, 0x01]), /Snapshot field 2 has wire type varint/],
    [v3([0x00]), /invalid field tag 0/],
    [v3([0x4f]), /invalid wire type 7 \(field 9\)/],
    [v3([0x4c]), /unexpected end of group 9/],
    [v3([0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), /varint (overflows 64 bits|longer than 10 bytes)/],
    [v3([0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), /varint overflows 64 bits/],
    [v3(dbi([0x0a, 0x02, 0xc3, 0x28])), /DBI name is not valid UTF-8/],
    [v3(dbi([...kv(key(2)), ...kv(key(1))])), /entry 1 is out of key order/],
    [v3(dbi([...kv(key(1)), ...kv(key(1))])), /entry 1 repeats the previous key/],
    [v3(dbi([...kv(key(1, 2)), ...kv(key(1))])), /entry 1 is out of key order/],
    [v3(dbi([0x18, 0x04, 0x22, 15, ...Buffer.from('dupsort_hack_v1'), ...kv(key(1)), ...kv(key(1))])), /repeats the previous key/],
    [v3(dbi([0x18, 0x08, ...kv(key(1, 0, 0, 0)), ...kv(key(0, 1, 0, 0)), ...kv(key(2, 0, 0, 0))])), /entry 2 is out of key order/],
    [v3(dbi([...kv(key(1)), ...kv(key(0)), 0x18, 0x00])), /entry 1 is out of key order/],
    [v3(dbi([...kv(key(1)), 0x0a, 0x01, 0x61])), /renamed "a" after its entries/],
    [v3(dbi(kv([0x19, 1, 2, 3]))), /truncated timestampNano/],
    [v3([0x4b, 0x4b, 0x4b, 0x4b]), /truncated/],
    [v3(Array<number>(40).fill(0x4b)), /groups nested deeper than 32/],
    [v3(dbi([0x2a, 0x05, 0x01])), /declares 5 bytes but only 1 remain/],
    [Buffer.from([0x08, 0x03, 0x1a, 0x05, 0x0a, 0x01, 0x61]), /truncated/],
  ];
  for (const [raw, re] of cases) {
    await rejectsWith(gzipSync(raw), re);
    await rejectsWith(raw, re, { raw: true });
  }
});

test('key order rules that must pass: INTEGERKEY, REVERSEKEY, plain DUPSORT, INTEGERKEY flags after entries', async () => {
  const ok = [
    v3(dbi([0x18, 0x08, ...kv(key(1, 0, 0, 0)), ...kv(key(0, 1, 0, 0)), ...kv(key(0, 0, 0, 1))])),
    v3(dbi([...kv(key(1, 0, 0, 0)), ...kv(key(0, 1, 0, 0)), 0x18, 0x08])),
    v3(dbi([0x18, 0x02, ...kv(key(2, 1)), ...kv(key(1, 2))])),
    v3(dbi([0x18, 0x04, ...kv(key(1)), ...kv(key(1))])),
  ];
  for (const raw of ok) await decodeBuffer(raw, { raw: true });
});

test('formatVersion 1: an empty value means deleted', async () => {
  const raw = Buffer.from([0x08, 0x01, ...dbi([...kv([...key(1), 0x12, 0x01, 0x78]), ...kv(key(2))])]);
  const snap = await decodeBuffer(raw, { raw: true });
  assert.deepEqual(snap.dbis[0]!.entries.map((e) => e.flags), [0, 1]);
});

test('decompression bombs: total size and ratio limits', async () => {
  const zeros = gzipSync(Buffer.concat([v3(), Buffer.from([0x2a, 0x80, 0x80, 0x80, 0x04]), Buffer.alloc(8 << 20)]));
  await rejectsWith(zeros, /more than 4194304 decompressed bytes/, { limits: { maxDecompressedBytes: 4 << 20 } });
  await rejectsWith(zeros, /compression ratio above 100:1/, { limits: { maxRatio: 100, ratioMinBytes: 1 << 20 } });
  await decodeBuffer(zeros); // within the defaults: an unknown 8 MiB field, skipped
});

test('early stop and abort release the input', async () => {
  const gz = await encode([randomDbi(rng(3), 'd', 3000)], { chunkBytes: 4096 });
  const input = Readable.from([gz.subarray(0, 1000), gz.subarray(1000)]);
  for await (const ev of decodeSnapshot(input, { name: NAME })) if (ev.type === 'entries') break;
  assert.ok(input.destroyed);
  const ac = new AbortController();
  await assert.rejects(async () => {
    for await (const ev of decodeSnapshot(Readable.from([gz]), { name: NAME, signal: ac.signal, batchEntries: 10 })) if (ev.type === 'entries') ac.abort();
  }, { name: 'AbortError' });
  const ioError = new Readable({ read() { this.destroy(new Error('connection reset')); } });
  await assert.rejects(decodeSnapshotAll(ioError), /connection reset/);
});

async function decodeSnapshotAll(input: Readable): Promise<void> {
  const events = decodeSnapshot(input, { name: NAME })[Symbol.asyncIterator]();
  while (!(await events.next()).done) {
    // only drained
  }
}

/** Mutations of the raw protobuf (then gzipped or fed raw) and of the gzip bytes. */
function mutate(r: () => number, src: Buffer): Buffer {
  const b = Buffer.from(src);
  const at = Math.floor(r() * b.length);
  switch (Math.floor(r() * 6)) {
    case 0: // bit flips
      for (let i = 0, n = 1 + Math.floor(r() * 4); i < n; i++) b[Math.floor(r() * b.length)]! ^= 1 << Math.floor(r() * 8);
      return b;
    case 1: // truncation
      return b.subarray(0, at);
    case 2: // inserted bytes
      return Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: 1 + Math.floor(r() * 8) }, () => Math.floor(r() * 256))), b.subarray(at)]);
    case 3: { // a length / varint replaced by a huge value
      const huge = Buffer.alloc(10);
      const n = writeVarint(huge, 0, [2 ** 31, 2 ** 32 + 5, 2 ** 40, 2 ** 53 - 1, 0x7fffffff][Math.floor(r() * 5)]!);
      return Buffer.concat([b.subarray(0, at), huge.subarray(0, n), b.subarray(at + 1)]);
    }
    case 4: // deleted bytes
      return Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + Math.floor(r() * 8))]);
    default: // a byte set to a tag-like value
      b[at] = [0x12, 0x1a, 0x0a, 0x13, 0x0c, 0xff, 0x80, 0x00][Math.floor(r() * 8)]!;
      return b;
  }
}

test('fuzz: thousands of mutated snapshots, every failure a SnapshotFormatError, bounded memory', { timeout: 60_000 }, async () => {
  const r = rng(42);
  const dbis: Dbi[] = [randomDbi(r, 'plain', 25), { ...randomDbi(r, 'ints', 5), flags: 0x08 }, randomDbi(r, 'empty', 0)];
  const bases = [
    await encode(dbis),
    await encode(dbis, { chunkBytes: 200 }),
    ...readdirSync(FIXTURES).filter((f) => f.endsWith('.pb.gz')).map((f) => readFileSync(join(FIXTURES, f))),
  ];
  const raws = bases.map((b) => gunzipSync(b));
  const started = performance.now();
  const baseline = process.memoryUsage();
  let failures = 0;
  let successes = 0;
  let peakExternal = 0;
  const ITERATIONS = 4000;
  for (let i = 0; i < ITERATIONS; i++) {
    const kind = i % 3;
    const input =
      kind === 0 ? mutate(r, bases[i % bases.length]!) // compressed bytes mutated
      : kind === 1 ? gzipSync(mutate(r, raws[i % raws.length]!)) // raw mutated, re-gzipped
      : mutate(r, raws[i % raws.length]!); // raw mutated, fed raw
    const t0 = performance.now();
    try {
      await decodeBuffer(input, { raw: kind === 2, readChunkBytes: 1 + (i % 97), batchEntries: 1 + (i % 5) });
      successes++;
    } catch (err) {
      if (!(err instanceof SnapshotFormatError)) {
        assert.fail(`iteration ${i} (kind ${kind}): not a SnapshotFormatError: ${(err as Error | null | undefined)?.stack ?? String(err)}\ninput: ${input.toString('hex')}`);
      }
      failures++;
    }
    assert.ok(performance.now() - t0 < 2000, `iteration ${i} took too long`);
    if (i % 250 === 0) {
      const m = process.memoryUsage();
      peakExternal = Math.max(peakExternal, m.arrayBuffers);
      assert.ok(m.arrayBuffers - baseline.arrayBuffers < 64 << 20, `array buffers grew to ${m.arrayBuffers >> 20} MiB`);
      assert.ok(m.heapUsed - baseline.heapUsed < 128 << 20, `heap grew to ${m.heapUsed >> 20} MiB`);
    }
  }
  assert.ok(failures > ITERATIONS / 2, `${failures} failures`);
  console.log(`fuzz: ${ITERATIONS} inputs, ${failures} SnapshotFormatErrors, ${successes} decoded, ${(performance.now() - started).toFixed(0)} ms, peak arrayBuffers ${peakExternal >> 20} MiB`);
});

test('valid but unusual encodings decode; DBI flags beyond 32 bits are named exactly', async () => {
  // Non-minimal varints (extra 0x80 continuation bytes) are valid protobuf, for tags too.
  const nonMinimalKey = [0x8a, 0x00, 1, 0x61]; // tag 0x0a in two bytes, key "a"
  const nonMinimalValue = [0x92, 0x80, 0x00, 2, 0x62, 0x63]; // tag 0x12 in three bytes, value "bc"
  const nonMinimalTs = [0x99, 0x00, 5, 0, 0, 0, 0, 0, 0, 0]; // tag 0x19 in two bytes
  const raw = v3(dbi([0x0a, 1, 0x64, ...kv([...nonMinimalKey, ...nonMinimalValue, ...nonMinimalTs])]));
  const snap = await decodeBuffer(gzipSync(raw));
  const e = snap.dbis[0]!.entries[0]!;
  assert.equal(e.key.toString(), 'a');
  assert.equal(e.value.toString(), 'bc');
  assert.equal(e.timestampNano, 5n);
  // DBI.flags = 2^63: refused with the real value, never read as 0.
  const flags = Buffer.alloc(10);
  const n = writeVarint(flags, 0, 2 ** 63);
  await rejectsWith(gzipSync(v3(dbi([0x0a, 1, 0x64, 0x18, ...flags.subarray(0, n)]))), /has flags 0x8000000000000000, not LMDB DBI flags/);
  // Bits mdb_dbi_flags never reports (MDB_CREATE, unknown ones): refused; every persistent flag is accepted.
  for (const bad of [0x40000, 0x1, 0x80, 0x100000]) {
    const n2 = writeVarint(flags, 0, bad);
    await rejectsWith(gzipSync(v3(dbi([0x0a, 1, 0x64, 0x18, ...flags.subarray(0, n2)]))), /beyond LMDB's persistent DBI flags \(0x7e\)/);
  }
  const n3 = writeVarint(flags, 0, 0x7e);
  assert.equal((await decodeBuffer(gzipSync(v3(dbi([0x0a, 1, 0x64, 0x18, ...flags.subarray(0, n3)]))))).dbis[0]!.flags, 0x7e);
});
