import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_GENERATION, buildSnapshotName, formatTimestamp, parseSnapshotName, parseTimestamp, snapshotPrefix,
  validateDbName, validateInstanceName,
} from '../../src/snapshot/name.js';

test('timestamps: nanosecond UTC text <-> bigint', () => {
  assert.equal(formatTimestamp(1795683062524196773n), '20261126-085102-524196773');
  assert.equal(parseTimestamp('20261126-085102-524196773'), 1795683062524196773n);
  assert.equal(formatTimestamp(1n), '19700101-000000-000000001');
  assert.equal(formatTimestamp(0n), '19700101-000000-000000000');
  for (const bad of ['20261126-085102-52419677', '20260230-000000-000000000', '20261126-245102-000000000', '2026-11-26', '20261126-085102-52419677x']) {
    assert.equal(parseTimestamp(bad), undefined, bad);
  }
  for (let ns = 1n; ns < 4_000_000_000_000_000_000n; ns = ns * 7n + 12345n) {
    assert.equal(parseTimestamp(formatTimestamp(ns)), ns);
  }
  assert.throws(() => formatTimestamp(-1n), RangeError);
});

test('chronological order is lexicographic order', () => {
  const times = [1n, 999_999_999n, 1_000_000_000n, 1795683062524196773n, 1795683062524196774n, 1895683062000000000n];
  const names = times.map((timestamp) => buildSnapshotName({ db: 'main', instance: 'a', timestamp }));
  assert.deepEqual([...names].sort(), names);
});

test('build and parse names', () => {
  const name = buildSnapshotName({ db: 'main', instance: 'inst-a', timestamp: 1795683062524196773n });
  assert.equal(name, 'main__inst-a__20261126-085102-524196773__G-0000000000000000.pb.gz');
  const r = parseSnapshotName(name);
  assert.ok(r.ok);
  assert.deepEqual(r.value, {
    db: 'main', instance: 'inst-a', timestamp: 1795683062524196773n, timestampText: '20261126-085102-524196773',
    generation: DEFAULT_GENERATION, extras: [], name,
  });
  const gx = parseSnapshotName('shard__host.example.com__20261126-085102-524196773__GX__Xfoo__Tbar.pb.gz');
  assert.ok(gx.ok);
  assert.equal(gx.value.generation, 'GX');
  assert.deepEqual(gx.value.extras, ['Xfoo', 'Tbar']);
  assert.equal(
    buildSnapshotName({ db: 'shard', instance: 'b', timestamp: 5n, generation: 'GX', extras: ['Xfoo'] }),
    'shard__b__19700101-000000-000000005__GX__Xfoo.pb.gz',
  );
  assert.equal(snapshotPrefix('main'), 'main__');
});

test('invalid names give a reason, never throw', () => {
  const bad = [
    'main__a__20261126-085102-524196773__GX.pb', // extension
    'main__a__20261126-085102-524196773__GX.json',
    'main__a__20261126-085102-524196773.pb.gz', // no generation
    'main__a__2026112-085102-524196773__GX.pb.gz', // timestamp
    'main__a__20261126-085102-524196773__X.pb.gz', // generation must start with G
    'main__a__20261126-085102-524196773__GX__lower.pb.gz', // extra must start with a capital
    'main__a__20261126-085102-524196773__GX__Gdup.pb.gz', // G reserved
    'main__a__20261126-085102-524196773__GX__.pb.gz', // empty extra
    'main__a b__20261126-085102-524196773__GX.pb.gz', // space
    'main__a/b__20261126-085102-524196773__GX.pb.gz', // slash
    '__a__20261126-085102-524196773__GX.pb.gz', // empty db
    'main___a__20261126-085102-524196773__GX.pb.gz', // instance "_a"
  ];
  for (const n of bad) {
    const r = parseSnapshotName(n);
    assert.equal(r.ok, false, n);
    assert.match(r.error, /\S/);
  }
});

test('instance and db name validation', () => {
  for (const good of ['a', 'inst-a', 'host.example.com', 'db_1', 'A9']) {
    assert.equal(validateInstanceName(good), undefined, good);
    assert.equal(validateDbName(good), undefined, good);
  }
  for (const bad of ['', 'a__b', 'a/b', 'a b', 'é', '_a', 'a_', 'a\n']) {
    assert.match(validateInstanceName(bad) ?? '', /\S/, JSON.stringify(bad));
    assert.match(validateDbName(bad) ?? '', /\S/, JSON.stringify(bad));
  }
  assert.throws(() => buildSnapshotName({ db: 'a__b', instance: 'x', timestamp: 1n }), RangeError);
  assert.throws(() => buildSnapshotName({ db: 'a', instance: 'x y', timestamp: 1n }), RangeError);
});
