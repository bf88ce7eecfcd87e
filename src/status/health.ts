/**
 * The `/healthz` trackers, mirroring the Go implementation (status/healthtracker, status/starttracker
 * and the go-healthz handler it uses):
 *
 * - per LMDB, `storage_list`, `storage_load` and `storage_store` trackers, each evaluated every
 *   `interval` (the result is cached between evaluations, as go-healthz does). A tracker whose calls
 *   have been failing without a success in between for `warn_duration` is a warning, for
 *   `error_duration` an error; one success ends the failure run. Check names and messages are Go's:
 *   `<db>_storage_list_failed_duration`, "failed to list snapshots on storage backend for 1m5s - last error: '...'".
 * - per LMDB, a `start` tracker (`<db>_startup_in_progress`): pending until the initial sync completed
 *   (SyncStatus.ready); it turns warning/error after warn/error_duration only with `report_healthz: true`,
 *   and is reported as the `startup_<db>` metadata field with `report_metadata: true` (the default).
 *
 * `/healthz` answers 503 when any reported check is an error, else 200 (warnings included), with a
 * go-healthz-like JSON body plus a `checks` list detailing every tracker.
 * `/readyz` (not in Go, which only has the startup_<db> metadata) answers 200 once every LMDB finished
 * its initial sync, 503 before.
 *
 * Go clamps `interval` to at least 1 s; we accept down to 100 ms (the minimum of our other intervals)
 * so tests can use short ones.
 */
import type { HealthConfig, StartHealthConfig } from '../config/config.js';
import { formatDuration } from '../config/units.js';
import type { RecentError, SyncStatus } from '../sync/status.js';
import type { SyncRun } from '../sync/runner.js';
import { InstrumentedStorage, type OutcomeState, type StorageOp } from './instrument.js';
import type { Scrubber } from './scrub.js';

export type HealthLevel = 'ok' | 'warning' | 'error';
export type TrackerKind = 'storage_list' | 'storage_load' | 'storage_store' | 'start';

export const MIN_EVALUATION_INTERVAL_MS = 100;

export interface CheckResult {
  /** The go-healthz check name. */
  name: string;
  lmdb: string;
  tracker: TrackerKind;
  status: HealthLevel;
  /** Whether it counts toward the overall status (a start tracker only with report_healthz). */
  reported: boolean;
  /** What Go would report for a warning or error ('' when fine). */
  message: string;
  /** ISO times: failing (or start-up pending) since, last success, last failure. */
  since?: string;
  lastOk?: string;
  lastFailure?: string;
  lastError?: string;
  consecutiveFailures?: number;
  evaluatedAt: string;
  /** The thresholds used, in seconds. */
  intervalSeconds: number;
  warnAfterSeconds: number;
  errorAfterSeconds: number;
}

const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());
const roundedDuration = (ms: number): string => formatDuration(Math.round(ms / 1000) * 1000);

/** Evaluates itself every interval; `current` is the cached result. */
abstract class Tracker {
  private timer: NodeJS.Timeout | undefined;
  /** Set by the subclass constructors' first evaluate(). */
  current!: CheckResult;

  constructor(protected readonly config: HealthConfig, protected readonly now: () => number) {}

  protected abstract compute(now: number): CheckResult;

  evaluate(): CheckResult {
    this.current = this.compute(this.now());
    return this.current;
  }

  start(): void {
    this.timer ??= setInterval(() => this.evaluate(), Math.max(this.config.interval, MIN_EVALUATION_INTERVAL_MS));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  protected base(now: number) {
    return {
      evaluatedAt: new Date(now).toISOString(),
      intervalSeconds: Math.max(this.config.interval, MIN_EVALUATION_INTERVAL_MS) / 1000,
      warnAfterSeconds: this.config.warnDuration / 1000,
      errorAfterSeconds: this.config.errorDuration / 1000,
    };
  }

  /** Go's rule: failing for at least error_duration is an error, for at least warn_duration a warning. */
  protected level(failingForMs: number): HealthLevel {
    if (failingForMs >= this.config.errorDuration) return 'error';
    if (failingForMs >= this.config.warnDuration) return 'warning';
    return 'ok';
  }
}

type TrackedOp = Exclude<StorageOp, 'delete'>;

/** Go's wording of each tracked activity. */
const ACTIVITY: Record<TrackedOp, string> = {
  list: 'list snapshots on storage backend',
  load: 'load a snapshot from storage backend',
  store: 'write to storage backend',
};

/** Tracks how long one kind of storage call of one LMDB has been failing. */
export class FailureTracker extends Tracker {
  constructor(
    readonly lmdb: string, readonly op: TrackedOp, config: HealthConfig,
    private readonly read: () => OutcomeState, private readonly scrub: Scrubber, now: () => number = Date.now,
  ) {
    super(config, now);
    this.evaluate();
  }

  protected compute(now: number): CheckResult {
    const s = this.read();
    const failingFor = s.failingSince === undefined ? 0 : now - s.failingSince;
    const status = s.failingSince === undefined ? 'ok' : this.level(failingFor);
    const lastError = s.lastError === undefined ? undefined : this.scrub(s.lastError);
    return {
      name: `${this.lmdb}_storage_${this.op}_failed_duration`, lmdb: this.lmdb, tracker: `storage_${this.op}`,
      status, reported: true,
      message: status === 'ok' ? '' : `failed to ${ACTIVITY[this.op]} for ${roundedDuration(failingFor)} - last error: '${lastError ?? ''}'`,
      since: iso(s.failingSince), lastOk: iso(s.lastOkAt), lastFailure: iso(s.lastFailAt),
      lastError: s.failingSince === undefined ? undefined : lastError,
      consecutiveFailures: s.consecutiveFailures,
      ...this.base(now),
    };
  }
}

/** The start-up phase of one LMDB: pending until its initial sync completed. */
export class StartTracker extends Tracker {
  private readonly startedAt: number;
  private completedAt: number | undefined;

  constructor(readonly lmdb: string, protected override readonly config: StartHealthConfig, private readonly ready: () => boolean,
    now: () => number = Date.now) {
    super(config, now);
    this.startedAt = now();
    this.evaluate();
  }

  get completed(): boolean {
    return this.completedAt !== undefined;
  }

  protected compute(now: number): CheckResult {
    const startedAt = this.startedAt;
    if (this.completedAt === undefined && this.ready()) this.completedAt = now;
    const pendingFor = now - startedAt;
    const status = this.completedAt !== undefined || !this.config.reportHealthz ? 'ok' : this.level(pendingFor);
    return {
      name: `${this.lmdb}_startup_in_progress`, lmdb: this.lmdb, tracker: 'start',
      status, reported: this.config.reportHealthz,
      message: status === 'ok' ? '' : `successful startup pending after ${roundedDuration(pendingFor)}`,
      since: iso(startedAt), lastOk: iso(this.completedAt),
      ...this.base(now),
    };
  }
}

/**
 * The outcome of one kind of engine call from SyncStatus alone: used when the storage is not
 * instrumented. It only sees what SyncStatus records (a store failure only once its retries gave up,
 * no download failures), so the instrumented storage is the real source. SyncStatus keeps only its
 * last 20 errors: `previous` (the last result) keeps the start of a long failure run.
 */
export function outcomeFromStatus(okAt: Date | undefined, errors: RecentError[], previous?: OutcomeState): OutcomeState {
  const ok = okAt?.getTime();
  const failures = errors.filter((e) => ok === undefined || e.at.getTime() > ok);
  const last = errors[errors.length - 1];
  let failingSince = failures[0]?.at.getTime();
  const earlier = previous?.failingSince;
  if (failingSince !== undefined && earlier !== undefined && (ok === undefined || earlier > ok)) failingSince = Math.min(earlier, failingSince);
  return {
    lastOkAt: ok, lastFailAt: last?.at.getTime(), failingSince, lastError: failures[failures.length - 1]?.message,
    consecutiveFailures: failures.length,
  };
}

function statusSource(status: SyncStatus, op: TrackedOp): () => OutcomeState {
  const matches = (e: RecentError): boolean => (op === 'load' ? e.what.startsWith('load ') : e.what === op);
  const okAt = (): Date | undefined => (op === 'list' ? status.lastListOkAt : op === 'load' ? status.lastLoaded?.at : status.lastStored?.at);
  let previous: OutcomeState | undefined;
  return () => (previous = outcomeFromStatus(okAt(), status.recentErrors.filter(matches), previous));
}

export interface HealthReport {
  code: 200 | 503;
  body: Record<string, unknown>;
}

/** Every tracker of a run, evaluated on their own timers. */
export class Health {
  readonly trackers: Tracker[] = [];
  readonly starts: StartTracker[] = [];
  private readonly since = new Date();

  constructor(private readonly run: SyncRun, scrub: Scrubber, private readonly meta: Record<string, unknown>, now: () => number = Date.now) {
    const h = run.config.health;
    const storage = run.storage instanceof InstrumentedStorage ? run.storage : undefined;
    const configs = { list: h.storageList, load: h.storageLoad, store: h.storageStore } as const;
    for (const l of run.lmdbs) {
      for (const op of ['list', 'load', 'store'] as const) {
        const read = storage ? () => storage.outcome(op, l.name) : statusSource(l.syncer.status, op);
        this.trackers.push(new FailureTracker(l.name, op, configs[op], read, scrub, now));
      }
      const start = new StartTracker(l.name, h.start, () => l.syncer.status.ready, now);
      this.starts.push(start);
      this.trackers.push(start);
    }
  }

  start(): void {
    for (const t of this.trackers) t.start();
  }

  stop(): void {
    for (const t of this.trackers) t.stop();
  }

  checks(): CheckResult[] {
    return this.trackers.map((t) => t.current);
  }

  /** The `/healthz` answer (go-healthz's fields, plus `checks`). */
  healthz(now = new Date()): HealthReport {
    const failures: Record<string, string> = {};
    const warnings: Record<string, string> = {};
    const checks = this.checks();
    for (const c of checks) {
      if (!c.reported || c.status === 'ok') continue;
      (c.status === 'error' ? failures : warnings)[c.name] = c.message;
    }
    const metadata: Record<string, unknown> = { ...this.meta };
    if (this.run.config.health.start.reportMetadata) {
      for (const s of this.starts) metadata[`startup_${s.lmdb}`] = s.completed;
    }
    const ok = Object.keys(failures).length === 0;
    return {
      code: ok ? 200 : 503,
      body: {
        ok, has_warnings: Object.keys(warnings).length > 0, status: ok ? 'OK' : 'Unavailable',
        time: now.toISOString(), since: this.since.toISOString(), metadata, failures, warnings, checks,
      },
    };
  }

  /** The `/readyz` answer: ready once every LMDB completed its initial sync. */
  readyz(): HealthReport {
    const lmdbs = Object.fromEntries(this.run.lmdbs.map((l) => [l.name, l.syncer.status.ready]));
    const ready = Object.values(lmdbs).every(Boolean);
    return { code: ready ? 200 : 503, body: { ready, lmdbs } };
  }
}
