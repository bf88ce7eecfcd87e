#!/usr/bin/env bash
# podman with the settings the test machines need: runc (crun refuses to start containers on hybrid cgroups:
# "cgroups in hybrid mode not supported") and a containers.conf without default ulimits (setting them is refused
# there: "setrlimit RLIMIT_NOFILE: Operation not permitted"). Both work on other machines as well.
#   scripts/podman.sh ARGS...     (LS_CONTAINERS_CONF: that containers.conf instead)
set -euo pipefail
conf="${LS_CONTAINERS_CONF:-/var/cache/lightningstream-test/containers.conf}"
if [ ! -f "$conf" ]; then
  mkdir -p "$(dirname "$conf")"
  printf '[containers]\ndefault_ulimits = []\n' >"$conf.tmp.$$"
  mv "$conf.tmp.$$" "$conf"
fi
export CONTAINERS_CONF="$conf"
exec podman --runtime runc "$@"
