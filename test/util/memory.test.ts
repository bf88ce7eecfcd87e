import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { memorySnapshot, procRss, settleDaemonMemory, startMemoryReport } from '../../src/util/memory.js';

const MEMORY_JS = fileURLToPath(new URL('../../src/util/memory.js', import.meta.url));

/**
 * A child node that keeps many young objects alive for a while (what makes V8 grow its young generation),
 * after settleDaemonMemory() when `settle`; prints the young generation's size in bytes.
 */
function youngGenerationAfterChurn(settle: boolean, nodeArgs: string[] = []): number {
  const script = `
    import v8 from 'node:v8';
    import { settleDaemonMemory } from ${JSON.stringify(MEMORY_JS)};
    if (${settle}) settleDaemonMemory();
    let keep = [];
    for (let i = 0; i < 1_500_000; i++) {
      keep.push({ i, s: 'x' + i });
      if (keep.length > 100_000) keep = keep.slice(50_000);
    }
    console.log(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size);
  `;
  const r = spawnSync(process.execPath, [...nodeArgs, '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout.trim());
}

describe('memory', () => {
  it('reads the resident set of this process from /proc', () => {
    const r = procRss();
    assert.ok(r.VmRSS! > 0 && r.RssAnon! > 0 && r.RssFile! >= 0, JSON.stringify(r));
    assert.ok(r.RssAnon! + r.RssFile! <= r.VmRSS! + 0.2, JSON.stringify(r));
    const s = memorySnapshot();
    assert.ok(s.heap_used! > 0 && s.heap_total! >= s.heap_used!, JSON.stringify(s));
  });

  it('reports memory every LS_DEBUG_MEMORY seconds, and not at all without it', async () => {
    assert.doesNotThrow(() => startMemoryReport(() => assert.fail('reported without LS_DEBUG_MEMORY'), {})());
    const reports: Array<Record<string, number>> = [];
    let stop = (): void => {};
    const keepAlive = setInterval(() => {}, 1000); // the report's own timer does not keep a process alive
    await new Promise<void>((resolve) => {
      stop = startMemoryReport((f) => {
        reports.push(f);
        if (reports.length === 2) resolve();
      }, { LS_DEBUG_MEMORY: '0.02' });
    });
    stop();
    clearInterval(keepAlive);
    assert.ok(reports.every((f) => f.VmRSS! > 0 && f.heap_used! > 0), JSON.stringify(reports));
  });

  it('keeps the young generation at its initial size, unless node was given its size', () => {
    const grown = youngGenerationAfterChurn(false);
    const settled = youngGenerationAfterChurn(true);
    console.log(`young generation after the churn: ${grown} bytes by default, ${settled} after settleDaemonMemory()`);
    assert.ok(settled < grown, `settled ${settled} is not below the default ${grown}`);
    assert.equal(settleDaemonMemory(['--max-semi-space-size=4']), false);
    assert.equal(settleDaemonMemory(['--semi_space_growth_factor=2']), false);
  });
});
