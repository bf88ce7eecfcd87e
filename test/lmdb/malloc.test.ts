import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { it } from 'node:test';
import { tuneMallocForDaemon } from '../../src/lmdb/malloc.js';

const MODULE = new URL('../../src/lmdb/malloc.js', import.meta.url).href;

function inChild(env: Record<string, string>): string[] {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e',
    `import { tuneMallocForDaemon } from ${JSON.stringify(MODULE)}; console.log(JSON.stringify(tuneMallocForDaemon()));`],
  { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });
  return JSON.parse(out) as string[];
}

it('sets glibc malloc thresholds and the arena limit for a long run', () => {
  assert.deepEqual(inChild({}), ['MALLOC_MMAP_THRESHOLD_=131072', 'MALLOC_TRIM_THRESHOLD_=131072', 'MALLOC_ARENA_MAX=2']);
});

it("leaves each setting the operator gave through malloc's environment variables to them", () => {
  assert.deepEqual(inChild({ MALLOC_ARENA_MAX: '4' }), ['MALLOC_MMAP_THRESHOLD_=131072', 'MALLOC_TRIM_THRESHOLD_=131072']);
  assert.deepEqual(tuneMallocForDaemon({ MALLOC_MMAP_THRESHOLD_: '1', MALLOC_TRIM_THRESHOLD_: '1', MALLOC_ARENA_MAX: '1' }), []);
});
