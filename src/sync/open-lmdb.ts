import type { LmdbConfig } from '../config/config.js';
import { LMDB_DEFAULTS } from '../config/config.js';
import { Env } from '../lmdb/index.js';
import type { Logger } from '../log/logger.js';
import { loadAll } from '../storage/common.js';
import { NotFoundError, type Storage } from '../storage/storage.js';
import { sleep } from '../util/clock.js';
import { errorMessage } from '../util/errors.js';

/** Opens a configured LMDB the way the application expects to share it (config `lmdbs.<name>.options`). */
export function openConfiguredEnv(name: string, lc: LmdbConfig): Env {
  const o = lc.options;
  try {
    return Env.open(lc.path, {
      noSubdir: o.noSubdir,
      create: o.create,
      mapSize: o.mapSize || LMDB_DEFAULTS.mapSize,
      maxDbs: o.maxDbs || LMDB_DEFAULTS.maxDbs,
      dirMask: o.dirMask || LMDB_DEFAULTS.dirMask,
      fileMask: o.fileMask || LMDB_DEFAULTS.fileMask,
    });
  } catch (err) {
    throw new Error(`lmdbs.${name}: cannot open ${lc.path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * --wait-for-marker-file: waits until an object of that name exists in the storage (as the Go
 * implementation does), so a deployment can hold syncers back until the bucket is prepared.
 */
export async function waitForMarkerObject(storage: Storage, marker: string, pollMs: number, log: Logger, signal: AbortSignal): Promise<void> {
  log.info('waiting for the marker object in the storage', { marker });
  for (;;) {
    try {
      await loadAll(storage, marker, signal);
      log.info('marker object found, starting', { marker });
      return;
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (!(err instanceof NotFoundError)) log.warn('cannot check the storage for the marker object', { marker, error: errorMessage(err) });
    }
    await sleep(pollMs, signal);
  }
}
