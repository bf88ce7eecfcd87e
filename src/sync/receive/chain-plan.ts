/**
 * Which objects of the storage make up an instance's newest state: its newest full snapshot and the
 * deltas chained after it (README, "Delta snapshots"). Pure functions over typed entries, shared by the
 * receiver (what to download and merge next), `verify` (what to compare against) and `restore`.
 */
import type { SnapshotEntry } from '../../storage/snapshot-store.js';
import { chainAfter, deltaSuccessors, newestFull } from './delta-chain.js';

/** A snapshot object as the engine sees it (see SnapshotEntry: its name is parsed once, at the storage boundary). */
export type RemoteSnapshot = SnapshotEntry;

/** By the timestamp in the name, then by name (two objects of one instance in the same nanosecond). */
export function oldestFirst(a: RemoteSnapshot, b: RemoteSnapshot): number {
  if (a.timestampNano !== b.timestampNano) return a.timestampNano < b.timestampNano ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Entries per instance, oldest first. */
export function groupByInstance(entries: Iterable<RemoteSnapshot>): Map<string, RemoteSnapshot[]> {
  const byInstance = new Map<string, RemoteSnapshot[]>();
  for (const snap of entries) {
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
export function planChain(objects: readonly RemoteSnapshot[], merged?: RemoteSnapshot): RemoteSnapshot[] {
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
