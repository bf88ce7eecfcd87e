// The sync loop's store rate (src/sync/send/store-rate.ts): commits at about lmdb_poll_interval are stored when
// they come (no drift), faster commits are held to one store per interval on average.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StoreRateLimiter } from '../../src/sync/send/store-rate.js';
import { rng } from '../snapshot/helpers.js';

/** Simulates a loop that checks every tickMs and stores (taking storeMs) when a commit is pending and the limiter allows. */
function run(commitEveryMs: number, opts: { intervalMs: number; tickMs: number; storeMs: number; commits: number; jitter?: () => number }) {
  const limiter = new StoreRateLimiter(opts.intervalMs, 0);
  const commits = Array.from({ length: opts.commits }, (_, i) => 1000 + i * commitEveryMs + (opts.jitter?.() ?? 0));
  const delays: number[] = [];
  let stores = 0;
  let next = 0;
  for (let now = 0; next < commits.length; now += opts.tickMs) {
    if (commits[next]! > now || !limiter.ready(now)) continue;
    limiter.take(now);
    stores++;
    while (next < commits.length && commits[next]! <= now) delays.push(now - commits[next++]!);
    now += opts.storeMs;
  }
  return { delays, stores, end: commits.at(-1)! };
}

describe('store rate', () => {
  it('commits once per interval are stored when they come, however long a store takes', () => {
    const { delays } = run(1000, { intervalMs: 1000, tickMs: 50, storeMs: 40, commits: 200 });
    assert.ok(Math.max(...delays) <= 100, `max delay ${Math.max(...delays)} ms`);
  });

  it('commits with jitter around the interval are not held back either (seeded)', () => {
    const seed = process.env.LS_TEST_SEED ? Number(process.env.LS_TEST_SEED) : Math.floor(Math.random() * 2 ** 31);
    const r = rng(seed);
    const { delays } = run(1000, { intervalMs: 1000, tickMs: 50, storeMs: 40, commits: 300, jitter: () => (r() - 0.5) * 300 });
    const sorted = [...delays].sort((a, b) => a - b);
    assert.ok(sorted[Math.floor(sorted.length / 2)]! <= 100, `seed ${seed} (LS_TEST_SEED): p50 delay ${sorted[Math.floor(sorted.length / 2)]} ms`);
  });

  it('a faster stream is held to one store per interval on average', () => {
    const { stores, end } = run(100, { intervalMs: 1000, tickMs: 50, storeMs: 40, commits: 600 });
    const seconds = (end - 1000) / 1000;
    assert.ok(stores <= seconds + 3, `${stores} stores in ${seconds} s`);
    assert.ok(stores >= seconds - 2, `${stores} stores in ${seconds} s: held back too much`);
  });
});
