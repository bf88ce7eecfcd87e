import type { Logger } from '../log/logger.js';
import { sleepOn, systemClock, type Clock } from '../util/clock.js';
import { errorMessage } from '../util/errors.js';
import { NotFoundError } from '../storage/storage.js';

export interface RetryPolicy {
  intervalMs: number;
  count: number;
  forever: boolean;
  /** Default: the system clock. */
  clock?: Clock;
  /** Give up once the operation has been failing this long (one-shot commands must end). */
  deadlineMs?: number;
  /** Log every failed attempt (one-shot commands: the operator is watching), not just the first and every 10th. */
  logEachAttempt?: boolean;
}

/** A storage operation that kept failing until its retry budget ran out. */
export class RetriesExhaustedError extends Error {
  constructor(what: string, readonly attempts: number, elapsedMs: number, cause: unknown) {
    super(`${what}: gave up after ${attempts} attempt${attempts === 1 ? '' : 's'} in ${(elapsedMs / 1000).toFixed(1)} s: ${errorMessage(cause)}`, { cause });
    this.name = 'RetriesExhaustedError';
  }
}

/** Failures logged while retrying quietly (a daemon): the first, then every this many. */
const QUIET_LOG_EVERY = 10;

/**
 * Runs op until it succeeds, waiting policy.intervalMs between attempts (doubling up to 4x the
 * interval), at most policy.count attempts unless policy.forever, and no longer than policy.deadlineMs
 * after the first failure.
 * A storage answer that an object does not exist is final (NotFoundError is not retried). Failures
 * are logged at the first attempt and then every 10th (every one with policy.logEachAttempt), and
 * once when it recovers.
 */
export async function withRetry<T>(
  what: string, policy: RetryPolicy, log: Logger, signal: AbortSignal | undefined, op: () => Promise<T>,
): Promise<T> {
  const clock = policy.clock ?? systemClock;
  let failingSince = 0;
  let attempt = 0;
  let delay = policy.intervalMs;
  for (;;) {
    if (signal?.aborted) throw signal.reason;
    try {
      const result = await op();
      if (attempt > 0) log.info('storage operation recovered', { op: what, attempts: attempt + 1 });
      return result;
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (err instanceof NotFoundError) throw err;
      attempt++;
      if (attempt === 1) failingSince = clock.now();
      const elapsed = clock.now() - failingSince;
      const outOfAttempts = !policy.forever && attempt >= policy.count;
      const outOfTime = policy.deadlineMs !== undefined && elapsed + delay > policy.deadlineMs;
      if (outOfAttempts || outOfTime) {
        const gaveUp = new RetriesExhaustedError(what, attempt, elapsed, err);
        log.error('storage operation failed, giving up', { op: what, attempts: attempt, error: gaveUp.message });
        throw gaveUp;
      }
      if (attempt === 1 || policy.logEachAttempt || attempt % QUIET_LOG_EVERY === 0) {
        log.warn('storage operation failed, retrying', {
          op: what, error: errorMessage(err), attempt, max_attempts: policy.forever ? undefined : policy.count, retry_in_ms: delay,
          ...(policy.deadlineMs !== undefined && { gives_up_in_ms: Math.max(0, policy.deadlineMs - elapsed) }),
        });
      }
      await sleepOn(clock, delay, signal);
      delay = Math.min(delay * 2, policy.intervalMs * 4);
    }
  }
}

/** The longest pause between attempts after repeated local failures (a full LMDB, a snapshot that cannot be merged). */
export const MAX_BACKOFF_MS = 5 * 60_000;

/** The pause after `failures` consecutive failures: interval, 2x, 4x ... up to MAX_BACKOFF_MS. */
export function backoffDelay(intervalMs: number, failures: number): number {
  return Math.min(intervalMs * 2 ** Math.min(failures - 1, 20), Math.max(MAX_BACKOFF_MS, intervalMs));
}
