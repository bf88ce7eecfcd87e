// Shared by the restore tests: snapshots with chosen names and contents, and the content of a restored
// LMDB read with a header parser of its own (nothing from src/ beyond opening the LMDB).
import { Env } from '../../src/lmdb/index.js';
import type { Storage } from '../../src/storage/index.js';
import { encode } from '../snapshot/helpers.js';
import type { Expected } from '../chaos/oracle.js';

/** [key, value or null for a deletion marker, timestamp] */
export type Row = [key: string, value: string | null, ts: bigint];

/** Stores a snapshot (or delta: the name decides) holding `rows` of DBI `dbi`, in key order. */
export async function putSnapshot(storage: Storage, name: string, rows: Row[], dbi = 'd'): Promise<void> {
  const entries = rows
    .map(([key, value, ts]) => ({ key: Buffer.from(key), value: Buffer.from(value ?? ''), ts, flags: value === null ? 1 : 0 }))
    .sort((a, b) => Buffer.compare(a.key, b.key));
  const meta = {
    generationId: 'G-0000000000000000', instanceId: 'x', hostname: 'h', lmdbTxnId: 1n, timestampNano: 1n, databaseName: 'main', fromLmdbTxnId: 0n,
  };
  await storage.store(name, await encode([{ name: dbi, flags: 0, transform: '', entries }], {}, meta));
}

/** A native-header value: [timestamp, deleted, application value (hex)]. */
export function parseNativeValue(v: Buffer): Expected {
  if (v.length < 24 || v[16] !== 0) throw new Error(`not a native value: ${v.toString('hex')}`);
  const blocks = v.readUInt16BE(22);
  return { ts: v.readBigUInt64BE(0), deleted: (v[17]! & 1) !== 0, value: v.subarray(24 + blocks * 8).toString('hex') };
}

/** Every entry of every DBI of the LMDB at path: `dbi/keyhex` → raw value. `_sync*` DBIs only with includePrivate. */
export function rawContents(path: string, opts: { noSubdir?: boolean; includePrivate?: boolean } = {}): Map<string, Buffer> {
  const env = Env.open(path, { noSubdir: opts.noSubdir, readOnly: true, maxDbs: 64 });
  try {
    const out = new Map<string, Buffer>();
    const names = env.listDbis().filter((n) => opts.includePrivate || !n.startsWith('_sync'));
    const dbis = names.map((n) => [n, env.openDbi(n)!] as const);
    env.read((txn) => {
      for (const [name, dbi] of dbis) for (const e of txn.entries(dbi)) out.set(`${name}/${e.key.toString('hex')}`, Buffer.from(e.value));
    });
    return out;
  } finally {
    env.close();
  }
}

/** The restored state of a native-mode LMDB: `dbi/keyhex` → entry (the oracle's form). */
export function nativeState(path: string, opts: { noSubdir?: boolean } = {}): Map<string, Expected> {
  return new Map([...rawContents(path, opts)].map(([id, v]) => [id, parseNativeValue(v)]));
}

/** `dbi/keyhex` → `value@ts` or `<deleted>@ts`, for readable assertions on small states. */
export function describeState(state: Map<string, Expected>): Record<string, string> {
  return Object.fromEntries([...state].sort(([a], [b]) => (a < b ? -1 : 1)).map(([id, e]) => {
    const [dbi, keyHex] = id.split('/') as [string, string];
    return [`${dbi}/${Buffer.from(keyHex, 'hex').toString()}`, `${e.deleted ? '<deleted>' : Buffer.from(e.value, 'hex').toString()}@${e.ts}`];
  }));
}
