/**
 * Steady-state memory soak (prints figures; not a test): the resident set of `lightningstream sync` processes
 * under a trickle of changes, the load of a typical PowerDNS instance, for ours and Go side by side.
 *
 *   node dist/bench/soak.js [--duration 60m] [--warmup 5m] [--rate 20] [--keys 12000] [--instances 3]
 *                           [--sample 10s] [--print-every 1m] [--impls ours,go] [--seed N] [--keep]
 *                           [--cleanup]   (storage.cleanup enabled, default intervals: the bucket stops growing)
 *
 * Per implementation (`ours`; `go` = the binary named by LS_REFERENCE_BIN, skipped when unset; `ours+K=V+...`
 * = ours with these environment variables added, for experiments such as `ours+MALLOC_ARENA_MAX=2`; `ours@--flag`:
 * with this node flag), all at
 * the same time so that they see the same machine, each with its own fs bucket and LMDBs:
 * 1. `--instances` sync processes, each on its own native-mode LMDB preloaded with the same `--keys` entries
 *    (16-byte keys, 100-byte DNS-like values after the native header) and the same YAML for both implementations.
 * 2. This process commits `--rate` single-key write txns per second per implementation, spread round-robin over
 *    its LMDBs (a random existing key, seeded; native header with the current time and the txn's id).
 * 3. Every `--sample` it reads VmRSS, RssAnon and RssFile of every process from /proc/<pid>/status; it prints
 *    a line every `--print-every` and writes the whole series to <work dir>/rss.csv.
 * At the end: per process the RSS at `--warmup`, at the end, the maximum, and the slope after the warm-up
 * (least squares, MiB/hour), for VmRSS and RssAnon; per implementation the median process, and ours/Go.
 * RssFile is mostly mapped files (node's own code, the LMDB's pages): shared with the page cache and
 * dropped by the kernel under pressure; RssAnon is the process's own memory.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { parseDuration } from '../src/config/units.js';
import { LoggedProcess } from '../src/demo/logged-process.js';
import { WriteClock } from '../src/demo/measure.js';
import { Env, buildValue, type Dbi } from '../src/lmdb/index.js';
import { errorMessage } from '../src/util/errors.js';
import { procRss } from '../src/util/memory.js';
import { BIN, DATA_DBI, fillLmdb, keyText, median, prng, writeConfig } from './harness.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '60m' },
    warmup: { type: 'string', default: '5m' },
    rate: { type: 'string', default: '20' },
    keys: { type: 'string', default: '12000' },
    instances: { type: 'string', default: '3' },
    sample: { type: 'string', default: '10s' },
    'print-every': { type: 'string', default: '1m' },
    impls: { type: 'string', default: 'ours,go' },
    seed: { type: 'string' },
    keep: { type: 'boolean', default: false },
    cleanup: { type: 'boolean', default: false },
  },
});

function usage(message: string): never {
  console.error(`soak: ${message}`);
  process.exit(2);
}

function duration(name: string, text: string): number {
  try {
    return parseDuration(text);
  } catch (err) {
    return usage(`--${name}: ${errorMessage(err)}`);
  }
}

function positive(name: string, text: string, integer: boolean): number {
  const v = Number(text);
  if (!(v > 0) || (integer && !Number.isInteger(v))) usage(`--${name}: expected a positive ${integer ? 'integer' : 'number'}, got ${text}`);
  return v;
}

const DURATION_MS = duration('duration', args.duration);
const WARMUP_MS = duration('warmup', args.warmup);
const SAMPLE_MS = duration('sample', args.sample);
const PRINT_MS = duration('print-every', args['print-every']);
const RATE = positive('rate', args.rate, false);
const KEYS = positive('keys', args.keys, true);
const INSTANCES = positive('instances', args.instances, true);
const SEED = args.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : positive('seed', args.seed, true);
if (WARMUP_MS >= DURATION_MS) usage(`--warmup (${args.warmup}) must be shorter than --duration (${args.duration})`);
const MAP_SIZE = '256MB';
const MAP_BYTES = 256 * 2 ** 20;
const VALUE_BYTES = 100;

// ------------------------------------------------------------------------------------------------
// Implementations and processes

interface Impl {
  label: string;
  command: string;
  argv: string[];
  env: NodeJS.ProcessEnv;
}

function parseImpl(spec: string): Impl {
  const [head = '', ...assignments] = spec.split('+');
  const [base, ...nodeFlags] = head.split('@');
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const a of assignments) {
    const eq = a.indexOf('=');
    if (eq <= 0) usage(`--impls: ${JSON.stringify(a)} in ${spec} is not NAME=VALUE`);
    env[a.slice(0, eq)] = a.slice(eq + 1);
  }
  if (base === 'ours') return { label: spec, command: process.execPath, argv: [...nodeFlags, BIN], env };
  if (nodeFlags.length > 0) usage(`--impls: node flags (@) are for ours only: ${spec}`);
  if (base === 'go') {
    const bin = process.env.LS_REFERENCE_BIN;
    if (!bin) usage('--impls go: LS_REFERENCE_BIN is not set');
    return { label: spec, command: bin, argv: [], env };
  }
  return usage(`--impls: unknown implementation ${JSON.stringify(base)} (ours, go, ours+NAME=VALUE...)`);
}

const implSpecs = args.impls.split(',').map((s) => s.trim()).filter((s) => s !== '');
if (!process.env.LS_REFERENCE_BIN && implSpecs.includes('go')) {
  console.log('soak: LS_REFERENCE_BIN is not set: the Go implementation is skipped');
  implSpecs.splice(implSpecs.indexOf('go'), 1);
}
if (implSpecs.length === 0) usage('--impls: nothing to run');
const IMPLS = implSpecs.map(parseImpl);

interface Member {
  impl: Impl;
  name: string;
  lmdbPath: string;
  proc: LoggedProcess;
  env: Env;
  dbi: Dbi;
  commits: number;
}

interface Sample {
  t: number;
  rss: number;
  anon: number;
  file: number;
}


// ------------------------------------------------------------------------------------------------
// Figures

/** Least-squares slope of y over t (ms), in y per hour; NaN with fewer than 2 points. */
function slopePerHour(points: Array<{ t: number; y: number }>): number {
  if (points.length < 2) return NaN;
  const n = points.length;
  const mt = points.reduce((a, p) => a + p.t, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.y - my);
    den += (p.t - mt) ** 2;
  }
  return den === 0 ? NaN : (num / den) * 3_600_000;
}

interface Figures {
  atWarmup: number;
  end: number;
  max: number;
  slope: number;
}

function figures(series: Sample[], pick: (s: Sample) => number): Figures {
  const after = series.filter((s) => s.t >= WARMUP_MS);
  const atWarmup = after[0] ?? series[series.length - 1];
  return {
    atWarmup: atWarmup ? pick(atWarmup) : NaN,
    end: series.length > 0 ? pick(series[series.length - 1]!) : NaN,
    max: series.reduce((m, s) => Math.max(m, pick(s)), 0),
    slope: slopePerHour(after.map((s) => ({ t: s.t, y: pick(s) }))),
  };
}

const f0 = (v: number): string => (Number.isFinite(v) ? v.toFixed(0) : '-');
const f1 = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '-');
const minutes = (ms: number): string => `${(ms / 60_000).toFixed(1)} min`;

/** Full snapshots and deltas in an fs bucket (the names only; cleanup may have removed older ones). */
function bucketCounts(bucket: string): { full: number; deltas: number } {
  const names = existsSync(bucket) ? readdirSync(bucket) : [];
  return { full: names.filter((n) => !n.startsWith('_journal__') && n.endsWith('.pb.gz')).length, deltas: names.filter((n) => n.endsWith('.dpb.gz')).length };
}

/** Our JSON log lines `snapshot stored` / `delta stored` (Go logs neither). */
function storedCounts(log: string): { full: number; deltas: number } {
  let full = 0;
  let deltas = 0;
  for (const line of log.split('\n')) {
    if (line.includes('"msg":"snapshot stored"')) full++;
    else if (line.includes('"msg":"delta stored"')) deltas++;
  }
  return { full, deltas };
}

// ------------------------------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  const ac = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      console.error(`soak: ${sig}: stopping (the figures so far follow)`);
      ac.abort();
    });
  }
  const workDir = mkdtempSync(join(tmpdir(), 'lightningstream-soak-'));
  const csv = join(workDir, 'rss.csv');
  console.log(`Soak: ${IMPLS.map((i) => i.label).join(', ')}; ${INSTANCES} sync processes each (fs bucket), ${KEYS} keys, ` +
    `${RATE} single-key commits/s per implementation; duration ${args.duration}, warm-up ${args.warmup}, RSS every ${args.sample}; ` +
    `seed ${SEED}; work dir ${workDir}${process.env.LS_REFERENCE_BIN ? `; go = ${process.env.LS_REFERENCE_BIN}` : ''}`);
  const template = join(workDir, 'template');
  fillLmdb(template, { entries: KEYS, values: 'dns', valueBytes: VALUE_BYTES, mapSize: MAP_BYTES });
  const members: Member[] = [];
  const series = new Map<Member, Sample[]>();
  const buckets = new Map<Impl, string>();
  let failed = false;
  try {
    for (const [k, impl] of IMPLS.entries()) {
      const implDir = join(workDir, `impl${k + 1}`);
      const bucket = join(implDir, 'bucket');
      mkdirSync(bucket, { recursive: true });
      buckets.set(impl, bucket);
      for (let i = 0; i < INSTANCES; i++) {
        const name = `i${i + 1}`;
        const lmdbPath = join(implDir, name);
        mkdirSync(lmdbPath, { recursive: true });
        copyFileSync(join(template, 'data.mdb'), join(lmdbPath, 'data.mdb'));
        const config = writeConfig(implDir, { instance: name, lmdb: lmdbPath, bucket, mapSize: MAP_SIZE, cleanup: args.cleanup });
        const env = Env.open(lmdbPath, { mapSize: MAP_BYTES, noSync: true, maxDbs: 64 });
        const dbi = env.openDbi(DATA_DBI);
        if (!dbi) throw new Error(`${lmdbPath}: no ${DATA_DBI} DBI`);
        const proc = new LoggedProcess(`${impl.label}/${name}`, join(implDir, `${name}.log`), 'soak');
        members.push({ impl, name, lmdbPath, proc, env, dbi, commits: 0 });
        proc.start(impl.command, [...impl.argv, '-c', config, 'sync'], { cwd: implDir, env: impl.env });
      }
    }
    for (const m of members) series.set(m, []);
    writeFileSync(csv, `seconds,${members.map((m) => `${m.impl.label}/${m.name} rss,anon,file`).join(',')}\n`);
    console.log(`  ${members.map((m) => `${m.impl.label}/${m.name} pid ${m.proc.pid}`).join(', ')}`);

    const random = prng(SEED);
    const clock = new WriteClock();
    const t0 = performance.now();
    const intervalMs = 1000 / RATE;
    let commits = 0;
    let nextSample = 0;
    let nextPrint = 0;
    const perImpl = IMPLS.map((impl) => members.filter((m) => m.impl === impl));
    while (!ac.signal.aborted) {
      const elapsed = performance.now() - t0;
      if (elapsed >= DURATION_MS) break;
      for (const m of members) {
        if (m.proc.exit) throw new Error(`${m.impl.label}/${m.name} stopped: ${m.proc.describeExit()}\n${m.proc.logTail(20)}`);
      }
      // Commits due by now (at most a second's worth at once after a stall).
      let due = Math.min(Math.floor(elapsed / intervalMs) + 1 - commits, Math.ceil(RATE));
      for (; due > 0; due--, commits++) {
        const key = Buffer.from(keyText(Math.floor(random() * KEYS)), 'latin1');
        const text = Buffer.from(`host-${commits}.zone.example.net. 300 IN A 192.0.2.${commits & 255}`.padEnd(VALUE_BYTES, ' ; soak'), 'latin1');
        for (const group of perImpl) {
          const m = group[commits % group.length]!;
          const ts = clock.next();
          m.env.write((txn) => txn.put(m.dbi, key, buildValue(ts, txn.id, text)));
          m.commits++;
        }
      }
      if (elapsed >= nextSample) {
        const t = Math.round(elapsed);
        const row: string[] = [String(Math.round(t / 1000))];
        for (const m of members) {
          const r = procRss(m.proc.pid ?? 0);
          const s: Sample = { t, rss: r.VmRSS ?? NaN, anon: r.RssAnon ?? NaN, file: r.RssFile ?? NaN };
          series.get(m)!.push(s);
          row.push(f1(s.rss), f1(s.anon), f1(s.file));
        }
        appendFileSync(csv, row.join(',') + '\n');
        nextSample += SAMPLE_MS;
        if (elapsed >= nextPrint) {
          const cells = IMPLS.map((impl) => `${impl.label} ${members.filter((m) => m.impl === impl).map((m) => {
            const s = series.get(m)!.at(-1)!;
            return `${f0(s.rss)}(${f0(s.anon)})`;
          }).join(' ')}`);
          console.log(`  ${minutes(t).padStart(9)}  RSS(anon) MiB: ${cells.join('  |  ')}  [load ${loadavg()[0]!.toFixed(2)}]`);
          nextPrint += PRINT_MS;
        }
      }
      await sleep(Math.max(1, Math.min(intervalMs, 25)));
    }
  } catch (err) {
    failed = true;
    console.error(`soak: FAILED: ${errorMessage(err)}`);
  } finally {
    await Promise.all(members.map((m) => m.proc.stop()));
    for (const m of members) m.env.close();
  }
  printSummary(members, series, buckets);
  console.log(`RSS series (every ${args.sample}): ${csv}`);
  if (args.keep || failed) console.log(`work dir kept: ${workDir}`);
  else rmSync(join(workDir, 'template'), { recursive: true, force: true });
  return failed ? 1 : 0;
}

function printSummary(members: Member[], series: Map<Member, Sample[]>, buckets: Map<Impl, string>): void {
  const last = Math.max(0, ...[...series.values()].map((s) => s.at(-1)?.t ?? 0));
  console.log('');
  console.log(`Summary: ran ${minutes(last)}; warm-up ${args.warmup}; MiB; slope = least squares over the samples after the warm-up.`);
  console.log('');
  console.log('| process | commits | RSS at warm-up | RSS end | RSS max | RSS slope MiB/h | anon at warm-up | anon end | anon max | anon slope MiB/h | file end |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  const byImpl = new Map<Impl, Array<{ rss: Figures; anon: Figures; file: Figures }>>();
  for (const m of members) {
    const s = series.get(m) ?? [];
    const rss = figures(s, (x) => x.rss);
    const anon = figures(s, (x) => x.anon);
    const file = figures(s, (x) => x.file);
    const list = byImpl.get(m.impl) ?? [];
    list.push({ rss, anon, file });
    byImpl.set(m.impl, list);
    console.log(`| ${m.impl.label}/${m.name} | ${m.commits} | ${f0(rss.atWarmup)} | ${f0(rss.end)} | ${f0(rss.max)} | ${f1(rss.slope)} | ` +
      `${f0(anon.atWarmup)} | ${f0(anon.end)} | ${f0(anon.max)} | ${f1(anon.slope)} | ${f0(file.end)} |`);
  }
  console.log('');
  console.log('| implementation | median process: RSS warm-up / end / max | slope MiB/h | anon warm-up / end / max | anon slope MiB/h | snapshots in the bucket (full / deltas) | stored per our logs (full / deltas) |');
  console.log('|---|---|---|---|---|---|---|');
  const medians = new Map<Impl, { end: number; max: number; anonEnd: number }>();
  for (const [impl, list] of byImpl) {
    const md = (pick: (f: { rss: Figures; anon: Figures }) => number): number => median(list.map(pick));
    const b = bucketCounts(buckets.get(impl)!);
    const logs = members.filter((m) => m.impl === impl).map((m) => storedCounts(m.proc.log()));
    const stored = impl.label.startsWith('go') ? '-' : `${logs.reduce((a, c) => a + c.full, 0)} / ${logs.reduce((a, c) => a + c.deltas, 0)}`;
    medians.set(impl, { end: md((f) => f.rss.end), max: md((f) => f.rss.max), anonEnd: md((f) => f.anon.end) });
    console.log(`| ${impl.label} | ${f0(md((f) => f.rss.atWarmup))} / ${f0(md((f) => f.rss.end))} / ${f0(md((f) => f.rss.max))} | ${f1(md((f) => f.rss.slope))} | ` +
      `${f0(md((f) => f.anon.atWarmup))} / ${f0(md((f) => f.anon.end))} / ${f0(md((f) => f.anon.max))} | ${f1(md((f) => f.anon.slope))} | ${b.full} / ${b.deltas} | ${stored} |`);
  }
  const go = [...medians.entries()].find(([i]) => i.label === 'go')?.[1];
  if (go) {
    for (const [impl, m] of medians) {
      if (impl.label === 'go') continue;
      console.log(`${impl.label}/go (medians): RSS end ${f1(m.end / go.end)}x, RSS max ${f1(m.max / go.max)}x, anon end ${f1(m.anonEnd / go.anonEnd)}x`);
    }
  }
}

process.exitCode = await main();
