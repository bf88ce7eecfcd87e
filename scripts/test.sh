#!/usr/bin/env bash
# The project's whole test suite, from a fresh Debian 12 machine: installs what the tests need,
# starts the services they use, runs every test, and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/pdns.sh install
# PowerDNS 4.9.17 for the native-mode test, built from vendor/ (~5 min on 2 cores; cached outside the checkout)
bash scripts/pdns49.sh install
npm ci
npm run build

export LS_TEST_WORKDIR="${LS_TEST_WORKDIR:-$(mktemp -d /tmp/lightningstream-test.XXXXXX)}"
started_ceph=0
cleanup() {
  if [ "$started_ceph" = 1 ]; then bash scripts/ceph.sh stop "$LS_TEST_WORKDIR/ceph" || true; fi
}
trap cleanup EXIT

bash scripts/ceph.sh start "$LS_TEST_WORKDIR/ceph"
started_ceph=1
# shellcheck disable=SC1091
source "$LS_TEST_WORKDIR/ceph/env.sh"   # exports LS_S3_ENDPOINT, LS_S3_ACCESS_KEY, LS_S3_SECRET_KEY

mapfile -t tests < <(find dist/test -name "*.test.js" | sort)
node --test --test-concurrency=2 "${tests[@]}"
