import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  HEADER_SIZE, HeaderError, buildValue, headerIsDeleted, headerFlags, headerTsHi, headerTsLo, headerTxnId,
  headerValueOffset, joinTimestamp, parseValue, splitTimestamp, writeHeader,
} from '../../src/lmdb/header.js';

test('header: build then parse round-trips, fields big-endian at their offsets', () => {
  const ts = 0x0123456789abcdefn;
  const v = buildValue(ts, 0x1122334455n, Buffer.from('hello'));
  assert.equal(v.length, 24 + 5);
  assert.equal(v.subarray(0, 8).toString('hex'), '0123456789abcdef');
  assert.equal(v.subarray(8, 16).toString('hex'), '0000001122334455');
  assert.equal(v.subarray(16, 24).toString('hex'), '0000000000000000');
  const p = parseValue(v);
  assert.equal(p.timestamp, ts);
  assert.equal(p.txnId, 0x1122334455n);
  assert.equal(p.deleted, false);
  assert.equal(p.extensionBlocks, 0);
  assert.equal(p.valueOffset, 24);
  assert.equal(p.value.toString(), 'hello');
});

test('header: deleted flag, extra padding blocks are skipped', () => {
  const v = buildValue(5n, 7, Buffer.from('ignored'), { deleted: true, extraBlocks: 2 });
  assert.equal(v.length, 24 + 16);
  assert.equal(v[17], 0x01);
  assert.equal(v.readUInt16BE(22), 2);
  const p = parseValue(v);
  assert.equal(p.deleted, true);
  assert.equal(p.extensionBlocks, 2);
  assert.equal(p.value.length, 0);

  const w = buildValue(9n, 1, Buffer.from('app'), { extraBlocks: 1 });
  assert.equal(parseValue(w).value.toString(), 'app');
  assert.equal(headerValueOffset(w, 0, w.length), 32);
});

test('header: allocation-free forms work at an offset inside a larger buffer', () => {
  const buf = Buffer.alloc(100, 0xee);
  const size = writeHeader(buf, 10, 0xfedcba98, 0x76543210, 2 ** 40 + 3, 0x01, 1);
  assert.equal(size, 32);
  buf.write('xyz', 10 + size);
  assert.equal(headerValueOffset(buf, 10, size + 3), 42);
  assert.equal(headerTsHi(buf, 10), 0xfedcba98);
  assert.equal(headerTsLo(buf, 10), 0x76543210);
  assert.equal(headerTxnId(buf, 10), 2 ** 40 + 3);
  assert.equal(headerFlags(buf, 10), 1);
  assert.equal(headerIsDeleted(buf, 10), true);
  assert.equal(joinTimestamp(headerTsHi(buf, 10), headerTsLo(buf, 10)), 0xfedcba9876543210n);
  assert.equal(buf[9], 0xee, 'nothing written before the offset');
  assert.deepEqual(splitTimestamp(0xfedcba9876543210n), [0xfedcba98, 0x76543210]);
});

test('header: short values, short extension blocks and unknown versions are errors', () => {
  assert.throws(() => parseValue(Buffer.alloc(23)), HeaderError);
  assert.throws(() => headerValueOffset(Buffer.alloc(10), 0, 10), /shorter than the 24-byte header/);
  const v = buildValue(1n, 1, Buffer.alloc(0), { extraBlocks: 2 });
  assert.throws(() => parseValue(v.subarray(0, 24 + 15)), /2 extension block/);
  const bad = buildValue(1n, 1, Buffer.from('x'));
  bad[16] = 1;
  assert.throws(() => parseValue(bad), /unsupported header version 1/);
  assert.equal(parseValue(buildValue(1n, 1, Buffer.alloc(0))).value.length, 0, 'exactly 24 bytes is valid');
  assert.equal(HEADER_SIZE, 24);
  assert.throws(() => splitTimestamp(-1n), HeaderError);
});
