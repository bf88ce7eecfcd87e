/**
 * Go's per-backend API call metrics (PowerDNS simpleblob: storage_s3_call_* and storage_azure_call_*,
 * label `method`, plus `error` on the by-type counter), fed by the remote stores' call reports
 * (src/storage/remote/call-observer.ts). A backend's families appear with its first call, as in Go
 * (a vector without children is not exposed). Unprefixed names on purpose: they are Go's.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { observeRemoteCalls, type RemoteCall } from '../storage/remote/call-observer.js';

/** Go's buckets for storage_s3_call_duration_seconds (read from a scrape of Go v1.0.0). */
export const CALL_DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60];

/** How Go's help texts name each backend. */
const API_NAMES: Record<string, string> = { s3: 'S3', azure: 'Azure' };

interface BackendMetrics {
  calls: Counter<'method'>;
  duration: Histogram<'method'>;
  timestamp: Gauge<'method'>;
  errors: Counter<'method'>;
  errorsByType: Counter<'method' | 'error'>;
}

function create(registry: Registry, backend: string): BackendMetrics {
  const api = API_NAMES[backend] ?? backend;
  const name = (suffix: string) => `storage_${backend}_call_${suffix}`;
  const registers = [registry];
  return {
    calls: new Counter({ name: name('total'), help: `${api} API calls by method`, labelNames: ['method'], registers }),
    duration: new Histogram({
      name: name('duration_seconds'), help: `${api} API call duration by method`, labelNames: ['method'], buckets: CALL_DURATION_BUCKETS, registers,
    }),
    timestamp: new Gauge({ name: name('timestamp_seconds'), help: `UNIX timestamp of last ${api} API call by method`, labelNames: ['method'], registers }),
    errors: new Counter({ name: name('error_total'), help: `${api} API call errors by method`, labelNames: ['method'], registers }),
    errorsByType: new Counter({
      name: name('error_by_type_total'), help: `${api} API call errors by method and error type`, labelNames: ['method', 'error'], registers,
    }),
  };
}

const attached = new WeakSet<Registry>();

/** Counts every later remote call on `registry` (once per registry; call it before the storage is opened). */
export function registerRemoteCallMetrics(registry: Registry): void {
  if (attached.has(registry)) return;
  attached.add(registry);
  const byBackend = new Map<string, BackendMetrics>();
  observeRemoteCalls((call: RemoteCall) => {
    let m = byBackend.get(call.backend);
    if (!m) byBackend.set(call.backend, (m = create(registry, call.backend)));
    const labels = { method: call.method };
    m.calls.inc(labels);
    m.timestamp.set(labels, call.startedAt / 1000);
    m.duration.observe(labels, call.seconds);
    if (call.error !== undefined) {
      m.errors.inc(labels);
      m.errorsByType.inc({ method: call.method, error: call.error });
    }
  });
}
