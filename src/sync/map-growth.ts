import type { LmdbConfig } from '../config/config.js';
import type { Env } from '../lmdb/index.js';
import type { Logger } from '../log/logger.js';

/** The largest map a merge may grow an LMDB to when the config leaves its size open. */
const MAX_GROWN_MAP_SIZE = 64 * 2 ** 30;

/**
 * What to do when a merge finds the LMDB's map full. With `map_size` set in the config, the size is
 * the operator's (and the application's: PowerDNS opens its files with its own lmdb-map-size, and an
 * application whose map is smaller than the data file fails with MDB_MAP_RESIZED), so it is never
 * grown. Without it, the map is doubled, up to 64 GiB: the data file only grows with the pages used.
 */
export function mapGrower(dbName: string, lc: LmdbConfig, env: Env, log: Logger): () => boolean {
  if (lc.options.mapSize) {
    return () => {
      log.error(`raise lmdbs.${dbName}.options.map_size (and the application's map size): the configured size is never grown automatically`);
      return false;
    };
  }
  return () => {
    const current = env.info().mapSize;
    if (current >= MAX_GROWN_MAP_SIZE) return false;
    const next = Math.min(current * 2, MAX_GROWN_MAP_SIZE);
    try {
      env.setMapSize(next);
    } catch (err) {
      log.warn('cannot grow the LMDB map now', { error: (err as Error).message });
      return false;
    }
    log.warn('the LMDB map was full: grew it (set map_size in the config to pin it)', { from_bytes: current, to_bytes: next });
    return true;
  };
}
