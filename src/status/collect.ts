/** Counters and gauges whose values are read when Prometheus scrapes, instead of being pushed. */
import { Counter, Gauge, type Registry } from 'prom-client';

export type Labels = Record<string, string>;
export type Sample = [Labels, number];

/**
 * A counter whose samples `read` returns at each scrape (the source's own totals: they must only grow).
 * A failing read yields no sample rather than failing the whole scrape.
 */
export function collectedCounter(registry: Registry, name: string, help: string, labelNames: string[], read: () => Iterable<Sample>): Counter {
  return new Counter({
    name, help, labelNames, registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of safely(read)) this.inc(labels, value);
    },
  });
}

/** A gauge whose samples `read` returns at each scrape. */
export function collectedGauge(registry: Registry, name: string, help: string, labelNames: string[], read: () => Iterable<Sample>): Gauge {
  return new Gauge({
    name, help, labelNames, registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of safely(read)) this.set(labels, value);
    },
  });
}

function safely(read: () => Iterable<Sample>): Sample[] {
  try {
    return [...read()];
  } catch {
    return [];
  }
}
