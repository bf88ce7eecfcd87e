// The import-boundary check (scripts/check-imports.mjs): src/ is clean, and a violation is caught.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../sync/helpers.js';

const check = (dir?: string) => spawnSync(process.execPath, [join(ROOT, 'scripts/check-imports.mjs'), ...(dir ? [dir] : [])], { encoding: 'utf8' });

test('src/ folders only import from the folders below them', () => {
  const r = check();
  assert.equal(r.status, 0, r.stderr);
});

test('an upward import is reported with the file and the layers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-boundaries-'));
  try {
    for (const d of ['lmdb', 'sync', 'util']) mkdirSync(join(dir, d));
    writeFileSync(join(dir, 'sync', 'ok.ts'), "import { x } from '../lmdb/a.js';\nexport const y = x;\n");
    writeFileSync(join(dir, 'lmdb', 'bad.ts'), "import type { Syncer } from '../sync/syncer.js';\n// import { z } from '../sync/z.js';\nexport type S = Syncer;\n");
    writeFileSync(join(dir, 'util', 'lazy.ts'), "export const load = () => import('../sync/ok.js');\n");
    const r = check(dir);
    assert.equal(r.status, 1);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 2, r.stderr);
    assert.match(r.stderr, /lmdb\/bad\.ts: src\/lmdb must not import src\/sync \(\.\.\/sync\/syncer\.js\)/);
    assert.match(r.stderr, /util\/lazy\.ts: src\/util must not import src\/sync/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
