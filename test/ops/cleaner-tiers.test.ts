// Retention tiers of the snapshot cleaner (storage.cleanup.keep_hourly / keep_daily, src/ops/retention-tiers.ts)
// on fs storage with an injected clock and snapshots with chosen timestamps: per instance the newest full
// snapshot of every UTC hour (day) inside the window survives cleaner runs, deltas and the rest go as before,
// kept snapshots go once they leave the window, and a restore between two kept snapshots gets the older one.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CleanupConfig } from '../../src/config/config.js';
import { SnapshotCleaner, type CleanerStatusSource } from '../../src/ops/cleaner.js';
import { restoreLmdb } from '../../src/ops/restore.js';
import { tierKeptNames } from '../../src/ops/retention-tiers.js';
import { parseConfig } from '../../src/config/index.js';
import { buildDeltaName, buildSnapshotName } from '../../src/snapshot/name.js';
import { createStorage, type Storage } from '../../src/storage/index.js';
import { DAY_MS, tempDir, testLogger } from './helpers.js';
import { describeState, nativeState, putSnapshot } from './restore-helpers.js';

const MIN = 60_000;
const H = 60 * MIN;
const CLEANUP: CleanupConfig = {
  enabled: true, interval: MIN, mustKeepInterval: 10 * MIN, removeOldInstancesInterval: 7 * DAY_MS, keepHourly: 6 * H, keepDaily: 3 * DAY_MS,
};

/** `2020-01-30 08:00` (UTC) as ms since the epoch. */
const at = (text: string): number => Date.parse(`${text.replace(' ', 'T')}:00Z`);
const ns = (text: string): bigint => BigInt(at(text)) * 1_000_000n;
const full = (instance: string, time: string) => buildSnapshotName({ db: 'main', instance, timestamp: ns(time) });
const status: CleanerStatusSource = { lastStored: undefined, lastLoadedByInstance: new Map() };

describe('retention tiers', () => {
  it('keep the newest full snapshot of each UTC hour / day younger than the window', () => {
    const c = (time: string) => ({ name: time, timestamp: ns(time) });
    const fulls = ['2020-01-29 10:00', '2020-01-29 23:59', '2020-01-30 06:10', '2020-01-30 06:40', '2020-01-30 11:00'].map(c);
    const now = at('2020-01-30 12:00');
    assert.deepEqual([...tierKeptNames(fulls, now, { keepHourly: 6 * H, keepDaily: 0 })].sort(), ['2020-01-30 06:40', '2020-01-30 11:00']);
    assert.deepEqual([...tierKeptNames(fulls, now, { keepHourly: 0, keepDaily: DAY_MS })].sort(), ['2020-01-29 23:59', '2020-01-30 11:00']);
    assert.deepEqual([...tierKeptNames(fulls, now, { keepHourly: 0, keepDaily: 0 })], []);
  });
});

describe('snapshot cleaner with retention tiers (fs storage)', () => {
  const tmp = tempDir('cleaner-tiers');
  let storage: Storage;
  before(async () => {
    storage = await createStorage('fs', { root_path: join(tmp.dir, 'snaps') });
  });
  after(async () => {
    await storage.close();
    tmp.remove();
  });

  const names = async () => (await storage.list('main__')).map((o) => o.name).sort();
  const times = ['2020-01-27 10:00', '2020-01-27 23:50', '2020-01-28 08:00', '2020-01-28 20:00',
    '2020-01-30 06:10', '2020-01-30 06:40', '2020-01-30 07:05', '2020-01-30 09:59', '2020-01-30 11:00', '2020-01-30 11:30'];
  const tierDelta = buildDeltaName({ db: 'main', instance: 'a', timestamp: ns('2020-01-30 06:50'), previous: ns('2020-01-30 06:40') });

  async function fill(): Promise<void> {
    for (const name of await names()) await storage.delete(name);
    // Each snapshot holds key `at` = its own time, so a restore shows which one it used.
    for (const t of times) await putSnapshot(storage, full('a', t), [['at', t, 1n]]);
    await putSnapshot(storage, tierDelta, [['at', 'the delta', 2n]]);
  }

  it('a cleaner run never deletes a tier-kept snapshot; without tiers only the newest stays (as before)', async () => {
    await fill();
    const cleaner = new SnapshotCleaner({ db: 'main', ownInstance: 'me', storage, status }, CLEANUP, testLogger());
    await cleaner.runOnce(at('2020-01-30 12:00')); // first sight: nothing goes yet
    const r = await cleaner.runOnce(at('2020-01-30 12:11'));
    const kept = ['2020-01-27 23:50', '2020-01-28 20:00', '2020-01-30 06:40', '2020-01-30 07:05', '2020-01-30 09:59', '2020-01-30 11:30'];
    assert.deepEqual(await names(), kept.map((t) => full('a', t)).sort());
    assert.deepEqual(r.cleanedOlder.sort(), [...['2020-01-27 10:00', '2020-01-28 08:00', '2020-01-30 06:10', '2020-01-30 11:00'].map((t) => full('a', t)), tierDelta].sort());
    assert.deepEqual(r.keptByTier.sort(), kept.slice(0, -1).map((t) => full('a', t)).sort());

    // A restore between two tier snapshots gets the older tier snapshot (deltas are not kept by tiers).
    const config = parseConfig(`lmdbs:\n  main: { path: ${join(tmp.dir, 'live')}, schema_tracks_changes: true }\n`, {});
    const restored = await restoreLmdb({
      config, db: 'main', target: join(tmp.dir, 'restored'), source: { at: ns('2020-01-30 06:55') }, storage, log: testLogger(),
      signal: new AbortController().signal,
    });
    assert.deepEqual(describeState(nativeState(restored.path)), { 'd/at': '2020-01-30 06:40@1' });

    // Four days later every tier window has passed: only the newest snapshot is left.
    await cleaner.runOnce(at('2020-02-03 13:00'));
    assert.deepEqual(await names(), [full('a', '2020-01-30 11:30')]);
  });

  it('with the tiers off (the default) the same bucket keeps only the newest snapshot', async () => {
    await fill();
    const cleaner = new SnapshotCleaner({ db: 'main', ownInstance: 'me', storage, status }, { ...CLEANUP, keepHourly: 0, keepDaily: 0 }, testLogger());
    await cleaner.runOnce(at('2020-01-30 12:00'));
    const r = await cleaner.runOnce(at('2020-01-30 12:11'));
    assert.deepEqual(await names(), [full('a', '2020-01-30 11:30')]);
    assert.deepEqual(r.keptByTier, []);
  });
});
