/** Timestamps for application writes and delay statistics, shared by the demo and bench/latency. */

/**
 * Wall-clock nanoseconds since the UNIX epoch with sub-millisecond resolution, strictly increasing
 * within this process (two writes never get the same timestamp here).
 */
export class WriteClock {
  private readonly base = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  private last = 0n;

  next(): bigint {
    let ts = this.base + process.hrtime.bigint();
    if (ts <= this.last) ts = this.last + 1n;
    this.last = ts;
    return ts;
  }
}

export interface Summary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  max: number;
}

/** Nearest-rank percentile of ascending values (p in 0..100). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    min: sorted[0] ?? NaN,
    mean: sorted.length ? sum / sorted.length : NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    max: sorted[sorted.length - 1] ?? NaN,
  };
}

/** The Go implementation's change-to-visible latency on this machine kind (reference-figures.md). */
export const GO_LATENCY_MS = { p50: 1460, p90: 1770, max: 1940 } as const;
/** Our target for the median. */
export const TARGET_P50_MS = 1200;
