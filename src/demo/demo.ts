/**
 * `npm run demo`: three real `lightningstream sync` processes (alpha, beta, gamma), each with its own
 * LMDB, sharing one storage (a local directory, or with --s3 a private Ceph radosgw). A scripted
 * story writes to the LMDBs as an application would (native values with the 24-byte header), and
 * every change is printed as it arrives on the other instances, with the measured delay. Ends when
 * all three LMDBs hold identical data; exit 0 on success, 1 on a failure or timeout, 130 on Ctrl-C.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { startCeph, stopCeph } from './ceph.js';
import { Cluster, ClusterError, type Instance, type StorageSpec } from './cluster.js';
import { GO_LATENCY_MS, WriteClock, summarize } from './measure.js';
import { DemoWatcher, formatTime, type Write } from './watch.js';
import { colourWanted, createStyle, pad, seconds } from './term.js';

const NAMES = ['alpha', 'beta', 'gamma'] as const;
const BUCKET = 'lightningstream-demo';
const USAGE = `usage: npm run demo -- [--s3] [--timeout SECONDS] [--keep]
   or: node dist/src/demo/demo.js [--s3] [--timeout SECONDS] [--keep]

  --s3               use a private Ceph radosgw (started and stopped in the work directory)
                     instead of a shared local directory
  --timeout SECONDS  give up when the story has not completed after this long (default 60)
  --keep             keep the work directory (LMDBs, configs, logs) after a successful run
`;

interface Options {
  s3: boolean;
  timeoutMs: number;
  keep: boolean;
}

function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      s3: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '60' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const timeout = Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new Error(`--timeout: expected a positive number of seconds, got ${values.timeout}`);
  return { s3: values.s3, timeoutMs: timeout * 1000, keep: values.keep };
}

const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};
const st = createStyle(colourWanted(process.stdout));
const who = (name: string): string => pad(st.instance(name, NAMES), 5);

/** Runs the story: every step writes, then waits until each instance holds the expected data. */
async function story(cluster: Cluster, watcher: DemoWatcher, deadline: number, signal: AbortSignal): Promise<void> {
  const clock = new WriteClock();
  let step = 0;
  const commit = (name: string, changes: Array<[key: string, value: string | null]>): void => {
    const writes: Write[] = changes.map(([key, value]) => ({ origin: name, key, value, timestamp: clock.next(), at: 0 }));
    cluster.get(name).db.write(writes);
    watcher.commits++;
    const at = performance.now();
    for (const w of writes) {
      w.at = at;
      watcher.expect(w);
      out(`  ${who(name)}  ${pad(st.bold('writes'), 8)}  ${pad(describe(w), 34)}  ${st.dim(`ts ${formatTime(w.timestamp)}`)}`);
    }
  };
  // A random pause before each step: commits land at random moments relative to the sync
  // processes' poll ticks (right after the previous step arrived they would not), and a reader
  // can follow.
  const heading = async (title: string): Promise<void> => {
    await sleep(300 + Math.random() * 1000, undefined, { signal });
    step++;
    out();
    out(st.bold(`${step}. ${title}`));
  };
  const settle = async (): Promise<void> => {
    await watcher.waitConverged(deadline, `step ${step}`, signal);
  };

  await heading('alpha writes three users (one commit)');
  commit('alpha', [['user:1', 'Ada'], ['user:2', 'Grace'], ['user:3', 'Linus']]);
  await settle();

  await heading('beta updates user:2');
  commit('beta', [['user:2', 'Grace Hopper']]);
  await settle();

  await heading('gamma deletes user:3 (a timestamped deletion marker)');
  commit('gamma', [['user:3', null]]);
  await settle();

  await heading('all three write at the same moment, each its own key and the same key "color"');
  commit('gamma', [['visits:gamma', '1'], ['color', 'blue']]);
  commit('alpha', [['visits:alpha', '1'], ['color', 'red']]);
  commit('beta', [['visits:beta', '1'], ['color', 'green']]);
  const winner = watcher.expected('color')!;
  await settle();
  out(`  ${st.green('last writer wins:')} every instance holds color = ${JSON.stringify(winner.value)} (${st.instance(winner.origin, NAMES)}'s write, the newest timestamp)`);
}

function describe(w: { key: string; value: string | null }): string {
  return w.value === null ? `${st.red('del')}  ${w.key}` : `${st.green('set')}  ${w.key} = ${JSON.stringify(w.value)}`;
}

async function run(opts: Options, signal: AbortSignal): Promise<number> {
  const t0 = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'lightningstream-demo-'));
  const cephDir = join(dir, 'ceph');
  let cephStarted = false;
  let cluster: Cluster | undefined;
  let ok = false;
  let cleanupOk = true;
  out(st.bold(`Lightning Stream demo: ${NAMES.length} instances syncing through ${opts.s3 ? 'S3 (a private Ceph radosgw)' : 'a shared directory (fs storage)'}`));
  out(`  work dir   ${dir}`);
  try {
    let storage: StorageSpec;
    if (opts.s3) {
      out('  starting Ceph (monitor, OSD, radosgw); this takes a while...');
      cephStarted = true;
      const s3 = await startCeph(cephDir, (l) => out(st.dim(`    ${l}`)), signal);
      storage = { type: 's3', bucket: BUCKET, ...s3 };
      out(`  storage    s3: ${s3.endpoint}, bucket ${BUCKET}`);
    } else {
      storage = { type: 'fs', rootPath: join(dir, 'bucket') };
      out(`  storage    fs: ${storage.rootPath}`);
    }
    out('  polls      lmdb_poll_interval 1s, storage_poll_interval 1s (the defaults)');
    const deadline = performance.now() + opts.timeoutMs;
    cluster = new Cluster({ dir, names: NAMES, storage });
    const started = cluster;
    process.once('exit', () => started.killRunning());
    cluster.start();
    out();
    out(st.bold('Starting the instances'));
    for (const inst of cluster.instances) {
      out(`  ${who(inst.name)}  pid ${String(inst.child?.pid ?? '?').padEnd(7)} lmdb ${inst.lmdbPath}  log ${inst.logPath}`);
    }
    const readyMs = await cluster.waitReady(opts.timeoutMs, signal);
    out(`  all ${NAMES.length} ready (initial sync complete) after ${seconds(readyMs)}`);

    const watcher = new DemoWatcher(cluster, {
      onArrival: (a) => {
        const delay = a.delayMs < 1500 ? st.green(seconds(a.delayMs)) : st.yellow(seconds(a.delayMs));
        out(`  ${who(a.instance)}  <- ${who(a.write.origin)}  ${pad(describe(a.write), 34)}  after ${delay}`);
      },
      onAnomaly: (msg) => out(`  ${st.red('!!')} ${msg}`),
    });
    await story(cluster, watcher, deadline, signal);

    out();
    out(st.bold('Checking that all three LMDBs hold identical data'));
    const final = await watcher.waitIdentical(deadline, signal);
    printFinal(final);
    if (watcher.anomalies.length > 0) {
      throw new Error(`${watcher.anomalies.length} unexpected change(s) seen (marked !! above)`);
    }
    const s = summarize(watcher.arrivals.map((a) => a.delayMs));
    out();
    out(st.bold('Summary'));
    out(`  changes    ${watcher.writes.length} keys written in ${watcher.commits} commits; ${s.count} arrivals seen on other instances`);
    out(`  delay      p50 ${seconds(s.p50)}, p90 ${seconds(s.p90)}, max ${seconds(s.max)} (mean ${seconds(s.mean)})`);
    out(st.dim(`             Go Lightning Stream on this machine kind: p50 ${seconds(GO_LATENCY_MS.p50)}, p90 ${seconds(GO_LATENCY_MS.p90)}, max ${seconds(GO_LATENCY_MS.max)}`));
    out(`  identical  ${st.green('yes')}: ${describeContents(final)}, same timestamps, on ${NAMES.join(', ')}`);
    ok = true;
  } catch (err) {
    if (signal.aborted) {
      out();
      out(st.yellow('interrupted: cleaning up'));
    } else {
      out();
      out(`${st.red(st.bold('demo FAILED:'))} ${(err as Error).message}`);
      if (cluster) showLogs(cluster, err instanceof ClusterError ? err.instance : undefined);
    }
  } finally {
    // Stop everything; a problem here (an unclean exit, Ceph left running) fails the run.
    if (cluster) {
      await cluster.stop();
      const status = cluster.instances.map((i) => `${i.name} ${i.describeExit()}`).join(', ');
      const bad = cluster.instances.find((i) => !i.stoppedCleanly);
      if (bad && (ok || signal.aborted)) {
        out(`${st.red(st.bold('demo FAILED:'))} an instance did not stop cleanly: ${status}`);
        showLogs(cluster, bad);
        cleanupOk = false;
      } else {
        out(`  stopped    ${status}`);
      }
    }
    if (cephStarted) {
      out('  stopping Ceph...');
      try {
        await stopCeph(cephDir, () => {});
      } catch (err) {
        out(`${st.red('could not stop Ceph:')} ${(err as Error).message} (try: bash scripts/ceph.sh stop ${cephDir})`);
        cleanupOk = false;
      }
    }
  }
  if (!cleanupOk || (!ok && !signal.aborted)) {
    out(`  work dir kept for inspection: ${dir}`);
    return signal.aborted ? 130 : 1;
  }
  if (opts.keep) out(`  work dir kept: ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
  if (signal.aborted) return 130;
  out(`${st.green(st.bold('Demo OK'))} in ${seconds(performance.now() - t0)}`);
  return 0;
}

function printFinal(final: Map<string, Write>): void {
  out(`  ${st.dim(pad('key', 14))}${st.dim(pad('value', 18))}${st.dim(pad('timestamp', 17))}${st.dim('written by')}`);
  for (const [key, w] of [...final].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const value = w.value === null ? st.red('(deleted)') : JSON.stringify(w.value);
    out(`  ${pad(key, 14)}${pad(value, 18)}${pad(formatTime(w.timestamp), 17)}${st.instance(w.origin, NAMES)}`);
  }
}

function describeContents(final: Map<string, Write>): string {
  const deleted = [...final.values()].filter((w) => w.value === null).length;
  return `${final.size} keys (${final.size - deleted} values, ${deleted} deletion marker${deleted === 1 ? '' : 's'})`;
}

function showLogs(cluster: Cluster, first?: Instance): void {
  const order = first ? [first, ...cluster.instances.filter((i) => i !== first)] : cluster.instances;
  for (const inst of order) {
    out(st.dim(`----- last lines of ${inst.logPath} (${inst.describeExit()})`));
    out(inst.logTail(25) || st.dim('(empty)'));
  }
}

async function main(): Promise<number> {
  let opts: Options | 'help';
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`demo: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  process.stdout.on('error', () => {}); // a reader that went away (| head) must not stop the cleanup
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (!ac.signal.aborted) ac.abort(new Error(`interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  return run(opts, ac.signal);
}

process.exitCode = await main();
