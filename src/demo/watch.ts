/**
 * Watches the instances' LMDBs from the demo process (short read txns every ~20 ms) and reports
 * each change as it arrives on an instance other than the one that wrote it, with the delay since
 * the commit. Also checks the merge rule as it goes: a value nobody wrote, a key going back to an
 * older write, or a key vanishing (native apps delete with markers) are reported as anomalies.
 */
import type { Cluster } from './cluster.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Contents, Item } from './store.js';

/** One key written by the demo (value null = deletion marker). */
export interface Write {
  origin: string;
  key: string;
  value: string | null;
  timestamp: bigint;
  /** performance.now() right after the commit */
  at: number;
}

export interface Arrival {
  instance: string;
  write: Write;
  delayMs: number;
}

export interface WatchHooks {
  onArrival(a: Arrival): void;
  onAnomaly(message: string): void;
}

export const POLL_MS = 20;

export class DemoWatcher {
  readonly writes: Write[] = [];
  commits = 0;
  readonly arrivals: Arrival[] = [];
  readonly anomalies: string[] = [];
  private readonly byTimestamp = new Map<bigint, Write>();
  /** The newest write of every key: what every instance must end up with. */
  private readonly model = new Map<string, Write>();
  private readonly seen = new Map<string, Contents>();

  constructor(private readonly cluster: Cluster, private readonly hooks: WatchHooks) {}

  /** Registers a committed write (timestamps are unique). */
  expect(w: Write): void {
    this.writes.push(w);
    this.byTimestamp.set(w.timestamp, w);
    const cur = this.model.get(w.key);
    if (!cur || w.timestamp > cur.timestamp) this.model.set(w.key, w);
  }

  /** The write every instance must end up with for this key. */
  expected(key: string): Write | undefined {
    return this.model.get(key);
  }

  /** Reads every LMDB once and reports what changed since the last poll. */
  poll(): void {
    const now = performance.now();
    for (const inst of this.cluster.instances) {
      const cur = inst.db.contents();
      const prev = this.seen.get(inst.name) ?? new Map<string, Item>();
      for (const [key, item] of cur) {
        const before = prev.get(key);
        if (!before || !sameItem(before, item)) this.changed(inst.name, key, item, before, now);
      }
      for (const key of prev.keys()) {
        if (!cur.has(key)) this.anomaly(`${inst.name}: key ${key} disappeared (deletions must travel as markers)`);
      }
      this.seen.set(inst.name, cur);
    }
  }

  private changed(instance: string, key: string, item: Item, before: Item | undefined, now: number): void {
    const w = this.byTimestamp.get(item.timestamp);
    if (!w || w.key !== key || (w.value === null) !== item.deleted || (w.value !== null && w.value !== item.value)) {
      this.anomaly(`${instance}: ${key} holds ${describeItem(item)}, which nobody wrote`);
      return;
    }
    if (before && item.timestamp < before.timestamp) {
      this.anomaly(`${instance}: ${key} went back from the write of ${formatTime(before.timestamp)} to the older one of ${formatTime(item.timestamp)} (${w.origin}'s): the newest must win`);
    }
    if (w.origin === instance) return; // the demo's own commit, printed when written
    const a: Arrival = { instance, write: w, delayMs: now - w.at };
    this.arrivals.push(a);
    this.hooks.onArrival(a);
  }

  private anomaly(message: string): void {
    this.anomalies.push(message);
    this.hooks.onAnomaly(message);
  }

  /** What each instance still lacks compared with the newest writes (as of the last poll). */
  lagging(): string[] {
    const out: string[] = [];
    for (const inst of this.cluster.instances) {
      const cur = this.seen.get(inst.name) ?? new Map<string, Item>();
      for (const [key, w] of this.model) {
        const have = cur.get(key);
        if (!have || have.timestamp !== w.timestamp) {
          out.push(`${inst.name} lacks ${w.origin}'s ${w.value === null ? `deletion of ${key}` : `${key} = ${JSON.stringify(w.value)}`}` +
            ` (has ${have ? describeItem(have) : 'nothing'})`);
        }
      }
      for (const key of cur.keys()) if (!this.model.has(key)) out.push(`${inst.name} has an unexpected key ${key}`);
    }
    return out;
  }

  /** Polls until every instance holds the newest write of every key. */
  async waitConverged(deadline: number, label: string, signal?: AbortSignal): Promise<void> {
    await this.pollUntil(deadline, signal, () => {
      const lag = this.lagging();
      return lag.length === 0 ? undefined : `timed out waiting for ${label} to reach every instance:${summarizeList(lag)}`;
    });
  }

  /**
   * Polls until the whole LMDBs (every application DBI: keys, values, timestamps, deletion
   * markers) are identical on all instances and match the newest writes; returns the final data.
   */
  async waitIdentical(deadline: number, signal?: AbortSignal): Promise<Map<string, Write>> {
    const instances = this.cluster.instances;
    await this.pollUntil(deadline, signal, () => {
      const prints = instances.map((i) => i.db.fingerprint());
      const differ = instances.filter((_, n) => prints[n] !== prints[0]).map((i) => i.name);
      const why = differ.length > 0 ? [`${differ.join(', ')} differ${differ.length === 1 ? 's' : ''} from ${instances[0]!.name}`] : [];
      const problems = [...why, ...this.lagging()];
      return problems.length === 0 ? undefined : `timed out waiting for identical data:${summarizeList(problems)}`;
    });
    return new Map(this.model);
  }

  /** Polls every POLL_MS until problem() returns undefined; throws its last answer at the deadline. */
  private async pollUntil(deadline: number, signal: AbortSignal | undefined, problem: () => string | undefined): Promise<void> {
    for (;;) {
      this.poll();
      this.cluster.checkAlive();
      const p = problem();
      if (p === undefined) return;
      if (performance.now() > deadline) throw new Error(p);
      await sleep(POLL_MS, undefined, { signal });
    }
  }
}

function sameItem(a: Item, b: Item): boolean {
  return a.timestamp === b.timestamp && a.deleted === b.deleted && a.value === b.value;
}

function describeItem(item: Item): string {
  return `${item.deleted ? 'a deletion marker' : JSON.stringify(item.value)} of ${formatTime(item.timestamp)}`;
}

/** One item a line (at most max), to follow a message ending in a colon. */
function summarizeList(items: string[], max = 8): string {
  const shown = items.slice(0, max).map((i) => `\n  - ${i}`).join('');
  return items.length <= max ? shown : `${shown}\n  - and ${items.length - max} more`;
}

/** Local wall-clock time of a nanosecond timestamp, to the microsecond: 10:08:24.512381. */
export function formatTime(ns: bigint): string {
  const d = new Date(Number(ns / 1_000_000n));
  const p = (n: number): string => String(n).padStart(2, '0');
  const micros = String((ns % 1_000_000_000n) / 1000n).padStart(6, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${micros}`;
}
