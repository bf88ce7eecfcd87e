/**
 * The process-wide metrics registry of the components that run beside the syncers (the cleaner,
 * the sweeper, ...), served on `/metrics` together with the syncers' own metrics. It is a private
 * prom-client Registry, never prom-client's global one, so nothing else loaded in the process can
 * leak metrics into our output.
 *
 * How a component registers its metrics (get-or-create: calling it again with the same name returns
 * the metric already registered, so a component created twice in one process, as tests do, is fine):
 *
 *   import { metrics } from '../status/registry.js';
 *   const deleted = metrics.counter({
 *     name: 'lightningstream_cleaner_delete_total', help: 'Number of cleaner delete calls',
 *     labelNames: ['lmdb', 'reason'] as const,
 *   });
 *   deleted.inc({ lmdb: 'main', reason: 'old-snapshot' });
 *
 * Names must start with `lightningstream_`; reuse the Go implementation's names where one exists
 * (cleaner: lightningstream_cleaner_list_calls_total, lightningstream_cleaner_list_failed_total,
 * lightningstream_cleaner_delete_total{lmdb,reason}, lightningstream_cleaner_delete_failed_total;
 * sweeper: lightningstream_sweeper_cleaned_total{lmdb}, lightningstream_sweeper_stats_available{lmdb},
 * lightningstream_sweeper_stats_total_entries{lmdb}, lightningstream_sweeper_stats_deleted_entries{lmdb},
 * lightningstream_sweeper_duration_seconds{lmdb} (a summary)) so existing dashboards keep working.
 * LMDB labels are called `lmdb`, remote instance labels `syncer_instance` (as in Go: `instance` is
 * the label Prometheus itself gives every scraped target).
 */
import {
  collectDefaultMetrics, Counter, Gauge, Histogram, Registry, Summary,
  type CounterConfiguration, type GaugeConfiguration, type HistogramConfiguration, type SummaryConfiguration,
} from 'prom-client';

export const METRIC_PREFIX = 'lightningstream_';

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string> | Summary<string>;

function getOrCreate<M extends AnyMetric>(
  registry: Registry, name: string, kind: new (...args: never[]) => M, create: () => M,
): M {
  if (!name.startsWith(METRIC_PREFIX)) throw new Error(`metric ${name}: names must start with ${METRIC_PREFIX}`);
  const existing = registry.getSingleMetric(name);
  if (existing === undefined) return create();
  if (!(existing instanceof kind)) throw new Error(`metric ${name} is already registered with another type`);
  return existing;
}

let processMetricsRegistered = false;

export const metrics = {
  /** Served on /metrics by the HTTP status server (with the syncer metrics and the default process metrics). */
  registry: new Registry(),

  counter<T extends string>(cfg: Omit<CounterConfiguration<T>, 'registers'>): Counter<T> {
    return getOrCreate(this.registry, cfg.name, Counter<T>, () => new Counter({ ...cfg, registers: [this.registry] }));
  },
  gauge<T extends string>(cfg: Omit<GaugeConfiguration<T>, 'registers'>): Gauge<T> {
    return getOrCreate(this.registry, cfg.name, Gauge<T>, () => new Gauge({ ...cfg, registers: [this.registry] }));
  },
  histogram<T extends string>(cfg: Omit<HistogramConfiguration<T>, 'registers'>): Histogram<T> {
    return getOrCreate(this.registry, cfg.name, Histogram<T>, () => new Histogram({ ...cfg, registers: [this.registry] }));
  },
  summary<T extends string>(cfg: Omit<SummaryConfiguration<T>, 'registers'>): Summary<T> {
    return getOrCreate(this.registry, cfg.name, Summary<T>, () => new Summary({ ...cfg, registers: [this.registry] }));
  },

  /**
   * Adds prom-client's default Node.js process metrics (process_*, nodejs_*: standard names, no
   * prefix, so stock dashboards work) to the registry, once per process.
   */
  registerProcessMetrics(): void {
    if (processMetricsRegistered) return;
    collectDefaultMetrics({ register: this.registry });
    processMetricsRegistered = true;
  },
};
