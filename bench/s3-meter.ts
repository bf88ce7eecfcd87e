/**
 * A counting HTTP proxy for S3 (used by bench/fleet.ts; not a test). It listens on one port per
 * client (so every request is attributed to the instance whose endpoint_url names that port) and
 * forwards every request unchanged to the upstream S3 server, Host header included, so SigV4
 * signatures stay valid (as test/chaos/fault-proxy.ts does). Bodies are streamed through, never
 * buffered. Per listener it counts requests by kind, body bytes both ways, snapshot objects stored
 * and fetched, and the update-marker traffic.
 *
 * Request kinds (path-style requests, `/<bucket>[/<key>]`, as both implementations send them to a
 * custom endpoint):
 *   LIST    GET on the bucket root (ListObjects v1, or v2 with `list-type`)
 *   GET     GET of an object          PUT   PUT of an object or a multipart part
 *   HEAD    HEAD of a bucket/object   DELETE, POST (multipart create/complete), OTHER (anything else)
 *
 * As a library: `new S3Meter(upstream, n).start()`. As a process (what fleet.ts runs, so the proxy's
 * work does not share an event loop with the bench's latency polling):
 *
 *   node dist/bench/s3-meter.js --upstream http://127.0.0.1:7480 --listeners N
 *
 * prints one JSON line `{"ports":[...],"control":P}` on stdout, then serves `GET /counts` on
 * 127.0.0.1:P (a JSON array of MeterCounts, one per listener). It exits on SIGTERM/SIGINT or when its
 * stdin closes (the parent died).
 */
import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export const KINDS = ['LIST', 'GET', 'PUT', 'HEAD', 'DELETE', 'POST', 'OTHER'] as const;
export type Kind = (typeof KINDS)[number];

/** The update marker object's name (src/storage/s3/options.ts UPDATE_MARKER_NAME, without global_prefix). */
const MARKER = 'update-marker';

export interface MeterCounts {
  requests: Record<Kind, number>;
  /** Request body bytes (uploads). */
  bytesUp: number;
  /** Response body bytes (downloads). */
  bytesDown: number;
  /** Response body bytes of LIST requests (part of bytesDown). */
  listBytesDown: number;
  /** Snapshots stored: a PUT of a `.pb.gz` object, or the completion of a multipart upload of one. */
  snapshotPuts: number;
  /** Request body bytes of those (multipart parts included). */
  snapshotBytesUp: number;
  /** Successful (200) GETs of `.pb.gz` objects, and how many of them fetched a name this listener had fetched already. */
  snapshotGets: number;
  snapshotReGets: number;
  markerGets: number;
  markerPuts: number;
  /** Answers 404 (e.g. the update marker before the first store) and >= 500. */
  status404: number;
  status5xx: number;
  /** Requests that failed in the proxy (upstream unreachable, connection reset). */
  proxyErrors: number;
}

export function emptyCounts(): MeterCounts {
  return {
    requests: { LIST: 0, GET: 0, PUT: 0, HEAD: 0, DELETE: 0, POST: 0, OTHER: 0 },
    bytesUp: 0, bytesDown: 0, listBytesDown: 0, snapshotPuts: 0, snapshotBytesUp: 0, snapshotGets: 0, snapshotReGets: 0,
    markerGets: 0, markerPuts: 0, status404: 0, status5xx: 0, proxyErrors: 0,
  };
}

/** a - b, field by field (counters only grow, so this is what happened between two readings). */
export function diffCounts(a: MeterCounts, b: MeterCounts): MeterCounts {
  const out = emptyCounts();
  for (const k of KINDS) out.requests[k] = a.requests[k] - b.requests[k];
  for (const key of Object.keys(out) as Array<keyof MeterCounts>) {
    if (key !== 'requests') out[key] = a[key] - b[key];
  }
  return out;
}

/** The sum of several counters (e.g. the whole fleet). */
export function sumCounts(list: readonly MeterCounts[]): MeterCounts {
  const out = emptyCounts();
  for (const c of list) {
    for (const k of KINDS) out.requests[k] += c.requests[k];
    for (const key of Object.keys(out) as Array<keyof MeterCounts>) {
      if (key !== 'requests') out[key] += c[key];
    }
  }
  return out;
}

interface Classified {
  kind: Kind;
  /** The object key, for object requests. */
  key?: string;
  multipartComplete: boolean;
  multipartPart: boolean;
}

function classify(method: string, url: string): Classified {
  const u = new URL(url, 'http://meter');
  const parts = u.pathname.split('/').filter((p) => p !== '');
  const key = parts.length > 1 ? decodeURIComponent(parts.slice(1).join('/')) : undefined;
  const q = u.searchParams;
  const multipartComplete = method === 'POST' && q.has('uploadId');
  const multipartPart = method === 'PUT' && q.has('uploadId');
  let kind: Kind;
  if (key === undefined) {
    // Bucket-level: a listing unless it asks for a sub-resource (?location, ?versioning, ...).
    const sub = [...q.keys()].filter((k) => !['list-type', 'prefix', 'delimiter', 'continuation-token', 'start-after', 'max-keys', 'marker', 'encoding-type', 'fetch-owner', 'x-id'].includes(k));
    if (method === 'GET' && sub.length === 0) kind = 'LIST';
    else if (method === 'HEAD') kind = 'HEAD';
    else if (method === 'PUT' && sub.length === 0) kind = 'PUT';
    else kind = 'OTHER';
  } else {
    kind = (['GET', 'PUT', 'HEAD', 'DELETE', 'POST'] as const).find((m) => m === method) ?? 'OTHER';
  }
  return { kind, key, multipartComplete, multipartPart };
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade']);

export class S3Meter {
  readonly counts: MeterCounts[];
  private readonly fetched: Array<Set<string>>;
  private readonly upstream: URL;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();

  constructor(upstream: string, readonly listeners: number) {
    this.upstream = new URL(upstream);
    this.counts = Array.from({ length: listeners }, emptyCounts);
    this.fetched = Array.from({ length: listeners }, () => new Set<string>());
  }

  /** Listens on `listeners` free ports of 127.0.0.1; returns them (listener i = ports[i]). */
  async start(): Promise<number[]> {
    const ports: number[] = [];
    for (let i = 0; i < this.listeners; i++) {
      const server = createServer((req, res) => { this.handle(i, req, res); });
      server.keepAliveTimeout = 60_000;
      server.on('connection', (s) => {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
      });
      server.on('clientError', (_err, socket) => socket.destroy());
      await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => { res(); }));
      this.servers.push(server);
      ports.push((server.address() as AddressInfo).port);
    }
    return ports;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.agent.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((res) => s.close(() => { res(); }))));
  }

  private handle(i: number, req: IncomingMessage, res: ServerResponse): void {
    const c = this.counts[i]!;
    const method = req.method ?? 'GET';
    const cl = classify(method, req.url ?? '/');
    c.requests[cl.kind]++;
    const isSnapshot = cl.key?.endsWith('.pb.gz') ?? false;
    const isMarker = cl.key === MARKER || (cl.key?.endsWith(`/${MARKER}`) ?? false);
    if (isMarker && method === 'GET') c.markerGets++;
    if (isMarker && method === 'PUT') c.markerPuts++;

    const headers = { ...req.headers };
    delete headers.connection; // hop-by-hop, not signed by SigV4; the agent manages keep-alive
    delete headers['keep-alive'];
    delete headers.expect; // Node's server already answered 100-continue
    const up = httpRequest({
      host: this.upstream.hostname, port: this.upstream.port, method, path: req.url, headers, agent: this.agent,
    }, (upRes) => {
      const status = upRes.statusCode ?? 502;
      if (status === 404) c.status404++;
      if (status >= 500) c.status5xx++;
      if (isSnapshot && status === 200 && (method === 'PUT' && !cl.multipartPart || cl.multipartComplete)) c.snapshotPuts++;
      if (isSnapshot && status === 200 && method === 'GET') {
        c.snapshotGets++;
        const seen = this.fetched[i]!;
        if (seen.has(cl.key!)) c.snapshotReGets++;
        else seen.add(cl.key!);
      }
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(upRes.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
      res.writeHead(status, out);
      upRes.on('data', (chunk: Buffer) => {
        c.bytesDown += chunk.length;
        if (cl.kind === 'LIST') c.listBytesDown += chunk.length;
      });
      upRes.on('error', () => { res.destroy(); });
      upRes.pipe(res);
    });
    up.on('error', () => {
      c.proxyErrors++;
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('s3-meter: upstream failed\n');
      } else res.destroy();
    });
    req.on('data', (chunk: Buffer) => {
      c.bytesUp += chunk.length;
      if (isSnapshot) c.snapshotBytesUp += chunk.length;
    });
    req.on('error', () => up.destroy());
    req.pipe(up);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { upstream: { type: 'string' }, listeners: { type: 'string', default: '1' } } });
  const n = Number(values.listeners);
  if (!values.upstream || !Number.isInteger(n) || n < 1) {
    console.error('usage: s3-meter --upstream http://HOST:PORT --listeners N');
    process.exit(2);
  }
  const meter = new S3Meter(values.upstream, n);
  const ports = await meter.start();
  const control = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/counts') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(meter.counts));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((res) => control.listen(0, '127.0.0.1', () => { res(); }));
  const stop = (): void => {
    control.close();
    void meter.stop().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
  console.log(JSON.stringify({ ports, control: (control.address() as AddressInfo).port }));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
