// Chaos through Ceph radosgw behind a fault-injecting proxy (fault-proxy.ts): 503 SlowDown, 500, resets
// before and after the server acted, cut GET bodies, delays and short fault storms, on top of the
// SIGKILL/SIGTERM restarts of chaos.ts. Skipped without LS_S3_ENDPOINT; a failure under CI=true (see test/storage/s3env.ts).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { requireS3TestEnv, s3Options, uniqueBucket } from '../storage/s3env.js';
import { chaosSeed, runChaos } from './chaos.js';
import { FaultProxy } from './fault-proxy.js';

const s3 = requireS3TestEnv('chaos s3');

describe('chaos (Ceph through a fault-injecting proxy)', { skip: !s3, timeout: 240_000 }, () => {
  let proxy: FaultProxy | undefined;
  after(async () => { await proxy?.stop(); });

  it('three killed and restarted syncers converge on the oracle through S3 faults, LMDBs intact', async () => {
    const seed = chaosSeed();
    proxy = new FaultProxy({ upstream: s3!.endpoint, seed: seed ^ 0x5eed, storms: true });
    const url = await proxy.start();
    const bucket = uniqueBucket('chaos');
    const p = proxy;
    const r = await runChaos({
      label: 's3',
      extraConfig: ['deltas: { enabled: false }'], // full snapshots only (deltas are on by default: chaos-deltas, chaos-mixed)
      seed,
      storage: () => ({ type: 's3', options: s3Options(s3!, bucket, { endpoint_url: url, create_bucket: true }) }),
      writeMs: Number(process.env.LS_CHAOS_WRITE_MS ?? 35_000),
      targetOps: Number(process.env.LS_CHAOS_OPS ?? 4000),
      convergeTimeoutMs: 90_000,
      extraFigures: () => [
        `proxy ${p.summary()}`,
        `faults by method: ${Object.entries(p.faultsByMethod).sort().map(([k, n]) => `${k.replace(' ', '/')}=${n}`).join(' ')}`,
      ],
    });
    assert.equal(r.problems.length, 0, `seed ${r.seed}: ${r.problems.length} problems (${p.summary()}):\n${r.problems.join('\n\n')}`);
    assert.ok(r.keysCompared > 300, `seed ${r.seed}: only ${r.keysCompared} keys compared`);
    assert.ok(p.totalFaults() > 20, `seed ${r.seed}: only ${p.totalFaults()} faults injected`);
  });
});
