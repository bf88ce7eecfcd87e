/**
 * The tomb sweeper (`sweeper`): removes deletion markers older than `retention_days` from one LMDB,
 * so deleted keys do not occupy the LMDB (and every snapshot) forever. Same behaviour as the Go
 * implementation (syncer/sweeper/sweeper.go):
 *
 * - first sweep `first_interval` after start, then every `interval` (no perturbation);
 * - a marker is removed when its timestamp is before now - retention;
 * - the work is split into short write transactions: one holds the write lock for about
 *   `lock_duration`, its commit included (checked every CHUNK entries, so it may overrun by about one
 *   chunk; the commit is given the time the previous one took), then the sweeper
 *   sleeps `release_duration` and resumes after the last key it looked at;
 * - native mode sweeps the application DBIs; shadow mode only the `_sync_shadow_*` DBIs, whose values
 *   carry the native header (the application DBIs have no header there, and hold no markers).
 *   Go sweeps every DBI in native mode, `_sync*` ones included; those only exist in native mode after a
 *   switch from shadow mode, and are left alone here.
 *
 * Every write txn runs inside ctx.writeLock, like every other writer of this process.
 * Differences from Go: a value without a valid header is counted and skipped (Go aborts the sweep of
 * the DBI); a txn that removed nothing is aborted rather than committed (no txn id is used up, so it
 * cannot trigger a snapshot).
 *
 * Remote snapshots can still carry markers that were swept here; the merge must not add them back:
 * see sweeperLoadCutoffNano.
 */
import type { SweeperConfig } from '../config/config.js';
import type { Dbi, Env, KVBatch } from '../lmdb/index.js';
import { HEADER_SIZE, HEADER_VERSION, HEADER_FLAG_DELETED, headerTsHi, headerTsLo } from '../lmdb/index.js';
import type { Logger } from '../log/logger.js';
import { SHADOW_DBI_PREFIX, SYNC_DBI_PREFIX } from '../sync/mode.js';
import { msToNano, NS_PER_MS, retentionMs } from '../sync/tombstones.js';
import { sleep } from '../util/clock.js';
import { errorMessage } from '../util/errors.js';
import { scanChunk, type ScanPosition } from './chunk-scan.js';

/** Entries looked at between two checks of the lock time (Go: 1000, about 1 ms). */
const CHUNK = 1000;

/** What the sweeper needs of a running LMDB (RunningLmdb has it). */
export interface SweepTarget {
  name: string;
  env: Env;
  ctx: { writeLock: { run<T>(fn: () => Promise<T> | T): Promise<T> }; mode: { kind: 'native' | 'shadow' } };
}

export interface SweepStats {
  /** Entries left after the sweep, deletion markers included (Go: total_entries). */
  entries: number;
  /** Deletion markers still within the retention (Go: deleted_entries). */
  deleted: number;
  /** Markers removed by this sweep (Go: cleaned_entries). */
  cleaned: number;
  /** Values without a valid native header, skipped. */
  invalid: number;
  /** Write txns (rounds) used. */
  rounds: number;
  /** The longest time one round held the write lock, ms. */
  maxLockMs: number;
  /** Time the write lock was held in total, ms. */
  lockMs: number;
  /** The longest commit (the fsync of the data file, under the lock), ms. */
  maxCommitMs: number;
  /** Wall time of the sweep, ms. */
  ms: number;
  dbis: string[];
  /** The sweep cutoff (ns since the epoch): markers before it were removed. */
  cutoffNano: bigint;
}

/**
 * Plain numbers for the /metrics module, per LMDB name, named after Go's (syncer/sweeper/metrics.go):
 * cleanedTotal = lightningstream_sweeper_cleaned_total, statsAvailable/totalEntries/deletedEntries the
 * gauges lightningstream_sweeper_stats_*, durationSecondsSum/sweeps the summary
 * lightningstream_sweeper_duration_seconds (sum/count). onSweep listeners see every completed sweep.
 */
export interface SweeperDbMetrics {
  cleanedTotal: number;
  statsAvailable: number;
  totalEntries: number;
  deletedEntries: number;
  sweeps: number;
  durationSecondsSum: number;
  lastStats: SweepStats | undefined;
}

export const sweeperMetrics = {
  byDb: new Map<string, SweeperDbMetrics>(),
  /** Failed sweeps per LMDB name (ours, lightningstream_sweeper_failed_total: Go only logs them). */
  failedByDb: new Map<string, number>(),
  listeners: new Set<(db: string, stats: SweepStats) => void>(),
  /** Registers a listener for completed sweeps; returns its removal. */
  onSweep(fn: (db: string, stats: SweepStats) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  },
};

function record(db: string, stats: SweepStats): void {
  let m = sweeperMetrics.byDb.get(db);
  if (!m) {
    m = { cleanedTotal: 0, statsAvailable: 0, totalEntries: 0, deletedEntries: 0, sweeps: 0, durationSecondsSum: 0, lastStats: undefined };
    sweeperMetrics.byDb.set(db, m);
  }
  m.cleanedTotal += stats.cleaned;
  m.statsAvailable = 1;
  m.totalEntries = stats.entries;
  m.deletedEntries = stats.deleted;
  m.sweeps++;
  m.durationSecondsSum += stats.ms / 1000;
  m.lastStats = stats;
  for (const fn of sweeperMetrics.listeners) fn(db, stats);
}

/** The DBIs swept in a mode: native, the application DBIs; shadow, the shadow DBIs. */
export function sweptDbis(names: string[], mode: 'native' | 'shadow'): string[] {
  return mode === 'native'
    ? names.filter((n) => !n.startsWith(SYNC_DBI_PREFIX))
    : names.filter((n) => n.startsWith(SHADOW_DBI_PREFIX));
}

/** Sweeps one LMDB; sweep() does one full pass. */
export class TombSweeper {
  /** How long the last commit took: the next round leaves that much of lock_duration for its own. */
  private lastCommitMs = 0;

  constructor(
    private readonly target: SweepTarget,
    private readonly conf: SweeperConfig,
    private readonly log: Logger,
    private readonly now: () => number = () => Date.now(),
  ) {}

  async sweep(signal?: AbortSignal): Promise<SweepStats> {
    const started = performance.now();
    const { env, ctx } = this.target;
    const cutoffNano = msToNano(this.now() - retentionMs(this.conf));
    const cutHi = Number(cutoffNano >> 32n);
    const cutLo = Number(cutoffNano & 0xffffffffn);
    const stats: SweepStats = {
      entries: 0, deleted: 0, cleaned: 0, invalid: 0, rounds: 0, maxLockMs: 0, lockMs: 0, maxCommitMs: 0, ms: 0, dbis: [], cutoffNano,
    };
    this.log.debug('Sweep started', { cutoff: new Date(Number(cutoffNano / NS_PER_MS)).toISOString() });
    // Listing and opening DBIs under the lock: no write txn of ours (which may be opening DBIs) is open.
    const dbis = await ctx.writeLock.run(() => sweptDbis(env.listDbis(), ctx.mode.kind)
      .map((name) => env.openDbi(name))
      .filter((d): d is Dbi => d !== null));
    stats.dbis = dbis.map((d) => d.name!);

    for (const dbi of dbis) {
      const invalidBefore = stats.invalid;
      let pos: ScanPosition | undefined;
      for (;;) {
        if (signal?.aborted) throw signal.reason;
        const round = await ctx.writeLock.run(() => this.round(dbi, pos, cutHi, cutLo, stats));
        pos = round.last;
        if (round.done) break;
        this.log.debug('Sweep limit reached, continuing after pause', { dbi: dbi.name });
        await sleep(this.conf.releaseDuration, signal);
      }
      if (stats.invalid > invalidBefore) {
        this.log.warn('values without a valid native header were skipped', { dbi: dbi.name, count: stats.invalid - invalidBefore });
      }
    }
    stats.ms = performance.now() - started;
    record(this.target.name, stats);
    this.log.info('Sweep for stale deleted entries completed', {
      total_entries: stats.entries,
      deleted_entries: stats.deleted,
      deleted_fraction: stats.entries > 0 ? Math.round((stats.deleted / stats.entries) * 1000) / 1000 : 0,
      cleaned_entries: stats.cleaned,
      transactions: stats.rounds,
      max_lock_ms: Math.round(stats.maxLockMs * 10) / 10,
      max_commit_ms: Math.round(stats.maxCommitMs * 10) / 10,
      time_taken: `${Math.round(stats.ms)}ms`,
    });
    return stats;
  }

  /** One write txn: chunks of CHUNK entries until the lock duration is used up or the DBI ends. */
  private round(dbi: Dbi, from: ScanPosition | undefined, cutHi: number, cutLo: number, stats: SweepStats):
    { last: ScanPosition | undefined; done: boolean } {
    const t0 = performance.now();
    const txn = this.target.env.beginWrite();
    let removed = 0;
    let pos = from;
    let done: boolean;
    try {
      const doomed: Buffer[] = [];
      const visit = (b: KVBatch, i: number): void => {
        const off = b.valOff[i]!;
        const len = b.valLen[i]!;
        if (len < HEADER_SIZE || b.buf[off + 16] !== HEADER_VERSION) {
          stats.invalid++;
          return;
        }
        if ((b.buf[off + 17]! & HEADER_FLAG_DELETED) === 0) {
          stats.entries++;
          return;
        }
        const hi = headerTsHi(b.buf, off);
        if (hi > cutHi || (hi === cutHi && headerTsLo(b.buf, off) >= cutLo)) {
          stats.entries++;
          stats.deleted++;
          return;
        }
        doomed.push(Buffer.from(b.buf.subarray(b.keyOff[i], b.keyOff[i]! + b.keyLen[i]!)));
      };
      // The commit (an fsync) also holds the lock: leave it the time the previous one took.
      const budget = this.conf.lockDuration - this.lastCommitMs;
      do {
        const chunk = scanChunk(txn, dbi, pos, CHUNK, visit);
        pos = chunk.last;
        done = chunk.done;
        // Deleted after the chunk's cursor is closed, so no cursor ever sits on a deleted entry.
        for (const key of doomed) if (txn.del(dbi, key)) removed++;
        doomed.length = 0;
      } while (!done && performance.now() - t0 < budget);
      if (removed > 0) {
        const c0 = performance.now();
        txn.commit();
        this.lastCommitMs = performance.now() - c0;
        if (this.lastCommitMs > stats.maxCommitMs) stats.maxCommitMs = this.lastCommitMs;
      } else {
        txn.abort();
      }
    } catch (err) {
      txn.abort();
      throw err;
    }
    const held = performance.now() - t0;
    stats.cleaned += removed;
    stats.rounds++;
    stats.lockMs += held;
    if (held > stats.maxLockMs) stats.maxLockMs = held;
    return { last: pos, done };
  }
}

export interface SweeperHandle {
  readonly sweeper: TombSweeper;
  /** Stats of the last completed sweep. */
  readonly lastStats: SweepStats | undefined;
  /** Stops the schedule and waits for an ongoing sweep to end (it stops at its next round). Needs no `this`. */
  readonly stop: () => Promise<void>;
}

/**
 * Runs the sweeper of one LMDB on its schedule (call it when `sweeper.enabled`): the first sweep after
 * `first_interval`, then every `interval`, until signal aborts or stop(). A failed sweep is logged and
 * tried again at the next interval. `now` (ms since the epoch) decides what is old: injectable for tests.
 */
export function startSweeper(
  lmdb: SweepTarget, config: SweeperConfig, log: Logger, signal: AbortSignal, now: () => number = () => Date.now(),
): SweeperHandle {
  const slog = log.with({ component: 'sweeper' });
  const sweeper = new TombSweeper(lmdb, config, slog, now);
  const local = new AbortController();
  const inner = AbortSignal.any([signal, local.signal]);
  let lastStats: SweepStats | undefined;
  // From 0, so that the first failure is an increase Prometheus sees.
  if (!sweeperMetrics.failedByDb.has(lmdb.name)) sweeperMetrics.failedByDb.set(lmdb.name, 0);
  const loop = (async () => {
    let wait = config.firstInterval;
    for (;;) {
      try {
        await sleep(wait, inner);
      } catch {
        break;
      }
      wait = config.interval;
      try {
        lastStats = await sweeper.sweep(inner);
      } catch (err) {
        if (inner.aborted) break;
        sweeperMetrics.failedByDb.set(lmdb.name, (sweeperMetrics.failedByDb.get(lmdb.name) ?? 0) + 1);
        slog.warn('Sweep failed', { error: errorMessage(err) });
      }
    }
    slog.debug('Sweeper exited');
  })();
  return {
    sweeper,
    get lastStats() {
      return lastStats;
    },
    async stop() {
      local.abort(new Error('sweeper stopped'));
      await loop;
    },
  };
}
