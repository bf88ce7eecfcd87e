import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

/**
 * Loads a C addon built by node-gyp (binding.gyp) into build/Release, or undefined when it is not
 * there. This file runs as dist/src/util/addon.js (tests) or src/util/addon.ts compiled elsewhere: the
 * project root is three (or two) levels up.
 */
export function loadAddon(name: string): { addon: unknown; path: string } | { addon: undefined; looked: string[] } {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, `../../../build/Release/${name}.node`), join(here, `../../build/Release/${name}.node`)];
  for (const path of candidates) {
    if (existsSync(path)) return { addon: require(path), path };
  }
  return { addon: undefined, looked: candidates };
}
