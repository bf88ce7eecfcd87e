#!/usr/bin/env node
// Import boundaries: every folder of src/ may import only from folders below it in LAYERS (and from
// itself), so the architecture reads bottom-up and has no cycles. Hand-written because it is 40 lines
// and needs only the import specifiers (eslint-plugin-import/boundaries would be a dependency tree).
//
//   node scripts/check-imports.mjs [SRC_DIR]     exit 0 when clean, 1 with one line per violation
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { URL } from 'node:url';

/** Lowest first. */
export const LAYERS = ['util', 'lmdb', 'snapshot', 'config', 'log', 'storage', 'sync', 'ops', 'status', 'cli', 'demo'];

const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"`;]*?\sfrom\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (path.endsWith('.ts')) yield path;
  }
}

export function violations(srcDir) {
  const root = resolve(srcDir);
  const out = [];
  for (const file of files(root)) {
    const from = relative(root, file).split(sep)[0];
    const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2];
      if (!spec.startsWith('.')) continue;
      const target = relative(root, resolve(dirname(file), spec)).split(sep)[0];
      if (target === from || target.startsWith('..')) continue;
      const [a, b] = [LAYERS.indexOf(from), LAYERS.indexOf(target)];
      if (a < 0) out.push(`${relative(process.cwd(), file)}: folder src/${from} is not in the layer list`);
      else if (b < 0 || b > a) out.push(`${relative(process.cwd(), file)}: src/${from} must not import src/${target} (${spec}); layers, lowest first: ${LAYERS.join(' < ')}`);
    }
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const found = violations(process.argv[2] ?? join(dirname(new URL(import.meta.url).pathname), '../src'));
  for (const line of found) console.error(line);
  process.exitCode = found.length > 0 ? 1 : 0;
}
