// `verify` against an oracle: random binary keys (prefixes of each other, 0x00 and 0xff bytes) in a plain DBI
// and random 8-byte keys in an MDB_INTEGERKEY DBI, random timestamps, values and deletion markers with many
// ties, written into two native-mode LMDBs; snapshots by real `sync --only-once` runs. The differing keys and
// counts verify reports must be what the oracle computes from the generated data (merge rule re-stated here,
// nothing from src/). Seed: LS_TEST_SEED, else random; printed on failure.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { buildValue, Env, MDB_INTEGERKEY } from '../../src/lmdb/index.js';
import { tempDir } from '../ops/helpers.js';
import { rng } from '../snapshot/helpers.js';
import { fleetInstance, syncOnce, verifyJson, type FleetInstance, type VerifyJsonInstance } from './verify-fleet.js';

interface Entry { ts: bigint; deleted: boolean; value: Buffer }
/** `dbi/keyhex` → entry */
type Data = Map<string, Entry>;

const T0 = 1_764_000_000_000_000_000n;
const DBIS = [{ name: 'bin', flags: 0 }, { name: 'ints', flags: MDB_INTEGERKEY }];

function keyPools(rand: () => number): Map<string, Buffer[]> {
  const byte = () => [0x00, 0x01, 0x61, 0x62, 0xff][Math.floor(rand() * 5)]!;
  const bin: Buffer[] = [];
  for (let i = 0; i < 15; i++) bin.push(Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 4) }, byte)));
  while (bin.length < 70) {
    const base = bin[Math.floor(rand() * bin.length)]!;
    bin.push(rand() < 0.3 && base.length > 1 ? base.subarray(0, base.length - 1) : Buffer.concat([base, Buffer.from([byte()])]));
  }
  const ints: Buffer[] = [];
  for (let i = 0; i < 40; i++) {
    const k = Buffer.alloc(8);
    k.writeBigUInt64LE(rand() < 0.5 ? BigInt(Math.floor(rand() * 300)) : BigInt(Math.floor(rand() * 2 ** 52)) << BigInt(Math.floor(rand() * 12)));
    ints.push(k);
  }
  const dedupe = (keys: Buffer[]) => [...new Map(keys.map((k) => [k.toString('hex'), k])).values()];
  return new Map([['bin', dedupe(bin)], ['ints', dedupe(ints)]]);
}

function randomEntry(rand: () => number, tsSpread = 5): Entry {
  const deleted = rand() < 0.2;
  const values = ['', 'a', 'ab', 'b', '\u0000'];
  return {
    ts: T0 + BigInt(1 + Math.floor(rand() * tsSpread)) * 1_000_000_000n,
    deleted,
    value: deleted ? Buffer.alloc(0) : Buffer.from(values[Math.floor(rand() * values.length)]!, 'latin1'),
  };
}

function randomData(rand: () => number, pools: Map<string, Buffer[]>, share: number): Data {
  const data: Data = new Map();
  for (const [dbi, keys] of pools) for (const k of keys) if (rand() < share) data.set(`${dbi}/${k.toString('hex')}`, randomEntry(rand));
  return data;
}

/** 1 when the remote entry wins, 0 when both are the same entry, -1 when the local one stays. */
function oracleOrder(remote: Entry, local: Entry): number {
  if (remote.ts !== local.ts) return remote.ts > local.ts ? 1 : -1;
  const c = Buffer.compare(local.value, remote.value);
  if (c !== 0) return c > 0 ? 1 : -1;
  if (remote.deleted === local.deleted) return 0;
  return remote.deleted ? 1 : -1;
}

function mergeInto(local: Data, remote: Data): Data {
  const out = new Map(local);
  for (const [k, r] of remote) {
    const l = out.get(k);
    if (!l || oracleOrder(r, l) > 0) out.set(k, r);
  }
  return out;
}

interface Expected { counts: Record<string, number>; differing: string[] }

function expected(local: Data, snapshot: Data): Expected {
  const counts = { snapshotEntries: snapshot.size, same: 0, newerHere: 0, snapshotWins: 0, missingHere: 0, sweptHere: 0, onlyHere: 0 };
  const differing: string[] = [];
  for (const [k, r] of snapshot) {
    const l = local.get(k);
    if (!l) {
      counts.missingHere++;
      differing.push(`${k} snapshot`);
      continue;
    }
    const o = oracleOrder(r, l);
    if (o === 0) counts.same++;
    else if (o > 0) counts.snapshotWins++;
    else counts.newerHere++;
    if (o !== 0) differing.push(`${k} ${o > 0 ? 'snapshot' : 'here'}`);
  }
  for (const k of local.keys()) if (!snapshot.has(k)) counts.onlyHere++;
  return { counts, differing: differing.sort() };
}

function writeLmdb(path: string, data: Data, remove: string[] = []): void {
  const env = Env.open(path, { create: true, maxDbs: 8 });
  try {
    const dbis = new Map(DBIS.map((d) => [d.name, env.openDbi(d.name, { create: true, flags: d.flags })!]));
    env.write((txn) => {
      for (const [k, e] of data) {
        const [dbi, hex] = k.split('/') as [string, string];
        txn.put(dbis.get(dbi)!, Buffer.from(hex, 'hex'), buildValue(e.ts, txn.id, e.value, { deleted: e.deleted }));
      }
      for (const k of remove) {
        const [dbi, hex] = k.split('/') as [string, string];
        txn.del(dbis.get(dbi)!, Buffer.from(hex, 'hex'));
      }
    });
  } finally {
    env.close();
  }
}

function actual(x: VerifyJsonInstance): Expected {
  return { counts: x.counts, differing: x.keys.map((k) => `${k.dbi}/${k.keyHex} ${k.mergeTakes}`).sort() };
}

describe('verify against an oracle (seeded random data)', { timeout: 120_000 }, () => {
  const seed = process.env.LS_TEST_SEED ? Number(process.env.LS_TEST_SEED) : Math.floor(Math.random() * 2 ** 31);
  console.log(`# verify-random seed ${seed} (LS_TEST_SEED=${seed} to repeat)`);
  const tmp = tempDir('verify-random');
  after(() => tmp.remove());

  it(`differing keys and counts match the oracle (seed ${seed}; replay with LS_TEST_SEED=${seed})`, () => {
    const rand = rng(seed);
    const pools = keyPools(rand);
    const a: FleetInstance = fleetInstance(join(tmp.dir, String(seed)), 'a');
    const b: FleetInstance = fleetInstance(join(tmp.dir, String(seed)), 'b');
    const dataA = randomData(rand, pools, 0.5);
    const dataB = randomData(rand, pools, 0.5);
    writeLmdb(a.mainPath, dataA);
    writeLmdb(b.mainPath, dataB);
    syncOnce(a); // the storage's only snapshot: exactly dataA
    const check = (local: Data, phase: string) => {
      const { doc } = verifyJson(b, '--max-keys', '100000');
      const vsA = doc.lmdbs[0]!.instances.find((x) => x.instance === 'a')!;
      const want = expected(local, dataA);
      assert.deepEqual(actual(vsA), want, `seed ${seed}, ${phase}`);
      assert.equal(vsA.verdict, want.counts.snapshotWins! + want.counts.missingHere! > 0 ? 'differs'
        : want.differing.length + want.counts.onlyHere! === 0 ? 'equal' : 'covered', `seed ${seed}, ${phase}`);
    };
    check(dataB, 'b before merging');

    syncOnce(b);
    const merged = mergeInto(dataB, dataA);
    const changed = new Map(merged);
    const removed: string[] = [];
    for (const [dbi, keys] of pools) {
      for (let i = 0; i < 12; i++) {
        const k = `${dbi}/${keys[Math.floor(rand() * keys.length)]!.toString('hex')}`;
        if (rand() < 0.25) {
          changed.delete(k);
          removed.push(k);
        } else {
          const e = randomEntry(rand, 8);
          changed.set(k, e);
          if (removed.includes(k)) removed.splice(removed.indexOf(k), 1);
        }
      }
    }
    writeLmdb(b.mainPath, new Map([...changed].filter(([k]) => changed.get(k) !== merged.get(k))), removed);
    check(changed, 'b after merging and random local changes');
  });
});
