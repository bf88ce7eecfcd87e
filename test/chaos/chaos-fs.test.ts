// Chaos with fs storage and full snapshots only: three syncers SIGKILLed/SIGTERMed and restarted while three applications write
// thousands of random ops; all three LMDBs must converge on the oracle's state (see chaos.ts).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runChaos } from './chaos.js';

describe('chaos (fs storage)', { timeout: 240_000 }, () => {
  it('three killed and restarted syncers converge on the oracle, LMDBs intact', async () => {
    const r = await runChaos({
      label: 'fs',
      extraConfig: ['deltas: { enabled: false }'], // full snapshots only (deltas are on by default: chaos-deltas, chaos-mixed)
      storage: (dir) => ({ type: 'fs', options: { root_path: join(dir, 'bucket') } }),
      writeMs: Number(process.env.LS_CHAOS_WRITE_MS ?? 40_000),
      targetOps: Number(process.env.LS_CHAOS_OPS ?? 5000),
      convergeTimeoutMs: 90_000,
    });
    assert.equal(r.problems.length, 0, `seed ${r.seed}: ${r.problems.length} problems:\n${r.problems.join('\n\n')}`);
    assert.ok(r.keysCompared > 300, `seed ${r.seed}: only ${r.keysCompared} keys compared`);
  });
});
