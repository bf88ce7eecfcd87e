// `lightningstream verify`: real LMDB files, real fs storage, snapshots written by real `sync --only-once`
// (and `sync` with deltas) processes. A converged fleet verifies clean; a planted difference is named
// with both timestamps; --db, --json, bad input; a delta chain is compared as the instance's newest state.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildValue } from '../../src/lmdb/index.js';
import { tempDir } from '../ops/helpers.js';
import { NativeApp, PlainApp, startLightningstream, waitFor } from '../sync/helpers.js';
import { cli, fleetInstance, syncOnce, verifyJson, type FleetInstance } from './verify-fleet.js';

const T0 = 1_764_000_000_000_000_000n; // 2025-11-24T16:00:00Z
const sec = (n: number) => T0 + BigInt(n) * 1_000_000_000n;
const iso = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString().replace(/\.\d{3}Z$/, `.${String(ns % 1_000_000_000n).padStart(9, '0')}Z`);

describe('verify: a fleet of three on fs storage', { timeout: 300_000 }, () => {
  const tmp = tempDir('verify');
  const names = ['a', 'b', 'c'];
  let fleet: FleetInstance[] = [];
  const native = new Map<string, NativeApp>();
  after(() => {
    for (const app of native.values()) app.close();
    tmp.remove();
  });

  before(() => {
    fleet = names.map((n) => fleetInstance(tmp.dir, n, { shadow: true }));
    names.forEach((n, i) => {
      const app = new NativeApp(fleet[i]!.mainPath);
      for (let k = 0; k < 20; k++) app.put('data', `${n}${k}`, `value of ${n}${k}`, sec(i * 100 + k));
      app.put('data', 'shared', `from ${n}`, sec(50)); // equal timestamps: the lower value wins everywhere
      app.remove('data', `gone-${n}`, sec(60 + i));
      native.set(n, app);
      const plain = new PlainApp(fleet[i]!.shdPath);
      plain.put('records', `r-${n}`, `record of ${n}`);
      plain.close();
    });
    // A restarted instance stores only what the storage lacks, so a second round needs new local writes:
    // b stores last with everything; a and c then merge it, and all three hold what b's snapshot holds.
    for (const i of [0, 1, 2]) syncOnce(fleet[i]!);
    native.get('a')!.put('data', 'round2-a', 'x', sec(900));
    syncOnce(fleet[0]!);
    native.get('b')!.put('data', 'round2-b', 'x', sec(901));
    syncOnce(fleet[1]!);
    syncOnce(fleet[0]!);
    syncOnce(fleet[2]!);
  });

  it('converged: every instance verifies equal or covered against every instance, exit 0', () => {
    for (const inst of fleet) {
      const { code, doc } = verifyJson(inst);
      assert.equal(code, 0, JSON.stringify(doc, null, 2));
      assert.equal(doc.ok, true);
      assert.deepEqual(doc.lmdbs.map((l) => [l.lmdb, l.mode]), [['main', 'native'], ['shd', 'shadow']]);
      for (const l of doc.lmdbs) {
        assert.deepEqual(l.instances.map((x) => x.instance), names);
        for (const x of l.instances) {
          assert.ok(x.verdict === 'equal' || x.verdict === 'covered', `${inst.name} vs ${x.instance} in ${l.lmdb}: ${JSON.stringify(x)}`);
          assert.equal(x.own, x.instance === inst.name);
          assert.equal(x.counts.snapshotWins! + x.counts.missingHere!, 0);
        }
      }
      const vsB = doc.lmdbs[0]!.instances[1]!;
      assert.equal(vsB.verdict, 'equal', JSON.stringify(vsB));
    }
    const text = cli(fleet[1]!.config, 'verify');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^main: b \(this instance\): equal \(main__b__\S+\.pb\.gz, 66 entries\)$/m);
    assert.match(text.stdout, /^main: c: covered \(main__c__\S+\.pb\.gz, \d+ entries\): .*keys? only here$/m);
    assert.match(text.stdout, /^verify: 2 LMDBs, 6 instance snapshots: \d equal, \d covered, 0 differs$/m);
  });

  it('a planted difference is named with both timestamps and the side the merge takes, exit 1', () => {
    // On b, b3 goes back to an older entry than its snapshots hold (a lost write): every snapshot would win.
    const b = native.get('b')!;
    b.put('data', 'b3', 'stale', sec(100 + 3) - 1n);
    const { code, doc } = verifyJson(fleet[1]!, '--db', 'main');
    assert.equal(code, 1);
    assert.equal(doc.ok, false);
    // c stored only its own data (the others' it merged were in the storage already): its snapshot lacks b3.
    const vsC = doc.lmdbs[0]!.instances[2]!;
    assert.ok(vsC.verdict === 'covered' && !vsC.keys.some((k) => k.key === '"b3"'), JSON.stringify(vsC));
    for (const x of doc.lmdbs[0]!.instances.slice(0, 2)) {
      assert.equal(x.verdict, 'differs', JSON.stringify(x));
      assert.equal(x.differingKeys, 1);
      assert.deepEqual(x.keys, [{
        dbi: 'data', key: '"b3"', keyHex: Buffer.from('b3').toString('hex'),
        here: { timestamp: iso(sec(103) - 1n), timestampNano: String(sec(103) - 1n), deleted: false, valueBytes: 5 },
        snapshot: { timestamp: iso(sec(103)), timestampNano: String(sec(103)), deleted: false, valueBytes: 'value of b3'.length },
        mergeTakes: 'snapshot',
      }]);
    }
    const text = cli(fleet[1]!.config, 'verify', '--db', 'main');
    assert.equal(text.code, 1);
    assert.match(text.stdout, /^main: b \(this instance\): differs \(.*\): 1 differing key, 1 of them the merge would take from the snapshot$/m);
    assert.ok(text.stdout.includes(`  data "b3": here ${iso(sec(103) - 1n)} live 5 bytes, snapshot ${iso(sec(103))} live 11 bytes; merge takes snapshot\n`), text.stdout);

    // On c, a key newer than every snapshot and a key nobody else has: covered (nothing would change here).
    const c = native.get('c')!;
    c.put('data', 'a1', 'newer on c', sec(1000));
    c.put('data', Buffer.from([0, 1, 0xff]).toString('latin1'), 'binary key', sec(1001));
    const fromC = verifyJson(fleet[2]!, '--db', 'main');
    assert.equal(fromC.code, 0, JSON.stringify(fromC.doc));
    for (const x of fromC.doc.lmdbs[0]!.instances.slice(0, 2)) { // c's own snapshot lacks a1: only here
      assert.equal(x.verdict, 'covered', JSON.stringify(x));
      assert.ok(x.keys.some((k) => k.key === '"a1"' && k.mergeTakes === 'here' && k.here?.timestamp === iso(sec(1000))), JSON.stringify(x));
      assert.ok(x.onlyHereKeys.some((k) => k.key === '0x0001c3bf'), JSON.stringify(x));
    }
    // b stored last, with everything: exactly these two keys are not the same on c.
    const vsB = fromC.doc.lmdbs[0]!.instances[1]!;
    assert.deepEqual([vsB.counts.newerHere, vsB.counts.onlyHere, vsB.differingKeys], [1, 1, 1]);
    const textC = cli(fleet[2]!.config, 'verify', '--db', 'main');
    assert.match(textC.stdout, /^main: b: covered \(.*\): 1 key newer here, 1 key only here$/m);
    assert.match(textC.stdout, /^ {2}only here: data 0x0001c3bf: \S+Z live 10 bytes$/m);
    b.put('data', 'b3', 'value of b3', sec(103)); // back as it was
  });

  it('--max-keys limits the listed keys, and the count stays exact', () => {
    const b = native.get('b')!;
    for (let k = 0; k < 5; k++) b.put('data', `b${k}`, 'stale', 1n);
    const { doc } = verifyJson(fleet[1]!, '--db', 'main', '--max-keys', '2');
    const x = doc.lmdbs[0]!.instances[0]!;
    assert.equal(x.differingKeys, 5);
    assert.deepEqual(x.keys.map((k) => k.key), ['"b0"', '"b1"']);
    const text = cli(fleet[1]!.config, 'verify', '--db', 'main', '--max-keys', '2');
    assert.match(text.stdout, /^ {2}\.\.\. and 3 more differing$/m);
    for (let k = 0; k < 5; k++) b.put('data', `b${k}`, `value of b${k}`, sec(100 + k));
  });

  it('--db selects LMDBs; shadow mode compares the shadow DBIs', () => {
    const { code, doc } = verifyJson(fleet[0]!, '--db', 'shd');
    assert.equal(code, 0);
    assert.deepEqual(doc.lmdbs.map((l) => l.lmdb), ['shd']);
    // Each stored its own record; a's shadows hold all three.
    const summary = (d: typeof doc) => d.lmdbs[0]!.instances.map((x) => [x.instance, x.verdict, x.counts.same, x.counts.onlyHere]);
    assert.deepEqual(summary(doc), [['a', 'covered', 1, 2], ['b', 'covered', 1, 2], ['c', 'covered', 1, 2]]);
    // Application changes not yet recorded in the shadows by a sync are not what snapshots hold: not seen.
    const plain = new PlainApp(fleet[0]!.shdPath);
    plain.put('records', 'unsynced', 'x');
    plain.put('records', 'r-b', 'changed by the application');
    plain.close();
    assert.deepEqual(summary(verifyJson(fleet[0]!, '--db', 'shd').doc), summary(doc));
  });

  it('bad input: an unknown --db, a corrupt snapshot, a bad --max-keys: one line, non-zero exit', () => {
    const unknown = cli(fleet[0]!.config, 'verify', '--db', 'nope');
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr, 'lightningstream: no LMDB named "nope" in the config (have: main, shd)\n');
    assert.equal(unknown.stdout, '');
    const usage = cli(fleet[0]!.config, 'verify', '--max-keys', 'many');
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^lightningstream: option '--max-keys <n>' argument 'many' is invalid\. expected a whole number \(see --help\)\n$/);

    const bucket = join(tmp.dir, 'bucket');
    const newestOfC = readdirSync(bucket).filter((n) => n.startsWith('main__c__')).sort().at(-1)!;
    writeFileSync(join(bucket, newestOfC), 'not a gzip stream at all');
    const corrupt = cli(fleet[0]!.config, 'verify', '--db', 'main');
    assert.equal(corrupt.code, 1);
    assert.equal(corrupt.stdout, '');
    assert.match(corrupt.stderr, new RegExp(`^lightningstream: snapshot ${newestOfC.replace(/\./g, '\\.')}: not a gzip stream \\(bad header\\)\n$`));
  });
});

describe('verify: a delta chain is the instance\'s newest state', { timeout: 120_000 }, () => {
  const tmp = tempDir('verify-deltas');
  after(() => tmp.remove());

  it('a change that travelled only in a delta differs until merged, then the chain verifies equal', async () => {
    const deltas = 'deltas: { enabled: true, full_interval: 10m, max_chain_ratio: 0.9 }';
    const a = fleetInstance(tmp.dir, 'a', { extra: deltas });
    const b = fleetInstance(tmp.dir, 'b');
    const appA = new NativeApp(a.mainPath);
    const dbi = appA.dbi('data');
    appA.env.write((txn) => {
      for (let k = 0; k < 300; k++) txn.put(dbi, Buffer.from(`key-${k}`), buildValue(sec(k), txn.id, randomBytes(60)));
    });
    new NativeApp(b.mainPath).close(); // an empty LMDB: b's data is what it merges
    const bucket = join(tmp.dir, 'bucket');
    const deltaNames = () => readdirSync(bucket).filter((n) => n.endsWith('.dpb.gz'));
    const proc = startLightningstream(tmp.dir, 'a', ['-c', a.config, 'sync']);
    try {
      await waitFor('the first full snapshot of a', 20_000, () => existsSync(bucket) && readdirSync(bucket).some((n) => n.startsWith('main__a__')), () => proc.log());
      syncOnce(b);
      appA.put('data', 'key-7', 'changed in a delta', sec(500));
      await waitFor('a delta of a', 20_000, () => deltaNames().length >= 1, () => proc.log());
      appA.remove('data', 'key-8', sec(501));
      await waitFor('a second delta of a', 20_000, () => deltaNames().length >= 2, () => proc.log());
    } finally {
      await proc.stop();
      appA.close();
    }
    const before = verifyJson(b, '--max-keys', '100');
    assert.equal(before.code, 1);
    const vsA = before.doc.lmdbs[0]!.instances.find((x) => x.instance === 'a')!;
    assert.equal(vsA.verdict, 'differs');
    assert.equal(vsA.objects.length, 3, vsA.objects.join('\n'));
    assert.ok(vsA.objects[0]!.endsWith('.pb.gz') && vsA.objects.slice(1).every((n) => n.endsWith('.dpb.gz')));
    assert.deepEqual(vsA.keys.map((k) => [k.key, k.snapshot?.timestamp, k.snapshot?.deleted, k.mergeTakes]), [
      ['"key-7"', iso(sec(500)), false, 'snapshot'],
      ['"key-8"', iso(sec(501)), true, 'snapshot'],
    ]);
    assert.equal(vsA.counts.snapshotEntries, 300);
    const text = cli(b.config, 'verify');
    assert.match(text.stdout, /^main: a: differs \(main__a__\S+\.pb\.gz \+ 2 deltas, 300 entries\): 2 differing keys/m);

    syncOnce(b);
    const afterMerge = verifyJson(b);
    assert.equal(afterMerge.code, 0, JSON.stringify(afterMerge.doc, null, 2));
    assert.equal(afterMerge.doc.lmdbs[0]!.instances.find((x) => x.instance === 'a')!.verdict, 'equal');
  });
});

describe('verify: deletions older than the sweeper cutoff', { timeout: 60_000 }, () => {
  const tmp = tempDir('verify-sweeper');
  after(() => tmp.remove());

  it('a snapshot\'s old deletion of a key absent here counts as covered only with the sweeper enabled', () => {
    const a = fleetInstance(tmp.dir, 'a');
    const appA = new NativeApp(a.mainPath);
    appA.remove('data', 'long-gone', sec(0)); // 2025: far older than a 1-day retention
    appA.put('data', 'kept', 'v', sec(1));
    appA.close();
    syncOnce(a);
    const b = fleetInstance(tmp.dir, 'b', { extra: 'sweeper: { enabled: true, retention_days: 1 }' });
    const appB = new NativeApp(b.mainPath);
    appB.put('data', 'kept', 'v', sec(1));
    appB.close();
    const swept = verifyJson(b);
    assert.equal(swept.code, 0, JSON.stringify(swept.doc));
    const x = swept.doc.lmdbs[0]!.instances[0]!;
    assert.equal(x.verdict, 'covered');
    assert.equal(x.counts.sweptHere, 1);
    const noSweeper = fleetInstance(tmp.dir, 'b');
    const strict = verifyJson(noSweeper);
    assert.equal(strict.code, 1);
    assert.deepEqual(strict.doc.lmdbs[0]!.instances[0]!.keys.map((k) => [k.key, k.here, k.snapshot?.deleted]), [['"long-gone"', null, true]]);
  });
});
