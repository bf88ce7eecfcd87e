// Chaos in a mixed fleet (README "Delta snapshots", "Mixed fleets"): a and b are ours with the default config
// (deltas on), c is the Go implementation v1.0.0 (LS_REFERENCE_BIN; skipped with a printed line without it).
// Every process is SIGKILLed (sometimes SIGTERMed) and restarted, equal timestamps are forced across instances,
// and all three LMDBs must converge on the independent oracle: Go sees our changes through the full snapshots we
// store beside our deltas while it is present, we see Go's through its full snapshots. Once on fs, once on Ceph.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { requireS3TestEnv, s3Options, uniqueBucket } from '../storage/s3env.js';
import { GO_BIN, runChaos, type ChaosOptions } from './chaos.js';

if (!GO_BIN) console.log('# chaos with a Go instance skipped: LS_REFERENCE_BIN is not set (scripts/test.sh sets it when ../shared/reference/ exists)');
const s3 = GO_BIN ? requireS3TestEnv('chaos mixed s3') : undefined;

async function mixedRun(label: string, storage: ChaosOptions['storage']): Promise<void> {
  const r = await runChaos({
    label,
    storage,
    goInstances: ['c'],
    headerTxnIds: 'real',
    writeMs: Number(process.env.LS_CHAOS_WRITE_MS ?? 35_000),
    targetOps: Number(process.env.LS_CHAOS_OPS ?? 4000),
    convergeTimeoutMs: 90_000,
  });
  assert.equal(r.problems.length, 0, `seed ${r.seed}: ${r.problems.length} problems:\n${r.problems.join('\n\n')}`);
  assert.ok(r.keysCompared > 300, `seed ${r.seed}: only ${r.keysCompared} keys compared`);
  const logs = r.figures.find((f) => f.startsWith('syncer logs:'));
  assert.match(logs ?? '', /delta_stored=[1-9]/, `seed ${r.seed}: our instances stored no delta (${logs})`);
}

describe('chaos in a mixed fleet: two of ours (default config) and Go v1.0.0', { skip: GO_BIN ? false : 'LS_REFERENCE_BIN is not set', timeout: 480_000 }, () => {
  it('fs: all processes killed and restarted, equal timestamps, converge on the oracle', async () => {
    await mixedRun('fs-mixed', (dir) => ({ type: 'fs', options: { root_path: join(dir, 'bucket') } }));
  });

  it('Ceph S3: the same through a real S3 server', { skip: s3 ? false : 'LS_S3_ENDPOINT is not set' }, async () => {
    const bucket = uniqueBucket('chaosm');
    await mixedRun('s3-mixed', () => ({ type: 's3', options: s3Options(s3!, bucket, { create_bucket: true }) }));
  });
});
