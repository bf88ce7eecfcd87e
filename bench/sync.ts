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
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, fillLmdb, measure, median, writeConfig, type Measured } from './harness.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const N = Number(opt('entries', '1000000'));
const textValues = opt('values', 'random') === 'text';
const runs = Number(opt('runs', '3'));

const config = (dir: string, instance: string, lmdb: string) =>
  writeConfig(dir, { instance, lmdb, bucket: join(dir, 'bucket'), mapSize: '4GB' });
const run = (cmdArgs: string[]) => measure(process.execPath, [BIN, ...cmdArgs]);

console.log(`sync benchmark: ${N} entries, ${textValues ? 'text' : 'random'} 100-byte values, ${runs} runs`);
const stores: Measured[] = [];
const receives: Measured[] = [];
const remerges: Measured[] = [];
for (let r = 0; r < runs; r++) {
  const dir = mkdtempSync(join(tmpdir(), 'ls-bench-sync-'));
  try {
    fillLmdb(join(dir, 'a'), { entries: N, values: textValues ? 'filler' : 'random', mapSize: 4 * 2 ** 30 });
    const store = await run(['-c', config(dir, 'a', join(dir, 'a')), 'sync', '--only-once']);
    const name = readdirSync(join(dir, 'bucket')).find((n) => n.endsWith('.pb.gz'))!;
    const size = statSync(join(dir, 'bucket', name)).size;
    const receive = await run(['-c', config(dir, 'b', join(dir, 'b')), 'receive', '--only-once']);
    const remerge = await run(['-c', config(dir, 'b', join(dir, 'b')), 'receive', '--only-once']);
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
