// The return guard (README "Coming back after a long absence") with real `lightningstream` processes and a
// sweeper retention of a few seconds: an instance away longer than the retention must not bring back keys the
// fleet deleted and swept meanwhile, while what it wrote away, and what others rewrote, survives.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe as suite, it } from 'node:test';
import { readGuardRecord } from '../../src/sync/guard/guard-record.js';
import { nowNano } from '../../src/util/clock.js';
import { requireS3TestEnv, s3Options, uniqueBucket } from '../storage/s3env.js';
import { describe, NativeApp, startLightningstream, waitFor, writeConfig, type NativeEntry, type RunningProcess } from './helpers.js';

const RETENTION_S = 6;
const SWEEPER = `sweeper: { enabled: true, retention_days: ${RETENTION_S / 86_400}, first_interval: 200ms, interval: 300ms, release_duration: 50ms }`;
const WAIT_MS = 60_000;

const key = (i: number): string => `key-${String(i).padStart(3, '0')}`;
const live = (m: Map<string, NativeEntry>, k: string): boolean => m.get(`data/${k}`)?.deleted === false;
const dataKeys = (m: Map<string, NativeEntry>): Array<[string, NativeEntry]> =>
  [...m].filter(([k]) => k.startsWith('data/')).map(([k, e]) => [k.slice('data/'.length), e]);
const liveKeys = (m: Map<string, NativeEntry>): string[] => dataKeys(m).filter(([, e]) => !e.deleted).map(([k]) => k).sort();

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  const port = (srv.address() as { port: number }).port;
  await new Promise((res) => srv.close(res));
  return port;
}

/** Three (or more) instances on one storage, each a process over its own native-mode LMDB. */
class Fleet {
  readonly apps = new Map<string, NativeApp>();
  readonly procs = new Map<string, RunningProcess>();
  private readonly configs = new Map<string, string>();
  private runs = 0;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(readonly dir: string, storage: Record<string, unknown>, names: string[], extra: (name: string) => string = () => SWEEPER) {
    mkdirSync(dir, { recursive: true });
    for (const name of names) {
      const lmdbPath = join(dir, `lmdb-${name}`);
      this.configs.set(name, writeConfig(dir, { instance: name, lmdbPath, storage, extra: extra(name) }));
      this.apps.set(name, new NativeApp(lmdbPath));
    }
  }

  app(name: string): NativeApp {
    return this.apps.get(name)!;
  }

  start(name: string, env: Record<string, string> = {}): RunningProcess {
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const p = startLightningstream(this.dir, `${name}-${++this.runs}`, ['-c', this.configs.get(name)!, 'sync']);
      this.procs.set(name, p);
      return p;
    } finally {
      for (const k of Object.keys(env)) {
        if (saved[k] === undefined) Reflect.deleteProperty(process.env, k);
        else process.env[k] = saved[k];
      }
    }
  }

  async stop(name: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.procs.get(name)?.stop(signal);
    this.procs.delete(name);
  }

  /**
   * The application on a live instance writes to DBI `hb` every 300 ms (as a live fleet's traffic, or its
   * forced snapshots, would): its newest state stays within the retention, so it can judge.
   */
  heartbeat(name: string): void {
    let n = 0;
    const timer = setInterval(() => this.app(name).put('hb', 'beat', String(++n), nowNano()), 300);
    this.timers.push(timer);
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await Promise.all([...this.procs.keys()].map((n) => this.stop(n)));
    for (const a of this.apps.values()) a.close();
  }

  logs(): string {
    const lines = (p: RunningProcess): string => p.log().split('\n').filter((l) => !l.includes('Sweep for stale')).slice(-30).join('\n');
    return [...this.procs].map(([n, p]) => `--- ${n}\n${lines(p)}`).join('\n');
  }

  contents(name: string): Map<string, NativeEntry> {
    return this.app(name).contents();
  }

  /** Waits until `check` holds on every named instance's LMDB. */
  async until(what: string, names: string[], check: (m: Map<string, NativeEntry>, name: string) => boolean): Promise<void> {
    await waitFor(what, WAIT_MS, () => names.every((n) => check(this.contents(n), n)),
      () => names.map((n) => `--- ${n} live: ${liveKeys(this.contents(n)).join(' ')}`).join('\n') + '\n' + this.logs());
  }

  /** Waits until `name`'s own record says it has merged everything and the storage holds all it had at `since`. */
  async recorded(name: string, since: bigint): Promise<void> {
    await waitFor(`${name}'s return guard record to be fresh`, WAIT_MS, () => {
      const r = readGuardRecord(this.app(name).env);
      return r.syncedNano !== undefined && r.syncedNano > since && r.mergedAllMs !== undefined && BigInt(r.mergedAllMs) * 1_000_000n > since;
    }, () => JSON.stringify(readGuardRecord(this.app(name).env), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + this.logs());
  }
}

/**
 * The issue's set-up up to c's return: 100 keys everywhere, c stopped, a deletes key-000..049, the markers
 * reach b and are swept on a and b. `whileAway` runs after the sweep, before c comes back.
 */
async function awayAndSwept(f: Fleet, whileAway: () => void = () => {}, guarded = true): Promise<void> {
  const a = f.app('a');
  const base = nowNano();
  for (let i = 0; i < 100; i++) a.put('data', key(i), `v${i}`, base + BigInt(i));
  for (const n of ['a', 'b', 'c']) f.start(n);
  f.heartbeat('a');
  f.heartbeat('b');
  await f.until('100 keys everywhere', ['a', 'b', 'c'], (m) => liveKeys(m).length === 100);
  if (guarded) await f.recorded('c', base + 100n);
  await f.stop('c');
  const del = nowNano();
  for (let i = 0; i < 50; i++) a.remove('data', key(i), del + BigInt(i));
  await f.until('the 50 markers on b', ['b'], (m) => m.get(`data/${key(0)}`)?.deleted === true && m.get(`data/${key(49)}`)?.deleted === true);
  await f.until('the 50 markers swept on a and b', ['a', 'b'], (m) => dataKeys(m).length === 50);
  whileAway();
  if (guarded) assert.ok(Date.now() - readGuardRecord(f.app('c').env).mergedAllMs! > RETENTION_S * 1000, 'c was away longer than the retention');
}

suite('return guard: an instance back after longer than the sweeper retention', { timeout: 600_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-guard-'));
  const fleets: Fleet[] = [];
  after(async () => {
    await Promise.all(fleets.map((f) => f.close()));
    if (process.env.LS_KEEP_TEST_DIR !== '1') rmSync(dir, { recursive: true, force: true });
  });
  const fsFleet = (tag: string, extra?: (name: string) => string): Fleet => {
    const f = new Fleet(join(dir, tag), { type: 'fs', options: { root_path: join(dir, tag, 'storage') } }, ['a', 'b', 'c'], extra);
    fleets.push(f);
    return f;
  };

  const s3 = requireS3TestEnv('return guard');
  it('the issue\'s scenario through Ceph: the 50 deleted keys stay deleted everywhere, c\'s new key arrives everywhere', { skip: !s3 }, async () => {
    const port = await freePort();
    const storage = { type: 's3', options: s3Options(s3!, uniqueBucket('guard'), { create_bucket: true }) };
    const f = new Fleet(join(dir, 'issue'), storage, ['a', 'b', 'c'], (n) => `${SWEEPER}\n${n === 'c' ? `http: { address: "127.0.0.1:${port}" }` : ''}`);
    fleets.push(f);
    await awayAndSwept(f, () => f.app('c').put('data', 'new', 'written by c while stopped', nowNano()));
    const c = f.start('c');
    const want = ['new', ...Array.from({ length: 50 }, (_, i) => key(i + 50))].sort();
    await f.until('c\'s new key everywhere', ['a', 'b', 'c'], (m) => live(m, 'new'));
    for (const n of ['a', 'b', 'c']) assert.deepEqual(liveKeys(f.contents(n)), want, `${n}:\n${describe(f.contents(n))}`);
    assert.match(c.log(), /return guard: entries deleted and swept while this instance was away removed.* removed=50/);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /lightningstream_return_guard_removed_total\{lmdb="main"\} 50/);
    const status = await (await fetch(`http://127.0.0.1:${port}/status.json`)).json() as { lmdbs: Array<{ returnGuard?: { phase: string; removed: number } }> };
    const guard = status.lmdbs[0]?.returnGuard;
    assert.equal(guard?.phase, 'done');
    assert.equal(guard.removed, 50);
  });

  it('without the guard (sweeper.return_guard: false) the same run brings the 50 keys back: the hole the guard closes', async () => {
    const f = fsFleet('control', () => `${SWEEPER.slice(0, -2)}, return_guard: false }`);
    await awayAndSwept(f, () => f.app('c').put('data', 'new', 'offline', nowNano()), false);
    f.start('c');
    await f.until('c\'s new key on a', ['a'], (m) => live(m, 'new'));
    assert.equal(liveKeys(f.contents('a')).length, 101, 'the 50 deleted keys are live again on a');
  });

  it('a key rewritten by another instance after the sweep survives; an offline write to a deleted key wins', async () => {
    const f = fsFleet('variants');
    await awayAndSwept(f, () => {
      f.app('b').put('data', key(10), 'rewritten by b', nowNano());
      f.app('c').put('data', key(20), 'written by c while away', nowNano());
    });
    await f.until('b\'s rewrite on a', ['a'], (m) => live(m, key(10)));
    f.start('c');
    const want = [key(10), key(20), ...Array.from({ length: 50 }, (_, i) => key(i + 50))].sort();
    await f.until('c\'s offline write everywhere', ['a', 'b', 'c'], (m) => live(m, key(20)));
    for (const n of ['a', 'b', 'c']) {
      const m = f.contents(n);
      assert.deepEqual(liveKeys(m), want, `${n}:\n${describe(m)}`);
      assert.equal(m.get(`data/${key(10)}`)?.value, 'rewritten by b');
      assert.equal(m.get(`data/${key(20)}`)?.value, 'written by c while away');
    }
    assert.match(f.procs.get('c')!.log(), /removed=48/);
  });

  it('a SIGKILL during the cleanup stores nothing; the next start finishes it', async () => {
    const f = fsFleet('kill', (n) => (n === 'c' ? SWEEPER.replace('release_duration: 50ms', 'release_duration: 700ms') : SWEEPER));
    await awayAndSwept(f, () => f.app('c').put('data', 'new', 'offline', nowNano()));
    const storageDir = join(dir, 'kill', 'storage');
    const cObjects = (): string[] => readdirSync(storageDir).filter((n) => n.includes('__c__')).sort();
    const before = cObjects();
    // 5 markers per write txn, 700 ms apart: the cleanup of 50 entries spans about 6 s.
    f.start('c', { LS_RETURN_GUARD_CHUNK: '5' });
    await f.until('part of the cleanup done on c', ['c'], (m) => {
      const left = Array.from({ length: 50 }, (_, i) => key(i)).filter((k) => live(m, k)).length;
      return left > 0 && left < 50;
    });
    await f.stop('c', 'SIGKILL');
    assert.deepEqual(cObjects(), before, 'c stored nothing before its cleanup was done');
    const mid = liveKeys(f.contents('c')).filter((k) => k < key(50));
    assert.ok(mid.length > 0, 'the kill came before the end of the cleanup');
    f.start('c');
    await f.until('c\'s new key everywhere', ['a', 'b', 'c'], (m) => live(m, 'new'));
    const want = ['new', ...Array.from({ length: 50 }, (_, i) => key(i + 50))].sort();
    for (const n of ['a', 'b', 'c']) assert.deepEqual(liveKeys(f.contents(n)), want, `${n}:\n${describe(f.contents(n))}`);
    assert.match(f.procs.get('c')!.log(), new RegExp(`removed=${mid.length}\\b`));
  });
});
