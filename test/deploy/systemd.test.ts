// The systemd unit deploy/systemd/lightningstream@.service: systemd-analyze verify finds nothing to say about it
// (in a root of its own that holds the unit, the host's system units and the ExecStart binary), its offline
// security review keeps a low exposure, the LMDB directory stays writable under ProtectSystem=strict, and its
// ExecStart command line is one our CLI runs. No systemd manager runs here, so the unit is not started.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { NativeApp, ROOT, runLightningstream, writeConfig } from '../sync/helpers.js';

const UNIT = join(ROOT, 'deploy/systemd/lightningstream@.service');
const SYSTEM_UNITS = '/usr/lib/systemd/system';

function missingTools(): string | undefined {
  if (spawnSync('systemd-analyze', ['--version']).status !== 0) return 'systemd-analyze is not installed (Debian package systemd)';
  if (!existsSync(join(SYSTEM_UNITS, 'sysinit.target'))) return `no system units in ${SYSTEM_UNITS}`;
  return undefined;
}
const missing = missingTools();
if (missing) {
  if (process.env.CI === 'true') throw new Error(`systemd unit test: ${missing} (scripts/install-deps.sh installs it)`);
  console.log(`# skipping the systemd unit test: ${missing}`);
}

/** The values of one key of the unit, in order (the unit has no continuation lines). */
function directive(text: string, key: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
}

describe('systemd unit lightningstream@.service', { skip: missing !== undefined, timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-systemd-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const text = readFileSync(UNIT, 'utf8');
  const execStart = directive(text, 'ExecStart');

  /** A root for systemd-analyze: the host's system units, the given unit, and an executable at ExecStart's path. */
  function root(name: string, unitText: string): string {
    const r = join(dir, name);
    cpSync(SYSTEM_UNITS, join(r, SYSTEM_UNITS), { recursive: true, verbatimSymlinks: true });
    mkdirSync(join(r, 'etc/systemd/system'), { recursive: true });
    writeFileSync(join(r, 'etc/systemd/system/lightningstream@.service'), unitText);
    const bin = execStart[0]!.split(' ')[0]!;
    mkdirSync(join(r, bin, '..'), { recursive: true });
    writeFileSync(join(r, bin), '#!/bin/sh\n');
    chmodSync(join(r, bin), 0o755);
    return r;
  }
  const analyze = (...args: string[]) => {
    const r = spawnSync('systemd-analyze', args, { encoding: 'utf8' });
    return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
  };

  it('systemd-analyze verify has nothing to say about an instance', () => {
    const r = analyze('verify', `--root=${root('good', text)}`, 'lightningstream@main.service');
    assert.deepEqual(r, { status: 0, output: '' });
  });

  it('systemd-analyze verify does speak up about a broken copy (the check can fail)', () => {
    const broken = text.replace('ProtectSystem=strict', 'ProtectSystem=bogus').replace('\n[Service]\n', '\n[Service]\nFrobnicate=yes\n');
    const r = analyze('verify', `--root=${root('broken', broken)}`, 'lightningstream@main.service');
    assert.match(r.output, /protect system value.*bogus/i);
    assert.match(r.output, /Unknown key 'Frobnicate'/);
  });

  it('is sandboxed (offline security review), yet the LMDB directory is writable', () => {
    const r = analyze('security', '--offline=yes', `--root=${root('security', text)}`, 'lightningstream@main.service');
    const m = /Overall exposure level for lightningstream@main\.service: (\d+\.\d+)/.exec(r.output);
    assert.ok(m, r.output);
    console.log(`# systemd-analyze security: exposure ${m[1]} (10 = unprotected)`);
    assert.ok(Number(m[1]) <= 2.5, `exposure ${m[1]}:\n${r.output}`);
    assert.deepEqual(directive(text, 'ProtectSystem'), ['strict']);
    assert.deepEqual(directive(text, 'StateDirectory'), ['lightningstream']);
    assert.deepEqual(directive(text, 'ReadWritePaths'), ['/var/lib/lightningstream']);
    assert.deepEqual(directive(text, 'Restart'), ['on-failure']);
    // V8's JIT needs writable executable memory: MemoryDenyWriteExecute would kill the process at start.
    assert.deepEqual(directive(text, 'MemoryDenyWriteExecute'), []);
  });

  it("ExecStart is a command line our CLI runs (one sync pass with the instance's config)", async () => {
    assert.equal(execStart.length, 1);
    const [bin, ...args] = execStart[0]!.split(' ');
    assert.equal(bin, '/usr/local/bin/lightningstream');
    const configArg = args.indexOf('/etc/lightningstream/%i.yaml');
    assert.ok(configArg > 0 && args[configArg - 1] === '--config', execStart[0]);
    const lmdbPath = join(dir, 'lmdb');
    new NativeApp(lmdbPath).close();
    args[configArg] = writeConfig(dir, { instance: 'unit', lmdbPath, storage: { type: 'fs', options: { root_path: join(dir, 'bucket') } } });
    const r = await runLightningstream(dir, 'unit', [...args, '--only-once']);
    assert.equal(r.code, 0, r.log);
  });
});
