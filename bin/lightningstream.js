#!/usr/bin/env node
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
