// A virtual clock for in-process engine tests: time only moves when the test driver advances it, and
// it only advances once the real work in flight (compression on the thread pool, storage calls) is
// done, so polls, retries and start-up waits run in a fraction of real time without racing real work.
import type { Clock } from '../../src/util/clock.js';

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

export class VirtualClock implements Clock {
  private t: number;
  private lastNano = 0n;
  private seq = 0;
  private timers: Timer[] = [];
  /** Real operations in flight; the clock does not advance while any is. */
  inFlight = 0;

  constructor(startMs = Date.UTC(2026, 11, 3, 12, 0, 0)) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  nowNano(): bigint {
    let n = BigInt(this.t) * 1_000_000n;
    if (n <= this.lastNano) n = this.lastNano + 1n;
    this.lastNano = n;
    return n;
  }

  setTimer(fn: () => void, ms: number): () => void {
    const timer: Timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }

  /** Counts `work` as real work in flight until it settles. */
  track<T>(work: Promise<T>): Promise<T> {
    this.inFlight++;
    return work.finally(() => this.inFlight--);
  }

  /** Lets every microtask, I/O callback and tracked operation finish (real time passes, virtual time not). */
  async settle(): Promise<void> {
    for (let idle = 0; idle < 3;) {
      await new Promise((r) => setImmediate(r));
      if (this.inFlight > 0) {
        idle = 0;
        await new Promise((r) => setTimeout(r, 1));
      } else {
        idle++;
      }
    }
  }

  /**
   * Advances virtual time timer by timer until `done()` holds (true) or `maxMs` of virtual time passed
   * (false). Between timers, real work settles.
   */
  async runUntil(done: () => boolean, maxMs: number): Promise<boolean> {
    const deadline = this.t + maxMs;
    for (;;) {
      await this.settle();
      if (done()) return true;
      this.timers = this.timers.filter((x) => !x.cancelled);
      if (this.timers.length === 0) return false;
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers.shift()!;
      if (next.at > deadline) {
        this.timers.unshift(next);
        return false;
      }
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
  }

  /** Advances by ms of virtual time, firing the timers due meanwhile. */
  async advance(ms: number): Promise<void> {
    const until = this.t + ms;
    await this.runUntil(() => false, ms);
    this.t = Math.max(this.t, until);
  }
}
