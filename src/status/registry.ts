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
 *   const rounds = metrics.counter({
 *     name: 'lightningstream_sweeper_rounds_total', help: 'Write transactions used by the sweeper',
 *     labelNames: ['lmdb'] as const,
 *   });
 *   rounds.inc({ lmdb: 'main' }, stats.rounds);
 *
 * Names must start with `lightningstream_`; reuse the Go implementation's name where one exists so
 * existing dashboards keep working. LMDB labels are called `lmdb`, remote instance labels
 * `syncer_instance` (as in Go: `instance` is the label Prometheus itself gives every scraped target).
 *
 * The Go-named cleaner and sweeper metrics (lightningstream_cleaner_*, lightningstream_sweeper_*) are
 * already registered here by ./ops-metrics.ts from the plain counters src/ops keeps (cleanerMetrics,
 * sweeperMetrics): register only new names.
 */
import {
  collectDefaultMetrics, Counter, Gauge, Histogram, Registry, Summary,
  type CounterConfiguration, type GaugeConfiguration, type HistogramConfiguration, type SummaryConfiguration,
} from 'prom-client';

export const METRIC_PREFIX = 'lightningstream_';

type AnyMetric = Counter | Gauge | Histogram | Summary;

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
