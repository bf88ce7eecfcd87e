import type { CleanupConfig, SweeperConfig } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { startCleaner, type CleanerStatusSource } from './cleaner.js';
import type { Storage } from '../storage/storage.js';
import { startSweeper, type SweepTarget } from './sweeper.js';

/** What maintenance needs of a running sync (src/sync's SyncRun has it). */
export interface MaintainedRun {
  instance: string;
  storage: Storage;
  config: { storage: { cleanup: CleanupConfig }; sweeper: SweeperConfig };
  lmdbs: Array<SweepTarget & { syncer: { status: CleanerStatusSource }; ctx: SweepTarget['ctx'] & { log: Logger } }>;
}

/**
 * The background maintenance of a daemon, as the Go implementation runs it: the snapshot cleaner when
 * `storage.cleanup.enabled`, a tomb sweeper per LMDB when `sweeper.enabled`. Returns their stop functions.
 */
export function startMaintenance(run: MaintainedRun, log: Logger, signal: AbortSignal): Array<() => Promise<void>> {
  const stops: Array<() => Promise<void>> = [];
  const { cleanup } = run.config.storage;
  if (cleanup.enabled) {
    const lmdbs = run.lmdbs.map((l) => ({ name: l.name, status: l.syncer.status }));
    stops.push(startCleaner({ instance: run.instance, storage: run.storage, cleanup, lmdbs }, log, signal).stop);
  }
  if (run.config.sweeper.enabled) {
    for (const l of run.lmdbs) stops.push(startSweeper(l, run.config.sweeper, l.ctx.log, signal).stop);
  }
  return stops;
}
