// Two real `lightningstream sync` processes sharing an fs bucket, each with its HTTP status server:
// metrics move with the writes, status.json and /storage show both instances, the status page in a
// real headless Chromium shows them and updates live (screenshot: test-output/status-page.png), and
// /healthz turns 503 while the storage is broken and 200 once it is back.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NativeApp, ROOT, startLightningstream, waitFor, writeConfig, type RunningProcess } from '../sync/helpers.js';
import { loadChromium, type Browser } from './browser.js';
import { get, getJson, scrape, statusBase, statusConfigLines } from './helpers.js';

const SCREENSHOT = join(ROOT, 'test-output', 'status-page.png');

describe('status endpoints of two real sync processes', { timeout: 90_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-status-e2e-'));
  const bucket = join(dir, 'bucket');
  const names = ['a', 'b'] as const;
  const apps: Record<string, NativeApp> = {};
  const procs: Record<string, RunningProcess> = {};
  const base: Record<string, string> = {};
  let tick = 0n;
  const put = (instance: string, key: string) => apps[instance]!.put('data', key, `${key}@${instance}`, BigInt(Date.now()) * 1_000_000n + ++tick);

  before(async () => {
    for (const name of names) {
      const lmdbPath = join(dir, `lmdb-${name}`);
      apps[name] = new NativeApp(lmdbPath);
      const config = writeConfig(dir, { instance: name, lmdbPath, storage: { type: 'fs', options: { root_path: bucket } }, extra: `${statusConfigLines()}\ncontent_hash: { interval: 1s }` });
      procs[name] = startLightningstream(dir, name, ['-c', config, 'sync']);
    }
    for (const name of names) base[name] = await statusBase(procs[name]!);
    for (const name of names) {
      await waitFor(`${name} ready`, 20_000, async () => (await get(`${base[name]}/readyz`)).code === 200, () => procs[name]!.log());
    }
  });

  after(async () => {
    await Promise.all(Object.values(procs).map((p) => p.stop()));
    for (const app of Object.values(apps)) app.close();
    if (process.env.LS_KEEP_TEST_DIR !== '1') rmSync(dir, { recursive: true, force: true });
  });

  it('/metrics moves with the writes: snapshots stored by one instance are loaded by the other', async () => {
    const main = { lmdb: 'main' };
    put('a', 'k1');
    put('b', 'k2');
    await waitFor('both instances to hold both keys', 15_000, () => names.every((n) => apps[n]!.contents().size === 2));
    const a0 = await scrape(base.a!);
    const b0 = await scrape(base.b!);
    await waitFor('the merge counters to show the loads', 10_000, async () =>
      ((await scrape(base.b!)).value('lightningstream_syncer_snapshots_loaded_total', main) ?? 0) >= 1);
    const stored0 = a0.value('lightningstream_syncer_snapshots_generated_total', main)!;
    assert.ok(stored0 >= 1, `a stored ${stored0} snapshots`);
    const received0 = (await scrape(base.b!)).value('lightningstream_receiver_snapshots_last_received_seconds', { lmdb: 'main', syncer_instance: 'a' })!;
    assert.ok(received0 > Date.now() / 1000 - 60);

    put('a', 'k3');
    await waitFor('a to store and b to load a new snapshot', 15_000, async () => {
      const a = await scrape(base.a!);
      const b = await scrape(base.b!);
      return a.value('lightningstream_syncer_snapshots_generated_total', main)! > stored0 &&
        b.value('lightningstream_syncer_snapshots_loaded_total', main)! > b0.value('lightningstream_syncer_snapshots_loaded_total', main)! &&
        b.value('lightningstream_receiver_snapshots_last_received_seconds', { lmdb: 'main', syncer_instance: 'a' })! > received0;
    });
    const a1 = await scrape(base.a!);
    assert.ok(a1.value('lightningstream_syncer_snapshots_generated_last_size_bytes', main)! > 0);
    assert.ok(a1.value('lightningstream_syncer_snapshots_generated_last_txn_id', main)! >= 1);
    assert.ok(a1.value('lmdb_env_last_tnx_id', main)! >= a1.value('lightningstream_syncer_snapshots_generated_last_txn_id', main)!);
    assert.ok(a1.value('lightningstream_syncer_snapshot_store_duration_seconds_count', main)! >= 1);
    assert.equal(a1.value('lightningstream_syncer_ready', main), 1);
    const b1 = await scrape(base.b!);
    assert.ok(b1.value('lightningstream_syncer_snapshot_lag_seconds_count', main)! >= 1);
    assert.ok(b1.value('lightningstream_lmdb_used_fraction', main)! > 0);
    assert.equal(b1.families.get('process_resident_memory_bytes')?.type, 'gauge');
  });

  it('content hashes: both instances converge on one hash, a single-key change makes them differ, then converge again', async () => {
    type Content = { verdict: string; agreeing: number; instances: number; differsSince?: string; local?: { hash: string };
      perInstance: Array<{ instance: string; verdict: string; hash?: string; source?: string }> };
    let seen = '';
    const content = async (name: string): Promise<Content> => {
      const c = ((await getJson(base[name]!, '/status.json')).body.lmdbs[0] as unknown as { content: Content }).content;
      seen = `${name}: ${JSON.stringify(c)}`;
      return c;
    };
    const converged = async (): Promise<string | undefined> => {
      const [a, b] = await Promise.all(names.map(content));
      if (a!.verdict !== 'converged' || b!.verdict !== 'converged' || a!.local?.hash !== b!.local?.hash) return undefined;
      return a!.local!.hash;
    };
    let first: string | undefined;
    await waitFor('both instances to report one converged content hash', 20_000, async () => (first = await converged()) !== undefined,
      () => seen);
    const a0 = await content('a');
    assert.equal(a0.instances, 2);
    assert.equal(a0.agreeing, 2);
    assert.equal(a0.perInstance[0]!.instance, 'b');
    assert.equal(a0.perInstance[0]!.hash, first);
    assert.equal((await scrape(base.a!)).value('lightningstream_content_hash_agreeing_instances', { lmdb: 'main' }), 2);

    // Stop b's merges from hiding the difference: b's process is paused while a changes one key.
    procs.b!.child.kill('SIGSTOP');
    try {
      put('a', 'k-single');
      await waitFor('a to see that b differs', 20_000, async () => {
        const a = await content('a');
        return a.verdict === 'differs' && a.local?.hash !== first && a.perInstance[0]!.verdict === 'differs' && a.differsSince !== undefined;
      }, () => seen);
      assert.equal((await scrape(base.a!)).value('lightningstream_content_hash_agreeing_instances', { lmdb: 'main' }), 1);
    } finally {
      procs.b!.child.kill('SIGCONT');
    }
    let second: string | undefined;
    await waitFor('both to converge on a new hash', 20_000, async () => (second = await converged()) !== undefined,
      () => seen);
    assert.notEqual(second, first);
  });

  it('storage call metrics: the sync wraps its storage with instrumentStorage', async () => {
    const status = await getJson(base.a!, '/status.json');
    assert.equal(status.body.storageInstrumented, true, 'the storage of a running sync is not instrumented (see src/status/instrument.ts)');
    const a = await scrape(base.a!);
    const main = { lmdb: 'main' };
    // Go's names are process totals (unlabelled, as in Go); ours by LMDB beside them.
    assert.ok(a.value('lightningstream_syncer_snapshots_list_calls_total', {})! > 1);
    assert.ok(a.value('lightningstream_syncer_snapshots_store_calls_total', {})! >= 2);
    assert.ok(a.value('lightningstream_syncer_snapshots_store_bytes_total', {})! > 0);
    assert.ok(a.value('lightningstream_syncer_snapshots_load_bytes_total', {})! > 0);
    assert.ok(a.value('lightningstream_storage_list_calls_total', main)! > 1);
    assert.ok(a.value('lightningstream_storage_store_calls_total', main)! >= 2);
    assert.ok(a.value('lightningstream_storage_store_bytes_total', main)! > 0);
    assert.ok(a.value('lightningstream_storage_load_bytes_total', main)! > 0);
    const total = (await getJson(base.a!, '/storage?format=json', '&prefix=main__')).body.total;
    await waitFor('in_storage_count to match the bucket', 5000, async () =>
      (await scrape(base.a!)).value('lightningstream_receiver_snapshots_in_storage_count', main) === total);
    assert.ok(a.value('lightningstream_receiver_snapshots_last_received_age_seconds_count', { lmdb: 'main', syncer_instance: 'b' })! >= 1);
  });

  it('/status.json and /storage show both instances', async () => {
    const s = await getJson(base.a!, '/status.json');
    assert.equal(s.code, 200);
    assert.equal(s.body.instance, 'a');
    assert.equal(s.body.ready, true);
    assert.equal(s.body.health, 'ok');
    const db = s.body.lmdbs[0]!;
    assert.equal(db.name, 'main');
    assert.deepEqual(db.instances.map((i: { instance: string }) => i.instance), ['a', 'b']);
    const b = db.instances[1]!;
    assert.equal(b.own, false);
    await waitFor('b to be in sync on a', 10_000, async () => (await getJson(base.a!, '/status.json')).body.lmdbs[0]!.instances[1]!.state === 'in sync');
    assert.ok(db.lastStored.txnId >= 1 && db.lastStored.entries >= 1);
    assert.ok(db.env.lastTxnId >= db.lastStored.txnId);
    assert.ok(db.lag.series.some((x: { instance: string }) => x.instance === 'b'));

    const listing = await getJson(base.a!, '/storage?format=json');
    assert.equal(listing.code, 200);
    // Snapshots, and each instance's published content state (README, "Content hashes").
    const objects = listing.body.objects as Array<{ name: string; snapshot?: { instance: string } }>;
    const instances = new Set(objects.flatMap((o) => (o.snapshot ? [o.snapshot.instance] : [])));
    assert.ok(objects.every((o) => o.snapshot || o.name.startsWith('_hash__main__')), objects.map((o) => o.name).join(' '));
    assert.deepEqual([...instances].sort(), ['a', 'b']);
    const one = await getJson(base.a!, '/storage?format=json', '&limit=1');
    assert.equal(one.body.objects.length, 1);
    assert.equal(one.body.truncated, listing.body.total > 1);
    const html = await get(`${base.a}/storage`);
    assert.match(html.text, /<td>main<\/td><td>a<\/td>/);
    assert.match(html.text, /<td>main<\/td><td>b<\/td>/);
  });

  it('the status page in a real headless Chromium shows both instances and updates after a write', async (t) => {
    const chromium = await loadChromium();
    if ('missing' in chromium) {
      if (process.env.CI === 'true') throw new Error(chromium.missing);
      t.skip(chromium.missing);
      return;
    }
    let browser: Browser | undefined;
    try {
      browser = await chromium.launch();
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      await page.goto(`${base.a}/`);
      await page.waitForSelector('tr[data-instance="a"]', { timeout: 10_000 });
      await page.waitForSelector('tr[data-instance="b"]', { timeout: 10_000 });
      assert.equal(await page.textContent('#health'), 'Health: OK');
      assert.equal(await page.textContent('#ready'), 'Ready');
      assert.match((await page.textContent('tr[data-instance="b"]'))!, /in sync/);
      const cell = 'tr[data-instance="b"] td.mono';
      const before = await page.getAttribute(cell, 'title');
      assert.match(before!, /^main__b__/);
      await page.evaluate('window.__notReloaded = true');
      put('b', 'k4');
      // Polled from here: page.waitForFunction evaluates a string, which the page's CSP (rightly) forbids.
      await waitFor('the page to show b\'s new snapshot', 15_000, async () =>
        (await page.getAttribute(cell, 'title')) !== before);
      assert.equal(await page.evaluate('window.__notReloaded'), true, 'updated without reloading the page');
      await page.waitForSelector('svg[aria-label="sync lag chart"]', { timeout: 5_000 });
      // Go's per-DBI table: the entries of `data` as mdb_stat counts them (re-rendered every 2 s).
      const entries = /Status of data\n(?:.*\n)*?\s*Entries: (\d+)/.exec(execFileSync('mdb_stat', ['-a', join(dir, 'lmdb-a')], { encoding: 'utf8' }))![1]!;
      await waitFor('the DBI table to show the entries of data', 10_000, async () =>
        (await page.textContent('table.dbis tr[data-dbi="data"] td:nth-child(3)')) === entries);
      mkdirSync(join(ROOT, 'test-output'), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      t.diagnostic(`screenshot: ${SCREENSHOT}`);
      assert.deepEqual(problems, []);
    } finally {
      await browser?.close();
    }
  });

  it('/healthz turns 503 while the storage is broken and 200 once it is back', async () => {
    assert.equal((await get(`${base.a}/healthz`)).code, 200);
    const away = `${bucket}.away`;
    renameSync(bucket, away);
    writeFileSync(bucket, 'not a directory: every storage call fails');
    try {
      const started = Date.now();
      await waitFor('/healthz 503', 10_000, async () => (await get(`${base.a}/healthz`)).code === 503);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 1500, `503 came after ${elapsed} ms, before error_duration (2s)`);
      const h = await getJson(base.a!, '/healthz');
      assert.match(h.body.failures.main_storage_list_failed_duration!, /^failed to list snapshots on storage backend for \ds - last error: '.*ENOTDIR/);
      assert.equal((await get(`${base.a}/readyz`)).code, 200, 'readiness is about the initial sync only');
    } finally {
      rmSync(bucket);
      renameSync(away, bucket);
    }
    for (const name of names) {
      await waitFor(`${name}'s /healthz back to 200`, 10_000, async () => (await get(`${base[name]}/healthz`)).code === 200);
    }
  });
});
