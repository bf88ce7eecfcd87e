#!/usr/bin/env bash
# PowerDNS Authoritative 4.9.17 built from vendor/pdns-auth-4.9.17.tar.gz (Debian 12 only packages 4.7.3), with
# the LMDB backend in Lightning Stream mode (native headers, schema 5), for the native-mode end-to-end test.
#
#   scripts/pdns49.sh install            install the Debian build dependencies when missing, build pdns 4.9.17
#                                        into LS_PDNS49_PREFIX (default /var/cache/lightningstream-test/pdns-4.9.17,
#                                        outside the checkout) unless the build there is complete and was made
#                                        from this tarball (sha256) with this recipe; ~5 min on 2 cores,
#                                        build output in PREFIX.build.log (LS_PDNS49_JOBS: make -j, default 2)
#   scripts/pdns49.sh start DIR N [--no-wait]
#                                        start instance N (1..9): config DIR/conf, LMDB DIR/db/pdns.lmdb,
#                                        sockets DIR/run, log DIR/pdns.log, PID DIR/pdns.pid,
#                                        DNS 127.0.0.1:(LS_PDNS49_DNS_PORT_BASE:-5310 + N),
#                                        API 127.0.0.1:(LS_PDNS49_API_PORT_BASE:-8110 + N) with api-key keyN;
#                                        waits (<= LS_PDNS49_START_TIMEOUT:-15 s) until API and DNS answer
#   scripts/pdns49.sh stop DIR           SIGTERM, up to 10 s, then SIGKILL; exit 0 when not running
#   scripts/pdns49.sh status DIR         exit 0 when running (prints the PID), 1 otherwise
#   scripts/pdns49.sh env DIR N          print shell exports: eval "$(scripts/pdns49.sh env DIR N)"
#                                        (as scripts/pdns.sh env, plus LS_PDNS_PDNSUTIL, LS_PDNS_SERVER,
#                                        LS_PDNS_PREFIX: the 4.9.17 binaries)
#
# Data: "$LS_PDNS_PDNSUTIL" --config-dir="$LS_PDNS_CONF" create-zone example.com ns1.example.com
# Check: dig +norec +short @127.0.0.1 -p "$LS_PDNS_DNS_PORT" www.example.com A
# Start pdns before any other process writes into DIR/db: pdns must create its LMDB itself.
#
# LMDB layout written by 4.9.17 with lmdb-lightning-stream=yes (seen with mdb_stat -a / mdb_dump -a on a real
# instance; test/pdns/pdns-native.test.ts checks it again):
#   - pdns.lmdb (+ -lock) at start: DBIs domains_v5, domains_v5_0, keydata_v5, keydata_v5_0, metadata_v5,
#     metadata_v5_0, tsig_v5, tsig_v5_0 and pdns (schemaversion = u32 BE 5, shards = u32 BE 1, uuid = 16 random
#     bytes, different per instance);
#   - the shard pdns.lmdb-0 (+ -0-lock), DBI records_v5, only appears with the first zone, as with 4.7.3 (so the
#     shard bootstrap zone is still needed; with flagged deletes it leaves deleted markers behind);
#   - no DBI has a flag (mdb_dump: no duplicates/integerkey line): domains_v5 etc. are keyed by the 4-byte
#     big-endian random id, the _0 indexes by u16 BE length + reversed name (labels \0-terminated) + the id,
#     records_v5 by domain id + name + qtype;
#   - every value in every DBI (pdns and the _0 indexes, whose values are header-only, included) starts with the
#     24-byte native header: 8-byte BE timestamp (ns), 8-byte BE pdns txn id, version 0, flags, reserved, 0
#     extension blocks; a deleted zone/RRset/key leaves a header-only value with flags 0x01 (deleted);
#   - both files are opened with lmdb-map-size (4.7.3 opened the shard with 16000 MB whatever the setting).
set -euo pipefail

VERSION=4.9.17
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TARBALL="${LS_PDNS49_TARBALL:-$HERE/../vendor/pdns-auth-$VERSION.tar.gz}"
PREFIX="${LS_PDNS49_PREFIX:-/var/cache/lightningstream-test/pdns-$VERSION}"
JOBS="${LS_PDNS49_JOBS:-2}"
DNS_BASE="${LS_PDNS49_DNS_PORT_BASE:-5310}"
API_BASE="${LS_PDNS49_API_PORT_BASE:-8110}"
START_TIMEOUT="${LS_PDNS49_START_TIMEOUT:-15}"
STOP_TIMEOUT="${LS_PDNS49_STOP_TIMEOUT:-10}"

# Build dependencies (vendor/README.md), plus what the instances and tests use at run time.
PKGS=(g++ make autoconf automake libtool pkg-config ragel bison flex
  liblmdb-dev libboost-dev libboost-program-options-dev libboost-serialization-dev libboost-system-dev
  libboost-thread-dev libboost-test-dev libssl-dev libluajit-5.1-dev libcurl4-openssl-dev python3-yaml
  lmdb-utils dnsutils curl)
CONFIGURE_ARGS=(--with-modules='lmdb bind' --without-dynmodules --disable-lua-records --with-lua=luajit
  --without-libsodium --without-libdecaf --disable-dependency-tracking)
# Part of the cache key with the tarball's sha256: change it when the way of building changes.
RECIPE="recipe 2: BUILDER_VERSION=$VERSION autoreconf -i; configure ${CONFIGURE_ARGS[*]}; make ext modules pdns, install ext pdns"

usage() {
  sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit "${1:-2}"
}

PROG_NAME=pdns49.sh
PDNS_SERVER="$PREFIX/sbin/pdns_server"
PDNSUTIL="$PREFIX/bin/pdnsutil"
INSTALL_HINT="scripts/pdns49.sh install"
# die, now, since, abspath, check_n, running_pid, alive, api_ok, dns_ok, port_busy, cmd_start/stop/status/env
# shellcheck source=lib/pdns-instance.sh
. "$HERE/lib/pdns-instance.sh"

STAMP="$PREFIX/.lightningstream-build"

# The stamp's content for this tarball and recipe.
build_key() {
  local sha
  sha="$(sha256sum "$TARBALL" | cut -d' ' -f1)"
  printf 'pdns-auth-%s.tar.gz sha256 %s\n%s\n' "$VERSION" "$sha" "$RECIPE"
}

# The cached build is there, made from this key, and its binaries run.
build_complete() {
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$1" ] && [ -x "$PDNSUTIL" ] && [ -x "$PDNS_SERVER" ] || return 1
  # (not piped into grep -q: with pipefail, pdns_server's SIGPIPE after grep's early exit would fail the check)
  local version
  version="$("$PDNS_SERVER" --version 2>&1)" || return 1
  [[ "$version" == *"PowerDNS Authoritative Server $VERSION "* ]]
}

install_packages() {
  local missing=() p
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ "${#missing[@]}" -gt 0 ] || return 0
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The build in WORK (an empty dir), run as `pdns49.sh __build WORK`: a process of its own, so that set -e
# stops it at the first failing step (errexit is off inside the caller's `if`). Output: the caller's log.
cmd_build() {
  local d
  tar -xzf "$TARBALL" -C "$1"
  cd "$1/pdns-auth-$VERSION"
  echo "=== autoreconf"
  BUILDER_VERSION="$VERSION" autoreconf -i
  # The Makefile makes the API's swagger JSON in a pip venv (network): make it with Debian's python3-yaml
  # instead (/usr/bin/python3: the python3 first on PATH may be another one, without yaml), before configure
  # so that configure sees it, and newer than the YAML copy and requirements.txt so make keeps it.
  echo "=== swagger JSON"
  cp docs/http-api/swagger/authoritative-api-swagger.yaml pdns/api-swagger.yaml
  /usr/bin/python3 pdns/convert-yaml-to-json.py pdns/api-swagger.yaml pdns/api-swagger.json
  touch pdns/api-swagger.json
  echo "=== configure"
  PYTHON=/usr/bin/python3 ./configure --prefix="$PREFIX" "${CONFIGURE_ARGS[@]}"
  # docs/ (man pages) needs PyPI: not built
  for d in ext modules pdns; do
    echo "=== make -C $d"
    make -j"$JOBS" -C "$d"
    # modules/ is not installed: lmdb and bind are linked into pdns_server and pdnsutil, and its install only
    # adds lib/pdns/lib*backend.so copies, which `pdns_server --version` dlopens on top of the built-in ones
    # (it then aborts at exit: "free(): double free detected")
    [ "$d" = modules ] || make -C "$d" install
  done
  # (an empty module dir keeps `pdns_server --version` from logging that it cannot open it)
  mkdir -p "$PREFIX/lib/pdns"
}

cmd_install() {
  install_packages
  [ -f "$TARBALL" ] || die "$TARBALL not found"
  local key
  key="$(build_key)"
  if build_complete "$key"; then
    echo "pdns $VERSION ready (cached build in $PREFIX)"
    return 0
  fi
  mkdir -p "$(dirname "$PREFIX")"
  # one build at a time per prefix (a test's before() may call install while scripts/test.sh does)
  exec 9>"$PREFIX.lock"
  flock -w 1800 9 || die "timed out waiting for another pdns49.sh install of $PREFIX"
  if build_complete "$key"; then
    echo "pdns $VERSION ready (built in $PREFIX meanwhile by another install)"
    return 0
  fi
  local t0 log="$PREFIX.build.log" work
  t0="$(now)"
  work="$(mktemp -d "${TMPDIR:-/tmp}/pdns49-build.XXXXXX")"
  echo "building pdns $VERSION into $PREFIX (make -j$JOBS, log $log)"
  rm -rf "$PREFIX"
  : >"$log"
  if ! bash "$HERE/pdns49.sh" __build "$work" >>"$log" 2>&1 || ! "$PDNS_SERVER" --version >>"$log" 2>&1; then
    rm -rf "$work" "$PREFIX"
    echo "$PROG_NAME: build failed after $(since "$t0")s; tail of $log:" >&2
    tail -n 60 "$log" >&2
    exit 1
  fi
  rm -rf "$work"
  printf '%s' "$key" >"$STAMP"
  build_complete "$key" || die "build finished but $PREFIX is not complete (see $log)"
  echo "pdns $VERSION built in $(since "$t0")s into $PREFIX"
}

PDNS_CONF_BACKEND="# native Lightning Stream headers; requires one shard, implies random ids and flagged (not removed) deletes
lmdb-lightning-stream=yes
lmdb-shards=1
lmdb-random-ids=yes
lmdb-sync-mode=sync
lmdb-map-size=1000"

env_extra() {
  printf 'export LS_PDNS_PREFIX=%q\n' "$PREFIX"
  printf 'export LS_PDNS_SERVER=%q\n' "$PDNS_SERVER"
  printf 'export LS_PDNS_PDNSUTIL=%q\n' "$PDNSUTIL"
}

[ $# -ge 1 ] || usage
cmd="$1"; shift
case "$cmd" in
  install) [ $# -eq 0 ] || usage; cmd_install ;;
  __build) [ $# -eq 1 ] || usage; cmd_build "$1" ;;
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  env) cmd_env "$@" ;;
  -h|--help|help) usage 0 ;;
  *) usage ;;
esac
