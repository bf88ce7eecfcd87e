/**
 * The cleaner's and the sweeper's metrics (src/ops keeps plain process-wide numbers for them), under
 * the Go implementation's names (syncer/cleaner/metrics.go, syncer/sweeper/metrics.go), on the
 * process-wide registry. Registered once per process, when the first status server starts; a name
 * that a component already registered itself is left to it.
 */
import { Summary, type Registry } from 'prom-client';
import { cleanerMetrics } from '../ops/cleaner.js';
import { sweeperMetrics, type SweeperDbMetrics } from '../ops/sweeper.js';
import { collectedCounter, collectedGauge, type Sample } from './collect.js';

const registered = new WeakSet<Registry>();

export function registerOpsMetrics(registry: Registry): void {
  if (registered.has(registry)) return;
  registered.add(registry);
  const free = (name: string) => registry.getSingleMetric(name) === undefined;
  const counter = (name: string, help: string, labels: string[], read: () => Sample[]) => {
    if (free(name)) collectedCounter(registry, name, help, labels, read);
  };
  const gauge = (name: string, help: string, read: (m: SweeperDbMetrics) => number) => {
    if (free(name)) collectedGauge(registry, name, help, ['lmdb'], () => [...sweeperMetrics.byDb].map(([lmdb, m]) => [{ lmdb }, read(m)]));
  };

  const c = cleanerMetrics;
  counter('lightningstream_cleaner_list_calls_total', 'Number of cleaner list calls', [], () => [[{}, c.listCalls]]);
  counter('lightningstream_cleaner_list_failed_total', 'Number of cleaner failed list attempts', [], () => [[{}, c.listFailed]]);
  counter('lightningstream_cleaner_delete_total', 'Number of cleaner delete calls', ['lmdb', 'reason'], () =>
    [...c.byDb].flatMap(([lmdb, d]) => Object.entries(d.deleteCalls).map(([reason, n]): Sample => [{ lmdb, reason }, n])));
  counter('lightningstream_cleaner_delete_failed_total', 'Number of failed cleaner delete calls', [], () => [[{}, c.deleteFailed]]);

  counter('lightningstream_sweeper_cleaned_total', 'Number of stale deletion markers cleaned by the sweeper', ['lmdb'], () =>
    [...sweeperMetrics.byDb].map(([lmdb, m]) => [{ lmdb }, m.cleanedTotal]));
  counter('lightningstream_sweeper_failed_total', 'Number of sweeps that failed (ours: Go only logs them)', ['lmdb'], () =>
    [...sweeperMetrics.failedByDb].map(([lmdb, n]) => [{ lmdb }, n]));
  gauge('lightningstream_sweeper_stats_available', 'Set to 1 when the stats are available after a sweep run', (m) => m.statsAvailable);
  gauge('lightningstream_sweeper_stats_total_entries', 'Total entries after last sweeper run, including deleted', (m) => m.totalEntries);
  gauge('lightningstream_sweeper_stats_deleted_entries', 'Deleted entries after last sweeper run', (m) => m.deletedEntries);
  if (free('lightningstream_sweeper_duration_seconds')) {
    const duration = new Summary({
      name: 'lightningstream_sweeper_duration_seconds', help: 'Summary of time taken by sweeper', labelNames: ['lmdb'], registers: [registry],
    });
    sweeperMetrics.onSweep((lmdb, stats) => duration.observe({ lmdb }, stats.ms / 1000));
  }
}
