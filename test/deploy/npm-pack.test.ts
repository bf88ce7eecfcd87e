// The npm package: `npm pack` of the checkout holds what an install needs (and no tests), `npm install -g` of the
// tarball into a fresh prefix builds the addons, and the installed `lightningstream` runs --help and a one-shot
// sync of two LMDBs through fs storage, from a directory outside the checkout.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { NativeApp, ROOT, writeConfig } from '../sync/helpers.js';

const run = promisify(execFile);
const npmMissing = spawnSync('npm', ['--version']).status !== 0;
if (npmMissing) {
  if (process.env.CI === 'true') throw new Error('npm package test: npm is not on PATH');
  console.log('# skipping the npm package test: npm is not on PATH');
}

describe('npm package (npm pack, npm install -g)', { skip: npmMissing, timeout: 900_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-npm-pack-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const prefix = join(dir, 'prefix');
  // The installed bin's `#!/usr/bin/env node` finds the Node that runs this test (the suite's, 24 under test.sh).
  const env = { ...process.env, PATH: `${join(prefix, 'bin')}${delimiter}${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` };
  let tarball = '';

  it('packs bin, the compiled sources, the addon sources and the assets, no tests', async () => {
    // --ignore-scripts: `prepare` (tsc) would rewrite dist/ under the tests running beside this one; test.sh built it.
    const packed = await run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], { cwd: ROOT, env });
    tarball = join(dir, packed.stdout.trim().split('\n').pop()!);
    assert.match(tarball, /lightningstream-\d+\.\d+\.\d+\.tgz$/);
    const files = (await run('tar', ['-tzf', tarball])).stdout.split('\n').filter(Boolean);
    for (const f of ['package/bin/lightningstream.js', 'package/dist/src/cli/main.js', 'package/dist/bundle/main.js', 'package/binding.gyp', 'package/native/lmdb_addon.c',
      'package/native/deflate_addon.c', 'package/src/snapshot/snapshot.proto']) assert.ok(files.includes(f), `${f} is not in the package`);
    assert.deepEqual(files.filter((f) => /^package\/(test|dist\/test|node_modules|build)\//.test(f)), []);
  });

  it('installs with npm install -g into a fresh prefix (the addons built there) and runs --help', async () => {
    assert.ok(tarball, 'no tarball (the previous test failed)');
    await run('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--allow-scripts=lightningstream', tarball],
      { cwd: dir, env, timeout: 840_000 });
    const pkg = join(prefix, 'lib/node_modules/lightningstream');
    assert.deepEqual(readdirSync(join(pkg, 'build/Release')).filter((f) => f.endsWith('.node')).sort(), ['deflate_addon.node', 'lmdb_addon.node']);
    const help = await run(join(prefix, 'bin/lightningstream'), ['--help'], { cwd: dir, env });
    assert.match(help.stdout, /^Usage: lightningstream /);
    assert.match(help.stdout, /\bsync\b/);
  });

  it('the installed lightningstream syncs two LMDBs through a bucket (one-shot)', async () => {
    const bin = join(prefix, 'bin/lightningstream');
    const storage = { type: 'fs', options: { root_path: join(dir, 'bucket') } };
    const a = new NativeApp(join(dir, 'a'));
    a.put('data', 'from-a', 'hello', BigInt(Date.now()) * 1_000_000n);
    a.close();
    const aCfg = writeConfig(dir, { instance: 'a', lmdbPath: join(dir, 'a'), storage });
    const bCfg = writeConfig(dir, { instance: 'b', lmdbPath: join(dir, 'b'), storage });
    await run(bin, ['-c', aCfg, 'sync', '--only-once'], { cwd: dir, env, timeout: 120_000 });
    await run(bin, ['-c', bCfg, 'sync', '--only-once'], { cwd: dir, env, timeout: 120_000 });
    const b = new NativeApp(join(dir, 'b'));
    try {
      assert.equal(b.contents().get('data/from-a')?.value, 'hello');
    } finally {
      b.close();
    }
  });
});
