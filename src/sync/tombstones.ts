/**
 * Deletion markers and the sweeper's retention, as the sync engine needs them: which remote markers are
 * too old to be added locally (the sweeper, in src/ops, removes the local ones).
 */
import type { SweeperConfig } from '../config/config.js';

const MS_PER_DAY = 86_400_000;

export const NS_PER_MS = 1_000_000n;

/** The retention as milliseconds (retention_days may be fractional). */
export function retentionMs(conf: Pick<SweeperConfig, 'retentionDays'>): number {
  return conf.retentionDays * MS_PER_DAY;
}

/**
 * The time (ns since the epoch) before which deletion markers from remote snapshots are not added
 * locally when the key is absent here (they would soon be swept, or were swept already), or undefined
 * when the sweeper is disabled. Go's Syncer.deletedCutoff with Sweeper.RetentionDurationMinusCutoff:
 *
 *     cutoff = now - (retention - buffer)      buffer = retention_load_cutoff_duration, capped at
 *                                              75% of the retention; 1% of the retention when unset
 *
 * so the cutoff is *later* than the sweeper's own (now - retention) by the buffer: a marker that would
 * be swept within `buffer` is not loaded either.
 */
/** The load-cutoff buffer (see sweeperLoadCutoffNano): also the return guard's safety margin. */
export function retentionBufferMs(conf: Pick<SweeperConfig, 'retentionDays' | 'retentionLoadCutoffDuration'>): number {
  const retention = retentionMs(conf);
  return conf.retentionLoadCutoffDuration > 0 ? Math.min(conf.retentionLoadCutoffDuration, (retention * 3) / 4) : retention / 100;
}

/**
 * The return guard's settings from the sweeper's (README "Coming back after a long absence"); markers per
 * cleanup txn: 1000, or LS_RETURN_GUARD_CHUNK (a test knob to make the cleanup span many txns).
 */
export function returnGuardConfig(conf: SweeperConfig, env: NodeJS.ProcessEnv = process.env): {
  enabled: boolean; retentionMs: number; marginMs: number; releaseMs: number; chunkEntries: number;
} {
  const chunk = Number(env.LS_RETURN_GUARD_CHUNK);
  return {
    enabled: conf.enabled && conf.returnGuard, retentionMs: retentionMs(conf), marginMs: retentionBufferMs(conf),
    releaseMs: conf.releaseDuration, chunkEntries: Number.isInteger(chunk) && chunk > 0 ? chunk : 1000,
  };
}

export function sweeperLoadCutoffNano(
  conf: Pick<SweeperConfig, 'enabled' | 'retentionDays' | 'retentionLoadCutoffDuration'>, nowMs: number,
): bigint | undefined {
  if (!conf.enabled) return undefined;
  return msToNano(nowMs - (retentionMs(conf) - retentionBufferMs(conf)));
}

export function msToNano(ms: number): bigint {
  return ms <= 0 ? 0n : BigInt(Math.floor(ms)) * NS_PER_MS + BigInt(Math.round((ms % 1) * 1e6));
}
