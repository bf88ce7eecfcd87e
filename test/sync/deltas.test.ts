// Delta snapshots (README, "Delta snapshots"): names Go skips, the receiver's chain plan (fall back to
// the newest full snapshot on a missing or corrupt link), the cleaner with chains, and real `lightningstream
// sync` processes on fs storage: one changed key moves a small delta, restarts and a missing link converge,
// an application whose headers carry txn id 0 gets full snapshots only, and an instance with deltas off
// shares the bucket.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { buildValue } from '../../src/lmdb/index.js';
import { SnapshotCleaner } from '../../src/ops/cleaner.js';
import { buildDeltaName, buildJournalRefName, buildSnapshotName, parseObjectName, parseSnapshotName, SNAPSHOT_EXTENSION } from '../../src/snapshot/name.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { Receiver, type ReadyUpdate } from '../../src/sync/receive/receiver.js';
import { SnapshotStore } from '../../src/storage/snapshot-store.js';
import { WakeableSleep } from '../../src/sync/wakeable-sleep.js';
import { Semaphore } from '../../src/sync/semaphore.js';
import { tempDir, testLogger } from '../ops/helpers.js';
import { NativeApp, startLightningstream, waitFor, writeConfig, type RunningProcess } from './helpers.js';

const T0 = 1_764_000_000_000_000_000n; // 2025-11-24
const sec = (n: number) => T0 + BigInt(n) * 1_000_000_000n;
const full = (instance: string, s: number) => buildSnapshotName({ db: 'main', instance, timestamp: sec(s) });
const delta = (instance: string, s: number, prev: number) => buildDeltaName({ db: 'main', instance, timestamp: sec(s), previous: sec(prev) });

describe('delta names', () => {
  it('a delta ends in .dpb.gz (never .pb.gz, so Go skips it), names its previous snapshot, and parses back', () => {
    const name = delta('a', 5, 3);
    assert.ok(!name.endsWith(SNAPSHOT_EXTENSION) && name.endsWith('.dpb.gz'), name);
    // In the journal: a prefix Go never lists, the timestamp before the instance (listings by time).
    assert.match(name, /^_journal__main__\d{8}-\d{6}-\d{9}__a__G-0000000000000000__P\d{8}-\d{6}-\d{9}\.dpb\.gz$/);
    assert.equal(parseSnapshotName(name).ok, false, 'a full-snapshot reader must not take a delta');
    assert.ok(!name.startsWith('main__'), 'Go lists only main__: it never sees the journal');
    const p = parseObjectName(name);
    assert.ok(p.ok && p.value.kind === 'delta' && p.value.previous === sec(3) && p.value.timestamp === sec(5));
    const f = parseObjectName(full('a', 3));
    assert.ok(f.ok && f.value.kind === 'full');
    // Deltas of earlier versions (under main__, instance first) are still read.
    const old = parseObjectName(`main__a__${name.split('__')[2]}__G-0000000000000000__${name.split('__')[5]}`);
    assert.ok(old.ok && old.value.kind === 'delta' && old.value.previous === sec(3) && old.value.timestamp === sec(5), old.ok ? 'wrong parts' : old.error);
  });

  it('refuses deltas without one valid, older previous part', () => {
    const base = 'main__a__20261203-100000-000000000__G-0000000000000000';
    for (const bad of [`${base}.dpb.gz`, `${base}__P20261203-100000-000000000.dpb.gz`, `${base}__P20261203-110000-000000000.dpb.gz`,
      `${base}__Pnot-a-time.dpb.gz`, `${base}__P20261203-090000-000000000__P20261203-080000-000000000.dpb.gz`]) {
      assert.equal(parseObjectName(bad).ok, false, bad);
    }
  });
});

describe('receiver chain plan', () => {
  const signal = new AbortController().signal;
  async function receiverWith(objects: string[]): Promise<{ receiver: Receiver; storage: MemoryStorage; doorbell: WakeableSleep }> {
    const storage = new MemoryStorage();
    for (const o of objects) await storage.store(o, Buffer.from('x'));
    const doorbell = new WakeableSleep();
    const receiver = new Receiver({
      store: new SnapshotStore(storage), db: 'main', ownInstance: 'me', log: testLogger(), retry: { intervalMs: 10, count: 1, forever: false },
      downloads: new Semaphore(1), doorbell,
    });
    await receiver.poll(signal, false);
    receiver.releasePeers(signal);
    return { receiver, storage, doorbell };
  }
  const names = (r: Receiver) => r.plan('a').map((s) => s.name);
  /** The update the receiver downloads next (the whole plan), as the sync loop takes it. */
  async function nextUpdate(r: { receiver: Receiver; doorbell: WakeableSleep }): Promise<ReadyUpdate> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const update = r.receiver.next();
      if (update) return update;
      assert.ok(Date.now() < deadline, 'no update was downloaded within 10 s');
      await r.doorbell.sleep(100, signal);
    }
  }
  /** Merges the update's parts up to and including `name`; the rest is left for later (a local failure). */
  async function mergeThrough(r: { receiver: Receiver; doorbell: WakeableSleep }, name: string): Promise<void> {
    const update = await nextUpdate(r);
    const i = update.parts.findIndex((p) => p.snapshot.name === name);
    assert.ok(i >= 0, `${name} is not in the update (${update.parts.map((p) => p.snapshot.name).join(', ')})`);
    r.receiver.settle(update, i === update.parts.length - 1 ? { merged: i + 1 } : { merged: i + 1, failure: { kind: 'retry', delayMs: 0 } });
  }

  it('without deltas: the newest full snapshot, nothing once merged', async () => {
    const r = await receiverWith([full('a', 1), full('a', 2)]);
    assert.deepEqual(names(r.receiver), [full('a', 2)]);
    await mergeThrough(r, full('a', 2));
    assert.deepEqual(names(r.receiver), []);
    assert.equal(r.receiver.hasWork('a'), false);
  });

  it('a new receiver takes the newest full and its chain; a receiver in the chain only the deltas after what it merged', async () => {
    const r = await receiverWith([full('a', 1), delta('a', 2, 1), full('a', 10), delta('a', 11, 10), delta('a', 12, 11)]);
    assert.deepEqual(names(r.receiver), [full('a', 10), delta('a', 11, 10), delta('a', 12, 11)]);
    await mergeThrough(r, delta('a', 11, 10));
    assert.deepEqual(names(r.receiver), [delta('a', 12, 11)]);
    r.receiver.startDownloads(signal);
    await mergeThrough(r, delta('a', 12, 11));
    assert.deepEqual(names(r.receiver), []);
  });

  it('a missing link falls back to the newest full snapshot; a corrupt one is never planned again', async () => {
    const r = await receiverWith([full('a', 10), delta('a', 11, 10), delta('a', 13, 12), full('a', 20), delta('a', 21, 20)]);
    assert.deepEqual(names(r.receiver), [full('a', 20), delta('a', 21, 20)], '12 is missing: the chain from 10 is broken, the full at 20 reaches further');
    const r2 = await receiverWith([full('a', 10), delta('a', 11, 10), delta('a', 12, 11), delta('a', 13, 12)]);
    const update = await nextUpdate(r2);
    r2.receiver.settle(update, { merged: 2, failure: { kind: 'corrupt' } }); // 10 and 11 merged, 12 corrupt
    assert.deepEqual(names(r2.receiver), [], 'nothing reaches past what was merged: wait for the next full snapshot');
    await r2.storage.store(full('a', 20), Buffer.from('x'));
    await r2.receiver.poll(signal, false);
    assert.deepEqual(names(r2.receiver), [full('a', 20)]);
    assert.throws(() => r2.receiver.settle(update, { merged: 0 }), /was not handed out/, 'an update is settled once');
  });

  it('an object gone at merge time is forgotten and everything is listed again', async () => {
    const r = await receiverWith([full('a', 10), delta('a', 11, 10)]);
    const update = await nextUpdate(r);
    await r.storage.delete(delta('a', 11, 10));
    r.receiver.settle(update, { merged: 1, failure: { kind: 'gone' } });
    assert.deepEqual(names(r.receiver), [], 'full 10 was merged; the delta is gone');
    await r.receiver.poll(signal, false);
    assert.equal(r.receiver.listing.counts.resyncs, 1);
  });
});

describe('cleaner with delta chains', () => {
  const WEEK_CLEANUP = { enabled: true, interval: 60_000, mustKeepInterval: 600_000, removeOldInstancesInterval: 7 * 86_400_000, keepHourly: 0, keepDaily: 0 };
  const cleanerOf = (storage: MemoryStorage) =>
    new SnapshotCleaner({ db: 'main', ownInstance: 'me', storage, status: { lastStored: undefined, lastLoadedByInstance: new Map() } }, WEEK_CLEANUP, testLogger());

  it('keeps the newest full snapshot and the deltas after it; older deltas and fulls go after must_keep_interval', async () => {
    const storage = new MemoryStorage();
    const ref = (s: number) => buildJournalRefName(full('a', s), 1, sec(s) + 1000n);
    const objects = [full('a', 1), ref(1), delta('a', 2, 1), delta('a', 3, 2), full('a', 10), ref(10), delta('a', 11, 10), delta('a', 12, 11)];
    for (const o of objects) await storage.store(o, Buffer.from('x'));
    const cleaner = cleanerOf(storage);
    const nowMs = Number(sec(100) / 1_000_000n);
    await cleaner.runOnce(nowMs);
    assert.equal((await storage.list('')).length, objects.length, 'nothing goes at the first sight');
    await cleaner.runOnce(nowMs + 700_000);
    assert.deepEqual((await storage.list('')).map((o) => o.name).sort(), [full('a', 10), ref(10), delta('a', 11, 10), delta('a', 12, 11)].sort());
  });

  it('an instance that stores full snapshots more often than must_keep_interval still gets its old deltas cleaned', async () => {
    const storage = new MemoryStorage();
    const cleaner = cleanerOf(storage);
    const t0 = Number(sec(100) / 1_000_000n);
    const put = async (...names: string[]) => { for (const n of names) await storage.store(n, Buffer.from('x')); };
    const left = async () => (await storage.list('')).map((o) => o.name).sort();
    await put(full('a', 1), delta('a', 2, 1), full('a', 10), delta('a', 11, 10));
    await cleaner.runOnce(t0);
    await put(full('a', 20), delta('a', 21, 20));
    await cleaner.runOnce(t0 + 700_000); // full 10 long-visible and still the newest kept: what is before it goes
    assert.deepEqual(await left(), [full('a', 10), delta('a', 11, 10), full('a', 20), delta('a', 21, 20)].sort());
    await put(full('a', 30), delta('a', 31, 30));
    await cleaner.runOnce(t0 + 760_000); // full 20 is recent, so the long-visible full 10 goes
    await cleaner.runOnce(t0 + 1_360_000); // full 30 recent again, full 20 long-visible: it goes, and so does delta 11
    assert.deepEqual(await left(), [full('a', 30), delta('a', 21, 20), delta('a', 31, 30)].sort(),
      'the deltas before the newest long-visible full snapshot went although a newer full snapshot was always recent');
  });

  it('a reference whose snapshot is gone is removed after must_keep_interval and does not keep a stale instance alive', async () => {
    const storage = new MemoryStorage();
    const conf = { enabled: true, interval: 60_000, mustKeepInterval: 600_000, removeOldInstancesInterval: 86_400_000, keepHourly: 0, keepDaily: 0 };
    const staleFull = full('old', 1);
    const danglingRef = buildJournalRefName(full('old', 50), 1, sec(50) + 1000n); // its full snapshot was deleted elsewhere
    const fresh = buildJournalRefName(full('a', 99), 1, sec(99) + 1000n); // written before its snapshot is visible
    for (const o of [staleFull, danglingRef, full('a', 10), fresh]) await storage.store(o, Buffer.from('x'));
    const status = { lastStored: { txnId: 9 }, lastLoadedByInstance: new Map([['old', { name: staleFull, timestampNano: sec(1), txnId: 5 }]]) };
    const cleaner = new SnapshotCleaner({ db: 'main', ownInstance: 'me', storage, status }, conf, testLogger());
    const nowMs = Number(sec(2 * 86_400) / 1_000_000n);
    await cleaner.runOnce(nowMs);
    await storage.store(full('a', 99), Buffer.from('x')); // now visible: its reference is no longer dangling
    await cleaner.runOnce(nowMs + 700_000);
    const left = (await storage.list('')).map((o) => o.name);
    assert.ok(!left.includes(danglingRef), 'the dangling reference went');
    assert.ok(!left.includes(staleFull), 'the stale instance went (its merge is proven): the dangling reference did not make it look recent');
    assert.ok(left.includes(fresh) && left.includes(full('a', 99)), `a reference that only waited for its snapshot is kept: ${left.join(' ')}`);
  });
});

// ---------- real processes ----------

/** n keys with random values, in one write txn. */
function fill(app: NativeApp, n: number): void {
  const dbi = app.dbi('data');
  app.env.write((txn) => {
    for (let i = 0; i < n; i++) txn.put(dbi, Buffer.from(`key-${i}`), buildValue(BigInt(i + 1), txn.id, randomBytes(60)));
  });
}

function deltaObjects(bucket: string): string[] {
  return readdirSync(bucket).filter((n) => n.endsWith('.dpb.gz')).sort();
}

function fullObjects(bucket: string): string[] {
  return readdirSync(bucket).filter((n) => n.endsWith(SNAPSHOT_EXTENSION)).sort();
}

describe('delta snapshots between real sync processes (fs storage)', { timeout: 120_000 }, () => {
  const tmp = tempDir('deltas');
  const procs: RunningProcess[] = [];
  after(async () => {
    await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    tmp.remove();
  });

  // full_list_interval: how soon a and b, polling only the journal, notice c (deltas off) joining.
  const deltasOn = (fullInterval = '10m') => `deltas: { enabled: true, full_interval: ${fullInterval}, max_chain_ratio: 0.5, full_list_interval: 3s }`;
  function start(dir: string, instance: string, extra: string, bucket: string): RunningProcess {
    const cfg = writeConfig(dir, { instance, lmdbPath: join(dir, instance), storage: { type: 'fs', options: { root_path: bucket } }, extra });
    const p = startLightningstream(dir, instance, ['-c', cfg, 'sync']);
    procs.push(p);
    return p;
  }
  const value = (app: NativeApp, key: string) => app.contents().get(`data/${key}`)?.value;
  const logs = (...ps: RunningProcess[]) => () => ps.map((p) => p.log().split('\n').slice(-20).join('\n')).join('\n---\n');

  it('one changed key of 5000 moves a small delta; restarts, a missing link and a deltas-off instance converge', async () => {
    const dir = join(tmp.dir, 'chain');
    mkdirSync(dir);
    const bucket = join(dir, 'bucket');
    const appA = new NativeApp(join(dir, 'a'));
    fill(appA, 5000);
    const a = start(dir, 'a', deltasOn('6s'), bucket);
    const b = start(dir, 'b', deltasOn(), bucket);
    const appB = new NativeApp(join(dir, 'b'));
    await waitFor('b has a\'s data', 30_000, () => value(appB, 'key-4999') !== undefined, logs(a, b));
    const fullSize = Math.max(...fullObjects(bucket).filter((n) => n.includes('__a__')).map((n) => statSync(join(bucket, n)).size));

    appA.put('data', 'key-7', 'changed-on-a', sec(1000));
    await waitFor('the change reaches b', 20_000, () => value(appB, 'key-7') === 'changed-on-a', logs(a, b));
    const deltas = deltaObjects(bucket).filter((n) => n.includes('__a__'));
    assert.ok(deltas.length >= 1, `no delta written:\n${a.log()}`);
    const deltaSize = statSync(join(bucket, deltas.at(-1)!)).size;
    assert.ok(deltaSize < 1024, `a 1-key delta is ${deltaSize} bytes (full snapshot ${fullSize})`);
    assert.match(b.log(), /msg="snapshot loaded".* snapshot=\S+\.dpb\.gz/);

    // b down: a writes two deltas; the first is removed (a missing link); b restarts with nothing merged.
    await b.stop('SIGKILL');
    appA.put('data', 'key-8', 'second', sec(1001));
    await waitFor('a stores the second delta', 10_000, () => deltaObjects(bucket).filter((n) => n.includes('__a__')).length > deltas.length, logs(a));
    const second = deltaObjects(bucket).filter((n) => n.includes('__a__')).at(-1)!;
    appA.put('data', 'key-9', 'third', sec(1002));
    await waitFor('a stores the third delta', 10_000, () => deltaObjects(bucket).filter((n) => n.includes('__a__')).at(-1) !== second, logs(a));
    rmSync(join(bucket, second));
    const b2 = start(dir, 'b', deltasOn(), bucket);
    // key-7 comes with the chain up to the gap; key-8 and key-9 once a stores its next full snapshot (6 s)
    await waitFor('b converges past the missing link', 30_000,
      () => value(appB, 'key-7') === 'changed-on-a' && value(appB, 'key-8') === 'second' && value(appB, 'key-9') === 'third', logs(a, b2));

    // c: deltas off (as Go writes), same bucket: its full snapshots reach a and b, theirs reach c.
    const c = start(dir, 'c', 'deltas: { enabled: false }', bucket);
    const appC = new NativeApp(join(dir, 'c'));
    await waitFor('c has everything', 30_000, () => value(appC, 'key-9') === 'third' && value(appC, 'key-4999') !== undefined, logs(a, c));
    appC.put('data', 'from-c', 'c-value', sec(2000));
    appB.put('data', 'from-b', 'b-value', sec(2001));
    await waitFor('all three converge', 30_000, () => [appA, appB, appC].every((x) => value(x, 'from-c') === 'c-value' && value(x, 'from-b') === 'b-value'), logs(a, b2, c));
    assert.equal(deltaObjects(bucket).filter((n) => n.includes('__c__')).length, 0, 'c wrote deltas with deltas off');
    assert.ok(deltaObjects(bucket).some((n) => n.includes('__b__')), 'b wrote no delta');
    const digest = (x: NativeApp) => JSON.stringify([...x.contents()].sort(), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    assert.equal(digest(appA), digest(appB));
    assert.equal(digest(appB), digest(appC));
    for (const x of [appA, appB, appC]) x.close();
  });

  it('max_chain_length: a full snapshot after that many deltas', async () => {
    const dir = join(tmp.dir, 'length');
    mkdirSync(dir);
    const bucket = join(dir, 'bucket');
    const appA = new NativeApp(join(dir, 'a'));
    fill(appA, 300);
    const a = start(dir, 'a', 'deltas: { enabled: true, max_chain_length: 2 }', bucket);
    await waitFor('a stores its first snapshot', 20_000, () => existsSync(bucket) && fullObjects(bucket).length === 1, logs(a));
    const snapshots = () => fullObjects(bucket).length + deltaObjects(bucket).length;
    for (let i = 1; i <= 5; i++) {
      const before = snapshots();
      appA.put('data', `c${i}`, `v${i}`, sec(100 + i));
      await waitFor(`change ${i} stored`, 10_000, () => snapshots() > before, logs(a));
    }
    // full, delta, delta, full, delta, delta: the 3rd change needs a full snapshot, so does the 6th (not made)
    assert.equal(fullObjects(bucket).length, 2, readdirSync(bucket).join('\n'));
    assert.equal(deltaObjects(bucket).length, 4, readdirSync(bucket).join('\n'));
    // Each full snapshot is announced in the journal (the delta after it follows it, so its reference came first).
    const refs = readdirSync(bucket).filter((n) => n.startsWith('_journal__') && n.endsWith('.ref'));
    assert.deepEqual(refs.map((n) => `main__a__${/__F(\d{8}-\d{6}-\d{9})__/.exec(n)?.[1]}__G-0000000000000000.pb.gz`).sort(), fullObjects(bucket));
    appA.close();
  });

  it('headers with txn id 0 switch deltas off (full snapshots only) and nothing is lost', async () => {
    const dir = join(tmp.dir, 'zero');
    mkdirSync(dir);
    const bucket = join(dir, 'bucket');
    const appA = new NativeApp(join(dir, 'a'));
    fill(appA, 300); // big enough for a delta budget (a tiny LMDB gets full snapshots anyway)
    appA.put('data', 'k0', 'v0', 1n);
    const a = start(dir, 'a', deltasOn(), bucket);
    const b = start(dir, 'b', deltasOn(), bucket);
    const appB = new NativeApp(join(dir, 'b'));
    await waitFor('b has k0', 20_000, () => value(appB, 'k0') === 'v0', logs(a, b));
    // An application that writes 0 into the header's txn id field: changes cannot be selected by it.
    appA.env.write((txn) => txn.put(appA.dbi('data'), Buffer.from('k1'), buildValue(sec(10), 0, Buffer.from('v1'))));
    await waitFor('b has k1', 20_000, () => value(appB, 'k1') === 'v1', logs(a, b));
    assert.match(a.log(), /deltas off for this LMDB/);
    assert.equal(deltaObjects(bucket).filter((n) => n.includes('__a__')).length, 0);
    appA.close();
    appB.close();
  });
});
