# shellcheck shell=bash
# Shared by scripts/pdns.sh (PowerDNS 4.7.3 from Debian) and scripts/pdns49.sh (4.9.17 built from vendor/):
# start/stop/status/env of one pdns_server instance on loopback. Sourced, not run.
#
# The caller sets, before calling any cmd_*:
#   PROG_NAME      name used in messages (pdns.sh, pdns49.sh)
#   PDNS_SERVER    the pdns_server to run (a command name or an absolute path)
#   INSTALL_HINT   what to run when PDNS_SERVER is missing
#   DNS_BASE API_BASE START_TIMEOUT STOP_TIMEOUT
#   PDNS_CONF_BACKEND  the lmdb backend lines of pdns.conf (version-specific settings)
# write_pdns_conf (below) writes DIR/conf/pdns.conf at every start.
# Optional hook: env_extra DIR N (more `export` lines for cmd_env).

die() { echo "$PROG_NAME: $*" >&2; exit 1; }
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
  command -v "$PDNS_SERVER" >/dev/null || die "$PDNS_SERVER not installed: run $INSTALL_HINT"
  local dns_port=$((DNS_BASE + n)) api_port=$((API_BASE + n)) key="key$n"
  local pid
  pid="$(running_pid "$dir")"
  [ -z "$pid" ] || die "instance in $dir already running (pid $pid); stop it first"
  for p in "$dns_port" "$api_port"; do
    ! port_busy "$p" || die "127.0.0.1:$p is already in use (another pdns instance with N=$n?)"
  done
  mkdir -p "$dir/conf" "$dir/db" "$dir/run"
  write_pdns_conf "$dir" "$n" "$dns_port" "$api_port"

  local t0 attempt log="$dir/pdns.log"
  t0="$(now)"
  for attempt in 1 2; do
    echo "=== scripts/$PROG_NAME start instance $n attempt $attempt at $(date -u +%FT%TZ)" >>"$log"
    # setsid: own session, so signals aimed at the caller's process group (test timeouts, ^C) leave it alone.
    # stdin/stdout/stderr detached from the caller, so a caller reading our output is not held open.
    setsid "$PDNS_SERVER" --config-dir="$dir/conf" </dev/null >>"$log" 2>&1 &
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
        echo "$PROG_NAME: instance $n did not answer within ${START_TIMEOUT}s (api=$api dns=$dns)" >&2
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
    echo "$PROG_NAME: pdns_server (instance $n, pid $pid) exited with status $rc during start (attempt $attempt)" >&2
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
    echo "$PROG_NAME: pid $pid still alive after ${STOP_TIMEOUT}s, sending SIGKILL" >&2
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
  if declare -F env_extra >/dev/null; then env_extra "$dir" "$n"; fi
}

# pdns.conf of instance N: the caller's backend lines, then loopback DNS and API ports, no daemon, and caches off so
# that changes written by another process (lightningstream) are served at once.
write_pdns_conf() {
  local dir="$1" n="$2" dns_port="$3" api_port="$4"
  cat >"$dir/conf/pdns.conf" <<EOF
# written by scripts/$PROG_NAME start (instance $n); regenerated at every start
launch=lmdb
lmdb-filename=$dir/db/pdns.lmdb
$PDNS_CONF_BACKEND
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
# no outbound security-status DNS query at start
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
