import { systemClock, type Clock } from '../util/clock.js';
import { abortReason, onAbort } from '../util/abort.js';

/**
 * A sleep that other code can cut short: wake() ends the current sleep after `settleMs` (letting a
 * burst of events settle), or, when nobody sleeps, makes the next sleep that short, so a wake-up that
 * arrives while the sleeper is busy is not lost.
 */
export class WakeableSleep {
  private cut: (() => void) | undefined;
  private woken = false;

  constructor(private readonly settleMs = 0, private readonly clock: Clock = systemClock) {}

  wake(): void {
    const cut = this.cut;
    if (cut) cut();
    else this.woken = true;
  }

  sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (this.woken) {
      this.woken = false;
      ms = Math.min(ms, this.settleMs);
    }
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) { reject(abortReason(signal)); return; }
      const finish = () => {
        cancel();
        this.cut = undefined;
        forget();
      };
      const done = () => {
        finish();
        resolve();
      };
      let cancel = this.clock.setTimer(done, ms);
      this.cut = () => {
        cancel();
        this.cut = undefined;
        cancel = this.clock.setTimer(done, this.settleMs);
      };
      const forget = onAbort(signal, () => {
        finish();
        reject(abortReason(signal));
      });
    });
  }
}
