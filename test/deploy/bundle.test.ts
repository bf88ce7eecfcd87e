// bin/lightningstream.js runs the bundle (scripts/bundle.mjs) that the build made: a handful of files instead
// of every compiled module, and the commands that load more (the status server, S3) still work from it
// (the suite's CLI tests run through bin/ too).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../sync/helpers.js';

const HOOK = `data:text/javascript,${encodeURIComponent(`
import module from 'node:module';
const urls = [];
module.registerHooks({ load(url, context, next) { urls.push(url); return next(url, context); } });
process.on('exit', () => process.stderr.write('LOADED ' + JSON.stringify(urls) + '\\n'));
`)}`;

function loadedBy(args: string[]): string[] {
  const run = spawnSync(process.execPath, ['--import', HOOK, join(ROOT, 'bin/lightningstream.js'), ...args], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const line = run.stderr.split('\n').find((l) => l.startsWith('LOADED '));
  assert.ok(line, run.stderr);
  return JSON.parse(line.slice('LOADED '.length)) as string[];
}

test('the CLI starts from the bundle, loading a few files instead of the compiled modules', (t) => {
  const bundle = join(ROOT, 'dist/bundle/main.js');
  if (!existsSync(bundle) || statSync(bundle).mtimeMs < statSync(join(ROOT, 'dist/src/cli/main.js')).mtimeMs) {
    t.skip('dist/bundle is missing or older than dist/src (built with tsc alone, not npm run build)');
    return;
  }
  const ours = loadedBy(['--version']).filter((u) => u.startsWith('file:'));
  assert.ok(ours.some((u) => u.endsWith('/dist/bundle/main.js')), ours.join('\n'));
  assert.deepEqual(ours.filter((u) => u.includes('/dist/src/') || u.includes('/node_modules/')), [], 'no compiled module or package is loaded');
  assert.ok(ours.length <= 16, `${ours.length} files loaded`);
});
