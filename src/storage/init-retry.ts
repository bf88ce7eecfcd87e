import { sleep } from '../util/clock.js';

export interface InitRetry {
  /** Ends the attempts: init_timeout's signal. */
  signal: AbortSignal;
  attempt: () => Promise<void>;
  /** Failures another attempt may not see (5xx, throttling, resets, timeouts); others fail at once. */
  isTransient: (err: unknown) => boolean;
  onRetry: (err: unknown, delayMs: number) => void;
  /** The error once the signal ended the attempts: with the last transient failure, or none (no answer at all). */
  giveUp: (lastFailure: unknown) => Error;
}

/**
 * Start-up checks (bucket or container exists) retried with backoff (250 ms doubling to 4 s) until the
 * signal aborts: one failed round trip during a short outage must not end a daemon that retries every
 * other storage operation.
 */
export async function retryTransientUntilAborted(r: InitRetry): Promise<void> {
  let delayMs = 250;
  let lastFailure: unknown;
  for (;;) {
    try {
      await r.attempt();
      return;
    } catch (err) {
      if (r.signal.aborted) throw r.giveUp(lastFailure);
      if (!r.isTransient(err)) throw err;
      lastFailure = err;
      r.onRetry(err, delayMs);
      try {
        await sleep(delayMs, r.signal);
      } catch {
        throw r.giveUp(lastFailure);
      }
      delayMs = Math.min(delayMs * 2, 4000);
    }
  }
}
