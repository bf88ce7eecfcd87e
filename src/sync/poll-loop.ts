import type { Logger } from '../log/logger.js';
import type { Storage } from '../storage/storage.js';
import { isAborted } from '../util/abort.js';
import type { Clock } from '../util/clock.js';
import { errorMessage } from '../util/errors.js';
import type { Receiver } from './receive/receiver.js';
import { RetriesExhaustedError, withRetry, type RetryPolicy } from './retry.js';
import type { SyncStatus } from './status.js';
import { WakeableSleep } from './wakeable-sleep.js';

/** After a storage change notification, how long to let more changes arrive before listing. */
const WATCH_SETTLE_MS = 10;

export interface PollLoopOptions {
  receiver: Receiver;
  status: SyncStatus;
  /** Only for watch(): a storage that can tell when objects change (fs: inotify) wakes the poller early. */
  storage: Pick<Storage, 'watch'>;
  retry: RetryPolicy;
  storagePollMs: number;
  onlyOnce: boolean;
  log: Logger;
  clock: Clock;
  /** Rung when the loop gives up (--only-once), so the sync loop sees `fatal` at once. */
  doorbell: WakeableSleep;
}

/**
 * Lists the storage every storage_poll_interval (or at once when the storage says something changed) and
 * hands the listing to the receiver. A failing listing is logged once and retried at the next poll; under
 * --only-once, one that keeps failing past the retry deadline sets `fatal`.
 */
export class PollLoop {
  fatal: Error | undefined;

  constructor(private readonly opts: PollLoopOptions) {}

  /** The first listing: retried (quietly, every second) until it works; --only-once gives up like any storage call. */
  async initial(signal: AbortSignal): Promise<void> {
    const { opts } = this;
    const policy = opts.onlyOnce ? opts.retry : { intervalMs: 1000, count: 0, forever: true, clock: opts.clock };
    await withRetry('list the storage (waiting for the initial listing)', { clock: opts.clock, ...policy }, opts.log, signal, async () => {
      try {
        await opts.receiver.poll(signal, false);
      } catch (err) {
        if (!signal.aborted) opts.status.listFailed(err);
        throw err;
      }
    });
    opts.status.listedOk();
  }

  async run(signal: AbortSignal): Promise<void> {
    const { opts } = this;
    let failingSince: number | undefined;
    const pollSleep = new WakeableSleep(WATCH_SETTLE_MS, opts.clock);
    const stopWatching = opts.storage.watch?.(() => pollSleep.wake());
    signal.addEventListener('abort', () => stopWatching?.(), { once: true });
    while (!signal.aborted) {
      try {
        await pollSleep.sleep(opts.storagePollMs, signal);
        await opts.receiver.poll(signal);
        opts.status.listedOk();
        if (failingSince !== undefined) opts.log.info('storage listing recovered');
        failingSince = undefined;
      } catch (err) {
        if (isAborted(signal)) return;
        opts.status.listFailed(err);
        if (failingSince === undefined) {
          opts.log.warn('storage listing failed, will keep trying', { error: errorMessage(err) });
          failingSince = opts.clock.now();
        }
        const deadline = opts.retry.deadlineMs;
        if (opts.onlyOnce && deadline !== undefined && opts.clock.now() - failingSince > deadline) {
          this.fatal ??= new RetriesExhaustedError('list the storage', 0, opts.clock.now() - failingSince, err);
          opts.doorbell.wake();
        }
      }
    }
  }
}
