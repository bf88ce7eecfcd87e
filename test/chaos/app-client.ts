// The test's handle on one test/chaos/lmdb_app.py process (Debian's /usr/bin/python3 + python3-lmdb):
// JSON-lines requests on its stdin, answers on its stdout. Nothing here touches LMDB itself.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';

export const PYTHON = process.env.LS_CHAOS_PYTHON ?? '/usr/bin/python3';
export const APP_SCRIPT = join(import.meta.dirname, '../../../test/chaos/lmdb_app.py');

export type DbiKind = 'plain' | 'int4' | 'int8';

export interface WireOp {
  d: string; // DBI name
  k: string; // key hex
  t: string; // timestamp ns, decimal
  v: string | null; // value hex, null = deletion
  x: number; // extension blocks
  h: 'zero' | 'rand' | 'real'; // header txn id field
}

/** [dbi, key hex, ts, deleted, value hex] in LMDB order per DBI. */
export type DumpEntry = [string, string, string, boolean, string];

export interface Integrity {
  errors: string[];
  dbis: Record<string, number>;
  entries: number;
}

interface Answer {
  id: number;
  ok: boolean;
  error?: string;
  trace?: string;
  [k: string]: unknown;
}

/** Every application process alive, SIGKILLed if the test process exits without cleaning up. */
const alive = new Set<ChildProcess>();
process.on('exit', () => { for (const c of alive) c.kill('SIGKILL'); });

export class AppClient {
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (a: Answer) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private stderr = '';
  private exited = false;
  readonly exitedPromise: Promise<void>;

  constructor(readonly name: string) {
    this.child = spawn(PYTHON, [APP_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    alive.add(this.child);
    this.child.stderr!.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-4000); });
    const rl = createInterface({ input: this.child.stdout! });
    rl.on('line', (line) => {
      let a: Answer;
      try { a = JSON.parse(line) as Answer; } catch { this.stderr += `\nunparsable answer: ${line.slice(0, 200)}`; return; }
      const p = this.pending.get(a.id);
      if (!p) return;
      this.pending.delete(a.id);
      clearTimeout(p.timer);
      p.resolve(a);
    });
    this.exitedPromise = new Promise((res) => this.child.on('exit', () => {
      this.exited = true;
      alive.delete(this.child);
      for (const [, p] of this.pending) { clearTimeout(p.timer); p.reject(new Error(`lmdb_app ${name} exited: ${this.stderr}`)); }
      this.pending.clear();
      res();
    }));
  }

  private async call(cmd: Record<string, unknown>, timeoutMs = 120_000): Promise<Answer> {
    if (this.exited) throw new Error(`lmdb_app ${this.name} is not running: ${this.stderr}`);
    const id = this.nextId++;
    const answer = new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`lmdb_app ${this.name}: no answer to ${String(cmd.cmd)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
    });
    this.child.stdin!.write(JSON.stringify({ ...cmd, id }) + '\n');
    const a = await answer;
    if (!a.ok) throw new Error(`lmdb_app ${this.name}: ${String(cmd.cmd)} failed: ${a.error}\n${a.trace ?? ''}`);
    return a;
  }

  /** Applies ops in one write txn; returns the indexes of the ops that were applied (not dominated). */
  async apply(path: string, dbis: Record<string, DbiKind>, ops: WireOp[]): Promise<number[]> {
    const a = await this.call({ cmd: 'apply', path, dbis, ops });
    return a.applied as number[];
  }

  async dump(path: string): Promise<{ digest: string; entries: DumpEntry[] }> {
    const a = await this.call({ cmd: 'dump', path });
    return { digest: a.digest as string, entries: a.entries as DumpEntry[] };
  }

  async digest(path: string): Promise<{ digest: string; count: number }> {
    const a = await this.call({ cmd: 'digest', path });
    return { digest: a.digest as string, count: a.count as number };
  }

  /** Integrity walk; dbis: the DBIs that must exist, with their kind. */
  async integrity(path: string, dbis: Record<string, DbiKind> = {}): Promise<Integrity> {
    const a = await this.call({ cmd: 'integrity', path, dbis });
    return { errors: a.errors as string[], dbis: a.dbis as Record<string, number>, entries: a.entries as number };
  }

  async close(path: string): Promise<void> {
    await this.call({ cmd: 'close', path });
  }

  /** Closes every env and exits; kills the process if it does not answer. */
  async quit(): Promise<void> {
    if (this.exited) return;
    try {
      await this.call({ cmd: 'quit' }, 10_000);
    } catch { /* killed below */ }
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await this.exitedPromise;
    clearTimeout(t);
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }
}
