// Point-in-time restore (src/ops/restore*.ts): the TIME forms, the per-instance plan (full snapshot plus
// delta chain up to the time, a broken chain ends at its last link), and whole restores from snapshots with
// chosen names and contents on fs storage: several instances merged by the merge rule, fallbacks for
// unreadable snapshots, one --snapshot alone, shadow and no_subdir layouts, and an aborted restore that
// leaves nothing behind.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfig, type Config } from '../../src/config/index.js';
import { restoreLmdb, selectRestoreDb, type RestoreResult, type RestoreSource } from '../../src/ops/restore.js';
import { planInstanceAt, snapshotsByInstance } from '../../src/ops/restore-plan.js';
import { parseFullsListing } from '../../src/storage/snapshot-store.js';
import { formatRestoreTime, parseRestoreTime } from '../../src/ops/restore-time.js';
import { buildDeltaName, buildSnapshotName } from '../../src/snapshot/name.js';
import { createStorage, type Storage } from '../../src/storage/index.js';
import { tempDir, testLogger } from './helpers.js';
import { describeState, nativeState, putSnapshot, rawContents, parseNativeValue } from './restore-helpers.js';

const T0 = 1_764_000_000_000_000_000n; // 2025-11-24T16:00:00Z
const s = (n: number): bigint => T0 + BigInt(n) * 1_000_000_000n;
const full = (instance: string, n: number): string => buildSnapshotName({ db: 'main', instance, timestamp: s(n) });
const delta = (instance: string, n: number, prev: number): string =>
  buildDeltaName({ db: 'main', instance, timestamp: s(n), previous: s(prev) });

describe('restore TIME', () => {
  const now = Date.UTC(2026, 11, 3, 15, 0, 0);
  it('takes RFC 3339 with a zone, snapshot timestamps, now and relative times, to the nanosecond', () => {
    const at = (text: string) => parseRestoreTime(text, now);
    const base = BigInt(Date.UTC(2026, 11, 3, 14, 0, 0)) * 1_000_000n;
    assert.equal(at('2026-12-03T14:00:00Z'), base);
    assert.equal(at('2026-12-03T15:00:00+01:00'), base);
    assert.equal(at('2026-12-03 13:30:00.000000001-00:30'), base + 1n);
    assert.equal(at('2026-12-03T14:00:00.5Z'), base + 500_000_000n);
    assert.equal(at('20261203-140000-000000007'), base + 7n);
    assert.equal(at('-1h'), base);
    assert.equal(at('1h ago'), base);
    assert.equal(at('30m30s ago'), base + 29n * 60_000_000_000n + 30_000_000_000n);
    assert.equal(at('now'), base + 3_600_000_000_000n);
    assert.equal(formatRestoreTime(base + 7n), '2026-12-03T14:00:00.000000007Z');
  });

  it('refuses a time without a zone, impossible dates, forward relative times and other text, naming the forms', () => {
    assert.throws(() => parseRestoreTime('2026-12-03T14:00:00', now), /no time zone; add Z for UTC/);
    assert.throws(() => parseRestoreTime('2026-02-30T14:00:00Z', now), /not a date and time/);
    assert.throws(() => parseRestoreTime('1h', now), /expected RFC 3339 .*-1h/);
    assert.throws(() => parseRestoreTime('--1h', now), /relative time goes back from now/);
    assert.throws(() => parseRestoreTime('1 fortnight ago', now), /invalid time/);
    assert.throws(() => parseRestoreTime('yesterday', now), /invalid time "yesterday"/);
  });
});

describe('restore plan', () => {
  const listing = (names: string[]) => snapshotsByInstance(parseFullsListing(names.map((name) => ({ name, size: 1, lastModified: new Date(0) })), 'main').entries);
  const planNames = (names: string[], at: number, instance = 'a') => {
    const plan = planInstanceAt(instance, listing(names).get(instance) ?? [], s(at));
    return plan && { parts: plan.parts.map((p) => p.name), unreachable: plan.unreachable?.name };
  };
  const objects = [full('a', 10), delta('a', 20, 10), delta('a', 30, 20), full('a', 40), delta('a', 50, 40), 'main__a__junk.txt', full('other', 1)];

  it('per instance: the newest full snapshot at or before the time and its deltas up to the time', () => {
    assert.equal(planNames(objects, 5), undefined);
    assert.deepEqual(planNames(objects, 10), { parts: [full('a', 10)], unreachable: undefined });
    assert.deepEqual(planNames(objects, 29), { parts: [full('a', 10), delta('a', 20, 10)], unreachable: undefined });
    assert.deepEqual(planNames(objects, 39), { parts: [full('a', 10), delta('a', 20, 10), delta('a', 30, 20)], unreachable: undefined });
    assert.deepEqual(planNames(objects, 99), { parts: [full('a', 40), delta('a', 50, 40)], unreachable: undefined });
    assert.deepEqual([...listing(objects).keys()], ['a', 'other']);
  });

  it('a missing link ends the chain at the link before it, and names the newest object not reached', () => {
    const broken = objects.filter((n) => n !== delta('a', 20, 10));
    assert.deepEqual(planNames(broken, 39), { parts: [full('a', 10)], unreachable: delta('a', 30, 20) });
  });
});

function config(dir: string, extra = 'schema_tracks_changes: true', dbs = ['main']): Config {
  const lmdbs = dbs.map((db) => `  ${db}:\n    path: ${join(dir, `live-${db}`)}\n    ${extra.split('\n').join('\n    ')}`).join('\n');
  return parseConfig(`instance: me\nlmdbs:\n${lmdbs}\nstorage: { type: fs, options: { root_path: ${join(dir, 'snaps')} } }\n`, {});
}

describe('restore from snapshots with chosen contents (fs storage)', () => {
  const tmp = tempDir('restore');
  let storage: Storage;
  let n = 0;
  const target = () => join(tmp.dir, `restored-${++n}`);
  const run = (source: RestoreSource, opts: { cfg?: Config; to?: string; signal?: AbortSignal; onMerged?: () => void } = {}): Promise<RestoreResult> =>
    restoreLmdb({
      config: opts.cfg ?? config(tmp.dir), db: 'main', target: opts.to ?? target(), source, storage, log: testLogger(),
      signal: opts.signal ?? new AbortController().signal,
      progress: { planned: () => undefined, downloaded: () => undefined, merged: () => opts.onMerged?.() },
    });
  const at = (sec: number) => ({ at: s(sec) });

  before(async () => {
    storage = await createStorage('fs', { root_path: join(tmp.dir, 'snaps') });
    await putSnapshot(storage, full('a', 10), [['k1', 'v1', 1n], ['k2', 'v2', 1n]]);
    await putSnapshot(storage, delta('a', 20, 10), [['k1', 'v1b', 2n]]);
    await putSnapshot(storage, delta('a', 30, 20), [['k2', null, 3n]]);
    await putSnapshot(storage, full('a', 40), [['k1', 'v1b', 2n], ['k2', null, 3n], ['k3', 'v3', 4n]]);
    await putSnapshot(storage, delta('a', 50, 40), [['k3', 'v3b', 5n]]);
    // b's k1 ties with a's at timestamp 2: the lower value ("b" < "v1b") wins.
    await putSnapshot(storage, full('b', 25), [['k1', 'b', 2n], ['kb', 'x', 1n]]);
  });
  after(async () => {
    await storage.close();
    tmp.remove();
  });

  it('merges every instance\'s state as of the time, and lists what it used', async () => {
    const early = await run(at(15));
    assert.deepEqual(describeState(nativeState(early.path)), { 'd/k1': 'v1@1', 'd/k2': 'v2@1' });
    assert.deepEqual(early.used.map((u) => u.name), [full('a', 10)]);
    assert.match(early.notes.join('\n'), /instance b has no full snapshot at or before 2025-11-24T16:00:15\.000000000Z/);

    const middle = await run(at(35));
    assert.deepEqual(middle.used.map((u) => u.name), [full('a', 10), delta('a', 20, 10), delta('a', 30, 20), full('b', 25)]);
    assert.deepEqual(describeState(nativeState(middle.path)), { 'd/k1': 'b@2', 'd/k2': '<deleted>@3', 'd/kb': 'x@1' });
    assert.deepEqual([middle.entries, middle.deletionMarkers, middle.dbis, middle.mode], [3, 1, 1, 'native']);
    assert.deepEqual(middle.notes, []);

    const late = await run(at(99));
    assert.deepEqual(describeState(nativeState(late.path)), { 'd/k1': 'b@2', 'd/k2': '<deleted>@3', 'd/k3': 'v3b@5', 'd/kb': 'x@1' });
  });

  it('a time before every snapshot is an error naming the oldest one, and creates nothing', async () => {
    const to = target();
    await assert.rejects(run(at(5), { to }), new RegExp(`no snapshot at or before 2025-11-24T16:00:05\\.000000000Z: the oldest full snapshot in the storage is ${full('a', 10)}`));
    assert.equal(existsSync(to), false);
    assert.deepEqual(readdirSync(tmp.dir).filter((f) => f.includes('.tmp-')), []);
  });

  it('--snapshot restores exactly that one snapshot; a missing one is an error', async () => {
    const one = await run({ snapshot: full('b', 25) });
    assert.deepEqual(describeState(nativeState(one.path)), { 'd/k1': 'b@2', 'd/kb': 'x@1' });
    const d = await run({ snapshot: delta('a', 20, 10) });
    assert.deepEqual(describeState(nativeState(d.path)), { 'd/k1': 'v1b@2' });
    assert.match(d.notes.join('\n'), /is a delta: the LMDB holds only the entries it carries/);
    await assert.rejects(run({ snapshot: full('a', 11) }), /snapshot main__a__.*: not found/);
  });

  it('shadow mode (schema_tracks_changes: false): application DBIs get the live values, the shadow DBIs every header', async () => {
    const r = await run(at(35), { cfg: config(tmp.dir, 'schema_tracks_changes: false') });
    assert.equal(r.mode, 'shadow');
    const raw = rawContents(r.path, { includePrivate: true });
    const hex = (t: string) => Buffer.from(t).toString('hex');
    assert.deepEqual(raw.get(`d/${hex('k1')}`)?.toString(), 'b');
    assert.equal(raw.has(`d/${hex('k2')}`), false, 'a deleted key is absent from the application DBI');
    assert.deepEqual(parseNativeValue(raw.get(`_sync_shadow_d/${hex('k2')}`)!), { ts: 3n, deleted: true, value: '' });
    assert.deepEqual([...raw.keys()].filter((k) => k.startsWith('_sync_shadow_d/')).length, 3);
  });

  it('no_subdir: the LMDB is one file at the target (an empty file there is accepted)', async () => {
    const cfg = config(tmp.dir, 'schema_tracks_changes: true\noptions: { no_subdir: true }');
    const to = target();
    writeFileSync(to, '');
    const r = await run(at(99), { cfg, to });
    assert.ok(statSync(r.path).isFile() && r.path === to);
    assert.deepEqual(describeState(nativeState(r.path, { noSubdir: true })), { 'd/k1': 'b@2', 'd/k2': '<deleted>@3', 'd/k3': 'v3b@5', 'd/kb': 'x@1' });
    assert.deepEqual(readdirSync(tmp.dir).filter((f) => f.includes('.tmp-')), []);
  });

  it('an aborted restore leaves nothing at the target and no build directory', async () => {
    const ac = new AbortController();
    const to = target();
    await assert.rejects(run(at(35), { to, signal: ac.signal, onMerged: () => ac.abort(new Error('stop')) }), { message: 'stop' });
    assert.equal(existsSync(to), false);
    assert.deepEqual(readdirSync(tmp.dir).filter((f) => f.includes('.tmp-')), []);
  });

  it('unreadable or missing snapshots: an older full snapshot stands in, a chain ends at its last good link, and it is said', async () => {
    const local = await createStorage('fs', { root_path: join(tmp.dir, 'snaps-broken') });
    try {
      await putSnapshot(local, full('a', 10), [['k1', 'v1', 1n], ['k2', 'v2', 1n]]);
      await putSnapshot(local, delta('a', 20, 10), [['k1', 'v1b', 2n]]);
      await local.store(delta('a', 30, 20), Buffer.from('not gzip'));
      await local.store(full('a', 40), Buffer.from('not gzip either'));
      await putSnapshot(local, delta('a', 50, 40), [['k3', 'v3b', 5n]]);
      const saved = storage;
      storage = local;
      try {
        const r = await run(at(99));
        assert.deepEqual(describeState(nativeState(r.path)), { 'd/k1': 'v1b@2', 'd/k2': 'v2@1' });
        assert.deepEqual(r.used.map((u) => u.name), [full('a', 10), delta('a', 20, 10)]);
        const notes = r.notes.join('\n');
        assert.match(notes, new RegExp(`${full('a', 40)} is unreadable`));
        assert.match(notes, new RegExp(`falling back to ${full('a', 10)}`));
        assert.match(notes, /the delta chain breaks after/);
        assert.match(notes, /restored as of 20251124-160020-000000000, the delta after it could not be used/);
        await assert.rejects(run({ snapshot: full('a', 40) }), new RegExp(`${full('a', 40)} is unreadable`));

        await local.delete(delta('a', 20, 10));
        const broken = await run(at(35));
        assert.deepEqual(describeState(nativeState(broken.path)), { 'd/k1': 'v1@1', 'd/k2': 'v2@1' });
        assert.match(broken.notes.join('\n'), new RegExp(`the delta chain breaks after 20251124-160010-000000000 \\(${delta('a', 30, 20)} is not reachable`));
      } finally {
        storage = saved;
      }
    } finally {
      await local.close();
    }
  });

  it('chooses the LMDB: --db, the db of a --snapshot name, the only one; several need --db', () => {
    const two = config(tmp.dir, 'schema_tracks_changes: true', ['main', 'shard']);
    assert.equal(selectRestoreDb(two, 'shard'), 'shard');
    assert.equal(selectRestoreDb(two, undefined, full('a', 10)), 'main');
    assert.equal(selectRestoreDb(config(tmp.dir), undefined), 'main');
    assert.throws(() => selectRestoreDb(two, undefined), /several LMDBs are configured \(main, shard\): choose one with --db/);
    assert.throws(() => selectRestoreDb(two, 'nope'), /no LMDB named "nope" in the config \(have: main, shard\)/);
    assert.throws(() => selectRestoreDb(two, 'shard', full('a', 10)), /is a snapshot of LMDB main, not of --db shard/);
    assert.throws(() => selectRestoreDb(two, undefined, 'bogus.pb.gz'), /--snapshot "bogus.pb.gz"/);
  });
});
