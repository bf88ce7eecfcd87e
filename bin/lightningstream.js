#!/usr/bin/env node
import { statSync } from 'node:fs';
import module from 'node:module';

// Node 22.1+: keep V8's compiled code of our modules and the SDKs' across runs (in the OS temp dir), so a
// start compiles only what changed: the CLI's one-shot commands and restarts start measurably sooner.
module.enableCompileCache?.();
// The AWS SDK warns on every S3 command that its releases after January 2027 will need Node 22; the
// version pinned in package.json supports Node 20, so that one warning is noise for operators.
const emitWarning = process.emitWarning;
process.emitWarning = function (warning, ...rest) {
  const text = typeof warning === 'string' ? warning : warning?.message ?? '';
  if (text.startsWith('NodeVersionSupportWarning:')) return;
  return emitWarning.call(process, warning, ...rest);
};
// The bundle (scripts/bundle.mjs: a few files instead of ~240 modules, half the start-up) unless the compiled
// sources are newer (a `tsc` after the last bundle, during development).
const mtime = (path) => statSync(new URL(path, import.meta.url), { throwIfNoEntry: false })?.mtimeMs ?? -1;
const entry = mtime('../dist/bundle/main.js') >= mtime('../dist/src/cli/main.js') ? '../dist/bundle/main.js' : '../dist/src/cli/main.js';
const { main } = await import(entry);
process.exitCode = await main(process.argv);
