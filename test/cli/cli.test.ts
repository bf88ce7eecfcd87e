import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BIN = join(ROOT, 'bin', 'lightningstream.js');
const DIR = mkdtempSync(join(tmpdir(), 'ls-cli-'));

function run(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: DIR, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function config(name: string, text: string): string {
  const file = join(DIR, name);
  writeFileSync(file, text);
  return file;
}

const oneLine = (s: string): void => assert.equal(s.trimEnd().split('\n').length, 1, `expected one line, got:\n${s}`);

test('version prints the package version first, needs no config', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const r = run(['version']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines[0], pkg.version);
  assert.equal(lines[1], `node: ${process.version}`);
  assert.equal(r.stderr, '');
  assert.equal(run(['--version']).stdout.trim(), pkg.version);
});

test('help exits 0 and lists the global flags', () => {
  const r = run(['--help']);
  assert.equal(r.code, 0);
  for (const flag of ['--config', '--instance', '--log-level', '--log-format', '--log-timestamp', '--debug', '--timeout', 'version', 'snapshots']) {
    assert.ok(r.stdout.includes(flag), flag);
  }
});

test('usage errors: one line, exit 2', () => {
  for (const args of [['--bogus'], ['bogus-command'], ['--log-level', 'loud', 'version'], ['--timeout', '5', 'version'], ['version', '--nope']]) {
    const r = run(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    oneLine(r.stderr);
    assert.match(r.stderr, /^lightningstream: /);
  }
});

test('missing config file: one clear line naming the file, exit 1', () => {
  const r = run(['checkconfig', '-c', 'does-not-exist.yaml']);
  assert.equal(r.code, 1);
  oneLine(r.stderr);
  assert.match(r.stderr, /^lightningstream: .*does-not-exist\.yaml.*no such file/);
  const d = run(['checkconfig']); // Go's default name
  assert.match(d.stderr, /lightningstream\.yaml/);
});

test('invalid config: one line naming file, key and line, with --debug too (no stack for an ordinary error)', () => {
  const file = config('bad.yaml', 'lmdbs:\n  main:\n    path: /x\nstorage_poll_interval: 1ms\n');
  const r = run(['checkconfig', '-c', file]);
  assert.equal(r.code, 1);
  oneLine(r.stderr);
  assert.equal(r.stderr, `lightningstream: ${file}: config: storage_poll_interval: too short interval (minimum 100ms) (line 4)\n`);
  const d = run(['checkconfig', '-c', file, '--debug']);
  assert.equal(d.code, 1);
  assert.doesNotMatch(d.stderr, /\n\s+at /);
  assert.match(d.stderr, /^lightningstream: .*too short interval/m);
});

test('valid config: env expansion, flags override the log config, secrets masked with --log-config', () => {
  const file = config('ok.yaml', [
    'instance: ${LS_TEST_INSTANCE}', 'lmdbs:', '  main:', '    path: /x', 'storage:', '  type: s3',
    '  options: { bucket: b, access_key: AKIAEXAMPLE, secret_key: "${LS_TEST_SECRET}" }', 'log: { format: human }', '',
  ].join('\n'));
  const r = run(['checkconfig', '-c', file, '--log-format', 'json', '--log-config'], { LS_TEST_INSTANCE: 'ns9', LS_TEST_SECRET: 'TOPSECRET' });
  assert.equal(r.code, 0, r.stderr);
  const entries = r.stderr.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
  assert.ok(entries.some((e) => e.msg === 'Config is valid' && e.level === 'info'));
  assert.doesNotMatch(r.stderr, /TOPSECRET/);
  assert.match(r.stderr, /instance: ns9/);
});

test('unset env variable: a warning in the log, not an error', () => {
  const file = config('env.yaml', 'instance: ${LS_TEST_UNSET_VAR}\nlmdbs:\n  main:\n    path: /x\n');
  const r = run(['checkconfig', '-c', file, '--log-format', 'logfmt']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /level=warning msg=.*LS_TEST_UNSET_VAR is not set/);
});

test('--log-level error hides info lines', () => {
  const file = config('quiet.yaml', 'lmdbs:\n  main:\n    path: /x\n');
  const r = run(['checkconfig', '-c', file, '--log-level', 'error']);
  assert.equal(r.code, 0);
  assert.equal(r.stderr, '');
});
