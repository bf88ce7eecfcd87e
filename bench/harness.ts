/**
 * What the whole-process benchmarks share (bench/sync.ts, bench/scale.ts, bench/fleet.ts): the native-mode
 * LMDB generator, the YAML both implementations take, and a runner that measures one CLI process.
 */
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Env, KVBatchWriter, MDB_APPEND, writeHeader } from '../src/lmdb/index.js';

/** bin/lightningstream.js of this checkout (from dist/bench/). */
export const BIN = resolve(import.meta.dirname, '../../bin/lightningstream.js');

export const KEY_LEN = 16;
export const DATA_DBI = 'data';

/**
 * Application values after the native header:
 * - `random`: incompressible bytes;
 * - `dns`: DNS-record-like text (owner name, TTL, class, type and rdata of A, AAAA, MX, TXT, NS, CNAME,
 *   SOA records, padded with a record comment), compressible like a zone;
 * - `filler`: `value number N ` padded with `abcdefgh` (very compressible; the earlier benches' "text").
 */
export type ValueKind = 'random' | 'dns' | 'filler';

/** The key of entry i: `key` and 13 decimal digits (sorted ASCII, 16 bytes). */
export function keyText(i: number): string {
  return `key${String(i).padStart(KEY_LEN - 3, '0')}`;
}

const RDATA: ((i: number, rev: number) => string)[] = [
  (i, rev) => `A 192.0.${(i >>> 8) & 255}.${(i + rev) & 255}`,
  (i, rev) => `AAAA 2001:db8:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::${(rev + 1).toString(16)}`,
  (i, rev) => `MX ${10 * ((i + rev) % 4)} mail${i % 7}.zone${Math.floor(i / 64)}.example.net.`,
  (i, rev) => `TXT "v=spf1 ip4:198.51.100.${(i + rev) & 255} include:_spf.example.net ~all"`,
  (i) => `NS ns${(i % 3) + 1}.example.net.`,
  (i, rev) => `CNAME edge${(i + rev) % 97}.cdn.example.org.`,
  (i, rev) => `SOA ns1.example.net. hostmaster.example.net. ${2026120100 + rev} 10800 3600 604800 3600`,
];

function dnsValue(i: number, rev: number, len: number): string {
  const line = `host-${i}.zone${Math.floor(i / 64)}.example.net. ${rev === 0 ? 3600 : 300} IN ${RDATA[i % RDATA.length]!(i, rev)}`;
  return line.length >= len ? line.slice(0, len) : line.padEnd(len, ' ; managed by the zone editor, do not change');
}

export interface FillOptions {
  entries: number;
  values: ValueKind;
  valueBytes?: number;
  mapSize: number;
  /** Write only entries i with i % every === 0 (default 1: all). */
  every?: number;
  /** Changes the text values (random ones are new anyway): a later pass with rev > 0 rewrites them. */
  rev?: number;
  /** Entries per write txn (default: all in one). */
  perTxn?: number;
  /** The LMDB is empty and entries come in key order: MDB_APPEND (much faster for tens of millions). */
  append?: boolean;
}

/**
 * Writes entries 0..entries-1 (keys from keyText, the native header with the current time and txn id 1,
 * then the value) into the `data` DBI of the LMDB at path (created when missing), native mode.
 */
export function fillLmdb(path: string, o: FillOptions): void {
  const valueBytes = o.valueBytes ?? 100;
  const every = o.every ?? 1;
  const rev = o.rev ?? 0;
  const perTxn = o.perTxn ?? Infinity;
  const env = Env.open(path, { create: true, mapSize: o.mapSize, noSync: true });
  try {
    const dbi = env.openDbi(DATA_DBI, { create: true })!;
    const ts = BigInt(Date.now()) * 1_000_000n;
    const [hi, lo] = [Number(ts >> 32n), Number(ts & 0xffffffffn)];
    const w = new KVBatchWriter();
    for (let i = 0; i < o.entries; ) {
      env.write((txn) => {
        for (let inTxn = 0; i < o.entries && inTxn < perTxn; i += every, inTxn++) {
          const keyAt = w.reserve(KEY_LEN, 24 + valueBytes);
          const valAt = keyAt + KEY_LEN;
          w.batch.buf.write(keyText(i), keyAt, 'latin1');
          writeHeader(w.batch.buf, valAt, hi, lo, 1, 0, 0);
          if (o.values === 'random') randomFillSync(w.batch.buf, valAt + 24, valueBytes);
          else if (o.values === 'dns') w.batch.buf.write(dnsValue(i, rev, valueBytes), valAt + 24, 'latin1');
          else w.batch.buf.write(`value number ${i} ${rev || ''}`.padEnd(valueBytes, 'abcdefgh'), valAt + 24, 'latin1');
          if (w.batch.count >= 8192) {
            txn.putBatch(dbi, w.batch, o.append ? MDB_APPEND : 0);
            w.reset();
          }
        }
        txn.putBatch(dbi, w.batch, o.append ? MDB_APPEND : 0);
        w.reset();
      });
    }
  } finally {
    env.close();
  }
}

export interface ConfigOptions {
  instance: string;
  lmdb: string;
  bucket: string;
  mapSize: string;
  level?: string;
  /** `storage.cleanup.enabled: true` (with the default intervals), as an operator of a long-running fleet sets it. */
  cleanup?: boolean;
}

/** Writes <dir>/<instance>.yaml: one native-mode LMDB `main`, fs storage, JSON logs; the same YAML for Go. */
export function writeConfig(dir: string, o: ConfigOptions): string {
  const path = join(dir, `${o.instance}.yaml`);
  writeFileSync(path, [
    `instance: ${o.instance}`, 'lmdbs:', '  main:', `    path: ${o.lmdb}`, '    schema_tracks_changes: true',
    `    options: { create: true, map_size: ${o.mapSize} }`,
    `storage: { type: fs, options: { root_path: ${o.bucket} }${o.cleanup ? ', cleanup: { enabled: true }' : ''} }`, `log: { level: ${o.level ?? 'info'}, format: json }`,
  ].join('\n') + '\n');
  return path;
}

/** One measured process. */
export interface Measured {
  seconds: number;
  /** CPU seconds, user + system, of the process and its waited-for children (/usr/bin/time %U + %S); NaN without it. */
  cpuSeconds: number;
  /** Peak resident set (VmHWM / getrusage maxrss), MiB. */
  rssMiB: number;
  /** Peak RssAnon and RssFile (sampled every 50 ms from /proc/<pid>/status; undefined when never sampled), MiB. */
  anonMiB?: number;
  fileMiB?: number;
  /** The longest `lock_ms` and its `ms` of this implementation's `snapshot loaded` log lines (ours only). */
  lockMs?: number;
  loadMs?: number;
  /** The number of `snapshot loaded` lines and the sum of their `changed` (ours only). */
  loads: number;
  changed?: number;
  stderr: string;
}

const TIME = '/usr/bin/time';
const MARK = 'LS-BENCH-TIME';

function statusKiB(status: string, field: string): number | undefined {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return m ? Number(m[1]) : undefined;
}

function readStatus(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
}

/** The first child of pid (the program /usr/bin/time runs). */
function childOf(pid: number): number | undefined {
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ')[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs `command ...argv` to its end: wall time and peak RSS from /usr/bin/time when it is installed (else
 * from this process's clock and the last VmHWM sampled), peak RssAnon/RssFile sampled every 50 ms, and
 * the `snapshot loaded` lines of our JSON logs. Throws when it exits non-zero.
 */
export async function measure(command: string, argv: string[]): Promise<Measured> {
  const timed = existsSync(TIME);
  const started = performance.now();
  const child = timed ? spawn(TIME, ['-f', `${MARK} %e %M %U %S`, command, ...argv]) : spawn(command, argv);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => (stderr += d.toString()));
  let target: number | undefined = timed ? undefined : child.pid;
  let anon: number | undefined;
  let file: number | undefined;
  let hwm = 0;
  const sample = () => {
    target ??= child.pid === undefined ? undefined : childOf(child.pid);
    const status = target === undefined ? undefined : readStatus(target);
    if (!status) return;
    const a = statusKiB(status, 'RssAnon');
    const f = statusKiB(status, 'RssFile');
    if (a !== undefined) anon = Math.max(anon ?? 0, a);
    if (f !== undefined) file = Math.max(file ?? 0, f);
    hwm = Math.max(hwm, statusKiB(status, 'VmHWM') ?? 0);
  };
  const timer = setInterval(sample, 50);
  const code = await new Promise<number | null>((res, rej) => {
    child.on('error', rej);
    child.on('close', res);
  }).finally(() => clearInterval(timer));
  const wall = (performance.now() - started) / 1000;
  const m = new RegExp(`^${MARK} ([\\d.]+) (\\d+) ([\\d.]+) ([\\d.]+)$`, 'm').exec(stderr);
  if (code !== 0 || (timed && !m)) throw new Error(`${command} ${argv.join(' ')} failed (${code}):\n${stderr.slice(-4000)}`);
  let lockMs: number | undefined;
  let loadMs: number | undefined;
  let loads = 0;
  let changed: number | undefined;
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (rec.msg !== 'snapshot loaded' || typeof rec.lock_ms !== 'number') continue;
    loads++;
    if (typeof rec.changed === 'number') changed = (changed ?? 0) + rec.changed;
    if (lockMs === undefined || rec.lock_ms > lockMs) {
      lockMs = rec.lock_ms;
      loadMs = typeof rec.ms === 'number' ? rec.ms : undefined;
    }
  }
  const mib = (kib: number | undefined) => (kib === undefined ? undefined : Math.round(kib / 1024));
  return {
    seconds: m ? Number(m[1]) : wall, cpuSeconds: m ? Number(m[3]) + Number(m[4]) : NaN, rssMiB: mib(m ? Number(m[2]) : hwm)!, anonMiB: mib(anon), fileMiB: mib(file),
    lockMs, loadMs, loads, changed, stderr,
  };
}

/** The median (of an even count, the mean of the middle two); NaN for none. */
export function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** mulberry32: a small seeded PRNG, so a bench run's random choices can be replayed with its --seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
