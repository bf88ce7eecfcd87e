/**
 * Snapshot codec benchmark: encode then decode N entries (16-byte sorted ASCII keys, 100-byte
 * random or text values) from synthetic EntryBatches, through a temporary file.
 *
 *   node dist/bench/snapshot.js [--entries 1000000] [--values random|text] [--level 1] [--chunk-kib 1024]
 *
 * Prints MB/s of uncompressed protobuf, entries/s, the compressed size and peak RSS
 * (process.resourceUsage().maxRSS) after each phase.
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { randomFillSync } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { EntryBatch } from '../src/snapshot/batch.js';
import { decodeSnapshot } from '../src/snapshot/decode.js';
import { encodeSnapshot } from '../src/snapshot/encode.js';
import type { DbiSource, SnapshotMeta } from '../src/snapshot/types.js';

const { values: args } = parseArgs({
  options: {
    entries: { type: 'string', default: '1000000' },
    values: { type: 'string', default: 'random' },
    level: { type: 'string', default: '1' },
    'chunk-kib': { type: 'string', default: '1024' },
  },
});
const N = Number(args.entries);
const TEXT = args.values === 'text';
const KEY_LEN = 16;
const VAL_LEN = 100;
const PER_BATCH = 1024;
const POOL = 8 << 20;

// Values are slices of a pool at pseudo-random offsets, so both passes see identical data without
// holding N values in memory (an LMDB read transaction does not either).
const pool = Buffer.allocUnsafe(POOL + PER_BATCH * KEY_LEN);
if (TEXT) {
  const words = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore'.split(' ');
  let t = '';
  for (let i = 0; t.length < POOL; i++) t += words[(i * 7 + (i >> 3)) % words.length]! + ' ';
  pool.write(t.slice(0, POOL), 0, 'latin1');
} else {
  randomFillSync(pool, 0, POOL);
}

function* batches(): Generator<EntryBatch> {
  const batch: EntryBatch = {
    count: 0, buf: pool,
    keyOff: new Uint32Array(PER_BATCH), keyLen: new Uint32Array(PER_BATCH).fill(KEY_LEN),
    valOff: new Uint32Array(PER_BATCH), valLen: new Uint32Array(PER_BATCH).fill(VAL_LEN),
    tsHi: new Uint32Array(PER_BATCH), tsLo: new Uint32Array(PER_BATCH), flags: new Uint8Array(PER_BATCH),
  };
  let x = 0x9e3779b9;
  for (let start = 0; start < N; start += PER_BATCH) {
    const n = Math.min(PER_BATCH, N - start);
    for (let j = 0; j < n; j++) {
      const i = start + j;
      const ko = POOL + j * KEY_LEN;
      pool[ko] = 0x6b; // 'key' + 13 decimal digits
      pool[ko + 1] = 0x65;
      pool[ko + 2] = 0x79;
      for (let d = KEY_LEN - 1, v = i; d >= 3; d--, v = Math.floor(v / 10)) pool[ko + d] = 0x30 + (v % 10);
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      batch.keyOff[j] = ko;
      batch.valOff[j] = x % (POOL - VAL_LEN);
      batch.tsHi[j] = 0x18eb8c3b;
      batch.tsLo[j] = (0x39000000 + i * 1000) >>> 0;
    }
    batch.count = n;
    yield batch;
  }
}

const meta: SnapshotMeta = {
  generationId: 'G-0000000000000000', instanceId: 'bench', hostname: 'bench', lmdbTxnId: 1,
  timestampNano: 1795683062524196773n, databaseName: 'main', fromLmdbTxnId: 0,
};
const dbi: DbiSource = { name: 'data', flags: 0, transform: '', batches };
const mib = (n: number) => (n / 2 ** 20).toFixed(0) + ' MiB';
const cpuText = (c: NodeJS.CpuUsage) => `${((c.user + c.system) / 1000).toFixed(0)} ms (user ${(c.user / 1000).toFixed(0)}, sys ${(c.system / 1000).toFixed(0)})`;
const rss = () => mib(process.resourceUsage().maxRSS * 1024);

const dir = mkdtempSync(join(tmpdir(), 'ls-bench-'));
const file = join(dir, 'main__bench__20261126-085102-524196773__G-0000000000000000.pb.gz');
try {
  let t = performance.now();
  let raw = 0;
  for (const b of batches()) for (let i = 0; i < b.count; i++) raw += 1 + 1 + 1 + 1 + KEY_LEN + 1 + 1 + VAL_LEN + 9;
  const genMs = performance.now() - t;

  t = performance.now();
  let cpu = process.cpuUsage();
  await pipeline(encodeSnapshot(meta, [dbi], { level: Number(args.level), chunkBytes: Number(args['chunk-kib']) * 1024 }), createWriteStream(file));
  const encMs = performance.now() - t;
  const encCpu = process.cpuUsage(cpu);
  const size = statSync(file).size;
  console.log(`entries ${N}, ${TEXT ? 'text' : 'random'} values, ~${(raw / 1e6).toFixed(0)} MB raw protobuf (synthetic batch generation alone: ${genMs.toFixed(0)} ms per pass)`);
  console.log(`encode: ${encMs.toFixed(0)} ms, ${(raw / 1e6 / (encMs / 1000)).toFixed(0)} MB/s, ${(N / (encMs / 1000) / 1e6).toFixed(2)} M entries/s, compressed ${(size / 1e6).toFixed(1)} MB (${((100 * size) / raw).toFixed(1)}%), peak RSS ${rss()}, CPU ${cpuText(encCpu)}`);

  t = performance.now();
  cpu = process.cpuUsage();
  let count = 0;
  let bytes = 0;
  for await (const ev of decodeSnapshot(createReadStream(file, { highWaterMark: 1 << 20 }), { name: file })) {
    if (ev.type === 'entries') {
      count += ev.batch.count;
      for (let i = 0; i < ev.batch.count; i++) bytes += ev.batch.valLen[i]!;
    }
  }
  const decMs = performance.now() - t;
  const decCpu = process.cpuUsage(cpu);
  if (count !== N || bytes !== N * VAL_LEN) throw new Error(`decoded ${count} entries, ${bytes} value bytes`);
  console.log(`decode: ${decMs.toFixed(0)} ms, ${(raw / 1e6 / (decMs / 1000)).toFixed(0)} MB/s, ${(N / (decMs / 1000) / 1e6).toFixed(2)} M entries/s, peak RSS (whole run) ${rss()}, CPU ${cpuText(decCpu)}`);
  console.log(`machine load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${availableParallelism()} cores (wall times suffer from other load; CPU times less so)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
