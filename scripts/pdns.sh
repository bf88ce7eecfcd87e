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
die() { echo "pdns.sh: $*" >&2; exit 1; }
now() { echo "${EPOCHREALTIME/,/.}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# Absolute path without requiring it to exist.
abspath() {
  case "$1" in
    /*) printf '%s' "$1" ;;
    *) printf '%s/%s' "$PWD" "$1" ;;
  esac
}

check_n() {
  [[ "$1" =~ ^[1-9]$ ]] || die "instance number must be 1..9, got '$1'"
}

# PID from DIR/pdns.pid when that process is alive and is a pdns_server; empty otherwise.
running_pid() {
  local pidfile="$1/pdns.pid" pid
  [ -f "$pidfile" ] || return 0
  pid="$(tr -dc '0-9' <"$pidfile")"
  [ -n "$pid" ] || return 0
  [ -r "/proc/$pid/comm" ] || return 0
  case "$(cat "/proc/$pid/comm" 2>/dev/null)" in pdns_server|setsid) ;; *) return 0 ;; esac
  # a zombie is not running
  [ "$(awk '/^State:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)" != "Z" ] || return 0
  echo "$pid"
}

alive() {
  [ -d "/proc/$1" ] && [ "$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null)" != "Z" ]
}

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

write_conf() {
  local dir="$1" n="$2" dns_port="$3" api_port="$4"
  cat >"$dir/conf/pdns.conf" <<EOF
# written by scripts/pdns.sh start (instance $n); regenerated at every start
launch=lmdb
lmdb-filename=$dir/db/pdns.lmdb
lmdb-shards=1
lmdb-sync-mode=sync
lmdb-random-ids=yes
lmdb-map-size=1000
local-address=127.0.0.1
local-port=$dns_port
webserver=yes
webserver-address=127.0.0.1
webserver-port=$api_port
api=yes
api-key=key$n
socket-dir=$dir/run
daemon=no
guardian=no
setuid=
setgid=
# no outbound security-status DNS query at start (Debian's packaged pdns.conf does the same)
security-poll-suffix=
# make changes written by another process visible at once:
cache-ttl=0
query-cache-ttl=0
negquery-cache-ttl=0
zone-cache-refresh-interval=0
zone-metadata-cache-ttl=0
dnssec-key-cache-ttl=0
EOF
}

api_ok() {
  local port="$1" key="$2"
  if command -v curl >/dev/null; then
    curl -fsS --max-time 1 -o /dev/null -H "X-API-Key: $key" "http://127.0.0.1:$port/api/v1/servers/localhost" 2>/dev/null
  else
    # bash /dev/tcp fallback: expect an HTTP 200 status line
    local line
    {
      exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
      printf 'GET /api/v1/servers/localhost HTTP/1.0\r\nHost: 127.0.0.1\r\nX-API-Key: %s\r\n\r\n' "$key" >&3
      IFS= read -r -t 1 line <&3 || { exec 3<&-; return 1; }
      exec 3<&-
      [[ "$line" == HTTP/1.?\ 200* ]]
    } 2>/dev/null
  fi
}

dns_ok() {
  # any answer (REFUSED for an unknown zone included) makes dig exit 0
  dig +norec +time=1 +tries=1 @127.0.0.1 -p "$1" ls-pdns-probe.invalid SOA >/dev/null 2>&1
}

# Something answers on 127.0.0.1:PORT (TCP)?
port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

cmd_start() {
  [ $# -ge 2 ] || usage
  local dir n wait=1
  dir="$(abspath "$1")"; n="$2"; shift 2
  check_n "$n"
  while [ $# -gt 0 ]; do
    case "$1" in
      --no-wait) wait=0 ;;
      *) usage ;;
    esac
    shift
  done
  command -v pdns_server >/dev/null || die "pdns_server not installed: run scripts/pdns.sh install"
  local dns_port=$((DNS_BASE + n)) api_port=$((API_BASE + n)) key="key$n"
  local pid
  pid="$(running_pid "$dir")"
  [ -z "$pid" ] || die "instance in $dir already running (pid $pid); stop it first"
  for p in "$dns_port" "$api_port"; do
    ! port_busy "$p" || die "127.0.0.1:$p is already in use (another pdns instance with N=$n?)"
  done
  mkdir -p "$dir/conf" "$dir/db" "$dir/run"
  write_conf "$dir" "$n" "$dns_port" "$api_port"

  local t0 attempt log="$dir/pdns.log"
  t0="$(now)"
  for attempt in 1 2; do
    echo "=== scripts/pdns.sh start instance $n attempt $attempt at $(date -u +%FT%TZ)" >>"$log"
    # setsid: own session, so signals aimed at the caller's process group (test timeouts, ^C) leave it alone.
    # stdin/stdout/stderr detached from the caller, so a caller reading our output is not held open.
    setsid pdns_server --config-dir="$dir/conf" </dev/null >>"$log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/pdns.pid"
    if [ "$wait" = 0 ]; then
      echo "pdns $n started (pid $pid, dns 127.0.0.1:$dns_port, api 127.0.0.1:$api_port, not waited for)"
      return 0
    fi
    local deadline api=0 dns=0
    deadline="$(awk -v a="$(now)" -v t="$START_TIMEOUT" 'BEGIN { printf "%.3f", a + t }')"
    while :; do
      if ! alive "$pid"; then break; fi
      [ "$api" = 1 ] || { api_ok "$api_port" "$key" && api=1; } || true
      [ "$dns" = 1 ] || { dns_ok "$dns_port" && dns=1; } || true
      if [ "$api" = 1 ] && [ "$dns" = 1 ]; then
        # the rare early exit (see the notes) happens right after the banner: make sure it is still up
        alive "$pid" || break
        echo "pdns $n started in $(since "$t0")s (pid $pid, dns 127.0.0.1:$dns_port, api 127.0.0.1:$api_port, attempt $attempt)"
        return 0
      fi
      if awk -v a="$(now)" -v d="$deadline" 'BEGIN { exit !(a > d) }'; then
        echo "pdns.sh: instance $n did not answer within ${START_TIMEOUT}s (api=$api dns=$dns)" >&2
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        rm -f "$dir/pdns.pid"
        echo "--- tail of $log:" >&2
        tail -n 40 "$log" >&2
        exit 1
      fi
      sleep 0.05
    done
    local rc=0
    wait "$pid" 2>/dev/null || rc=$?
    rm -f "$dir/pdns.pid"
    echo "pdns.sh: pdns_server (instance $n, pid $pid) exited with status $rc during start (attempt $attempt)" >&2
    # a port taken by someone else will not free itself: no point retrying
    if port_busy "$dns_port" || port_busy "$api_port"; then break; fi
  done
  echo "--- tail of $log:" >&2
  tail -n 40 "$log" >&2
  exit 1
}

cmd_stop() {
  [ $# -eq 1 ] || usage
  local dir pid t0
  dir="$(abspath "$1")"
  pid="$(running_pid "$dir")"
  if [ -z "$pid" ]; then
    rm -f "$dir/pdns.pid"
    echo "pdns in $dir not running"
    return 0
  fi
  t0="$(now)"
  kill -TERM "$pid" 2>/dev/null || true
  local i signal=TERM
  for ((i = 0; i < STOP_TIMEOUT * 20; i++)); do
    alive "$pid" || break
    sleep 0.05
  done
  if alive "$pid"; then
    signal=KILL
    echo "pdns.sh: pid $pid still alive after ${STOP_TIMEOUT}s, sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      alive "$pid" || break
      sleep 0.05
    done
    ! alive "$pid" || die "pid $pid survived SIGKILL"
  fi
  rm -f "$dir/pdns.pid"
  echo "pdns in $dir stopped in $(since "$t0")s (pid $pid, SIG$signal)"
}

cmd_status() {
  [ $# -eq 1 ] || usage
  local pid
  pid="$(running_pid "$(abspath "$1")")"
  if [ -n "$pid" ]; then echo "$pid"; else echo "not running" >&2; return 1; fi
}

cmd_env() {
  [ $# -eq 2 ] || usage
  local dir n
  dir="$(abspath "$1")"; n="$2"
  check_n "$n"
  printf 'export LS_PDNS_DIR=%q\n' "$dir"
  printf 'export LS_PDNS_CONF=%q\n' "$dir/conf"
  printf 'export LS_PDNS_DNS_PORT=%q\n' "$((DNS_BASE + n))"
  printf 'export LS_PDNS_API_PORT=%q\n' "$((API_BASE + n))"
  printf 'export LS_PDNS_API_KEY=%q\n' "key$n"
  printf 'export LS_PDNS_API_URL=%q\n' "http://127.0.0.1:$((API_BASE + n))/api/v1"
  printf 'export LS_PDNS_LMDB=%q\n' "$dir/db/pdns.lmdb"
}

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
