// Chaos with delta snapshots on (fs storage): the run of chaos.ts with `deltas.enabled` and applications that
// record their write txn's id in the header, as PowerDNS does (deltas select changes by it). full_interval and
// max_chain_ratio are set high so that full snapshots come only from restarts: a delta that misses an entry is
// not healed by a later full one, and the oracle sees it (checked once: selecting one txn too few gave keys
// wrong = 143 of 879, seed 303906454).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runChaos } from './chaos.js';

describe('chaos with delta snapshots (fs storage)', { timeout: 240_000 }, () => {
  it('three killed and restarted syncers writing deltas converge on the oracle, LMDBs intact', async () => {
    const r = await runChaos({
      label: 'fs-deltas',
      storage: (dir) => ({ type: 'fs', options: { root_path: join(dir, 'bucket') } }),
      extraConfig: ['deltas: { enabled: true, full_interval: 10m, max_chain_ratio: 5 }'],
      headerTxnIds: 'real',
      writeMs: Number(process.env.LS_CHAOS_WRITE_MS ?? 40_000),
      targetOps: Number(process.env.LS_CHAOS_OPS ?? 5000),
      convergeTimeoutMs: 90_000,
      extraFigures: () => [],
    });
    assert.equal(r.problems.length, 0, `seed ${r.seed}: ${r.problems.length} problems:\n${r.problems.join('\n\n')}`);
    assert.ok(r.keysCompared > 300, `seed ${r.seed}: only ${r.keysCompared} keys compared`);
    const deltas = r.figures.find((f) => f.startsWith('syncer logs:'));
    assert.match(deltas ?? '', /delta_stored=[1-9]/, `seed ${r.seed}: no delta was stored (${deltas})`);
  });
});
