import type { Env } from '../lmdb/index.js';
import type { Logger } from '../log/logger.js';
import type { Storage } from '../storage/storage.js';
import type { AsyncMutex } from './async-mutex.js';
import type { Clock } from '../util/clock.js';
import type { SyncMode } from './mode.js';
import type { RetryPolicy } from './retry.js';

/** Everything the sync engine needs to know about one configured LMDB. */
export interface LmdbSyncContext {
  dbName: string;
  env: Env;
  instance: string;
  generation: string;
  hostname: string;
  storage: Storage;
  log: Logger;
  retry: RetryPolicy;
  /** One writer per env inside this process (merges, shadow updates, sweeper). */
  writeLock: AsyncMutex;
  mode: SyncMode;
  /** Default: the system clock (tests inject a virtual one). */
  clock?: Clock;
}
