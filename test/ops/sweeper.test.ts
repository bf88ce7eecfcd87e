// The tomb sweeper on real LMDBs with an injected clock: what it removes, in which DBIs, how long one
// write txn holds the lock, its schedule; the load cutoff formula; and, through the real sync path, that
// a swept marker still present in a remote snapshot does not come back.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { SweeperConfig } from '../../src/config/config.js';
import { buildValue, Env } from '../../src/lmdb/index.js';
import { startSweeper, sweeperMetrics, TombSweeper, type SweepTarget } from '../../src/ops/sweeper.js';
import { sweeperLoadCutoffNano } from '../../src/sync/tombstones.js';
import { AsyncMutex } from '../../src/sync/async-mutex.js';
import {
  DAY_MS, NS_PER_MS, nsAgo, putEntries, putEntriesAt, readEntries, readEntriesAt, startSync, syncConfig, syncOnce, tempDir, testLogger, waitFor,
} from './helpers.js';

const tmp = tempDir('sweeper');
after(() => tmp.remove());

function sweeperConfig(over: Partial<SweeperConfig> = {}): SweeperConfig {
  return {
    enabled: true, retentionDays: 1, interval: 60_000, firstInterval: 0, lockDuration: 1000, releaseDuration: 0,
    retentionLoadCutoffDuration: 0, returnGuard: true, ...over,
  };
}

let envCount = 0;
function target(kind: 'native' | 'shadow' = 'native'): SweepTarget {
  const env = Env.open(join(tmp.dir, `lmdb-${++envCount}`), { create: true, maxDbs: 16, mapSize: 256 << 20 });
  return { name: `sw${envCount}`, env, ctx: { writeLock: new AsyncMutex(), mode: { kind } } };
}

/**
 * Another process writing to the LMDB in a loop (as PowerDNS would), measuring how long each write
 * txn waits for the LMDB write lock; stop() returns its count of writes and longest wait.
 */
async function startAppWriter(path: string): Promise<{ stop(): Promise<{ during: number; maxWaitMs: number }> }> {
  const lmdb = new URL('../../src/lmdb/index.js', import.meta.url).href;
  const script = `
    import { Env } from ${JSON.stringify(lmdb)};
    const env = Env.open(${JSON.stringify(path)});
    const dbi = env.openDbi('app');
    let stop = false, n = 0, maxWaitMs = 0;
    process.stdin.on('data', () => { stop = true; });
    process.stdout.write('ready\\n');
    while (!stop) {
      const t0 = performance.now();
      env.write((txn) => txn.put(dbi, Buffer.from('k'), Buffer.from(String(++n))));
      maxWaitMs = Math.max(maxWaitMs, performance.now() - t0);
      await new Promise((r) => setTimeout(r, 2));
    }
    process.stdout.write(JSON.stringify({ during: n, maxWaitMs }) + '\\n');
    env.close();
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  await waitFor('the writer process to start', 10_000, () => out.includes('ready'));
  return {
    async stop() {
      child.stdin.end('stop\n');
      await new Promise((r) => child.on('close', r));
      return JSON.parse(out.split('\n')[1]!) as { during: number; maxWaitMs: number };
    },
  };
}

describe('tomb sweeper', () => {
  it('removes only deletion markers older than the retention (3000-entry mix, as Go\'s test)', async () => {
    const t = target();
    const now = Date.now();
    const past = nsAgo(50 * 3600_000, now);
    const recent = nsAgo(0, now);
    const entries = Array.from({ length: 3000 }, (_, i) => ({
      key: `key-${String(i).padStart(8, '0')}`,
      value: i % 3 === 0 ? 'live' : '',
      ts: i % 3 === 1 ? recent : past,
      deleted: i % 3 !== 0,
    }));
    putEntries(t.env, 'mix', entries);
    putEntries(t.env, 'empty', []);
    const seen: number[] = [];
    const off = sweeperMetrics.onSweep((db, s) => { if (db === t.name) seen.push(s.cleaned); });
    // retention 3 days: nothing is old enough at `now`...
    const sw = new TombSweeper(t, sweeperConfig({ retentionDays: 3 }), testLogger(), () => now);
    let s = await sw.sweep();
    assert.equal(s.cleaned, 0);
    assert.equal(s.entries, 3000);
    assert.equal(s.deleted, 2000);
    // ...but one day later the (then) 74-hour-old markers are.
    const later = new TombSweeper(t, sweeperConfig({ retentionDays: 3 }), testLogger(), () => now + DAY_MS);
    s = await later.sweep();
    off();
    assert.deepEqual({ entries: s.entries, deleted: s.deleted, cleaned: s.cleaned, invalid: s.invalid },
      { entries: 2000, deleted: 1000, cleaned: 1000, invalid: 0 });
    assert.deepEqual(s.dbis, ['empty', 'mix']);
    assert.deepEqual(seen, [0, 1000]);
    assert.equal(sweeperMetrics.byDb.get(t.name)?.cleanedTotal, 1000);
    const left = readEntries(t.env, 'mix');
    assert.equal(left.size, 2000);
    for (const [i, e] of entries.entries()) assert.equal(left.has(e.key), i % 3 !== 2, e.key);
    // Nothing left to do: the txn is aborted, the LMDB txn id does not move.
    const txnId = t.env.info().lastTxnId;
    s = await later.sweep();
    assert.equal(s.cleaned, 0);
    assert.equal(t.env.info().lastTxnId, txnId);
    t.env.close();
  });

  it('native mode sweeps the application DBIs, shadow mode only the _sync_shadow_ DBIs', async () => {
    const old = nsAgo(10 * DAY_MS);
    const marker = [{ key: 'gone', ts: old, deleted: true }, { key: 'live', value: 'v', ts: old }];
    for (const kind of ['native', 'shadow'] as const) {
      const t = target(kind);
      putEntries(t.env, 'app', marker);
      putEntries(t.env, '_sync_shadow_app', marker);
      putEntries(t.env, '_sync_other', marker);
      const s = await new TombSweeper(t, sweeperConfig(), testLogger()).sweep();
      assert.deepEqual(s.dbis, kind === 'native' ? ['app'] : ['_sync_shadow_app'], kind);
      assert.equal(s.cleaned, 1, kind);
      assert.equal(readEntries(t.env, 'app').has('gone'), kind === 'shadow', kind);
      assert.equal(readEntries(t.env, '_sync_shadow_app').has('gone'), kind === 'native', kind);
      assert.equal(readEntries(t.env, '_sync_other').has('gone'), true, kind);
      t.env.close();
    }
  });

  it('skips values without a native header instead of failing', async () => {
    const t = target();
    const dbi = putEntries(t.env, 'data', [{ key: 'a', ts: nsAgo(5 * DAY_MS), deleted: true }]);
    t.env.write((txn) => txn.put(dbi, Buffer.from('raw'), Buffer.from('not a header')));
    const s = await new TombSweeper(t, sweeperConfig(), testLogger()).sweep();
    assert.deepEqual({ cleaned: s.cleaned, invalid: s.invalid, entries: s.entries }, { cleaned: 1, invalid: 1, entries: 0 });
    assert.deepEqual([...readEntries(t.env, 'data').keys()], ['raw']);
    t.env.close();
  });

  it('holds the write lock about lock_duration per round, resumes after the last key, lets other processes write', async () => {
    const t = target();
    const old = nsAgo(5 * DAY_MS);
    const fresh = nsAgo(0);
    const n = 240_000;
    const dbi = t.env.openDbi('big', { create: true })!;
    t.env.write((txn) => {
      for (let i = 0; i < n; i++) {
        const key = Buffer.from(`k${String(i).padStart(7, '0')}`);
        txn.put(dbi, key, buildValue(i % 2 ? fresh : old, txn.id, Buffer.alloc(0), { deleted: true }));
      }
    });
    t.env.openDbi('app', { create: true });
    const lockDuration = 15;
    const sw = new TombSweeper(t, sweeperConfig({ lockDuration, releaseDuration: 10 }), testLogger());
    const app = await startAppWriter(t.env.path);
    const s = await sw.sweep();
    const w = await app.stop();
    const avg = s.lockMs / s.rounds;
    console.log(`# swept ${n} entries in ${s.rounds} rounds, ${Math.round(s.ms)} ms; lock per round: average ` +
      `${avg.toFixed(1)} ms, longest ${s.maxLockMs.toFixed(1)} ms, longest commit ${s.maxCommitMs.toFixed(1)} ms ` +
      `(lock_duration ${lockDuration} ms); another process ` +
      `wrote ${w.during} times meanwhile, its longest wait for the write lock ${w.maxWaitMs.toFixed(1)} ms`);
    assert.equal(s.cleaned, n / 2);
    assert.equal(s.deleted, n / 2);
    assert.equal(readEntries(t.env, 'big').size, n / 2);
    assert.ok(s.rounds >= 3, `rounds: ${s.rounds}`);
    // A round stops within one chunk after lock_duration minus the previous commit's time, then commits:
    // on average a round holds the lock lock_duration plus about one commit; the margin is for preemption
    // on a loaded machine. The other checks are relative to the whole sweep, so a slow machine (which
    // stretches every round and the sweep alike) keeps them: a sweeper holding the lock throughout would
    // have one round as long as the sweep and would keep the other process waiting as long.
    assert.ok(avg < lockDuration + s.maxCommitMs + 30, `average lock per round ${avg} ms`);
    assert.ok(s.maxLockMs < s.ms / 2, `a round held the lock ${s.maxLockMs} ms of a ${s.ms} ms sweep`);
    assert.ok(w.during >= 3, `the other process wrote only ${w.during} times during the sweep`);
    assert.ok(w.maxWaitMs < s.ms / 2, `the other process waited ${w.maxWaitMs} ms during a ${s.ms} ms sweep`);
    t.env.close();
  });

  it('counts a failed sweep (lightningstream_sweeper_failed_total) and tries again at the next interval', async () => {
    const t = target();
    const name = `failing-${process.pid}-${Date.now()}`;
    const failing: SweepTarget = { ...t, name };
    t.env.close(); // every sweep of a closed env fails
    const ac = new AbortController();
    const h = startSweeper(failing, sweeperConfig({ firstInterval: 0, interval: 50 }), testLogger(), ac.signal);
    await waitFor('two failed sweeps', 5000, () => (sweeperMetrics.failedByDb.get(name) ?? 0) >= 2);
    ac.abort();
    await h.stop();
    assert.equal(h.lastStats, undefined);
  });

  it('runs first after first_interval, then every interval, until stopped', async () => {
    const t = target();
    putEntries(t.env, 'data', [{ key: 'gone', ts: nsAgo(3 * DAY_MS), deleted: true }]);
    const ac = new AbortController();
    const started = Date.now();
    const h = startSweeper(t, sweeperConfig({ firstInterval: 150, interval: 100 }), testLogger(), ac.signal);
    await waitFor('the first sweep', 3000, () => h.lastStats !== undefined);
    assert.ok(Date.now() - started >= 140, 'not before first_interval');
    assert.equal(h.lastStats!.cleaned, 1);
    const first = h.lastStats;
    putEntries(t.env, 'data', [{ key: 'gone-later', ts: nsAgo(3 * DAY_MS), deleted: true }]);
    await waitFor('the second sweep', 3000, () => h.lastStats !== first);
    assert.equal(h.lastStats!.cleaned, 1);
    ac.abort();
    await h.stop();
    assert.equal(readEntries(t.env, 'data').size, 0);
    t.env.close();
  });
});

describe('load cutoff (Go: now - (retention - buffer))', () => {
  const now = Date.UTC(2026, 0, 1);
  const ns = (ms: number) => BigInt(ms) * NS_PER_MS;
  it('is undefined with the sweeper disabled', () => {
    assert.equal(sweeperLoadCutoffNano({ enabled: false, retentionDays: 370, retentionLoadCutoffDuration: 0 }, now), undefined);
  });
  it('defaults to 1% of the retention after now - retention', () => {
    const c = sweeperLoadCutoffNano({ enabled: true, retentionDays: 100, retentionLoadCutoffDuration: 0 }, now);
    assert.equal(c, ns(now - 99 * DAY_MS));
  });
  it('uses an explicit buffer, capped at 75% of the retention', () => {
    assert.equal(sweeperLoadCutoffNano({ enabled: true, retentionDays: 10, retentionLoadCutoffDuration: 3600_000 }, now),
      ns(now - 10 * DAY_MS + 3600_000));
    assert.equal(sweeperLoadCutoffNano({ enabled: true, retentionDays: 4, retentionLoadCutoffDuration: 4 * DAY_MS }, now),
      ns(now - DAY_MS));
  });
});

describe('a swept marker in a remote snapshot is not loaded again (real sync path, fs storage)', () => {
  const storage = { type: 'fs', options: { root_path: join(tmp.dir, 'bucket') } };
  const sweeper = 'sweeper: { enabled: true, retention_days: 1, first_interval: 50ms, interval: 1h }';
  const remotePath = join(tmp.dir, 'remote');
  const mePath = join(tmp.dir, 'me');
  const remote = syncConfig({ instance: 'remote', lmdbPath: remotePath, storage });
  const me = syncConfig({ instance: 'me', lmdbPath: mePath, storage, extra: sweeper });

  it('a marker past the retention is not added by a load, a recent one is', async () => {
    putEntriesAt(remotePath, 'data', [
      { key: 'keep', value: 'v', ts: nsAgo(2 * DAY_MS) },
      { key: 'ancient', ts: nsAgo(3 * DAY_MS), deleted: true },
      { key: 'recent', ts: nsAgo(3600_000), deleted: true },
    ]);
    await syncOnce(remote);
    await syncOnce(me);
    assert.deepEqual([...readEntriesAt(mePath, 'data').keys()].sort(), ['keep', 'recent']);
  });

  it('after the sweeper removed a local marker, a newer remote snapshot that still has it does not bring it back', async () => {
    const swept = [{ key: 'swept', ts: nsAgo(2 * DAY_MS), deleted: true }];
    putEntriesAt(mePath, 'data', swept);
    putEntriesAt(remotePath, 'data', swept);
    // The runner wiring of the sweeper, as runner.ts is meant to do it.
    const stops: Array<() => Promise<void>> = [];
    const bg = await startSync(me, {}, (run, signal) => {
      for (const l of run.lmdbs) stops.push(startSweeper(l, run.config.sweeper, testLogger(), signal).stop);
    });
    const meEnv = bg.run.lmdbs[0]!.env;
    try {
      await waitFor('the sweeper to remove the local marker', 10_000, () => !readEntries(meEnv, 'data').has('swept'));
      // The remote instance writes a new snapshot, still carrying the marker (its sweeper is off).
      putEntriesAt(remotePath, 'data', [{ key: 'later', value: 'x', ts: nsAgo(0) }]);
      await syncOnce(remote);
      await waitFor('the new remote snapshot to be loaded', 10_000, () => readEntries(meEnv, 'data').has('later'),
        () => [...readEntries(meEnv, 'data')].join('\n'));
      assert.equal(readEntries(meEnv, 'data').has('swept'), false, 'the swept marker came back');
    } finally {
      await Promise.all(stops.map((s) => s()));
      await bg.stop();
    }
  });

  it('a marker just inside the load cutoff buffer (older than 99% of the retention) is not loaded either', async () => {
    putEntriesAt(remotePath, 'data', [{ key: 'edge', ts: nsAgo(0.995 * DAY_MS), deleted: true }]);
    await syncOnce(remote);
    await syncOnce(me);
    assert.equal(readEntriesAt(mePath, 'data').has('edge'), false, 'a marker the sweeper would remove within the buffer was loaded');
  });
});
