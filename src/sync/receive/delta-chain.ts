/**
 * Delta chains (README "Delta snapshots"): each delta names, by timestamp, the snapshot of its instance it
 * follows. Shared by the receiver (what brings an instance up to date) and restore (a state as of a time).
 */

export interface ChainLink {
  timestampNano: bigint;
  /** A full snapshot, or a delta following the snapshot whose timestamp is previousNano. Default: full. */
  kind?: 'full' | 'delta';
  previousNano?: bigint;
}

/** The delta following each timestamp; of two deltas after the same object (two writers sharing a name), the newer. */
export function deltaSuccessors<T extends ChainLink>(objects: Iterable<T>): Map<bigint, T> {
  const next = new Map<bigint, T>();
  for (const o of objects) {
    if (o.kind !== 'delta') continue;
    const other = next.get(o.previousNano!);
    if (!other || other.timestampNano < o.timestampNano) next.set(o.previousNano!, o);
  }
  return next;
}

/** The deltas chained after `start`, in merge order. */
export function chainAfter<T extends ChainLink>(next: ReadonlyMap<bigint, T>, start: ChainLink): T[] {
  const out: T[] = [];
  for (let cur = next.get(start.timestampNano); cur; cur = next.get(cur.timestampNano)) out.push(cur);
  return out;
}

/** The newest full snapshot of a list sorted oldest first. */
export function newestFull<T extends ChainLink>(objects: readonly T[]): T | undefined {
  for (let i = objects.length - 1; i >= 0; i--) if (objects[i]!.kind !== 'delta') return objects[i];
  return undefined;
}
