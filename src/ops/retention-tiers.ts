/**
 * Retention tiers (`storage.cleanup.keep_hourly`, `keep_daily`; README "Point-in-time restore"): so that
 * `restore --at` has older states to go back to, the cleaner keeps, per instance, the newest FULL
 * snapshot of every UTC clock hour whose snapshots are younger than `keep_hourly`, and the newest of
 * every UTC day younger than `keep_daily`. Age is judged by the timestamp in the name, like the stale
 * instance rule. Deltas are never tier-kept: a restore between two tier snapshots gets the older one.
 */

export interface RetentionTiers {
  /** Milliseconds; 0 = off. */
  keepHourly: number;
  keepDaily: number;
}

export interface TierCandidate {
  name: string;
  /** The name's timestamp, ns since the epoch. */
  timestamp: bigint;
}

const NS_PER_MS = 1_000_000n;
const HOUR_NS = 3_600n * 1_000_000_000n;
const DAY_NS = 24n * HOUR_NS;

export function tiersEnabled(tiers: RetentionTiers): boolean {
  return tiers.keepHourly > 0 || tiers.keepDaily > 0;
}

/** The names among one instance's full snapshots that a tier keeps at `nowMs`. */
export function tierKeptNames(fulls: readonly TierCandidate[], nowMs: number, tiers: RetentionTiers): Set<string> {
  const kept = new Set<string>();
  const nowNs = BigInt(Math.round(nowMs)) * NS_PER_MS;
  const tierPeriods: Array<[windowMs: number, periodNs: bigint]> = [[tiers.keepHourly, HOUR_NS], [tiers.keepDaily, DAY_NS]];
  for (const [windowMs, periodNs] of tierPeriods) {
    if (windowMs <= 0) continue;
    const oldestNs = nowNs - BigInt(Math.round(windowMs)) * NS_PER_MS;
    const newestOfPeriod = new Map<bigint, TierCandidate>();
    for (const c of fulls) {
      if (c.timestamp < oldestNs) continue;
      const period = c.timestamp / periodNs;
      const current = newestOfPeriod.get(period);
      if (!current || c.timestamp > current.timestamp || (c.timestamp === current.timestamp && c.name > current.name)) {
        newestOfPeriod.set(period, c);
      }
    }
    for (const c of newestOfPeriod.values()) kept.add(c.name);
  }
  return kept;
}
