// The chaos run shared by chaos-fs.test.ts and chaos-s3.test.ts: three real `lightningstream sync`
// processes (instances a, b, c, native mode) share one storage; three application processes
// (lmdb_app.py, python3-lmdb) write thousands of random puts, updates and deletes into their LMDBs on an
// overlapping key space, with forced equal timestamps across instances, while the syncers are SIGKILLed
// (sometimes SIGTERMed) and restarted. Then the writes stop and the three LMDBs must converge on exactly
// the state the oracle (oracle.ts) computes from the op log, and pass an integrity walk.
// Nothing from src/ is used for LMDB I/O or for the expected state.
import { randomInt } from 'node:crypto';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from '../sync/helpers.js';
import { AppClient, type DbiKind, type WireOp } from './app-client.js';
import {
  compare, describeEntry, describeId, digestOfExpected, expectedState, idOf, stateOfDump,
  type Difference, type LoggedOp,
} from './oracle.js';
import { Rng } from './rng.js';

export const INSTANCES = ['a', 'b', 'c'] as const;

/**
 * Knobs to look at one engine bug at a time (defaults: the full test): LS_CHAOS_MAX_KEY_LEN caps the keys
 * of the plain DBIs (511 bytes, LMDB's limit); LS_CHAOS_BIN runs another build of lightningstream.js.
 */
const MAX_KEY = Math.max(2, Math.min(511, Number(process.env.LS_CHAOS_MAX_KEY_LEN ?? 511)));
const SYNC_BIN = process.env.LS_CHAOS_BIN ?? BIN;
const execFileAsync = promisify(execFile);

/**
 * The application DBIs: two plain ones, two MDB_INTEGERKEY ones (8-byte and 4-byte keys).
 * LS_CHAOS_DBIS=plain,names restricts a run to some of them (to look at one bug at a time).
 */
const ALL_DBIS: Record<string, DbiKind> = { plain: 'plain', names: 'plain', int8: 'int8', int4: 'int4' };
const ALL_WEIGHTS: Array<[string, number]> = [['plain', 0.4], ['names', 0.25], ['int8', 0.2], ['int4', 0.15]];
const envDbis = process.env.LS_CHAOS_DBIS?.split(',');

/** The DBIs of one run and the share of ops each gets. */
interface DbiSet {
  kinds: Record<string, DbiKind>;
  weights: Array<[string, number]>;
}

function dbiSet(only: readonly string[] | undefined): DbiSet {
  const kinds = Object.fromEntries(Object.entries(ALL_DBIS).filter(([d]) => !only || only.includes(d)));
  const weights = ALL_WEIGHTS.filter(([d]) => d in kinds).map(([d, w], _, all) => [d, w / all.reduce((a, [, x]) => a + x, 0)] as [string, number]);
  return { kinds, weights };
}

/** The Go implementation for mixed runs (scripts/test.sh sets it when ../shared/reference/ exists). */
export const GO_BIN = process.env.LS_REFERENCE_BIN;

export interface ChaosOptions {
  label: string;
  /** The `storage:` section of every syncer's config. */
  storage: (dir: string) => Record<string, unknown>;
  /** More top-level config lines. */
  extraConfig?: string[];
  writeMs: number;
  targetOps: number;
  convergeTimeoutMs: number;
  /** Called once the run is set up (e.g. to switch faults on) and to add figures. */
  extraFigures?: () => string[];
  seed?: number;
  /**
   * What the applications write into the header's txn id field: `mixed` (default: mostly 0 or random, as a
   * careless application would) or `real` (the write txn's id, as PowerDNS does; what delta snapshots need).
   */
  headerTxnIds?: 'mixed' | 'real';
  /**
   * Instances run by the Go implementation (GO_BIN) instead of ours: a mixed fleet. Their config leaves out
   * `extraConfig` (Go refuses keys it does not know). Go compares keys bytewise and keeps the local entry when
   * a deletion and an empty live value tie, so a mixed run uses the plain DBIs and no such ties.
   */
  goInstances?: readonly string[];
}

export interface ChaosResult {
  seed: number;
  problems: string[];
  figures: string[];
  keysCompared: number;
  keysWrong: number;
  convergedMs?: number;
}

export function chaosSeed(): number {
  const env = process.env.LS_CHAOS_SEED;
  return env ? Number(env) : randomInt(2 ** 31);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Counters {
  batches: number;
  ops: number;
  puts: number;
  updates: number;
  deletes: number;
  skipped: number;
  tieGroups: number;
  tiePairs: number;
  tieDeleteVsLive: number;
  tieIdentical: number;
  sigkill: number;
  sigterm: number;
  unexpectedExits: number;
  integrityWalks: number;
  doubleKills: number;
  startupKills: number;
  freezes: number;
  sigtermEarly: number;
}

/**
 * Every syncer process alive, SIGKILLed if the test process exits without cleaning up (e.g. a timeout),
 * and the run directories still to remove then.
 */
const alive = new Set<ChildProcess>();
const dirsToRemove = new Set<string>();
process.on('exit', () => {
  for (const c of alive) c.kill('SIGKILL');
  if (process.env.LS_KEEP_TEST_DIR !== '1') for (const d of dirsToRemove) rmSync(d, { recursive: true, force: true });
});

/** What happened to the processes, with wall-clock times (to line up with the syncers' logs). */
class Events {
  readonly lines: string[] = [];
  add(what: string): void {
    this.lines.push(`${new Date().toISOString()} ${what}`);
  }
  last(n: number): string {
    return this.lines.slice(-n).join('\n');
  }
}

/**
 * One instance's syncer, restarted by the chaos loop; every process gets its own log file. Node runs it
 * with --report-on-signal (SIGUSR2): a syncer that ignores SIGTERM gets a diagnostic report (JS stack,
 * handles) before the SIGKILL.
 */
class Syncer {
  child?: ChildProcess;
  /** The line a started process logs once its start-up is over. */
  readonly readyLine: RegExp;
  exited?: Promise<number | null>;
  startedAt = 0;
  runs = 0;
  private expectedExit = false;
  readonly logs: string[] = [];

  constructor(readonly name: string, private readonly dir: string, readonly configPath: string,
    private readonly events: Events,
    private readonly onUnexpectedExit: (s: Syncer, code: number | null, signal: string | null) => void,
    readonly go = false) {
    this.readyLine = go ? /startup phase completed successfully/ : /initial sync complete/;
  }

  /** A clean end on SIGTERM: ours exits 0; Go ends through the signal itself (or 143, as a shell reports it). */
  cleanExit(code: number | null, signal: string | null): boolean {
    return code === 0 || (this.go && (code === 143 || (code === null && signal === 'SIGTERM')));
  }

  start(): void {
    this.runs++;
    const logPath = join(this.dir, 'logs', `sync-${this.name}-${this.runs}.log`);
    this.logs.push(logPath);
    const fd = openSync(logPath, 'a');
    const reports = join(this.dir, 'reports');
    const [command, ...pre] = this.go ? [GO_BIN!] : [process.execPath, SYNC_BIN];
    const child = spawn(command, [...pre, '--log-format', 'logfmt', ...(process.env.LS_TEST_DEBUG ? ['--debug'] : []),
      '-c', this.configPath, 'sync'], {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, NODE_OPTIONS: `--report-on-signal --report-signal=SIGUSR2 --report-directory=${reports}` },
    });
    closeSync(fd);
    const run = this.runs;
    this.events.add(`${this.name}#${run} pid=${child.pid} started`);
    this.child = child;
    alive.add(child);
    this.startedAt = Date.now();
    this.expectedExit = false;
    this.exited = new Promise((res) => child.on('exit', (code, signal) => {
      alive.delete(child);
      this.events.add(`${this.name}#${run} pid=${child.pid} exited code=${code} signal=${signal}`);
      if (!this.expectedExit && this.child === child) this.onUnexpectedExit(this, code, signal);
      res(code);
    }));
  }

  running(): boolean {
    const c = this.child;
    return !!c && c.exitCode === null && c.signalCode === null;
  }

  signal(sig: NodeJS.Signals): void {
    if (!this.running()) return;
    this.events.add(`${this.name}#${this.runs} pid=${this.child!.pid} ${sig}`);
    this.child!.kill(sig);
  }

  /**
   * Sends the signal and waits for the exit; after graceMs asks for a diagnostic report (SIGUSR2),
   * then SIGKILLs. Returns the exit code, whether SIGKILL was needed, and the terminating signal.
   */
  async kill(sig: NodeJS.Signals, graceMs = 20_000): Promise<{ code: number | null; forced: boolean; signal: string | null }> {
    const child = this.child;
    if (!child || !this.running()) return { code: null, forced: false, signal: null };
    this.expectedExit = true;
    this.signal(sig);
    let forced = false;
    const t = setTimeout(() => {
      forced = true;
      this.signal('SIGUSR2');
      setTimeout(() => this.signal('SIGKILL'), 3000);
    }, graceMs);
    const code = await this.exited!;
    clearTimeout(t);
    return { code, forced, signal: child.signalCode };
  }

  lastLog(): string {
    const path = this.logs[this.logs.length - 1];
    return path ? readFileSync(path, 'utf8') : '';
  }
}

/** Generates the random ops (keys, values, timestamps) from the seed. */
class OpGenerator {
  private readonly pools = new Map<string, string[]>();
  private readonly seen = new Set<string>();
  private readonly startHr = process.hrtime.bigint();
  private readonly startNs = BigInt(Date.now()) * 1_000_000n;

  constructor(private readonly rng: Rng, private readonly dbis: DbiSet, private readonly headerTxnIds: 'mixed' | 'real' = 'mixed') {
    for (const d of Object.keys(dbis.kinds)) this.pools.set(d, []);
  }

  now(): bigint {
    return this.startNs + (process.hrtime.bigint() - this.startHr);
  }

  /** A timestamp for a normal op: now, sometimes up to 2 s in the past (a late writer). */
  ts(): bigint {
    const t = this.now();
    return this.rng.chance(0.08) ? t - BigInt(this.rng.int(2_000_000_000)) : t;
  }

  dbi(): string {
    let r = this.rng.next();
    for (const [d, w] of this.dbis.weights) { if ((r -= w) < 0) return d; }
    return this.dbis.weights[0]![0];
  }

  private byte(): number {
    const r = this.rng.next();
    return r < 0.15 ? 0x00 : r < 0.3 ? 0xff : this.rng.int(256);
  }

  private biasedBytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.byte();
    return b;
  }

  private newKey(dbi: string): string {
    const kind = this.dbis.kinds[dbi]!;
    if (kind === 'int8') {
      const r = this.rng.next();
      const v = r < 0.4 ? BigInt(this.rng.int(300))
        : r < 0.55 ? 2n ** 32n - 5n + BigInt(this.rng.int(11))
          : r < 0.65 ? 2n ** 63n - 3n + BigInt(this.rng.int(7))
            : r < 0.7 ? 2n ** 64n - 1n - BigInt(this.rng.int(3))
              : BigInt(this.rng.int(2 ** 32)) * 2n ** 32n + BigInt(this.rng.int(2 ** 32));
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(v);
      return b.toString('hex');
    }
    if (kind === 'int4') {
      const r = this.rng.next();
      const v = r < 0.4 ? this.rng.int(300)
        : r < 0.55 ? 65536 - 5 + this.rng.int(11)
          : r < 0.65 ? 2 ** 31 - 3 + this.rng.int(7)
            : r < 0.7 ? 2 ** 32 - 1 - this.rng.int(3)
              : this.rng.int(2 ** 32);
      const b = Buffer.alloc(4);
      b.writeUInt32LE(v);
      return b.toString('hex');
    }
    const pool = this.pools.get(dbi)!;
    if (pool.length > 0 && this.rng.chance(0.25)) {
      // A prefix or an extension of an existing key.
      const base = Buffer.from(this.rng.pick(pool), 'hex');
      if (base.length > 1 && (base.length >= MAX_KEY || this.rng.chance(0.5))) {
        return base.subarray(0, this.rng.range(1, base.length - 1)).toString('hex');
      }
      const extra = this.rng.chance(0.3) ? Buffer.from([this.rng.pick([0x00, 0xff])])
        : this.biasedBytes(this.rng.range(1, Math.min(20, MAX_KEY - base.length)));
      return Buffer.concat([base, extra]).toString('hex');
    }
    const r = this.rng.next();
    const len = Math.min(MAX_KEY,
      r < 0.35 ? this.rng.range(1, 8) : r < 0.65 ? this.rng.range(9, 64) : r < 0.9 ? this.rng.range(65, 300) : this.rng.range(301, 511));
    return this.biasedBytes(len).toString('hex');
  }

  /** A key of the DBI: a new one (40%) or one already used by any instance. */
  key(dbi: string): string {
    const pool = this.pools.get(dbi)!;
    const k = pool.length === 0 || this.rng.chance(0.4) ? this.newKey(dbi) : this.rng.pick(pool);
    if (!this.seen.has(idOf(dbi, k))) pool.push(k);
    return k;
  }

  chance(p: number): boolean {
    return this.rng.chance(p);
  }

  isSeen(dbi: string, key: string): boolean {
    return this.seen.has(idOf(dbi, key));
  }

  markSeen(dbi: string, key: string): void {
    this.seen.add(idOf(dbi, key));
  }

  value(): string {
    const r = this.rng.next();
    if (r < 0.1) return '';
    if (r < 0.55) return this.biasedBytes(this.rng.range(1, 32)).toString('hex');
    const len = r < 0.85 ? this.rng.range(33, 300) : this.rng.range(301, 2000);
    if (this.rng.chance(0.6)) {
      // Compressible: a short pattern repeated (keeps snapshots small), with a random tail.
      const pat = this.biasedBytes(this.rng.range(1, 16));
      const b = Buffer.alloc(len);
      for (let i = 0; i < len; i++) b[i] = pat[i % pat.length]!;
      b.set(this.biasedBytes(Math.min(len, 4)), len - Math.min(len, 4));
      return b.toString('hex');
    }
    return this.rng.bytes(len).toString('hex');
  }

  wire(dbi: string, key: string, ts: bigint, value: string | null): WireOp {
    const h = this.rng.next();
    return {
      d: dbi, k: key, t: ts.toString(), v: value,
      x: this.rng.chance(0.1) ? 1 : 0,
      h: this.headerTxnIds === 'real' || h >= 0.85 ? 'real' : h < 0.6 ? 'zero' : 'rand',
    };
  }
}

/** The JS stacks and native stack tops of the Node diagnostic reports written so far (SIGUSR2). */
function diagnosticReports(dir: string): string {
  const rdir = join(dir, 'reports');
  if (!existsSync(rdir)) return '  (no diagnostic report)';
  const out: string[] = [];
  for (const f of readdirSync(rdir).filter((n) => n.endsWith('.json'))) {
    try {
      const r = JSON.parse(readFileSync(join(rdir, f), 'utf8')) as {
        header?: { processId?: number };
        javascriptStack?: { message?: string; stack?: string[] };
        nativeStack?: Array<{ symbol?: string }>;
        libuv?: Array<{ type?: string; is_active?: boolean; remoteEndpoint?: unknown }>;
      };
      const handles = new Map<string, number>();
      for (const h of r.libuv ?? []) if (h.is_active) handles.set(h.type ?? '?', (handles.get(h.type ?? '?') ?? 0) + 1);
      out.push(`  report ${f} (pid ${r.header?.processId}): ${r.javascriptStack?.message ?? ''}\n` +
        `    JS stack: ${(r.javascriptStack?.stack ?? []).slice(0, 12).join('\n      ')}\n` +
        `    native stack: ${(r.nativeStack ?? []).slice(0, 12).map((x) => x.symbol).join(' < ')}\n` +
        `    active handles: ${[...handles].map(([k, n]) => `${k}=${n}`).join(' ')}`);
    } catch (err) {
      out.push(`  report ${f}: unreadable (${(err as Error).message})`);
    }
  }
  return out.length ? out.join('\n') : '  (no diagnostic report)';
}

/** A live value that is not empty (a deletion and an empty live value tie differently in Go). */
function nonEmpty(hex: string): string {
  return hex === '' ? '00' : hex;
}

function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n');
}

/** The log lines that matter for a diagnosis: warnings and errors (logfmt level=warn|error). */
function importantLines(text: string, max: number): string {
  const lines = text.split('\n').filter((l) => /level=(warn|error|fatal)/.test(l));
  return lines.slice(-max).join('\n');
}

/** The `main` LMDB's content hash, as `lightningstream verify --hash-only` prints it. */
async function localHashOf(configPath: string): Promise<string> {
  const { stdout } = await execFileAsync(process.execPath, [SYNC_BIN, '-c', configPath, 'verify', '--hash-only', '--json']);
  return (JSON.parse(stdout) as { lmdbs: Array<{ contentHash: string }> }).lmdbs[0]!.contentHash;
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosResult> {
  const seed = opts.seed ?? chaosSeed();
  const tag = `seed ${seed} (${opts.label})`;
  console.log(`# chaos seed ${seed} (${opts.label}; replay with LS_CHAOS_SEED=${seed})`);
  const rng = new Rng(seed);
  const goInstances = new Set(opts.goInstances ?? []);
  if (goInstances.size > 0 && !GO_BIN) throw new Error('a mixed run needs LS_REFERENCE_BIN');
  const dbis = dbiSet(goInstances.size > 0 ? ['plain', 'names'] : envDbis);
  const DBIS = dbis.kinds;
  const gen = new OpGenerator(rng.fork(), dbis, opts.headerTxnIds);
  const chaosRng = rng.fork();
  const dir = mkdtempSync(join(tmpdir(), `ls-chaos-${opts.label}-`));
  dirsToRemove.add(dir);
  mkdirSync(join(dir, 'logs'));
  mkdirSync(join(dir, 'reports'));
  const problems: string[] = [];
  const figures: string[] = [];
  const c: Counters = {
    batches: 0, ops: 0, puts: 0, updates: 0, deletes: 0, skipped: 0, tieGroups: 0, tiePairs: 0, tieDeleteVsLive: 0,
    tieIdentical: 0, sigkill: 0, sigterm: 0, unexpectedExits: 0, integrityWalks: 0, doubleKills: 0, startupKills: 0, freezes: 0, sigtermEarly: 0,
  };
  const log: LoggedOp[] = [];
  const paths = INSTANCES.map((i) => join(dir, `lmdb-${i}`));
  const apps = INSTANCES.map((i) => new AppClient(i));
  let stopping = false;
  const events = new Events();
  const memory = INSTANCES.map(() => [chaosRng.pick([1, 2, 2, 3]), chaosRng.pick([1, 3])] as const);
  const syncers: Syncer[] = INSTANCES.map((name, i) => {
    const cfg = join(dir, `${name}.yaml`);
    writeFileSync(cfg, [
      `instance: ${name}`,
      'lmdbs:',
      '  main:',
      `    path: ${paths[i]}`,
      '    schema_tracks_changes: true',
      '    options: { create: true, map_size: 1073741824, max_dbs: 64 }',
      `storage: ${JSON.stringify(opts.storage(dir))}`,
      'lmdb_poll_interval: 200ms',
      'storage_poll_interval: 200ms',
      'storage_retry_interval: 500ms',
      'storage_retry_forever: true',
      // The snapshot slots vary per instance (1 download slot is the tightest, 2 is the default).
      `memory_downloaded_snapshots: ${memory[i]![0]}`,
      `memory_decompressed_snapshots: ${memory[i]![1]}`,
      ...(goInstances.has(name) ? [] : opts.extraConfig ?? []),
      '',
    ].join('\n'));
    return new Syncer(name, dir, cfg, events, (s, code, signal) => {
      if (stopping) return;
      if (++c.unexpectedExits > 3) { setTimeout(() => { if (!stopping && !s.running()) s.start(); }, 1000); return; }
      problems.push(`${tag}: syncer ${s.name} (run ${s.runs}) exited on its own (code ${code}, signal ${signal}):\n` +
        tail(s.lastLog(), 12));
      setTimeout(() => { if (!stopping && !s.running()) s.start(); }, 500);
    }, goInstances.has(name));
  });

  try {
    const applyBatch = async (inst: number, ops: WireOp[], tie?: number): Promise<void> => {
      const applied = new Set(await apps[inst]!.apply(paths[inst]!, DBIS, ops));
      ops.forEach((op, j) => {
        const deleted = op.v === null;
        log.push({ seq: log.length, instance: inst, dbi: op.d, key: op.k, ts: BigInt(op.t), deleted, value: op.v ?? '', applied: applied.has(j), tie });
        c.ops++;
        if (deleted) c.deletes++;
        else if (gen.isSeen(op.d, op.k)) c.updates++;
        else c.puts++;
        gen.markSeen(op.d, op.k);
        if (!applied.has(j)) c.skipped++;
      });
      c.batches++;
    };
    // Instances b and c leave all DBIs but the first alone for the first seconds: their syncers create
    // those DBIs from a's snapshots (with the snapshot's flags) before their applications use them.
    let lateDbisFrom = Infinity;
    const dbiFor = (inst: number): string => (inst !== 0 && Date.now() < lateDbisFrom ? dbis.weights[0]![0] : gen.dbi());
    const normalOps = (n: number, inst: number): WireOp[] => {
      const ops: WireOp[] = [];
      for (let j = 0; j < n; j++) {
        const d = dbiFor(inst);
        const k = gen.key(d);
        const del = gen.isSeen(d, k) ? gen.chance(0.2) : gen.chance(0.03);
        ops.push(gen.wire(d, k, gen.ts(), del ? null : gen.value()));
      }
      return ops;
    };

    // Some data in every LMDB before any syncer runs (a fresh bucket, LMDBs with data); only a has all DBIs.
    for (let i = 0; i < 3; i++) {
      const ops = normalOps(20, i);
      if (i === 0) for (const d of Object.keys(DBIS)) ops.push(gen.wire(d, gen.key(d), gen.ts(), gen.value()));
      await applyBatch(i, ops);
    }
    for (const s of syncers) s.start();

    // The writer: batches of 1-20 ops at random moments, and equal-timestamp groups across instances.
    let lastWriteAt = Date.now();
    const phase = { writing: true };
    const writing = (): boolean => phase.writing; // (set by the writer while the killer awaits)
    const writeStart = Date.now();
    lateDbisFrom = writeStart + 6000;
    const writer = (async () => {
      const wr = rng.fork();
      while (Date.now() - writeStart < opts.writeMs) {
        const due = (opts.targetOps * (Date.now() - writeStart)) / opts.writeMs;
        if (c.ops > due) { await sleep(10 + wr.int(60)); continue; }
        if (wr.chance(0.2)) {
          // Equal timestamps: the same key(s) written on 2 or 3 instances with one timestamp.
          const left = wr.int(3);
          const members = wr.chance(0.3) ? [0, 1, 2] : [0, 1, 2].filter((x) => x !== left);
          const groupId = ++c.tieGroups;
          const batches = new Map<number, WireOp[]>(members.map((m) => [m, []]));
          const nKeys = wr.range(1, 3);
          for (let j = 0; j < nKeys; j++) {
            const d = dbiFor(members[0] === 0 ? members[1]! : members[0]!);
            const k = gen.key(d);
            const ts = wr.chance(0.15) ? gen.now() - BigInt(wr.int(1_000_000_000)) : gen.now();
            const mode = wr.next();
            const shared = gen.value();
            members.forEach((m, idx) => {
              let v: string | null;
              if (mode < 0.25) { v = shared; } // identical values
              else if (mode < 0.5) { v = idx === 0 ? null : (wr.chance(0.4) && goInstances.size === 0 ? '' : goInstances.size === 0 ? gen.value() : nonEmpty(gen.value())); } // deletion vs live
              else if (mode < 0.65) { v = shared + 'ab'.repeat(idx); } // prefixes of each other
              else if (mode < 0.7) { v = null; } // all deletions
              else { v = gen.value(); }
              batches.get(m)!.push(gen.wire(d, k, ts, v));
            });
            c.tiePairs += (members.length * (members.length - 1)) / 2;
            if (mode < 0.25) c.tieIdentical++;
            else if (mode < 0.5) c.tieDeleteVsLive++;
          }
          for (const [m, ops] of batches) if (wr.chance(0.3)) ops.push(...normalOps(wr.range(1, 5), m));
          await Promise.all([...batches].map(([m, ops]) => applyBatch(m, ops, groupId)));
        } else {
          const inst = wr.int(3);
          await applyBatch(inst, normalOps(wr.range(1, 20), inst));
        }
        lastWriteAt = Date.now();
        await sleep(wr.int(40));
      }
      phase.writing = false;
    })();

    // The chaos: every 2-5 s a random syncer is SIGKILLed (1 in 4: SIGTERM) and restarted 0-3 s later
    // while its application keeps writing. Sometimes two syncers go down together, sometimes a restarted
    // syncer is killed again 0-1 s into its start-up.
    const killOne = async (i: number): Promise<void> => {
      const s = syncers[i]!;
      if (!s.running()) return;
      const term = chaosRng.chance(0.25);
      const age = Date.now() - s.startedAt;
      const r = await s.kill(term ? 'SIGTERM' : 'SIGKILL');
      if (term) {
        c.sigterm++;
        if (r.code === null && r.signal === 'SIGTERM' && !r.forced && age < 3000) {
          c.sigtermEarly++; // arrived before the process installed its handler (Node's default: terminate)
        } else if (r.forced || !s.cleanExit(r.code, r.signal)) {
          problems.push(`${tag}: syncer ${s.name} (run ${s.runs}, up ${age} ms) on SIGTERM: exit code ${r.code} signal ${r.signal}` +
            `${r.forced ? ', ignored SIGTERM for 20 s, SIGKILLed' : ''}\n${tail(s.lastLog(), 12)}\n` +
            `  process events:\n${events.last(12)}\n${diagnosticReports(dir)}`);
        }
      } else {
        c.sigkill++;
      }
    };
    const pauseAndRestart = async (i: number): Promise<void> => {
      const pause = chaosRng.int(3001);
      const t0 = Date.now();
      if (c.integrityWalks < 3 && chaosRng.chance(0.5)) {
        c.integrityWalks++;
        const r = await apps[i]!.integrity(paths[i]!);
        if (r.errors.length) problems.push(`${tag}: integrity of ${INSTANCES[i]} after a kill: ${r.errors.slice(0, 10).join('; ')}`);
      }
      await sleep(Math.max(0, pause - (Date.now() - t0)));
      syncers[i]!.start();
    };
    const killer = (async () => {
      while (writing()) {
        await sleep(chaosRng.range(2000, 5000));
        if (!writing()) break;
        const i = chaosRng.int(3);
        const r = chaosRng.next();
        if (r < 0.15) {
          // Two at once.
          const j = (i + 1 + chaosRng.int(2)) % 3;
          c.doubleKills++;
          await Promise.all([killOne(i), killOne(j)]);
          await Promise.all([pauseAndRestart(i), pauseAndRestart(j)]);
        } else if (r < 0.3) {
          // Killed again during start-up.
          c.startupKills++;
          await killOne(i);
          await pauseAndRestart(i);
          await sleep(chaosRng.int(1001));
          await killOne(i);
          await pauseAndRestart(i);
        } else if (r < 0.4) {
          // Frozen (SIGSTOP) for 0.5-2.5 s, then SIGCONT: a stalled process, possibly holding the write lock.
          const s = syncers[i]!;
          if (!s.running()) continue;
          c.freezes++;
          s.signal('SIGSTOP');
          await sleep(500 + chaosRng.int(2001));
          s.signal('SIGCONT');
        } else {
          await killOne(i);
          await pauseAndRestart(i);
        }
      }
    })();
    await writer;
    await killer;
    for (const s of syncers) if (!s.running()) s.start();
    const writeSeconds = (Date.now() - writeStart) / 1000;

    // Convergence: all three LMDBs identical, and equal to the oracle.
    const expected = expectedState(log);
    const want = digestOfExpected(expected);
    let identicalMs: number | undefined;
    let convergedMs: number | undefined;
    for (;;) {
      const ds = await Promise.all(apps.map((a, i) => a.digest(paths[i]!)));
      const identical = ds.every((d) => d.digest === ds[0]!.digest);
      if (identical && identicalMs === undefined) identicalMs = Date.now() - lastWriteAt;
      if (!identical) identicalMs = undefined;
      if (identical && ds[0]!.digest === want) { convergedMs = Date.now() - lastWriteAt; break; }
      if (Date.now() - lastWriteAt > opts.convergeTimeoutMs) break;
      // Identical but not what the oracle says, for 20 s: nothing will change any more.
      if (identicalMs !== undefined && Date.now() - lastWriteAt - identicalMs > 20_000) break;
      await sleep(300);
    }

    // Exact comparison with the oracle.
    const dumps = await Promise.all(apps.map((a, i) => a.dump(paths[i]!)));
    const diffs: Difference[][] = dumps.map((d) => compare(expected, stateOfDump(d.entries)));
    const wrongIds = new Set(diffs.flatMap((ds) => ds.map((d) => d.id)));
    const keysCompared = expected.size;
    const keysWrong = wrongIds.size;
    if (convergedMs === undefined) {
      const state = identicalMs !== undefined ? `identical to each other (since ${identicalMs} ms after the last write) but not to the oracle`
        : 'not identical to each other';
      problems.push(`${tag}: no convergence within ${opts.convergeTimeoutMs} ms after the last write: the three LMDBs are ${state}; ` +
        `keys wrong = ${keysWrong} of ${keysCompared} (per instance: ${diffs.map((d, i) => `${INSTANCES[i]}=${d.length}`).join(' ')})`);
    }
    if (keysWrong > 0) {
      const byInstance = dumps.map((d) => stateOfDump(d.entries));
      const lines = [...wrongIds].slice(0, 6).map((id) => {
        const e = expected.get(id);
        const history = log.filter((o) => idOf(o.dbi, o.key) === id).slice(-8)
          .map((o) => `      #${o.seq} ${INSTANCES[o.instance]} ${o.deleted ? '<delete>' : (o.value.slice(0, 24) || '""')}@${o.ts}${o.applied ? '' : ' (skipped)'}${o.tie ? ` tie#${o.tie}` : ''}`);
        return `  ${describeId(id)}: expected ${describeEntry(e)}; ` +
          INSTANCES.map((n, i) => `${n}=${describeEntry(byInstance[i]!.get(id))}`).join(' ') + '\n' + history.join('\n');
      });
      problems.push(`${tag}: keys wrong = ${keysWrong} of ${keysCompared}; first differences (expected vs a, b, c; last ops on the key):\n${lines.join('\n')}`);
    }

    // Integrity walk of every LMDB.
    if (c.unexpectedExits > 3) problems.push(`${tag}: ${c.unexpectedExits} unexpected syncer exits in all (first 3 shown above)`);
    const walks = await Promise.all(apps.map((a, i) => a.integrity(paths[i]!, DBIS)));
    walks.forEach((w, i) => {
      if (w.errors.length) problems.push(`${tag}: integrity of ${INSTANCES[i]}: ${w.errors.length} errors: ${w.errors.slice(0, 10).join('; ')}`);
    });
    c.integrityWalks += walks.length;

    // Clean shutdown of the final syncers.
    stopping = true;
    // (A syncer restarted a moment ago may not have installed its SIGTERM handler yet: wait for its start-up.)
    await Promise.all(syncers.map(async (s) => {
      for (let t = 0; t < 300 && !s.readyLine.test(s.lastLog()); t++) await sleep(100);
    }));
    const codes = await Promise.all(syncers.map((s) => s.kill('SIGTERM')));
    codes.forEach((r, i) => {
      if (!syncers[i]!.cleanExit(r.code, r.signal) || r.forced) {
        problems.push(`${tag}: final SIGTERM of ${INSTANCES[i]}: exit code ${r.code} signal ${r.signal}${r.forced ? ' (ignored SIGTERM for 20 s, SIGKILLed)' : ''}\n` +
          `${tail(syncers[i]!.lastLog(), 8)}\n  process events:\n${events.last(12)}\n${diagnosticReports(dir)}`);
      }
    });

    // Content hashes (README, "Content hashes"), through the CLI on the stopped instances' LMDBs: one hash when
    // they converged, and a single-key change on one instance makes its hash (only its) differ.
    if (convergedMs !== undefined) {
      const hashes = () => Promise.all(syncers.map((s) => localHashOf(s.configPath)));
      const before = await hashes();
      if (!before.every((h) => h === before[0])) problems.push(`${tag}: converged LMDBs with different content hashes: ${before.join(' ')}`);
      const [dbi, kind] = Object.entries(DBIS)[0]!;
      const probe = Buffer.alloc(kind === 'int4' ? 4 : 8);
      probe.writeUInt32LE(0xfffffff0 - (seed % 1000));
      const keyHex = (kind === 'plain' ? Buffer.from(`content-hash-probe-${seed}`) : probe).toString('hex');
      await apps[0]!.apply(paths[0]!, DBIS, [{ d: dbi, k: keyHex, t: (BigInt(Date.now()) * 1_000_000n).toString(), v: '01', x: 0, h: 'real' }]);
      const after = await hashes();
      if (after[0] === before[0] || after[1] !== before[1] || after[2] !== before[2]) {
        problems.push(`${tag}: after one key changed on ${INSTANCES[0]}, content hashes went from ${before.join(' ')} to ${after.join(' ')}`);
      }
      figures.push(`content_hash=${before[0]!.slice(0, 16)} (all ${INSTANCES.length} equal: ${before.every((h) => h === before[0])}; one-key change differs: ${after[0] !== before[0]})`);
    }

    if (problems.length) {
      for (const s of syncers) {
        const important = s.logs.map((l) => importantLines(readFileSync(l, 'utf8'), 8)).filter(Boolean).join('\n');
        problems.push(`${tag}: warnings/errors in ${s.name}'s logs (${s.runs} runs):\n${important.slice(-4000)}`);
      }
    }

    // Warnings and errors the syncers logged, by message (figures, for the diagnosis; not a failure).
    const logged = new Map<string, number>();
    const infos = new Map<string, number>();
    const counted = ['snapshot stored', 'delta stored', 'snapshot loaded', 'creating DBI from snapshot', 'initial sync complete'];
    for (const s of syncers) {
      for (const l of s.logs) {
        for (const m of readFileSync(l, 'utf8').matchAll(/level=(\w+) msg="([^"]*)"/g)) {
          if (/^(warning|warn|error|fatal)$/.test(m[1]!)) logged.set(`${m[1]}:${m[2]}`, (logged.get(`${m[1]}:${m[2]}`) ?? 0) + 1);
          else if (counted.includes(m[2]!)) infos.set(m[2]!, (infos.get(m[2]!) ?? 0) + 1);
        }
      }
    }
    const ties = log.filter((o) => o.tie !== undefined).length;
    figures.push(
      `seed=${seed} storage=${opts.label} write_seconds=${writeSeconds.toFixed(1)} ` +
        `memory_downloaded/decompressed_snapshots=${memory.map((m, i) => `${INSTANCES[i]}:${m[0]}/${m[1]}`).join(',')}`,
      `ops=${c.ops} batches=${c.batches} puts=${c.puts} updates=${c.updates} deletes=${c.deletes} skipped_dominated=${c.skipped} ` +
        `equal_ts_groups=${c.tieGroups} equal_ts_pairs=${c.tiePairs} equal_ts_ops=${ties} tie_identical=${c.tieIdentical} tie_delete_vs_live=${c.tieDeleteVsLive}`,
      `kills: SIGKILL=${c.sigkill} SIGTERM=${c.sigterm} (before_handler=${c.sigtermEarly}) (two_at_once=${c.doubleKills} during_startup=${c.startupKills}) SIGSTOP_freezes=${c.freezes} unexpected_exits=${c.unexpectedExits} syncer_runs=${syncers.map((s) => `${s.name}:${s.runs}`).join(',')}`,
      ...(opts.extraFigures?.() ?? []),
      `syncer logs: ${counted.map((k) => `${k.replaceAll(' ', '_')}=${infos.get(k) ?? 0}`).join(' ')}`,
      `syncer log warnings/errors: ${[...logged].sort((x, y) => y[1] - x[1]).map(([k, n]) => `${n}x ${JSON.stringify(k)}`).join(', ') || 'none'}`,
      `convergence_ms=${convergedMs ?? 'none'} (identical_ms=${identicalMs ?? 'none'}) keys_compared=${keysCompared} keys_wrong=${keysWrong} ` +
        `integrity_walks=${c.integrityWalks}`,
    );
    for (const f of figures) console.log(`# chaos: ${f}`);
    return { seed, problems, figures, keysCompared, keysWrong, convergedMs };
  } catch (err) {
    throw new Error(`${tag}: the run failed: ${(err as Error).stack ?? String(err)}\n` +
      syncers.map((s) => `--- ${s.name}\n${tail(s.lastLog(), 10)}`).join('\n'), { cause: err });
  } finally {
    stopping = true;
    writeFileSync(join(dir, 'events.log'), events.lines.join('\n') + '\n');
    await Promise.all(syncers.map((s) => s.kill('SIGKILL', 5_000)));
    await Promise.all(apps.map((a) => a.quit()));
    if (process.env.LS_KEEP_TEST_DIR === '1') console.log(`# chaos: kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
    dirsToRemove.delete(dir);
  }
}
