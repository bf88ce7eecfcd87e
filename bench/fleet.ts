/**
 * Fleet benchmark (prints figures; not a test): what one changed key costs a fleet of N instances
 * syncing through S3, in bytes, S3 requests and change-to-visible time.
 *
 *   node dist/bench/fleet.js [--instances 3,10,20] [--entries 100000] [--values text|random]
 *                            [--changes 60] [--interval 1s] [--variants default,update-marker]
 *                            [--idle 10s] [--settle 3s] [--check-every 5] [--visible-timeout 60s]
 *                            [--quiet] [--keep]
 *
 * For every implementation (ours; plus the Go binary named by LS_REFERENCE_BIN when it is set, run the
 * same way with the same YAML), every N and every variant, in a fresh bucket:
 *
 * Variants: `default` (ours: deltas on), `full-snapshots` (deltas off), `update-marker`, `deltas+marker`, and
 * `mixed` (the last instance the Go binary, its change-to-visible printed apart; ours with
 * deltas.assume_full_only_peers, since a Go instance that starts empty and writes nothing stores no snapshot to be seen by).
 *
 * 1. N `lightningstream sync` processes (i01..iNN), each with its own LMDB (native mode,
 *    `schema_tracks_changes: true`), all talking to S3 through bench/s3-meter.ts, a counting proxy
 *    with one port per instance (a separate process, so its work does not delay this one's polling).
 * 2. The initial LMDB (`--entries` 16-byte keys, 100-byte values plus the 24-byte native header) is
 *    written once per bench process and copied to i01, which starts alone and stores its first
 *    snapshot; then the others start with no LMDB at all, and the time until each holds every entry is
 *    the catch-up time.
 * 3. After `--settle`, `--idle` of quiet gives the fleet's idle request rate (the baseline).
 * 4. The change minute: this process changes one existing key on i01 every `--interval`, `--changes`
 *    times, and reads every other instance's LMDB (read txns, every `--check-every` ms) until the new
 *    value is there: change-to-visible time per instance, measured from the end of the commit.
 * 5. Per change = (what the meter counted from the first change until all were visible everywhere plus
 *    `--settle`) minus (the idle rate times that duration), divided by the number of changes. A
 *    slightly negative count means fewer polls than when idle (a busy instance polls less often: the
 *    poll interval is a sleep between polls). The writer may store fewer snapshots than changes (at
 *    most one per lmdb_poll_interval), so per change is not per snapshot.
 *
 * Also printed: snapshots stored by the writer and by the receivers, snapshot re-downloads, peak RSS
 * per instance (VmHWM), CPU time of the fleet and of radosgw (when this process started it).
 * S3: LS_S3_ENDPOINT / LS_S3_ACCESS_KEY / LS_S3_SECRET_KEY, or else a private Ceph started (and
 * stopped) with scripts/ceph.sh on free ports (LS_CEPH_RGW_PORT / LS_CEPH_MON_PORT / LS_CEPH_OSD_PORTS
 * to choose them). Every process it started is stopped on exit, also on Ctrl-C and on errors.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DeleteBucketCommand, DeleteObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { stringify } from 'yaml';
import { parseDuration } from '../src/config/units.js';
import { startCeph, stopCeph, type S3Endpoint } from '../src/demo/ceph.js';
import { BIN, ROOT } from '../src/demo/cluster.js';
import { LoggedProcess } from '../src/demo/logged-process.js';
import { WriteClock, summarize, type Summary } from '../src/demo/measure.js';
import { Env, buildValue, parseValue, type Dbi } from '../src/lmdb/index.js';
import { errorMessage } from '../src/util/errors.js';
import { formatBytes } from '../src/util/format.js';
import { fillLmdb } from './harness.js';
import { diffCounts, sumCounts, type MeterCounts } from './s3-meter.js';

// The AWS SDK warns once per process that its releases after January 2027 need Node 22 (the pinned
// version supports Node 20): noise here, as in bin/lightningstream.js.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = (warning: string | Error, ...rest: unknown[]): void => {
  const text = typeof warning === 'string' ? warning : `${warning.name}: ${warning.message}`;
  if (text.startsWith('NodeVersionSupportWarning')) return;
  Reflect.apply(emitWarning, process, [warning, ...rest]);
};

// ------------------------------------------------------------------------------------------------
// What is compared

/**
 * The configurations compared (`--variants`). Each adds its `storage.options` and top-level keys to the same
 * YAML. The delta variants (README, "Delta snapshots") exist only in this implementation: the Go binary skips them.
 */
interface Variant {
  what: string;
  /** Added to storage.options. */
  storageOptions: Record<string, unknown>;
  /** Added at the top level of the YAML. */
  extra?: Record<string, unknown>;
  /** The last instance is the Go binary (LS_REFERENCE_BIN) with the same YAML less `extra`: a mixed fleet. */
  goPeer?: boolean;
}
const VARIANTS: Record<string, Variant> = {
  default: { what: 'default options (ours: deltas on)', storageOptions: {} },
  'update-marker': { what: 'storage.options.use_update_marker: true', storageOptions: { use_update_marker: true } },
  'full-snapshots': { what: 'deltas.enabled: false (full snapshots only, as Go)', storageOptions: {}, extra: { deltas: { enabled: false } } },
  'deltas+marker': { what: 'deltas (the default) and use_update_marker', storageOptions: { use_update_marker: true }, extra: { deltas: { enabled: true } } },
  mixed: {
    what: 'deltas.assume_full_only_peers: true (the Go peer stores nothing, so it cannot be detected), the last instance is Go (LS_REFERENCE_BIN)',
    storageOptions: {}, extra: { deltas: { assume_full_only_peers: true } }, goPeer: true,
  },
};

interface Impl {
  name: string;
  command: string;
  args: string[];
}

const { values: args } = parseArgs({
  options: {
    instances: { type: 'string', default: '3,10,20' },
    entries: { type: 'string', default: '100000' },
    values: { type: 'string', default: 'text' },
    changes: { type: 'string', default: '60' },
    interval: { type: 'string', default: '1s' },
    variants: { type: 'string', default: 'default,mixed' },
    idle: { type: 'string', default: '10s' },
    settle: { type: 'string', default: '3s' },
    'check-every': { type: 'string', default: '5' },
    'visible-timeout': { type: 'string', default: '60s' },
    quiet: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});

function usage(message: string): never {
  console.error(`fleet: ${message}`);
  process.exit(2);
}

function intList(name: string, text: string, min: number): number[] {
  const out = text.split(',').map((s) => Number(s.trim()));
  if (out.length === 0 || out.some((v) => !Number.isInteger(v) || v < min)) usage(`--${name}: expected integers >= ${min}, got ${text}`);
  return out;
}

function duration(name: string, text: string): number {
  try {
    return parseDuration(text);
  } catch (err) {
    return usage(`--${name}: ${errorMessage(err)}`);
  }
}

const SIZES = intList('instances', args.instances, 2);
const [ENTRIES] = intList('entries', args.entries, 1) as [number];
const [CHANGES] = intList('changes', args.changes, 1) as [number];
const [CHECK_EVERY] = intList('check-every', args['check-every'], 1) as [number];
const INTERVAL_MS = duration('interval', args.interval);
const IDLE_MS = duration('idle', args.idle);
const SETTLE_MS = duration('settle', args.settle);
const VISIBLE_TIMEOUT_MS = duration('visible-timeout', args['visible-timeout']);
if (args.values !== 'text' && args.values !== 'random') usage(`--values: text or random, got ${args.values}`);
const TEXT_VALUES = args.values === 'text';
const VARIANT_NAMES = args.variants.split(',').map((s) => s.trim());
for (const v of VARIANT_NAMES) {
  if (!(v in VARIANTS)) usage(`--variants: unknown variant ${JSON.stringify(v)} (known: ${Object.keys(VARIANTS).join(', ')})`);
}
const IMPLS: Impl[] = [{ name: 'ours', command: process.execPath, args: [BIN] }];
const REFERENCE_BIN = process.env.LS_REFERENCE_BIN;
if (REFERENCE_BIN) IMPLS.push({ name: 'go', command: REFERENCE_BIN, args: [] });

/** LMDB map size for every instance (config map_size and the bench's own handles). */
const MAP_MIB = Math.max(1024, Math.ceil((ENTRIES * 1024) / 2 ** 20));
const DATA_DBI = 'data';
const KEY_LEN = 16;
const VALUE_LEN = 100;
const START_TIMEOUT_MS = 120_000;
const CATCH_UP_TIMEOUT_MS = 300_000;
const METER_JS = fileURLToPath(new URL('./s3-meter.js', import.meta.url));
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

const keyOf = (i: number): Buffer => Buffer.from(`key${String(i).padStart(KEY_LEN - 3, '0')}`, 'latin1');

// ------------------------------------------------------------------------------------------------
// Processes: every child is registered so that any exit path stops it.

const children = new Set<Proc>();
let cephToStop: string | undefined;

/** A child process of the bench, registered in `children` while it runs (stopped or killed on any exit). */
class Proc extends LoggedProcess {
  constructor(name: string, logPath: string) {
    super(name, logPath, 'fleet');
  }

  /** Starts in its own process group (a Ctrl-C reaches only the bench, which then stops it once). */
  run(command: string, argv: string[], env: NodeJS.ProcessEnv, stdio: 'log' | 'pipe' = 'log'): ChildProcess {
    children.add(this);
    return this.start(command, argv, { cwd: ROOT, env, stdio }, () => children.delete(this));
  }
}

/** Peak resident set (VmHWM) in KiB, from /proc. */
function peakRssKiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds of a process, from /proc. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime (fields 14, 15)
  } catch {
    return 0;
  }
}

// ------------------------------------------------------------------------------------------------
// The meter process

class Meter {
  private constructor(readonly proc: Proc, readonly ports: number[], private readonly control: number) {}

  static async start(dir: string, upstream: string, listeners: number): Promise<Meter> {
    const proc = new Proc('s3-meter', join(dir, 's3-meter.log'));
    const child = proc.run(process.execPath, [METER_JS, '--upstream', upstream, '--listeners', String(listeners)], process.env, 'pipe');
    const lines = createInterface({ input: child.stdout! });
    const first = await Promise.race([
      new Promise<string>((resolve) => lines.once('line', resolve)),
      sleep(20_000).then(() => undefined),
      new Promise<undefined>((resolve) => child.once('exit', () => { resolve(undefined); })),
    ]);
    lines.close();
    if (first === undefined) {
      await proc.stop();
      throw new Error('s3-meter did not start');
    }
    const info = JSON.parse(first) as { ports: number[]; control: number };
    return new Meter(proc, info.ports, info.control);
  }

  async counts(): Promise<MeterCounts[]> {
    const res = await fetch(`http://127.0.0.1:${this.control}/counts`);
    if (!res.ok) throw new Error(`s3-meter: /counts answered ${res.status}`);
    return (await res.json()) as MeterCounts[];
  }

  async stop(): Promise<void> {
    this.proc.child?.stdin?.end();
    await this.proc.stop(5000);
  }
}

// ------------------------------------------------------------------------------------------------
// LMDBs

/** Writes the initial LMDB once per bench process; returns its data file. */
function writeTemplate(dir: string): string {
  fillLmdb(dir, { entries: ENTRIES, values: TEXT_VALUES ? 'filler' : 'random', valueBytes: VALUE_LEN, mapSize: MAP_MIB * 2 ** 20 });
  return join(dir, 'data.mdb');
}

interface Member {
  name: string;
  lmdbPath: string;
  configPath: string;
  proc: Proc;
  /** The bench's own handle on the instance's LMDB (opened once the sync process created the DBI). */
  env?: Env;
  dbi?: Dbi;
  /** ms after the receivers' start when it held every entry. */
  caughtUpMs?: number;
  /** Run by the Go binary (the mixed variant). */
  go?: boolean;
}

/** Opens the member's LMDB and data DBI when they exist; true once open. */
function tryOpen(m: Member): boolean {
  if (m.dbi) return true;
  if (!existsSync(join(m.lmdbPath, 'data.mdb'))) return false;
  m.env ??= Env.open(m.lmdbPath, { mapSize: MAP_MIB * 2 ** 20, maxDbs: 64 });
  m.dbi = m.env.openDbi(DATA_DBI) ?? undefined;
  return m.dbi !== undefined;
}

function entryCount(m: Member): number {
  const dbi = m.dbi!;
  return m.env!.read((txn) => txn.stat(dbi).entries);
}

// ------------------------------------------------------------------------------------------------
// One run

interface RunResult {
  impl: string;
  n: number;
  variant: string;
  error?: string;
  wallS: number;
  firstStoreS?: number;
  catchUp?: Summary;
  idleS?: number;
  idle?: MeterCounts;
  idleCpuFleet?: number;
  windowS?: number;
  window?: MeterCounts;
  windowCpuFleet?: number;
  windowCpuRgw?: number;
  writerSnapshots?: number;
  receiverSnapshots?: number;
  receiversThatStored?: number;
  visible?: Summary;
  visibleAll?: Summary;
  perInstance?: Array<{ name: string; s: Summary }>;
  /** Mixed fleets: change-to-visible at the Go instance. */
  goVisible?: Summary;
  missed?: number;
  rssWriterMiB?: number;
  rssReceiversMiB?: Summary;
  bucketObjects?: number;
  bucketBytes?: number;
  startupSnapshots?: number;
}

interface Change {
  n: number;
  key: Buffer;
  timestamp: bigint;
  at: number;
  /** delay (ms) per receiver index, once visible */
  seen: Map<number, number>;
  doneAt?: number;
}

let runSeq = 0;

async function runOne(impl: Impl, n: number, variantName: string, s3: S3Endpoint, template: string, workDir: string,
  rgwPid: number | undefined, signal: AbortSignal): Promise<RunResult> {
  const variant = VARIANTS[variantName]!;
  const t0 = performance.now();
  const result: RunResult = { impl: impl.name, n, variant: variantName, wallS: 0 };
  const dir = join(workDir, `run${++runSeq}-${impl.name}-n${n}-${variantName}`);
  mkdirSync(dir, { recursive: true });
  const bucket = `fleet-${Date.now().toString(36)}-${impl.name}-${n}-${variantName}`.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 63);
  console.log('');
  console.log(`=== ${impl.name}, N=${n}, ${variantName} (${variant.what}): ${ENTRIES} entries, ${TEXT_VALUES ? 'text' : 'random'} values, ` +
    `${CHANGES} changes every ${args.interval}; bucket ${bucket}; load average ${load()}`);
  const childEnv = { ...process.env, NO_COLOR: '1', LS_S3_ACCESS_KEY: s3.accessKey, LS_S3_SECRET_KEY: s3.secretKey };
  let meter: Meter | undefined;
  const members: Member[] = [];
  const log = (line: string): void => { if (!args.quiet) console.log(`  ${line}`); };
  const checkAlive = (): void => {
    for (const m of members) {
      if (m.proc.child && m.proc.exit) throw new Error(`${m.name}: ${impl.name} sync stopped unexpectedly (${m.proc.describeExit()})\n${m.proc.logTail(20)}`);
    }
    if (meter?.proc.exit) throw new Error(`s3-meter stopped unexpectedly (${meter.proc.describeExit()})`);
  };
  try {
    meter = await Meter.start(dir, s3.endpoint, n);
    for (let i = 0; i < n; i++) {
      const name = `i${String(i + 1).padStart(2, '0')}`;
      const m: Member = {
        name, lmdbPath: join(dir, name, 'lmdb'), configPath: join(dir, `${name}.yaml`), proc: new Proc(name, join(dir, `${name}.log`)),
      };
      const go = variant.goPeer === true && i === n - 1;
      const config: Record<string, unknown> = {
        instance: name,
        lmdbs: { main: { path: m.lmdbPath, schema_tracks_changes: true, options: { create: true, map_size: `${MAP_MIB}MB` } } },
        storage: {
          type: 's3',
          options: {
            access_key: '${LS_S3_ACCESS_KEY}', secret_key: '${LS_S3_SECRET_KEY}', bucket,
            endpoint_url: `http://127.0.0.1:${meter.ports[i]!}`, create_bucket: true, ...variant.storageOptions,
          },
        },
        ...(go ? {} : variant.extra),
      };
      if (go) m.go = true;
      writeFileSync(m.configPath, `# bench/fleet.ts: ${impl.name}, N=${n}, ${variantName}\n${stringify(config)}`);
      members.push(m);
    }
    const writer = members[0]!;
    const receivers = members.slice(1);
    const start = (m: Member): void => {
      if (m.go) m.proc.run(REFERENCE_BIN!, ['-c', m.configPath, 'sync'], childEnv);
      else m.proc.run(impl.command, [...impl.args, '-c', m.configPath, 'sync'], childEnv);
    };

    // 1. The writer alone, with the initial LMDB, until it stored its first snapshot.
    mkdirSync(writer.lmdbPath, { recursive: true });
    copyFileSync(template, join(writer.lmdbPath, 'data.mdb'));
    if (!tryOpen(writer)) throw new Error('the initial LMDB has no data DBI');
    const tStart = performance.now();
    start(writer);
    for (;;) {
      checkAlive();
      if ((await meter.counts())[0]!.snapshotPuts > 0) break;
      if (performance.now() - tStart > START_TIMEOUT_MS) throw new Error(`${writer.name} stored no snapshot within ${START_TIMEOUT_MS / 1000} s\n${writer.proc.logTail(20)}`);
      await sleep(20, undefined, { signal });
    }
    result.firstStoreS = (performance.now() - tStart) / 1000;
    log(`${writer.name} stored its first snapshot ${result.firstStoreS.toFixed(2)} s after its start`);

    // 2. The others, from nothing, until each holds every entry.
    const tRecv = performance.now();
    for (const m of receivers) start(m);
    for (;;) {
      checkAlive();
      const now = performance.now();
      for (const m of receivers) {
        if (m.caughtUpMs === undefined && tryOpen(m) && entryCount(m) >= ENTRIES) m.caughtUpMs = now - tRecv;
      }
      if (receivers.every((m) => m.caughtUpMs !== undefined)) break;
      if (now - tRecv > CATCH_UP_TIMEOUT_MS) {
        throw new Error(`not caught up after ${CATCH_UP_TIMEOUT_MS / 1000} s: ${receivers.filter((m) => m.caughtUpMs === undefined).map((m) => m.name).join(', ')}`);
      }
      await sleep(CHECK_EVERY, undefined, { signal });
    }
    result.catchUp = summarize(receivers.map((m) => m.caughtUpMs! / 1000));
    log(`the ${receivers.length} others held all ${ENTRIES} entries after p50 ${result.catchUp.p50.toFixed(2)} s, max ${result.catchUp.max.toFixed(2)} s`);

    // 3. Settle, then the idle baseline.
    await sleep(SETTLE_MS, undefined, { signal });
    checkAlive();
    const fleetCpu = (): number => members.reduce((a, m) => a + cpuSeconds(m.proc.pid), 0);
    const idle0 = sumCounts(await meter.counts());
    result.startupSnapshots = idle0.snapshotPuts;
    const idleCpu0 = fleetCpu();
    const tIdle0 = performance.now();
    await sleep(IDLE_MS, undefined, { signal });
    checkAlive();
    const idle1 = sumCounts(await meter.counts());
    result.idleS = (performance.now() - tIdle0) / 1000;
    result.idle = diffCounts(idle1, idle0);
    result.idleCpuFleet = fleetCpu() - idleCpu0;

    // 4. The change minute.
    const before = await meter.counts();
    const cpu0 = fleetCpu();
    const rgw0 = cpuSeconds(rgwPid);
    const tw0 = performance.now();
    const clock = new WriteClock();
    const changes: Change[] = [];
    const stride = pickStride(ENTRIES);
    const wdbi = writer.dbi!;
    let next = 0;
    for (;;) {
      const now = performance.now();
      if (next < CHANGES && now >= tw0 + next * INTERVAL_MS) {
        const key = keyOf((next * stride) % ENTRIES);
        const timestamp = clock.next();
        const text = Buffer.from(`changed ${next + 1} at ${timestamp} `.padEnd(VALUE_LEN, 'x'), 'latin1');
        writer.env!.write((txn) => txn.put(wdbi, key, buildValue(timestamp, txn.id, text)));
        changes.push({ n: next + 1, key, timestamp, at: performance.now(), seen: new Map() });
        next++;
      }
      const open = changes.filter((c) => c.doneAt === undefined);
      receivers.forEach((m, r) => {
        const waiting = open.filter((c) => !c.seen.has(r));
        if (waiting.length === 0) return;
        const dbi = m.dbi!;
        m.env!.read((txn) => {
          for (const c of waiting) {
            const raw = txn.get(dbi, c.key);
            if (raw && parseValue(raw).timestamp >= c.timestamp) c.seen.set(r, performance.now() - c.at);
          }
        });
      });
      const t = performance.now();
      for (const c of open) {
        if (c.seen.size === receivers.length || t - c.at > VISIBLE_TIMEOUT_MS) {
          c.doneAt = t;
          if (c.seen.size === receivers.length) {
            const d = [...c.seen.values()];
            log(`change ${String(c.n).padStart(3)}/${CHANGES} visible at all ${receivers.length} after ${ms(Math.max(...d))} ms (first ${ms(Math.min(...d))})`);
          } else {
            log(`change ${String(c.n).padStart(3)}/${CHANGES} NOT visible within ${VISIBLE_TIMEOUT_MS / 1000} s at ${receivers.length - c.seen.size} instance(s)`);
          }
        }
      }
      if (next >= CHANGES && changes.every((c) => c.doneAt !== undefined)) break;
      checkAlive();
      await sleep(CHECK_EVERY, undefined, { signal });
    }
    await sleep(SETTLE_MS, undefined, { signal });
    checkAlive();
    const after = await meter.counts();
    result.windowS = (performance.now() - tw0) / 1000;
    result.windowCpuFleet = fleetCpu() - cpu0;
    result.windowCpuRgw = rgwPid === undefined ? undefined : cpuSeconds(rgwPid) - rgw0;
    const perMember = after.map((a, i) => diffCounts(a, before[i]!));
    result.window = sumCounts(perMember);
    result.writerSnapshots = perMember[0]!.snapshotPuts;
    result.receiverSnapshots = perMember.slice(1).reduce((a, c) => a + c.snapshotPuts, 0);
    result.receiversThatStored = perMember.slice(1).filter((c) => c.snapshotPuts > 0).length;
    const all: number[] = [];
    for (const c of changes) all.push(...c.seen.values());
    result.visible = summarize(all);
    result.visibleAll = summarize(changes.filter((c) => c.seen.size === receivers.length).map((c) => Math.max(...c.seen.values())));
    result.missed = changes.reduce((a, c) => a + receivers.length - c.seen.size, 0);
    result.perInstance = receivers.map((m, r) => ({ name: m.go ? `${m.name}(go)` : m.name, s: summarize(changes.flatMap((c) => c.seen.get(r) ?? [])) }));
    const goIndex = receivers.findIndex((m) => m.go);
    if (goIndex >= 0) result.goVisible = summarize(changes.flatMap((c) => c.seen.get(goIndex) ?? []));
    const rss = members.map((m) => peakRssKiB(m.proc.pid) ?? NaN);
    result.rssWriterMiB = rss[0]! / 1024;
    result.rssReceiversMiB = summarize(rss.slice(1).map((k) => k / 1024));
    const objects = await listBucket(s3, bucket);
    result.bucketObjects = objects.length;
    result.bucketBytes = objects.reduce((a, o) => a + o.size, 0);
  } catch (err) {
    if (signal.aborted) throw err;
    result.error = errorMessage(err);
    console.error(`  FAILED: ${result.error}`);
  } finally {
    await Promise.all(members.map((m) => m.proc.stop()));
    for (const m of members) if (m.env && !m.env.closed) m.env.close();
    await meter?.stop();
    const unclean = members.filter((m) => m.proc.exit && m.proc.exit.code !== 0);
    for (const m of unclean) console.error(`  ${m.name}: ${m.proc.describeExit()} at the stop`);
    if (!args.keep) {
      await deleteBucket(s3, bucket).catch((err: unknown) => { console.error(`  could not delete bucket ${bucket}: ${errorMessage(err)}`); });
      if (!result.error && unclean.length === 0) rmSync(dir, { recursive: true, force: true });
    }
  }
  result.wallS = (performance.now() - t0) / 1000;
  printRun(result);
  return result;
}

/** A stride coprime with the entry count, so the changed keys are distinct and spread out. */
function pickStride(entries: number): number {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  let s = Math.max(1, Math.floor(entries / 61) + 1);
  while (gcd(s, entries) !== 1) s++;
  return s;
}

// ------------------------------------------------------------------------------------------------
// The bucket (directly, not through the meter)

function s3Client(s3: S3Endpoint): S3Client {
  return new S3Client({
    endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

async function listBucket(s3: S3Endpoint, bucket: string): Promise<Array<{ key: string; size: number }>> {
  const client = s3Client(s3);
  try {
    const out: Array<{ key: string; size: number }> = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      for (const o of page.Contents ?? []) if (o.Key !== undefined) out.push({ key: o.Key, size: o.Size ?? 0 });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  } finally {
    client.destroy();
  }
}

async function deleteBucket(s3: S3Endpoint, bucket: string): Promise<void> {
  let objects: Array<{ key: string }>;
  try {
    objects = await listBucket(s3, bucket);
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchBucket') return;
    throw err;
  }
  const client = s3Client(s3);
  try {
    for (let i = 0; i < objects.length; i += 16) {
      await Promise.all(objects.slice(i, i + 16).map((o) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.key }))));
    }
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
}

// ------------------------------------------------------------------------------------------------
// Output

const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');
const ms = (v: number): string => (Number.isFinite(v) ? String(Math.round(v)) : '-');
const num = (v: number, digits = 1): string => (Number.isFinite(v) ? v.toFixed(digits) : '-');
const bytes = (v: number): string => (Number.isFinite(v) ? (v < 0 ? `-${formatBytes(-Math.round(v))}` : formatBytes(Math.round(v))) : '-');

/** Per change: (window - idle rate x window length) / changes. */
function perChange(r: RunResult, pick: (c: MeterCounts) => number): number {
  if (!r.window || !r.idle || r.windowS === undefined || r.idleS === undefined) return NaN;
  return (pick(r.window) - (pick(r.idle) / r.idleS) * r.windowS) / CHANGES;
}

function printRun(r: RunResult): void {
  if (r.error || !r.window || !r.idle || r.idleS === undefined || r.windowS === undefined) {
    console.log(`  run took ${r.wallS.toFixed(0)} s${r.error ? ' (failed)' : ''}`);
    return;
  }
  const idle = r.idle;
  const idleS = r.idleS;
  const rate = (v: number): string => num(v / idleS, 2);
  console.log(`  start-up: i01 stored its first snapshot after ${num(r.firstStoreS ?? NaN, 2)} s; the ${r.n - 1} others held all entries after ` +
    `p50 ${num(r.catchUp?.p50 ?? NaN, 2)} s, max ${num(r.catchUp?.max ?? NaN, 2)} s; snapshots stored until the idle phase: ${r.startupSnapshots ?? '-'}`);
  console.log(`  idle (${num(idleS)} s): fleet ${rate(sumReq(idle))} req/s (LIST ${rate(idle.requests.LIST)}, GET ${rate(idle.requests.GET)}` +
    ` [marker ${rate(idle.markerGets)}], PUT ${rate(idle.requests.PUT)}, HEAD ${rate(idle.requests.HEAD)}), up ${bytes(idle.bytesUp / idleS)}/s, ` +
    `down ${bytes(idle.bytesDown / idleS)}/s; fleet CPU ${num((r.idleCpuFleet ?? NaN) / idleS, 2)} cores`);
  const w = r.window;
  const rows: Array<[string, (c: MeterCounts) => number, (v: number) => string]> = [
    ['uploaded (request bodies)', (c) => c.bytesUp, bytes],
    ['downloaded (response bodies)', (c) => c.bytesDown, bytes],
    ['  of which LIST answers', (c) => c.listBytesDown, bytes],
    ['LIST requests', (c) => c.requests.LIST, (v) => num(v, 2)],
    ['GET requests', (c) => c.requests.GET, (v) => num(v, 2)],
    ['  of which the update marker', (c) => c.markerGets, (v) => num(v, 2)],
    ['  of which snapshots (200)', (c) => c.snapshotGets, (v) => num(v, 2)],
    ['PUT requests', (c) => c.requests.PUT, (v) => num(v, 2)],
    ['  of which the update marker', (c) => c.markerPuts, (v) => num(v, 2)],
    ['  snapshots stored', (c) => c.snapshotPuts, (v) => num(v, 2)],
    ['HEAD requests', (c) => c.requests.HEAD, (v) => num(v, 2)],
    ['DELETE requests', (c) => c.requests.DELETE, (v) => num(v, 2)],
    ['POST / other requests', (c) => c.requests.POST + c.requests.OTHER, (v) => num(v, 2)],
    ['answers 404 / 5xx', (c) => c.status404 + c.status5xx, (v) => num(v, 2)],
  ];
  console.log(`  ${'change window'.padEnd(30)} ${`total in ${num(r.windowS)} s`.padStart(16)} ${'per change'.padStart(12)}  (window minus idle rate x ${num(r.windowS)} s, / ${CHANGES})`);
  for (const [label, pick, fmt] of rows) {
    const total = pick(w);
    console.log(`  ${label.padEnd(30)} ${(fmt === bytes ? bytes(total) : String(total)).padStart(16)} ${fmt(perChange(r, pick)).padStart(12)}`);
  }
  console.log(`  snapshots stored in the window: ${r.writerSnapshots ?? '-'} by i01, ${r.receiverSnapshots ?? '-'} by receivers (${r.receiversThatStored ?? '-'} of ${r.n - 1} stored any); ` +
    `snapshot downloads ${w.snapshotGets}, of names the same instance had fetched already ${w.snapshotReGets}; avg snapshot stored ${bytes(w.snapshotPuts ? w.snapshotBytesUp / w.snapshotPuts : NaN)}`);
  const v = r.visible;
  const va = r.visibleAll;
  if (v && va) {
    console.log(`  change-to-visible (ms), ${r.n - 1} instances x ${CHANGES} changes: p50 ${ms(v.p50)}  p90 ${ms(v.p90)}  max ${ms(v.max)}  (mean ${ms(v.mean)}, min ${ms(v.min)}); ` +
      `until visible at all: p50 ${ms(va.p50)}  p90 ${ms(va.p90)}  max ${ms(va.max)}; not visible within ${VISIBLE_TIMEOUT_MS / 1000} s: ${r.missed ?? 0}`);
  }
  if (r.perInstance) {
    const cells = r.perInstance.map((p) => `${p.name} ${ms(p.s.p50)}/${ms(p.s.p90)}/${ms(p.s.max)}`);
    for (let i = 0; i < cells.length; i += 5) console.log(`  ${i === 0 ? 'per instance p50/p90/max:' : ''.padEnd(25)} ${cells.slice(i, i + 5).join('  ')}`);
  }
  const rr = r.rssReceiversMiB;
  console.log(`  peak RSS (VmHWM): i01 ${num(r.rssWriterMiB ?? NaN, 0)} MiB, receivers min ${num(rr?.min ?? NaN, 0)} / median ${num(rr?.p50 ?? NaN, 0)} / max ${num(rr?.max ?? NaN, 0)} MiB; ` +
    `CPU in the window: fleet ${num(r.windowCpuFleet ?? NaN)} s (${num((r.windowCpuFleet ?? NaN) / r.windowS, 2)} cores)` +
    `${r.windowCpuRgw === undefined ? '' : `, radosgw ${num(r.windowCpuRgw)} s`}; bucket at the end: ${r.bucketObjects ?? '-'} objects, ${bytes(r.bucketBytes ?? NaN)}`);
  console.log(`  run took ${r.wallS.toFixed(0)} s; load average ${load()}`);
}

const sumReq = (c: MeterCounts): number => Object.values(c.requests).reduce((a, b) => a + b, 0);

function printSummary(results: RunResult[]): void {
  console.log('');
  console.log(`Summary (${ENTRIES} entries, ${TEXT_VALUES ? 'text' : 'random'} values, ${CHANGES} changes every ${args.interval}; per change = window minus idle baseline; ` +
    'visible = at each other instance, ms):');
  console.log('');
  console.log('| impl | N | variant | catch-up max | idle req/s | up / change | down / change | LIST | GET | PUT | HEAD | snapshots i01 / receivers | visible p50 / p90 / max | at all, max | peak RSS max | run |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    if (r.error || !r.idle || r.idleS === undefined) {
      console.log(`| ${r.impl} | ${r.n} | ${r.variant} | failed: ${(r.error ?? '').split('\n')[0]!} |||||||||||| ${r.wallS.toFixed(0)} s |`);
      continue;
    }
    const pc = (pick: (c: MeterCounts) => number): string => num(perChange(r, pick), 1);
    const v = r.visible;
    console.log(`| ${r.impl} | ${r.n} | ${r.variant} | ${num(r.catchUp?.max ?? NaN, 2)} s | ${num(sumReq(r.idle) / r.idleS, 1)} | ` +
      `${bytes(perChange(r, (c) => c.bytesUp))} | ${bytes(perChange(r, (c) => c.bytesDown))} | ${pc((c) => c.requests.LIST)} | ` +
      `${pc((c) => c.requests.GET)} | ${pc((c) => c.requests.PUT)} | ${pc((c) => c.requests.HEAD)} | ${r.writerSnapshots ?? '-'} / ${r.receiverSnapshots ?? '-'} | ` +
      `${v ? `${ms(v.p50)} / ${ms(v.p90)} / ${ms(v.max)}` : '-'}${r.goVisible ? ` (go ${ms(r.goVisible.p50)} / ${ms(r.goVisible.p90)} / ${ms(r.goVisible.max)})` : ''} | ${ms(r.visibleAll?.max ?? NaN)} | ` +
      `${num(Math.max(r.rssWriterMiB ?? NaN, r.rssReceiversMiB?.max ?? NaN), 0)} MiB | ${r.wallS.toFixed(0)} s |`);
  }
}

// ------------------------------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  const ac = new AbortController();
  let signals = 0;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      if (++signals === 1) {
        console.error(`fleet: ${sig}: stopping everything (again to kill at once)`);
        ac.abort(new Error(`interrupted by ${sig}`));
      } else {
        emergencyStop();
        process.exit(130);
      }
    });
  }
  const signal = ac.signal;
  const workDir = mkdtempSync(join(tmpdir(), 'lightningstream-fleet-'));
  const results: RunResult[] = [];
  let failed = false;
  console.log(`Fleet benchmark: instances ${SIZES.join(',')}, variants ${VARIANT_NAMES.join(',')}, implementations ${IMPLS.map((i) => i.name).join(',')}` +
    (REFERENCE_BIN ? ` (go = ${REFERENCE_BIN})` : ' (LS_REFERENCE_BIN not set: the Go implementation is skipped)'));
  console.log(`  ${ENTRIES} entries (16-byte keys, ${VALUE_LEN}-byte ${TEXT_VALUES ? 'text' : 'random'} values + 24-byte header), map_size ${MAP_MIB}MB; ` +
    `${CHANGES} changes every ${args.interval}; idle ${args.idle}, settle ${args.settle}; polls of the LMDBs every ${CHECK_EVERY} ms; work dir ${workDir}`);
  let s3: S3Endpoint;
  let rgwPid: number | undefined;
  try {
    const endpoint = process.env.LS_S3_ENDPOINT;
    if (endpoint) {
      const accessKey = process.env.LS_S3_ACCESS_KEY;
      const secretKey = process.env.LS_S3_SECRET_KEY;
      if (!accessKey || !secretKey) throw new Error('LS_S3_ENDPOINT is set but LS_S3_ACCESS_KEY or LS_S3_SECRET_KEY is not');
      s3 = { endpoint, accessKey, secretKey };
      const cephDir = process.env.LS_CEPH_DIR;
      if (cephDir) rgwPid = readPid(join(cephDir, 'run', 'radosgw.pid'));
      console.log(`  S3: ${endpoint} (LS_S3_ENDPOINT)`);
    } else {
      const cephDir = join(workDir, 'ceph');
      console.log(`  S3: starting a private Ceph in ${cephDir}`);
      cephToStop = cephDir;
      s3 = await startCeph(cephDir, (line) => { if (!args.quiet) console.log(`  ${line}`); }, signal);
      rgwPid = readPid(join(cephDir, 'run', 'radosgw.pid'));
      console.log(`  S3: ${s3.endpoint} (private Ceph)`);
    }
    const t = performance.now();
    const template = writeTemplate(join(workDir, 'template'));
    console.log(`  initial LMDB written in ${((performance.now() - t) / 1000).toFixed(2)} s`);
    for (const impl of IMPLS) {
      for (const n of SIZES) {
        for (const variant of VARIANT_NAMES) {
          if (impl.name !== 'ours' && VARIANTS[variant]!.extra) continue; // an extension Go's config refuses (mixed: run by ours)
          if (VARIANTS[variant]!.goPeer && !REFERENCE_BIN) continue;
          const r = await runOne(impl, n, variant, s3, template, workDir, rgwPid, signal);
          if (r.error) failed = true;
          results.push(r);
        }
      }
    }
  } catch (err) {
    failed = true;
    console.error(`fleet: ${signal.aborted ? 'interrupted' : `FAILED: ${errorMessage(err)}`}`);
  } finally {
    await Promise.all([...children].map((p) => p.stop()));
    if (cephToStop) {
      const dir = cephToStop;
      await stopCeph(dir, (line) => { if (!args.quiet) console.log(`  ${line}`); }).catch((err: unknown) => {
        console.error(`fleet: stopping Ceph failed: ${errorMessage(err)}`);
      });
      cephToStop = undefined;
    }
  }
  if (results.length > 0) printSummary(results);
  if (args.keep || (failed && !signal.aborted)) console.log(`work dir kept: ${workDir}`);
  else rmSync(workDir, { recursive: true, force: true });
  return failed ? (signal.aborted ? 130 : 1) : 0;
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Last resort (second Ctrl-C, or exit without the normal stop): SIGKILL every child, stop our Ceph. */
function emergencyStop(): void {
  for (const p of children) p.kill();
  if (cephToStop) {
    spawnSync('bash', [join(ROOT, 'scripts', 'ceph.sh'), 'stop', cephToStop], { stdio: 'ignore' });
    cephToStop = undefined;
  }
}
process.on('exit', emergencyStop);

process.exitCode = await main();
