// `lightningstream completion bash|zsh|fish` and `lightningstream docs`, run as real processes in a directory
// without a config file, checked against the command tree of buildProgram() (not against a list kept here): the
// real shells (bash, zsh, fish; a missing one is skipped with a printed line) load each script and, after the words
// of every command path, offer every subcommand and every visible option of that command; option values offer the
// declared choices, and file names for other values. `docs` has one section per command with its options. With
// LS_REFERENCE_BIN set, every command Go's `docs` documents is documented by ours too.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { commandTree, flatten, visibleOptions } from '../../src/cli/command-tree.js';
import { buildProgram } from '../../src/cli/main.js';
import { BIN } from '../sync/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'ls-completion-'));
const tree = commandTree(buildProgram({ exitCode: 0 }));
const nodes = flatten(tree);

function ls(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 30_000, env: { ...process.env, NODE_NO_WARNINGS: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function haveShell(shell: string): boolean {
  return spawnSync(shell, ['-c', 'exit 0'], { stdio: 'ignore' }).status === 0;
}

function skipWithout(t: TestContext, shell: string): boolean {
  if (haveShell(shell)) return false;
  t.skip(`${shell} is not installed: its completion script is not tested`);
  return true;
}

/** Runs a shell script; fails the test on a non-zero exit. */
function runShell(shell: string, script: string): string {
  const file = join(dir, `driver.${shell}`);
  writeFileSync(file, script);
  const r = spawnSync(shell, [file], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `${shell}: ${r.stderr}`);
  return r.stdout;
}

/** For each command path: the candidates the POSIX core prints after its words (bash and zsh share it). */
function coreCandidates(shell: 'bash' | 'zsh', scriptFile: string): Map<string, string[]> {
  const q = (w: string) => `'${w}'`;
  const lines = [
    ...(shell === 'zsh' ? ['autoload -U compinit', 'compinit -u -D'] : []),
    `source ${q(scriptFile)}`,
    ...nodes.map((n) => `echo "PATH ${n.path.join(' ')}|$(__lightningstream_candidates ${n.path.map(q).join(' ')})"`),
  ];
  const out = runShell(shell, `${lines.join('\n')}\n`);
  const result = new Map<string, string[]>();
  for (const m of out.matchAll(/^PATH ([^|]*)\|(.*)$/gm)) result.set(m[1]!, m[2]!.split(/\s+/).filter(Boolean));
  return result;
}

function expectedAt(n: (typeof nodes)[number]): string[] {
  const names = n.children.map((c) => c.command.name());
  for (const o of [...visibleOptions(n.command), ...visibleOptions(tree.command)]) {
    if (o.long) names.push(o.long);
    if (o.short) names.push(o.short);
  }
  return names;
}

describe('completion scripts and docs from the command tree', { timeout: 120_000 }, () => {
  after(() => {
    if (process.env.LS_KEEP_TEST_DIR !== '1') rmSync(dir, { recursive: true, force: true });
  });

  for (const shell of ['bash', 'zsh'] as const) {
    it(`${shell}: every command path offers its subcommands and options; values offer choices or files`, (t) => {
      if (skipWithout(t, shell)) return;
      const r = ls('completion', shell);
      assert.equal(r.code, 0, r.stderr);
      const file = join(dir, `lightningstream.${shell}`);
      writeFileSync(file, r.stdout);
      const got = coreCandidates(shell, file);
      assert.equal(got.size, nodes.length, 'one answer per command path');
      for (const n of nodes) {
        const offered = new Set(got.get(n.path.join(' ')));
        for (const name of expectedAt(n)) assert.ok(offered.has(name), `${shell}: after "${n.path.join(' ')}": ${name} is offered`);
      }
      // Option values: choices, files; an option's value is not taken for a command.
      const values = runShell(shell, [
        ...(shell === 'zsh' ? ['autoload -U compinit', 'compinit -u -D'] : []),
        `source '${file}'`,
        'echo "A $(__lightningstream_candidates --log-format)"',
        'echo "B $(__lightningstream_candidates snapshots dump --format)"',
        'echo "C $(__lightningstream_candidates -c)"',
        'echo "D $(__lightningstream_candidates -c sync)"',
        'echo "E $(__lightningstream_candidates -c x.yaml snapshots)"',
      ].join('\n'));
      assert.match(values, /^A human logfmt json$/m);
      const dump = nodes.find((n) => n.path.join(' ') === 'snapshots dump')!;
      const format = visibleOptions(dump.command).find((o) => o.long === '--format');
      assert.ok(format?.choices, 'snapshots dump --format declares choices');
      assert.match(values, new RegExp(`^B ${format.choices.join(' ')}$`, 'm'));
      assert.match(values, /^C __files__$/m);
      assert.match(values, /^D checkconfig /m, 'the value of -c is not a command');
      assert.match(values, /^E dump get help list put remove /m);
      if (shell === 'bash') {
        // The real completion entry point, as bash calls it.
        const out = runShell('bash', `source '${file}'\nCOMP_WORDS=(lightningstream snapshots l); COMP_CWORD=2; _lightningstream; echo "R \${COMPREPLY[*]}"\n` +
          `complete -p lightningstream\n`);
        assert.match(out, /^R list$/m);
        assert.match(out, /^complete -o default -F _lightningstream lightningstream$/m);
      }
    });
  }

  it('fish: every command path offers its subcommands and long options (complete -C)', (t) => {
    if (skipWithout(t, 'fish')) return;
    const r = ls('completion', 'fish');
    assert.equal(r.code, 0, r.stderr);
    const file = join(dir, 'lightningstream.fish');
    writeFileSync(file, r.stdout);
    const lines = [`source '${file}'`];
    for (const n of nodes) {
      const words = ['lightningstream', ...n.path].join(' ');
      lines.push(`echo "PATH ${n.path.join(' ')}"`, `complete -C'${words} '`, `complete -C'${words} --'`);
    }
    lines.push('echo "PATH values"', `complete -C'lightningstream --log-format '`);
    const out = runShell('fish', `${lines.join('\n')}\n`);
    const sections = new Map<string, Set<string>>();
    let current: Set<string> | undefined;
    for (const line of out.split('\n')) {
      const p = /^PATH (.*)$/.exec(line);
      if (p) sections.set(p[1]!, (current = new Set()));
      else if (line && current) current.add(line.split('\t')[0]!);
    }
    for (const n of nodes) {
      const offered = sections.get(n.path.join(' '));
      assert.ok(offered);
      for (const name of expectedAt(n).filter((x) => !/^-[^-]/.test(x))) {
        assert.ok(offered.has(name), `fish: after "${n.path.join(' ')}": ${name} is offered`);
      }
    }
    assert.deepEqual([...sections.get('values')!].sort(), ['human', 'json', 'logfmt']);
  });

  it('an unknown shell is a usage error', () => {
    const r = ls('completion', 'powershell');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^lightningstream: unknown command 'powershell' \(see --help\)$/m);
  });

  it('docs: one section per command, in tree order, each with its options; no config needed', () => {
    const r = ls('docs');
    assert.equal(r.code, 0, r.stderr);
    const titles = [...r.stdout.matchAll(/^## (.+)$/gm)].map((m) => m[1]!);
    assert.deepEqual(titles, nodes.map((n) => ['lightningstream', ...n.path].join(' ')));
    const sections = r.stdout.split(/^## /m).slice(1);
    nodes.forEach((n, i) => {
      const text = sections[i]!;
      if (n.command.description()) assert.ok(text.includes(n.command.description()), `${titles[i]}: description`);
      for (const o of visibleOptions(n.command)) {
        assert.ok(text.includes(`  ${o.term} `), `${titles[i]}: option ${o.term}`);
      }
    });
  });

  it("docs: every command Go's docs has is documented", (t) => {
    const goBin = process.env.LS_REFERENCE_BIN;
    if (!goBin) {
      t.skip('LS_REFERENCE_BIN is not set: Go comparison skipped');
      return;
    }
    const conf = join(dir, 'go.yaml');
    writeFileSync(conf, `lmdbs: { main: { path: ${join(dir, 'lmdb')} } }\nstorage: { type: fs, options: { root_path: ${join(dir, 'bucket')} } }\n`);
    const g = spawnSync(goBin, ['-c', conf, 'docs'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(g.status, 0, g.stderr);
    const goTitles = [...g.stdout.matchAll(/^## (.+)$/gm)].map((m) => m[1]!);
    assert.ok(goTitles.length > 10, g.stdout);
    const ours = new Set(nodes.map((n) => ['lightningstream', ...n.path].join(' ')));
    const missing = goTitles.filter((title) => !ours.has(title));
    assert.deepEqual(missing, [], `commands Go documents that ours lacks: ${missing.join(', ')}`);
  });
});
