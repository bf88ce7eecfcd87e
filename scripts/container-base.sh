#!/usr/bin/env bash
# A local stand-in for the base image the Dockerfile names (docker.io/library/node:24-bookworm-slim), for machines
# that reach no container registry: a Debian 12 minbase root (debootstrap, from the apt mirror this machine uses)
# with the official Node.js 24 build (scripts/node.sh: bin/node, include/node) and npm in /usr/local, as the
# official image has them. Imported into podman's local storage under the official name.
#
#   scripts/container-base.sh            build and tag it unless podman already holds an image of that name
#
# The root file system is cached as a tarball in LS_CONTAINER_CACHE (default /var/cache/lightningstream-test), so a
# second machine set-up or a removed image costs an import (seconds), not a debootstrap (a minute or more).
# podman runs with the settings of scripts/podman.sh (runc, no default ulimits).
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=docker.io/library/node:24-bookworm-slim
NPM_VERSION=11.19.1
die() { echo "container-base.sh: $*" >&2; exit 1; }
podman() { bash scripts/podman.sh "$@"; }

if podman image exists "$IMAGE"; then exit 0; fi
nodedir=$(bash scripts/node.sh install 24)
node_version=$(bash scripts/node.sh version 24)
cache="${LS_CONTAINER_CACHE:-/var/cache/lightningstream-test}"
tarball="$cache/node-$node_version-npm-$NPM_VERSION-bookworm-slim.tar"
mkdir -p "$cache"
exec 9>"$tarball.lock"
flock -w 1800 9 || die "timed out waiting for another build of $tarball"
if [ ! -f "$tarball" ]; then
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
  work=$(mktemp -d "$cache/.bookworm.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  echo "container-base.sh: debootstrap bookworm from $mirror (about a minute)"
  debootstrap --variant=minbase bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
  rm -rf "$work/root/var/lib/apt/lists/"* "$work/root/var/cache/apt/archives/"*.deb
  mkdir -p "$work/root/usr/local/bin" "$work/root/usr/local/include" "$work/root/usr/local/lib/node_modules"
  cp "$nodedir/bin/node" "$work/root/usr/local/bin/node"
  cp -a "$nodedir/include/node" "$work/root/usr/local/include/node"
  (cd "$work" && npm pack --silent "npm@$NPM_VERSION" >/dev/null) || die "npm pack npm@$NPM_VERSION failed"
  mkdir "$work/root/usr/local/lib/node_modules/npm"
  tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$work/root/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/root/usr/local/bin/npx"
  # The official image's user (uid 1000), which some derived images expect.
  chroot "$work/root" /usr/sbin/useradd --uid 1000 --user-group --create-home --shell /bin/bash node
  tar -C "$work/root" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
fi
podman import -q --change 'CMD ["node"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=$node_version" "$tarball" "$IMAGE" >/dev/null
echo "container-base.sh: $IMAGE built locally (Debian 12 minbase, Node $node_version, npm $NPM_VERSION)"
