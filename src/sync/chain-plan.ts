/**
 * Which objects of the storage make up an instance's newest state: its newest full snapshot and the
 * deltas chained after it (README, "Delta snapshots"). Pure functions over a listing, shared by the
 * receiver (what to download and merge next) and `verify` (what to compare against).
 */
import { parseObjectName, type ObjectName } from '../snapshot/name.js';
import type { ObjectInfo } from '../storage/storage.js';
import { chainAfter, deltaSuccessors, newestFull } from './delta-chain.js';

export interface RemoteSnapshot {
  name: string;
  instance: string;
  /** The name's timestamp as nanoseconds since the epoch. */
  timestampNano: bigint;
  size: number;
  lastModified: Date;
  /** A full snapshot, or a delta following the snapshot whose timestamp is previousNano. Default: full. */
  kind?: 'full' | 'delta';
  previousNano?: bigint;
}

export function remoteSnapshotOf(obj: ObjectInfo, v: ObjectName): RemoteSnapshot {
  return {
    name: obj.name, instance: v.instance, timestampNano: v.timestamp, size: obj.size, lastModified: obj.lastModified,
    kind: v.kind, previousNano: v.kind === 'delta' ? v.previous : undefined,
  };
}

/** By the timestamp in the name, then by name (two objects of one instance in the same nanosecond). */
export function oldestFirst(a: RemoteSnapshot, b: RemoteSnapshot): number {
  if (a.timestampNano !== b.timestampNano) return a.timestampNano < b.timestampNano ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * The valid objects (full snapshots and deltas) of LMDB `db` per instance, oldest first. Objects whose
 * name does not parse go to onInvalid with the reason.
 */
export function groupByInstance(
  objects: readonly ObjectInfo[], db: string, onInvalid: (obj: ObjectInfo, error: string) => void = () => undefined,
): Map<string, RemoteSnapshot[]> {
  const byInstance = new Map<string, RemoteSnapshot[]>();
  for (const obj of objects) {
    const parsed = parseObjectName(obj.name);
    if (!parsed.ok) {
      onInvalid(obj, parsed.error);
      continue;
    }
    if (parsed.value.db !== db) continue;
    const snap = remoteSnapshotOf(obj, parsed.value);
    let list = byInstance.get(snap.instance);
    if (!list) byInstance.set(snap.instance, (list = []));
    list.push(snap);
  }
  for (const list of byInstance.values()) list.sort(oldestFirst);
  return byInstance;
}

/**
 * The objects of one instance (oldest first) that bring a receiver up to date, in merge order: the
 * deltas chained after `merged` (the object it merged last), or the newest full snapshot and the deltas
 * chained after it, whichever reaches further (the shorter on a tie); nothing when neither goes past
 * `merged`. Without `merged`: the newest full snapshot and its chain, the instance's newest state.
 */
export function planChain(objects: RemoteSnapshot[], merged?: RemoteSnapshot): RemoteSnapshot[] {
  const next = deltaSuccessors(objects);
  const full = newestFull(objects);
  let best: RemoteSnapshot[] = [];
  let bestEnd = merged?.timestampNano ?? -1n;
  if (merged) {
    const deltas = chainAfter(next, merged);
    const end = deltas.at(-1);
    if (end && end.timestampNano > bestEnd) [best, bestEnd] = [deltas, end.timestampNano];
  }
  if (full) {
    const fromFull = [full, ...chainAfter(next, full)];
    if (fromFull.at(-1)!.timestampNano > bestEnd) best = fromFull;
  }
  return best;
}
