// The fault proxy of the chaos suite does what it claims, one fault type at a time, against a local
// HTTP server that records what reached it.
import assert from 'node:assert/strict';
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FaultProxy, type FaultRates, type FaultType } from './fault-proxy.js';

interface Seen { method: string; url: string; headers: IncomingHttpHeaders; body: string }

const NONE: FaultRates = { slowdown: 0, internal: 0, resetBefore: 0, resetAfter: 0, truncate: 0, delay: 0 };
const BODY = 'x'.repeat(10_000);

interface Reply { status?: number; headers?: IncomingHttpHeaders; body?: string; error?: string; ms: number }

function call(url: string, method: string, path: string, body?: string): Promise<Reply> {
  const started = Date.now();
  return new Promise((resolve) => {
    const u = new URL(url);
    // A body cut short is reported on the response (Node 20-22) or on the request (Node 24): either way the
    // reply keeps the status, headers and bytes received before the error.
    let response: IncomingMessage | undefined;
    const chunks: Buffer[] = [];
    const received = (): Pick<Reply, 'status' | 'headers' | 'body'> =>
      (response ? { status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks).toString() } : {});
    const req = request({ host: u.hostname, port: u.port, method, path, headers: { host: 'bucket.example:7480', 'x-amz-date': 'd' }, agent: false }, (res) => {
      response = res;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => { resolve({ ...received(), ms: Date.now() - started }); });
      res.on('error', (e) => { resolve({ ...received(), error: e.message, ms: Date.now() - started }); });
      res.on('aborted', () => { resolve({ ...received(), error: 'aborted', ms: Date.now() - started }); });
    });
    req.on('error', (e) => { resolve({ ...received(), error: e.message, ms: Date.now() - started }); });
    req.end(body);
  });
}

describe('fault proxy', () => {
  let upstream: Server;
  let upstreamUrl = '';
  const seen: Seen[] = [];

  before(async () => {
    upstream = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
        res.writeHead(200, { 'content-type': 'text/plain', etag: '"e"' });
        res.end(req.method === 'HEAD' ? undefined : BODY);
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => { r(); }));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  });
  after(async () => { await new Promise<void>((r) => upstream.close(() => { r(); })); });

  async function withProxy(rates: Partial<FaultRates>, fn: (url: string, p: FaultProxy) => Promise<void>): Promise<void> {
    const p = new FaultProxy({ upstream: upstreamUrl, seed: 1, rates: { ...NONE, ...rates } });
    const url = await p.start();
    try { await fn(url, p); } finally { await p.stop(); }
  }

  it('forwards unchanged without faults: method, path, Host header, body', async () => {
    await withProxy({}, async (url, p) => {
      seen.length = 0;
      const r = await call(url, 'PUT', '/b/k?x=1', 'payload');
      assert.equal(r.status, 200);
      assert.equal(r.body, BODY);
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.method, 'PUT');
      assert.equal(seen[0]!.url, '/b/k?x=1');
      assert.equal(seen[0]!.headers.host, 'bucket.example:7480');
      assert.equal(seen[0]!.headers['x-amz-date'], 'd');
      assert.equal(seen[0]!.body, 'payload');
      assert.equal(p.totalFaults(), 0);
      assert.equal(p.requests.PUT, 1);
    });
  });

  const cases: Array<[FaultType, string, (r: Reply, reached: number) => void]> = [
    ['slowdown', 'GET', (r, reached) => {
      assert.equal(r.status, 503);
      assert.match(r.body ?? '', /<Code>SlowDown<\/Code>/);
      assert.equal(reached, 0);
    }],
    ['internal', 'PUT', (r, reached) => {
      assert.equal(r.status, 500);
      assert.match(r.body ?? '', /<Code>InternalError<\/Code>/);
      assert.equal(reached, 0);
    }],
    ['resetBefore', 'PUT', (r, reached) => {
      assert.match(r.error ?? '', /ECONNRESET|socket hang up/);
      assert.equal(reached, 0);
    }],
    ['resetAfter', 'PUT', (r, reached) => {
      assert.match(r.error ?? '', /ECONNRESET|socket hang up/);
      assert.equal(reached, 1, 'the server acted on the request');
    }],
    ['truncate', 'GET', (r, reached) => {
      assert.equal(r.status, 200);
      assert.ok(r.error, 'the body ends with an error');
      assert.equal(r.headers?.['content-length'], String(BODY.length));
      assert.ok((r.body ?? '').length < BODY.length, `cut short: ${r.body?.length}`);
      assert.equal(reached, 1);
    }],
    ['delay', 'GET', (r, reached) => {
      assert.equal(r.status, 200);
      assert.equal(r.body, BODY);
      assert.ok(r.ms >= 950, `delayed: ${r.ms} ms`);
      assert.equal(reached, 1);
    }],
  ];
  for (const [type, method, check] of cases) {
    it(`${type} (${method})`, async () => {
      await withProxy({ [type]: 1 }, async (url, p) => {
        seen.length = 0;
        const r = await call(url, method, '/b/k', method === 'PUT' ? 'payload' : undefined);
        await new Promise((res) => setTimeout(res, 50));
        check(r, seen.length);
        assert.equal(p.faults[type], 1);
        assert.equal(p.totalFaults(), 1);
      });
    });
  }

  it('never cuts a HEAD response, and the same seed draws the same faults', async () => {
    await withProxy({ truncate: 1 }, async (url, p) => {
      const r = await call(url, 'HEAD', '/b/k');
      assert.equal(r.status, 200);
      assert.equal(p.faults.truncate, 0);
    });
    const draws = async (): Promise<string> => {
      let out = '';
      await withProxy({ slowdown: 0.3, internal: 0.3 }, async (url) => {
        for (let i = 0; i < 20; i++) out += String((await call(url, 'GET', '/b/k')).status);
      });
      return out;
    };
    assert.equal(await draws(), await draws());
  });
});
