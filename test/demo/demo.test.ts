// Runs the real demo (three lightningstream sync processes, fs storage) end to end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const DEMO = join(ROOT, 'dist', 'src', 'demo', 'demo.js');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Runs the demo; onOutput sees the output so far and may act on the child (e.g. interrupt it). */
function runDemo(args: string[], timeoutMs: number, onOutput?: (text: string, kill: (s: NodeJS.Signals) => void) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.FORCE_COLOR;
    const child = spawn(process.execPath, [DEMO, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (b: Buffer): void => {
      output += b.toString('utf8');
      onOutput?.(output, (s) => child.kill(s));
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

/** The work dir and child pids the demo printed. */
function parseRun(output: string): { dir: string; pids: number[] } {
  const dir = /work dir\s+(\S+)/.exec(output)?.[1] ?? '';
  const pids = [...output.matchAll(/^\s+\w+\s+pid (\d+)/gm)].map((m) => Number(m[1]));
  return { dir, pids };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('demo: changes arrive on the other instances, the data ends identical, exit 0', { timeout: 60_000 }, async () => {
  const r = await runDemo(['--timeout', '45'], 55_000);
  assert.equal(r.code, 0, r.output);
  // eslint-disable-next-line no-control-regex -- the ESC of ANSI colour sequences is what is checked
  assert.doesNotMatch(r.output, /\x1b\[/, 'no colours when stdout is not a terminal');
  // each kind of change is reported arriving elsewhere with its delay
  assert.match(r.output, /^\s+(beta|gamma)\s+<- alpha\s+set\s+user:1 = "Ada"\s+after \d+\.\d\d s$/m);
  assert.match(r.output, /^\s+(alpha|gamma)\s+<- beta\s+set\s+user:2 = "Grace Hopper"\s+after \d+\.\d\d s$/m);
  assert.match(r.output, /^\s+(alpha|beta)\s+<- gamma\s+del\s+user:3\s+after \d+\.\d\d s$/m);
  assert.match(r.output, /last writer wins: every instance holds color = "green" \(beta's write/);
  assert.doesNotMatch(r.output, /!!/, 'no anomaly reported');
  const summary = /changes\s+(\d+) keys written in (\d+) commits; (\d+) arrivals/.exec(r.output);
  assert.ok(summary, r.output);
  assert.equal(Number(summary[1]), 11);
  assert.ok(Number(summary[3]) >= 12, `at least one arrival per instance and step: ${summary[3]}`);
  assert.match(r.output, /delay\s+p50 \d+\.\d\d s, p90 \d+\.\d\d s, max \d+\.\d\d s/);
  assert.match(r.output, /identical\s+yes: 7 keys \(6 values, 1 deletion marker\)/);
  assert.match(r.output, /stopped\s+alpha exit status 0, beta exit status 0, gamma exit status 0/);
  assert.match(r.output, /^Demo OK in /m);
  const { dir, pids } = parseRun(r.output);
  assert.equal(pids.length, 3);
  for (const pid of pids) assert.ok(!alive(pid), `sync process ${pid} still running`);
  assert.ok(dir && !existsSync(dir), 'work dir removed after a successful run');
});

test('demo: Ctrl-C stops the sync processes cleanly and exits 130', { timeout: 40_000 }, async () => {
  let sent = false;
  const r = await runDemo([], 30_000, (text, kill) => {
    if (!sent && text.includes('1. alpha writes')) {
      sent = true;
      kill('SIGINT');
    }
  });
  assert.ok(sent, r.output);
  assert.equal(r.code, 130, r.output);
  assert.match(r.output, /interrupted: cleaning up/);
  assert.match(r.output, /stopped\s+alpha exit status 0, beta exit status 0, gamma exit status 0/);
  const { dir, pids } = parseRun(r.output);
  assert.equal(pids.length, 3);
  for (const pid of pids) assert.ok(!alive(pid), `sync process ${pid} still running`);
  assert.ok(dir && !existsSync(dir), 'work dir removed after an interruption');
});

test('demo: usage errors exit 2', { timeout: 10_000 }, async () => {
  const r = await runDemo(['--bogus'], 8_000);
  assert.equal(r.code, 2);
  assert.match(r.output, /usage: /);
});
