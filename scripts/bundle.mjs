// Bundles the compiled CLI (dist/src/cli/main.js, from `tsc`) into dist/bundle/ with esbuild: one start
// loads a few files instead of ~240 modules (yaml alone is 72), which halves the time node spends before
// our code runs (~75 ms to ~35 ms here, for every command). bin/lightningstream.js uses the bundle when it is
// newer than the compiled sources, so a plain `tsc` during development is never shadowed by a stale bundle.
//
// The cloud SDKs stay outside (loaded from node_modules, only when S3 or Azure storage is configured);
// chunks keep dynamically imported parts (dump, verify, the status server...) out of the start-up path.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}/dist/bundle`;
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { main: `${root}/dist/src/cli/main.js` },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  external: ['@aws-sdk/*', '@azure/*', '@smithy/*'],
  // CommonJS dependencies bundled into ESM call require() for node's built-ins.
  banner: { js: "import { createRequire as __lsCreateRequire } from 'node:module'; const require = __lsCreateRequire(import.meta.url);" },
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
});
