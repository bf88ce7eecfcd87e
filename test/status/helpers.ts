// Shared by the status tests: HTTP helpers, the status-server config lines, and finding the port a
// `lightningstream` process bound (http.address 127.0.0.1:0 lets the kernel pick a free one).
import { waitFor, type RunningProcess } from '../sync/helpers.js';
import { parsePrometheusText, sampleValue, type PromFamily } from './prom.js';

export async function get(url: string, init?: RequestInit): Promise<{ code: number; text: string; headers: Headers }> {
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  return { code: r.status, text: await r.text(), headers: r.headers };
}

/** The fields of /status.json the tests read (src/status/view.ts has the whole of it). */
export interface StatusJson {
  instance: string;
  ready: boolean;
  health: string;
  storageInstrumented: boolean;
  lmdbs: Array<{
    name: string;
    instances: Array<{ instance: string; own: boolean; state: string }>;
    lastStored: { txnId: number; entries: number };
    env: { lastTxnId: number };
    lag: { series: Array<{ instance: string }> };
    counters: { stored: number };
  }>;
}

/** The /healthz answer (src/status/health.ts). */
export interface HealthzJson {
  ok: boolean;
  status: string;
  metadata: Record<string, unknown>;
  failures: Record<string, string>;
  warnings: Record<string, string>;
  checks: Array<{ name: string; status: string; since?: string; lastError?: string; consecutiveFailures?: number }>;
}

/** The /readyz answer. */
export interface ReadyzJson {
  ready: boolean;
  lmdbs: Record<string, boolean>;
}

/** The fields of /storage?format=json the tests read (StorageListing in src/status/view.ts). */
export interface StorageJson {
  total: number;
  truncated: boolean;
  objects: Array<{ name: string; snapshot: { db: string; instance: string } }>;
}

interface JsonAnswers {
  '/status.json': StatusJson;
  '/healthz': HealthzJson;
  '/readyz': ReadyzJson;
  '/storage?format=json': StorageJson;
}

/** GET base + path + more (e.g. `&limit=2`), the JSON answer typed by path, for assertions. */
export async function getJson<P extends keyof JsonAnswers>(base: string, path: P, more = ''): Promise<{ code: number; body: JsonAnswers[P] }> {
  const r = await get(`${base}${path}${more}`);
  return { code: r.code, body: JSON.parse(r.text) as JsonAnswers[P] };
}

export async function scrape(base: string): Promise<{ families: Map<string, PromFamily>; value(name: string, labels?: Record<string, string>): number | undefined }> {
  const r = await get(`${base}/metrics`);
  if (r.code !== 200) throw new Error(`/metrics answered ${r.code}`);
  const families = parsePrometheusText(r.text);
  return { families, value: (name, labels = {}) => sampleValue(families, name, labels) };
}

/** Config lines: the status server (by default on a free loopback port), storage health trackers with short durations. */
export function statusConfigLines(health = '{ interval: 200ms, warn_duration: 1s, error_duration: 2s }', address = '127.0.0.1:0'): string {
  return [
    `http: { address: "${address}" }`,
    'health:',
    `  storage_list: ${health}`,
    `  storage_load: ${health}`,
    `  storage_store: ${health}`,
  ].join('\n');
}

/** The base URL of a process's status server, from its log line (logfmt). */
export async function statusBase(p: RunningProcess, timeoutMs = 30_000): Promise<string> {
  let base = '';
  await waitFor('the HTTP status server to listen', timeoutMs, () => {
    if (p.child.exitCode !== null) throw new Error(`lightningstream exited with ${p.child.exitCode}:\n${p.log()}`);
    const m = /msg="HTTP status server listening" address="?(127\.0\.0\.1:\d+)/.exec(p.log());
    if (m) base = `http://${m[1]}`;
    return base !== '';
  }, () => p.log());
  return base;
}
