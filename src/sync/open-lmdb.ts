import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LmdbConfig } from '../config/config.js';
import { LMDB_DEFAULTS } from '../config/config.js';
import { Env } from '../lmdb/index.js';
import type { Logger } from '../log/logger.js';
import { sleep } from './retry.js';

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
    throw new Error(`lmdbs.${name}: cannot open ${lc.path}: ${(err as Error).message}`);
  }
}

/**
 * --wait-for-marker-file: waits until the named file exists next to the LMDB (in its directory, or
 * beside the data file with no_subdir), so an application can signal that its LMDB is ready.
 */
export async function waitForMarkerFile(lc: LmdbConfig, marker: string, log: Logger, signal: AbortSignal): Promise<void> {
  const dir = lc.options.noSubdir ? dirname(lc.path) : lc.path;
  const path = join(dir, marker);
  let logged = false;
  while (!existsSync(path)) {
    if (!logged) log.info('waiting for marker file', { path });
    logged = true;
    await sleep(1000, signal);
  }
}
