/**
 * The HTTP status server of `sync`/`receive`, on `http.address`:
 *
 *   /              status page (auto-refreshing; reads /status.json every 2 s)
 *   /status.json   what the page shows, as JSON
 *   /storage       the bucket listing (?prefix=, ?limit= (default 1000), ?format=json)
 *   /metrics       Prometheus text format: syncer, storage, LMDB and Node.js process metrics, and
 *                  whatever other components registered on `metrics.registry` (./registry.ts)
 *   /healthz       200 when no health tracker is in error (warnings allowed), 503 otherwise (./health.ts)
 *   /readyz        200 once every LMDB completed its initial sync, 503 before
 *
 * Security: the server binds exactly to the configured address. It has no authentication and
 * shows instance names, LMDB paths and bucket contents (never credentials: every error text is
 * scrubbed, the config is never shown), so bind it to 127.0.0.1 (e.g. `http.address:
 * 127.0.0.1:8500`) unless a firewall or a proxy guards it. An address without a host (`:8500`)
 * listens on every interface, as the Go implementation does; we log a warning then.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { Registry } from 'prom-client';
import { packageVersion } from '../util/version.js';
import type { Logger } from '../log/logger.js';
import type { SyncRun } from '../sync/runner.js';
import { errorMessage } from '../util/errors.js';
import { Health } from './health.js';
import { InstrumentedStorage } from './instrument.js';
import { SyncMetrics } from './metrics.js';
import { FAVICON_SVG, PAGE_CSS, PAGE_HTML, PAGE_JS, storageHtml } from './page.js';
import { registerOpsMetrics } from './ops-metrics.js';
import { metrics } from './registry.js';
import { makeScrubber, type Scrubber } from './scrub.js';
import { listStorage, statusView, type ViewContext } from './view.js';

export { instrumentStorage, InstrumentedStorage } from './instrument.js';
export { metrics } from './registry.js';

const STORAGE_LIST_TIMEOUT_MS = 10_000;
export const STORAGE_DEFAULT_LIMIT = 1000;
const STORAGE_MAX_LIMIT = 100_000;

/** `host:port`, `[v6]:port` or `:port` (every interface). */
export function parseListenAddress(address: string): { host: string | undefined; port: number } {
  const m = /^(\[([^\]]*)\]|[^:[\]]*):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`http.address ${JSON.stringify(address)}: expected host:port, [ipv6]:port or :port`);
  const host = m[2] ?? m[1]!;
  return { host: host === '' ? undefined : host, port };
}

const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 15_000;
/** Room for slow clients, below the open-file limit so that accept() never fails with EMFILE. */
const MAX_CONNECTIONS = Math.min(4096, Math.max(64, openFileLimit() - 256));

function openFileLimit(): number {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : 1024;
  } catch {
    return 1024;
  }
}

function listenError(address: string, err: NodeJS.ErrnoException): Error {
  const why = err.code === 'EADDRINUSE' ? 'the port is already in use (is another lightningstream or service listening there?)'
    : err.code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)'
      : err.code === 'EADDRNOTAVAIL' ? 'this machine has no such address'
        : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN' ? 'the host name does not resolve'
          : err.message;
  return new Error(`http.address ${address}: cannot listen: ${why}`);
}

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
};

export interface StatusServerOptions {
  /** For tests: the clock of the health trackers and views. */
  now?: () => number;
}

/** A running status server (see the module comment). */
export class StatusServer {
  private readonly server: Server;
  private readonly health: Health;
  private readonly syncMetrics: SyncMetrics;
  private readonly scrub: Scrubber;
  private readonly storage: InstrumentedStorage | undefined;
  private readonly view: ViewContext;
  private readonly now: () => number;
  private stopped = false;

  private constructor(private readonly run: SyncRun, private readonly log: Logger, opts: StatusServerOptions) {
    this.now = opts.now ?? Date.now;
    this.scrub = makeScrubber(run.config);
    this.storage = run.storage instanceof InstrumentedStorage ? run.storage : undefined;
    const host = osHostname();
    const version = packageVersion();
    this.health = new Health(run, this.scrub, { version, hostname: host }, this.now);
    this.syncMetrics = new SyncMetrics(run, this.now);
    metrics.registerProcessMetrics();
    registerOpsMetrics(metrics.registry);
    this.view = {
      run, health: this.health, scrub: this.scrub, instrumented: this.storage !== undefined, version, hostname: host, startedAt: new Date(this.now()),
    };
    // Slow clients must not silence /healthz: headers must arrive within 5 s (checked every second, not
    // Node's default 30 s) and there is room for many connections (an idle socket costs little here).
    this.server = createServer({ connectionsCheckingInterval: 1_000, headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.log.error('HTTP status server: request failed', { path: req.url, error: this.scrub(errorMessage(err)) });
        if (!res.headersSent) this.send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
        else res.destroy();
      });
    });
    this.server.keepAliveTimeout = 5_000;
    this.server.maxConnections = MAX_CONNECTIONS;
  }

  /** Binds to run.config.http.address (throws a clear error when it cannot) and starts the trackers. */
  static async start(run: SyncRun, log: Logger, opts: StatusServerOptions = {}): Promise<StatusServer> {
    const address = run.config.http.address;
    const { host, port } = parseListenAddress(address);
    const s = new StatusServer(run, log.with({ component: 'http' }), opts);
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', (err) => reject(listenError(address, err)));
      // exclusive: never share the port with another process through the cluster module.
      s.server.listen({ host, port, exclusive: true }, () => resolve());
    });
    s.server.on('error', (err) => s.log.error('HTTP status server error', { error: errorMessage(err) }));
    s.health.start();
    s.syncMetrics.start();
    const bound = s.address();
    if (host === undefined) {
      s.log.warn('HTTP status server listens on every interface (http.address has no host): use 127.0.0.1:PORT to keep it local',
        { address: `:${bound.port}` });
    }
    s.log.info('HTTP status server listening', { address: host === undefined ? `:${bound.port}` : formatAddress(bound) });
    if (!s.storage) {
      s.log.warn('storage calls are not instrumented: storage metrics are missing and storage health uses engine status only');
    }
    return s;
  }

  address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.health.stop();
    this.syncMetrics.stop();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private send(res: ServerResponse, code: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
    res.writeHead(code, { ...SECURITY_HEADERS, 'Content-Type': type, 'Cache-Control': 'no-store', ...extra });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }

  private json(res: ServerResponse, code: number, body: unknown): void {
    this.send(res, code, 'application/json; charset=utf-8', JSON.stringify(body, null, 2) + '\n');
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      this.send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { Allow: 'GET, HEAD' }); return;
    }
    const url = new URL(req.url ?? '/', 'http://status.invalid');
    switch (url.pathname) {
      case '/':
        { this.send(res, 200, 'text/html; charset=utf-8', PAGE_HTML); return; }
      case '/assets/status.css':
        { this.send(res, 200, 'text/css; charset=utf-8', PAGE_CSS); return; }
      case '/assets/status.js':
        { this.send(res, 200, 'text/javascript; charset=utf-8', PAGE_JS); return; }
      case '/favicon.svg':
      case '/favicon.ico':
        { this.send(res, 200, 'image/svg+xml', FAVICON_SVG); return; }
      case '/status.json':
        { this.json(res, 200, statusView(this.view, this.now())); return; }
      case '/healthz': {
        const r = this.health.healthz(new Date(this.now()));
        this.json(res, r.code, r.body); return;
      }
      case '/readyz': {
        const r = this.health.readyz();
        this.json(res, r.code, r.body); return;
      }
      case '/metrics':
        return this.metrics(res);
      case '/storage':
        return this.storagePage(url, res);
      default:
        { this.send(res, 404, 'text/plain; charset=utf-8', 'not found\n'); return; }
    }
  }

  private async metrics(res: ServerResponse): Promise<void> {
    const registries: Registry[] = [this.syncMetrics.registry, metrics.registry];
    if (this.storage) registries.push(this.storage.registry);
    // Merged per request: components may register metrics at any time; merge refuses duplicate names.
    const merged = Registry.merge(registries);
    this.send(res, 200, merged.contentType, await merged.metrics());
  }

  private async storagePage(url: URL, res: ServerResponse): Promise<void> {
    const prefix = url.searchParams.get('prefix') ?? '';
    const limitText = url.searchParams.get('limit');
    const limit = limitText === null || limitText === '' ? STORAGE_DEFAULT_LIMIT : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > STORAGE_MAX_LIMIT) {
      this.send(res, 400, 'text/plain; charset=utf-8', `limit must be an integer from 1 to ${STORAGE_MAX_LIMIT}\n`); return;
    }
    const asJson = url.searchParams.get('format') === 'json';
    const started = this.now();
    let listing;
    try {
      listing = await listStorage(this.run.storage, prefix, limit, AbortSignal.timeout(STORAGE_LIST_TIMEOUT_MS));
    } catch (err) {
      const message = this.scrub(errorMessage(err));
      if (asJson) { this.json(res, 502, { error: message }); return; }
      this.send(res, 502, 'text/plain; charset=utf-8', `error listing the storage: ${message}\n`); return;
    }
    if (asJson) { this.json(res, 200, listing); return; }
    this.send(res, 200, 'text/html; charset=utf-8', storageHtml(this.run.instance, listing, this.now() - started));
  }
}

function formatAddress(a: AddressInfo): string {
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/** Starts the status server for a running sync (src/cli/sync.ts); returns its stop function. */
export async function startStatusServer(run: SyncRun, log: Logger): Promise<() => Promise<void>> {
  const server = await StatusServer.start(run, log);
  return () => server.stop();
}
