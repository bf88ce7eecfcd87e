// The HTTP status server in-process, around a hand-built SyncRun (a real LMDB env, a real SyncStatus,
// an instrumented memory storage that can be made to fail): metrics in strict exposition format,
// health trackers over time, readiness, the storage listing, HTTP hygiene, and no secret anywhere.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../src/config/config.js';
import { buildSnapshotName } from '../../src/snapshot/name.js';
import { loadAll } from '../../src/storage/common.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import type { ObjectInfo, Storage } from '../../src/storage/storage.js';
import type { LmdbSyncContext } from '../../src/sync/context.js';
import type { RemoteSnapshot } from '../../src/sync/receive/receiver.js';
import { parseListedObject } from '../../src/storage/snapshot-store.js';
import type { SyncRun } from '../../src/sync/runner.js';
import { SyncStatus } from '../../src/sync/status.js';
import type { Syncer } from '../../src/sync/syncer.js';
import { FailureTracker, outcomeFromStatus, StartTracker } from '../../src/status/health.js';
import { instrumentStorage, InstrumentedStorage } from '../../src/status/instrument.js';
import { metrics } from '../../src/status/registry.js';
import { makeScrubber } from '../../src/status/scrub.js';
import { parseListenAddress, StatusServer } from '../../src/status/server.js';
import { createLogger } from '../../src/log/logger.js';
import { cleanerMetrics } from '../../src/ops/cleaner.js';
import { sweeperMetrics, type SweepStats } from '../../src/ops/sweeper.js';
import { NativeApp, waitFor } from '../sync/helpers.js';
import { get, getJson, statusConfigLines } from './helpers.js';
import { parsePrometheusText, sampleValue } from './prom.js';

const SECRET = 'very-secret-value-0123456789';
const ACCESS_KEY = 'AKIAEXAMPLEKEY123456';
const URL_PASSWORD = 'pa55word-xyz';

/** Forwards to a memory storage, or fails every call with `failure` while it is set. */
class FlakyStorage implements Storage {
  failure: Error | undefined;
  readonly inner = new MemoryStorage();
  private check(): void {
    if (this.failure) throw this.failure;
  }
  async list(prefix: string): Promise<ObjectInfo[]> {
    this.check();
    return this.inner.list(prefix);
  }
  async loadStream(name: string): Promise<Readable> {
    this.check();
    return this.inner.loadStream(name);
  }
  async store(name: string, data: Buffer | Readable): Promise<void> {
    this.check();
    return this.inner.store(name, data);
  }
  async delete(name: string): Promise<void> {
    this.check();
    return this.inner.delete(name);
  }
  async close(): Promise<void> {}
}

function testConfig(lmdbPath: string, address = '127.0.0.1:0') {
  // The warning stage lasts 2.7 s: a margin a loaded machine keeps for seeing it between two polls.
  const health = '{ interval: 100ms, warn_duration: 300ms, error_duration: 3s }';
  return parseConfig([
    'instance: a',
    `lmdbs: { main: { path: ${JSON.stringify(lmdbPath)}, schema_tracks_changes: true } }`,
    `storage: { type: s3, options: { access_key: ${ACCESS_KEY}, secret_key: "${SECRET}", bucket: b, endpoint_url: "http://user:${URL_PASSWORD}@127.0.0.1:1" } }`,
    'storage_poll_interval: 500ms',
    statusConfigLines(health, address),
    '  start: { interval: 100ms, warn_duration: 300ms, error_duration: 700ms, report_healthz: true }',
  ].join('\n'), {});
}

const quietLog = createLogger({ level: 'error', stream: { write: () => true } });

interface Fixture {
  dir: string;
  app: NativeApp;
  status: SyncStatus;
  flaky: FlakyStorage;
  storage: InstrumentedStorage;
  run: SyncRun;
  server: StatusServer;
  base: string;
}

async function startFixture(): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'ls-status-'));
  const app = new NativeApp(join(dir, 'lmdb'));
  const status = new SyncStatus('main', 'a');
  const peers = { newest: new Map<string, RemoteSnapshot>() };
  status.peers = peers;
  const flaky = new FlakyStorage();
  const storage = instrumentStorage(flaky);
  const run: SyncRun = {
    config: testConfig(join(dir, 'lmdb')), instance: 'a', storage,
    lmdbs: [{ name: 'main', env: app.env, syncer: { status } as unknown as Syncer, ctx: { mode: { kind: 'native' } } as unknown as LmdbSyncContext }],
  };
  const server = await StatusServer.start(run, quietLog);
  const { port } = server.address();
  return { dir, app, status, flaky, storage, run, server, base: `http://127.0.0.1:${port}` };
}

const nowNano = () => BigInt(Date.now()) * 1_000_000n;

describe('status server (in-process)', { timeout: 60_000 }, () => {
  let f: Fixture;
  before(async () => {
    f = await startFixture();
  });
  after(async () => {
    await f.server.stop();
    f.app.close();
    rmSync(f.dir, { recursive: true, force: true });
  });

  it('binds to the configured address only, and refuses a port already taken with a clear error', async () => {
    assert.equal(f.server.address().address, '127.0.0.1');
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const run = { ...f.run, config: testConfig(join(f.dir, 'lmdb'), `127.0.0.1:${port}`) };
      await assert.rejects(StatusServer.start(run, quietLog), /http\.address 127\.0\.0\.1:\d+: cannot listen: the port is already in use/);
    } finally {
      blocker.close();
    }
  });

  it('/readyz and the start tracker (report_healthz: true) follow the initial sync', async () => {
    const ready = await getJson(f.base, '/readyz');
    assert.equal(ready.code, 503);
    assert.deepEqual(ready.body, { ready: false, lmdbs: { main: false } });
    assert.equal((await getJson(f.base, '/healthz')).body.metadata.startup_main, false);
    await waitFor('the start tracker to turn into an error', 5000, async () => (await get(`${f.base}/healthz`)).code === 503);
    let r = await getJson(f.base, '/healthz');
    assert.match(r.body.failures.main_startup_in_progress!, /^successful startup pending after \d+s$/);
    f.status.ready = true;
    assert.equal((await getJson(f.base, '/readyz')).code, 200);
    await waitFor('/healthz to recover once ready', 5000, async () => (await get(`${f.base}/healthz`)).code === 200);
    r = await getJson(f.base, '/healthz');
    assert.equal(r.body.metadata.startup_main, true);
    assert.equal(r.body.ok, true);
    assert.equal(r.body.status, 'OK');
  });

  it('/metrics: strict exposition with syncer, storage, LMDB, process and component metrics that move', async () => {
    f.app.put('data', 'k1', 'v1', nowNano());
    const remote = buildSnapshotName({ db: 'main', instance: 'b', timestamp: nowNano() - 2_000_000_000n });
    await f.storage.store(remote, Buffer.alloc(100, 1));
    await f.storage.store(buildSnapshotName({ db: 'main', instance: 'a', timestamp: nowNano() }), Readable.from([Buffer.alloc(40), Buffer.alloc(2)]));
    const listed = await f.storage.list('main__');
    await loadAll(f.storage, remote);
    const snap = parseListedObject({ name: remote, size: 100, lastModified: listed[0]!.lastModified }, 'main') as RemoteSnapshot;
    (f.status.peers!.newest as Map<string, RemoteSnapshot>).set('b', snap);
    f.status.stored({ name: buildSnapshotName({ db: 'main', instance: 'a', timestamp: nowNano() }), kind: 'full', timestampNano: 0n, txnId: 1, entries: 1, bytes: 42, ms: 12 });
    f.status.loaded(snap, { changed: 1, remoteEntries: 1, txnId: 2, snapshotTxnId: 7, identical: false, baseTxnId: 1, ms: 30, planMs: 5, lockMs: 1, commitMs: 0.5, spoolBytes: 100, spooledToDisk: false });
    cleanerMetrics.listCalls += 2;
    cleanerMetrics.byDb.set('main', { deleteCalls: { 'newer snapshot': 4, 'stale instance': 1 } });
    const sweep = { entries: 10, deleted: 2, cleaned: 3, ms: 1500 } as SweepStats;
    sweeperMetrics.byDb.set('main', {
      cleanedTotal: 3, statsAvailable: 1, totalEntries: 10, deletedEntries: 2, sweeps: 1, durationSecondsSum: 1.5, lastStats: sweep,
    });
    for (const fn of sweeperMetrics.listeners) fn('main', sweep);
    const component = metrics.counter({ name: 'lightningstream_test_component_total', help: 'a component counter', labelNames: ['lmdb'] as const });
    component.inc({ lmdb: 'main' }, 3);
    // The watcher feeds the store, merge and lag histograms (every 250 ms): wait until it has.
    await waitFor('the watcher to feed the histograms', 10_000, async () => {
      const fams = parsePrometheusText((await get(`${f.base}/metrics`)).text);
      return ['store_duration', 'merge_duration', 'lag'].every((h) =>
        sampleValue(fams, `lightningstream_syncer_snapshot_${h}_seconds_count`, { lmdb: 'main' }) === 1);
    });

    const res = await get(`${f.base}/metrics`);
    assert.equal(res.code, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const fams = parsePrometheusText(res.text);
    const type = (name: string) => fams.get(name)?.type;
    const v = (name: string, labels: Record<string, string> = {}) => sampleValue(fams, name, labels);
    const main = { lmdb: 'main' };
    // Go's names and types.
    for (const [name, t] of Object.entries({
      lightningstream_syncer_snapshots_generated_total: 'counter', lightningstream_syncer_snapshots_generated_last_unix_seconds: 'gauge',
      lightningstream_syncer_snapshots_generated_last_size_bytes: 'gauge', lightningstream_syncer_snapshots_store_failed_attempts_total: 'counter',
      lightningstream_syncer_snapshots_store_failed_permanently_total: 'counter', lightningstream_syncer_snapshots_store_calls_total: 'counter',
      lightningstream_syncer_snapshots_store_bytes_total: 'counter', lightningstream_receiver_snapshots_last_received_seconds: 'gauge',
      lightningstream_receiver_snapshots_last_received_age_seconds: 'histogram', lightningstream_syncer_snapshots_load_calls_total: 'counter',
      lightningstream_syncer_snapshots_list_calls_total: 'counter', lightningstream_syncer_snapshots_load_failed_total: 'counter',
      lightningstream_syncer_snapshots_list_failed_total: 'counter', lightningstream_syncer_snapshots_load_bytes_total: 'counter',
      lightningstream_receiver_snapshots_in_storage_count: 'gauge', lightningstream_receiver_snapshots_in_storage_bytes: 'gauge',
      lmdb_mapsize_bytes: 'gauge', lmdb_env_last_tnx_id: 'gauge', lmdb_env_readers_current: 'gauge', lmdb_env_readers_max: 'gauge',
      lmdb_filesize_bytes: 'gauge', lightningstream_cleaner_delete_total: 'counter', lightningstream_sweeper_duration_seconds: 'summary',
    })) assert.equal(type(name), t, name);
    assert.equal(v('lightningstream_syncer_snapshots_generated_total', main), 1);
    assert.equal(v('lightningstream_syncer_snapshots_generated_last_size_bytes', main), 42);
    assert.equal(v('lightningstream_syncer_snapshots_loaded_total', main), 1);
    // Go's call and byte counters are process totals (unlabelled, as in Go); ours by LMDB beside them.
    for (const go of ['store_calls', 'store_bytes', 'load_calls', 'load_bytes', 'list_calls']) {
      assert.deepEqual(fams.get(`lightningstream_syncer_snapshots_${go}_total`)?.samples.map((s) => s.labels), [{}], go);
    }
    assert.equal(v('lightningstream_syncer_snapshots_store_calls_total'), 2);
    assert.equal(v('lightningstream_syncer_snapshots_store_bytes_total'), 142);
    assert.equal(v('lightningstream_syncer_snapshots_load_calls_total'), 1);
    assert.equal(v('lightningstream_syncer_snapshots_load_bytes_total'), 100);
    assert.equal(v('lightningstream_syncer_snapshots_list_calls_total'), 1);
    assert.equal(v('lightningstream_storage_store_calls_total', main), 2);
    assert.equal(v('lightningstream_storage_store_bytes_total', main), 142);
    assert.equal(v('lightningstream_storage_load_calls_total', main), 1);
    assert.equal(v('lightningstream_storage_load_bytes_total', main), 100);
    assert.equal(v('lightningstream_storage_list_calls_total', main), 1);
    assert.equal(v('lightningstream_receiver_snapshots_in_storage_count', main), 2);
    assert.equal(v('lightningstream_receiver_snapshots_in_storage_bytes', main), 142);
    assert.equal(v('lightningstream_receiver_snapshots_last_received_age_seconds_count', { lmdb: 'main', syncer_instance: 'b' }), 1);
    assert.ok(Math.abs(v('lightningstream_receiver_snapshots_last_received_seconds', { lmdb: 'main', syncer_instance: 'b' })! - Date.now() / 1000) < 10);
    assert.ok(v('lightningstream_receiver_snapshots_newest_age_seconds', { lmdb: 'main', syncer_instance: 'b' })! >= 2);
    assert.equal(v('lightningstream_syncer_snapshot_store_duration_seconds_count', main), 1);
    assert.equal(v('lightningstream_syncer_snapshot_merge_duration_seconds_sum', main), 0.03);
    assert.equal(v('lightningstream_syncer_snapshot_lag_seconds_count', main), 1);
    assert.equal(v('lightningstream_storage_request_duration_seconds_count', { op: 'store', result: 'ok' }), 2);
    const info = f.app.env.info();
    assert.equal(v('lmdb_env_last_tnx_id', main), info.lastTxnId);
    assert.equal(v('lmdb_mapsize_bytes', main), info.mapSize);
    assert.equal(v('lightningstream_lmdb_used_bytes', main), (info.lastPageNo + 1) * f.app.env.stat().pageSize);
    assert.ok(v('lightningstream_lmdb_used_fraction', main)! > 0 && v('lightningstream_lmdb_used_fraction', main)! < 1);
    assert.equal(v('lightningstream_syncer_ready', main), 1);
    assert.equal(v('lightningstream_test_component_total', main), 3);
    assert.equal(v('lightningstream_cleaner_list_calls_total'), 2);
    assert.equal(v('lightningstream_cleaner_delete_total', { lmdb: 'main', reason: 'newer snapshot' }), 4);
    assert.equal(v('lightningstream_sweeper_stats_total_entries', main), 10);
    assert.equal(v('lightningstream_sweeper_cleaned_total', main), 3);
    assert.equal(v('lightningstream_sweeper_duration_seconds_sum', main), 1.5);
    assert.equal(type('process_cpu_user_seconds_total'), 'counter');
    assert.equal(type('nodejs_eventloop_lag_seconds'), 'gauge');
    // Every family of ours is prefixed (Go's LMDB collector names excepted).
    for (const name of fams.keys()) assert.match(name, /^(lightningstream_|lmdb_|process_|nodejs_)/);

    // Values move: one more store.
    await f.storage.store(buildSnapshotName({ db: 'main', instance: 'a', timestamp: nowNano() }), Buffer.alloc(8));
    f.status.stored({ name: buildSnapshotName({ db: 'main', instance: 'a', timestamp: nowNano() }), kind: 'full', timestampNano: 0n, txnId: 2, entries: 1, bytes: 8, ms: 3 });
    const again = parsePrometheusText((await get(`${f.base}/metrics`)).text);
    assert.equal(sampleValue(again, 'lightningstream_syncer_snapshots_generated_total', main), 2);
    assert.equal(sampleValue(again, 'lightningstream_syncer_snapshots_store_bytes_total'), 150);
    assert.equal(sampleValue(again, 'lightningstream_storage_store_bytes_total', main), 150);
  });

  it('/healthz: storage_list warns, then answers 503, then 200 again when the storage is back', async () => {
    f.flaky.failure = new Error(`connect ECONNREFUSED http://user:${URL_PASSWORD}@127.0.0.1:1 (signature for ${ACCESS_KEY} with ${SECRET})`);
    let polling = true;
    // A named function, not an IIFE: TypeScript would see `polling` as always true inside one.
    const poll = async (): Promise<void> => {
      while (polling) {
        await f.storage.list('main__').catch(() => undefined);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const poller = poll();
    try {
      let sawError = false;
      await waitFor('/healthz to warn (still 200)', 10_000, async () => {
        const r = await getJson(f.base, '/healthz');
        sawError ||= r.code === 503;
        return r.code === 200 && r.body.warnings.main_storage_list_failed_duration !== undefined;
      });
      assert.ok(!sawError, 'the error (503) came before any warning');
      await waitFor('/healthz 503', 10_000, async () => (await get(`${f.base}/healthz`)).code === 503);
      const r = await getJson(f.base, '/healthz');
      assert.equal(r.body.ok, false);
      assert.equal(r.body.status, 'Unavailable');
      const message = r.body.failures.main_storage_list_failed_duration as string;
      assert.match(message, /^failed to list snapshots on storage backend for \d+s - last error: 'connect ECONNREFUSED/);
      assert.ok(!message.includes(SECRET) && !message.includes(URL_PASSWORD) && !message.includes(ACCESS_KEY), message);
      const check = r.body.checks.find((c) => c.name === 'main_storage_list_failed_duration')!;
      assert.equal(check.status, 'error');
      assert.ok(check.since && check.lastError && (check.consecutiveFailures ?? 0) > 1);
      f.flaky.failure = undefined;
      await waitFor('/healthz back to 200', 10_000, async () => (await get(`${f.base}/healthz`)).code === 200);
      assert.deepEqual((await getJson(f.base, '/healthz')).body.failures, {});
    } finally {
      polling = false;
      await poller;
      f.flaky.failure = undefined;
    }
  });

  it('shows no secret anywhere, even when errors quote them', async () => {
    f.status.listFailed(new Error(`GET http://user:${URL_PASSWORD}@s3.example/ failed for key ${ACCESS_KEY}: ${SECRET}`));
    f.flaky.failure = new Error(`denied: ${SECRET}`);
    await f.storage.list('main__').catch(() => undefined);
    try {
      const paths = ['/', '/assets/status.js', '/status.json', '/healthz', '/readyz', '/metrics', '/storage', '/storage?format=json'];
      const bodies = await Promise.all(paths.map(async (p) => [p, (await get(f.base + p)).text] as const));
      for (const [p, body] of bodies) {
        for (const secret of [SECRET, URL_PASSWORD, ACCESS_KEY]) assert.ok(!body.includes(secret), `${p} shows ${secret}`);
      }
      const status = bodies.find(([p]) => p === '/status.json')![1];
      assert.match(status, /user:\*\*\*@s3\.example/);
      assert.match(status, /AKIA\*\*\*/);
      assert.match(bodies.find(([p]) => p === '/storage')![1], /error listing the storage: denied: \*\*\*/);
    } finally {
      f.flaky.failure = undefined;
    }
  });

  it('/storage lists the bucket with a limit and a prefix, as HTML or JSON', async () => {
    const all = await f.flaky.inner.list('');
    assert.ok(all.length >= 3);
    const json = await getJson(f.base, '/storage?format=json', '&limit=2');
    assert.equal(json.code, 200);
    assert.equal(json.body.total, all.length);
    assert.equal(json.body.truncated, true);
    assert.equal(json.body.objects.length, 2);
    assert.deepEqual(json.body.objects.map((o: { name: string }) => o.name), all.slice(0, 2).map((o) => o.name));
    assert.equal(json.body.objects[0]!.snapshot.db, 'main');
    const onlyB = await getJson(f.base, '/storage?format=json', '&prefix=main__b__');
    assert.deepEqual(onlyB.body.objects.map((o: { snapshot: { instance: string } }) => o.snapshot.instance), ['b']);
    const html = await get(`${f.base}/storage?limit=1`);
    assert.equal(html.code, 200);
    assert.match(html.text, new RegExp(`first 1 of ${all.length} objects`));
    assert.equal((await get(`${f.base}/storage?limit=0`)).code, 400);
    assert.equal((await get(`${f.base}/storage?limit=abc`)).code, 400);
  });

  it('HTTP hygiene: 404, 405, HEAD, content types and a strict Content-Security-Policy', async () => {
    assert.equal((await get(`${f.base}/nope`)).code, 404);
    const post = await get(`${f.base}/metrics`, { method: 'POST' });
    assert.equal(post.code, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    const head = await get(`${f.base}/status.json`, { method: 'HEAD' });
    assert.equal(head.code, 200);
    assert.equal(head.text, '');
    const page = await get(`${f.base}/`);
    assert.match(page.headers.get('content-type')!, /^text\/html/);
    assert.match(page.headers.get('content-security-policy')!, /default-src 'none'; script-src 'self'/);
    assert.doesNotMatch(page.text, /https?:\/\//, 'the page loads nothing from elsewhere');
    assert.match((await get(`${f.base}/assets/status.js`)).headers.get('content-type')!, /^text\/javascript/);
  });
});

describe('status building blocks', () => {
  it('parseListenAddress', () => {
    assert.deepEqual(parseListenAddress('127.0.0.1:8500'), { host: '127.0.0.1', port: 8500 });
    assert.deepEqual(parseListenAddress(':8500'), { host: undefined, port: 8500 });
    assert.deepEqual(parseListenAddress('[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseListenAddress('localhost:9'), { host: 'localhost', port: 9 });
    for (const bad of ['8500', '1.2.3.4', 'a:b', '::1:80', 'h:70000']) assert.throws(() => parseListenAddress(bad), /http\.address/);
  });

  it('a failure tracker mirrors Go: warning after warn_duration, error after error_duration, one success resets', () => {
    let now = 1_000_000;
    const state = { consecutiveFailures: 0 } as ReturnType<InstrumentedStorage['outcome']>;
    const t = new FailureTracker('main', 'store', { interval: 1000, warnDuration: 60_000, errorDuration: 300_000 }, () => state, (s) => s, () => now);
    assert.equal(t.evaluate().status, 'ok');
    Object.assign(state, { failingSince: now, lastFailAt: now, lastError: 'boom', consecutiveFailures: 1 });
    assert.equal(t.evaluate().status, 'ok');
    now += 60_000;
    assert.equal(t.evaluate().status, 'warning');
    assert.equal(t.current.message, "failed to write to storage backend for 1m0s - last error: 'boom'");
    now += 240_000;
    assert.equal(t.evaluate().status, 'error');
    assert.equal(t.current.name, 'main_storage_store_failed_duration');
    Object.assign(state, { failingSince: undefined, lastOkAt: now, consecutiveFailures: 0 });
    assert.equal(t.evaluate().status, 'ok');
    assert.equal(t.current.message, '');
  });

  it('a start tracker only counts with report_healthz', () => {
    let now = 0;
    let ready = false;
    const conf = { interval: 1000, warnDuration: 60_000, errorDuration: 300_000, reportHealthz: false, reportMetadata: true };
    const quiet = new StartTracker('main', conf, () => ready, () => now);
    const loud = new StartTracker('main', { ...conf, reportHealthz: true }, () => ready, () => now);
    now = 300_000;
    assert.equal(quiet.evaluate().status, 'ok');
    assert.equal(quiet.current.reported, false);
    assert.equal(loud.evaluate().status, 'error');
    assert.equal(loud.current.message, 'successful startup pending after 5m0s');
    ready = true;
    assert.equal(loud.evaluate().status, 'ok');
    assert.equal(loud.completed, true);
    ready = false; // the start-up phase passes once (Go deregisters the check)
    assert.equal(loud.evaluate().status, 'ok');
  });

  it('outcomeFromStatus: failing since the first error after the last success', () => {
    const at = (ms: number) => new Date(ms);
    assert.deepEqual(outcomeFromStatus(undefined, []), { lastOkAt: undefined, lastFailAt: undefined, failingSince: undefined, lastError: undefined, consecutiveFailures: 0 });
    const errors = [{ at: at(10), what: 'list', message: 'a' }, { at: at(30), what: 'list', message: 'b' }, { at: at(40), what: 'list', message: 'c' }];
    assert.deepEqual(outcomeFromStatus(at(20), errors), { lastOkAt: 20, lastFailAt: 40, failingSince: 30, lastError: 'c', consecutiveFailures: 2 });
    assert.equal(outcomeFromStatus(at(50), errors).failingSince, undefined);
    // The first errors of a long run rotated out of SyncStatus.recentErrors: the previous result remembers.
    const previous = outcomeFromStatus(at(20), errors);
    assert.equal(outcomeFromStatus(at(20), errors.slice(2), previous).failingSince, 30);
    assert.equal(outcomeFromStatus(at(45), errors.slice(2), previous).failingSince, undefined);
  });

  it('instrumentStorage counts streams, records outcomes per LMDB, and wraps once', async () => {
    const flaky = new FlakyStorage();
    const s = instrumentStorage(flaky);
    assert.equal(instrumentStorage(s), s);
    const name = buildSnapshotName({ db: 'x', instance: 'i', timestamp: nowNano() });
    await s.store(name, Readable.from([Buffer.alloc(5), Buffer.alloc(6)]));
    const chunks: Buffer[] = [];
    for await (const c of await s.loadStream(name)) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).length, 11);
    assert.equal(s.outcome('load', 'x').consecutiveFailures, 0);
    assert.ok(s.outcome('load', 'x').lastOkAt);
    flaky.failure = new Error('down');
    await assert.rejects(s.store(name, Readable.from([Buffer.alloc(1)])), /down/);
    await assert.rejects(s.delete(name), /down/);
    const o = s.outcome('store', 'x');
    assert.equal(o.consecutiveFailures, 1);
    assert.equal(o.lastError, 'down');
    assert.ok(o.failingSince);
    assert.equal(s.outcome('store', 'other').lastError, undefined);
    const fams = parsePrometheusText(await s.registry.metrics());
    assert.equal(sampleValue(fams, 'lightningstream_storage_store_bytes_total', { lmdb: 'x' }), 11);
    assert.equal(sampleValue(fams, 'lightningstream_storage_load_bytes_total', { lmdb: 'x' }), 11);
    assert.equal(sampleValue(fams, 'lightningstream_syncer_snapshots_store_failed_attempts_total', { lmdb: 'x' }), 1);
    assert.equal(sampleValue(fams, 'lightningstream_storage_request_duration_seconds_count', { op: 'delete', result: 'error' }), 1);
  });

  it('the component registry is get-or-create and enforces the prefix', () => {
    const a = metrics.gauge({ name: 'lightningstream_test_hook_gauge', help: 'h' });
    assert.equal(metrics.gauge({ name: 'lightningstream_test_hook_gauge', help: 'h' }), a);
    assert.throws(() => metrics.counter({ name: 'lightningstream_test_hook_gauge', help: 'h' }), /another type/);
    assert.throws(() => metrics.counter({ name: 'cleaner_total', help: 'h' }), /must start with lightningstream_/);
  });

  it('the scrubber masks configured secrets and URL passwords', () => {
    const scrub = makeScrubber(testConfig('/tmp/x'));
    assert.equal(scrub(`x ${SECRET} y`), 'x *** y');
    assert.equal(scrub(`key ${ACCESS_KEY}`), 'key AKIA***');
    assert.equal(scrub('see https://bob:hunter2@host/path and ftp://a:b@c'), 'see https://bob:***@host/path and ftp://a:***@c');
    assert.equal(scrub('nothing here'), 'nothing here');
  });
});
