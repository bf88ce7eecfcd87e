#!/usr/bin/env node
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
const { main } = await import('../dist/src/cli/main.js');
process.exitCode = await main(process.argv);
