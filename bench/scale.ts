/**
 * Scale benchmark of the whole-process CLI (prints figures; not a test):
 *
 *   node dist/bench/scale.js [--sizes 100k,1m,5m,2gb] [--values random,text] [--runs 2] [--skip-merge]
 *                            [--merge-entries 1m] [--value-bytes 100]
 *
 * Native-mode LMDBs (`schema_tracks_changes: true`), one DBI `data`, 16-byte sorted ASCII keys, values of
 * --value-bytes after the 24-byte native header, fs storage. Sizes: `100k`, `1m`, `5m` (entries), or `<X>gb`: the
 * entries that make the DBI's protobuf message 5% larger than X GiB (`2gb`: 17.1M entries, 2.25 GB raw, over
 * the 2 GiB a 32-bit length could hold). Values (bench/harness.ts): `random` (incompressible), `text`
 * (DNS-record-like text), `filler` (bench/sync.ts's text values).
 *
 * 1. Scale curve, per value kind and size: the LMDB is written once (not timed against the tools); then, --runs
 *    times, `sync --only-once` into an empty bucket (store: the first snapshot of a full LMDB) and
 *    `receive --only-once` of it into an empty LMDB. The bucket and the receiving LMDB are deleted after each
 *    run, everything after each size.
 * 2. Merge (unless --skip-merge), per value kind: A holds --merge-entries, stores; B receives it; 1% of A's
 *    entries change (newer timestamps, new values) and A stores again; then, --runs times, B (restored to
 *    its state before) receives A's new snapshot.
 *
 * Per process: wall time and peak RSS (VmHWM) from /usr/bin/time (Debian package `time`), peak RssAnon and
 * peak RssFile (the LMDB's mapped pages) sampled from /proc/<pid>/status every 50 ms, and for ours the
 * longest write-lock hold: the largest `lock_ms` of the `snapshot loaded` log lines (JSON logs), the one write
 * txn of the merge. The Go implementation logs no lock hold, so it has none here.
 *
 * With LS_REFERENCE_BIN pointing to a Go lightningstream binary, every step runs with it too (the same YAML,
 * `-c FILE sync --only-once` / `receive --only-once`, its own bucket and LMDBs), interleaved run by run,
 * and the table gets ours/Go ratios.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BIN, KEY_LEN, fillLmdb, measure, median, writeConfig, type Measured, type ValueKind } from './harness.js';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100k,1m,5m,2gb' },
    values: { type: 'string', default: 'random,text' },
    runs: { type: 'string', default: '2' },
    'skip-merge': { type: 'boolean', default: false },
    'merge-entries': { type: 'string', default: '1m' },
    'value-bytes': { type: 'string', default: '100' },
  },
});

function usage(message: string): never {
  console.error(`scale: ${message}`);
  process.exit(2);
}

const VALUE_BYTES = Number(args['value-bytes']);
if (!Number.isInteger(VALUE_BYTES) || VALUE_BYTES < 1 || VALUE_BYTES > 65536) usage(`--value-bytes: 1..65536, got ${args['value-bytes']}`);
const RUNS = Number(args.runs);
if (!Number.isInteger(RUNS) || RUNS < 1) usage(`--runs: an integer >= 1, got ${args.runs}`);

const varintLen = (n: number) => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4);
/** Bytes of one entry inside the DBI message: tag, length, KV {key, value, timestampNano; flags 0 omitted}. */
const KV_BYTES = 1 + varintLen(KEY_LEN) + KEY_LEN + 1 + varintLen(VALUE_BYTES) + VALUE_BYTES + 1 + 8;
const RAW_PER_ENTRY = 1 + varintLen(KV_BYTES) + KV_BYTES;

interface Size {
  label: string;
  entries: number;
}

function parseSize(text: string): Size {
  const m = /^(\d+(?:\.\d+)?)(k|m|gb)?$/i.exec(text.trim());
  if (!m) return usage(`--sizes: 100k, 1m, 2gb or an entry count, got ${JSON.stringify(text)}`);
  const n = Number(m[1]);
  const unit = m[2]?.toLowerCase();
  const entries = unit === 'gb' ? Math.ceil((n * 2 ** 30 * 1.05) / RAW_PER_ENTRY) : Math.round(n * (unit === 'k' ? 1e3 : unit === 'm' ? 1e6 : 1));
  if (entries < 1) usage(`--sizes: ${text} is no entries`);
  return { label: text.trim(), entries };
}

const VALUE_KINDS: Record<string, ValueKind> = { random: 'random', text: 'dns', filler: 'filler' };
const SIZES = args.sizes.split(',').map(parseSize);
const VALUES = args.values.split(',').map((v) => {
  const kind = VALUE_KINDS[v.trim()];
  return kind ? { label: v.trim(), kind } : usage(`--values: ${Object.keys(VALUE_KINDS).join(', ')}, got ${JSON.stringify(v)}`);
});
const MERGE_ENTRIES = parseSize(args['merge-entries']).entries;

interface Impl {
  name: string;
  command: string;
  prefix: string[];
}
const IMPLS: Impl[] = [{ name: 'ours', command: process.execPath, prefix: [BIN] }];
const REFERENCE_BIN = process.env.LS_REFERENCE_BIN;
if (REFERENCE_BIN) IMPLS.push({ name: 'go', command: REFERENCE_BIN, prefix: [] });

/** The map size in config and for the generator: room for the LMDB twice over, at least 1 GiB. */
function mapGiB(entries: number): number {
  return Math.max(1, Math.ceil((entries * (KEY_LEN + 24 + VALUE_BYTES + 40) * 2.5) / 2 ** 30));
}

const mb = (bytes: number) => (bytes / 1e6 >= 100 ? (bytes / 1e6).toFixed(0) : (bytes / 1e6).toFixed(1));
const sec = (s: number) => (Number.isNaN(s) ? '-' : s.toFixed(2));
const dec = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(1));
const int = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '-' : String(Math.round(x)));
const count = (n: number) => (n >= 1e6 ? `${+(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${+(n / 1e3).toFixed(1)}k` : String(n));
const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');

/** The snapshot object (.pb.gz) newest by name in a bucket directory, and its size. */
function newestSnapshot(bucket: string): { name: string; bytes: number; count: number } {
  const names = readdirSync(bucket).filter((n) => n.endsWith('.pb.gz')).sort();
  const name = names.at(-1);
  if (!name) throw new Error(`no snapshot in ${bucket}`);
  return { name, bytes: statSync(join(bucket, name)).size, count: names.length };
}

/** One implementation's files inside a size's directory. */
class Site {
  readonly dir: string;
  readonly bucket: string;
  readonly a: string;
  readonly b: string;
  private readonly mapSize: string;

  constructor(root: string, readonly impl: Impl, entries: number, a?: string) {
    this.dir = join(root, impl.name);
    mkdirSync(this.dir, { recursive: true });
    this.bucket = join(this.dir, 'bucket');
    this.a = a ?? join(this.dir, 'a');
    this.b = join(this.dir, 'b');
    this.mapSize = `${mapGiB(entries)}GB`;
  }

  private run(instance: 'a' | 'b', lmdb: string, command: string): Promise<Measured> {
    const config = writeConfig(this.dir, { instance, lmdb, bucket: this.bucket, mapSize: this.mapSize });
    return measure(this.impl.command, [...this.impl.prefix, '-c', config, command, '--only-once']);
  }

  store(): Promise<Measured> {
    return this.run('a', this.a, 'sync');
  }

  receive(): Promise<Measured> {
    return this.run('b', this.b, 'receive');
  }

  clear(what: 'bucket' | 'b'): void {
    rmSync(this[what], { recursive: true, force: true });
  }
}

interface Row {
  values: string;
  entries: number;
  impl: string;
  lmdbBytes: number;
  snapshotBytes: number[];
  store: Measured[];
  receive: Measured[];
}

const say = (line: string) => console.log(line);

function fill(path: string, entries: number, kind: ValueKind): number {
  const t = performance.now();
  fillLmdb(path, { entries, values: kind, valueBytes: VALUE_BYTES, mapSize: mapGiB(entries) * 2 ** 30, append: true, perTxn: 1_000_000 });
  const bytes = statSync(join(path, 'data.mdb')).size;
  console.log(`  generated ${count(entries)} entries in ${((performance.now() - t) / 1000).toFixed(1)} s, LMDB ${mb(bytes)} MB`);
  return bytes;
}

function runLine(m: Measured): string {
  return `${sec(m.seconds)} s (CPU ${sec(m.cpuSeconds)} s), peak RSS ${m.rssMiB} MiB (anon ${int(m.anonMiB)}, file ${int(m.fileMiB)})`;
}

async function scalePoint(kind: { label: string; kind: ValueKind }, size: Size): Promise<Row[]> {
  const root = mkdtempSync(join(tmpdir(), 'ls-bench-scale-'));
  try {
    console.log(`${kind.label} values, ${size.label} = ${count(size.entries)} entries, ${mb(size.entries * RAW_PER_ENTRY)} MB raw DBI (load ${load()})`);
    const a = join(root, 'a');
    const lmdbBytes = fill(a, size.entries, kind.kind);
    const sites = IMPLS.map((impl) => new Site(root, impl, size.entries, a));
    const rows: Row[] = sites.map((s) => ({
      values: kind.label, entries: size.entries, impl: s.impl.name, lmdbBytes, snapshotBytes: [], store: [], receive: [],
    }));
    for (let r = 0; r < RUNS; r++) {
      for (const [i, site] of sites.entries()) {
        const row = rows[i]!;
        site.clear('bucket');
        site.clear('b');
        const store = await site.store();
        const snap = newestSnapshot(site.bucket);
        const receive = await site.receive();
        if (site.impl.name === 'ours' && receive.loads !== 1) throw new Error(`receive loaded ${receive.loads} snapshots, expected 1`);
        row.store.push(store);
        row.receive.push(receive);
        row.snapshotBytes.push(snap.bytes);
        console.log(`  run ${r + 1} ${site.impl.name}: store ${runLine(store)} | snapshot ${mb(snap.bytes)} MB | receive ` +
          `${runLine(receive)}, longest write lock ${int(receive.lockMs)} ms`);
        site.clear('b');
      }
    }
    return rows;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

interface MergeResult {
  values: string;
  impl: string;
  changed: number;
  receive: Measured[];
  /** The same snapshot received again by B right after (nothing changes: the unchanged re-merge). */
  again: Measured[];
}

async function mergePoint(kind: { label: string; kind: ValueKind }): Promise<MergeResult[]> {
  const root = mkdtempSync(join(tmpdir(), 'ls-bench-merge-'));
  try {
    console.log(`merge: ${kind.label} values, ${count(MERGE_ENTRIES)} entries, 1% changed (load ${load()})`);
    const template = join(root, 'template');
    fill(template, MERGE_ENTRIES, kind.kind);
    const results: { site: Site; baseline: string; result: MergeResult }[] = [];
    for (const impl of IMPLS) {
      const site = new Site(root, impl, MERGE_ENTRIES);
      mkdirSync(site.a);
      copyFileSync(join(template, 'data.mdb'), join(site.a, 'data.mdb'));
      await site.store();
      await site.receive();
      fillLmdb(site.a, { entries: MERGE_ENTRIES, values: kind.kind, valueBytes: VALUE_BYTES, mapSize: mapGiB(MERGE_ENTRIES) * 2 ** 30, every: 100, rev: 1 });
      await site.store();
      const snaps = newestSnapshot(site.bucket);
      if (snaps.count !== 2) throw new Error(`${impl.name}: expected 2 snapshots of A, found ${snaps.count}`);
      const baseline = join(site.dir, 'b-before.mdb');
      copyFileSync(join(site.b, 'data.mdb'), baseline);
      results.push({ site, baseline, result: { values: kind.label, impl: impl.name, changed: Math.ceil(MERGE_ENTRIES / 100), receive: [], again: [] } });
    }
    for (let r = 0; r < RUNS; r++) {
      for (const { site, baseline, result } of results) {
        site.clear('b');
        mkdirSync(site.b);
        copyFileSync(baseline, join(site.b, 'data.mdb'));
        const m = await site.receive();
        result.receive.push(m);
        console.log(`  run ${r + 1} ${site.impl.name}: receive of A's new snapshot into B ${runLine(m)}, longest write lock ${int(m.lockMs)} ms` +
          (m.changed === undefined ? '' : `, ${m.changed} entries changed`));
        const again = await site.receive();
        result.again.push(again);
        console.log(`  run ${r + 1} ${site.impl.name}: the same snapshot received again ${runLine(again)}, longest write lock ${int(again.lockMs)} ms` +
          (again.changed === undefined ? '' : `, ${again.changed} entries changed`));
      }
    }
    return results.map((x) => x.result);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function goVersion(): string {
  if (!REFERENCE_BIN) return '';
  try {
    return execFileSync(REFERENCE_BIN, ['version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n')[0] ?? '';
  } catch {
    return 'version unknown';
  }
}

const started = performance.now();
say(`scale benchmark: sizes ${args.sizes}, values ${args.values}, ${VALUE_BYTES}-byte values, ${RUNS} runs, ` +
  `${availableParallelism()} cores, load average ${load()} at start`);
say(REFERENCE_BIN ? `Go: ${REFERENCE_BIN} (${goVersion()})` : 'Go: LS_REFERENCE_BIN not set, the Go implementation is not measured');

const rows: Row[] = [];
for (const kind of VALUES) for (const size of SIZES) rows.push(...await scalePoint(kind, size));
const merges: MergeResult[] = [];
if (!args['skip-merge']) for (const kind of VALUES) merges.push(...await mergePoint(kind));

const med = (ms: Measured[], f: (m: Measured) => number | undefined) => median(ms.map((m) => f(m) ?? NaN));
const ratio = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) || b === 0 ? '-' : `${(a / b).toFixed(2)}x`);

say('');
say(`medians of ${RUNS} runs; RSS in MiB: peak (VmHWM) / peak RssAnon / peak RssFile (mapped files: the LMDB's pages, and ~40 MiB of node itself)`);
say('| values | entries | raw DBI MB | snapshot MB | impl | store s | store CPU s | store RSS | receive s | receive CPU s | receive RSS | longest write lock ms |');
say('|---|---|---|---|---|---|---|---|---|---|---|---|');
const rss = (ms: Measured[]) => `${int(med(ms, (m) => m.rssMiB))} / ${int(med(ms, (m) => m.anonMiB))} / ${int(med(ms, (m) => m.fileMiB))}`;
for (const row of rows) {
  say(`| ${row.values} | ${count(row.entries)} | ${mb(row.entries * RAW_PER_ENTRY)} | ${mb(median(row.snapshotBytes))} | ${row.impl} | ` +
    `${sec(med(row.store, (m) => m.seconds))} | ${sec(med(row.store, (m) => m.cpuSeconds))} | ${rss(row.store)} | ` +
    `${sec(med(row.receive, (m) => m.seconds))} | ${sec(med(row.receive, (m) => m.cpuSeconds))} | ${rss(row.receive)} | ` +
    `${int(med(row.receive, (m) => m.lockMs))} |`);
  const go = rows.find((g) => g.impl === 'go' && g.values === row.values && g.entries === row.entries);
  if (row.impl === 'ours' && go) {
    const r = (f: (row: Row) => Measured[], g: (m: Measured) => number | undefined) => ratio(med(f(row), g), med(f(go), g));
    say(`| | | | ${ratio(median(row.snapshotBytes), median(go.snapshotBytes))} | ours/go | ${r((x) => x.store, (m) => m.seconds)} | ` +
      `${r((x) => x.store, (m) => m.cpuSeconds)} | ${r((x) => x.store, (m) => m.rssMiB)} | ${r((x) => x.receive, (m) => m.seconds)} | ` +
      `${r((x) => x.receive, (m) => m.cpuSeconds)} | ${r((x) => x.receive, (m) => m.rssMiB)} | |`);
  }
}

// Flat RSS: the anonymous memory (the process's own, not the mapped LMDB pages) per size, and the verdict
// between the two largest sizes (flat: it grew by less than a quarter of what the entries grew).
for (const kind of VALUES) {
  for (const impl of IMPLS) {
    const mine = rows.filter((r) => r.values === kind.label && r.impl === impl.name).sort((x, y) => x.entries - y.entries);
    if (mine.length < 2) continue;
    const [prev, top] = [mine.at(-2)!, mine.at(-1)!];
    const part = (what: 'store' | 'receive') => {
      const series = mine.map((r) => int(med(r[what], (m) => m.anonMiB))).join(', ');
      const [x, y] = [med(prev[what], (m) => m.anonMiB), med(top[what], (m) => m.anonMiB)];
      const flat = y - x <= 0.25 * x * (top.entries / prev.entries - 1);
      return `${what} ${series} MiB (${flat ? 'flat' : 'grows'} from ${count(prev.entries)} to ${count(top.entries)}: ${ratio(y, x)})`;
    };
    say(`peak RssAnon by size, ${kind.label} values, ${impl.name} (${mine.map((r) => count(r.entries)).join(', ')} entries): ` +
      `${part('store')}; ${part('receive')}`);
  }
}

if (merges.length > 0) {
  say('');
  say(`merge: receive of ${count(MERGE_ENTRIES)} remote entries into an LMDB that holds them, 1% changed (medians of ${RUNS} runs)`);
  say('| values | impl | receive s | receive CPU s | RSS peak / anon / file MiB | longest write lock ms | again: receive s | again: write lock ms |');
  say('|---|---|---|---|---|---|---|---|');
  for (const m of merges) {
    say(`| ${m.values} | ${m.impl} | ${sec(med(m.receive, (x) => x.seconds))} | ${sec(med(m.receive, (x) => x.cpuSeconds))} | ${rss(m.receive)} | ${int(med(m.receive, (x) => x.lockMs))} | ` +
      `${sec(med(m.again, (x) => x.seconds))} | ${dec(med(m.again, (x) => x.lockMs))} |`);
    const go = merges.find((g) => g.impl === 'go' && g.values === m.values);
    if (m.impl === 'ours' && go) {
      say(`| | ours/go | ${ratio(med(m.receive, (x) => x.seconds), med(go.receive, (x) => x.seconds))} | ` +
        `${ratio(med(m.receive, (x) => x.cpuSeconds), med(go.receive, (x) => x.cpuSeconds))} | ` +
        `${ratio(med(m.receive, (x) => x.rssMiB), med(go.receive, (x) => x.rssMiB))} | | | |`);
    }
  }
}
say('');
say(`done in ${((performance.now() - started) / 60000).toFixed(1)} min, load average ${load()} at the end ` +
  `(a shared machine: other processes' load lengthens wall times)`);
