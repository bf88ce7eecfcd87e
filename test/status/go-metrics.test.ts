// The metric families we took over from Go v1.0.0 (README "Metrics"), each checked against an oracle of
// its own: the LMDB collector (lmdb_stat_*, lmdb_*_usage_*) against `mdb_stat -a -e`, lmdb_smaps_bytes
// against the map size (and absent with lmdb_scrape_smaps: false), the climit gauges against tokens taken
// and released here, and storage_s3_call_* / storage_azure_call_* against calls made here on the real
// Ceph S3 and Azurite servers (a load of an absent object is an error of the server's type).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { parseConfig } from '../../src/config/config.js';
import { loadAll } from '../../src/storage/common.js';
import { createStorage } from '../../src/storage/index.js';
import type { StorageType } from '../../src/config/config.js';
import type { LmdbSyncContext } from '../../src/sync/context.js';
import type { SyncRun } from '../../src/sync/runner.js';
import { Semaphore } from '../../src/sync/semaphore.js';
import { SyncStatus } from '../../src/sync/status.js';
import type { Syncer } from '../../src/sync/syncer.js';
import { SyncMetrics } from '../../src/status/metrics.js';
import { registerRemoteCallMetrics } from '../../src/status/remote-call-metrics.js';
import { createLogger } from '../../src/log/logger.js';
import { MDB_DUPSORT, MDB_INTEGERKEY } from '../../src/lmdb/flags.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { StatusServer } from '../../src/status/server.js';
import { NativeApp } from '../sync/helpers.js';
import { get } from './helpers.js';
import { azureOptions, requireAzureTestEnv, uniqueContainer } from '../storage/azureenv.js';
import { requireS3TestEnv, s3Options, uniqueBucket } from '../storage/s3env.js';
import { parsePrometheusText, sampleValue, type PromFamily } from './prom.js';

interface MdbStat { depth: number; branch: number; leaf: number; overflow: number; entries: number }

/** `mdb_stat -a -e` (lmdb-utils): page size, map size and every named DBI's statistics. */
function mdbStat(path: string): { pageSize: number; mapSize: number; dbis: Map<string, MdbStat> } {
  const text = execFileSync('mdb_stat', ['-a', '-e', path], { encoding: 'utf8' });
  const num = (re: RegExp, t = text) => Number(re.exec(t)![1]);
  const dbis = new Map<string, MdbStat>();
  for (const block of text.split(/^Status of /m).slice(1)) {
    const name = block.slice(0, block.indexOf('\n'));
    if (name === 'Main DB') continue;
    dbis.set(name, {
      depth: num(/Tree depth: (\d+)/, block), branch: num(/Branch pages: (\d+)/, block), leaf: num(/Leaf pages: (\d+)/, block),
      overflow: num(/Overflow pages: (\d+)/, block), entries: num(/Entries: (\d+)/, block),
    });
  }
  return { pageSize: num(/Page size: (\d+)/), mapSize: num(/Map size: (\d+)/), dbis };
}

function fixture(dir: string, smaps: boolean, limits: Semaphore[] = [], http = ''): { app: NativeApp; run: SyncRun } {
  const path = join(dir, 'lmdb');
  const app = new NativeApp(path);
  const config = parseConfig([
    'instance: a',
    `lmdbs: { main: { path: ${JSON.stringify(path)}, schema_tracks_changes: true } }`,
    'storage: { type: memory }',
    `lmdb_scrape_smaps: ${smaps}`,
    http,
  ].join('\n'), {});
  const status = new SyncStatus('main', 'a');
  const run: SyncRun = {
    config, instance: 'a', storage: new MemoryStorage(), limits,
    lmdbs: [{ name: 'main', env: app.env, syncer: { status } as unknown as Syncer, ctx: { mode: { kind: 'native' } } as unknown as LmdbSyncContext }],
  };
  return { app, run };
}

const labelsOf = (f: PromFamily | undefined) => [...new Set(f?.samples.flatMap((s) => Object.keys(s.labels).filter((l) => l !== 'le' && l !== 'quantile')) ?? [])].sort();

describe('Go v1.0.0 metric families', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-go-metrics-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('LMDB collector: per-DBI stat, usage and totals equal mdb_stat; smaps of the mapping', async () => {
    const { app, run } = fixture(join(dir, 'on'), true);
    const sec = BigInt(Date.now()) * 1_000_000n;
    for (let i = 0; i < 500; i++) app.put('data', `key-${String(i).padStart(4, '0')}`, 'v'.repeat(100), sec);
    app.put('other', 'big', 'x'.repeat(20_000), sec); // overflow pages
    app.put('other', 'small', 'y', sec);
    const m = new SyncMetrics(run);
    const fams = parsePrometheusText(await m.registry.metrics());
    const oracle = mdbStat(app.env.path);
    assert.deepEqual([...oracle.dbis.keys()].sort(), ['data', 'other']);
    let total = 0;
    for (const [db, s] of oracle.dbis) {
      const at = { lmdb: 'main', db };
      assert.equal(sampleValue(fams, 'lmdb_stat_entries', at), s.entries, db);
      assert.equal(sampleValue(fams, 'lmdb_stat_depth', at), s.depth, db);
      assert.equal(sampleValue(fams, 'lmdb_stat_pages', { ...at, pagetype: 'branch' }), s.branch, db);
      assert.equal(sampleValue(fams, 'lmdb_stat_pages', { ...at, pagetype: 'leaf' }), s.leaf, db);
      assert.equal(sampleValue(fams, 'lmdb_stat_pages', { ...at, pagetype: 'overflow' }), s.overflow, db);
      const usage = (s.branch + s.leaf + s.overflow) * oracle.pageSize;
      assert.equal(sampleValue(fams, 'lmdb_db_usage_bytes', at), usage, db);
      total += usage;
    }
    assert.ok(oracle.dbis.get('other')!.overflow > 0 && oracle.dbis.get('data')!.depth > 1, 'the fixture has overflow pages and a deeper tree');
    assert.equal(sampleValue(fams, 'lmdb_total_usage_bytes', { lmdb: 'main' }), total);
    assert.equal(sampleValue(fams, 'lmdb_total_usage_fraction', { lmdb: 'main' }), total / oracle.mapSize);
    for (const [name, labels] of Object.entries({
      lmdb_db_usage_bytes: ['db', 'lmdb'], lmdb_stat_entries: ['db', 'lmdb'], lmdb_stat_depth: ['db', 'lmdb'], lmdb_stat_pages: ['db', 'lmdb', 'pagetype'],
      lmdb_total_usage_bytes: ['lmdb'], lmdb_total_usage_fraction: ['lmdb'], lmdb_smaps_bytes: ['database_path', 'lmdb', 'smap'],
    })) {
      assert.equal(fams.get(name)?.type, 'gauge', name);
      assert.deepEqual(labelsOf(fams.get(name)), labels, name);
    }
    const smap = (key: string) => sampleValue(fams, 'lmdb_smaps_bytes', { lmdb: 'main', smap: key, database_path: join(app.env.path, 'data.mdb') });
    assert.equal(smap('size'), oracle.mapSize, 'the mapping is the whole map');
    assert.ok(smap('rss')! > 0 && smap('rss')! <= oracle.mapSize, `rss ${smap('rss')}`);
    assert.equal(smap('kernelpagesize'), 4096);
    app.close();
  });

  it('lmdb_scrape_smaps: false leaves lmdb_smaps_bytes out', async () => {
    const { app, run } = fixture(join(dir, 'off'), false);
    app.put('data', 'k', 'v', 1n);
    const fams = parsePrometheusText(await new SyncMetrics(run).registry.metrics());
    assert.equal(fams.get('lmdb_smaps_bytes'), undefined);
    assert.equal(sampleValue(fams, 'lmdb_stat_entries', { lmdb: 'main', db: 'data' }), 1);
    app.close();
  });

  it('climit: limit, acquired, active, waiting and the wait/hold histograms follow the tokens', async () => {
    const download = new Semaphore(2, 'download');
    const decompress = new Semaphore(1, 'decompress');
    const { app, run } = fixture(join(dir, 'climit'), false, [download, decompress]);
    const m = new SyncMetrics(run);
    const scrape = async () => parsePrometheusText(await m.registry.metrics());
    const at = (limit: string) => ({ limit_name: limit, lmdb: 'main' });
    let fams = await scrape();
    assert.equal(sampleValue(fams, 'lightningstream_climit_limit', at('download')), 2);
    assert.equal(sampleValue(fams, 'lightningstream_climit_limit', at('decompress')), 1);
    assert.equal(sampleValue(fams, 'lightningstream_climit_acquired_total', at('download')), undefined, 'no use yet: no series, as in Go');

    const mine = download.forLmdb('main');
    const r1 = await mine.acquire();
    const r2 = await mine.acquire();
    const third = mine.acquire();
    fams = await scrape();
    assert.equal(sampleValue(fams, 'lightningstream_climit_acquired_total', at('download')), 2);
    assert.equal(sampleValue(fams, 'lightningstream_climit_active', at('download')), 2);
    assert.equal(sampleValue(fams, 'lightningstream_climit_waiting', at('download')), 1);
    r1();
    const r3 = await third;
    r2();
    fams = await scrape();
    assert.equal(sampleValue(fams, 'lightningstream_climit_acquired_total', at('download')), 3);
    assert.equal(sampleValue(fams, 'lightningstream_climit_active', at('download')), 1);
    assert.equal(sampleValue(fams, 'lightningstream_climit_waiting', at('download')), 0);
    assert.equal(sampleValue(fams, 'lightningstream_climit_waiting_seconds_count', at('download')), 3);
    assert.equal(sampleValue(fams, 'lightningstream_climit_active_seconds_count', at('download')), 2);
    r3();
    for (const [name, type] of Object.entries({
      lightningstream_climit_limit: 'gauge', lightningstream_climit_acquired_total: 'counter', lightningstream_climit_active: 'gauge',
      lightningstream_climit_waiting: 'gauge', lightningstream_climit_waiting_seconds: 'histogram', lightningstream_climit_active_seconds: 'histogram',
    })) {
      assert.equal(fams.get(name)?.type, type, name);
      assert.deepEqual(labelsOf(fams.get(name)), ['limit_name', 'lmdb'], name);
    }
    m.stop();
    app.close();
  });

  it('status page data: the per-DBI table of Go (entries, depth, pages, used, flags) equals mdb_stat', async () => {
    const { app, run } = fixture(join(dir, 'page'), false, [], 'http: { address: "127.0.0.1:0" }');
    for (let i = 0; i < 300; i++) app.put('data', `key-${i}`, 'v'.repeat(200), 1n);
    const dups = app.env.openDbi('dups', { create: true, flags: MDB_DUPSORT })!;
    const ints = app.env.openDbi('ints', { create: true, flags: MDB_INTEGERKEY })!;
    app.env.write((txn) => {
      txn.put(dups, Buffer.from('k'), Buffer.from('a'));
      txn.put(dups, Buffer.from('k'), Buffer.from('b'));
      txn.put(ints, Buffer.alloc(8, 1), Buffer.from('x'));
    });
    const server = await StatusServer.start(run, createLogger({ level: 'error', stream: { write: () => true } }));
    try {
      const body = JSON.parse((await get(`http://127.0.0.1:${server.address().port}/status.json`)).text) as {
        lmdbs: Array<{ dbis: Array<{ name: string; usedBytes: number; entries: number; depth: number; branchPages: number; leafPages: number; overflowPages: number; flags: string }> }>;
      };
      const oracle = mdbStat(app.env.path);
      const shown = body.lmdbs[0]!.dbis;
      assert.deepEqual(shown.map((d) => d.name).sort(), [...oracle.dbis.keys()].sort());
      for (const d of shown) {
        const s = oracle.dbis.get(d.name)!;
        assert.deepEqual([d.entries, d.depth, d.branchPages, d.leafPages, d.overflowPages, d.usedBytes],
          [s.entries, s.depth, s.branch, s.leaf, s.overflow, (s.branch + s.leaf + s.overflow) * oracle.pageSize], d.name);
      }
      assert.ok(oracle.dbis.get('data')!.depth > 1);
      assert.deepEqual(Object.fromEntries(shown.map((d) => [d.name, d.flags])), { data: '', dups: 'DupSort', ints: 'IntegerKey' });
    } finally {
      await server.stop();
      app.close();
    }
  });

  const servers: Array<{ type: StorageType; api: string; env: () => Record<string, unknown> | undefined; notFound: string; create: string }> = [
    {
      type: 's3', api: 's3', notFound: 'NoSuchKey', create: 'create-bucket',
      env: () => { const e = requireS3TestEnv('storage_s3_call_* metrics'); return e && s3Options(e, uniqueBucket('calls'), { create_bucket: true }); },
    },
    {
      type: 'azure', api: 'azure', notFound: 'BlobNotFound', create: 'create-container',
      env: () => { const e = requireAzureTestEnv('storage_azure_call_* metrics'); return e && azureOptions(e, uniqueContainer('calls'), { create_container: true }); },
    },
  ];
  for (const server of servers) {
    const options = server.env();
    if (!options) continue;
    it(`storage_${server.api}_call_*: every call by method, failures by the server's error code`, async () => {
      const registry = new Registry();
      registerRemoteCallMetrics(registry);
      const before = Date.now() / 1000;
      const storage = await createStorage(server.type, options);
      try {
        await storage.store('main__a__20260101-000000-000000000__G-0000000000000000.pb.gz', Buffer.from('one'));
        await storage.list('main__');
        await loadAll(storage, 'main__a__20260101-000000-000000000__G-0000000000000000.pb.gz');
        await assert.rejects(loadAll(storage, 'main__absent'));
        await storage.delete('main__a__20260101-000000-000000000__G-0000000000000000.pb.gz');
      } finally {
        await storage.close();
      }
      const fams = parsePrometheusText(await registry.metrics());
      const name = (suffix: string) => `storage_${server.api}_call_${suffix}`;
      const calls = (method: string) => sampleValue(fams, name('total'), { method });
      assert.deepEqual([calls(server.create), calls('store'), calls('list'), calls('load'), calls('delete')], [1, 1, 1, 2, 1]);
      assert.equal(sampleValue(fams, name('duration_seconds_count'), { method: 'load' }), 2);
      const ts = sampleValue(fams, name('timestamp_seconds'), { method: 'delete' })!;
      assert.ok(ts >= before - 1 && ts <= Date.now() / 1000 + 1, `timestamp ${ts}`);
      assert.equal(sampleValue(fams, name('error_total'), { method: 'load' }), 1);
      assert.equal(sampleValue(fams, name('error_total'), { method: 'store' }), undefined);
      assert.equal(sampleValue(fams, name('error_by_type_total'), { method: 'load', error: server.notFound }), 1);
      for (const [suffix, type, labels] of [
        ['total', 'counter', ['method']], ['duration_seconds', 'histogram', ['method']], ['timestamp_seconds', 'gauge', ['method']],
        ['error_total', 'counter', ['method']], ['error_by_type_total', 'counter', ['error', 'method']],
      ] as const) {
        assert.equal(fams.get(name(suffix))?.type, type, suffix);
        assert.deepEqual(labelsOf(fams.get(name(suffix))), labels, suffix);
      }
    });
  }
});
