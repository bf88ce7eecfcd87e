/**
 * Whole-process benchmark of the two heavy paths, comparable with the Go figures in
 * shared/notes/reference-figures.md (prints figures; not a test):
 *
 *   node dist/bench/sync.js [--entries 1000000] [--values random|text] [--runs 3]
 *
 * 1. `sync --only-once` on an LMDB of N entries (16-byte sorted ASCII keys, 100-byte values plus the
 *    native header) with an empty fs bucket: writes the initial snapshot.
 * 2. `receive --only-once` of that snapshot into an empty LMDB.
 * 3. `receive --only-once` of it again, into that LMDB that now holds all of it (a merge that changes nothing).
 * Wall time and peak RSS come from /usr/bin/time (Debian package `time`); the write-lock hold (how long
 * the application's writers would wait) and the load time from the `snapshot loaded` log line.
 */
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Env, KVBatchWriter, writeHeader } from '../src/lmdb/index.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const N = Number(opt('entries', '1000000'));
const textValues = opt('values', 'random') === 'text';
const runs = Number(opt('runs', '3'));
const BIN = resolve(import.meta.dirname, '../../bin/lightningstream.js');

function fill(path: string): void {
  const env = Env.open(path, { create: true, mapSize: 4 * 2 ** 30 });
  const dbi = env.openDbi('data', { create: true })!;
  const ts = BigInt(Date.now()) * 1_000_000n;
  const [hi, lo] = [Number(ts >> 32n), Number(ts & 0xffffffffn)];
  env.write((txn) => {
    const w = new KVBatchWriter();
    for (let i = 0; i < N; i++) {
      const keyAt = w.reserve(16, 24 + 100);
      const valAt = keyAt + 16;
      w.batch.buf.write(`key${String(i).padStart(13, '0')}`, keyAt, 'latin1');
      writeHeader(w.batch.buf, valAt, hi, lo, 1, 0, 0);
      if (textValues) w.batch.buf.write(`value number ${i} `.padEnd(100, 'abcdefgh'), valAt + 24, 'latin1');
      else randomFillSync(w.batch.buf, valAt + 24, 100);
      if (w.batch.count >= 8192) {
        txn.putBatch(dbi, w.batch);
        w.reset();
      }
    }
    txn.putBatch(dbi, w.batch);
  });
  env.close();
}

function config(dir: string, instance: string, lmdb: string, level = 'warning'): string {
  const path = join(dir, `${instance}.yaml`);
  writeFileSync(path, [
    `instance: ${instance}`, 'lmdbs:', '  main:', `    path: ${lmdb}`, '    schema_tracks_changes: true',
    '    options: { create: true, map_size: 4GB }',
    `storage: { type: fs, options: { root_path: ${join(dir, 'bucket')} } }`, `log: { level: ${level}, format: logfmt }`,
  ].join('\n'));
  return path;
}

/** Runs lightningstream under /usr/bin/time; its last stderr line is "<seconds> <max RSS KiB>". */
interface Measured {
  seconds: number;
  rssMiB: number;
  /** From the `snapshot loaded` line, when there is one. */
  lockMs?: number;
  loadMs?: number;
}

function measure(cmdArgs: string[]): Measured {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', process.execPath, BIN, ...cmdArgs], { encoding: 'utf8' });
  const last = r.stderr.trim().split('\n').pop() ?? '';
  const m = /^([\d.]+) (\d+)$/.exec(last);
  if (r.status !== 0 || !m) throw new Error(`lightningstream ${cmdArgs.join(' ')} failed (${r.status}):\n${r.stderr}`);
  const loaded = /msg="snapshot loaded".*/.exec(r.stderr)?.[0] ?? '';
  const field = (name: string) => {
    const v = new RegExp(`\\b${name}=(\\d+)`).exec(loaded)?.[1];
    return v === undefined ? undefined : Number(v);
  };
  return { seconds: Number(m[1]), rssMiB: Math.round(Number(m[2]) / 1024), lockMs: field('lock_ms'), loadMs: field('ms') };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`sync benchmark: ${N} entries, ${textValues ? 'text' : 'random'} 100-byte values, ${runs} runs`);
const stores: Measured[] = [];
const receives: Measured[] = [];
const remerges: Measured[] = [];
for (let r = 0; r < runs; r++) {
  const dir = mkdtempSync(join(tmpdir(), 'ls-bench-sync-'));
  try {
    fill(join(dir, 'a'));
    const store = measure(['-c', config(dir, 'a', join(dir, 'a')), 'sync', '--only-once']);
    const name = readdirSync(join(dir, 'bucket'))[0]!;
    const size = statSync(join(dir, 'bucket', name)).size;
    const receive = measure(['-c', config(dir, 'b', join(dir, 'b'), 'info'), 'receive', '--only-once']);
    const remerge = measure(['-c', config(dir, 'b', join(dir, 'b'), 'info'), 'receive', '--only-once']);
    stores.push(store);
    receives.push(receive);
    remerges.push(remerge);
    console.log(`run ${r + 1}: store ${store.seconds.toFixed(2)} s, ${store.rssMiB} MiB | receive ${receive.seconds.toFixed(2)} s, ` +
      `${receive.rssMiB} MiB, load ${receive.loadMs} ms, write lock held ${receive.lockMs} ms | again into the same LMDB ` +
      `${remerge.seconds.toFixed(2)} s, lock ${remerge.lockMs} ms | snapshot ${(size / 1e6).toFixed(1)} MB`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
console.log(`median: store ${median(stores.map((x) => x.seconds)).toFixed(2)} s / ${median(stores.map((x) => x.rssMiB))} MiB, ` +
  `receive ${median(receives.map((x) => x.seconds)).toFixed(2)} s / ${median(receives.map((x) => x.rssMiB))} MiB ` +
  `(write lock ${median(receives.map((x) => x.lockMs ?? NaN))} ms of a ${median(receives.map((x) => x.loadMs ?? NaN))} ms load), ` +
  `unchanged re-merge lock ${median(remerges.map((x) => x.lockMs ?? NaN))} ms`);
console.log('Go 0.4.4 on this machine kind (reference-figures.md), 1M entries: random values store 1.43-1.58 s ~500 MiB, ' +
  'receive 1.86-1.94 s ~490 MiB; text values store 0.47-0.56 s ~314 MiB, receive 1.49-1.53 s ~452 MiB');
