// Shadow mode (schema_tracks_changes: false) with plain, INTEGERKEY and DUPSORT DBIs: three real
// `lightningstream sync` processes and applications writing plain values converge to identical data.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { intKey, MDB_DUPFIXED, MDB_DUPSORT, MDB_INTEGERKEY } from '../../src/lmdb/index.js';
import { PlainApp, startLightningstream, waitFor, writeConfig, type RunningProcess } from './helpers.js';

describe('shadow mode: three instances with plain, INTEGERKEY and DUPSORT DBIs', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-shadow-'));
  const names = ['a', 'b', 'c'];
  const apps: PlainApp[] = [];
  const procs: RunningProcess[] = [];

  before(() => {
    names.forEach((name) => {
      const lmdbPath = join(dir, `lmdb-${name}`);
      const app = new PlainApp(lmdbPath);
      // Each application creates its DBIs with their flags before syncing starts, as PowerDNS does.
      app.dbi('plain');
      app.dbi('ids', MDB_INTEGERKEY);
      app.dbi('index', MDB_DUPSORT | MDB_DUPFIXED);
      apps.push(app);
      const config = writeConfig(dir, {
        instance: name, lmdbPath, schemaTracksChanges: false, dupsortHack: true,
        storage: { type: 'fs', options: { root_path: join(dir, 'bucket') } },
      });
      procs.push(startLightningstream(dir, name, ['-c', config, 'sync']));
    });
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    for (const a of apps) a.close();
    if (process.env.LS_KEEP_TEST_DIR !== '1') rmSync(dir, { recursive: true, force: true });
  });

  const logs = () => procs.map((p) => p.log().split('\n').slice(-12).join('\n')).join('\n');
  const converged = async (what: string) => {
    await waitFor(what, 30_000, () => {
      const c = apps.map((a) => a.contents());
      return c[0] === c[1] && c[1] === c[2];
    }, () => apps.map((a, i) => `--- ${names[i]}\n${a.contents()}`).join('\n') + '\n' + logs());
    return apps[0]!.contents();
  };
  const has = (content: string, dbi: string, key: Buffer | string, value: Buffer | string) =>
    content.split('\n').some((l) => l.endsWith(` ${Buffer.from(key).toString('hex')}=${Buffer.from(value).toString('hex')}`) && l.startsWith(`${dbi}(`));
  const id = (n: number) => Buffer.from(intKey(n, 4));
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };

  it('adds on one instance reach the others', async () => {
    apps[0]!.put('plain', 'p1', 'one');
    apps[0]!.put('ids', id(1), 'record-1');
    apps[0]!.put('ids', id(70000), 'record-70000');
    for (const v of [1, 2, 3]) apps[0]!.put('index', 'example.com', u32(v));
    const c = await converged('the adds of a');
    assert.ok(has(c, 'plain', 'p1', 'one'));
    assert.ok(has(c, 'ids', id(70000), 'record-70000'));
    for (const v of [1, 2, 3]) assert.ok(has(c, 'index', 'example.com', u32(v)), `duplicate ${v}`);
  });

  it('updates and single-duplicate deletes travel', async () => {
    await waitFor('b to receive p1', 30_000, () => has(apps[1]!.contents(), 'plain', 'p1', 'one'));
    apps[1]!.put('plain', 'p1', 'one-updated-on-b');
    apps[1]!.put('ids', id(1), 'record-1-v2');
    await waitFor('c to receive the duplicates', 30_000, () => has(apps[2]!.contents(), 'index', 'example.com', u32(2)));
    apps[2]!.del('index', 'example.com', u32(2));
    apps[2]!.put('index', 'example.com', u32(4));
    const c = await converged('the updates of b and the duplicate changes of c');
    assert.ok(has(c, 'plain', 'p1', 'one-updated-on-b'));
    assert.ok(has(c, 'ids', id(1), 'record-1-v2'));
    assert.ok(!has(c, 'index', 'example.com', u32(2)), 'deleted duplicate is gone');
    for (const v of [1, 3, 4]) assert.ok(has(c, 'index', 'example.com', u32(v)), `duplicate ${v} kept`);
  });

  it('concurrent changes on all three converge, deletes included', async () => {
    apps[0]!.put('plain', 'from-a', 'A');
    apps[1]!.put('plain', 'from-b', 'B');
    apps[2]!.put('plain', 'from-c', 'C');
    apps[0]!.del('ids', id(70000));
    apps[1]!.put('index', 'other.org', u32(9));
    apps[2]!.put('ids', id(5), 'five');
    const c = await converged('the concurrent changes');
    for (const [k, v] of [['from-a', 'A'], ['from-b', 'B'], ['from-c', 'C']]) assert.ok(has(c, 'plain', k!, v!));
    assert.ok(!c.includes(id(70000).toString('hex') + '='), 'deleted INTEGERKEY record is gone');
    assert.ok(has(c, 'index', 'other.org', u32(9)));
    assert.ok(has(c, 'ids', id(5), 'five'));
    assert.match(c, /^ids\(8\) /m, 'INTEGERKEY kept');
    assert.match(c, /^index\(20\) /m, 'DUPSORT|DUPFIXED kept');
  });
});
