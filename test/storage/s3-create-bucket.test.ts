// create_bucket at start-up against the real Ceph radosgw behind the fault proxy: transient failures
// (503 SlowDown, 500, resets) are retried until init_timeout, definite ones fail at once with the
// reason, and a server that never recovers ends with a message naming init_timeout.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createStorage } from '../../src/storage/index.js';
import { FaultProxy, type FaultRates } from '../chaos/fault-proxy.js';
import { requireS3TestEnv, s3Options, uniqueBucket } from './s3env.js';

const env = requireS3TestEnv('s3 create_bucket');
const NO_FAULTS: FaultRates = { slowdown: 0, internal: 0, resetBefore: 0, resetAfter: 0, truncate: 0, delay: 0 };

interface LoggedLine { msg: string; fields?: Record<string, unknown> }

function recordingLogger(lines: LoggedLine[]) {
  const rec = (msg: string, fields?: Record<string, unknown>) => { lines.push({ msg, fields }); };
  return { debug: rec, info: rec, warn: rec, error: rec };
}

describe('s3 create_bucket through faults', { skip: !env, timeout: 60_000 }, () => {
  const proxies: FaultProxy[] = [];
  after(async () => { await Promise.all(proxies.map((p) => p.stop())); });

  async function proxyWith(rates: Partial<FaultRates>, seed: number): Promise<{ proxy: FaultProxy; url: string }> {
    const proxy = new FaultProxy({ upstream: env!.endpoint, seed, rates: { ...NO_FAULTS, ...rates } });
    proxies.push(proxy);
    return { proxy, url: await proxy.start() };
  }

  for (const [label, rates] of [
    ['503 SlowDown', { slowdown: 1 }],
    ['500 InternalError', { internal: 1 }],
    ['connection resets', { resetBefore: 1 }],
  ] as Array<[string, Partial<FaultRates>]>) {
    it(`retries ${label} until the server recovers, then creates the bucket`, async () => {
      const { proxy, url } = await proxyWith(rates, 11);
      const bucket = uniqueBucket('cb');
      const lines: LoggedLine[] = [];
      setTimeout(() => { proxy.enabled = false; }, 1500);
      const started = Date.now();
      const s = await createStorage('s3', s3Options(env!, bucket, { endpoint_url: url, create_bucket: true, init_timeout: '15s' }), {
        logger: recordingLogger(lines),
      });
      try {
        const waited = Date.now() - started;
        assert.ok(waited >= 1400, `open returned after ${waited} ms, while every request still failed`);
        assert.ok(proxy.totalFaults() >= 2, `only ${proxy.totalFaults()} faults injected`);
        assert.ok(lines.some((l) => l.msg.includes('retrying within init_timeout')), 'no retry was logged');
        assert.ok(lines.some((l) => l.msg === 's3: created bucket'), 'the bucket was not created');
        await s.store('probe', Buffer.from('x'));
        assert.deepEqual((await s.list('')).map((o) => o.name), ['probe']);
      } finally {
        await s.close();
      }
    });
  }

  it('gives up at init_timeout when the server never recovers, naming init_timeout and the last error', async () => {
    const { url } = await proxyWith({ slowdown: 1 }, 12);
    const started = Date.now();
    await assert.rejects(
      createStorage('s3', s3Options(env!, uniqueBucket('cb'), { endpoint_url: url, create_bucket: true, init_timeout: '2s' })),
      (err: Error) => {
        assert.match(err.message, /init_timeout \(2s\)/);
        assert.match(err.message, /last error: .*(SlowDown|503)/);
        return true;
      },
    );
    const took = Date.now() - started;
    assert.ok(took >= 1900 && took < 8000, `gave up after ${took} ms, init_timeout is 2 s`);
  });

  it('fails at once on a definite refusal (wrong secret key)', async () => {
    const started = Date.now();
    await assert.rejects(
      createStorage('s3', s3Options(env!, uniqueBucket('cb'), { secret_key: 'wrong-secret', create_bucket: true, init_timeout: '15s' })),
      /SignatureDoesNotMatch|AccessDenied/,
    );
    assert.ok(Date.now() - started < 5000, `a definite refusal took ${Date.now() - started} ms`);
  });
});
