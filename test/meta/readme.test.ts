// Every code block of README.md is exercised, so the README cannot drift from what the project does.
// Each block is preceded by a marker saying how:
//   <!-- readme-test: run -->               run it with bash at the repository root; it must exit 0
//   <!-- readme-test: config -->            a config file: `checkconfig` must accept it
//   <!-- readme-test: config-fragment -->   a part of a config (e.g. a storage block): valid inside a minimal config
//   <!-- readme-test: in FILE -->           every command line of it is in FILE (which a test or CI runs)
//   <!-- readme-test: test-command -->      the test command itself: .ci/run must run it (it cannot run itself)
//   <!-- readme-test: walkthrough NAME -->  the blocks of NAME run in order as one bash script (other ports,
//                                           another directory); lines ending in `# → X` must print X
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe as suite, it } from 'node:test';
import { BIN, ROOT } from '../sync/helpers.js';

interface Block {
  line: number;
  lang: string;
  kind: string;
  arg: string;
  text: string;
}

function readmeBlocks(): Block[] {
  const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) body.push(lines[i]!);
    let j = start - 1;
    while (j >= 0 && lines[j]!.trim() === '') j--;
    const marker = /^<!-- readme-test: (\S+)\s*(.*?)\s*-->$/.exec(lines[j] ?? '');
    blocks.push({ line: start + 1, lang: open[1]!, kind: marker?.[1] ?? '', arg: marker?.[2] ?? '', text: body.join('\n') });
  }
  return blocks;
}

const dir = mkdtempSync(join(tmpdir(), 'ls-readme-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const blocks = readmeBlocks();
const commandLines = (text: string) => text.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter((l) => l !== '' && !l.startsWith('#'));

/** Runs a bash script to completion (output captured, killed after timeoutMs). */
function bash(script: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: ROOT, env: { ...process.env, ...env }, detached: true });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

suite('README', { timeout: 900_000 }, () => {
  it('every code block has a readme-test marker', () => {
    const unmarked = blocks.filter((b) => b.kind === '');
    assert.deepEqual(unmarked.map((b) => `README.md:${b.line}`), [], 'blocks without a <!-- readme-test: ... --> marker');
    const kinds = new Set(['run', 'config', 'config-fragment', 'in', 'test-command', 'walkthrough']);
    for (const b of blocks) assert.ok(kinds.has(b.kind), `README.md:${b.line}: unknown marker ${b.kind}`);
  });

  it('config blocks are accepted by checkconfig', () => {
    for (const b of blocks.filter((x) => x.kind === 'config' || x.kind === 'config-fragment')) {
      const text = b.kind === 'config' ? b.text : `lmdbs:\n  main:\n    path: ${join(dir, 'lmdb')}\n${b.text}\n`;
      const file = join(dir, `block-${b.line}.yaml`);
      writeFileSync(file, text);
      const r = spawnSync(process.execPath, [BIN, 'checkconfig', '-c', file], {
        encoding: 'utf8', env: { ...process.env, S3_ACCESS_KEY: 'AKIAEXAMPLE', S3_SECRET_KEY: 'example-secret',
          AZURE_ACCOUNT_KEY: Buffer.alloc(64, 7).toString('base64') },
      });
      assert.equal(r.status, 0, `README.md:${b.line}: ${r.stderr}`);
    }
  });

  it('blocks marked "in FILE" are what FILE runs, and the test command is what CI runs', () => {
    for (const b of blocks.filter((x) => x.kind === 'in' || x.kind === 'test-command')) {
      const file = b.kind === 'in' ? b.arg : '.ci/run';
      const target = readFileSync(join(ROOT, file), 'utf8');
      const lines = b.kind === 'in' ? commandLines(b.text) : commandLines(b.text).map((l) => l);
      for (const line of lines) {
        const inCi = b.kind === 'test-command' && /bash scripts\/test\.sh/.test(target) && line === 'bash scripts/test.sh';
        assert.ok(inCi || target.split('\n').some((t) => t.trim() === line), `README.md:${b.line}: "${line}" is not in ${file}`);
      }
    }
  });

  for (const b of blocks.filter((x) => x.kind === 'run')) {
    it(`README.md:${b.line} runs: ${commandLines(b.text).join('; ')}`, async () => {
      const r = await bash(b.text, {}, 300_000);
      assert.equal(r.code, 0, `README.md:${b.line} exited ${r.code}:\n${r.output.slice(-3000)}`);
    });
  }

  const walkthroughs = new Map<string, Block[]>();
  for (const b of blocks.filter((x) => x.kind === 'walkthrough')) walkthroughs.set(b.arg, [...(walkthroughs.get(b.arg) ?? []), b]);
  for (const [name, parts] of walkthroughs) {
    const needs = ['pdns_server', 'dig', 'radosgw'].filter((cmd) => spawnSync('which', [cmd]).status !== 0);
    it(`walkthrough ${name} (${parts.length} blocks) runs as written and prints what it says`, { skip: needs.length > 0 && !process.env.CI ? `needs ${needs.join(', ')}` : false }, async () => {
      const work = join(dir, name);
      // The same script on ports of its own (the suite's pdns and Ceph tests use the README's), in a temp dir.
      const ports: Array<[RegExp, string]> = [
        [/\b530([12])\b/g, '546$1'], [/\b810([12])\b/g, '816$1'], [/\b850([12])\b/g, '856$1'], [/\b850\$n\b/g, '856$n'],
      ];
      let script = parts.map((p) => p.text).join('\n');
      script = script.split('/tmp/ls-pdns-demo').join(work);
      for (const [re, to] of ports) script = script.replace(re, to);
      // Each `# → X` line must print X (retried for 30 s: propagation takes a few seconds).
      script = script.split('\n').map((line) => {
        const m = /^(.*?)\s+# → (.*?)(?:\s+\(.*\))?$/.exec(line);
        if (!m) return line;
        const cmd = m[1]!.replace(/'/g, `'\\''`);
        const want = m[2]!.replace(/'/g, `'\\''`);
        return `readme_expect '${cmd}' '${want}'`;
      }).join('\n');
      const prelude = [
        'readme_expect() { local got; for _ in $(seq 60); do got=$(bash -c "$1" 2>&1 || true); [ "$got" = "$2" ] && { echo "ok: $1 -> $got"; return 0; }; sleep 0.5; done;',
        '  echo "README: \\"$1\\" printed \\"$got\\", expected \\"$2\\""; return 1; }',
        `export D='${work}'`,
      ].join('\n');
      const env = {
        LS_PDNS_DNS_PORT_BASE: '5460', LS_PDNS_API_PORT_BASE: '8160',
        LS_CEPH_RGW_PORT: '7591', LS_CEPH_MON_PORT: '3391', LS_CEPH_OSD_PORTS: '7900-7999',
      };
      // On failure, stop whatever the script started (its own step 8 did not run).
      const stop = `for f in ${work}/lightningstream*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done; ` +
        `bash scripts/pdns.sh stop ${work}/pdns1 || true; bash scripts/pdns.sh stop ${work}/pdns2 || true; ` +
        `[ -d ${work}/ceph ] && bash scripts/ceph.sh stop ${work}/ceph || true; rm -rf ${work}`;
      const r = await bash(`${prelude}\n${script}`, env, 600_000);
      if (r.code !== 0 || existsSync(work)) await bash(stop, env, 120_000);
      assert.equal(r.code, 0, `walkthrough ${name} failed:\n${r.output.slice(-4000)}`);
      const checks = r.output.split('\n').filter((l) => l.startsWith('ok: '));
      console.log(`# README walkthrough ${name}: ${checks.length} outputs as documented`);
      assert.ok(checks.length >= 4, r.output.slice(-2000));
    });
  }
});
