import { abortReason, onAbort } from './abort.js';

/**
 * Time as the sync engine sees it. Production uses the system clock; the engine's deterministic tests
 * inject a virtual one, so start-up orders, retries and polls run without real waiting.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Nanoseconds since the epoch, strictly increasing per clock (snapshot names, entry timestamps). */
  nowNano(): bigint;
  /** Runs fn once after ms; returns a function that cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
}

let last = 0n;

/**
 * Wall-clock time in nanoseconds since the epoch. Date.now() has only milliseconds; the
 * sub-millisecond digits come from hrtime so values are fine-grained, and each value is forced above
 * the previous one so timestamps written by one process strictly increase (snapshot names and entry
 * timestamps stay in commit order). Follows the wall clock, so NTP corrections are honoured.
 */
export function nowNano(): bigint {
  let t = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
  if (t <= last) t = last + 1n;
  last = t;
  return t;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  nowNano,
  setTimer(fn, ms) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

/** Sleeps for ms on `clock`, or rejects with the signal's reason as soon as it aborts. */
export function sleepOn(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) { reject(abortReason(signal)); return; }
    const cancel = clock.setTimer(() => {
      forget?.();
      resolve();
    }, ms);
    const forget = signal && onAbort(signal, () => {
      cancel();
      reject(abortReason(signal));
    });
  });
}

/** Sleeps for ms on the system clock, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return sleepOn(systemClock, ms, signal);
}
