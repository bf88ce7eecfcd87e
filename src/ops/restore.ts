/**
 * Point-in-time restore (`lightningstream restore`, README "Point-in-time restore"): builds a NEW LMDB
 * holding the merged state of every instance as of a time (restore-plan.ts), or exactly one snapshot,
 * from the snapshots in the storage. The snapshots go through the engine's own loader and merger, in the
 * mode the config gives the LMDB (native, or shadow with its `_sync_shadow_*` DBIs), so the result has the
 * layout the application and a later `sync` expect. The configured live LMDB is never opened.
 *
 * Deletion markers are kept whatever their age (no sweeper cutoff): they are part of the state restored.
 */
import { hostname } from 'node:os';
import type { Config } from '../config/config.js';
import { headerIsDeleted, type Env } from '../lmdb/index.js';
import type { Logger } from '../log/logger.js';
import { SnapshotFormatError } from '../snapshot/errors.js';
import { DEFAULT_GENERATION, formatTimestamp, parseObjectName } from '../snapshot/name.js';
import { NotFoundError, type Storage } from '../storage/storage.js';
import { SnapshotStore } from '../storage/snapshot-store.js';
import { AsyncMutex } from '../sync/async-mutex.js';
import type { LmdbSyncContext } from '../sync/context.js';
import { loadSnapshot } from '../sync/merge/loader.js';
import { mapGrower } from '../sync/map-growth.js';
import type { SyncMode } from '../sync/mode.js';
import { openConfiguredEnv } from '../sync/open-lmdb.js';
import type { RemoteSnapshot } from '../sync/receive/chain-plan.js';
import { fetchPart } from '../sync/receive/fetch.js';
import { withRetry } from '../sync/retry.js';
import { createSyncMode, storageRetryPolicy } from '../sync/runner.js';
import { errorMessage } from '../util/errors.js';
import { chooseLmdbs } from './lmdb-tools.js';
import { oldestFullSnapshot, planInstanceAt, snapshotsByInstance, type InstancePlan } from './restore-plan.js';
import { discardBuild, moveIntoPlace, prepareRestoreTarget } from './restore-target.js';
import { formatRestoreTime } from './restore-time.js';

export type RestoreSource = { at: bigint } | { snapshot: string };

/** What a progress display is told. */
export interface RestoreProgress {
  planned(snapshots: number, bytes: number): void;
  downloaded(bytes: number): void;
  merged(count: number): void;
}

export interface RestoreRequest {
  config: Config;
  db: string;
  target: string;
  source: RestoreSource;
  storage: Storage;
  log: Logger;
  signal: AbortSignal;
  progress?: RestoreProgress;
}

export interface RestoreResult {
  /** The absolute path of the new LMDB. */
  path: string;
  mode: SyncMode['kind'];
  /** The snapshots merged, in merge order. */
  used: RemoteSnapshot[];
  /** What did not go as planned (a broken chain, an unreadable snapshot, an instance with nothing yet). */
  notes: string[];
  entries: number;
  deletionMarkers: number;
  dbis: number;
  bytes: number;
  ms: number;
}

/** The LMDB to restore: `requested`, else the one of a --snapshot name, else the only one configured. */
export function selectRestoreDb(config: Config, requested: string | undefined, snapshotName?: string): string {
  const fromName = snapshotName === undefined ? undefined : snapshotDb(snapshotName);
  if (requested !== undefined) {
    const [db] = chooseLmdbs(config, [requested]);
    if (fromName !== undefined && fromName !== db) throw new Error(`--snapshot ${snapshotName} is a snapshot of LMDB ${fromName}, not of --db ${db}`);
    return db!;
  }
  if (fromName !== undefined) {
    if (!config.lmdbs[fromName]) {
      throw new Error(`--snapshot ${snapshotName}: no LMDB named ${JSON.stringify(fromName)} in the config; choose one with --db`);
    }
    return fromName;
  }
  const all = chooseLmdbs(config);
  if (all.length > 1) throw new Error(`several LMDBs are configured (${all.join(', ')}): choose one with --db`);
  return all[0]!;
}

function snapshotDb(name: string): string {
  const parsed = parseObjectName(name);
  if (!parsed.ok) throw new Error(`--snapshot ${parsed.error}`);
  return parsed.value.db;
}

/** Builds the new LMDB (see the module comment); throws a one-line reason, leaving nothing at the target. */
export async function restoreLmdb(req: RestoreRequest): Promise<RestoreResult> {
  const started = Date.now();
  const { config, db, storage, log, signal } = req;
  const lc = config.lmdbs[db]!;
  const retry = storageRetryPolicy(config, true);
  const target = await prepareRestoreTarget(req.target, lc.options.noSubdir, config);
  let env: Env | undefined;
  try {
    const store = new SnapshotStore(storage);
    const listed = await withRetry(`list the snapshots of ${db}`, retry, log, signal, () => store.listSnapshots(db, signal));
    const byInstance = snapshotsByInstance(listed);
    const notes: string[] = [];
    const plans = 'at' in req.source ? planAt(db, byInstance, req.source.at, notes) : [planOne(byInstance, req.source.snapshot, notes)];
    env = openConfiguredEnv(db, { ...lc, path: target.buildPath, options: { ...lc.options, create: true } });
    const writeLock = new AsyncMutex();
    const ctx: LmdbSyncContext = {
      dbName: db, env, instance: 'restore', generation: DEFAULT_GENERATION, hostname: hostname(), storage, log, retry, writeLock,
      mode: createSyncMode(db, lc, env, { writeLock, log, tombstoneCutoffNano: () => undefined }),
    };
    const merger = new PlanMerger(ctx, req, mapGrower(db, lc, env, log), notes);
    req.progress?.planned(plans.reduce((n, p) => n + p.parts.length, 0), plans.reduce((n, p) => n + sumSizes(p.parts), 0));
    const { source } = req;
    for (const plan of plans) {
      await merger.mergeInstance(plan, 'at' in source ? { objects: byInstance.get(plan.instance)!, atNs: source.at } : undefined);
    }
    const counts = countEntries(env, ctx.mode);
    env.close();
    env = undefined;
    await moveIntoPlace(target);
    return { path: target.path, mode: ctx.mode.kind, used: merger.used, notes, ...counts, bytes: sumSizes(merger.used), ms: Date.now() - started };
  } catch (err) {
    env?.close();
    await discardBuild(target);
    throw err;
  }
}

function planAt(db: string, byInstance: Map<string, RemoteSnapshot[]>, atNs: bigint, notes: string[]): InstancePlan[] {
  const at = formatRestoreTime(atNs);
  if (byInstance.size === 0) throw new Error(`no snapshots of LMDB ${db} in the storage`);
  const plans: InstancePlan[] = [];
  for (const [instance, objects] of byInstance) {
    const plan = planInstanceAt(instance, objects, atNs);
    if (!plan) {
      notes.push(`instance ${instance} has no full snapshot at or before ${at}: nothing of it is restored`);
      continue;
    }
    if (plan.unreachable) notes.push(brokenChainNote(plan));
    plans.push(plan);
  }
  if (plans.length === 0) {
    const oldest = oldestFullSnapshot(byInstance);
    throw new Error(`no snapshot at or before ${at}` +
      (oldest ? `: the oldest full snapshot in the storage is ${oldest.name} (${formatRestoreTime(oldest.timestampNano)})` : ''));
  }
  return plans;
}

function planOne(byInstance: Map<string, RemoteSnapshot[]>, name: string, notes: string[]): InstancePlan {
  const snap = [...byInstance.values()].flat().find((o) => o.name === name);
  if (!snap) throw new Error(`snapshot ${name}: not found`);
  if (snap.kind === 'delta') notes.push(`${name} is a delta: the LMDB holds only the entries it carries, not a whole state`);
  return { instance: snap.instance, parts: [snap] };
}

function brokenChainNote(plan: InstancePlan): string {
  const reached = plan.parts.at(-1)!;
  return `instance ${plan.instance}: the delta chain breaks after ${formatTimestamp(reached.timestampNano)} ` +
    `(${plan.unreachable!.name} is not reachable from its full snapshot): restored as of ${formatTimestamp(reached.timestampNano)}`;
}

/** Merges the plans into the new LMDB, falling back when a snapshot turns out unreadable or gone. */
class PlanMerger {
  readonly used: RemoteSnapshot[] = [];
  private readonly unusable = new Set<string>();
  private readonly store: SnapshotStore;

  constructor(
    private readonly ctx: LmdbSyncContext, private readonly req: RestoreRequest, private readonly growMap: () => boolean,
    private readonly notes: string[],
  ) {
    this.store = new SnapshotStore(ctx.storage);
  }

  /** With `fallback` (--at), an unusable full snapshot makes way for an older one of the instance; without, it is an error. */
  async mergeInstance(first: InstancePlan, fallback?: { objects: RemoteSnapshot[]; atNs: bigint }): Promise<void> {
    let plan = first;
    for (;;) {
      const failedAt = await this.mergeParts(plan.parts);
      if (failedAt === undefined) return;
      if (!fallback) throw new Error(this.notes.pop());
      if (failedAt > 0) {
        const last = plan.parts[failedAt - 1]!;
        this.notes.push(`instance ${plan.instance}: restored as of ${formatTimestamp(last.timestampNano)}, the delta after it could not be used`);
        return;
      }
      // Nothing of the instance was merged yet: an older full snapshot (and its chain) may stand in.
      const older = planInstanceAt(plan.instance, fallback.objects, fallback.atNs, this.unusable);
      if (!older) {
        this.notes.push(`instance ${first.instance}: no usable full snapshot left: nothing of it is restored`);
        return;
      }
      plan = older;
      this.notes.push(`instance ${plan.instance}: falling back to ${plan.parts[0]!.name}`);
      if (plan.unreachable) this.notes.push(brokenChainNote(plan));
    }
  }

  /** Merges parts in order; returns the index of the first one that could not be used (with a note why), if any. */
  private async mergeParts(parts: RemoteSnapshot[]): Promise<number | undefined> {
    const { ctx, req } = this;
    for (const [i, snap] of parts.entries()) {
      try {
        const part = await fetchPart({ ...ctx, store: this.store }, snap, req.signal, (n) => req.progress?.downloaded(n));
        await loadSnapshot(ctx, snap.name, () => part.open(), req.signal, { onMapFull: this.growMap });
      } catch (err) {
        if (!(err instanceof SnapshotFormatError || err instanceof NotFoundError) || req.signal.aborted) throw err;
        this.unusable.add(snap.name);
        this.notes.push(`${snap.name} ${err instanceof NotFoundError ? 'disappeared from the storage' : `is unreadable: ${errorMessage(err)}`}`);
        return i;
      }
      this.used.push(snap);
      req.progress?.merged(this.used.length);
    }
    return undefined;
  }
}

function countEntries(env: Env, mode: SyncMode): { entries: number; deletionMarkers: number; dbis: number } {
  return env.read((txn) => {
    let entries = 0;
    let deletionMarkers = 0;
    const synced = mode.syncedDbis(txn);
    for (const { headers } of synced) {
      for (const batch of txn.scan(headers)) {
        entries += batch.count;
        for (let i = 0; i < batch.count; i++) if (headerIsDeleted(batch.buf, batch.valOff[i]!)) deletionMarkers++;
      }
    }
    return { entries, deletionMarkers, dbis: synced.length };
  });
}

function sumSizes(snaps: readonly RemoteSnapshot[]): number {
  return snaps.reduce((n, s) => n + s.size, 0);
}
