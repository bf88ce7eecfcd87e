// The shipped Prometheus alerting rules (deploy/prometheus, README "Alerting rules"): `promtool check rules`
// accepts them, `promtool test rules` runs their unit tests (each alert fires for a failing instance and not
// for a healthy one), and every metric name their expressions use is one our /metrics exposes.
// promtool comes from Debian's `prometheus` package (scripts/install-deps.sh); without it the promtool part is
// skipped with a printed line, except under CI (CI=true), where its absence fails.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/log/logger.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import type { LmdbSyncContext } from '../../src/sync/context.js';
import type { SyncRun } from '../../src/sync/runner.js';
import { SyncStatus } from '../../src/sync/status.js';
import type { Syncer } from '../../src/sync/syncer.js';
import { instrumentStorage } from '../../src/status/instrument.js';
import { StatusServer } from '../../src/status/server.js';
import { NativeApp, ROOT } from '../sync/helpers.js';
import { get } from './helpers.js';
import { parsePrometheusText } from './prom.js';

const DIR = join(ROOT, 'deploy', 'prometheus');
const RULES = join(DIR, 'lightningstream-alerts.yml');
const TESTS = join(DIR, 'lightningstream-alerts.test.yml');

const promtoolFound = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;
const promtoolSkip = promtoolFound ? false : 'promtool is not installed (Debian package prometheus; scripts/install-deps.sh installs it)';
if (!promtoolFound) {
  if (process.env.CI === 'true') throw new Error('promtool is missing under CI: scripts/install-deps.sh must install the Debian package prometheus');
  console.log(`# alert rules: the promtool checks are skipped: ${promtoolSkip}`);
}

function promtool(args: string[]): { code: number | null; output: string } {
  const r = spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

interface RuleFile { groups: Array<{ name: string; rules: Array<{ alert: string; expr: string }> }> }

describe('Prometheus alerting rules (deploy/prometheus)', { timeout: 60_000 }, () => {
  it('promtool check rules accepts them', { skip: promtoolSkip }, () => {
    const r = promtool(['check', 'rules', RULES]);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /SUCCESS: 12 rules found/);
  });

  it('promtool test rules: every alert fires where it must and only there', { skip: promtoolSkip }, () => {
    const r = promtool(['test', 'rules', TESTS]);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /SUCCESS/);
  });

  it('every alert has a unit test, and every metric the rules use is on our /metrics', async () => {
    const rules = (parse(readFileSync(RULES, 'utf8')) as RuleFile).groups.flatMap((g) => g.rules);
    const tested = new Set([...readFileSync(TESTS, 'utf8').matchAll(/alertname: (\w+)/g)].map((m) => m[1]));
    assert.deepEqual(rules.map((r) => r.alert).filter((a) => !tested.has(a)), [], 'alerts without a unit test');

    const dir = mkdtempSync(join(tmpdir(), 'ls-alert-rules-'));
    const app = new NativeApp(join(dir, 'lmdb'));
    const config = parseConfig([
      'instance: a',
      `lmdbs: { main: { path: ${JSON.stringify(join(dir, 'lmdb'))}, schema_tracks_changes: true } }`,
      'storage: { type: memory }',
      'http: { address: "127.0.0.1:0" }',
    ].join('\n'), {});
    const run: SyncRun = {
      config, instance: 'a', storage: instrumentStorage(new MemoryStorage()),
      lmdbs: [{ name: 'main', env: app.env, syncer: { status: new SyncStatus('main', 'a') } as unknown as Syncer, ctx: { mode: { kind: 'native' } } as unknown as LmdbSyncContext }],
    };
    const server = await StatusServer.start(run, createLogger({ level: 'error', stream: { write: () => true } }));
    try {
      const exposed = new Set(parsePrometheusText((await get(`http://127.0.0.1:${server.address().port}/metrics`)).text).keys());
      const used = new Set(rules.flatMap((r) => [...r.expr.matchAll(/\b(?:lightningstream|lmdb|storage)_[a-z0-9_]+\b/g)].map((m) => m[0])));
      assert.ok(used.size >= 14, `${used.size} metric names found in the rules`);
      assert.deepEqual([...used].filter((name) => !exposed.has(name)).sort(), [], 'metric names the rules use that /metrics does not expose');
    } finally {
      await server.stop();
      app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
