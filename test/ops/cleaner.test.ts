// The snapshot cleaner against a real Ceph S3 bucket (LS_S3_* set; skipped without it unless CI=true):
// with an injected clock, the Go test's scenario and the cases around it (stale instances, own snapshots,
// out-of-order appearance, races); then the real loop with short intervals, and through the real sync path
// a stale instance removed only once this instance merged it and stored a snapshot of its own.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CleanupConfig } from '../../src/config/config.js';
import { cleanerMetrics, SnapshotCleaner, startCleaner, type CleanerStatusSource } from '../../src/ops/cleaner.js';
import { buildSnapshotName } from '../../src/snapshot/name.js';
import { loadAll } from '../../src/storage/common.js';
import { createStorage, type Storage } from '../../src/storage/index.js';
import type { SyncRun } from '../../src/sync/runner.js';
import { requireS3TestEnv, s3Options, uniqueBucket } from '../storage/s3env.js';
import { cleanerRun, DAY_MS, nsAgo, putEntries, putEntriesAt, readEntries, startSync, syncConfig, syncOnce, tempDir, testLogger, waitFor } from './helpers.js';

const s3 = requireS3TestEnv('cleaner');
const MIN = 60_000;
const CLEANUP: CleanupConfig = { enabled: true, interval: MIN, mustKeepInterval: 10 * MIN, removeOldInstancesInterval: 7 * DAY_MS, keepHourly: 0, keepDaily: 0 };

/** `2020-01-30 08:00:00` (UTC) as ms since the epoch. */
const at = (text: string): number => Date.parse(`${text.replace(' ', 'T')}Z`);
const snap = (db: string, instance: string, time: string): string =>
  buildSnapshotName({ db, instance, timestamp: BigInt(at(time)) * 1_000_000n });

interface FakeStatus extends CleanerStatusSource {
  lastStored: { txnId: number } | undefined;
  lastLoadedByInstance: Map<string, { name: string; timestampNano: bigint; txnId: number }>;
}

const fakeStatus = (): FakeStatus => ({ lastStored: undefined, lastLoadedByInstance: new Map() });

async function names(storage: Storage, prefix = ''): Promise<string[]> {
  return (await storage.list(prefix)).map((o) => o.name).sort();
}

/**
 * Waits until the running cleaner (one in this process at a time) has completed `n` more runs, for checks that it
 * deleted nothing: with interval 150 ms (at least 120 ms perturbed), 5 runs span more than must_keep_interval
 * (300 ms) after the first of them saw an object, whatever the machine's speed.
 */
async function cleanerRuns(n: number): Promise<void> {
  const target = cleanerMetrics.listCalls + n + 1; // counted as a run starts: n + 1 starts, n completed
  await waitFor(`${n} more cleaner runs`, 30_000, () => cleanerMetrics.listCalls >= target);
}

async function add(storage: Storage, ...objects: string[]): Promise<void> {
  for (const name of objects) await storage.store(name, Buffer.from('x'));
}

describe('snapshot cleaner (Ceph S3)', { skip: !s3, timeout: 90_000 }, () => {
  let storage: Storage;
  const tmp = tempDir('cleaner');

  before(async () => {
    storage = await createStorage('s3', s3Options(s3!, uniqueBucket('cleaner'), { create_bucket: true }));
  });
  after(async () => {
    await (storage as Storage | undefined)?.close(); // unset when before() failed
    tmp.remove();
  });

  it('keeps what must be kept, deletes older snapshots after must_keep_interval, stale ones after a proven merge', async () => {
    const initial = [
      snap('other', 'old', '2020-01-01 01:00:00'), // another LMDB: never touched
      snap('test', 'a', '2020-01-30 08:00:00'),
      snap('test', 'a', '2020-01-30 08:01:00'),
      snap('test', 'a', '2020-01-30 08:02:00'),
      snap('test', 'a', '2020-01-30 08:03:00'),
      snap('test', 'old', '2020-01-01 06:00:00'),
      snap('test', 'old', '2020-01-01 07:00:00'),
      snap('test', 'me', '2020-01-01 05:00:00'),
      snap('test', 'me', '2020-01-01 06:00:00'),
      'test__not-a-snapshot.txt',
    ];
    await add(storage, ...initial);
    const status = fakeStatus();
    const cleaner = new SnapshotCleaner({ db: 'test', ownInstance: 'me', storage, status }, CLEANUP, testLogger());
    const run = async (time: string) => cleaner.runOnce(at(time));
    const expect = async (time: string, want: string[]) => {
      const r = await run(time);
      assert.deepEqual(await names(storage), [...want].sort(), time);
      assert.equal(r.failed, 0);
      return r;
    };

    // Everything is new to this cleaner: nothing goes before must_keep_interval has passed.
    await expect('2020-01-30 10:00:00', initial);
    await expect('2020-01-30 10:01:00', initial);
    const r = await expect('2020-01-30 10:10:01', [
      snap('other', 'old', '2020-01-01 01:00:00'),
      snap('test', 'a', '2020-01-30 08:03:00'),
      snap('test', 'old', '2020-01-01 07:00:00'),
      snap('test', 'me', '2020-01-01 06:00:00'),
      'test__not-a-snapshot.txt',
    ]);
    assert.equal(r.cleanedOlder.length, 5);
    // The stale instance's newest waits for a proven merge; our own is never a stale candidate.
    assert.deepEqual(r.keptUnproven, [snap('test', 'old', '2020-01-01 07:00:00')]);

    // A new snapshot does not make the previous newest deletable at once (a slow instance may be downloading it)...
    await add(storage, snap('test', 'a', '2020-01-30 10:10:50'));
    await expect('2020-01-30 10:11:00', [
      snap('other', 'old', '2020-01-01 01:00:00'),
      snap('test', 'a', '2020-01-30 08:03:00'),
      snap('test', 'a', '2020-01-30 10:10:50'),
      snap('test', 'old', '2020-01-01 07:00:00'),
      snap('test', 'me', '2020-01-01 06:00:00'),
      'test__not-a-snapshot.txt',
    ]);
    // ...it goes at the next run.
    const after = [
      snap('other', 'old', '2020-01-01 01:00:00'),
      snap('test', 'a', '2020-01-30 10:10:50'),
      snap('test', 'old', '2020-01-01 07:00:00'),
      snap('test', 'me', '2020-01-01 06:00:00'),
      'test__not-a-snapshot.txt',
    ];
    await expect('2020-01-30 10:12:00', after);

    // Loaded, but our last stored snapshot was read before that load (txn 19 < 20): not proven.
    status.lastLoadedByInstance.set('old', { name: snap('test', 'old', '2020-01-01 07:00:00'), timestampNano: BigInt(at('2020-01-01 07:00:00')) * 1_000_000n, txnId: 20 });
    status.lastLoadedByInstance.set('me', { name: snap('test', 'me', '2020-01-01 06:00:00'), timestampNano: BigInt(at('2020-01-01 06:00:00')) * 1_000_000n, txnId: 3 });
    status.lastStored = { txnId: 19 };
    await expect('2020-01-30 10:13:00', after);
    assert.equal(cleaner.committedFor('old'), undefined);
    // Our snapshot of txn 20 includes the load: the stale snapshot goes; our own stays.
    status.lastStored = { txnId: 20 };
    const proven = after.filter((n) => !n.startsWith('test__old__'));
    const r2 = await expect('2020-01-30 10:14:00', proven);
    assert.deepEqual(r2.cleanedStale, [snap('test', 'old', '2020-01-01 07:00:00')]);

    // An older snapshot of the proven instance that shows up late goes too, after must_keep_interval.
    await add(storage, snap('test', 'old', '2020-01-01 05:00:00'));
    await expect('2020-01-30 10:20:00', [...proven, snap('test', 'old', '2020-01-01 05:00:00')]);
    await expect('2020-01-30 10:30:01', proven);
  });

  it('an older snapshot appearing late never gets the newest of its instance deleted', async () => {
    const cleaner = new SnapshotCleaner({ db: 'late', ownInstance: 'me', storage, status: fakeStatus() }, CLEANUP, testLogger());
    const newest = snap('late', 'b', '2020-01-30 09:00:00');
    const older = snap('late', 'b', '2020-01-30 08:30:00');
    await add(storage, newest);
    await cleaner.runOnce(at('2020-01-30 10:00:00'));
    await add(storage, older); // e.g. replicated late from another site
    await cleaner.runOnce(at('2020-01-30 10:20:00'));
    // Go would delete `newest` here (a recently seen snapshot of b exists and newest is long visible).
    await cleaner.runOnce(at('2020-01-30 10:25:00'));
    assert.deepEqual(await names(storage, 'late__'), [older, newest]);
    await cleaner.runOnce(at('2020-01-30 10:31:00'));
    assert.deepEqual(await names(storage, 'late__'), [newest]);
  });

  it('two cleaners at once, and a newer snapshot stored while a run is between listing and deleting', async () => {
    const status = fakeStatus();
    const mk = (own: string, st: Storage = storage) => new SnapshotCleaner({ db: 'two', ownInstance: own, storage: st, status }, CLEANUP, testLogger());
    const x = mk('x');
    const y = mk('y');
    const seq = (i: number) => snap('two', 'a', `2020-01-30 08:0${i}:00`);
    await add(storage, seq(0), seq(1), seq(2), seq(3));
    await Promise.all([x.runOnce(at('2020-01-30 09:00:00')), y.runOnce(at('2020-01-30 09:00:00'))]);
    const [rx, ry] = await Promise.all([x.runOnce(at('2020-01-30 09:11:00')), y.runOnce(at('2020-01-30 09:11:00'))]);
    assert.equal(rx.failed + ry.failed, 0, 'deleting what the other cleaner deleted is not a failure');
    assert.deepEqual(await names(storage, 'two__'), [seq(3)]);

    // Instance a stores seq(4) right after z listed: z still only deletes what it saw as older.
    let racing = true;
    const racy: Storage = Object.create(storage, {
      list: {
        value: async (prefix: string, signal?: AbortSignal) => {
          const listing = await storage.list(prefix, signal);
          if (racing) await add(storage, seq(4));
          return listing;
        },
      },
    }) as Storage;
    const z = mk('z', racy);
    await z.runOnce(at('2020-01-30 09:00:00'));
    racing = false;
    await z.runOnce(at('2020-01-30 09:11:00')); // seq(4) is new to z: seq(3) stays one more interval
    assert.deepEqual(await names(storage, 'two__'), [seq(3), seq(4)]);
    await z.runOnce(at('2020-01-30 09:12:00'));
    assert.deepEqual(await names(storage, 'two__'), [seq(4)]);
  });

  it('startCleaner: the real loop with short intervals deletes old snapshots and keeps the newest', async () => {
    const conf = { ...CLEANUP, interval: 150, mustKeepInterval: 300 };
    const now = Date.now();
    const seq = [3, 2, 1].map((s) => buildSnapshotName({ db: 'loop', instance: 'peer', timestamp: nsAgo(s * 1000, now) }));
    await add(storage, ...seq);
    const run = {
      config: { storage: { cleanup: conf } }, instance: 'me', storage,
      lmdbs: [{ name: 'loop', syncer: { status: fakeStatus() } }],
    } as unknown as SyncRun;
    const before = cleanerMetrics.byDb.get('loop')?.deleteCalls['newer snapshot'] ?? 0;
    const listCalls = cleanerMetrics.listCalls;
    const ac = new AbortController();
    const h = startCleaner(cleanerRun(run), testLogger(), ac.signal);
    const ms = await waitFor('the older snapshots to be deleted', 10_000, async () => (await names(storage, 'loop__')).length === 1);
    assert.ok(ms >= 250, `deleted after ${ms} ms, before must_keep_interval`);
    assert.deepEqual(await names(storage, 'loop__'), [seq[2]]);
    await cleanerRuns(3);
    assert.deepEqual(await names(storage, 'loop__'), [seq[2]], 'the newest stays');
    ac.abort();
    await h.stop();
    assert.equal(cleanerMetrics.byDb.get('loop')!.deleteCalls['newer snapshot'] - before, 2);
    assert.ok(cleanerMetrics.listCalls - listCalls >= 3);
  });

  it('through the real sync path: a stale instance is deleted only after we merged it and stored our own snapshot', async () => {
    const bucket = uniqueBucket('cleaner-sync');
    const storageConf = { type: 's3', options: s3Options(s3!, bucket, { create_bucket: true }) };
    const cleanup = { enabled: true, interval: '150ms', must_keep_interval: '300ms', remove_old_instances_interval: '24h' };
    const withCleanup = { ...storageConf, cleanup };
    // The stale instance wrote its snapshot 30 days ago.
    const gonePath = join(tmp.dir, 'gone');
    putEntriesAt(gonePath, 'data', [{ key: 'from-gone', value: 'g', ts: nsAgo(30 * DAY_MS) }]);
    await syncOnce(syncConfig({ instance: 'gone', lmdbPath: gonePath, storage: storageConf }));
    const st = await createStorage('s3', storageConf.options);
    try {
      const [fresh] = await names(st, 'main__gone__');
      const staleName = buildSnapshotName({ db: 'main', instance: 'gone', timestamp: nsAgo(30 * DAY_MS) });
      await st.store(staleName, await loadAll(st, fresh!));
      await st.delete(fresh!);

      // The runner wiring of the cleaner, as runner.ts is meant to do it.
      let stopCleaner = async (): Promise<void> => {};
      const wire = (run: SyncRun, signal: AbortSignal) => { stopCleaner = startCleaner(cleanerRun(run), testLogger(), signal).stop; };
      // receive never stores a snapshot: the merge is never proven, the stale snapshot stays.
      const rcvPath = join(tmp.dir, 'receiver');
      const receiver = await startSync(syncConfig({ instance: 'receiver', lmdbPath: rcvPath, storage: withCleanup }),
        { receiveOnly: true }, wire);
      await waitFor('the receiver to load the stale snapshot', 10_000, () => readEntries(receiver.run.lmdbs[0]!.env, 'data').has('from-gone'));
      await cleanerRuns(5);
      await stopCleaner();
      await receiver.stop();
      assert.deepEqual(await names(st, 'main__'), [staleName], 'receive-only: not proven, kept');

      const mePath = join(tmp.dir, 'me');
      putEntriesAt(mePath, 'data', [{ key: 'from-me', value: 'm', ts: nsAgo(0) }]);
      const me = await startSync(syncConfig({ instance: 'me', lmdbPath: mePath, storage: withCleanup }), {}, wire);
      const lmdb = me.run.lmdbs[0]!;
      try {
        // At start-up we may store before the stale snapshot is even downloaded; loading it changes the
        // LMDB but is no local change, so no snapshot of ours holds it yet: not proven, kept.
        await waitFor('the stale snapshot to be loaded', 10_000, () => readEntries(lmdb.env, 'data').has('from-gone'));
        await cleanerRuns(5);
        assert.deepEqual(await names(st, 'main__gone__'), [staleName], 'loaded but not in a snapshot of ours yet: kept');
        // A local change: the next snapshot of ours includes the merge, and the stale snapshot goes.
        await lmdb.ctx.writeLock.run(() => putEntries(lmdb.env, 'data', [{ key: 'later', value: 'l', ts: nsAgo(0) }]));
        await waitFor('the stale snapshot to be deleted', 15_000, async () => !(await names(st, 'main__gone__')).length);
        const status = lmdb.syncer.status;
        assert.equal(status.lastLoadedByInstance.get('gone')?.name, staleName);
        assert.ok(status.lastStored, 'we stored a snapshot before the stale one went');
        assert.ok(status.lastStored.txnId >= status.lastLoadedByInstance.get('gone')!.txnId);
        assert.equal(readEntries(lmdb.env, 'data').get('from-gone')?.startsWith('g@'), true);
        const left = await names(st, 'main__');
        assert.ok(left.some((n) => n.startsWith('main__me__')), `our snapshot is there: ${left.join(' ')}`);
      } finally {
        await stopCleaner();
        await me.stop();
      }
    } finally {
      await st.close();
    }
  });
});
