import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Env } from '../../src/lmdb/index.js';
import { procRss } from '../../src/util/memory.js';
import { tempDir } from './util.js';

const ENTRIES = 12_000;
const VALUE_BYTES = 4000; // one page each: ~48 MiB of data file
const keyOf = (i: number) => Buffer.from(`key-${String(i).padStart(8, '0')}`);
const valueOf = (i: number) => Buffer.alloc(VALUE_BYTES, i % 251);
const rssFileMiB = () => procRss().RssFile ?? NaN;

function withFilledEnv(fn: (env: Env) => void): void {
  const { dir, cleanup } = tempDir();
  const env = Env.open(join(dir, 'db'), { create: true, mapSize: 256 << 20, noSync: true });
  try {
    const dbi = env.write((txn) => txn.openDbi('data', { create: true })!);
    env.write((txn) => {
      for (let i = 0; i < ENTRIES; i++) txn.put(dbi, keyOf(i), valueOf(i));
    });
    fn(env);
  } finally {
    env.close();
    cleanup();
  }
}

function readAll(env: Env): void {
  const dbi = env.read((txn) => txn.openDbi('data')!);
  env.read((txn) => {
    for (let i = 0; i < ENTRIES; i++) assert.deepEqual(txn.get(dbi, keyOf(i)), valueOf(i), `entry ${i}`);
  });
}

test('releaseMappedPages: the data file\'s pages leave our RSS, and reads map them again with the same data', () => {
  withFilledEnv((env) => {
    readAll(env);
    const mapped = rssFileMiB();
    env.releaseMappedPages();
    const released = rssFileMiB();
    assert.ok(mapped - released >= 30, `RssFile ${mapped} MiB after reading ~48 MiB of pages, ${released} MiB after the release`);
    readAll(env);
    assert.ok(rssFileMiB() - released >= 30, 'the pages are mapped again by the second read');
  });
});

test('a bulk scan of a data file larger than its release interval does not keep the whole file mapped', () => {
  withFilledEnv((env) => {
    env.releaseMappedPages();
    const before = rssFileMiB();
    const dbi = env.read((txn) => txn.openDbi('data')!);
    let entries = 0;
    let bytes = 0;
    env.read((txn) => {
      for (const batch of txn.scan(dbi)) {
        entries += batch.count;
        for (let i = 0; i < batch.count; i++) bytes += batch.valLen[i]!;
      }
    });
    assert.equal(entries, ENTRIES);
    assert.equal(bytes, ENTRIES * VALUE_BYTES);
    const grown = rssFileMiB() - before;
    assert.ok(grown < 36, `RssFile grew by ${grown} MiB over a scan of ${(bytes / 2 ** 20).toFixed(0)} MiB`);
  });
});
