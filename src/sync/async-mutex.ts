/**
 * Serialises write transactions of one env inside this process: LMDB allows one writer per env, and a
 * second mdb_txn_begin on the same thread would deadlock, so every writer (merges, shadow updates,
 * the sweeper) takes this lock first.
 */
export class AsyncMutex {
  private tail: Promise<void> = Promise.resolve();

  async run<T>(fn: () => Promise<T> | T): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
