import type { Env } from '../lmdb/index.js';
import type { Logger } from '../log/logger.js';

/**
 * lmdb_log_stats_interval: logs the LMDB's size and use every interval (0 disables). Reads only the
 * env's info and stat (shared memory and the meta page): no transaction, nothing blocks the application.
 */
export function startStatsLogger(env: Env, intervalMs: number, log: Logger, signal: AbortSignal): void {
  if (intervalMs <= 0) return;
  const timer = setInterval(() => {
    try {
      const info = env.info();
      const stat = env.stat();
      const used = (info.lastPageNo + 1) * stat.pageSize;
      log.info('LMDB stats', {
        txn_id: info.lastTxnId, map_size: info.mapSize, used_bytes: used,
        used_percent: Math.round((used / info.mapSize) * 1000) / 10, readers: info.numReaders,
        max_readers: info.maxReaders, main_entries: stat.entries, depth: stat.depth,
      });
    } catch (err) {
      log.warn('cannot read LMDB stats', { error: (err as Error).message });
    }
  }, intervalMs);
  timer.unref();
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
}
