// Three real `lightningstream sync` processes sharing a real Ceph radosgw bucket converge on the data
// the merge rule predicts, computed here independently from the writes the test made.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe as suite, it } from 'node:test';
import { requireS3TestEnv, s3Options, uniqueBucket } from '../storage/s3env.js';
import {
  describe, NativeApp, startLightningstream, waitFor, writeConfig, type NativeEntry, type RunningProcess,
} from './helpers.js';

interface Write {
  instance: number;
  dbi: string;
  key: string;
  value: string;
  ts: bigint;
  deleted: boolean;
}

/** The merge rule, applied to every write of a key: newest wins; equal timestamps: lowest value wins. */
function expectedContents(writes: Write[]): Map<string, NativeEntry> {
  const out = new Map<string, NativeEntry>();
  for (const w of writes) {
    const id = `${w.dbi}/${w.key}`;
    const cand: NativeEntry = { ts: w.ts, deleted: w.deleted, value: w.deleted ? '' : w.value };
    const cur = out.get(id);
    if (!cur || cand.ts > cur.ts || (cand.ts === cur.ts && Buffer.compare(Buffer.from(cand.value), Buffer.from(cur.value)) < 0)) {
      out.set(id, cand);
    }
  }
  return out;
}

const s3 = requireS3TestEnv('sync e2e');

suite('three sync processes through Ceph converge', { skip: !s3, timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-e2e-'));
  const names = ['one', 'two', 'three'];
  const apps: NativeApp[] = [];
  const procs: RunningProcess[] = [];
  const configs: string[] = [];
  const bucket = uniqueBucket('e2e');

  before(() => {
    for (const name of names) {
      const lmdbPath = join(dir, `lmdb-${name}`);
      configs.push(writeConfig(dir, {
        instance: name, lmdbPath,
        storage: { type: 's3', options: s3Options(s3!, bucket, { create_bucket: true }) },
      }));
      apps.push(new NativeApp(lmdbPath));
    }
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    for (const a of apps) a.close();
    if (process.env.LS_KEEP_TEST_DIR !== '1') rmSync(dir, { recursive: true, force: true });
  });

  it('concurrent writes, updates, deletes and equal timestamps converge to the merge rule', async () => {
    names.forEach((name, i) => procs.push(startLightningstream(dir, name, ['-c', configs[i]!, 'sync'])));
    const writes: Write[] = [];
    const base = BigInt(Date.now()) * 1_000_000n;
    let tick = 0n;
    const write = (instance: number, dbi: string, key: string, value: string | null, ts = base + ++tick * 1000n) => {
      const w: Write = { instance, dbi, key, value: value ?? '', ts, deleted: value === null };
      writes.push(w);
      if (w.deleted) apps[instance]!.remove(dbi, key, ts);
      else apps[instance]!.put(dbi, key, value!, ts);
    };
    // Each instance's own keys, in two DBIs.
    for (let i = 0; i < 3; i++) {
      for (let k = 0; k < 20; k++) write(i, k % 2 ? 'data' : 'other', `own-${i}-${k}`, `v${k}-from-${names[i]}`);
    }
    await new Promise((r) => setTimeout(r, 700));
    // Overlapping keys, written concurrently with interleaved timestamps while the processes sync.
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 3; i++) write(i, 'data', `shared-${round % 3}`, `round${round}-${names[i]}`);
      await new Promise((r) => setTimeout(r, 150 + Math.floor(Math.random() * 250)));
    }
    // Updates and deletes of another instance's keys.
    write(1, 'other', 'own-0-0', 'updated-by-two');
    write(2, 'data', 'own-1-1', null);
    write(0, 'other', 'own-2-2', null);
    // Equal timestamps: the lower value wins, a deletion (empty value) beats any value.
    const tie = base + 999_999n;
    write(0, 'data', 'tie-values', 'apple', tie);
    write(1, 'data', 'tie-values', 'banana', tie);
    write(2, 'data', 'tie-delete', 'zzz', tie);
    write(0, 'data', 'tie-delete', null, tie);
    // An older write must lose to a newer one, whichever instance syncs first. (Both are written before
    // either can be synced: an application overwriting a merged newer value with an older timestamp
    // locally is outside the model.)
    write(0, 'data', 'old-vs-new', 'newer', base + 500_000n);
    write(2, 'data', 'old-vs-new', 'older', base);

    const expected = expectedContents(writes);
    assert.equal(expected.get('data/tie-values')?.value, 'apple');
    assert.equal(expected.get('data/tie-delete')?.deleted, true);
    const want = describe(expected);
    const ms = await waitFor('all three LMDBs to match the merge rule', 60_000,
      () => apps.every((a) => describe(a.contents()) === want),
      () => apps.map((a, i) => `--- ${names[i]}\n${describe(a.contents())}`).join('\n') + `\n--- expected\n${want}\n` +
        procs.map((p) => p.log().split('\n').slice(-15).join('\n')).join('\n'));
    console.log(`# converged ${expected.size} keys on 3 instances ${ms} ms after the last write`);
  });

  it('stops cleanly on SIGTERM with exit code 0', async () => {
    const codes = await Promise.all(procs.map((p) => p.stop('SIGTERM')));
    assert.deepEqual(codes, [0, 0, 0], procs.map((p) => p.log().slice(-2000)).join('\n'));
  });

  it('a restarted instance resumes without storing or merging anything', async () => {
    const before = apps[0]!.env.info().lastTxnId;
    const p = startLightningstream(dir, 'one-restart', ['-c', configs[0]!, 'sync']);
    procs.push(p);
    await waitFor('the restarted instance to finish its initial sync', 30_000, () => p.log().includes('initial sync complete'), () => p.log());
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await p.stop(), 0);
    const log = p.log();
    assert.doesNotMatch(log, /snapshot stored/, 'no new snapshot for unchanged data');
    for (const line of log.split('\n').filter((l) => l.includes('snapshot loaded'))) {
      assert.match(line, /changed=0/, `a load changed data: ${line}`);
    }
    assert.equal(apps[0]!.env.info().lastTxnId, before, 'the LMDB was not written');
  });
});
