// Shared helpers of the sync tests: real `lightningstream` processes, configs, and native-mode LMDB
// reads/writes done from the test process (as an application would, in another process).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, writeFileSync, closeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Env, buildValue, parseValue, type Dbi } from '../../src/lmdb/index.js';

export const ROOT = resolve(import.meta.dirname, '../../..');
export const BIN = join(ROOT, 'bin/lightningstream.js');

export interface InstanceConfig {
  instance: string;
  lmdbPath: string;
  storage: Record<string, unknown>;
  extra?: string;
  schemaTracksChanges?: boolean;
  dupsortHack?: boolean;
  pollMs?: number;
}

export function writeConfig(dir: string, c: InstanceConfig): string {
  const poll = c.pollMs ?? 200;
  const text = [
    `instance: ${c.instance}`,
    'lmdbs:',
    '  main:',
    `    path: ${c.lmdbPath}`,
    `    schema_tracks_changes: ${c.schemaTracksChanges ?? true}`,
    ...(c.dupsortHack ? ['    dupsort_hack: true'] : []),
    '    options: { create: true }',
    `storage: ${JSON.stringify(c.storage)}`,
    `lmdb_poll_interval: ${poll}ms`,
    `storage_poll_interval: ${poll}ms`,
    'storage_retry_interval: 500ms',
    c.extra ?? '',
  ].join('\n');
  const path = join(dir, `${c.instance}.yaml`);
  writeFileSync(path, text);
  return path;
}

export interface RunningProcess {
  child: ChildProcess;
  logPath: string;
  exited: Promise<number | null>;
  log(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `lightningstream <args>` with its output in a log file. */
export function startLightningstream(dir: string, name: string, args: string[]): RunningProcess {
  return startProcess(dir, name, process.execPath, [BIN, '--log-format', 'logfmt', ...(process.env.LS_TEST_DEBUG ? ['--debug'] : []), ...args]);
}

/** Starts `command <args>` (ours, or another implementation) with its output in `<dir>/<name>.log`. */
export function startProcess(dir: string, name: string, command: string, args: string[]): RunningProcess {
  mkdirSync(dir, { recursive: true });
  const logPath = join(dir, `${name}.log`);
  const fd = openSync(logPath, 'a');
  const child = spawn(command, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  return {
    child, logPath, exited,
    log: () => readFileSync(logPath, 'utf8'),
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Runs `lightningstream <args>` to completion. */
export async function runLightningstream(dir: string, name: string, args: string[], timeoutMs = 60_000):
  Promise<{ code: number | null; log: string }> {
  const p = startLightningstream(dir, name, args);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, log: p.log() };
}

export interface NativeEntry {
  ts: bigint;
  deleted: boolean;
  value: string;
}

/** A native-mode application LMDB opened from the test process. */
export class NativeApp {
  readonly env: Env;
  private readonly dbis = new Map<string, Dbi>();

  constructor(path: string) {
    this.env = Env.open(path, { create: true, maxDbs: 64 });
  }

  dbi(name: string): Dbi {
    let dbi = this.dbis.get(name);
    if (!dbi) {
      dbi = this.env.openDbi(name, { create: true })!;
      this.dbis.set(name, dbi);
    }
    return dbi;
  }

  put(dbiName: string, key: string, value: string, ts: bigint): void {
    const dbi = this.dbi(dbiName);
    this.env.write((txn) => txn.put(dbi, Buffer.from(key), buildValue(ts, txn.id, Buffer.from(value))));
  }

  remove(dbiName: string, key: string, ts: bigint): void {
    const dbi = this.dbi(dbiName);
    this.env.write((txn) => txn.put(dbi, Buffer.from(key), buildValue(ts, txn.id, Buffer.alloc(0), { deleted: true })));
  }

  /** Every entry of every DBI: `dbi/key` → entry. */
  contents(): Map<string, NativeEntry> {
    const out = new Map<string, NativeEntry>();
    for (const name of this.env.listDbis()) {
      if (name.startsWith('_sync')) continue;
      this.dbi(name);
    }
    this.env.read((txn) => {
      for (const [name, dbi] of this.dbis) {
        for (const e of txn.entries(dbi)) {
          const v = parseValue(e.value);
          out.set(`${name}/${e.key.toString()}`, { ts: v.timestamp, deleted: v.deleted, value: v.value.toString() });
        }
      }
    });
    return out;
  }

  close(): void {
    this.env.close();
  }
}

export function describe(m: Map<string, NativeEntry>): string {
  return [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, e]) => `${k}=${e.deleted ? '<deleted>' : JSON.stringify(e.value)}@${e.ts}`).join('\n');
}

export async function waitFor(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>,
  detail: () => string = () => ''): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${detail()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A shadow-mode application LMDB (plain values, no headers) opened from the test process. */
export class PlainApp {
  readonly env: Env;
  private readonly dbis = new Map<string, Dbi>();

  constructor(path: string) {
    this.env = Env.open(path, { create: true, maxDbs: 64 });
  }

  dbi(name: string, flags = 0): Dbi {
    const dbi = this.dbis.get(name) ?? this.env.openDbi(name, { create: true, flags }) ?? undefined;
    if (!dbi) throw new Error(`no DBI ${name}`);
    this.dbis.set(name, dbi);
    return dbi;
  }

  put(dbiName: string, key: Buffer | string, value: Buffer | string, flags = 0): void {
    const dbi = this.dbi(dbiName, flags);
    this.env.write((txn) => txn.put(dbi, Buffer.from(key), Buffer.from(value)));
  }

  del(dbiName: string, key: Buffer | string, value?: Buffer | string): void {
    const dbi = this.dbi(dbiName);
    this.env.write((txn) => txn.del(dbi, Buffer.from(key), value === undefined ? undefined : Buffer.from(value)));
  }

  /** Every application DBI as `dbi(flags) key=value` lines, duplicates included, in LMDB order. */
  contents(): string {
    const lines: string[] = [];
    const names = this.env.listDbis().filter((n) => !n.startsWith('_sync'));
    for (const name of names) {
      if (!this.dbis.has(name)) {
        const d = this.env.openDbi(name);
        if (d) this.dbis.set(name, d);
      }
    }
    this.env.read((txn) => {
      for (const name of names) {
        const dbi = this.dbis.get(name)!;
        for (const e of txn.entries(dbi)) lines.push(`${name}(${dbi.flags}) ${e.key.toString('hex')}=${e.value.toString('hex')}`);
      }
    });
    return lines.join('\n');
  }

  close(): void {
    this.env.close();
  }
}
