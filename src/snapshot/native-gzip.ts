import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** native/deflate_addon.c: one gzip member per call, compressed by libdeflate on the libuv pool. */
export interface DeflateAddon {
  gzip(input: Buffer, level: number): Promise<Buffer>;
}

function load(): DeflateAddon | undefined {
  // dist/src/snapshot/native-gzip.js: the project root is three levels up.
  const here = dirname(fileURLToPath(import.meta.url));
  const path = join(here, '../../../build/Release/deflate_addon.node');
  if (!existsSync(path)) return undefined;
  return createRequire(import.meta.url)(path) as DeflateAddon;
}

/** The libdeflate addon, or undefined when it was not built (then zlib compresses). */
export const deflateAddon: DeflateAddon | undefined = load();
