// Deterministic in-process tests of the engine's parts: the merge rule, the merge-join, receiver slots
// and the syncer's start-up state machine, with memory storage and a virtual clock. Expected data comes
// from lastWriterWins (engine-harness.ts), written independently of src/. Seeds: LS_TEST_SEED, printed.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe as suite, it } from 'node:test';
import { Env, MDB_INTEGERKEY, buildValue, type Dbi, type Txn } from '../../src/lmdb/index.js';
import type { KVBatch } from '../../src/lmdb/batch.js';
import { createLogger } from '../../src/log/logger.js';
import { mapGrower } from '../../src/sync/map-growth.js';
import { sleepOn, systemClock } from '../../src/util/clock.js';
import { Semaphore } from '../../src/sync/semaphore.js';
import { WakeableSleep } from '../../src/sync/wakeable-sleep.js';
import { comparatorForFlags } from '../../src/lmdb/key-order.js';
import type { EntryBatch } from '../../src/snapshot/batch.js';
import { mergeOrder } from '../../src/sync/merge/merge-rule.js';
import { applyWinners } from '../../src/sync/merge/apply.js';
import { DbiPlanner } from '../../src/sync/merge/merge-plan.js';
import { SnapshotSpool } from '../../src/sync/merge/spool.js';
import { selectWinners } from '../../src/sync/merge/winners.js';
import { rng } from '../snapshot/helpers.js';
import { Instance, TrackedStorage, firstDifference, lastWriterWins, type Op } from './engine-harness.js';
import { VirtualClock } from './virtual-clock.js';

const SEED = Number(process.env.LS_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`# engine test seed ${SEED} (LS_TEST_SEED=${SEED} to repeat)`);

const dir = mkdtempSync(join(tmpdir(), 'ls-engine-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((x, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((p) => [x, ...p]));
}

/** Keys that are often prefixes of each other, binary, 1-511 bytes. */
function randomKey(r: () => number, pool: Buffer[]): Buffer {
  const pick = r();
  if (pool.length > 0 && pick < 0.5) return pool[Math.floor(r() * pool.length)]!;
  let key: Buffer;
  if (pool.length > 0 && pick < 0.7) {
    const base = pool[Math.floor(r() * pool.length)]!;
    key = r() < 0.5 && base.length > 1 ? base.subarray(0, 1 + Math.floor(r() * (base.length - 1)))
      : Buffer.concat([base, randomBuf(r, 1 + Math.floor(r() * 8))]).subarray(0, 511);
  } else {
    const len = r() < 0.1 ? 1 + Math.floor(r() * 511) : 1 + Math.floor(r() * 64);
    key = randomBuf(r, len);
  }
  pool.push(key);
  return key;
}

function randomBuf(r: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

/**
 * A random write. A small timestamp range forces ties between instances; `last` (per writer) keeps each
 * writer's timestamps of one key strictly increasing, as an application stamping the current time does
 * (a writer that overwrote its own entry with an older timestamp would lose that entry before any sync).
 */
function randomOp(r: () => number, pool: Buffer[], tsBase: bigint, dbi = 'data', last?: Map<string, bigint>): Op {
  const key = randomKey(r, pool);
  let ts = tsBase + BigInt(Math.floor(r() * 8));
  if (last) {
    const id = `${dbi}/${key.toString('hex')}`;
    const prev = last.get(id);
    if (prev !== undefined && ts <= prev) ts = prev + 1n;
    last.set(id, ts);
  }
  const del = r() < 0.2;
  const value = del ? null : r() < 0.1 ? Buffer.alloc(0) : randomBuf(r, Math.floor(r() * (r() < 0.1 ? 2000 : 30)));
  return { dbi, key, ts, value };
}

suite('merge rule', () => {
  it('is a total order: the winner of any set of entries does not depend on the merge order', () => {
    const r = rng(SEED);
    const values = [Buffer.alloc(0), Buffer.from('a'), Buffer.from('ab'), Buffer.from('b')];
    for (let round = 0; round < 2000; round++) {
      const n = 2 + Math.floor(r() * 4);
      const entries = Array.from({ length: n }, () => ({
        ts: BigInt(Math.floor(r() * 3)), deleted: r() < 0.3, value: values[Math.floor(r() * values.length)]!,
      }));
      const winnerFrom = (order: typeof entries) => order.reduce((local, remote) => {
        const o = mergeOrder(Number(remote.ts >> 32n), Number(remote.ts & 0xffffffffn), remote.deleted, remote.value, 0,
          remote.deleted ? 0 : remote.value.length, Number(local.ts >> 32n), Number(local.ts & 0xffffffffn), local.deleted,
          local.value, 0, local.deleted ? 0 : local.value.length);
        return o > 0 ? remote : local;
      });
      const key = (e: (typeof entries)[number]) => `${e.ts}:${e.deleted}:${e.deleted ? '' : e.value.toString('hex')}`;
      const expected = lastWriterWins(entries.map((e) => ({ dbi: 'd', key: Buffer.from('k'), ts: e.ts, value: e.deleted ? null : e.value })));
      const want = expected.get('d/6b')!;
      for (const order of [entries, [...entries].reverse(), [...entries.slice(1), entries[0]!]]) {
        const got = winnerFrom(order);
        assert.equal(`${got.ts}:${got.deleted ? 'D' : 'L'}:${got.deleted ? '' : got.value.toString('hex')}`, want,
          `seed ${SEED} round ${round}: ${entries.map(key).join(' ')}`);
      }
    }
  });
});

suite('merge-join', () => {
  it('merges random remote DBIs into random local ones exactly as the oracle says (plain and INTEGERKEY), ' +
    'with the application writing between the plan and the write txn', () => {
    const r = rng(SEED + 1);
    const env = Env.open(join(dir, 'mergejoin'), { create: true, mapSize: 256 << 20, maxDbs: 64 });
    let rechecked = 0;
    try {
      for (let round = 0; round < 60; round++) {
        const integer = round % 4 === 3;
        const concurrent = round % 2 === 1;
        const flags = integer ? MDB_INTEGERKEY : 0;
        const name = `d${round}`;
        const dbi = env.openDbi(name, { create: true, flags })!;
        const pool: Buffer[] = [];
        /** A random write; with `last`, one of this LMDB's application's (see stamp). */
        const gen = (last?: Map<string, bigint>): Op => {
          let op = randomOp(r, pool, 100n, name);
          if (integer) {
            const key = Buffer.alloc(8);
            key.writeBigUInt64LE(BigInt(Math.floor(r() * 2 ** 20)) << BigInt(Math.floor(r() * 40)));
            op = { ...op, key };
          }
          return last ? stamp(op, last) : op;
        };
        const localLast = new Map<string, bigint>();
        const localOps = Array.from({ length: Math.floor(r() * 300) }, () => gen(localLast));
        const remoteOps = Array.from({ length: Math.floor(r() * 300) }, () => gen());
        writeWinners(env, dbi, lastWriterWins(localOps));
        // The remote snapshot: its own winners, in the DBI's key order, spooled as the loader spools it.
        const remote = [...lastWriterWins(remoteOps)].map(([id, desc]) => ({ key: Buffer.from(id.split('/')[1]!, 'hex'), desc }));
        const cmp = comparatorForFlags(flags);
        remote.sort((a, b) => cmp(a.key, 0, a.key.length, b.key, 0, b.key.length));
        // Half the rounds spool to temporary files, in blocks of a few entries (as a snapshot over 32 MiB does).
        const spoolOptions = r() < 0.5 ? { memoryLimit: 1024, blockEntries: 1 + Math.floor(r() * 16) } : {};
        const spool = new SnapshotSpool(spoolOptions);
        const copies = new SnapshotSpool(spoolOptions);
        try {
          spool.beginDbi(name);
          spool.addEntries(toBatch(remote));
          const spooled = spool.endDbi(name, flags, '', remote.length);
          const planTxn = env.beginRead();
          const planner = new DbiPlanner(txnScan(planTxn, dbi), remote.length, { compare: cmp, integerKeys: integer, dbiName: name, snapshotName: 'test' });
          for (const batch of spool.batches(spooled)) planner.add(batch);
          const plan = planner.finish();
          const readTxnId = planTxn.id;
          planTxn.abort();
          const winners = selectWinners(spool, spooled, plan, () => copies);
          // The application writes between the plan and the write txn (later timestamps than its own earlier
          // writes of a key: it stamps the current time), mostly on keys the snapshot holds.
          const appOps = concurrent ? Array.from({ length: Math.floor(r() * 100) }, () => {
            const op = gen();
            const onRemoteKey = r() < 0.7 && remoteOps.length > 0;
            return stamp(onRemoteKey ? { ...op, key: remoteOps[Math.floor(r() * remoteOps.length)]!.key } : op, localLast);
          }) : [];
          if (appOps.length > 0) writeWinners(env, dbi, lastWriterWins([...localOps, ...appOps]));
          env.write((txn) => {
            const recheck = txn.id - 1 !== readTxnId;
            assert.equal(recheck, appOps.length > 0, `seed ${SEED + 1} round ${round}: the LMDB changed since the plan`);
            if (recheck) rechecked++;
            applyWinners(txn, dbi, winners, { txnId: txn.id, paddingBlock: false, recheck, dbiName: name });
          });
          const want = lastWriterWins([...localOps, ...appOps, ...remoteOps]);
          const problem = firstDifference(want, contentsOf(env, name));
          assert.equal(problem, undefined, `seed ${SEED + 1} round ${round} (${integer ? 'INTEGERKEY' : 'plain'}` +
            `${concurrent ? `, ${appOps.length} application writes after the plan` : ''}): ${problem}`);
        } finally {
          spool.close();
          copies.close();
        }
      }
      assert.ok(rechecked >= 20, `seed ${SEED + 1}: only ${rechecked} rounds re-checked winners`);
    } finally {
      env.close();
    }
  });
});

/** An application stamps the current time: its timestamps of one key only grow. */
function stamp(op: Op, last: Map<string, bigint>): Op {
  const id = `${op.dbi}/${op.key.toString('hex')}`;
  const prev = last.get(id);
  const ts = prev !== undefined && op.ts <= prev ? prev + 1n : op.ts;
  last.set(id, ts);
  return { ...op, ts };
}

/** Writes an oracle's winners as local entries (native headers), overwriting what the keys held. */
function writeWinners(env: Env, dbi: Dbi, winners: Map<string, string>): void {
  env.write((txn) => {
    for (const [id, desc] of winners) {
      const [ts, kind, hex] = desc.split(':') as [string, string, string];
      txn.put(dbi, Buffer.from(id.split('/')[1]!, 'hex'), buildValue(BigInt(ts), 7, Buffer.from(hex, 'hex'), { deleted: kind === 'D' }));
    }
  });
}

function txnScan(txn: Txn, dbi: Dbi): Iterator<KVBatch> {
  return txn.scan(dbi)[Symbol.iterator]();
}

function toBatch(entries: Array<{ key: Buffer; desc: string }>): EntryBatch {
  const n = entries.length;
  const parts: Buffer[] = [];
  const b: EntryBatch = {
    count: n, buf: Buffer.alloc(0), keyOff: new Uint32Array(n), keyLen: new Uint32Array(n), valOff: new Uint32Array(n),
    valLen: new Uint32Array(n), tsHi: new Uint32Array(n), tsLo: new Uint32Array(n), flags: new Uint8Array(n),
  };
  let at = 0;
  entries.forEach((e, i) => {
    const [ts, kind, hex] = e.desc.split(':') as [string, string, string];
    const value = Buffer.from(hex, 'hex');
    b.keyOff[i] = at;
    b.keyLen[i] = e.key.length;
    b.valOff[i] = at + e.key.length;
    b.valLen[i] = value.length;
    b.tsHi[i] = Number(BigInt(ts) >> 32n);
    b.tsLo[i] = Number(BigInt(ts) & 0xffffffffn);
    b.flags[i] = kind === 'D' ? 1 : 0;
    parts.push(e.key, value);
    at += e.key.length + value.length;
  });
  b.buf = Buffer.concat(parts);
  return b;
}

function contentsOf(env: Env, name: string): Map<string, string> {
  const out = new Map<string, string>();
  const dbi = env.openDbi(name)!;
  env.read((txn) => {
    for (const b of txn.scan(dbi)) {
      for (let i = 0; i < b.count; i++) {
        const v = b.buf.subarray(b.valOff[i], b.valOff[i]! + b.valLen[i]!);
        const ts = v.readBigUInt64BE(0);
        const deleted = (v[17]! & 1) !== 0;
        out.set(`${name}/${b.buf.toString('hex', b.keyOff[i], b.keyOff[i]! + b.keyLen[i]!)}`,
          `${ts}:${deleted ? 'D' : 'L'}:${v.subarray(24 + v.readUInt16BE(22) * 8).toString('hex')}`);
      }
    }
  });
  return out;
}

/** n instances on one memory storage and one virtual clock. */
function fleet(n: number, tag: string): { clock: VirtualClock; storage: TrackedStorage; instances: Instance[] } {
  const clock = new VirtualClock();
  const storage = new TrackedStorage(clock);
  const instances = Array.from({ length: n }, (_, i) => new Instance(String.fromCharCode(97 + i), join(dir, tag), storage, clock));
  return { clock, storage, instances };
}

/** All instances ready and holding exactly `want`; the reason when not. */
function convergence(instances: Instance[], want: Map<string, string>): string | undefined {
  for (const inst of instances) {
    if (inst.failure) return `${inst.name} failed: ${String(inst.failure)}`;
    if (!inst.ready) return `${inst.name} not ready`;
    const problem = firstDifference(want, inst.contents());
    if (problem) return `${inst.name}: ${problem}`;
  }
  return undefined;
}

async function converge(clock: VirtualClock, instances: Instance[], want: Map<string, string>, what: string): Promise<void> {
  const ok = await clock.runUntil(() => convergence(instances, want) === undefined, 120_000);
  assert.ok(ok, `seed ${SEED}: ${what}: not converged after 120 s of virtual time: ${convergence(instances, want)}`);
}

suite('syncer start-up', { timeout: 600_000 }, () => {
  it('every restart order of 3-5 instances, with 1-3 download slots, converges and never deadlocks', async () => {
    let scenarios = 0;
    let virtualMs = 0;
    const started = Date.now();
    for (const n of [3, 4, 5]) {
      for (const slots of [1, 2, 3]) {
        const orders = permutations(Array.from({ length: n }, (_, i) => i));
        for (const [p, order] of orders.entries()) {
          const r = rng(SEED + n * 1000 + slots * 100 + p);
          const { clock, storage, instances } = fleet(n, `restart-${n}-${slots}-${p}`);
          const ops: Op[] = [];
          const pool: Buffer[] = [];
          try {
            // A synced fleet: each instance wrote, all converged.
            const last = instances.map(() => new Map<string, bigint>());
            for (const [i, inst] of instances.entries()) {
              const mine = Array.from({ length: 5 }, () => randomOp(r, pool, 1000n, 'data', last[i]));
              inst.write(mine);
              ops.push(...mine);
            }
            for (const inst of instances) inst.start({ slots });
            await converge(clock, instances, lastWriterWins(ops), `n=${n} slots=${slots}: initial sync`);
            // All stop; each application writes while its syncer is down (header txn id 0); then they
            // restart in this order, a virtual 0-300 ms apart.
            for (const inst of instances) await inst.stop();
            for (const [i, inst] of instances.entries()) {
              const mine = Array.from({ length: 1 + Math.floor(r() * 3) }, () => randomOp(r, pool, 2000n, 'data', last[i]));
              inst.write(mine);
              ops.push(...mine);
            }
            const t0 = clock.now();
            for (const i of order) {
              instances[i]!.start({ slots });
              await clock.advance(Math.floor(r() * 300));
            }
            await converge(clock, instances, lastWriterWins(ops), `n=${n} slots=${slots} restart order ${order.join(',')}`);
            virtualMs += clock.now() - t0;
            scenarios++;
          } finally {
            for (const inst of instances) {
              await inst.stop();
              inst.close();
            }
            void storage.close();
          }
        }
      }
    }
    console.log(`# restart orders: ${scenarios} scenarios converged, mean ${(virtualMs / scenarios / 1000).toFixed(2)} s virtual ` +
      `after the last start, ${((Date.now() - started) / 1000).toFixed(1)} s real`);
  });

  it('a restart stores what the application wrote while sync was down, whatever txn id its headers carry', async () => {
    const { clock, storage, instances } = fleet(2, 'restart-writes');
    const [a, b] = instances as [Instance, Instance];
    try {
      a.write([{ dbi: 'data', key: Buffer.from('k1'), ts: 10n, value: Buffer.from('v1') }]);
      a.start();
      b.start();
      const ops: Op[] = [{ dbi: 'data', key: Buffer.from('k1'), ts: 10n, value: Buffer.from('v1') }];
      await converge(clock, instances, lastWriterWins(ops), 'initial');
      await a.stop();
      const k2: Op = { dbi: 'data', key: Buffer.from('k2'), ts: 20n, value: Buffer.from('v2') };
      a.write([k2]);
      const storesBefore = storage.stores;
      a.start();
      await converge(clock, instances, lastWriterWins([...ops, k2]), 'after the restart');
      assert.ok(storage.stores > storesBefore, 'the restarted instance stored a snapshot');
      // A restart with nothing new is quiet: nothing stored.
      await a.stop();
      const quietBefore = storage.stores;
      a.start();
      await clock.runUntil(() => a.ready, 60_000);
      await clock.advance(5000);
      assert.equal(storage.stores, quietBefore, 'an unchanged restart stores nothing');
    } finally {
      for (const inst of instances) {
        await inst.stop();
        inst.close();
      }
    }
  });

  it('a download cut short is fetched again, not marked corrupt', async () => {
    const { clock, storage, instances } = fleet(2, 'truncated');
    const [a, b] = instances as [Instance, Instance];
    try {
      const ops: Op[] = [{ dbi: 'data', key: Buffer.alloc(40, 0x61), ts: 5n, value: randomBuf(rng(SEED), 3000) }];
      a.write(ops);
      a.start();
      await clock.runUntil(() => a.ready && storage.stores > 0, 30_000);
      storage.truncateNextLoads = 2;
      b.start();
      await converge(clock, instances, lastWriterWins(ops), 'after truncated downloads');
      assert.equal(storage.truncateNextLoads, 0, 'both truncated downloads happened');
    } finally {
      for (const inst of instances) {
        await inst.stop();
        inst.close();
      }
    }
  });
});

suite('one-shot runs', () => {
  it('--only-once on a bucket it cannot write reports every attempt and gives up in bounded time', async () => {
    const clock = new VirtualClock();
    const storage = new TrackedStorage(clock);
    const a = new Instance('a', join(dir, 'readonly-bucket'), storage, clock);
    const lines: string[] = [];
    const log = createLogger({ level: 'info', format: 'logfmt', stream: { write: (l: string) => lines.push(l) } });
    try {
      a.write([{ dbi: 'data', key: Buffer.from('k'), ts: 1n, value: Buffer.from('v') }]);
      storage.failStores = true;
      const t0 = clock.now();
      a.start({ onlyOnce: true, log });
      const ended = await clock.runUntil(() => a.failure !== undefined, 10 * 60_000);
      assert.ok(ended, 'the one-shot run ended');
      const took = clock.now() - t0;
      assert.match(String(a.failure), /store snapshot of main: gave up after \d+ attempts in \d+\.\d s: AccessDenied/);
      assert.ok(took <= 130_000, `gave up after ${took} ms of virtual time`);
      const attempts = lines.filter((l) => l.includes('storage operation failed, retrying'));
      assert.ok(attempts.length >= 5, `every attempt is reported (${attempts.length})`);
      assert.ok(attempts.every((l) => /attempt=\d+/.test(l) && /gives_up_in_ms=\d+/.test(l)), attempts[0]);
    } finally {
      await a.stop();
      a.close();
    }
  });
});

suite('full LMDB map', () => {
  it('grows the map when map_size is not configured, and otherwise reports and backs off without crashing', async () => {
    for (const configured of [false, true]) {
      const clock = new VirtualClock();
      const storage = new TrackedStorage(clock);
      const tag = configured ? 'mapfull-pinned' : 'mapfull-grow';
      const a = new Instance('a', join(dir, tag), storage, clock);
      const b = new Instance('b', join(dir, tag), storage, clock, 1 << 20);
      const r = rng(SEED + 7);
      const ops: Op[] = Array.from({ length: 3000 }, (_, i) => ({
        dbi: 'data', key: Buffer.from(`key-${String(i).padStart(6, '0')}`), ts: 10n, value: randomBuf(r, 2000),
      }));
      const lines: string[] = [];
      const log = createLogger({ level: 'info', format: 'logfmt', stream: { write: (l: string) => lines.push(l) } });
      try {
        a.write(ops);
        a.start();
        await clock.runUntil(() => a.ready && storage.stores > 0, 30_000);
        const lc = { options: { mapSize: configured ? 1 << 20 : 0 } } as Parameters<typeof mapGrower>[1];
        b.start({ log, growMap: mapGrower('main', lc, b.env, log) });
        if (!configured) {
          await converge(clock, [a, b], lastWriterWins(ops), 'merge into a grown map');
          assert.ok(b.env.info().mapSize > 1 << 20, 'the map grew');
          assert.ok(lines.some((l) => l.includes('grew it')), lines.join(''));
        } else {
          await clock.advance(120_000);
          assert.equal(b.failure, undefined, 'the syncer is still running');
          assert.ok(!b.finished);
          const failures = lines.filter((l) => l.includes('loading snapshot failed'));
          assert.ok(lines.some((l) => l.includes('raise lmdbs.main.options.map_size')), lines.join(''));
          // Backing off: interval 0.5 s doubling to 5 min gives ~8 attempts in 2 min, not 240.
          assert.ok(failures.length >= 2 && failures.length <= 10, `${failures.length} attempts in 120 s`);
          assert.equal(b.env.info().mapSize, 1 << 20, 'a configured map_size is never grown');
        }
      } finally {
        for (const inst of [a, b]) {
          await inst.stop();
          inst.close();
        }
      }
    }
  });
});

suite('abort listeners', () => {
  it('any number of waiters (sleeps, semaphore waits) puts one listener on the shared signal, and abort reaches all', async () => {
    const ac = new AbortController();
    const sem = new Semaphore(1);
    const held = await sem.acquire(ac.signal);
    const waits = [
      ...Array.from({ length: 40 }, () => sem.acquire(ac.signal)),
      ...Array.from({ length: 40 }, () => sleepOn(systemClock, 60_000, ac.signal)),
      ...Array.from({ length: 40 }, () => new WakeableSleep().sleep(60_000, ac.signal)),
    ];
    assert.equal(EventEmitter.getEventListeners(ac.signal, 'abort').length, 1);
    ac.abort(new Error('stop'));
    const results = await Promise.allSettled(waits);
    assert.ok(results.every((r) => r.status === 'rejected'), 'every waiter was aborted');
    held();
  });
});
