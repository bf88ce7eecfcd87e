/**
 * LMDB layer benchmark (not a test): node dist/bench/lmdb.js [entries]
 *
 * 1. write+commit of N entries (16-byte keys in pseudo-random order, 100-byte values) in one
 *    txn, packed into KVBatches and written with txn.putBatch (many puts per native call);
 * 2. full scan of them with txn.scan (the bulk scan);
 * 3. N random point reads with txn.getInto (a reusable output buffer), and txn.get for reference;
 * 4. the same write (and, for reference, scan and reads) done by a small C program against
 *    liblmdb directly (compiled with cc now), run before and after the TypeScript side.
 * Targets (2 cores): write within 1.3x of C, scan < 0.3 s, random reads < 2 s.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Env, KVBatchWriter } from '../src/lmdb/index.js';

const N = Number(process.argv[2] ?? 1_000_000);
const KEY = 16;
const VAL = 100;
const MAP_SIZE = 2 ** 30;

/** murmur3 fmix32: the same key generator is used by the C program below. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function writeKey(buf: Buffer, at: number, i: number): void {
  buf.writeUInt32BE(fmix32(i), at);
  buf.writeUInt32BE(fmix32(i ^ 0x5bd1e995), at + 4);
  buf.writeUInt32BE(i >>> 0, at + 8);
  buf.writeUInt32BE(0xa5a5a5a5, at + 12);
}

function writeValue(buf: Buffer, at: number, i: number): void {
  buf.fill(i & 0xff, at, at + VAL);
  buf.writeUInt32BE(i >>> 0, at);
}

const C_SOURCE = String.raw`
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <time.h>
static uint32_t fmix32(uint32_t h) { h ^= h >> 16; h *= 0x85ebca6bu; h ^= h >> 13; h *= 0xc2b2ae35u; h ^= h >> 16; return h; }
static void be32(unsigned char *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
#define CHECK(x) do { int rc_ = (x); if (rc_) { fprintf(stderr, "%s: %s\n", #x, mdb_strerror(rc_)); return 1; } } while (0)
int main(int argc, char **argv) {
  unsigned n = (unsigned)atol(argv[2]);
  MDB_env *env; MDB_txn *txn; MDB_dbi dbi;
  CHECK(mdb_env_create(&env));
  CHECK(mdb_env_set_mapsize(env, (size_t)atoll(argv[3])));
  CHECK(mdb_env_set_maxdbs(env, 4));
  CHECK(mdb_env_open(env, argv[1], MDB_NOTLS, 0664));
  CHECK(mdb_txn_begin(env, NULL, 0, &txn));
  CHECK(mdb_dbi_open(txn, "bench", MDB_CREATE, &dbi));
  CHECK(mdb_txn_commit(txn));
  unsigned char k[16], v[100];
  double t0 = now();
  CHECK(mdb_txn_begin(env, NULL, 0, &txn));
  for (unsigned i = 0; i < n; i++) {
    be32(k, fmix32(i)); be32(k + 4, fmix32(i ^ 0x5bd1e995u)); be32(k + 8, i); be32(k + 12, 0xa5a5a5a5u);
    memset(v, i & 0xff, sizeof v); be32(v, i);
    MDB_val kv = {16, k}, vv = {100, v};
    CHECK(mdb_put(txn, dbi, &kv, &vv, 0));
  }
  CHECK(mdb_txn_commit(txn));
  double write = now() - t0;
  /* full cursor scan, then random point reads (for reference) */
  MDB_cursor *cur; MDB_val kv, vv; size_t count = 0, bytes = 0;
  t0 = now();
  CHECK(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn));
  CHECK(mdb_cursor_open(txn, dbi, &cur));
  while (mdb_cursor_get(cur, &kv, &vv, count ? MDB_NEXT : MDB_FIRST) == 0) { count++; bytes += kv.mv_size + vv.mv_size; }
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  double scan = now() - t0;
  uint32_t x = 0x9e3779b9u; size_t found = 0;
  t0 = now();
  CHECK(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn));
  for (unsigned r = 0; r < n; r++) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    unsigned i = x % n;
    be32(k, fmix32(i)); be32(k + 4, fmix32(i ^ 0x5bd1e995u)); be32(k + 8, i); be32(k + 12, 0xa5a5a5a5u);
    kv.mv_size = 16; kv.mv_data = k;
    if (mdb_get(txn, dbi, &kv, &vv) == 0) { memcpy(v, vv.mv_data, vv.mv_size); found++; }
  }
  mdb_txn_abort(txn);
  double reads = now() - t0;
  if (count != n || found != n) { fprintf(stderr, "C check failed\n"); return 1; }
  printf("%.3f %.3f %.3f\n", write, scan, reads);
  mdb_env_close(env);
  return 0;
}
`;

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function fmt(s: number): string {
  return `${s.toFixed(3)} s`;
}

function benchTs(dir: string): { write: number; scan: number; reads: number; readsAlloc: number } {
  const env = Env.open(join(dir, 'ts'), { create: true, mapSize: MAP_SIZE, maxDbs: 4 });
  try {
    const dbi = env.openDbi('bench', { create: true })!;

    // 1. write + commit, 64Ki entries per native call
    const CHUNK = 65536;
    const w = new KVBatchWriter(CHUNK * (KEY + VAL), CHUNK);
    let t0 = process.hrtime.bigint();
    env.write((txn) => {
      for (let i = 0; i < N; ) {
        w.reset();
        const end = Math.min(N, i + CHUNK);
        const buf = w.batch.buf;
        for (; i < end; i++) {
          const at = w.reserve(KEY, VAL);
          writeKey(buf, at, i);
          writeValue(buf, at + KEY, i);
        }
        txn.putBatch(dbi, w.batch);
      }
    });
    const write = seconds(t0);

    // 2. full scan
    t0 = process.hrtime.bigint();
    let count = 0;
    let bytes = 0;
    env.read((txn) => {
      for (const b of txn.scan(dbi)) {
        count += b.count;
        for (let i = 0; i < b.count; i++) bytes += b.keyLen[i]! + b.valLen[i]!;
      }
    });
    const scan = seconds(t0);
    if (count !== N || bytes !== N * (KEY + VAL)) throw new Error(`scan saw ${count} entries / ${bytes} bytes, expected ${N}`);

    // 3. random point reads into a reusable buffer
    const key = Buffer.alloc(KEY);
    const out = Buffer.alloc(VAL * 2);
    let found = 0;
    let x = 0x9e3779b9;
    t0 = process.hrtime.bigint();
    env.read((txn) => {
      for (let r = 0; r < N; r++) {
        x ^= x << 13; x ^= x >>> 17; x ^= x << 5; // xorshift32
        writeKey(key, 0, (x >>> 0) % N);
        if (txn.getInto(dbi, key, out) === VAL) found++;
      }
    });
    const reads = seconds(t0);
    if (found !== N) throw new Error(`random reads found ${found} of ${N}`);

    t0 = process.hrtime.bigint();
    found = 0;
    env.read((txn) => {
      for (let r = 0; r < N; r++) {
        x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
        writeKey(key, 0, (x >>> 0) % N);
        if (txn.get(dbi, key)?.length === VAL) found++;
      }
    });
    const readsAlloc = seconds(t0);
    if (found !== N) throw new Error(`random reads (get) found ${found} of ${N}`);
    return { write, scan, reads, readsAlloc };
  } finally {
    env.close();
  }
}

function benchC(dir: string): { write: number; scan: number; reads: number } {
  const src = join(dir, 'bench_write.c');
  const bin = join(dir, 'bench_write');
  writeFileSync(src, C_SOURCE);
  execFileSync('cc', ['-O2', '-o', bin, src, '-llmdb'], { stdio: 'inherit' });
  const envDir = mkdtempSync(join(dir, 'c-'));
  const [write, scan, reads] = execFileSync(bin, [envDir, String(N), String(MAP_SIZE)], { encoding: 'utf8' }).trim().split(' ').map(Number);
  return { write: write!, scan: scan!, reads: reads! };
}

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), 'ls-bench-lmdb-'));
  try {
    console.log(`LMDB benchmark: ${N} entries, ${KEY}-byte keys (pseudo-random order), ${VAL}-byte values, dir ${dir}`);
    // C runs before and after the TypeScript run (fresh env each time); the faster C run is kept,
    // so machine noise does not favour the TypeScript side.
    const c1 = benchC(dir);
    const ts = benchTs(dir);
    const c2 = benchC(dir);
    const c = { write: Math.min(c1.write, c2.write), scan: Math.min(c1.scan, c2.scan), reads: Math.min(c1.reads, c2.reads) };
    const ratio = ts.write / c.write;
    console.log(`write+commit, one txn   C liblmdb (mdb_put loop): ${fmt(c.write)}   TypeScript (putBatch): ${fmt(ts.write)}  = ${ratio.toFixed(2)}x C (target <= 1.3x)`);
    console.log(`full scan               C liblmdb (cursor loop):  ${fmt(c.scan)}   TypeScript (txn.scan): ${fmt(ts.scan)}  (target < 0.3 s)`);
    console.log(`${N} random reads    C liblmdb (mdb_get):      ${fmt(c.reads)}   TypeScript (getInto):  ${fmt(ts.reads)}  (target < 2 s)`);
    console.log(`${N} random reads    TypeScript txn.get (allocating a Buffer per read): ${fmt(ts.readsAlloc)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
