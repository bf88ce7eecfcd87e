/**
 * Change-to-visible latency benchmark (prints figures; not a test):
 *
 *   node dist/bench/latency.js [--count 50] [--min-gap 200] [--max-gap 2000] [--check-every 5]
 *                              [--lmdb-poll 1s] [--storage-poll 1s] [--seed N] [--quiet] [--keep]
 *
 * Two real `lightningstream sync` processes (a, b) with their own LMDBs share one fs storage
 * directory, with the default 1 s polls unless told otherwise. This process commits `count`
 * single-key writes (native values) on a's LMDB at random moments (gaps uniformly in
 * [min-gap, max-gap] ms) and polls b's LMDB every `check-every` ms until each value is readable
 * there; the delay is measured from the end of the commit on a. Prints mean/p50/p90/max against
 * our target (p50 < 1200 ms) and the Go implementation's figures (p50 1.46 s, p90 1.77 s, max 1.94 s).
 * It also watches the storage directory (same interval), to split each delay into the sender's part
 * (commit -> a's snapshot holding it is in the storage) and the receiver's (-> readable on b).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Cluster } from '../src/demo/cluster.js';
import { parseSnapshotName } from '../src/snapshot/name.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { GO_LATENCY_MS, TARGET_P50_MS, WriteClock, summarize } from '../src/demo/measure.js';
import { prng } from './harness.js';

const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '50' },
    'min-gap': { type: 'string', default: '200' },
    'max-gap': { type: 'string', default: '2000' },
    'check-every': { type: 'string', default: '5' },
    'lmdb-poll': { type: 'string' },
    'storage-poll': { type: 'string' },
    seed: { type: 'string' },
    quiet: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});

function num(name: keyof typeof args, min: number): number {
  const v = Number(args[name]);
  if (!Number.isFinite(v) || v < min) {
    console.error(`latency: --${name}: expected a number >= ${min}, got ${String(args[name])}`);
    process.exit(2);
  }
  return v;
}

const COUNT = Math.floor(num('count', 1));
const MIN_GAP = num('min-gap', 0);
const MAX_GAP = Math.max(MIN_GAP, num('max-gap', 0));
const CHECK_EVERY = num('check-every', 1);
const SEED = args.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Math.floor(num('seed', 0));
const VISIBLE_TIMEOUT_MS = 30_000;


const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');
const ms = (v: number): string => `${Math.round(v)}`.padStart(5);

interface Pending {
  n: number;
  key: string;
  timestamp: bigint;
  at: number;
  /** when the first snapshot of a named after the commit appeared in the storage */
  storedAt?: number;
}

/** Watches the fs storage directory for new snapshots of instance `instance`. */
class SnapshotWatcher {
  private readonly seen = new Set<string>();

  constructor(private readonly dir: string, private readonly instance: string) {}

  /** Timestamps (ns, from the names) of the snapshots that appeared since the last call. */
  poll(): bigint[] {
    const fresh: bigint[] = [];
    for (const name of readdirSync(this.dir)) {
      if (this.seen.has(name)) continue;
      this.seen.add(name);
      const parsed = parseSnapshotName(name);
      if (parsed.ok && parsed.value.instance === this.instance) fresh.push(parsed.value.timestamp);
    }
    return fresh;
  }
}

async function main(): Promise<number> {
  const ac = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => ac.abort(new Error(`interrupted by ${sig}`)));
  const signal = ac.signal;
  const dir = mkdtempSync(join(tmpdir(), 'lightningstream-latency-'));
  const cluster = new Cluster({
    dir, names: ['a', 'b'], storage: { type: 'fs', rootPath: join(dir, 'bucket') },
    lmdbPollInterval: args['lmdb-poll'], storagePollInterval: args['storage-poll'],
  });
  const delays: number[] = [];
  const senderParts: number[] = [];
  const receiverParts: number[] = [];
  let failed = false;
  console.log('Change-to-visible latency: 2 lightningstream sync processes (a -> b), fs storage');
  console.log(`  lmdb_poll_interval ${args['lmdb-poll'] ?? '1s (default)'}, storage_poll_interval ${args['storage-poll'] ?? '1s (default)'}`);
  console.log(`  ${COUNT} single-key commits on a, gaps ${MIN_GAP}-${MAX_GAP} ms (seed ${SEED}); b polled every ${CHECK_EVERY} ms`);
  console.log(`  work dir ${dir}`);
  const loadBefore = load();
  try {
    cluster.start();
    await cluster.waitReady(60_000, signal);
    const a = cluster.get('a').db;
    const b = cluster.get('b').db;
    const clock = new WriteClock();
    const random = prng(SEED);
    const pending = new Map<string, Pending>();
    const snapshots = new SnapshotWatcher(join(dir, 'bucket'), 'a');
    snapshots.poll();
    let writing = true;

    const watch = async (): Promise<void> => {
      while (writing || pending.size > 0) {
        const stored = snapshots.poll();
        const now = performance.now();
        for (const p of pending.values()) {
          if (p.storedAt === undefined && stored.some((ts) => ts > p.timestamp)) p.storedAt = now;
        }
        for (const p of pending.values()) {
          const item = b.get(p.key);
          if (item && item.timestamp >= p.timestamp) {
            const visibleAt = performance.now();
            const delay = visibleAt - p.at;
            pending.delete(p.key);
            delays.push(delay);
            let split = '';
            if (p.storedAt !== undefined) {
              senderParts.push(p.storedAt - p.at);
              receiverParts.push(visibleAt - p.storedAt);
              split = ` = ${ms(p.storedAt - p.at)} until stored + ${ms(visibleAt - p.storedAt)} until read on b`;
            }
            if (!args.quiet) console.log(`  commit ${String(p.n).padStart(3)}/${COUNT}  visible on b after ${ms(delay)} ms${split}`);
          } else if (performance.now() - p.at > VISIBLE_TIMEOUT_MS) {
            throw new Error(`commit ${p.n} (${p.key}) not visible on b after ${VISIBLE_TIMEOUT_MS / 1000} s`);
          }
        }
        cluster.checkAlive();
        await sleep(CHECK_EVERY, undefined, { signal });
      }
    };
    const watching = watch();
    watching.catch(() => {}); // awaited below
    try {
      for (let n = 1; n <= COUNT; n++) {
        await Promise.race([sleep(MIN_GAP + random() * (MAX_GAP - MIN_GAP), undefined, { signal }), watching]);
        const key = `bench:${String(n).padStart(4, '0')}`;
        const timestamp = clock.next();
        a.write([{ key, value: `value ${n}`, timestamp }]);
        pending.set(key, { n, key, timestamp, at: performance.now() });
      }
    } finally {
      writing = false;
    }
    await watching;
  } catch (err) {
    failed = true;
    console.error(`latency: ${signal.aborted ? 'interrupted' : `FAILED: ${(err as Error).message}`}`);
    if (!signal.aborted) for (const i of cluster.instances) console.error(`----- ${i.logPath}\n${i.logTail(20)}`);
  } finally {
    await cluster.stop();
  }
  const s = summarize(delays);
  if (s.count > 0) {
    const vs = (ours: number, go: number): string => `${ms(ours)} (Go ${go}, ${ours <= go ? '-' : '+'}${Math.abs(Math.round((1 - ours / go) * 100))}%)`;
    console.log('');
    console.log(`Results over ${s.count} commits (ms; Go figures: 0.4.4 with the default 1 s polls, same machine kind):`);
    console.log(`  mean ${ms(s.mean)}   min ${ms(s.min)}`);
    console.log(`  p50  ${vs(s.p50, GO_LATENCY_MS.p50)}`);
    console.log(`  p90  ${vs(s.p90, GO_LATENCY_MS.p90)}`);
    console.log(`  max  ${vs(s.max, GO_LATENCY_MS.max)}`);
    console.log(`  target p50 < ${TARGET_P50_MS} ms: ${s.p50 < TARGET_P50_MS ? 'met' : 'NOT met'}`);
    const part = (label: string, values: number[]): void => {
      const p = summarize(values);
      if (p.count > 0) console.log(`  ${label} mean ${ms(p.mean)}  min ${ms(p.min)}  p50 ${ms(p.p50)}  p90 ${ms(p.p90)}  max ${ms(p.max)}`);
    };
    console.log('Where the time goes (ms):');
    part('commit -> snapshot in the storage:', senderParts);
    part('snapshot in storage -> read on b: ', receiverParts);
  }
  console.log(`  load average (1/5/15 min): before ${loadBefore}, after ${load()}`);
  if (failed || args.keep) console.log(`  work dir kept: ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
  return failed ? (signal.aborted ? 130 : 1) : 0;
}

process.exitCode = await main();
