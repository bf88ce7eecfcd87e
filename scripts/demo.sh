#!/usr/bin/env bash
# `npm run demo [-- --s3]`: three lightningstream instances syncing through a shared storage, with a
# scripted story printed as it happens (src/demo/demo.ts). Works from a fresh clone: installs the
# Debian packages, the npm dependencies and builds whatever is missing or out of date first.
# Arguments are passed on to the demo (--s3, --timeout SECONDS, --keep, --help).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'demo: %s\n' "$*"; }

# newer_than REF PATH...: true when REF is missing or any file under PATH... is newer than it.
newer_than() {
  local ref=$1
  shift
  [ -e "$ref" ] || return 0
  [ -n "$(find "$@" -newer "$ref" -type f -print -quit 2>/dev/null)" ]
}

if [ -f scripts/install-deps.sh ]; then
  bash scripts/install-deps.sh
fi

if [ ! -d node_modules ] || newer_than node_modules/.package-lock.json package.json package-lock.json; then
  say 'installing the npm dependencies (npm ci)'
  npm ci
elif newer_than build/Release/lmdb_addon.node native binding.gyp; then
  say 'building the native LMDB addon'
  npm run install
fi

if newer_than dist/src/demo/demo.js src bench test tsconfig.json package.json; then
  say 'building (npm run build)'
  npm run build
fi

exec node dist/src/demo/demo.js "$@"
