/**
 * Which snapshots `restore --at TIME` merges: per instance, the state it had stored as of TIME, i.e. its
 * newest full snapshot at or before TIME plus the deltas chained after it up to TIME (by the timestamps in
 * the names). A chain with a missing link ends at the link before it: the state as of that link.
 */
import { chainAfter, deltaSuccessors, newestFull } from '../sync/receive/delta-chain.js';
import { groupByInstance, type RemoteSnapshot } from '../sync/receive/chain-plan.js';

export interface InstancePlan {
  instance: string;
  /** In merge order: a full snapshot, then the deltas chained after it. */
  parts: RemoteSnapshot[];
  /** The newest object at or before the time, when the chain does not reach it (a missing link). */
  unreachable?: RemoteSnapshot;
}

/** The listed snapshots and deltas by instance (instances by name), oldest first. */
export function snapshotsByInstance(objects: readonly RemoteSnapshot[]): Map<string, RemoteSnapshot[]> {
  const byInstance = groupByInstance(objects);
  return new Map([...byInstance].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The plan of one instance (its objects oldest first) as of `atNs`, leaving out `unusable` objects
 * (corrupt or gone); undefined when it has no usable full snapshot at or before that time.
 */
export function planInstanceAt(
  instance: string, objects: readonly RemoteSnapshot[], atNs: bigint, unusable: ReadonlySet<string> = new Set(),
): InstancePlan | undefined {
  const candidates = objects.filter((o) => o.timestampNano <= atNs && !unusable.has(o.name));
  const full = newestFull(candidates);
  if (!full) return undefined;
  const parts = [full, ...chainAfter(deltaSuccessors(candidates), full)];
  const newest = candidates.at(-1)!;
  const reached = parts.at(-1)!;
  return newest.timestampNano > reached.timestampNano ? { instance, parts, unreachable: newest } : { instance, parts };
}

/** The oldest full snapshot of all instances (for the error of a time before any snapshot). */
export function oldestFullSnapshot(byInstance: ReadonlyMap<string, readonly RemoteSnapshot[]>): RemoteSnapshot | undefined {
  let oldest: RemoteSnapshot | undefined;
  for (const list of byInstance.values()) {
    const first = list.find((o) => o.kind !== 'delta');
    if (first && (!oldest || first.timestampNano < oldest.timestampNano)) oldest = first;
  }
  return oldest;
}
