import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';

export interface StartOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** 'log': stdout and stderr into the log file (default); 'pipe': stdin and stdout piped, stderr inherited. */
  stdio?: 'log' | 'pipe';
}

/**
 * A child process of the demo or a benchmark, with its output in a log file. It runs in its own process group,
 * so a Ctrl-C on the terminal reaches only the parent, which then stops each child once with SIGTERM (a
 * second signal would make lightningstream exit immediately).
 */
export class LoggedProcess {
  child: ChildProcess | undefined;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private exited: Promise<void> = Promise.resolve();

  /** tag: the parent's name at the start of the lines it adds to the log (`demo`, `fleet`). */
  constructor(readonly name: string, readonly logPath: string, private readonly tag: string) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.exit === undefined;
  }

  /** Starts the process; `whenDone` runs once it has exited (or could not start). */
  start(command: string, argv: string[], opts: StartOptions, whenDone?: () => void): ChildProcess {
    const fd = (opts.stdio ?? 'log') === 'log' ? openSync(this.logPath, 'a') : undefined;
    try {
      const child = spawn(command, argv, {
        cwd: opts.cwd, env: opts.env, detached: true,
        stdio: fd === undefined ? ['pipe', 'pipe', 'inherit'] : ['ignore', fd, fd],
      });
      this.child = child;
      this.exited = new Promise((resolve) => {
        child.once('exit', (code, signal) => {
          this.exit = { code, signal };
          whenDone?.();
          resolve();
        });
        child.once('error', (err) => {
          writeFileSync(this.logPath, `${this.tag}: could not start ${command}: ${err.message}\n`, { flag: 'a' });
          this.exit ??= { code: null, signal: null };
          whenDone?.();
          resolve();
        });
      });
      return child;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  /** SIGTERM, then SIGKILL when still running after graceMs. Resolves once it has exited. */
  async stop(graceMs = 10_000): Promise<void> {
    const child = this.child;
    if (!child || this.exit) return this.exited;
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (!this.exit) {
        writeFileSync(this.logPath, `${this.tag}: no exit ${graceMs} ms after SIGTERM: SIGKILL\n`, { flag: 'a' });
        this.kill();
      }
    }, graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** SIGKILL to its process group (its own children too). */
  kill(): void {
    const pid = this.pid;
    if (pid === undefined || this.exit) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  describeExit(): string {
    if (!this.exit) return this.child ? 'running' : 'not started';
    return this.exit.signal ? `killed by ${this.exit.signal}` : `exit status ${this.exit.code}`;
  }

  log(): string {
    return existsSync(this.logPath) ? readFileSync(this.logPath, 'utf8') : '';
  }

  logTail(lines = 30): string {
    return this.log().trimEnd().split('\n').slice(-lines).join('\n');
  }
}
