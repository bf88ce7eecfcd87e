import { readFileSync } from 'node:fs';
import { packageRoot } from './package-root.js';

/** This package's version, from package.json. */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('package.json', packageRoot(import.meta.url)), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
