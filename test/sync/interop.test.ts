// Interop with snapshots written by the Go implementation (the reference fixtures), our own snapshots
// read back against the LMDB, and restoring an instance's own snapshot into an empty LMDB.
import assert from 'node:assert/strict';
import { copyFileSync, createReadStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe as suite, it } from 'node:test';
import { decodeSnapshotToMemory, type MemorySnapshot } from '../../src/snapshot/decode.js';
import { MDB_DUPSORT } from '../../src/lmdb/index.js';
import { describe, NativeApp, PlainApp, ROOT, runLightningstream, writeConfig, type NativeEntry } from './helpers.js';

const FIXTURES = resolve(ROOT, 'test/fixtures/go-0.4.4');
const NAT = 'nat__inst-a__20261126-085102-524196773__G-0000000000000000.pb.gz';
const SHD = 'shd__inst-a__20261126-085102-428483100__G-0000000000000000.pb.gz';

async function decodeFile(path: string): Promise<MemorySnapshot> {
  return decodeSnapshotToMemory(createReadStream(path), { name: path });
}

function configFor(dir: string, instance: string, db: string, lmdbPath: string, shadow = false): string {
  const path = writeConfig(dir, {
    instance, lmdbPath, schemaTracksChanges: !shadow, dupsortHack: shadow,
    storage: { type: 'fs', options: { root_path: join(dir, 'bucket') } },
  });
  // writeConfig names the LMDB `main`; the fixtures belong to LMDBs named `nat` and `shd`.
  const text = readFileSync(path, 'utf8').replace('\n  main:\n', `\n  ${db}:\n`);
  writeFileSync(path, text);
  return path;
}

suite('interop with the Go implementation and restore', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-interop-'));
  after(() => {
    if (process.env.LS_KEEP_TEST_DIR !== '1') rmSync(dir, { recursive: true, force: true });
  });

  it('merges a Go native snapshot into a local LMDB by the merge rule', async () => {
    mkdirSync(join(dir, 'bucket'), { recursive: true });
    copyFileSync(join(FIXTURES, NAT), join(dir, 'bucket', NAT));
    const fixture = await decodeFile(join(FIXTURES, NAT));
    const remote = new Map(fixture.dbis[0]!.entries.map((e) => [e.key.toString(), e]));
    const ts = (k: string) => remote.get(k)!.timestampNano;
    const lmdbPath = join(dir, 'nat-ours');
    const app = new NativeApp(lmdbPath);
    app.put('data', 'k1', 'local-older', ts('k1') - 1n); // remote newer: remote wins
    app.put('data', 'k2', 'local-live', ts('k2') - 5n); // remote deletion marker is newer: deleted
    app.put('data', 'k3', 'local-newer', ts('k3') + 1n); // local newer: kept
    app.put('data', 'k4', 'v4', ts('k4')); // identical: unchanged
    app.put('data', 'k5', 'zz', ts('k5')); // equal timestamps, remote value "v5" lower: remote wins
    app.put('data', 'k9', 'local-only', 42n); // absent from the snapshot: untouched
    const before = app.contents();
    app.close();

    const config = configFor(dir, 'ours', 'nat', lmdbPath);
    const run = await runLightningstream(dir, 'nat-once', ['-c', config, 'sync', '--only-once']);
    assert.equal(run.code, 0, run.log);

    const expected = new Map<string, NativeEntry>(before);
    for (const [key, e] of remote) {
      const id = `data/${key}`;
      const local = before.get(id);
      const r: NativeEntry = { ts: e.timestampNano, deleted: (e.flags & 1) !== 0, value: e.value.toString() };
      if (!local || r.ts > local.ts || (r.ts === local.ts && Buffer.compare(Buffer.from(local.value), Buffer.from(r.value)) > 0)) {
        expected.set(id, r);
      }
    }
    const after_ = new NativeApp(lmdbPath);
    const got = after_.contents();
    after_.close();
    assert.equal(describe(got), describe(expected));
    assert.equal(got.get('data/k3')!.value, 'local-newer');
    assert.equal(got.get('data/k2')!.deleted, true);
    assert.equal(got.get('data/k5')!.value, 'v5');
    assert.equal(got.get('data/k9')!.value, 'local-only');
  });

  it('our snapshot, read back by our decoder, equals the LMDB contents', async () => {
    // A local change after the merge: the next snapshot holds the merged data plus the change.
    const writer = new NativeApp(join(dir, 'nat-ours'));
    writer.put('data', 'k10', 'after-merge', BigInt(Date.now()) * 1_000_000n);
    writer.close();
    const run = await runLightningstream(dir, 'nat-once-2', ['-c', join(dir, 'ours.yaml'), 'sync', '--only-once']);
    assert.equal(run.code, 0, run.log);
    const ours = readdirSync(join(dir, 'bucket')).filter((n) => n.startsWith('nat__ours__')).sort();
    assert.equal(ours.length, 2, `two snapshots of ours: ${ours.join(', ')}`);
    const snap = await decodeFile(join(dir, 'bucket', ours[1]!));
    assert.equal(snap.formatVersion, 3);
    assert.equal(snap.compatVersion, 1);
    assert.equal(snap.meta.instanceId, 'ours');
    assert.equal(snap.meta.databaseName, 'nat');
    const fromSnapshot = new Map<string, NativeEntry>();
    for (const d of snap.dbis) {
      for (const e of d.entries) {
        fromSnapshot.set(`${d.name}/${e.key.toString()}`, { ts: e.timestampNano, deleted: (e.flags & 1) !== 0, value: e.value.toString() });
      }
    }
    const app = new NativeApp(join(dir, 'nat-ours'));
    const lmdb = app.contents();
    app.close();
    assert.equal(describe(fromSnapshot), describe(lmdb));
  });

  it('an instance started on an empty LMDB restores its own snapshot before writing', async () => {
    const emptyPath = join(dir, 'nat-ours-reset');
    const config = configFor(dir, 'ours', 'nat', emptyPath);
    const run = await runLightningstream(dir, 'nat-restore', ['-c', config, 'sync', '--only-once']);
    assert.equal(run.code, 0, run.log);
    const loadedAt = run.log.indexOf('snapshot loaded');
    assert.ok(loadedAt >= 0, run.log);
    const storedAt = run.log.indexOf('snapshot stored');
    assert.ok(storedAt === -1 || storedAt > loadedAt, 'nothing stored before the own snapshot was loaded');
    const restored = new NativeApp(emptyPath);
    const original = new NativeApp(join(dir, 'nat-ours'));
    try {
      const a = restored.contents();
      const b = original.contents();
      assert.equal([...a.values()].filter((e) => e.ts > 0n).length, b.size);
      assert.equal(describe(a), describe(b));
    } finally {
      restored.close();
      original.close();
    }
  });

  it('loads a Go shadow-mode snapshot with dupsort_hack into an empty LMDB, creating its DBIs', async () => {
    copyFileSync(join(FIXTURES, SHD), join(dir, 'bucket', SHD));
    const lmdbPath = join(dir, 'shd-ours');
    const config = configFor(dir, 'ours', 'shd', lmdbPath, true);
    const run = await runLightningstream(dir, 'shd-once', ['-c', config, 'receive', '--only-once']);
    assert.equal(run.code, 0, run.log);
    const app = new PlainApp(lmdbPath);
    try {
      const text = app.contents();
      const hex = (s: string) => Buffer.from(s).toString('hex');
      const want = [
        `dups(${MDB_DUPSORT}) ${hex('d1')}=${hex('x')}`, `dups(${MDB_DUPSORT}) ${hex('d1')}=${hex('z')}`,
        `dups(${MDB_DUPSORT}) ${hex('d2')}=${hex('a')}`, `dups(${MDB_DUPSORT}) ${hex('d2')}=${hex('b')}`,
        `dups(${MDB_DUPSORT}) ${hex('d2')}=${hex('c')}`,
        `plain(0) ${hex('p1')}=${hex('one-fromB')}`, `plain(0) ${hex('p3')}=${hex('three-updated')}`,
        `plain(0) ${hex('p4')}=${hex('four')}`,
      ];
      assert.equal(text, want.join('\n'));
    } finally {
      app.close();
    }
  });
});
