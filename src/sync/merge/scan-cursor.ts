import type { KVBatch } from '../../lmdb/batch.js';

/**
 * Walks a bulk scan (an iterator of KVBatches) one entry at a time, for merge-joins: `batch()` is the
 * batch holding the current entry (undefined once the scan is exhausted) and `index` its position.
 */
export class ScanCursor<B extends KVBatch = KVBatch> {
  private current: B | undefined;
  index = 0;
  done = false;

  constructor(private readonly batches: Iterator<B>) {}

  batch(): B | undefined {
    while (!this.done && (!this.current || this.index >= this.current.count)) {
      const next = this.batches.next();
      if (next.done) {
        this.done = true;
        this.current = undefined;
      } else {
        this.current = next.value;
        this.index = 0;
      }
    }
    return this.current;
  }
}
