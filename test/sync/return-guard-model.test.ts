// The randomized model test of the return guard: in-process instances (engine-harness.ts) on a virtual clock,
// a tomb sweeper with a 20 s retention swept every round, random writes and deletes, and absences of one
// instance at a time, long (beyond the retention: deleted keys are swept meanwhile) or short. The oracle is
// last-writer-wins over the op log (written independently of src/): every key whose winner is live must be
// live everywhere with that entry, and no other key may be live anywhere, whatever was swept. Seeded:
// LS_TEST_SEED, printed first.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe as suite, it } from 'node:test';
import { createLogger } from '../../src/log/logger.js';
import { TombSweeper } from '../../src/ops/sweeper.js';
import { readGuardRecord } from '../../src/sync/guard/guard-record.js';
import { rng } from '../snapshot/helpers.js';
import { Instance, TrackedStorage, firstDifference, lastWriterWins, type Op } from './engine-harness.js';
import { VirtualClock } from './virtual-clock.js';

const SEED = Number(process.env.LS_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`# return guard model seed ${SEED} (LS_TEST_SEED=${SEED} to repeat)`);

const RETENTION_MS = 20_000;
const SCENARIOS = 4;
/** false only to show by hand that the oracle catches the hole without the guard. */
const GUARD = true as boolean;
const ROUNDS = 40;

const dir = mkdtempSync(join(tmpdir(), 'ls-guard-model-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const liveOnly = (m: Map<string, string>): Map<string, string> => new Map([...m].filter(([, v]) => v.includes(':L:')));

suite('return guard model', { timeout: 900_000 }, () => {
  it(`random writes, deletes, sweeps and long absences end as last-writer-wins says (${SCENARIOS} fleets of 4)`, async () => {
    let removedTotal = 0;
    let longAbsences = 0;
    const quiet = createLogger({ level: 'error' });
    for (let s = 0; s < SCENARIOS; s++) {
      const r = rng(SEED + s);
      const clock = new VirtualClock();
      const storage = new TrackedStorage(clock);
      const instances = ['a', 'b', 'c', 'd'].map((n) => new Instance(n, join(dir, `s${s}`), storage, clock));
      const running = new Set<Instance>();
      const start = (i: Instance): void => {
        i.start({ sweeper: { retentionMs: RETENTION_MS, guard: GUARD, forceMs: 3000 } });
        running.add(i);
      };
      const ops: Op[] = [];
      const keys = Array.from({ length: 40 }, (_, i) => Buffer.from(`k${String(i).padStart(2, '0')}`));
      const write = (i: Instance, del: boolean): void => {
        // Deletions mostly of keys live by the oracle (deleting a deleted key tests little).
        const live = [...liveOnly(lastWriterWins(ops)).keys()].map((id) => Buffer.from(id.slice('data/'.length), 'hex'));
        const pool = del && live.length > 0 && r() < 0.8 ? live : keys;
        const op: Op = { dbi: 'data', key: pool[Math.floor(r() * pool.length)]!, ts: clock.nowNano(), value: del ? null : Buffer.from(`v${ops.length}`) };
        i.write([op]);
        ops.push(op);
      };
      const lastTs = (): bigint => ops.reduce((m, o) => (o.ts > m ? o.ts : m), 0n);
      const where = (what: string): string => `seed ${SEED} scenario ${s}: ${what}`;
      const removed = (): number => instances.reduce((n, i) => n + (i.syncer?.status.returnGuard?.view().removed ?? 0), 0);
      try {
        for (const i of instances) for (let k = 0; k < 5; k++) write(i, false);
        for (const i of instances) start(i);
        let away: { inst: Instance; returnAt: number; long: boolean } | undefined;
        for (let round = 0; round < ROUNDS; round++) {
          const writers = [...running];
          for (let n = Math.floor(r() * 4); n > 0; n--) write(writers[Math.floor(r() * writers.length)]!, r() < 0.35);
          await clock.advance(500 + Math.floor(r() * 2500));
          for (const i of running) {
            const ctx = i.ctx!;
            await new TombSweeper({ name: `${i.name}-${s}`, env: i.env, ctx: { writeLock: ctx.writeLock, mode: { kind: 'native' } } },
              { enabled: true, retentionDays: RETENTION_MS / 86_400_000, retentionLoadCutoffDuration: 0, returnGuard: true,
                interval: 0, firstInterval: 0, lockDuration: 10_000, releaseDuration: 0 }, quiet, () => clock.now()).sweep();
          }
          if (away && clock.now() >= away.returnAt) {
            // What the application wrote while sync was down: just before the return (an older offline write
            // that a swept deletion beat cannot be told from a new one; README).
            if (r() < 0.6) write(away.inst, r() < 0.3);
            removedTotal -= removed();
            start(away.inst);
            await clock.runUntil(() => away!.inst.ready, 60_000);
            removedTotal += removed();
            away = undefined;
          } else if (!away && r() < 0.3) {
            const inst = writers[Math.floor(r() * writers.length)]!;
            // A quiet spell, then the leaving instance has recorded that it merged and stored everything.
            const since = lastTs() + 1_000_000_000n;
            const recorded = !GUARD || await clock.runUntil(() => {
              const rec = readGuardRecord(inst.env);
              return (rec.syncedNano ?? 0n) > since && BigInt(rec.mergedAllMs ?? 0) * 1_000_000n > since;
            }, 60_000);
            assert.ok(recorded, where(`${inst.name} recorded its synced state: ${JSON.stringify(readGuardRecord(inst.env), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))} ` +
              `since ${since} now ${clock.now()}`));
            await inst.stop();
            running.delete(inst);
            // The fleet deletes right after it left: swept during a long absence, merged after a short one.
            for (let n = 1 + Math.floor(r() * 3); n > 0; n--) write([...running][Math.floor(r() * running.size)]!, true);
            const long = r() < 0.6;
            if (long) longAbsences++;
            away = { inst, long, returnAt: clock.now() + (long ? RETENTION_MS + 2000 + Math.floor(r() * 15_000) : 1000 + Math.floor(r() * 6000)) };
          }
        }
        if (away) {
          const back = away.inst;
          await clock.advance(Math.max(0, away.returnAt - clock.now()));
          removedTotal -= removed();
          start(back);
          await clock.runUntil(() => back.ready, 60_000);
          removedTotal += removed();
        }
        const want = liveOnly(lastWriterWins(ops));
        let problem: string | undefined;
        const ok = await clock.runUntil(() => {
          problem = undefined;
          for (const i of instances) {
            if (i.failure) problem = `${i.name} failed: ${String(i.failure)}`;
            problem ??= firstDifference(want, liveOnly(i.contents()));
            if (problem) {
              problem = `${i.name}: ${problem}`;
              return false;
            }
          }
          return true;
        }, 120_000);
        assert.ok(ok, where(`live entries differ from last-writer-wins: ${problem}`));
      } finally {
        for (const i of instances) {
          await i.stop();
          i.close();
        }
        void storage.close();
      }
    }
    console.log(`# return guard model: ${SCENARIOS} fleets, ${longAbsences} long absences, ${removedTotal} stale entries removed by the guard`);
    if (GUARD) assert.ok(removedTotal > 0, `seed ${SEED}: no long absence met a swept deletion: the run tested nothing the guard does`);
  });
});
