import { abortReason, onAbort } from '../util/abort.js';

/** How one LMDB uses a semaphore (Go's lightningstream_climit_* gauges and counter). */
export interface TokenUse {
  acquired: number;
  active: number;
  waiting: number;
}

/** A finished wait (`wait`) or hold (`hold`) of a token, in seconds (Go's climit histograms). */
export type TokenTiming = (lmdb: string, kind: 'wait' | 'hold', seconds: number) => void;

/** The tokens themselves, shared by a semaphore and its per-LMDB handles. */
export class SemaphorePool {
  waiters: Array<() => void> = [];
  readonly uses = new Map<string, TokenUse>();
  readonly timings = new Set<TokenTiming>();
  constructor(public available: number, readonly limit: number, readonly name: string) {}

  use(lmdb: string): TokenUse {
    let u = this.uses.get(lmdb);
    if (!u) this.uses.set(lmdb, (u = { acquired: 0, active: 0, waiting: 0 }));
    return u;
  }

  timed(lmdb: string, kind: 'wait' | 'hold', sinceMs: number): void {
    const seconds = (performance.now() - sinceMs) / 1000;
    for (const t of this.timings) t(lmdb, kind, seconds);
  }
}

/**
 * A counting semaphore: bounds how many snapshots are downloaded or decompressed at once. One pool is
 * shared by every LMDB of the process; forLmdb() gives an LMDB its handle on it, whose use is counted
 * under that LMDB's name.
 */
export class Semaphore {
  private readonly pool: SemaphorePool;

  constructor(available: number | SemaphorePool, name = '', private readonly lmdb = '') {
    this.pool = typeof available === 'number' ? new SemaphorePool(available, available, name) : available;
  }

  /** The configured number of tokens. */
  get limit(): number {
    return this.pool.limit;
  }

  /** The pool's name (Go's limit_name: download, decompress). */
  get name(): string {
    return this.pool.name;
  }

  /** A handle on the same tokens whose use counts for `lmdb`. */
  forLmdb(lmdb: string): Semaphore {
    return new Semaphore(this.pool, this.pool.name, lmdb);
  }

  /** Use per LMDB so far (live objects: read them, do not keep them). */
  uses(): ReadonlyMap<string, Readonly<TokenUse>> {
    return this.pool.uses;
  }

  /** Reports every later finished wait and hold; returns its removal. */
  onTiming(listener: TokenTiming): () => void {
    this.pool.timings.add(listener);
    return () => this.pool.timings.delete(listener);
  }

  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw signal.reason;
    const pool = this.pool;
    const use = pool.use(this.lmdb);
    const since = performance.now();
    if (pool.available > 0) {
      pool.available--;
      return this.granted(use, since);
    }
    use.waiting++;
    await new Promise<void>((resolve, reject) => {
      const wake = () => {
        forget?.();
        use.waiting--;
        resolve();
      };
      const forget = signal && onAbort(signal, () => {
        pool.waiters = pool.waiters.filter((w) => w !== wake);
        use.waiting--;
        reject(abortReason(signal));
      });
      pool.waiters.push(wake);
    });
    return this.granted(use, since);
  }

  private granted(use: TokenUse, waitingSince: number): () => void {
    use.acquired++;
    use.active++;
    this.pool.timed(this.lmdb, 'wait', waitingSince);
    return this.releaser(use);
  }

  private releaser(use: TokenUse): () => void {
    const pool = this.pool;
    const since = performance.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      use.active--;
      pool.timed(this.lmdb, 'hold', since);
      const next = pool.waiters.shift();
      if (next) next();
      else pool.available++;
    };
  }
}
