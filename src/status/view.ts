/**
 * What the status page shows, as JSON (`/status.json`, re-fetched by the page every 2 s), and the
 * storage listing of `/storage`. Every text that could carry a secret (error messages) is scrubbed.
 *
 * Staleness rules (shown on the page with their values):
 * - pending: a remote instance's newest snapshot not merged here yet. It should be within about two
 *   storage polls plus download and merge time: warning after 2 x storage_poll_interval + 5 s, error
 *   after 2 x storage_poll_interval + 60 s (counted from the object's last-modified time).
 * - age: an instance writes a snapshot when its LMDB changes and at least every
 *   storage_force_snapshot_interval, so a live instance's newest snapshot is never much older than
 *   that: warning past force interval + 2 x storage_poll_interval + 60 s, error past 2 x force
 *   interval + 60 s. With the forced snapshots disabled (0), age is not judged.
 */
import type { Config } from '../config/config.js';
import { friendlyDbiFlags } from '../lmdb/flag-names.js';
import { dbiStats } from '../ops/lmdb-stats.js';
import { describeObject } from '../storage/snapshot-store.js';
import type { Storage } from '../storage/storage.js';
import type { RemoteSnapshot } from '../sync/receive/receiver.js';
import type { RunningLmdb, SyncRun } from '../sync/runner.js';
import type { CheckResult, Health, HealthLevel } from './health.js';
import { lmdbUsage, snapshotSeconds } from './metrics.js';
import type { Scrubber } from './scrub.js';

export type Level = HealthLevel | 'none';

export interface Thresholds {
  pendingWarnSeconds: number;
  pendingErrorSeconds: number;
  /** Undefined when storage_force_snapshot_interval is 0 (ages are then not judged). */
  ageWarnSeconds?: number;
  ageErrorSeconds?: number;
}

export function thresholds(config: Config): Thresholds {
  const poll = config.storagePollInterval / 1000;
  const force = config.storageForceSnapshotInterval / 1000;
  return {
    pendingWarnSeconds: 2 * poll + 5,
    pendingErrorSeconds: 2 * poll + 60,
    ...(force > 0 && { ageWarnSeconds: force + 2 * poll + 60, ageErrorSeconds: 2 * force + 60 }),
  };
}

function judge(value: number, warn: number | undefined, error: number | undefined): Level {
  if (warn === undefined || error === undefined) return 'none';
  return value >= error ? 'error' : value >= warn ? 'warning' : 'ok';
}

const iso = (d: Date | number | undefined): string | undefined => (d === undefined ? undefined : new Date(d).toISOString());
const seconds = (ms: number): number => Math.round(ms) / 1000;

export interface InstanceView {
  instance: string;
  own: boolean;
  newest?: { name: string; timestamp: string; ageSeconds: number; size: number; lastModified: string };
  lastLoaded?: { name: string; timestamp?: string; at: string; changed: number; remoteEntries: number; ms: number };
  /** Seconds the newest snapshot has been waiting to be merged here (remote instances only). */
  pendingSeconds?: number;
  ageLevel: Level;
  syncLevel: Level;
  state: string;
}

/** The chart's data: per instance, the highest lag of each bucket of the last hour ([ms since epoch, seconds]). */
export interface LagView {
  windowSeconds: number;
  bucketSeconds: number;
  series: Array<{ instance: string; points: Array<[number, number]> }>;
}

const LAG_WINDOW_S = 3600;
const LAG_BUCKET_S = 10;

function lagView(l: RunningLmdb, now: number): LagView {
  const byInstance = new Map<string, Map<number, number>>();
  for (const s of l.syncer.status.lagSamples) {
    if (s.at < now - LAG_WINDOW_S * 1000) continue;
    const bucket = Math.floor(s.at / (LAG_BUCKET_S * 1000)) * LAG_BUCKET_S * 1000;
    let m = byInstance.get(s.instance);
    if (!m) byInstance.set(s.instance, (m = new Map<number, number>()));
    m.set(bucket, Math.max(m.get(bucket) ?? 0, Math.max(0, s.lagSeconds)));
  }
  return {
    windowSeconds: LAG_WINDOW_S, bucketSeconds: LAG_BUCKET_S,
    series: [...byInstance].sort(([a], [b]) => (a < b ? -1 : 1)).map(([instance, m]) => ({
      instance, points: [...m].sort(([a], [b]) => a - b).map(([t, v]) => [t + LAG_BUCKET_S * 500, Math.round(v * 1000) / 1000]),
    })),
  };
}

/** Content hashes (README, "Content hashes"): ours, each instance's newest, and whether they agree. */
function contentView(l: RunningLmdb, enabled: boolean) {
  const a = l.syncer.status.content.evaluate();
  const local = l.syncer.status.content.localHash;
  return {
    enabled,
    verdict: a.converged ? 'converged' : local ? 'differs' : 'unknown',
    differsSince: iso(a.differsSince),
    instances: a.instances,
    agreeing: a.agreeing,
    local: local && { hash: local.hash.digest.toString('hex'), algorithm: local.hash.algorithm, entries: local.hash.entries, at: iso(local.at) },
    perInstance: a.perInstance.map((i) => ({
      instance: i.instance, verdict: i.verdict, hash: i.hash?.digest.toString('hex'), source: i.hashSource, at: iso(i.hashAt),
      snapshot: i.snapshotName,
    })),
  };
}

function instancesView(l: RunningLmdb, own: string, th: Thresholds, now: number): InstanceView[] {
  const status = l.syncer.status;
  const latest = status.peers?.newest ?? new Map<string, RemoteSnapshot>();
  const names = new Set<string>([...latest.keys(), ...status.lastLoadedByInstance.keys()]);
  const order = [...names].sort((a, b) => (a === own ? -1 : b === own ? 1 : a < b ? -1 : a > b ? 1 : 0));
  return order.map((instance): InstanceView => {
    const isOwn = instance === own;
    const snap = latest.get(instance);
    const loaded = status.lastLoadedByInstance.get(instance);
    const view: InstanceView = { instance, own: isOwn, ageLevel: 'none', syncLevel: 'none', state: '' };
    if (loaded) {
      view.lastLoaded = {
        name: loaded.name, timestamp: iso(snapshotSeconds(loaded.timestampNano) * 1000), at: iso(loaded.at)!,
        changed: loaded.changed, remoteEntries: loaded.remoteEntries, ms: loaded.ms,
      };
    }
    if (!snap) {
      view.state = 'no snapshot in storage (cleaned up?)';
      return view;
    }
    const tsMs = Number(snap.timestampNano / 1_000_000n);
    const ageSeconds = seconds(Math.max(0, now - tsMs));
    view.newest = { name: snap.name, timestamp: iso(tsMs)!, ageSeconds, size: snap.size, lastModified: iso(snap.lastModified)! };
    view.ageLevel = judge(ageSeconds, th.ageWarnSeconds, th.ageErrorSeconds);
    if (isOwn) {
      view.state = 'this instance';
    } else if (loaded && loaded.name >= snap.name) {
      view.syncLevel = 'ok';
      view.state = 'in sync';
    } else {
      const pending = seconds(Math.max(0, now - snap.lastModified.getTime()));
      view.pendingSeconds = pending;
      view.syncLevel = judge(pending, th.pendingWarnSeconds, th.pendingErrorSeconds);
      view.state = view.syncLevel === 'ok' ? 'loading' : 'behind';
    }
    return view;
  });
}

export interface ViewContext {
  run: SyncRun;
  health: Health;
  scrub: Scrubber;
  instrumented: boolean;
  version: string;
  hostname: string;
  startedAt: Date;
}

/** Go's per-DBI table: every named DBI (the `_sync*` ones too) with its mdb_stat, page usage and flags. */
export interface DbiView {
  name: string;
  usedBytes: number;
  entries: number;
  depth: number;
  branchPages: number;
  leafPages: number;
  overflowPages: number;
  flags: string;
}

function dbisView(l: RunningLmdb): DbiView[] | { error: string } {
  try {
    return dbiStats(l.env).map((d) => ({
      name: d.name, usedBytes: d.usageBytes, entries: d.stat.entries, depth: d.stat.depth,
      branchPages: d.stat.branchPages, leafPages: d.stat.leafPages, overflowPages: d.stat.overflowPages, flags: friendlyDbiFlags(d.flags),
    }));
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function lmdbView(ctx: ViewContext, l: RunningLmdb, th: Thresholds, checks: CheckResult[], now: number) {
  const { run, scrub } = ctx;
  const s = l.syncer.status;
  let env: Record<string, number> | { error: string };
  try {
    const u = lmdbUsage(l);
    env = { ...u, usedFraction: u.mapSize > 0 ? u.usedBytes / u.mapSize : 0 };
  } catch (err) {
    env = { error: scrub((err as Error).message) };
  }
  const stored = s.lastStored;
  const loaded = s.lastLoaded;
  return {
    name: l.name,
    mode: l.ctx.mode.kind,
    path: run.config.lmdbs[l.name]?.path ?? '',
    ready: s.ready,
    env,
    dbis: ((d) => ('error' in d ? { error: scrub(d.error) } : d))(dbisView(l)),
    lastStored: stored && {
      name: stored.name, at: iso(stored.at), ageSeconds: seconds(now - stored.at.getTime()),
      txnId: stored.txnId, entries: stored.entries, bytes: stored.bytes, ms: stored.ms,
    },
    lastLoaded: loaded && {
      name: loaded.name, instance: loaded.instance, at: iso(loaded.at), ageSeconds: seconds(now - loaded.at.getTime()),
      txnId: loaded.txnId, snapshotTxnId: loaded.snapshotTxnId, changed: loaded.changed, remoteEntries: loaded.remoteEntries, ms: loaded.ms,
    },
    counters: {
      stored: s.storedCount, loaded: s.loadedCount, storeFailures: s.storeFailures, loadFailures: s.loadFailures, listFailures: s.listFailures,
    },
    lastListOk: iso(s.lastListOkAt),
    instances: instancesView(l, run.instance, th, now),
    /** Peers that take only full snapshots (Go, or ours with deltas off): full snapshots are stored beside deltas for them. */
    fullOnlyPeers: [...s.fullOnlyPeers],
    content: contentView(l, run.config.contentHash.enabled),
    /** The return guard (README "Coming back after a long absence"). */
    returnGuard: s.returnGuard?.view(),
    recentErrors: [...s.recentErrors].reverse().map((e) => ({ at: iso(e.at), what: scrub(e.what), message: scrub(e.message) })),
    lag: lagView(l, now),
    health: checks.filter((c) => c.lmdb === l.name),
  };
}

export function statusView(ctx: ViewContext, now = Date.now()) {
  const { run, health } = ctx;
  const th = thresholds(run.config);
  const hz = health.healthz(new Date(now));
  const checks = hz.body.checks as CheckResult[];
  const worst: HealthLevel = checks.some((c) => c.reported && c.status === 'error') ? 'error'
    : checks.some((c) => c.reported && c.status === 'warning') ? 'warning' : 'ok';
  return {
    instance: run.instance,
    hostname: ctx.hostname,
    version: ctx.version,
    now: iso(now),
    startedAt: iso(ctx.startedAt),
    storageType: run.config.storage.type,
    storageInstrumented: ctx.instrumented,
    ready: run.lmdbs.every((l) => l.syncer.status.ready),
    health: worst,
    intervals: {
      lmdbPollSeconds: run.config.lmdbPollInterval / 1000,
      storagePollSeconds: run.config.storagePollInterval / 1000,
      forceSnapshotSeconds: run.config.storageForceSnapshotInterval / 1000,
    },
    thresholds: th,
    lmdbs: run.lmdbs.map((l) => lmdbView(ctx, l, th, checks, now)),
  };
}

export type StatusView = ReturnType<typeof statusView>;

export interface StorageListing {
  prefix: string;
  limit: number;
  total: number;
  totalBytes: number;
  truncated: boolean;
  objects: Array<{
    name: string; size: number; lastModified: string;
    snapshot?: { db: string; instance: string; timestamp: string; generation: string };
  }>;
}

/**
 * Lists the bucket in name order and keeps the first `limit` objects. The storage interface has no
 * paging: the whole listing is read, only the answer is cut.
 */
export async function listStorage(storage: Storage, prefix: string, limit: number, signal: AbortSignal): Promise<StorageListing> {
  const all = await storage.list(prefix, signal);
  const shown = all.slice(0, limit);
  return {
    prefix, limit, total: all.length, totalBytes: all.reduce((n, o) => n + o.size, 0), truncated: shown.length < all.length,
    objects: shown.map((o) => {
      const d = describeObject(o);
      return {
        name: o.name, size: o.size, lastModified: o.lastModified.toISOString(),
        ...(d && {
          snapshot: {
            db: d.entry.db, instance: d.entry.instance, generation: d.entry.generation, kind: d.kind,
            timestamp: new Date(Number(d.entry.timestampNano / 1_000_000n)).toISOString(),
          },
        }),
      };
    }),
  };
}
