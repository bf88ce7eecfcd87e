// `--minimum-pid N` in a fresh PID namespace (`unshare --pid --fork --mount-proc`, needs root), where the command
// starts as PID 2: a real `lightningstream sync` must map its LMDB (data.mdb in /proc/PID/maps) from a process
// whose PID is at least N; with LIGHTNINGSTREAM_NO_PID_CHECK set, from the process that was started; N above 200 is
// capped to 200 (as Go); SIGTERM to the started process reaches the one that holds the LMDB (Go's does not: its
// first process dies and the child runs on), and a child's exit code is the command's. With LS_REFERENCE_BIN set, Go v1.0 runs the same scenario and must pass the same checks.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { BIN, PlainApp } from '../sync/helpers.js';

interface Probe {
  /** PID of the command as started (in the namespace). */
  started: number;
  /** PIDs whose maps hold the LMDB's data.mdb. */
  holders: number[];
  exit: number;
  log: string;
}

/** Whether this machine can make PID namespaces (root and util-linux unshare). */
function canUnshare(): boolean {
  const r = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { stdio: 'ignore' });
  return r.status === 0;
}

// Runs inside the namespace: starts the command in the background, waits (up to 60 s) until some process maps
// the LMDB, prints the PIDs, then SIGTERMs the started process and prints its exit code. With PROBE_CTRL_C=1 the
// command gets a process group of its own and the whole group gets SIGINT, as from a terminal's Ctrl-C.
const PROBE = `
data="$1"; shift
if [ "\${PROBE_CTRL_C:-}" = 1 ]; then setsid "$@" & else "$@" & fi
main=$!
holders=
for _ in $(seq 1 1200); do
  holders=$(grep -lF "$data" /proc/[0-9]*/maps 2>/dev/null | cut -d/ -f3 | sort -n | tr '\\n' ' ')
  [ -n "$holders" ] && break
  kill -0 $main 2>/dev/null || break
  sleep 0.05
done
echo "PROBE started=$main holders=$holders"
if [ "\${PROBE_CTRL_C:-}" = 1 ]; then kill -INT -- -$main 2>/dev/null; else kill -TERM $main 2>/dev/null; fi
wait $main
echo "PROBE exit=$?"
`;

describe('--minimum-pid in a fresh PID namespace', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-minimum-pid-'));
  const lmdbPath = join(dir, 'db');
  const dataFile = join(lmdbPath, 'data.mdb');
  const config = join(dir, 'ls.yaml');
  const probe = join(dir, 'probe.sh');
  const usable = canUnshare();
  const goBin = process.env.LS_REFERENCE_BIN;

  before(() => {
    mkdirSync(lmdbPath);
    const app = new PlainApp(lmdbPath);
    app.put('plain', 'k1', 'v1');
    app.close();
    writeFileSync(probe, PROBE);
    writeFileSync(config, [
      'instance: minimum-pid',
      `lmdbs: { main: { path: ${lmdbPath}, schema_tracks_changes: false } }`,
      `storage: { type: fs, options: { root_path: ${join(dir, 'bucket')} } }`,
    ].join('\n'));
  });

  after(() => {
    if (process.env.LS_KEEP_TEST_DIR !== '1') rmSync(dir, { recursive: true, force: true });
  });

  function inNamespace(command: string[], env: Record<string, string> = {}): Promise<Probe> {
    return new Promise((resolve, reject) => {
      const child = spawn('unshare', ['--pid', '--fork', '--mount-proc', 'bash', probe, dataFile, ...command], {
        env: { ...process.env, NODE_NO_WARNINGS: '1', ...env }, timeout: 90_000,
      });
      const out: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => out.push(d));
      child.on('error', reject);
      child.on('close', () => {
        const log = Buffer.concat(out).toString('utf8');
        const m = /^PROBE started=(\d+) holders=([\d ]*)$/m.exec(log);
        const e = /^PROBE exit=(\d+)$/m.exec(log);
        if (!m || !e) {
          reject(new Error(`the probe did not report:\n${log}`));
          return;
        }
        resolve({ started: Number(m[1]), holders: m[2]!.trim().split(/\s+/).filter(Boolean).map(Number), exit: Number(e[1]), log });
      });
    });
  }

  const ours = (...args: string[]) => [process.execPath, BIN, '-c', config, '--log-format', 'logfmt', ...args];
  const go = (...args: string[]) => [goBin!, '-c', config, '--log-format', 'logfmt', ...args];

  function skipUnlessUsable(t: TestContext): boolean {
    if (!usable) t.skip('cannot create a PID namespace here (needs root and unshare): --minimum-pid not tested');
    return usable;
  }

  function assertHolder(p: Probe, atLeast: number, who: string): void {
    assert.ok(p.started < atLeast, `${who}: the command started as PID ${p.started}, below ${atLeast} (else nothing is tested)\n${p.log}`);
    assert.equal(p.holders.length, 1, `${who}: exactly one process maps the LMDB\n${p.log}`);
    assert.ok(p.holders[0]! >= atLeast, `${who}: the LMDB is mapped by PID ${p.holders[0]}, below ${atLeast}\n${p.log}`);
    // Go's first process dies of the SIGTERM (exit 143) and leaves its child running; ours passes it on.
    if (who === 'ours') assert.equal(p.exit, 0, `${who}: SIGTERM to the started process ends the command cleanly\n${p.log}`);
  }

  it('without the flag the LMDB is mapped by the process as started (PID 2)', async (t) => {
    if (!skipUnlessUsable(t)) return;
    const p = await inNamespace(ours('sync'));
    assert.deepEqual(p.holders, [p.started], p.log);
    t.diagnostic(`ours without --minimum-pid: started ${p.started}, LMDB mapped by ${p.holders.join(',')}`);
  });

  it('--minimum-pid 50: the process that maps the LMDB has a PID of at least 50 (Go too)', async (t) => {
    if (!skipUnlessUsable(t)) return;
    const p = await inNamespace(ours('--minimum-pid', '50', 'sync'));
    assertHolder(p, 50, 'ours');
    assert.match(p.log, /level=info msg="Spawning processes to increase PID" n=48 pid=2/);
    assert.match(p.log, /level=info msg="PID satisfies minimum" minimum_pid=50 pid=\d+/);
    t.diagnostic(`ours --minimum-pid 50: started ${p.started}, LMDB mapped by ${p.holders.join(',')}`);
    if (!goBin) {
      t.diagnostic('LS_REFERENCE_BIN is not set: Go comparison skipped');
      return;
    }
    const g = await inNamespace(go('--minimum-pid', '50', 'sync'));
    assertHolder(g, 50, 'go');
    t.diagnostic(`go --minimum-pid 50: started ${g.started}, LMDB mapped by ${g.holders.join(',')}`);
  });

  it('a Ctrl-C (SIGINT to the process group) stops the re-run command cleanly, once', async (t) => {
    if (!skipUnlessUsable(t)) return;
    const p = await inNamespace(ours('--minimum-pid', '50', 'sync'), { PROBE_CTRL_C: '1' });
    assertHolder(p, 50, 'ours');
    assert.equal(p.log.match(/msg="Received SIGINT, shutting down/g)?.length, 1, p.log);
    assert.doesNotMatch(p.log, /again, exiting immediately/);
  });

  it('LIGHTNINGSTREAM_NO_PID_CHECK: no new process, a warning (Go too)', async (t) => {
    if (!skipUnlessUsable(t)) return;
    const env = { LIGHTNINGSTREAM_NO_PID_CHECK: '1' };
    for (const [who, cmd] of [['ours', ours], ...(goBin ? [['go', go] as const] : [])] as const) {
      const p = await inNamespace(cmd('--minimum-pid', '50', 'sync'), env);
      assert.deepEqual(p.holders, [p.started], `${who}\n${p.log}`);
      assert.match(p.log, /level=warning msg="PID does NOT satisfy minimum, but requested to skip check" minimum_pid=50 pid=2/, who);
      assert.doesNotMatch(p.log, /Spawning processes/, who);
    }
  });

  it('a minimum above 200 is capped to 200 with a warning (Go too)', async (t) => {
    if (!skipUnlessUsable(t)) return;
    for (const [who, cmd] of [['ours', ours], ...(goBin ? [['go', go] as const] : [])] as const) {
      const p = await inNamespace(cmd('--minimum-pid', '5000', 'sync'));
      assertHolder(p, 200, who);
      assert.match(p.log, /level=warning msg="Adjusted minimum PID to limit" minimum_pid=200 pid=2/, who);
      t.diagnostic(`${who} --minimum-pid 5000: LMDB mapped by ${p.holders.join(',')}`);
    }
  });

  it("the re-run command's exit code is the command's", (t) => {
    if (!skipUnlessUsable(t)) return;
    const r = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', ...ours('--minimum-pid', '50', 'drop-shadow', '--only-db', 'nope')],
      { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /msg="Starting new instance" pid=1 /);
    assert.match(r.stderr, /msg="Exiting with exit code" exitcode=1 pid=1/);
    assert.match(r.stderr, /^lightningstream: no LMDB named "nope" in the config/m);
  });
});
