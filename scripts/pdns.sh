#!/usr/bin/env bash
# PowerDNS Authoritative 4.7.3 (Debian 12) instances with the LMDB backend on loopback, for the end-to-end
# tests and the README walkthrough. See /work/shared/notes/powerdns.md for the measured facts behind the settings.
#
#   scripts/pdns.sh install              install pdns-server, pdns-backend-lmdb, lmdb-utils, dnsutils, curl
#                                        (no system pdns service is left running afterwards)
#   scripts/pdns.sh start DIR N [--no-wait]
#                                        start instance N (1..9): config DIR/conf, LMDB DIR/db/pdns.lmdb,
#                                        sockets DIR/run, log DIR/pdns.log, PID DIR/pdns.pid,
#                                        DNS 127.0.0.1:(LS_PDNS_DNS_PORT_BASE:-5300 + N),
#                                        API 127.0.0.1:(LS_PDNS_API_PORT_BASE:-8100 + N) with api-key keyN;
#                                        waits (<= LS_PDNS_START_TIMEOUT:-15 s) until API and DNS answer
#   scripts/pdns.sh stop DIR             SIGTERM, up to 10 s, then SIGKILL; exit 0 when not running
#   scripts/pdns.sh status DIR           exit 0 when running (prints the PID), 1 otherwise
#   scripts/pdns.sh env DIR N            print shell exports: eval "$(scripts/pdns.sh env DIR N)"
#                                        (LS_PDNS_CONF, LS_PDNS_DNS_PORT, LS_PDNS_API_PORT, LS_PDNS_API_KEY,
#                                        LS_PDNS_LMDB, plus LS_PDNS_API_URL, LS_PDNS_DIR)
#
# Data: pdnsutil --config-dir="$LS_PDNS_CONF" create-zone example.com ns1.example.com
# Check: dig +norec +short @127.0.0.1 -p "$LS_PDNS_DNS_PORT" www.example.com A
# Start pdns before any other process writes into DIR/db: pdns must create its LMDB itself.
set -euo pipefail

PKGS=(pdns-server pdns-backend-lmdb lmdb-utils dnsutils curl)
DNS_BASE="${LS_PDNS_DNS_PORT_BASE:-5300}"
API_BASE="${LS_PDNS_API_PORT_BASE:-8100}"
START_TIMEOUT="${LS_PDNS_START_TIMEOUT:-15}"
STOP_TIMEOUT="${LS_PDNS_STOP_TIMEOUT:-10}"

usage() {
  sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit "${1:-2}"
}

PROG_NAME=pdns.sh
PDNS_SERVER=pdns_server
INSTALL_HINT="scripts/pdns.sh install"
# die, now, since, abspath, check_n, running_pid, alive, api_ok, dns_ok, port_busy, cmd_start/stop/status/env
# shellcheck source=lib/pdns-instance.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/pdns-instance.sh"

# PIDs of pdns_server processes started without a config dir of their own (so on /etc/powerdns: port 53,
# /var/lib/powerdns/pdns.lmdb), i.e. what a package-started system service would look like.
default_conf_pdns_pids() {
  local p cmd
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null)" = "pdns_server" ] || continue
    cmd="$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" || continue
    case "$cmd" in *config-dir*|*config-name*) ;; *) echo "${p#/proc/}" ;; esac
  done
}

cmd_install() {
  local missing=() p before_pids=" " installed_server=0
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    case " ${missing[*]} " in *" pdns-server "*) installed_server=1 ;; esac
    # Serialize concurrent installs (policy-rc.d juggling below) and keep services from being started:
    # policy-rc.d exit 101 makes invoke-rc.d refuse any start (pdns-server's postinst trigger runs
    # 'invoke-rc.d pdns restart'; its systemd unit is enabled, which only matters under systemd).
    exec 9>/var/lock/lightningstream-pdns-install.lock
    flock -w 600 9 || die "timed out waiting for another pdns.sh install"
    local policy=/usr/sbin/policy-rc.d backup=""
    if [ -e "$policy" ]; then
      backup="$(mktemp /usr/sbin/policy-rc.d.lsbak.XXXXXX)"
      cp -p "$policy" "$backup"
    fi
    # shellcheck disable=SC2064
    trap "if [ -n '$backup' ]; then mv -f '$backup' '$policy'; else rm -f '$policy'; fi" EXIT
    printf '#!/bin/sh\n# lightningstream scripts/pdns.sh install: start no services\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    before_pids=" $(default_conf_pdns_pids | tr '\n' ' ') "
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if [ -n "$backup" ]; then mv -f "$backup" "$policy"; else rm -f "$policy"; fi
    trap - EXIT
  fi
  # The packages' maintainer scripts must not leave a system pdns running (on /etc/powerdns: port 53).
  # With policy-rc.d denying starts and no systemd, none is started; should one appear anyway, stop it.
  # Only processes that appeared during our own apt-get run are touched: other people's pdns are not ours.
  local pids="" left=""
  if [ "${#missing[@]}" -gt 0 ]; then
    for p in $(default_conf_pdns_pids); do
      case "$before_pids" in *" $p "*) ;; *) pids+="$p " ;; esac
    done
  fi
  if [ -n "$pids" ]; then
    echo "stopping the system pdns_server started by the package install: $pids"
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
      systemctl stop pdns.service || true
    fi
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 100); do
      left=""
      for p in $pids; do ! alive "$p" || left+="$p "; done
      [ -n "$left" ] || break
      sleep 0.1
    done
    # shellcheck disable=SC2086
    [ -z "$left" ] || kill -KILL $left 2>/dev/null || true
  fi
  if [ "$installed_server" = 1 ]; then
    # We installed pdns-server: keep its systemd unit (enabled by the postinst) from starting at a later boot
    # under systemd. Harmless without systemd. A pdns-server installed before us is left as its owner set it.
    deb-systemd-helper disable pdns.service >/dev/null 2>&1 || true
  fi
  pids="$(default_conf_pdns_pids | tr '\n' ' ')"
  [ -z "$pids" ] || echo "pdns.sh: note: pdns_server running on the default /etc/powerdns config (pid $pids), not ours: left alone" >&2
  for p in pdns_server pdnsutil dig mdb_stat curl; do
    command -v "$p" >/dev/null || die "$p not found after install"
  done
  echo "pdns ready: $(pdns_server --version 2>&1 | grep -m1 -o 'PowerDNS Authoritative Server [^ ]*' || true)"
}

PDNS_CONF_BACKEND="lmdb-shards=1
lmdb-sync-mode=sync
lmdb-random-ids=yes
lmdb-map-size=1000"

[ $# -ge 1 ] || usage
cmd="$1"; shift
case "$cmd" in
  install) [ $# -eq 0 ] || usage; cmd_install ;;
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  env) cmd_env "$@" ;;
  -h|--help|help) usage 0 ;;
  *) usage ;;
esac
