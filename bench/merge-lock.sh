#!/usr/bin/env bash
# The write lock of a merge, for two builds side by side (prints figures; not a test):
#
#   bash bench/merge-lock.sh OTHER_CHECKOUT [runs=3] [values=dns]
#
# A has 1M entries (bench/harness.ts values: dns or random), B received A's first snapshot; then 1% of A's entries
# change (every 100th key) and A stores again. Per run and per build (this checkout, then OTHER_CHECKOUT, each
# built), B is reset to its state before and receives A's new snapshot (`receive --only-once`), then the same
# snapshot again (nothing to write); printed: lock_ms, commit_ms and plan_ms of the `snapshot loaded` log line.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
other="$(cd "${1:?usage: bench/merge-lock.sh OTHER_CHECKOUT [runs] [values]}" && pwd)"
runs="${2:-3}"
values="${3:-dns}"
work="$(mktemp -d /tmp/ls-merge-lock.XXXXXX)"
trap 'rm -rf "$work"' EXIT
node --input-type=module -e "
import { fillLmdb, writeConfig } from '$here/dist/bench/harness.js';
import { execSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
const d = '$work', ls = 'node $here/bin/lightningstream.js';
mkdirSync(d + '/a');
fillLmdb(d + '/a', { entries: 1_000_000, values: '$values', mapSize: 4 * 2 ** 30, append: true });
for (const i of ['a', 'b']) writeConfig(d, { instance: i, lmdb: d + '/' + i, bucket: d + '/bucket', mapSize: '4GB' });
execSync(ls + ' -c ' + d + '/a.yaml sync --only-once 2>/dev/null; ' + ls + ' -c ' + d + '/b.yaml receive --only-once 2>/dev/null');
fillLmdb(d + '/a', { entries: 1_000_000, values: '$values', mapSize: 4 * 2 ** 30, every: 100, rev: 1 });
execSync(ls + ' -c ' + d + '/a.yaml sync --only-once 2>/dev/null; cp ' + d + '/b/data.mdb ' + d + '/b-before.mdb');
"
figures() {
  grep '"snapshot loaded"' | tail -1 | node -e "
    let t = ''; process.stdin.on('data', (c) => (t += c)).on('end', () => {
      const r = JSON.parse(t);
      console.log('lock_ms', r.lock_ms, 'commit_ms', r.commit_ms ?? '-', 'plan_ms', r.plan_ms ?? '-', 'changed', r.changed);
    });"
}
for r in $(seq "$runs"); do
  for build in "$here" "$other"; do
    cp "$work/b-before.mdb" "$work/b/data.mdb"
    echo "run $r $build, 1% changed: $(node "$build/bin/lightningstream.js" -c "$work/b.yaml" receive --only-once 2>&1 | figures)"
    echo "run $r $build, the same again: $(node "$build/bin/lightningstream.js" -c "$work/b.yaml" receive --only-once 2>&1 | figures)"
  done
done
