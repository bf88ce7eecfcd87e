// The engine failures of issue 9, each reproduced with real `lightningstream` processes on fs storage.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe as suite, it } from 'node:test';
import { Env, MDB_DUPSORT, MDB_INTEGERKEY, buildValue, parseValue } from '../../src/lmdb/index.js';
import { encode } from '../snapshot/helpers.js';
import { NativeApp, PlainApp, runLightningstream, startLightningstream, waitFor, writeConfig } from './helpers.js';

suite('engine regressions', { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-regress-'));
  after(() => {
    if (process.env.LS_KEEP_TEST_DIR !== '1') rmSync(dir, { recursive: true, force: true });
  });
  const storage = (name: string) => ({ type: 'fs', options: { root_path: join(dir, name) } });
  const once = async (instance: string, bucket: string, cmd: 'sync' | 'receive', extra: Partial<Parameters<typeof writeConfig>[1]> = {}) => {
    const cfg = writeConfig(dir, { instance, lmdbPath: join(dir, instance), storage: storage(bucket), ...extra });
    const run = await runLightningstream(dir, `${instance}-${cmd}`, ['-c', cfg, cmd, '--only-once'], 60_000);
    assert.equal(run.code, 0, run.log);
    return run.log;
  };

  it('keys longer than 32 bytes are merged by peers', async () => {
    const a = new NativeApp(join(dir, 'long-a'));
    const k1 = 'a'.repeat(33);
    const k2 = 'b'.repeat(33);
    const k3 = `${'b'.repeat(33)}c${'x'.repeat(400)}`;
    a.put('data', k1, 'v1', 10n);
    a.put('data', k2, 'v2', 11n);
    a.put('data', k3, 'v3', 12n);
    a.close();
    await once('long-a', 'bucket-long', 'sync');
    await once('long-b', 'bucket-long', 'receive');
    const b = new NativeApp(join(dir, 'long-b'));
    const got = b.contents();
    b.close();
    assert.deepEqual([...got.keys()].sort(), [`data/${k1}`, `data/${k2}`, `data/${k3}`].sort());
  });

  it('INTEGERKEY DBIs sync in native mode, merged in integer order', async () => {
    const key = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(n);
      return b;
    };
    // Integer order differs from bytewise order of the little-endian bytes.
    const ids = [1, 2, 255, 256, 65536, 16777216, 4294967295];
    const mk = (path: string, entries: Array<[number, bigint, string]>) => {
      const env = Env.open(path, { create: true, maxDbs: 8 });
      const dbi = env.openDbi('ids', { create: true, flags: MDB_INTEGERKEY })!;
      env.write((txn) => {
        for (const [id, ts, v] of entries) txn.put(dbi, key(id), buildValue(ts, 0, Buffer.from(v)));
      });
      env.close();
    };
    mk(join(dir, 'int-a'), ids.map((id) => [id, 100n, `a${id}`]));
    mk(join(dir, 'int-b'), [[256, 200n, 'b-newer'], [65536, 50n, 'b-older'], [3, 100n, 'b-only']]);
    await once('int-a', 'bucket-int', 'sync');
    await once('int-b', 'bucket-int', 'sync');
    await once('int-a', 'bucket-int', 'sync');
    const read = (path: string) => {
      const env = Env.open(path, {});
      const dbi = env.openDbi('ids')!;
      assert.equal(dbi.flags & MDB_INTEGERKEY, MDB_INTEGERKEY);
      const out: string[] = [];
      env.read((txn) => {
        for (const e of txn.entries(dbi)) out.push(`${e.key.readUInt32LE()}=${parseValue(e.value).value.toString()}`);
      });
      env.close();
      return out;
    };
    const want = ['1=a1', '2=a2', '3=b-only', '255=a255', '256=b-newer', '65536=a65536', '16777216=a16777216', '4294967295=a4294967295'];
    assert.deepEqual(read(join(dir, 'int-a')), want);
    assert.deepEqual(read(join(dir, 'int-b')), want);
    // A fresh instance creates the DBI with the snapshot's flags.
    await once('int-c', 'bucket-int', 'receive');
    assert.deepEqual(read(join(dir, 'int-c')), want);
  });

  it('INTEGERKEY keys of a wrong size are refused with one line naming the snapshot, the LMDB left alone', async () => {
    const bucket = join(dir, 'bucket-intsize');
    mkdirSync(bucket, { recursive: true });
    const name = 'main__evil__20261203-101010-000000000__GX.pb.gz';
    const e = (k: Buffer) => ({ key: k, value: Buffer.from('v'), ts: 5n, flags: 0 });
    writeFileSync(join(bucket, name), await encode([{ name: 'ids', flags: MDB_INTEGERKEY, transform: '', entries: [e(Buffer.alloc(4, 1)), e(Buffer.alloc(5, 2))] }]));
    for (const shadow of [false, true]) {
      const inst = `intsize-${shadow ? 'shadow' : 'native'}`;
      const path = join(dir, inst);
      if (shadow) {
        const app = new PlainApp(path);
        app.put('ids', Buffer.alloc(4, 9), 'mine', MDB_INTEGERKEY);
        app.close();
      } else {
        const app = new NativeApp(path);
        app.put('other', 'k', 'mine', 1n);
        app.close();
      }
      const log = await once(inst, 'bucket-intsize', 'receive', { schemaTracksChanges: !shadow });
      assert.match(log, new RegExp(`snapshot is corrupt or incompatible.*${name}.*(MDB_INTEGERKEY|INTEGERKEY)`));
      const env = Env.open(path, {});
      const ids = env.openDbi('ids');
      const count = ids ? env.read((txn) => txn.stat(ids).entries) : 0;
      env.close();
      assert.equal(count, shadow ? 1 : 0, `${inst}: nothing of the refused snapshot was merged`);
    }
  });

  it('a snapshot bringing an empty DBI missing locally is loaded once, not retried forever', async () => {
    const a = new NativeApp(join(dir, 'empty-a'));
    a.put('data', 'k', 'v', 10n);
    a.dbi('empty');
    a.close();
    await once('empty-a', 'bucket-empty', 'sync');
    const log = await once('empty-b', 'bucket-empty', 'receive');
    assert.doesNotMatch(log, /will retry/);
    const env = Env.open(join(dir, 'empty-b'), {});
    assert.deepEqual(env.listDbis().sort(), ['data', 'empty']);
    env.close();
  });

  it('a restart stores changes made while sync was down, also when the application writes txn id 0 in its headers', async () => {
    const path = join(dir, 'txn0');
    const write = (key: string, ts: bigint) => {
      const env = Env.open(path, { create: true, maxDbs: 8 });
      const dbi = env.openDbi('data', { create: true })!;
      env.write((txn) => txn.put(dbi, Buffer.from(key), buildValue(ts, 0, Buffer.from(`value of ${key}`))));
      env.close();
    };
    write('k1', 10n);
    await once('txn0', 'bucket-txn0', 'sync');
    write('k2', 20n);
    const log = await once('txn0', 'bucket-txn0', 'sync');
    assert.doesNotMatch(log, /no new snapshot needed/);
    await once('txn0-reader', 'bucket-txn0', 'receive');
    const reader = new NativeApp(join(dir, 'txn0-reader'));
    assert.deepEqual([...reader.contents().keys()].sort(), ['data/k1', 'data/k2']);
    reader.close();
  });

  it('a restarted instance whose name sorts last becomes ready and stores again (no download-slot deadlock)', async () => {
    const names = ['ra', 'rb', 'rc'];
    const procs = new Map<string, ReturnType<typeof startLightningstream>>();
    const apps = new Map(names.map((n) => [n, new NativeApp(join(dir, n))]));
    try {
      for (const [n, app] of apps) app.put('data', `from-${n}`, n, 10n);
      const start = (n: string) => {
        const cfg = writeConfig(dir, { instance: n, lmdbPath: join(dir, n), storage: storage('bucket-restart'), extra: 'memory_downloaded_snapshots: 1' });
        procs.set(n, startLightningstream(dir, `${n}-${procs.size}`, ['-c', cfg, 'sync']));
      };
      for (const n of names) start(n);
      const allHave = (keys: string[]) => [...apps.values()].every((app) => keys.every((k) => app.contents().has(`data/${k}`)));
      await waitFor('the first sync', 30_000, () => allHave(names.map((n) => `from-${n}`)));
      await procs.get('rc')!.stop('SIGTERM');
      apps.get('rc')!.put('data', 'while-down', 'rc', 20n);
      const logBefore = procs.get('rc')!.log().length;
      start('rc');
      await waitFor('rc to become ready', 30_000, () => procs.get('rc')!.log().slice(logBefore).includes('initial sync complete'), () => procs.get('rc')!.log());
      await waitFor('the write made while rc was down to reach the others', 30_000, () => allHave(['while-down']));
      apps.get('rc')!.put('data', 'after-restart', 'rc', 30n);
      await waitFor('a change after the restart to reach the others', 30_000, () => allHave(['after-restart']));
    } finally {
      for (const p of procs.values()) await p.stop('SIGTERM');
      for (const app of apps.values()) app.close();
    }
  });

  it('shadow mode stamps a local change after the entry it changes, even when that came from a clock ahead', async () => {
    // A native instance whose clock is an hour ahead writes k; the shadow-mode instance receives it,
    // then its application changes k: that change must win everywhere, not be reverted.
    const ahead = BigInt(Date.now() + 3_600_000) * 1_000_000n;
    const native = new NativeApp(join(dir, 'skew-native'));
    native.put('data', 'k', 'from the future', ahead);
    native.close();
    await once('skew-native', 'bucket-skew', 'sync');
    const shadowPath = join(dir, 'skew-shadow');
    const app = new PlainApp(shadowPath);
    app.put('data', 'other', 'x');
    app.close();
    await once('skew-shadow', 'bucket-skew', 'sync', { schemaTracksChanges: false });
    const app2 = new PlainApp(shadowPath);
    assert.match(app2.contents(), new RegExp(`data\\(0\\) ${Buffer.from('k').toString('hex')}=${Buffer.from('from the future').toString('hex')}`));
    app2.put('data', 'k', 'changed here');
    app2.close();
    await once('skew-shadow', 'bucket-skew', 'sync', { schemaTracksChanges: false });
    await once('skew-native', 'bucket-skew', 'sync');
    const back = new NativeApp(join(dir, 'skew-native'));
    const k = back.contents().get('data/k');
    back.close();
    assert.equal(k?.value, 'changed here');
    assert.ok(k.ts > ahead, `stamped ${k.ts}, after ${ahead}`);
  });

  it('a snapshot with a corrupt dupsort_hack key is marked corrupt, not retried as a load failure', async () => {
    const bucket = join(dir, 'bucket-dupsort');
    mkdirSync(bucket, { recursive: true });
    const name = 'main__evil__20261203-101010-000000000__GX.pb.gz';
    // "k" + no 00000000 separator + "v" + len 1: not a dupsort_hack key.
    const bad = Buffer.from([0x6b, 0x01, 0x02, 0x03, 0x04, 0x76, 0x01]);
    writeFileSync(join(bucket, name), await encode([{ name: 'idx', flags: MDB_DUPSORT, transform: 'dupsort_hack_v1', entries: [{ key: bad, value: Buffer.from('v'), ts: 5n, flags: 0 }] }]));
    const path = join(dir, 'dupsort-target');
    const app = new PlainApp(path);
    app.put('idx', 'k', 'mine', MDB_DUPSORT);
    app.close();
    const log = await once('dupsort-target', 'bucket-dupsort', 'receive', { schemaTracksChanges: false, dupsortHack: true });
    assert.match(log, new RegExp(`snapshot is corrupt or incompatible.*${name}.*not a dupsort_hack key`));
    assert.doesNotMatch(log, /will retry/);
  });
});
