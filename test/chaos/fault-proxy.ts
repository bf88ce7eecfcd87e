// An HTTP proxy between lightningstream and the S3 server that forwards requests unchanged (Host header
// included, so SigV4 signatures stay valid) and injects faults at seeded, configurable rates:
//   slowdown      503 SlowDown with an S3 XML error body (the server never sees the request)
//   internal      500 InternalError (idem)
//   resetBefore   TCP reset before forwarding (the server never sees the request)
//   resetAfter    forward, let the server act (e.g. store a PUT), then reset the client socket without answering
//   truncate      GET response with the full Content-Length header but only part of the body, then reset
//   delay         1-4 s before forwarding (then served normally)
// With storms on, every 8-15 s the fault rates go up tenfold (at most 80% of requests fail) for 1-3 s.
// No dependency beyond node:http.
import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Rng } from './rng.js';

export type FaultType = 'slowdown' | 'internal' | 'resetBefore' | 'resetAfter' | 'truncate' | 'delay';
export const FAULT_TYPES: FaultType[] = ['slowdown', 'internal', 'resetBefore', 'resetAfter', 'truncate', 'delay'];

/** Probability per request of each fault (truncate applies to GETs with a body only). */
export type FaultRates = Record<FaultType, number>;

export const DEFAULT_RATES: FaultRates = {
  slowdown: 0.04, internal: 0.04, resetBefore: 0.03, resetAfter: 0.03, truncate: 0.04, delay: 0.02,
};

export interface FaultProxyOptions {
  upstream: string; // http://host:port of the S3 server
  seed: number;
  rates?: Partial<FaultRates>;
  /** Faults are injected only while enabled. */
  enabled?: boolean;
  /** Fault storms: short periods with ten times the rates. */
  storms?: boolean;
}

export class FaultProxy {
  readonly faults: Record<FaultType, number> = { slowdown: 0, internal: 0, resetBefore: 0, resetAfter: 0, truncate: 0, delay: 0 };
  readonly requests: Record<string, number> = {};
  /** Faults by type and method, e.g. `resetAfter PUT`. */
  readonly faultsByMethod: Record<string, number> = {};
  enabled: boolean;
  rates: FaultRates;
  private readonly rng: Rng;
  private readonly upstream: URL;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closing = false;
  private stormUntil = 0;
  private readonly storms: boolean;
  stormCount = 0;
  stormRequests = 0;

  constructor(opts: FaultProxyOptions) {
    this.upstream = new URL(opts.upstream);
    this.rng = new Rng(opts.seed);
    this.rates = { ...DEFAULT_RATES, ...opts.rates };
    this.enabled = opts.enabled ?? true;
    this.storms = opts.storms ?? false;
  }

  private scheduleStorm(): void {
    this.later(8000 + this.rng.int(7001), () => {
      this.stormCount++;
      this.stormUntil = Date.now() + 1000 + this.rng.int(2001);
      this.scheduleStorm();
    });
  }

  /** Starts listening on 127.0.0.1 (a free port); returns the proxy's URL. */
  async start(): Promise<string> {
    const server = createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 30_000;
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('clientError', (_err, socket) => socket.destroy());
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
    this.server = server;
    if (this.storms) this.scheduleStorm();
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.closing = true;
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.destroy();
    this.agent.destroy();
    if (this.server) await new Promise<void>((res) => this.server!.close(() => res()));
  }

  totalFaults(): number {
    return Object.values(this.faults).reduce((a, b) => a + b, 0);
  }

  summary(): string {
    const f = FAULT_TYPES.map((t) => `${t}=${this.faults[t]}`).join(' ');
    const r = Object.entries(this.requests).sort().map(([m, n]) => `${m}=${n}`).join(' ');
    const storms = this.storms ? `; storms: ${this.stormCount} (${this.stormRequests} requests in them)` : '';
    return `faults: ${f} (total ${this.totalFaults()}); requests: ${r}${storms}`;
  }

  private count(type: FaultType, method: string): void {
    this.faults[type]++;
    const k = `${type} ${method}`;
    this.faultsByMethod[k] = (this.faultsByMethod[k] ?? 0) + 1;
  }

  /** Draws at most one fault for a request (delay can come on top: it only postpones). */
  private draw(method: string): { fault?: Exclude<FaultType, 'delay'>; delayMs: number } {
    if (!this.enabled) return { delayMs: 0 };
    const storm = Date.now() < this.stormUntil;
    if (storm) this.stormRequests++;
    const kinds = ['slowdown', 'internal', 'resetBefore', 'resetAfter', 'truncate'] as const;
    const sum = kinds.reduce((a, t) => a + this.rates[t], 0);
    const scale = storm ? Math.min(10, 0.8 / sum) : 1;
    const r = this.rng.next();
    let acc = 0;
    let fault: Exclude<FaultType, 'delay'> | undefined;
    for (const t of kinds) {
      acc += this.rates[t] * scale;
      if (r < acc) { fault = t; break; }
    }
    if (fault === 'truncate' && method !== 'GET') fault = undefined;
    const delayMs = this.rng.next() < this.rates.delay ? 1000 + this.rng.int(3001) : 0;
    return { fault, delayMs };
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => { this.timers.delete(t); fn(); }, ms);
    this.timers.add(t);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? 'GET';
    this.requests[method] = (this.requests[method] ?? 0) + 1;
    const { fault, delayMs } = this.draw(method);
    if (delayMs > 0) this.count('delay', method);
    if (fault && fault !== 'truncate') this.count(fault, method); // truncate: counted once a body was cut
    const go = () => {
      if (this.closing) { req.socket.destroy(); return; }
      switch (fault) {
        case 'resetBefore':
          req.socket.resetAndDestroy();
          return;
        case 'slowdown':
          this.errorReply(req, res, 503, 'SlowDown', 'Please reduce your request rate.');
          return;
        case 'internal':
          this.errorReply(req, res, 500, 'InternalError', 'We encountered an internal error. Please try again.');
          return;
        default:
          this.forward(req, res, fault);
      }
    };
    if (delayMs > 0) this.later(delayMs, go);
    else go();
  }

  private errorReply(req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string): void {
    // Consume the request body first so the connection stays usable for the next request.
    req.resume();
    req.on('end', () => {
      const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message>` +
        `<Resource>${escapeXml(req.url ?? '')}</Resource><RequestId>chaos-${Date.now()}</RequestId></Error>`;
      const headers: Record<string, string | number> = { 'content-type': 'application/xml', 'x-amz-request-id': `chaos-${Date.now()}` };
      if (req.method === 'HEAD') { res.writeHead(status, headers); res.end(); return; }
      headers['content-length'] = Buffer.byteLength(body);
      res.writeHead(status, headers);
      res.end(body);
    });
  }

  private forward(req: IncomingMessage, res: ServerResponse, fault?: 'resetAfter' | 'truncate'): void {
    const headers = { ...req.headers };
    delete headers.connection; // hop-by-hop (and not signed by SigV4); the agent manages keep-alive
    delete headers['keep-alive'];
    delete headers.expect; // Node's server already answered 100-continue; not signed either
    const up = httpRequest({
      host: this.upstream.hostname, port: this.upstream.port, method: req.method, path: req.url, headers, agent: this.agent,
    }, (upRes) => {
      const chunks: Buffer[] = [];
      upRes.on('data', (c: Buffer) => chunks.push(c));
      upRes.on('error', () => req.socket.destroy());
      upRes.on('end', () => {
        const body = Buffer.concat(chunks);
        if (fault === 'resetAfter') { req.socket.resetAndDestroy(); return; }
        const out: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(upRes.headers)) {
          if (v === undefined || k === 'connection' || k === 'keep-alive' || k === 'transfer-encoding') continue;
          out[k] = v;
        }
        const status = upRes.statusCode ?? 502;
        const noBody = req.method === 'HEAD' || status === 204 || status === 304;
        if (!noBody) out['content-length'] = String(body.length);
        res.writeHead(status, out);
        if (noBody) { res.end(); return; }
        if (fault === 'truncate' && body.length > 1) {
          // Full Content-Length announced, part of the body sent, then the connection dies.
          this.count('truncate', req.method ?? 'GET');
          const cut = 1 + this.rng.int(body.length - 1);
          res.write(body.subarray(0, cut), () => req.socket.resetAndDestroy());
          return;
        }
        res.end(body);
      });
    });
    up.on('error', () => req.socket.destroy());
    req.pipe(up);
    req.on('error', () => up.destroy());
  }
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
