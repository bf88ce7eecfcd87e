// `lightningstream restore`: the real binary against fs storage holding snapshots with chosen names and
// contents. --snapshot NAME alone; what it refuses (an existing non-empty PATH, the live LMDB path or a
// symlink to it, an unknown or missing --db, --at and --snapshot together or neither), and a TIME before
// every snapshot, each with one clear line and nothing created.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildSnapshotName } from '../../src/snapshot/name.js';
import { createStorage } from '../../src/storage/index.js';
import { tempDir } from '../ops/helpers.js';
import { describeState, nativeState, putSnapshot } from '../ops/restore-helpers.js';
import { BIN } from '../sync/helpers.js';

const T0 = 1_764_000_000_000_000_000n; // 2025-11-24T16:00:00Z
const snap = (instance: string, sec: number) => buildSnapshotName({ db: 'main', instance, timestamp: T0 + BigInt(sec) * 1_000_000_000n });

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(config: string, ...args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, '-c', config, 'restore', ...args], { env: { ...process.env, NODE_NO_WARNINGS: '1' }, timeout: 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Exit `code`, one stderr line `lightningstream: ...` matching re. */
function fails(r: Result, re: RegExp, code = 1): void {
  assert.equal(r.code, code, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^lightningstream: /);
  assert.match(lines[0]!, re);
}

describe('lightningstream restore (fs storage)', { timeout: 60_000 }, () => {
  const tmp = tempDir('cli-restore');
  const live = join(tmp.dir, 'live');
  const storage = { type: 'fs', options: { root_path: join(tmp.dir, 'snaps') } };
  const one = join(tmp.dir, 'one.yaml');
  const two = join(tmp.dir, 'two.yaml');
  const noTmpLeft = () => assert.deepEqual(readdirSync(tmp.dir).filter((f) => f.includes('.tmp-')), []);

  before(async () => {
    writeFileSync(one, JSON.stringify({ lmdbs: { main: { path: live, schema_tracks_changes: true } }, storage }));
    writeFileSync(two, JSON.stringify({ lmdbs: { main: { path: live, schema_tracks_changes: true }, shard: { path: `${live}-shard` } }, storage }));
    const s = await createStorage('fs', storage.options);
    await putSnapshot(s, snap('a', 10), [['k1', 'a1', 1n], ['k2', 'a2', 1n]]);
    await putSnapshot(s, snap('a', 20), [['k1', 'a1b', 3n], ['k2', 'a2', 1n]]);
    await putSnapshot(s, snap('b', 15), [['k1', 'b1', 2n], ['kb', null, 2n]]);
    await s.close();
  });
  after(() => tmp.remove());

  it('--snapshot NAME restores exactly that snapshot and says which', async () => {
    const to = join(tmp.dir, 'only-b');
    const r = await cli(one, '--snapshot', snap('b', 15), '--to', to);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^  b  20251124-160015-000000000  full  ${snap('b', 15)}$`, 'm'));
    assert.match(r.stdout, /^restored 2 entries \(1 deletion marker\) in 1 DBI from 1 snapshot of 1 instance /m);
    assert.deepEqual(describeState(nativeState(to)), { 'd/k1': 'b1@2', 'd/kb': '<deleted>@2' });
  });

  it('--at merges every instance as of the time; with several LMDBs --db chooses', async () => {
    const to = join(tmp.dir, 'at-17');
    const r = await cli(two, '--db', 'main', '--at', '2025-11-24T16:00:17Z', '--to', to);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(describeState(nativeState(to)), { 'd/k1': 'b1@2', 'd/k2': 'a2@1', 'd/kb': '<deleted>@2' });
    assert.match(r.stdout, /restoring LMDB main as of 2025-11-24T16:00:17\.000000000Z/);
  });

  it('refuses an existing non-empty PATH, the live LMDB and a symlink to it, leaving everything as it was', async () => {
    const full = join(tmp.dir, 'taken');
    mkdirSync(full);
    writeFileSync(join(full, 'data.mdb'), 'someone else\'s');
    fails(await cli(one, '--at', 'now', '--to', full), /refusing to restore into .*taken: it already exists and is not empty/);
    fails(await cli(one, '--at', 'now', '--to', live), /refusing to restore into .*live: it is the live LMDB lmdbs\.main/);
    const link = join(tmp.dir, 'link-to-live');
    mkdirSync(live);
    symlinkSync(live, link);
    fails(await cli(one, '--at', 'now', '--to', link), /it is the live LMDB lmdbs\.main/);
    assert.deepEqual(readdirSync(live), []);
    noTmpLeft();
    // An empty directory is a fine target.
    const empty = join(tmp.dir, 'empty');
    mkdirSync(empty);
    assert.equal((await cli(one, '--at', 'now', '--to', empty)).code, 0);
  });

  it('an unknown --db, a missing --db with several LMDBs, and bad flag combinations are one-line errors', async () => {
    const to = join(tmp.dir, 'never');
    fails(await cli(one, '--db', 'nope', '--at', 'now', '--to', to), /no LMDB named "nope" in the config \(have: main\)/);
    fails(await cli(two, '--at', 'now', '--to', to), /several LMDBs are configured \(main, shard\): choose one with --db/);
    fails(await cli(one, '--to', to), /exactly one of --at TIME and --snapshot NAME/, 2);
    fails(await cli(one, '--at', 'now', '--snapshot', snap('a', 10), '--to', to), /exactly one of --at TIME and --snapshot NAME/, 2);
    fails(await cli(one, '--at', 'tomorrow', '--to', to), /invalid time "tomorrow": expected RFC 3339/);
    fails(await cli(one, '--snapshot', snap('a', 11), '--to', to), /snapshot main__a__20251124-160011-000000000__G-0000000000000000\.pb\.gz: not found/);
    assert.equal(existsSync(to), false);
  });

  it('a TIME before every snapshot is a clear error naming the oldest snapshot', async () => {
    const to = join(tmp.dir, 'too-early');
    fails(await cli(one, '--at', '20251124-160009-999999999', '--to', to),
      new RegExp(`no snapshot at or before 2025-11-24T16:00:09\\.999999999Z: the oldest full snapshot in the storage is ${snap('a', 10)}`));
    assert.equal(existsSync(to), false);
    noTmpLeft();
  });
});
