import type { LmdbError } from '../../lmdb/index.js';
import type { ContentHash } from '../../snapshot/content-hash.js';
import type { LmdbSyncContext } from '../context.js';
import type { LoadErrorPolicy } from './load-errors.js';
import { loadSnapshot, type LoadOptions, type LoadResult } from './loader.js';
import type { SyncProgress } from '../progress.js';
import type { MergeOutcome, ReadyUpdate, UpdatePart } from '../receive/receiver.js';
import type { Semaphore } from '../semaphore.js';
import type { StartupGate } from '../startup-gate.js';
import type { SyncStatus } from '../status.js';
import type { ReturnGuard } from '../guard/return-guard.js';

export interface UpdateMergeDeps {
  ctx: LmdbSyncContext;
  gate: StartupGate;
  progress: SyncProgress;
  status: SyncStatus;
  loadErrors: LoadErrorPolicy;
  /** Shared by every LMDB of the process: at most memory_decompressed_snapshots decoded at once. */
  decompressions: Semaphore;
  /** Hash full snapshots as they are merged (checked against the hash they carry). */
  hashing: boolean;
  /** MDB_MAP_FULL in a merge: true when the map was grown (the merge is retried at once). */
  onMapFull: (err: LmdbError) => boolean;
  /** The LMDB's hash is known without a scan (a merge left it identical to a snapshot). */
  knownHash: (hash: ContentHash, txnId: number) => void;
  /** An armed return guard collects the keys its peers' merged parts hold. */
  guard?: ReturnGuard;
}

/** The merge of an update: for the receiver (settle), and for the start-up gate whether the instance is done. */
export interface UpdateMergeResult {
  outcome: MergeOutcome;
  /** For the start-up gate: merged (done), given up (done, nothing merged), or to be retried (not done). */
  startup: 'loaded' | 'skipped' | 'retry';
  /** --only-once: the error that ends the run. */
  fatal?: Error;
}

/**
 * Merges an update part by part, each in its own write txn (loadSnapshot). A part that fails ends the update:
 * what was merged before it stays, and the outcome tells the receiver why the rest was not (see MergeOutcome).
 */
export async function mergeUpdate(deps: UpdateMergeDeps, update: ReadyUpdate, signal: AbortSignal): Promise<UpdateMergeResult> {
  let merged = 0;
  for (const part of update.parts) {
    const first = merged === 0;
    const role = deps.gate.roleOf(part.snapshot.instance, first, part.snapshot.kind);
    const peerKeys = deps.guard?.peerKeys(update.snapshot);
    let result: LoadResult;
    try {
      result = await mergePart(deps, part, role.coverage, signal, peerKeys?.add);
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      const snap = part.snapshot;
      const { failure, fatal } = deps.loadErrors.classify(err, snap);
      if (failure.kind !== 'gone') deps.status.loadFailed(snap, err);
      let startup: UpdateMergeResult['startup'] = 'retry';
      if (failure.kind === 'corrupt') {
        if (role.ownStartup) deps.gate.ownCorrupt();
        // Our own snapshot: the receiver falls back to the previous one, if any, before peers are merged.
        if (!(role.ownStartup && first)) startup = merged > 0 ? 'loaded' : 'skipped';
      }
      return { outcome: { merged, failure }, startup, ...(fatal && { fatal }) };
    }
    deps.loadErrors.succeeded(part.snapshot.instance);
    deps.gate.merged(role, result.baseTxnId, result.txnId);
    recordMerged(deps, part, result);
    merged++;
    peerKeys?.merged();
  }
  return { outcome: { merged }, startup: 'loaded' };
}

async function mergePart(
  deps: UpdateMergeDeps, part: UpdatePart, coverage: ReturnType<StartupGate['roleOf']>['coverage'], signal: AbortSignal,
  onRemoteBatch?: LoadOptions['onRemoteBatch'],
): Promise<LoadResult> {
  const snap = part.snapshot;
  const release = await deps.decompressions.acquire(signal);
  try {
    return await loadSnapshot(deps.ctx, snap.name, () => part.open(), signal, {
      coverage, onMapFull: deps.onMapFull, hashContent: snap.kind !== 'delta' && deps.hashing, ...(onRemoteBatch && { onRemoteBatch }),
    });
  } finally {
    release();
  }
}

function recordMerged(deps: UpdateMergeDeps, part: UpdatePart, result: LoadResult): void {
  const { ctx, status } = deps;
  const snap = part.snapshot;
  const pendingLocal = deps.progress.merged(result.baseTxnId, result.txnId);
  if (result.contentHash) {
    status.content.snapshotHash(snap.instance, snap.name, result.contentHash, snap.timestampNano);
    // Identical: the LMDB now holds exactly that snapshot's content, so it has its hash.
    if (result.identical && !pendingLocal) deps.knownHash(result.contentHash, result.txnId);
  }
  status.loaded(snap, result);
  ctx.log.info('snapshot loaded', {
    snapshot: snap.name, snapshot_instance: snap.instance, entries: result.remoteEntries,
    changed: result.changed, bytes: snap.size, ms: result.ms, plan_ms: result.planMs, lock_ms: result.lockMs, commit_ms: result.commitMs,
  });
}
