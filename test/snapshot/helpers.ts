import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import type { EntryBatch } from '../../src/snapshot/batch.js';
import { decodeSnapshotToMemory, type DecodeOptions, type MemorySnapshot } from '../../src/snapshot/decode.js';
import { encodeSnapshot, type EncodeOptions } from '../../src/snapshot/encode.js';
import type { DbiSource, SnapshotMeta } from '../../src/snapshot/types.js';

/** The repository root (tests run from dist/test/snapshot/). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const PROTO = resolve(ROOT, 'src/snapshot/snapshot.proto');
/** Snapshots written by the Go implementation 0.4.4, with its own dumps (see the README there). */
export const FIXTURES = resolve(ROOT, 'test/fixtures/go-0.4.4');

export interface Entry {
  key: Buffer;
  value: Buffer;
  ts: bigint;
  flags: number;
}

export interface Dbi {
  name: string;
  flags: number;
  transform: string;
  entries: Entry[];
}

/** Packs entries into one EntryBatch (keys and values in one buffer, as the LMDB binding does). */
export function makeBatch(entries: Entry[]): EntryBatch {
  const n = entries.length;
  const size = entries.reduce((s, e) => s + e.key.length + e.value.length, 0);
  const b: EntryBatch = {
    count: n, buf: Buffer.alloc(size),
    keyOff: new Uint32Array(n), keyLen: new Uint32Array(n), valOff: new Uint32Array(n), valLen: new Uint32Array(n),
    tsHi: new Uint32Array(n), tsLo: new Uint32Array(n), flags: new Uint8Array(n),
  };
  let p = 0;
  entries.forEach((e, i) => {
    b.keyOff[i] = p;
    b.keyLen[i] = e.key.length;
    p += e.key.copy(b.buf, p);
    b.valOff[i] = p;
    b.valLen[i] = e.value.length;
    p += e.value.copy(b.buf, p);
    b.tsHi[i] = Number(e.ts >> 32n);
    b.tsLo[i] = Number(e.ts & 0xffffffffn);
    b.flags[i] = e.flags;
  });
  return b;
}

/** A DbiSource over entries, in batches of `perBatch`. */
export function source(dbi: Dbi, perBatch = 3): DbiSource {
  return {
    name: dbi.name, flags: dbi.flags, transform: dbi.transform,
    *batches() {
      for (let i = 0; i < dbi.entries.length; i += perBatch) yield makeBatch(dbi.entries.slice(i, i + perBatch));
    },
  };
}

export async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c);
  return Buffer.concat(parts);
}

export const META: SnapshotMeta = {
  generationId: 'G-0000000000000000', instanceId: 'inst-a', hostname: 'host.example', lmdbTxnId: 42n,
  timestampNano: 1795683062524196773n, databaseName: 'main', fromLmdbTxnId: 7n,
};

export async function encode(dbis: Dbi[], opts: EncodeOptions = {}, meta = META, perBatch = 3): Promise<Buffer> {
  return collect(encodeSnapshot(meta, dbis.map((d) => source(d, perBatch)), opts));
}

export function decodeBuffer(buf: Buffer, opts: Partial<DecodeOptions> = {}): Promise<MemorySnapshot> {
  return decodeSnapshotToMemory(Readable.from([buf]), { name: 'test.pb.gz', ...opts });
}

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(r: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

/** Random DBI: sorted unique keys, some empty values / deletions / zero timestamps. */
export function randomDbi(r: () => number, name: string, n: number): Dbi {
  const keys = new Map<string, Buffer>();
  while (keys.size < n) {
    const k = randomBytes(r, 1 + Math.floor(r() * 24));
    keys.set(k.toString('hex'), k);
  }
  const sorted = [...keys.values()].sort((a, b) => Buffer.compare(a, b));
  const entries = sorted.map((key) => {
    const deleted = r() < 0.15;
    const tsKind = r();
    const ts = tsKind < 0.1 ? 0n : tsKind < 0.2 ? BigInt(Math.floor(r() * 1000)) : 0xffff_ffff_ffff_ffffn - BigInt(Math.floor(r() * 1e9)) * 1000n;
    return { key, value: deleted ? Buffer.alloc(0) : randomBytes(r, Math.floor(r() * (r() < 0.1 ? 400 : 40))), ts, flags: deleted ? 1 : 0 };
  });
  return { name, flags: 0, transform: '', entries };
}

export function entriesOf(d: MemorySnapshot['dbis'][number]): Entry[] {
  return d.entries.map((e) => ({ key: e.key, value: e.value, ts: e.timestampNano, flags: e.flags }));
}
