import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from './package-root.js';

const require = createRequire(import.meta.url);

/**
 * Loads a C addon built by node-gyp (binding.gyp) into build/Release, or undefined when it is not
 * there. This file runs as dist/src/util/addon.js, inside the bundle in dist/bundle/, or as
 * src/util/addon.ts compiled elsewhere (the project root two levels up).
 */
export function loadAddon(name: string): { addon: unknown; path: string } | { addon: undefined; looked: string[] } {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [fileURLToPath(new URL(`build/Release/${name}.node`, packageRoot(import.meta.url))), join(here, `../../build/Release/${name}.node`)];
  for (const path of candidates) {
    if (existsSync(path)) return { addon: require(path), path };
  }
  return { addon: undefined, looked: candidates };
}
