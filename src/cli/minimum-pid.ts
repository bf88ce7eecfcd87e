/**
 * `--minimum-pid N` (Go's behaviour): the process that opens the LMDBs must have a PID of at least N. LMDB's
 * reader table identifies a reader by its PID, so containers that share one LMDB from different PID
 * namespaces (where every lightningstream is PID 1 or 2) clash in it.
 *
 * A process cannot change its own PID, so, like Go, a process below N spends PIDs on short-lived children
 * until the namespace's PID counter has passed N - 1, then runs itself again as a child (with
 * LIGHTNINGSTREAM_NO_PID_CHECK=1, so the child never loops) and exits with the child's exit code. Signals it
 * receives meanwhile are passed on to the child, which runs in a process group of its own. N is capped at 200,
 * as in Go (with a warning).
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import type { Logger } from '../log/logger.js';

export const MAXIMUM_MIN_PID = 200;
export const SKIP_PID_CHECK_ENV = 'LIGHTNINGSTREAM_NO_PID_CHECK';

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/** The last PID handed out in this PID namespace (Linux); undefined where the kernel does not tell. */
function lastPid(): number | undefined {
  try {
    const n = Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8').trim());
    return Number.isSafeInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Forks children that fail to exec at once (one PID each) until the next PID will be at least `minimum`. */
function spendPids(minimum: number, pid: number): number {
  // Without ns_last_pid, Go's estimate: one PID per child. With it, the counter itself (other processes of
  // the namespace may take PIDs too, and a wrapped counter ends the loop through the bound).
  const bound = minimum - pid + 2 * MAXIMUM_MIN_PID;
  let spawned = 0;
  for (;;) {
    const last = lastPid();
    if (last === undefined ? spawned >= minimum - pid : last >= minimum - 1 || spawned >= bound) break;
    spawnSync('/nonexistent', { stdio: 'ignore' });
    spawned++;
  }
  return spawned;
}

/** Runs this command line again as a child; resolves to its exit code (128 + signal number when killed). */
function rerun(env: NodeJS.ProcessEnv, logger: Logger): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...env, [SKIP_PID_CHECK_ENV]: '1' },
      // A process group of its own: a Ctrl-C (SIGINT to the terminal's foreground group) reaches it once, through
      // this process, and not a second time directly (a second signal means "exit at once").
      detached: true,
    });
    const forward = (signal: NodeJS.Signals): void => {
      child.kill(signal);
    };
    for (const s of FORWARDED_SIGNALS) process.on(s, forward);
    const done = (): void => {
      for (const s of FORWARDED_SIGNALS) process.off(s, forward);
    };
    child.on('error', (err) => {
      done();
      reject(new Error(`--minimum-pid: cannot start the child process: ${err.message}`, { cause: err }));
    });
    child.on('exit', (code, signal) => {
      done();
      const exitCode = code ?? 128 + (signal ? constants.signals[signal] : 0);
      if (exitCode !== 0) logger.warn('Exiting with exit code', { exitcode: exitCode, pid: process.pid });
      resolve(exitCode);
    });
  });
}

/**
 * Applies --minimum-pid before a command opens any LMDB. Resolves to undefined when this process may go on
 * (no minimum, PID high enough, or the check is skipped), else to the exit code of the child that ran the
 * command instead.
 */
export async function ensureMinimumPid(requested: number | undefined, logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<number | undefined> {
  if (requested === undefined || requested <= 0) return undefined;
  const pid = process.pid;
  let minimum = requested;
  logger.debug('Checking PID', { pid });
  if (minimum > MAXIMUM_MIN_PID) {
    minimum = MAXIMUM_MIN_PID;
    logger.warn('Adjusted minimum PID to limit', { minimum_pid: minimum, pid });
  }
  if (pid >= minimum) {
    logger.info('PID satisfies minimum', { minimum_pid: minimum, pid });
    return undefined;
  }
  if (env[SKIP_PID_CHECK_ENV]) {
    logger.warn('PID does NOT satisfy minimum, but requested to skip check', { minimum_pid: minimum, pid });
    return undefined;
  }
  logger.info('Spawning processes to increase PID', { n: minimum - pid, pid });
  const spawned = spendPids(minimum, pid);
  logger.info('Starting new instance', { pid, spawned });
  return rerun(env, logger);
}
