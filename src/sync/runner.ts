import { hostname } from 'node:os';
import type { Config, LmdbConfig } from '../config/config.js';
import { requireStorage } from '../config/config.js';
import type { Env } from '../lmdb/index.js';
import type { Logger } from '../log/logger.js';
import { DEFAULT_GENERATION, validateDbName } from '../snapshot/name.js';
import { openStorage, type StorageOptions } from '../storage/index.js';
import { returnGuardConfig, sweeperLoadCutoffNano } from './tombstones.js';
import type { Storage } from '../storage/storage.js';
import { AsyncMutex } from './async-mutex.js';
import type { LmdbSyncContext } from './context.js';
import type { SyncMode } from './mode.js';
import { NativeMode } from './native-mode.js';
import { mapGrower } from './map-growth.js';
import { openConfiguredEnv, waitForMarkerObject } from './open-lmdb.js';
import { Semaphore } from './semaphore.js';
import { ShadowMode } from './shadow/shadow-mode.js';
import type { RetryPolicy } from './retry.js';
import { Syncer } from './syncer.js';
import { startStatsLogger } from './stats-logger.js';

/** How long --only-once keeps retrying a failing storage operation before it exits with an error. */
export const ONE_SHOT_RETRY_DEADLINE_MS = 120_000;

export interface RunOptions {
  receiveOnly: boolean;
  onlyOnce: boolean;
  onlyDbs: string[];
  waitForMarkerFile?: string;
  /**
   * Background maintenance (the cleaner and sweeper of src/ops), started once the LMDBs are open, not for
   * an --only-once pass; returns the functions that stop it. Injected so the engine does not depend on ops.
   */
  maintenance?: (run: SyncRun, signal: AbortSignal) => Array<() => Promise<void>>;
  /** Wraps the storage backend (the status server counts and times every call for /metrics and health). */
  wrapStorage?: (backend: Storage) => Storage;
}

/** One configured LMDB while the sync runs. */
export interface RunningLmdb {
  name: string;
  env: Env;
  syncer: Syncer;
  ctx: LmdbSyncContext;
}

/** What a running `sync`/`receive` exposes (status page, metrics, health, sweeper). */
export interface SyncRun {
  config: Config;
  instance: string;
  storage: Storage;
  lmdbs: RunningLmdb[];
  /** The download and decompress token pools shared by the LMDBs (Go's climit `download`, `decompress`). */
  limits?: Semaphore[];
}

export function selectLmdbs(config: Config, onlyDbs: string[]): string[] {
  const names = Object.keys(config.lmdbs);
  if (names.length === 0) throw new Error('config: lmdbs: no LMDB configured');
  for (const name of onlyDbs) {
    if (!config.lmdbs[name]) throw new Error(`--only-db ${name}: no such LMDB in the config (have: ${names.join(', ')})`);
  }
  const selected = onlyDbs.length > 0 ? names.filter((n) => onlyDbs.includes(n)) : names;
  for (const name of selected) {
    const problem = validateDbName(name);
    if (problem) throw new Error(`config: lmdbs.${name}: invalid LMDB name: ${problem}`);
  }
  return selected;
}

/**
 * Runs `sync` (or `receive`) for every selected LMDB in this process until the signal aborts or, with
 * only-once, every LMDB finished its pass. A fatal error in one LMDB stops the others.
 */
export async function runSync(
  config: Config<StorageOptions>, instance: string, log: Logger, opts: RunOptions, signal: AbortSignal,
  onStarted?: (run: SyncRun) => void | Promise<void>,
): Promise<void> {
  const storageOptions = requireStorage(config);
  const names = selectLmdbs(config, opts.onlyDbs);
  const backend = await openStorage(storageOptions, { logger: log.with({ component: 'storage' }) });
  const storage = opts.wrapStorage ? opts.wrapStorage(backend) : backend;
  const downloads = new Semaphore(config.memoryDownloadedSnapshots, 'download');
  const decompressions = new Semaphore(config.memoryDecompressedSnapshots, 'decompress');
  const retry = storageRetryPolicy(config, opts.onlyOnce);
  const lmdbs: RunningLmdb[] = [];
  const stops: Array<() => Promise<void>> = [];
  // Aborted by the caller's signal, or here when one LMDB fails or the run ends.
  const local = new AbortController();
  const inner = AbortSignal.any([signal, local.signal]);
  try {
    if (opts.waitForMarkerFile) await waitForMarkerObject(storage, opts.waitForMarkerFile, config.storagePollInterval, log, signal);
    for (const name of names) {
      const lc = config.lmdbs[name]!;
      const dbLog = log.with({ db: name });
      const env = openConfiguredEnv(name, lc);
      const writeLock = new AsyncMutex();
      const cutoff = tombstoneCutoff(config);
      const mode = createSyncMode(name, lc, env, { writeLock, log: dbLog, tombstoneCutoffNano: cutoff });
      const ctx: LmdbSyncContext = {
        dbName: name, env, instance, generation: DEFAULT_GENERATION, hostname: hostname(), storage, log: dbLog,
        retry, writeLock, mode,
      };
      const syncer = new Syncer(ctx, {
        receiveOnly: opts.receiveOnly, onlyOnce: opts.onlyOnce, lmdbPollMs: config.lmdbPollInterval,
        storagePollMs: config.storagePollInterval, forceSnapshotMs: config.storageForceSnapshotInterval,
        downloads: downloads.forLmdb(name), decompressions: decompressions.forLmdb(name), growMap: mapGrower(name, lc, env, dbLog), deltas: config.deltas, contentHash: config.contentHash,
        returnGuard: returnGuardConfig(config.sweeper),
      });
      lmdbs.push({ name, env, syncer, ctx });
      startStatsLogger(env, config.lmdbLogStatsInterval, dbLog, inner);
    }
    const run: SyncRun = { config, instance, storage, lmdbs, limits: [downloads, decompressions] };
    if (!opts.onlyOnce && opts.maintenance) stops.push(...opts.maintenance(run, inner));
    await onStarted?.(run);
    await Promise.all(lmdbs.map(async (l) => {
      try {
        await l.syncer.run(inner);
      } catch (err) {
        if (!inner.aborted) {
          local.abort(err);
          throw err;
        }
      }
    }));
  } finally {
    local.abort(new Error('sync stopped'));
    await Promise.all(stops.map((stop) => stop()));
    for (const l of lmdbs) l.env.close();
    await storage.close();
  }
}

/** A one-shot run reports every failed attempt and gives up in bounded time, even with storage_retry_forever. */
export function storageRetryPolicy(config: Config, oneShot: boolean): RetryPolicy {
  return {
    intervalMs: config.storageRetryInterval, count: config.storageRetryCount, forever: config.storageRetryForever && !oneShot,
    ...(oneShot && { deadlineMs: ONE_SHOT_RETRY_DEADLINE_MS, logEachAttempt: true }),
  };
}

/** Native or shadow mode, as the LMDB's schema_tracks_changes says. */
export function createSyncMode(
  name: string, lc: LmdbConfig, env: Env, opts: { writeLock: AsyncMutex; log: Logger; tombstoneCutoffNano: () => bigint | undefined },
): SyncMode {
  return lc.schemaTracksChanges
    ? new NativeMode(env, { dbName: name, lmdb: lc, log: opts.log, tombstoneCutoffNano: opts.tombstoneCutoffNano })
    : new ShadowMode(env, { dbName: name, lmdb: lc, ...opts });
}

/** Deletion markers older than this are not re-added from remote snapshots (only with the sweeper on). */
function tombstoneCutoff(config: Config): () => bigint | undefined {
  return () => sweeperLoadCutoffNano(config.sweeper, Date.now());
}
