// Fuzz: hundreds of seeded mutants of real snapshots (a Go-written fixture and generated ones) are
// received into an LMDB holding known data. For every mutant: no crash, no hang, bounded memory, at most
// one error line and it names the file, and the LMDB either unchanged or equal to the correct merge.
// What is valid and what the correct merge is are decided here, from an independent decoding
// (protobufjs + zlib, with the format rules written out below), never by src/.
// Seed: LS_TEST_SEED (printed); count: LS_FUZZ_MUTANTS (default 400).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGzip, gunzipSync, gzipSync } from 'node:zlib';
import { after, test } from 'node:test';
import protobuf from 'protobufjs';
import { MDB_INTEGERKEY, type Env } from '../../src/lmdb/index.js';
import { createLogger } from '../../src/log/logger.js';
import { FIXTURES, rng } from '../snapshot/helpers.js';
import { Instance, TrackedStorage } from '../sync/engine-harness.js';
import { VirtualClock } from '../sync/virtual-clock.js';

const SEED = Number(process.env.LS_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
const MUTANTS = Number(process.env.LS_FUZZ_MUTANTS ?? 400);
console.log(`# fuzz seed ${SEED} (LS_TEST_SEED=${SEED} to repeat), ${MUTANTS} mutants`);
const NAME = 'main__fuzz__20261203-120000-000000000__GX.pb.gz';
const dir = mkdtempSync(join(tmpdir(), 'ls-fuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// ---------- the independent model of the format (facts note: protobuf schema and merge rule) ----------

const root = protobuf.parse(`
syntax = "proto3";
message KV { bytes key = 1; bytes value = 2; fixed64 timestampNano = 3; uint32 flags = 4; }
message DBI { string name = 1; repeated KV entries = 2; uint64 flags = 3; string transform = 4; }
message Meta { string generationID = 1; string instanceID = 2; string hostname = 3; int64 lmdbTxnID = 4;
               fixed64 timestampNano = 5; string databaseName = 7; int64 fromLmdbTxnID = 8; }
message Snapshot { uint32 formatVersion = 1; Meta meta = 2; repeated DBI databases = 3; uint32 compatVersion = 4; }
`).root;
const SnapshotType = root.lookupType('Snapshot');

interface KV { key: Buffer; value: Buffer; ts: bigint; flags: number }
interface DbiModel { name: string; flags: bigint; transform: string; entries: KV[] }
interface SnapModel { formatVersion: number; compatVersion: number; dbis: DbiModel[] }

function encodeModel(m: SnapModel): Buffer {
  const msg = SnapshotType.fromObject({
    formatVersion: m.formatVersion, compatVersion: m.compatVersion,
    meta: { generationID: 'GX', instanceID: 'fuzz', hostname: 'h', lmdbTxnID: 3, timestampNano: '1795683062524196773', databaseName: 'main' },
    databases: m.dbis.map((d) => ({
      name: d.name, flags: d.flags.toString(), transform: d.transform,
      entries: d.entries.map((e) => ({ key: e.key, value: e.value, timestampNano: e.ts.toString(), flags: e.flags })),
    })),
  });
  return Buffer.from(SnapshotType.encode(msg).finish());
}

/** The snapshot as an independent reader sees it, or why it cannot be read. */
function decodeIndependently(gz: Buffer): SnapModel | string {
  let raw: Buffer;
  try {
    raw = gunzipSync(gz);
  } catch (e) {
    return `gzip: ${(e as Error).message}`;
  }
  let obj: Record<string, unknown>;
  try {
    obj = SnapshotType.toObject(SnapshotType.decode(raw), { longs: String, bytes: Buffer, defaults: true });
  } catch (e) {
    return `protobuf: ${(e as Error).message}`;
  }
  const dbis = (obj.databases as Array<Record<string, unknown>>).map((d) => ({
    name: d.name as string, flags: BigInt(d.flags as string), transform: d.transform as string,
    entries: (d.entries as Array<Record<string, unknown>>).map((e) => ({
      key: e.key as Buffer, value: e.value as Buffer, ts: BigInt(e.timestampNano as string), flags: e.flags as number,
    })),
  }));
  return { formatVersion: obj.formatVersion as number, compatVersion: obj.compatVersion as number, dbis };
}

type State = Map<string, string>; // `dbi/keyhex` → `ts:L|D:valuehex`
const entryText = (ts: bigint, deleted: boolean, value: Buffer) => `${ts}:${deleted ? 'D' : 'L'}:${deleted ? '' : value.toString('hex')}`;

function keyOrder(flags: bigint): (a: Buffer, b: Buffer) => number {
  if ((flags & BigInt(MDB_INTEGERKEY)) !== 0n) {
    return (a, b) => (a.length !== b.length ? a.length - b.length : Buffer.compare(Buffer.from(a).reverse(), Buffer.from(b).reverse()));
  }
  if ((flags & 0x02n) !== 0n) return (a, b) => Buffer.compare(Buffer.from(a).reverse(), Buffer.from(b).reverse());
  return (a, b) => Buffer.compare(a, b);
}

/**
 * The rules a receiver in native mode must apply, written out independently: undefined when the snapshot
 * can be merged, else why not. `localFlags`/`localKeySize` describe the target LMDB's DBIs.
 */
function whyInvalid(m: SnapModel, localFlags: Map<string, bigint>, localKeySize: Map<string, number>): string | undefined {
  if (m.formatVersion < 1 || m.formatVersion > 3) return 'formatVersion';
  if (m.compatVersion > 1) return 'compatVersion';
  const names = new Set<string>();
  for (const d of m.dbis) {
    if (d.name.startsWith('_sync')) continue;
    if (d.name === '' || Buffer.byteLength(d.name) > 511 || d.name.includes('\0')) return 'DBI name';
    if (names.has(d.name)) return 'DBI twice';
    names.add(d.name);
    if (d.flags >= 1n << 32n || (d.flags & 0x04n) !== 0n || d.transform !== '') return 'flags/transform';
    const local = localFlags.get(d.name);
    if (local !== undefined && local !== d.flags) return 'flags differ from the local DBI';
    const cmp = keyOrder(d.flags);
    const integer = (d.flags & BigInt(MDB_INTEGERKEY)) !== 0n;
    let size = localKeySize.get(d.name);
    for (const [i, e] of d.entries.entries()) {
      if (e.key.length < 1 || e.key.length > 511) return 'key length';
      if (integer) {
        if (e.key.length !== 4 && e.key.length !== 8) return 'INTEGERKEY size';
        if (size !== undefined && size !== e.key.length) return 'INTEGERKEY sizes differ';
        size = e.key.length;
      }
      if (i > 0 && cmp(d.entries[i - 1]!.key, e.key) >= 0) return 'key order';
    }
  }
  return undefined;
}

/** Last writer wins (newest; then lower value; then deletion), as every instance must apply it. */
function merged(local: State, m: SnapModel): State {
  const out = new Map(local);
  for (const d of m.dbis) {
    if (d.name.startsWith('_sync')) continue;
    for (const e of d.entries) {
      const deleted = m.formatVersion === 1 ? e.value.length === 0 : (e.flags & 1) !== 0;
      const id = `${d.name}/${e.key.toString('hex')}`;
      const mine = out.get(id);
      const theirs = entryText(e.ts, deleted, e.value);
      if (mine === undefined || beats(theirs, mine)) out.set(id, theirs);
    }
  }
  return out;
}

function beats(a: string, b: string): boolean {
  const [ta, ka, va] = a.split(':') as [string, string, string];
  const [tb, kb, vb] = b.split(':') as [string, string, string];
  if (BigInt(ta) !== BigInt(tb)) return BigInt(ta) > BigInt(tb);
  const c = Buffer.compare(Buffer.from(va, 'hex'), Buffer.from(vb, 'hex'));
  if (c !== 0) return c < 0;
  return ka === 'D' && kb === 'L';
}

/** What the LMDB holds, parsing the native headers here (bytes 0-7 timestamp, 17 flags, 22-23 extension blocks). */
function readState(env: Env): State {
  const out: State = new Map();
  for (const name of env.listDbis()) {
    if (name.startsWith('_sync')) continue;
    const dbi = env.openDbi(name)!;
    env.read((txn) => {
      for (const { key, value } of txn.entries(dbi)) {
        const deleted = (value[17]! & 1) !== 0;
        out.set(`${name}/${key.toString('hex')}`, entryText(value.readBigUInt64BE(0), deleted, value.subarray(24 + 8 * value.readUInt16BE(22))));
      }
    });
  }
  return out;
}

// ---------- base snapshots and local data ----------

const int8 = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

function localData(): Array<{ dbi: string; flags: number; key: Buffer; ts: bigint; deleted: boolean; value: Buffer }> {
  return [
    { dbi: 'data', flags: 0, key: Buffer.from('k3'), ts: 1795683055644425901n, deleted: false, value: Buffer.from('v3-updated') },
    { dbi: 'data', flags: 0, key: Buffer.from('k4'), ts: 1795683100000000000n, deleted: false, value: Buffer.from('local newer') },
    { dbi: 'data', flags: 0, key: Buffer.from('zz'), ts: 5n, deleted: false, value: Buffer.from('local only') },
    { dbi: 'plain', flags: 0, key: Buffer.alloc(40, 0x61), ts: 100n, deleted: false, value: Buffer.from('x') },
    { dbi: 'plain', flags: 0, key: Buffer.alloc(41, 0x61), ts: 100n, deleted: true, value: Buffer.alloc(0) },
    { dbi: 'ints', flags: MDB_INTEGERKEY, key: int8(256), ts: 100n, deleted: false, value: Buffer.from('i256') },
    { dbi: 'ints', flags: MDB_INTEGERKEY, key: int8(1), ts: 100n, deleted: false, value: Buffer.from('i1') },
  ];
}

function generatedBase(r: () => number): SnapModel {
  const keys = new Map<string, Buffer>();
  const add = (k: Buffer) => keys.set(k.toString('hex'), k);
  add(Buffer.alloc(40, 0x61));
  add(Buffer.alloc(41, 0x61));
  while (keys.size < 30) {
    const base = [...keys.values()][Math.floor(r() * keys.size)]!;
    const len = 1 + Math.floor(r() * (r() < 0.2 ? 511 : 60));
    const k = r() < 0.3 ? base.subarray(0, Math.max(1, Math.floor(r() * base.length))) : Buffer.from(Array.from({ length: len }, () => Math.floor(r() * 256)));
    add(k);
  }
  const entry = (key: Buffer): KV => {
    const deleted = r() < 0.2;
    return { key, value: deleted ? Buffer.alloc(0) : Buffer.from(Array.from({ length: Math.floor(r() * 50) }, () => Math.floor(r() * 256))), ts: 99n + BigInt(Math.floor(r() * 3)), flags: deleted ? 1 : 0 };
  };
  const ints = [1, 2, 255, 256, 65536, 2 ** 32, 2 ** 40].map((n) => entry(int8(n)));
  return {
    formatVersion: 3, compatVersion: 1,
    dbis: [
      { name: 'plain', flags: 0n, transform: '', entries: [...keys.values()].sort((a, b) => Buffer.compare(a, b)).map(entry) },
      { name: 'ints', flags: BigInt(MDB_INTEGERKEY), transform: '', entries: ints },
    ],
  };
}

// ---------- mutations ----------

const clone = (m: SnapModel): SnapModel => ({ ...m, dbis: m.dbis.map((d) => ({ ...d, entries: d.entries.map((e) => ({ ...e })) })) });
const pick = <T>(r: () => number, xs: T[]): T => xs[Math.floor(r() * xs.length)]!;

const MODEL_MUTATIONS: Record<string, (m: SnapModel, r: () => number) => void> = {
  'unchanged': () => {},
  'swap keys': (m, r) => {
    const d = pick(r, m.dbis.filter((x) => x.entries.length > 1));
    const i = Math.floor(r() * (d.entries.length - 1));
    [d.entries[i], d.entries[i + 1]] = [d.entries[i + 1]!, d.entries[i]!];
  },
  'duplicate key': (m, r) => {
    const d = pick(r, m.dbis.filter((x) => x.entries.length > 0));
    const i = Math.floor(r() * d.entries.length);
    d.entries.splice(i, 0, { ...d.entries[i]!, ts: d.entries[i]!.ts + 1n });
  },
  'over-long key': (m) => {
    const d = m.dbis.find((x) => x.flags === 0n)!;
    d.entries.push({ key: Buffer.alloc(512, 0xff), value: Buffer.from('v'), ts: 1n, flags: 0 });
  },
  'empty key': (m) => {
    m.dbis.find((x) => x.flags === 0n)!.entries.unshift({ key: Buffer.alloc(0), value: Buffer.from('v'), ts: 1n, flags: 0 });
  },
  'INTEGERKEY key of 5 bytes': (m) => {
    m.dbis.find((x) => x.name === 'ints')?.entries.push({ key: Buffer.alloc(5, 0xff), value: Buffer.from('v'), ts: 1n, flags: 0 });
  },
  'INTEGERKEY key of 4 bytes among 8': (m) => {
    m.dbis.find((x) => x.name === 'ints')?.entries.push({ key: Buffer.alloc(4, 0xff), value: Buffer.from('v'), ts: 1n, flags: 0 });
  },
  '_sync DBI name': (m, r) => {
    pick(r, m.dbis).name = '_sync_shadow_plain';
  },
  'formatVersion 4': (m) => {
    m.formatVersion = 4;
  },
  'formatVersion 1': (m) => {
    m.formatVersion = 1;
  },
  'compatVersion 2': (m) => {
    m.compatVersion = 2;
  },
  'DUPSORT flag': (m, r) => {
    pick(r, m.dbis).flags |= 0x04n;
  },
  'transform': (m, r) => {
    pick(r, m.dbis).transform = 'dupsort_hack_v1';
  },
  'flags beyond 32 bits': (m, r) => {
    pick(r, m.dbis).flags = 1n << 63n;
  },
  'flags differ from local': (m) => {
    const d = m.dbis.find((x) => x.name === 'ints');
    if (d) d.flags = 0n;
  },
  'DBI twice': (m) => {
    m.dbis.push(clone(m).dbis[0]!);
  },
  'empty DBI name': (m) => {
    m.dbis[0]!.name = '';
  },
  'timestamp extremes': (m, r) => {
    for (const d of m.dbis) for (const e of d.entries) e.ts = pick(r, [0n, 1n, (1n << 64n) - 1n, e.ts]);
  },
  'new DBI': (m) => {
    m.dbis.push({ name: 'fresh', flags: 0n, transform: '', entries: [{ key: Buffer.from('n'), value: Buffer.from('new'), ts: 3n, flags: 0 }] });
  },
  'empty new DBI': (m) => {
    m.dbis.push({ name: 'empty', flags: 0n, transform: '', entries: [] });
  },
  'deleted with a value': (m, r) => {
    const d = pick(r, m.dbis.filter((x) => x.entries.length > 0));
    const e = pick(r, d.entries);
    e.flags = 1;
    e.value = Buffer.from('ghost');
  },
};

function writeVarint(n: bigint): Buffer {
  const out: number[] = [];
  do {
    let b = Number(n & 0x7fn);
    n >>= 7n;
    if (n > 0n) b |= 0x80;
    out.push(b);
  } while (n > 0n);
  return Buffer.from(out);
}

const BYTE_MUTATIONS: Record<string, (raw: Buffer, gz: Buffer, r: () => number) => Buffer> = {
  'gzip bit flip': (_raw, gz, r) => {
    const b = Buffer.from(gz);
    b[Math.floor(r() * b.length)]! ^= 1 << Math.floor(r() * 8);
    return b;
  },
  'gzip truncated': (_raw, gz, r) => gz.subarray(0, Math.floor(r() * gz.length)),
  'gzip extra empty member': (_raw, gz) => Buffer.concat([gz, gzipSync(Buffer.alloc(0))]),
  'not gzip': (raw) => raw,
  'protobuf bit flip': (raw, _gz, r) => {
    const b = Buffer.from(raw);
    for (let n = 1 + Math.floor(r() * 3); n > 0; n--) b[Math.floor(r() * b.length)]! ^= 1 << Math.floor(r() * 8);
    return gzipSync(b);
  },
  'protobuf truncated': (raw, _gz, r) => gzipSync(raw.subarray(0, Math.floor(r() * raw.length))),
  'huge length prefix': (raw, _gz, r) => {
    const at = Math.floor(r() * raw.length);
    const len = writeVarint(BigInt(Math.floor(r() * 2 ** 20)) << BigInt(Math.floor(r() * 40)));
    return gzipSync(Buffer.concat([raw.subarray(0, at), len, raw.subarray(at + len.length)]));
  },
  'unknown fields appended': (raw) => gzipSync(Buffer.concat([raw, Buffer.from([0x2a, 0x03, 1, 2, 3, 0x30, 0x05])])),
};

/** A declared 1 GiB entry (refused before anything is allocated) and ~256 MiB of zeros in 1 MiB values. */
async function bombs(): Promise<Array<[string, Buffer]>> {
  const declared = gzipSync(Buffer.concat([Buffer.from([0x08, 0x03, 0x1a]), writeVarint(1n << 31n), Buffer.from([0x0a, 1, 0x62, 0x12]),
    writeVarint(1n << 30n), Buffer.from([0x0a, 1, 0x6b, 0x12]), writeVarint((1n << 30n) - 4n), Buffer.alloc(1000)]));
  const values = 256;
  const value = 1 << 20;
  const kvBody = 3 + 2 + writeVarint(BigInt(value)).length + value;
  const kv = Buffer.concat([Buffer.from([0x12]), writeVarint(BigInt(kvBody))]);
  const dbiLen = 3 + values * (kv.length + kvBody);
  function* stream(): Generator<Buffer> {
    yield Buffer.concat([Buffer.from([0x08, 0x03, 0x1a]), writeVarint(BigInt(dbiLen)), Buffer.from([0x0a, 1, 0x62])]);
    const zeros = Buffer.alloc(value);
    for (let i = 0; i < values; i++) {
      yield Buffer.concat([kv, Buffer.from([0x0a, 3, 0x6b, (i >> 8) & 0xff, i & 0xff]), Buffer.from([0x12]), writeVarint(BigInt(value))]);
      yield zeros;
    }
  }
  const parts: Buffer[] = [];
  for await (const c of Readable.from(stream()).pipe(createGzip({ level: 9 }))) parts.push(c as Buffer);
  return [['bomb: 1 GiB entry declared', declared], ['bomb: 256 MiB of zeros', Buffer.concat(parts)]];
}

// ---------- the run ----------

test('fuzz: mutated snapshots never crash, hang, leak memory, or half-merge', { timeout: 900_000 }, async () => {
  const r = rng(SEED);
  const goFixture = readFileSync(join(FIXTURES, readdirSync(FIXTURES).find((f) => f.startsWith('nat__') && f.endsWith('.pb.gz'))!));
  const goModel = decodeIndependently(goFixture);
  assert.ok(typeof goModel !== 'string', `the Go fixture decodes independently: ${typeof goModel === 'string' ? goModel : 'it does'}`);
  const cases: Array<[string, Buffer, SnapModel | undefined]> = [];
  for (let i = 0; cases.length < MUTANTS; i++) {
    const base = i % 3 === 0 ? clone(goModel) : generatedBase(r);
    const kinds = Object.keys(MODEL_MUTATIONS);
    if (i % 2 === 0) {
      const kind = kinds[i / 2 % kinds.length]!;
      const m = clone(base);
      if (m.dbis.some((d) => d.entries.length > 1)) MODEL_MUTATIONS[kind]!(m, r);
      cases.push([kind, gzipSync(encodeModel(m)), m]);
    } else {
      const byteKinds = Object.keys(BYTE_MUTATIONS);
      const kind = byteKinds[((i - 1) / 2) % byteKinds.length]!;
      const raw = encodeModel(base);
      cases.push([kind, BYTE_MUTATIONS[kind]!(raw, gzipSync(raw), r), undefined]);
    }
  }
  for (const [kind, buf] of await bombs()) cases.push([kind, buf, undefined]);

  const stats = new Map<string, { accepted: number; refused: number }>();
  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
  let maxMs = 0;
  try {
    for (const [n, [kind, buf]] of cases.entries()) {
      const where = `seed ${SEED} mutant ${n} (${kind})`;
      const clock = new VirtualClock();
      const storage = new TrackedStorage(clock);
      await storage.inner.store(NAME, buf);
      const inst = new Instance('target', join(dir, `m${n}`), storage, clock, 2 ** 30);
      const lines: string[] = [];
      try {
        const localFlags = new Map<string, bigint>();
        const localKeySize = new Map<string, number>();
        inst.env.write((txn) => {
          for (const e of localData()) {
            const dbi = txn.openDbi(e.dbi, { create: true, flags: e.flags })!;
            localFlags.set(e.dbi, BigInt(e.flags));
            if (e.flags & MDB_INTEGERKEY) localKeySize.set(e.dbi, e.key.length);
            const header = Buffer.alloc(24);
            header.writeBigUInt64BE(e.ts, 0);
            header[17] = e.deleted ? 1 : 0;
            txn.put(dbi, e.key, Buffer.concat([header, e.deleted ? Buffer.alloc(0) : e.value]));
          }
        });
        const before = readState(inst.env);
        const started = Date.now();
        inst.start({ receiveOnly: true, onlyOnce: true, log: createLogger({ level: 'info', format: 'logfmt', stream: { write: (l: string) => lines.push(l) } }) });
        let guard: NodeJS.Timeout | undefined;
        const finished = await Promise.race([
          clock.runUntil(() => inst.done, 120_000),
          new Promise<boolean>((res) => (guard = setTimeout(() => res(false), 60_000))),
        ]).finally(() => clearTimeout(guard));
        maxMs = Math.max(maxMs, Date.now() - started);
        assert.ok(finished, `${where}: the receive did not finish (hang)`);
        assert.equal(inst.failure, undefined, `${where}: the run failed: ${String(inst.failure)}\n${lines.join('')}`);
        const after = readState(inst.env);
        const independent = decodeIndependently(buf);
        const invalid = typeof independent === 'string' ? independent : whyInvalid(independent, localFlags, localKeySize);
        const expected = invalid === undefined && typeof independent !== 'string' ? merged(before, independent) : undefined;
        const unchanged = same(after, before);
        const mergedRight = expected !== undefined && same(after, expected);
        assert.ok(unchanged || mergedRight, `${where}: the LMDB is neither unchanged nor the correct merge ` +
          `(independent decoder: ${invalid ?? 'valid'})\n${diff(after, expected ?? before)}`);
        const errors = lines.filter((l) => /level=(error|fatal)/.test(l));
        const accepted = lines.some((l) => l.includes('msg="snapshot loaded"'));
        if (accepted) {
          assert.equal(errors.length, 0, `${where}: accepted, yet errors:\n${errors.join('')}`);
          // A merge that changed nothing (all entries already held) is also "unchanged"; otherwise it must be the right one.
          assert.ok(mergedRight || (unchanged && expected !== undefined), `${where}: accepted a snapshot the independent decoder refuses (${invalid})`);
        } else {
          assert.equal(errors.length, 1, `${where}: refused with ${errors.length} error lines:\n${lines.join('')}`);
          assert.ok(errors[0]!.includes(NAME), `${where}: the error line names the file: ${errors[0]}`);
        }
        const s = stats.get(kind) ?? { accepted: 0, refused: 0 };
        if (accepted) s.accepted++;
        else s.refused++;
        stats.set(kind, s);
      } finally {
        await inst.stop();
        inst.close();
        rmSync(join(dir, `m${n}`), { recursive: true, force: true });
      }
    }
  } finally {
    clearInterval(sampler);
  }
  const total = [...stats.values()].reduce((a, s) => ({ accepted: a.accepted + s.accepted, refused: a.refused + s.refused }), { accepted: 0, refused: 0 });
  console.log(`# fuzz: ${cases.length} mutants, ${total.accepted} merged, ${total.refused} refused, peak RSS ${Math.round(peakRss / 2 ** 20)} MiB, slowest ${maxMs} ms`);
  for (const [kind, s] of [...stats].sort()) console.log(`#   ${kind}: ${s.accepted} merged, ${s.refused} refused`);
  assert.ok(total.accepted > cases.length / 10 && total.refused > cases.length / 4, 'the mutants exercise both outcomes');
  assert.ok(peakRss < 600 * 2 ** 20, `peak RSS ${Math.round(peakRss / 2 ** 20)} MiB`);
});

function same(a: State, b: State): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

function diff(got: State, want: State): string {
  const out: string[] = [];
  for (const [k, v] of want) if (got.get(k) !== v) out.push(`  ${k}: want ${v}, got ${got.get(k) ?? '(missing)'}`);
  for (const [k, v] of got) if (!want.has(k)) out.push(`  ${k}: unexpected ${v}`);
  return out.slice(0, 8).join('\n');
}
