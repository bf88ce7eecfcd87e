import type { Logger } from '../log/logger.js';
import { sleepOn, systemClock, type Clock } from './clock.js';

export interface RetryPolicy {
  intervalMs: number;
  count: number;
  forever: boolean;
  /** Default: the system clock. */
  clock?: Clock;
}

/** Sleeps for ms, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return sleepOn(systemClock, ms, signal);
}

/**
 * Runs op until it succeeds, waiting policy.intervalMs between attempts (doubling up to 4x
 * the interval), at most policy.count attempts unless policy.forever. A burst of failures is
 * logged once when it starts and once when it ends, not at every attempt.
 */
export async function withRetry<T>(
  what: string, policy: RetryPolicy, log: Logger, signal: AbortSignal | undefined, op: () => Promise<T>,
): Promise<T> {
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
      attempt++;
      if (!policy.forever && attempt >= policy.count) {
        log.error('storage operation failed, giving up', { op: what, attempts: attempt, error: errorMessage(err) });
        throw err;
      }
      if (attempt === 1) log.warn('storage operation failed, retrying', { op: what, error: errorMessage(err), retry_in_ms: delay });
      await sleepOn(policy.clock ?? systemClock, delay, signal);
      delay = Math.min(delay * 2, policy.intervalMs * 4);
    }
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
