// `lightningstream drop-shadow` on a real shadow-mode LMDB: a real `sync --only-once` creates the `_sync_shadow_*`
// DBIs of plain, INTEGERKEY and DUPSORT application DBIs; `--dry-run` only lists them; without flags (as Go) it
// removes every `_sync*` DBI in one short write txn while this process (the "application") keeps writing and
// holds a read txn open; the application data is untouched and a later sync rebuilds the shadows. With
// LS_REFERENCE_BIN set, Go's drop-shadow runs on a copy of the same shadow-mode LMDB and must leave the same DBIs.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { intKey, MDB_DUPFIXED, MDB_DUPSORT, MDB_INTEGERKEY } from '../../src/lmdb/index.js';
import { BIN, PlainApp, runLightningstream, waitFor } from '../sync/helpers.js';

interface Result {
  code: number | null;
  stderr: string;
}

/** Runs the CLI asynchronously, so this process can keep writing into the LMDB meanwhile. */
function cli(config: string, ...args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, '-c', config, '--log-format', 'logfmt', ...args], {
      env: { ...process.env, NODE_NO_WARNINGS: '1' }, timeout: 30_000,
    });
    const err: Buffer[] = [];
    child.stdout.resume();
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr: Buffer.concat(err).toString('utf8') }));
  });
}

/** DBI names according to mdb_stat (lmdb-utils), an independent reader; undefined when it is not installed. */
function mdbStatDbis(path: string): string[] | undefined {
  const r = spawnSync('mdb_stat', ['-a', path], { encoding: 'utf8' });
  if (r.error) return undefined;
  assert.equal(r.status, 0, r.stderr);
  return [...r.stdout.matchAll(/^Status of (.+)$/gm)].map((m) => m[1]!).filter((n) => n !== 'Main DB');
}

describe('drop-shadow on a real shadow-mode LMDB', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-drop-shadow-'));
  const lmdbPath = join(dir, 'app');
  const missingPath = join(dir, 'not-created-yet');
  const config = join(dir, 'ls.yaml');
  let app: PlainApp;
  const SHADOWS = ['_sync_shadow_ids', '_sync_shadow_index', '_sync_shadow_plain'];
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };

  before(() => {
    app = new PlainApp(lmdbPath);
    app.dbi('plain');
    app.dbi('ids', MDB_INTEGERKEY);
    app.dbi('index', MDB_DUPSORT | MDB_DUPFIXED);
    app.env.write((txn) => {
      const [plain, ids, index] = [app.dbi('plain'), app.dbi('ids'), app.dbi('index')];
      for (let i = 0; i < 5000; i++) {
        txn.put(plain, Buffer.from(`key-${i}`), Buffer.from(`value-${i}`));
        txn.put(ids, Buffer.from(intKey(i + 1, 4)), Buffer.from(`record-${i}`));
        txn.put(index, Buffer.from(`name-${i % 100}`), u32(i));
      }
    });
    writeFileSync(config, [
      'instance: drop-test',
      'lmdbs:',
      '  main:',
      `    path: ${lmdbPath}`,
      '    schema_tracks_changes: false',
      '    dupsort_hack: true',
      '  later:',
      `    path: ${missingPath}`,
      '    schema_tracks_changes: false',
      '    options: { no_subdir: true }',
      `storage: { type: fs, options: { root_path: ${join(dir, 'bucket')} } }`,
    ].join('\n'));
  });

  after(() => {
    app.close();
    if (process.env.LS_KEEP_TEST_DIR !== '1') rmSync(dir, { recursive: true, force: true });
  });

  const syncDbis = () => app.env.listDbis().filter((n) => n.startsWith('_sync'));

  it('a shadow-mode sync created the shadow DBIs', async () => {
    const r = await runLightningstream(dir, 'sync1', ['-c', config, 'sync', '--only-once', '--only-db', 'main']);
    assert.equal(r.code, 0, r.log);
    assert.deepEqual(syncDbis(), SHADOWS);
  });

  it('--dry-run lists what it would drop and changes nothing', async () => {
    const before = app.contents();
    const txnBefore = app.env.info().lastTxnId;
    const r = await cli(config, 'drop-shadow', '--dry-run');
    assert.equal(r.code, 0, r.stderr);
    for (const name of SHADOWS) assert.match(r.stderr, new RegExp(`msg="Would drop" db=main dbi=${name} entries=5000`));
    assert.match(r.stderr, /level=warning msg="LMDB does not exist, nothing to drop" db=later/);
    assert.doesNotMatch(r.stderr, /msg=Dropping/);
    assert.deepEqual(syncDbis(), SHADOWS);
    assert.equal(app.env.info().lastTxnId, txnBefore, 'no write txn at all');
    assert.equal(app.contents(), before);
  });

  it('--only-db with an unknown name is an error', async () => {
    const r = await cli(config, 'drop-shadow', '--only-db', 'nope');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^lightningstream: no LMDB named "nope" in the config \(have: later, main\)$/m);
    assert.deepEqual(syncDbis(), SHADOWS);
  });

  it('without flags drops every _sync DBI while the application writes and reads; its data is untouched', async () => {
    const plain = app.dbi('plain');
    const reader = app.env.beginRead(); // a long reader must not block (nor be broken by) the drop
    const readerSees = reader.stat(plain).entries;
    let written = 0;
    let failed: unknown;
    const writer = setInterval(() => {
      try {
        app.put('plain', `during-${written}`, 'x');
        written++;
      } catch (err) {
        failed = err;
      }
    }, 2);
    let r: Result;
    let writtenDuring: number;
    try {
      await waitFor('the application to be writing', 30_000, () => written >= 10 || failed !== undefined);
      const writtenBefore = written;
      r = await cli(config, 'drop-shadow');
      writtenDuring = written - writtenBefore;
      const after = written;
      await waitFor('the application to write after the drop', 30_000, () => written >= after + 10 || failed !== undefined);
    } finally {
      clearInterval(writer);
    }
    assert.equal(failed, undefined);
    assert.ok(writtenDuring > 0, `the application wrote ${writtenDuring} times while drop-shadow ran`);
    assert.equal(r.code, 0, r.stderr);
    for (const name of SHADOWS) assert.match(r.stderr, new RegExp(`msg=Dropping db=main dbi=${name} entries=5000`));
    const summary = /msg="Sync DBIs dropped" count=3 db=main path=\S+ write_txn_ms=([0-9.]+)/.exec(r.stderr);
    assert.ok(summary, r.stderr);
    assert.ok(Number(summary[1]) < 1000, `write txn took ${summary[1]} ms`);
    assert.equal(reader.stat(plain).entries, readerSees, 'the old read txn still sees its snapshot');
    reader.abort();

    assert.deepEqual(syncDbis(), []);
    const other = mdbStatDbis(lmdbPath);
    if (other) assert.deepEqual(other.sort(), ['ids', 'index', 'plain']);
    const c = app.contents().split('\n');
    assert.equal(c.filter((l) => l.startsWith('plain(')).length, 5000 + written);
    assert.equal(c.filter((l) => l.startsWith('ids(')).length, 5000);
    assert.equal(c.filter((l) => l.startsWith('index(')).length, 5000, 'every duplicate kept');
    assert.equal(existsSync(missingPath), false, 'a missing LMDB is never created');
  });

  it('a second run has nothing to drop; a later sync rebuilds the shadows', async () => {
    const again = await cli(config, 'drop-shadow', '--only-db', 'main');
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /msg="No sync DBIs to drop" db=main/);
    const r = await runLightningstream(dir, 'sync2', ['-c', config, 'sync', '--only-once', '--only-db', 'main']);
    assert.equal(r.code, 0, r.log);
    assert.deepEqual(syncDbis(), SHADOWS);
  });
  it('drops the same DBIs as Go v1.0 on copies of the same LMDB', async (t) => {
    const goBin = process.env.LS_REFERENCE_BIN;
    if (!goBin) {
      t.skip('LS_REFERENCE_BIN is not set: Go comparison skipped');
      return;
    }
    assert.deepEqual(syncDbis(), SHADOWS);
    const dumps: Record<string, string> = {};
    for (const who of ['go', 'ours']) {
      const copy = join(dir, `copy-${who}`);
      mkdirSync(copy);
      const cp = spawnSync('mdb_copy', [lmdbPath, copy], { encoding: 'utf8' });
      assert.equal(cp.status, 0, cp.stderr);
      const conf = join(dir, `copy-${who}.yaml`);
      writeFileSync(conf, [
        `instance: copy-${who}`,
        `lmdbs: { main: { path: ${copy}, schema_tracks_changes: false, dupsort_hack: true } }`,
        `storage: { type: fs, options: { root_path: ${join(dir, `bucket-${who}`)} } }`,
      ].join('\n'));
      const r: { status: number | null; stderr: string } = who === 'go'
        ? spawnSync(goBin, ['-c', conf, '--log-format', 'logfmt', 'drop-shadow'], { encoding: 'utf8', timeout: 30_000 })
        : await cli(conf, 'drop-shadow').then((x) => ({ status: x.code, stderr: x.stderr }));
      assert.equal(r.status, 0, `${who}: ${r.stderr}`);
      // Go logs one "Dropping" line per DBI (with the DBI's name in its db field); ours adds the LMDB name.
      for (const name of SHADOWS) {
        assert.match(r.stderr, who === 'go' ? new RegExp(`msg=Dropping db=${name}\\n`) : new RegExp(`msg=Dropping db=main dbi=${name} `));
      }
      const d = spawnSync('mdb_dump', ['-a', copy], { encoding: 'utf8', maxBuffer: 64 << 20 });
      assert.equal(d.status, 0, d.stderr);
      dumps[who] = d.stdout;
    }
    assert.ok(!dumps.go!.includes('database=_sync'), 'Go dropped the shadow DBIs');
    assert.equal(dumps.ours, dumps.go, 'the same DBIs and entries are left after ours and after Go');
  });
});
