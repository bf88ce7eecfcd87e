import { abortReason, onAbort } from '../util/abort.js';

/** A counting semaphore: bounds how many snapshots are downloaded or decompressed at once. */
export class Semaphore {
  private waiters: Array<() => void> = [];
  constructor(private available: number) {}

  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw signal.reason;
    if (this.available > 0) {
      this.available--;
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const wake = () => {
        forget?.();
        resolve();
      };
      const forget = signal && onAbort(signal, () => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        reject(abortReason(signal));
      });
      this.waiters.push(wake);
    });
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next();
      else this.available++;
    };
  }
}
