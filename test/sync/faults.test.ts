// Faults: corrupt snapshots are skipped with a clear log line, and SIGKILL in the middle of a large
// merge leaves a valid LMDB with all of the snapshot or none of it, never part.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe as suite, it } from 'node:test';
import { Env, KVBatchWriter, MDB_DUPSORT, parseValue, writeHeader } from '../../src/lmdb/index.js';
import { NativeApp, PlainApp, runLightningstream, startLightningstream, waitFor, writeConfig } from './helpers.js';

// A generous bound: seven merges of 400k entries and their reruns take minutes on a loaded 2-core machine.
suite('faults', { timeout: 600_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-faults-'));
  after(() => {
    if (process.env.LS_KEEP_TEST_DIR !== '1') rmSync(dir, { recursive: true, force: true });
  });
  const storage = (name: string) => ({ type: 'fs', options: { root_path: join(dir, name) } });

  it('skips a corrupt snapshot, loads the good one, and finishes --only-once', async () => {
    const bucket = join(dir, 'bucket-corrupt');
    mkdirSync(bucket, { recursive: true });
    const good = new NativeApp(join(dir, 'good'));
    good.put('data', 'k', 'from-good', 5n);
    good.close();
    const goodCfg = writeConfig(dir, { instance: 'good', lmdbPath: join(dir, 'good'), storage: storage('bucket-corrupt') });
    assert.equal((await runLightningstream(dir, 'good-once', ['-c', goodCfg, 'sync', '--only-once'])).code, 0);
    const corrupt = 'main__bad__20261126-101010-000000000__G-0000000000000000.pb.gz';
    writeFileSync(join(bucket, corrupt), Buffer.from('1f8b0800000000000003ffffffff', 'hex'));
    writeFileSync(join(bucket, 'main__not-a-snapshot-name.pb.gz'), 'x');
    // Not snapshots (another extension, e.g. an object kind of a newer version): ignored without a word.
    const otherKinds = ['main__good__20261126-101011-000000000__G-0000000000000000__P20261126-101010-000000000.dpb.gz', 'main__notes.txt'];
    for (const name of otherKinds) writeFileSync(join(bucket, name), 'x');
    const cfg = writeConfig(dir, { instance: 'reader', lmdbPath: join(dir, 'reader'), storage: storage('bucket-corrupt') });
    const run = await runLightningstream(dir, 'reader-once', ['-c', cfg, 'receive', '--only-once'], 30_000);
    assert.equal(run.code, 0, run.log);
    assert.match(run.log, new RegExp(`snapshot is corrupt or incompatible, skipping it.*${corrupt}|${corrupt}.*corrupt`));
    assert.match(run.log, /invalid snapshot name.*not-a-snapshot-name/);
    for (const name of otherKinds) assert.ok(!run.log.includes(name), `${name} was mentioned at info level:\n${run.log}`);
    const reader = new NativeApp(join(dir, 'reader'));
    assert.equal(reader.contents().get('data/k')?.value, 'from-good');
    reader.close();
  });

  it('refuses a DUPSORT DBI in shadow mode without dupsort_hack, and any special DBI in native mode', async () => {
    const path = join(dir, 'dupsort-app');
    const app = new PlainApp(path);
    app.put('index', 'example.com', 'id-1', MDB_DUPSORT);
    app.close();
    const shadowCfg = writeConfig(dir, { instance: 'nohack', lmdbPath: path, schemaTracksChanges: false, storage: storage('bucket-dupsort') });
    const shadowRun = await runLightningstream(dir, 'nohack', ['-c', shadowCfg, 'sync', '--only-once']);
    assert.notEqual(shadowRun.code, 0);
    assert.match(shadowRun.log, /DBI index is MDB_DUPSORT: set lmdbs\.main\.dupsort_hack: true/);
    const nativeCfg = writeConfig(dir, { instance: 'native', lmdbPath: path, storage: storage('bucket-dupsort') });
    const nativeRun = await runLightningstream(dir, 'native', ['-c', nativeCfg, 'sync', '--only-once']);
    assert.notEqual(nativeRun.code, 0);
    assert.match(nativeRun.log, /DBI index has flags .*DUPSORT.*native mode/);
  });

  it('--wait-for-marker-file waits for that object in the storage', async () => {
    const cfg = writeConfig(dir, { instance: 'marker', lmdbPath: join(dir, 'marker'), storage: storage('bucket-marker') });
    const p = startLightningstream(dir, 'marker', ['-c', cfg, 'sync', '--wait-for-marker-file', 'ready.marker']);
    await waitFor('the wait to be logged', 20_000, () => p.log().includes('waiting for the marker object'), () => p.log());
    // A directory in the marker's place cannot be read: each check logs it, which shows the process still
    // checking (the checks are sequential, so it went on past the missing marker too) rather than a pause.
    mkdirSync(join(dir, 'bucket-marker', 'ready.marker'), { recursive: true });
    const checks = () => p.log().split('\n').filter((l) => l.includes('cannot check the storage for the marker object')).length;
    await waitFor('3 more checks for the marker', 20_000, () => checks() >= 3, () => p.log());
    assert.doesNotMatch(p.log(), /initial sync complete/);
    rmSync(join(dir, 'bucket-marker', 'ready.marker'), { recursive: true });
    writeFileSync(join(dir, 'bucket-marker', 'ready.marker'), '');
    await waitFor('the sync to start after the marker appeared', 20_000, () => p.log().includes('initial sync complete'), () => p.log());
    assert.equal(await p.stop(), 0);
  });

  it('SIGKILL (or SIGTERM) during a large merge leaves the LMDB valid with all of the snapshot or none of it', async () => {
    const N = 400_000;
    const source = join(dir, 'big');
    const env = Env.open(source, { create: true, mapSize: 2 ** 30 });
    const dbi = env.openDbi('data', { create: true })!;
    env.write((txn) => {
      const w = new KVBatchWriter();
      for (let i = 0; i < N; i++) {
        const at = w.reserve(16, 24 + 64);
        w.batch.buf.write(`key${String(i).padStart(13, '0')}`, at, 'latin1');
        writeHeader(w.batch.buf, at + 16, 0, 1000 + i, 1, 0, 0);
        w.batch.buf.fill(i & 0xff, at + 16 + 24, at + 16 + 24 + 64);
        if (w.count >= 8192) { txn.putBatch(dbi, w.batch); w.reset(); }
      }
      txn.putBatch(dbi, w.batch);
    });
    env.close();
    const bigCfg = writeConfig(dir, { instance: 'big', lmdbPath: source, storage: storage('bucket-big') });
    assert.equal((await runLightningstream(dir, 'big-once', ['-c', bigCfg, 'sync', '--only-once'])).code, 0);
    assert.equal(readdirSync(join(dir, 'bucket-big')).filter((n) => n.endsWith('.pb.gz')).length, 1, 'one full snapshot (beside its journal reference)');

    const outcomes: string[] = [];
    let killedMidMerge = 0;
    for (const [delayMs, signal] of [[0, 'SIGKILL'], [20, 'SIGKILL'], [60, 'SIGKILL'], [120, 'SIGKILL'], [250, 'SIGKILL'], [500, 'SIGKILL'], [30, 'SIGTERM']] as const) {
      const target = join(dir, `target-${delayMs}-${signal}`);
      // The target already holds data of its own, which must survive whatever happens.
      const app = new NativeApp(target);
      app.put('data', 'zz-local', 'mine', 5n);
      app.close();
      const cfg = writeConfig(dir, { instance: `target-${delayMs}-${signal}`, lmdbPath: target, storage: storage('bucket-big'), extra: 'log: { level: debug }' });
      const p = startLightningstream(dir, `target-${delayMs}-${signal}`, ['-c', cfg, 'receive']);
      await waitFor('the merge to begin', 60_000, () => p.log().includes('snapshot decoded, merging'), () => p.log());
      await new Promise((r) => setTimeout(r, delayMs));
      p.child.kill(signal);
      const code = await p.exited;
      // SIGTERM: the merge (one synchronous txn) finishes or never starts, then a clean exit.
      if (signal === 'SIGTERM') assert.equal(code, 0, p.log());
      const log = p.log();
      const t = Env.open(target, {});
      const d = t.openDbi('data')!;
      const count = t.read((txn) => txn.stat(d).entries);
      const local = t.read((txn) => txn.get(d, Buffer.from('zz-local')));
      t.close();
      assert.ok(local && parseValue(local).value.toString() === 'mine', `after ${signal} at +${delayMs} ms the local entry is intact`);
      assert.ok(count === 1 || count === N + 1, `after ${signal} at +${delayMs} ms: ${count - 1} of ${N} entries`);
      execFileSync('mdb_stat', ['-a', target], { stdio: 'pipe' }); // throws unless LMDB reads it whole
      if (signal === 'SIGKILL' && !log.includes('snapshot loaded')) killedMidMerge++;
      outcomes.push(`${signal}+${delayMs}ms:${count === N + 1 ? 'all' : 'none'}`);
      // The survivor merges it all on the next run.
      const rerun = await runLightningstream(dir, `target-${delayMs}-${signal}-rerun`, ['-c', cfg, 'receive', '--only-once']);
      assert.equal(rerun.code, 0, rerun.log);
      const t2 = new NativeApp(target);
      assert.equal(t2.contents().size, N + 1);
      t2.close();
    }
    console.log(`# signal during merge: ${outcomes.join(' ')} (${killedMidMerge} killed before the merge committed)`);
    assert.ok(killedMidMerge > 0, 'at least one kill landed inside the merge');
  });
});
