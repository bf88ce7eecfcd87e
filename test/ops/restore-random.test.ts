// Point-in-time restore against the real engine, seeded and randomized (LS_TEST_SEED replays a run):
// three instances run the real sync loop in this process on fs storage (two of them writing delta
// snapshots), each written to as an application would (random binary keys that are prefixes of each other,
// random values, deletions, equal timestamps across instances; a write that the local entry beats is
// skipped, as last-writer-wins applications do). After each phase every instance has stored what it wrote,
// and the time Ti is recorded. Then `lightningstream restore --at Ti` (the real command) must rebuild, for
// every Ti, exactly the state the oracle (test/chaos/oracle.ts, nothing from src/) computes from the ops
// written up to Ti: key, timestamp, deletion flag and value of every entry. The last Ti is also restored
// in shadow mode: application DBIs hold the live values, shadow DBIs every entry.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { buildValue, type Env } from '../../src/lmdb/index.js';
import { compare, describeEntry, describeId, expectedState, beats, type Expected, type LoggedOp } from '../chaos/oracle.js';
import { Rng } from '../chaos/rng.js';
import { runLightningstream, waitFor, writeConfig } from '../sync/helpers.js';
import { startSync, syncConfig, tempDir, type BackgroundSync } from './helpers.js';
import { nativeState, parseNativeValue, rawContents } from './restore-helpers.js';

const SEED = Number(process.env.LS_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`# restore-random seed ${SEED} (LS_TEST_SEED=${SEED} to repeat)`);
const PHASES = 4;
const ROUNDS = 2;
const OPS_PER_ROUND = 25;
const DBIS = ['d1', 'd2'];
const INSTANCES = ['a', 'b', 'c'];
const TS_BASE = 1_700_000_000_000_000_000n;

interface Instance {
  name: string;
  sync: BackgroundSync;
  env: Env;
}

/** Keys that are often prefixes of each other, values often empty or prefixes too. */
class OpGenerator {
  private readonly keys: Buffer[] = [];
  private seq = 0;

  constructor(private readonly rng: Rng) {}

  private bytes(n: number): Buffer {
    return Buffer.from(Array.from({ length: n }, () => this.rng.int(256)));
  }

  private key(): Buffer {
    const r = this.rng.next();
    if (this.keys.length > 0 && r < 0.5) return this.keys[this.rng.int(this.keys.length)]!; // rewrite a key
    if (this.keys.length > 0 && r < 0.7) { // a prefix or an extension of a key
      const k = this.keys[this.rng.int(this.keys.length)]!;
      const p = k.length > 1 && this.rng.chance(0.5) ? k.subarray(0, 1 + this.rng.int(k.length - 1)) : Buffer.concat([k, this.bytes(1 + this.rng.int(4))]);
      this.keys.push(Buffer.from(p));
      return p;
    }
    const k = this.bytes(1 + this.rng.int(24));
    this.keys.push(k);
    return k;
  }

  op(instance: number, phase: number): LoggedOp {
    const deleted = this.rng.chance(0.2);
    const valueKind = this.rng.next();
    const value = deleted || valueKind < 0.1 ? Buffer.alloc(0) : this.bytes(valueKind < 0.3 ? 1 : this.rng.int(60));
    // A narrow timestamp window per phase makes equal timestamps across instances common; a few ops are older.
    const window = this.rng.chance(0.1) && phase > 0 ? phase - 1 : phase;
    const ts = TS_BASE + BigInt(window * 100 + this.rng.int(30));
    return {
      seq: this.seq++, instance, dbi: DBIS[this.rng.int(DBIS.length)]!, key: this.key().toString('hex'), ts, deleted,
      value: value.toString('hex'),
    };
  }
}

/** Writes the ops into the instance's LMDB in one txn, skipping those the local entry beats; returns whether one was written. */
function applyOps(env: Env, ops: LoggedOp[]): boolean {
  let written = 0;
  env.write((txn) => {
    for (const op of ops) {
      const dbi = txn.openDbi(op.dbi, { create: true })!;
      const key = Buffer.from(op.key, 'hex');
      const current = txn.get(dbi, key);
      const candidate: Expected = { ts: op.ts, deleted: op.deleted, value: op.deleted ? '' : op.value };
      op.applied = !current || beats(candidate, parseNativeValue(Buffer.from(current)));
      if (!op.applied) continue;
      txn.put(dbi, key, buildValue(op.ts, txn.id, Buffer.from(candidate.value, 'hex'), { deleted: op.deleted }));
      written++;
    }
  });
  return written > 0;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `YYYYMMDD-HHMMSS-nnnnnnnnn` of a time in ms, written here rather than taken from src/. */
function snapshotTimestampForm(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-12-03T14:00:00.123Z
  return `${iso.slice(0, 10).replace(/-/g, '')}-${iso.slice(11, 19).replace(/:/g, '')}-${iso.slice(20, 23)}000000`;
}

describe(`restore --at, randomized against the real engine (LS_TEST_SEED=${SEED})`, { timeout: 240_000 }, () => {
  const tmp = tempDir('restore-random');
  const storage = { type: 'fs', options: { root_path: join(tmp.dir, 'snaps') } };
  const instances: Instance[] = [];
  after(async () => {
    await Promise.all(instances.map((i) => i.sync.stop()));
    tmp.remove();
  });

  it('rebuilds the oracle state of every recorded time', async () => {
    const rng = new Rng(SEED);
    const gen = new OpGenerator(rng);
    for (const [i, name] of INSTANCES.entries()) {
      // Deltas on b and c, with chains long enough to span phases.
      const extra = i === 0 ? '' : 'deltas: { enabled: true, full_interval: 1h, max_chain_ratio: 10, max_chain_length: 5 }';
      const sync = await startSync(syncConfig({ instance: name, lmdbPath: join(tmp.dir, name), storage, extra }));
      instances.push({ name, sync, env: sync.run.lmdbs[0]!.env });
    }
    const opsByPhase: LoggedOp[][] = [];
    const times: number[] = [];
    for (let phase = 0; phase < PHASES; phase++) {
      const ops: LoggedOp[] = [];
      opsByPhase.push(ops);
      for (let round = 0; round < ROUNDS; round++) {
        const waits: Array<{ inst: Instance; txnId: number }> = [];
        for (const [i, inst] of instances.entries()) {
          const batch = Array.from({ length: rng.range(1, OPS_PER_ROUND) }, () => gen.op(i, phase));
          ops.push(...batch);
          if (applyOps(inst.env, batch)) waits.push({ inst, txnId: inst.env.info().lastTxnId });
        }
        // Every instance has stored what it wrote (a snapshot read at or after its write).
        for (const { inst, txnId } of waits) {
          const status = inst.sync.run.lmdbs[0]!.syncer.status;
          await waitFor(`${inst.name} to store txn ${txnId} (seed ${SEED})`, 20_000, () => (status.lastStored?.txnId ?? -1) >= txnId);
        }
      }
      await pause(20);
      times.push(Date.now());
      await pause(20);
    }
    await Promise.all(instances.map((i) => i.sync.stop()));

    const cfgFor = (schemaTracksChanges: boolean) => writeConfig(tmp.dir, {
      instance: schemaTracksChanges ? 'a' : 'a-shadow', lmdbPath: join(tmp.dir, 'a'), storage, schemaTracksChanges,
    });
    const nativeConfig = cfgFor(true);
    for (const [phase, ms] of times.entries()) {
      const at = phase % 2 === 0 ? new Date(ms).toISOString() : snapshotTimestampForm(ms);
      const to = join(tmp.dir, `restored-${phase}`);
      const r = await runLightningstream(tmp.dir, `restore-${phase}`, ['-c', nativeConfig, 'restore', '--at', at, '--to', to]);
      assert.equal(r.code, 0, `restore --at ${at} (seed ${SEED}):\n${r.log}`);
      for (const name of INSTANCES) assert.match(r.log, new RegExp(`^  ${name}  \\d{8}-\\d{6}-\\d{9}  (full|delta)  main__${name}__`, 'm'), r.log);
      assert.match(r.log, /^restored \d+ entr(y|ies) \(\d+ deletion markers?\) in \d+ DBIs? from \d+ snapshots? of 3 instances/m, r.log);
      const expected = expectedState(opsByPhase.slice(0, phase + 1).flat());
      const actual = nativeState(to);
      const diffs = compare(expected, actual);
      assert.deepEqual(diffs.slice(0, 5).map((d) => `${describeId(d.id)}: expected ${describeEntry(d.expected)}, restored ${describeEntry(d.actual)}`), [],
        `restore --at ${at}: ${diffs.length} differences of ${expected.size} entries (seed ${SEED}, LS_TEST_SEED=${SEED} replays)`);
    }

    // Shadow layout for the last time: live entries in the application DBIs, every entry in the shadows.
    const last = times.length - 1;
    const to = join(tmp.dir, 'restored-shadow');
    const r = await runLightningstream(tmp.dir, 'restore-shadow', ['-c', cfgFor(false), 'restore', '--at', snapshotTimestampForm(times[last]!), '--to', to]);
    assert.equal(r.code, 0, r.log);
    const expected = expectedState(opsByPhase.flat());
    const raw = rawContents(to, { includePrivate: true });
    const shadow = new Map([...raw].filter(([id]) => id.startsWith('_sync_shadow_')).map(([id, v]) => [id.slice('_sync_shadow_'.length), parseNativeValue(v)]));
    assert.equal(compare(expected, shadow).length, 0, `shadow DBIs differ from the oracle (seed ${SEED})`);
    const app = new Map([...raw].filter(([id]) => !id.startsWith('_sync')).map(([id, v]) => [id, v.toString('hex')]));
    const live = new Map([...expected].filter(([, e]) => !e.deleted).map(([id, e]) => [id, e.value]));
    assert.deepEqual(app, live, `application DBIs differ from the oracle's live entries (seed ${SEED})`);
  });
});
