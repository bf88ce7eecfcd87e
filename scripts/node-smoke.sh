#!/usr/bin/env bash
# Smoke run on another Node.js line than the suite's (22, the maintenance LTS): a copy of the checkout is
# installed there (npm ci builds the addons against that Node's headers), built, and a few fast tests run.
#   scripts/node-smoke.sh 22 WORKDIR     (WORKDIR is emptied first; TMPDIR for the tests: WORKDIR/tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: node-smoke.sh MAJOR WORKDIR" >&2; exit 2; }
major=$1 work=$2
nodedir=$(bash scripts/node.sh install "$major")
rm -rf "$work"
mkdir -p "$work/src" "$work/tmp"
tar -c --exclude=./node_modules --exclude=./build --exclude=./dist --exclude=./.git . | tar -x -C "$work/src"
cd "$work/src"
export PATH="$nodedir/bin:$PATH" npm_config_nodedir="$nodedir"
echo "smoke run on Node $(node --version): npm ci, build, fast tests"
npm ci --silent >/dev/null
npm run build >/dev/null
TMPDIR="$work/tmp" node --test --test-reporter=dot \
  dist/test/lmdb/env.test.js dist/test/snapshot/codec.test.js dist/test/storage/fs.test.js \
  dist/test/config/config.test.js dist/test/sync/shadow.test.js
node bin/lightningstream.js --help >/dev/null
