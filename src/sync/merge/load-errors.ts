import type { Logger } from '../../log/logger.js';
import { SnapshotFormatError } from '../../snapshot/errors.js';
import { NotFoundError } from '../../storage/storage.js';
import { errorMessage } from '../../util/errors.js';
import type { RemoteSnapshot } from '../receive/chain-plan.js';
import { IncompatibleSnapshotError } from '../mode.js';
import type { MergeOutcome } from '../receive/receiver.js';
import { backoffDelay } from '../retry.js';

export type LoadFailure = NonNullable<MergeOutcome['failure']>;

/**
 * What a failed merge of one snapshot object means (and what is logged): gone (deleted since it was listed),
 * corrupt or incompatible (never tried again), or a local failure (a full LMDB, a read error) tried again
 * after a pause that grows with each failure of the same instance in a row. Under --only-once a local
 * failure is fatal instead: `fatal` carries the error that ends the run.
 */
export class LoadErrorPolicy {
  private readonly failures = new Map<string, number>();

  constructor(private readonly retryIntervalMs: number, private readonly onlyOnce: boolean, private readonly log: Logger) {}

  classify(err: unknown, snap: RemoteSnapshot): { failure: LoadFailure; fatal?: Error } {
    if (err instanceof NotFoundError) {
      this.log.info('snapshot disappeared before it was merged', { snapshot: snap.name });
      return { failure: { kind: 'gone' } };
    }
    if (err instanceof SnapshotFormatError || err instanceof IncompatibleSnapshotError) {
      this.log.error('snapshot is corrupt or incompatible, skipping it', { snapshot: snap.name, error: errorMessage(err) });
      return { failure: { kind: 'corrupt' } };
    }
    if (this.onlyOnce) {
      return { failure: { kind: 'retry', delayMs: 0 }, fatal: new Error(`loading snapshot ${snap.name} failed: ${errorMessage(err)}`, { cause: err }) };
    }
    const failures = (this.failures.get(snap.instance) ?? 0) + 1;
    this.failures.set(snap.instance, failures);
    const delayMs = backoffDelay(this.retryIntervalMs, failures);
    this.log.error('loading snapshot failed, will retry', { snapshot: snap.name, error: errorMessage(err), retry_in_ms: delayMs, failures });
    return { failure: { kind: 'retry', delayMs } };
  }

  /** A merge of this instance worked: its next failure starts the pauses anew. */
  succeeded(instance: string): void {
    this.failures.delete(instance);
  }
}
