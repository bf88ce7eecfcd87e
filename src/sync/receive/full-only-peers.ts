/**
 * Peers that take only full snapshots (README "Delta snapshots", "Mixed fleets"): Go instances of any version,
 * and ours with deltas off or of a version before the journal. The journal tells them apart: every instance that
 * writes deltas announces each full snapshot there, so a peer whose newest full snapshot has no reference does
 * not read deltas. While one is present, this instance writes full snapshots at the normal pace beside its deltas.
 *
 * A live instance stores at least every storage_force_snapshot_interval (4 h by default, on Go as here), so a peer
 * counts as present while its newest full snapshot is younger than `timeoutMs`: by default 1.5 times that
 * interval (6 h), or 6 h when forced snapshots are off. A Go instance that left the fleet stops counting then.
 */

/** The default presence timeout, from storage_force_snapshot_interval (ms; 0 = off). */
export function defaultFullOnlyPeerTimeoutMs(forceSnapshotMs: number): number {
  return forceSnapshotMs > 0 ? Math.round(1.5 * forceSnapshotMs) : 6 * 3600_000;
}

/** The present peers among those without journal references (instance -> newest full snapshot's timestamp), by name. */
export function presentFullOnlyPeers(withoutJournal: ReadonlyMap<string, bigint>, nowNano: bigint, timeoutMs: number): string[] {
  const cutoff = nowNano - BigInt(Math.round(timeoutMs)) * 1_000_000n;
  return [...withoutJournal].filter(([, newest]) => newest > cutoff).map(([instance]) => instance).sort();
}
