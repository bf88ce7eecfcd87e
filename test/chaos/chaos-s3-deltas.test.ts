// Chaos with delta snapshots through Ceph behind the fault-injecting proxy: chaos-s3.test.ts's faults (503, 500,
// resets before and after the server acted, cut GET bodies, delays, storms) while chains of deltas are written
// and merged, with full snapshots only at restarts (see chaos-deltas.test.ts). Skipped without LS_S3_ENDPOINT.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { requireS3TestEnv, s3Options, uniqueBucket } from '../storage/s3env.js';
import { chaosSeed, runChaos } from './chaos.js';
import { FaultProxy } from './fault-proxy.js';

const s3 = requireS3TestEnv('chaos s3 deltas');

describe('chaos with delta snapshots (Ceph through a fault-injecting proxy)', { skip: !s3, timeout: 240_000 }, () => {
  let proxy: FaultProxy | undefined;
  after(async () => { await proxy?.stop(); });

  it('three killed and restarted syncers writing deltas converge on the oracle through S3 faults', async () => {
    const seed = chaosSeed();
    proxy = new FaultProxy({ upstream: s3!.endpoint, seed: seed ^ 0xde17a, storms: true });
    const url = await proxy.start();
    const bucket = uniqueBucket('chaosd');
    const p = proxy;
    const r = await runChaos({
      label: 's3-deltas',
      seed,
      storage: () => ({ type: 's3', options: s3Options(s3!, bucket, { endpoint_url: url, create_bucket: true }) }),
      extraConfig: ['deltas: { enabled: true, full_interval: 10m, max_chain_ratio: 5 }'],
      headerTxnIds: 'real',
      writeMs: Number(process.env.LS_CHAOS_WRITE_MS ?? 35_000),
      targetOps: Number(process.env.LS_CHAOS_OPS ?? 4000),
      convergeTimeoutMs: 90_000,
      extraFigures: () => [`proxy ${p.summary()}`],
    });
    assert.equal(r.problems.length, 0, `seed ${r.seed}: ${r.problems.length} problems (${p.summary()}):\n${r.problems.join('\n\n')}`);
    assert.ok(r.keysCompared > 300, `seed ${r.seed}: only ${r.keysCompared} keys compared`);
    assert.ok(p.totalFaults() > 20, `seed ${r.seed}: only ${p.totalFaults()} faults injected`);
    const logs = r.figures.find((f) => f.startsWith('syncer logs:'));
    assert.match(logs ?? '', /delta_stored=[1-9]/, `seed ${r.seed}: no delta was stored (${logs})`);
  });
});
