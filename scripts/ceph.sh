#!/usr/bin/env bash
# A throw-away single-node Ceph cluster (monitor, one bluestore OSD on a sparse file, radosgw) whose
# whole state lives under one directory, for tests and demos that need a real S3 server.
#
#   scripts/ceph.sh start DIR      start a fresh cluster in DIR (or restart the one already there),
#                                  wait until S3 answers, write DIR/env.sh
#   scripts/ceph.sh stop DIR       stop radosgw, then the OSD, then the monitor (no-op if nothing runs)
#   scripts/ceph.sh stop-rgw DIR   stop only radosgw (S3 goes down, the data stays)
#   scripts/ceph.sh start-rgw DIR  start radosgw again on the same data and wait until S3 answers
#   scripts/ceph.sh status DIR     show which daemons run
#
# DIR/env.sh exports LS_S3_ENDPOINT, LS_S3_ACCESS_KEY, LS_S3_SECRET_KEY (and LS_CEPH_DIR).
#
# Environment (read when a cluster is created; a restart reuses the ports recorded in DIR/ceph.conf):
#   LS_CEPH_RGW_PORT   S3 port on 127.0.0.1 (default 7480)
#   LS_CEPH_MON_PORT   monitor port on 127.0.0.1 (default 3300)
#   LS_CEPH_OSD_PORTS  OSD port range "min-max" (default 6800-7300; the OSD picks free ports in it)
#   LS_CEPH_TIMEOUT    seconds to wait for each daemon / for S3 (default 60)
# Runs as root (or a user that can run the Ceph daemons); installs the Debian packages when missing.
set -euo pipefail

PROG=$(basename "$0")
T0=${EPOCHREALTIME/./}

log() {
  local us=$((${EPOCHREALTIME/./} - T0))
  printf '[ceph %3d.%02ds] %s\n' $((us / 1000000)) $((us % 1000000 / 10000)) "$*"
}
die() { printf '[ceph] ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
  echo "usage: $PROG start|stop|start-rgw|stop-rgw|status DIR" >&2
  exit 2
}

[ $# -eq 2 ] || usage
CMD=$1
DIR=$2
[ -n "$DIR" ] || usage
TIMEOUT=${LS_CEPH_TIMEOUT:-60}

# Absolute path, without requiring the directory to exist (stop on a missing dir is fine).
case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac
DIR=${DIR%/}
CONF="$DIR/ceph.conf"
export CEPH_CONF="$CONF"

ensure_packages() {
  local p missing=()
  for p in radosgw ceph-mon ceph-osd; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "[ceph] installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# pid_of NAME: the live PID recorded in DIR/run/NAME.pid that really is a Ceph daemon of this
# directory (guards against stale pid files and recycled PIDs); prints nothing otherwise.
pid_of() {
  local f="$DIR/run/$1.pid" pid cmd
  [ -f "$f" ] || return 0
  pid=$(tr -dc '0-9' <"$f")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 0
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  case "$cmd" in
    *"$CONF"*) echo "$pid" ;;
  esac
}

# alive PID: the process exists and is not a zombie (a container's PID 1 may never reap it).
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# stop_daemon NAME: SIGTERM, wait up to 20 s, then SIGKILL.
stop_daemon() {
  local name=$1 pid i
  pid=$(pid_of "$name")
  if [ -z "$pid" ]; then
    rm -f "$DIR/run/$name.pid"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    log "$name (pid $pid) ignored SIGTERM for 20 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      alive "$pid" || break
      sleep 0.1
    done
  fi
  rm -f "$DIR/run/$name.pid"
  log "stopped $name (pid $pid)"
}

logs_tail() {
  local f
  for f in "$DIR"/log/*.log; do
    [ -f "$f" ] || continue
    echo "----- tail of $f" >&2
    tail -n 25 "$f" >&2
  done
}

fail() {
  printf '[ceph] ERROR: %s\n' "$*" >&2
  logs_tail
  if [ "$CMD" = start ]; then
    # Leave nothing running behind a failed start (the caller has no cluster to stop).
    stop_daemon radosgw >&2
    stop_daemon osd >&2
    stop_daemon mon >&2
  fi
  exit 1
}

port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

conf_get() { # conf_get SECTION KEY
  ceph-conf -c "$CONF" --name "$1" --lookup "$2" 2>/dev/null
}

rgw_port() {
  local fe
  fe=$(conf_get client.rgw.a rgw_frontends)
  echo "${fe##*:}"
}

wait_rgw() {
  local port url code i
  port=$(rgw_port)
  url="http://127.0.0.1:$port/"
  for ((i = 0; i < TIMEOUT * 10; i++)); do
    code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url" || true)
    if [ "$code" = 200 ]; then
      log "radosgw answers 200 on $url"
      return 0
    fi
    if [ -z "$(pid_of radosgw)" ] && [ "$i" -gt 20 ]; then
      fail "radosgw is not running (see $DIR/log/radosgw.log)"
    fi
    sleep 0.1
  done
  fail "radosgw did not answer 200 on $url within ${TIMEOUT}s (last HTTP code: ${code:-none})"
}

start_rgw() {
  if [ -n "$(pid_of radosgw)" ]; then
    log "radosgw already running"
  else
    radosgw -c "$CONF" -n client.rgw.a 2>>"$DIR/log/stderr.log" || fail "radosgw failed to start"
    log "radosgw started"
  fi
}

start_mon() {
  if [ -n "$(pid_of mon)" ]; then return 0; fi
  ceph-mon -c "$CONF" -i a 2>>"$DIR/log/stderr.log" || fail "ceph-mon failed to start"
  log "monitor started"
}

start_osd() {
  if [ -n "$(pid_of osd)" ]; then return 0; fi
  ceph-osd -c "$CONF" -i 0 2>>"$DIR/log/stderr.log" || fail "ceph-osd failed to start"
  log "osd started"
}

write_conf() {
  local fsid=$1 mon_port=$2 rgw_port=$3 osd_ports=$4
  cat >"$CONF" <<EOF
# Generated by $PROG: a single-node test cluster; everything lives under $DIR
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind port min = ${osd_ports%-*}
ms bind port max = ${osd_ports#*-}
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
ms client mode = crc
ms mon service mode = crc
ms service mode = crc
ms cluster mode = crc
ms mon cluster mode = crc
keyring = $DIR/keyring
run dir = $DIR/run
log file = $DIR/log/\$name.log
admin socket = $DIR/run/\$name.asok
crash dir = $DIR/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
mon data avail warn = 1
mon data avail crit = 0
log to stderr = false
err to stderr = true
log to syslog = false

[mon]
mon data = $DIR/mon/\$cluster-\$id
pid file = $DIR/run/mon.pid
# Commit map changes at once instead of batching them for 1 s: radosgw's first start creates its
# pools one monitor command at a time, so this alone saves ~8 s of a fresh start.
paxos propose interval = 0.01
paxos min wait = 0.001

[osd]
osd data = $DIR/osd/\$cluster-\$id
pid file = $DIR/run/osd.pid
osd objectstore = bluestore
bluestore block create = true
bluestore block size = 10737418240
bluestore cache autotune = false
bluestore cache size = 134217728
osd memory target = 939524096
osd op num shards = 1
osd op num threads per shard = 2

[client.rgw.a]
pid file = $DIR/run/radosgw.pid
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $DIR/rgw
EOF
}

create_cluster() {
  local mon_port=${LS_CEPH_MON_PORT:-3300} rgw_port=${LS_CEPH_RGW_PORT:-7480}
  local osd_ports=${LS_CEPH_OSD_PORTS:-6800-7300}
  local fsid osd_uuid access secret
  [[ "$mon_port" =~ ^[0-9]+$ ]] || die "LS_CEPH_MON_PORT must be a port number"
  [[ "$rgw_port" =~ ^[0-9]+$ ]] || die "LS_CEPH_RGW_PORT must be a port number"
  [[ "$osd_ports" =~ ^[0-9]+-[0-9]+$ ]] || die "LS_CEPH_OSD_PORTS must look like 6800-7300"
  if port_busy "$rgw_port"; then
    die "something already listens on 127.0.0.1:$rgw_port (set LS_CEPH_RGW_PORT to another port)"
  fi
  if port_busy "$mon_port"; then
    die "something already listens on 127.0.0.1:$mon_port (set LS_CEPH_MON_PORT to another port)"
  fi

  mkdir -p "$DIR"/{run,log,mon,osd/ceph-0,rgw,crash}
  fsid=$(cat /proc/sys/kernel/random/uuid)
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  write_conf "$fsid" "$mon_port" "$rgw_port" "$osd_ports"

  ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$DIR/monmap" >/dev/null
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring" ||
    fail "ceph-mon --mkfs failed"
  start_mon
  # The OSD's mkfs does not need the monitor: run it while the monitor comes up.
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$DIR/log/osd-mkfs.out" 2>&1 &
  local mkfs_pid=$!
  timeout "$TIMEOUT" ceph -c "$CONF" --connect-timeout "$TIMEOUT" osd new "$osd_uuid" 0 >/dev/null ||
    fail "'ceph osd new' failed: is the monitor up?"
  log "osd.0 registered"
  wait "$mkfs_pid" || { cat "$DIR/log/osd-mkfs.out" >&2; fail "ceph-osd --mkfs failed"; }
  log "osd mkfs done"
  start_osd
  start_rgw

  access=$(tr -dc 'A-Z0-9' </dev/urandom | head -c 20 || true)
  secret=$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40 || true)
  printf '%s\n' "$access" >"$DIR/access_key"
  printf '%s\n' "$secret" >"$DIR/secret_key"
  chmod 600 "$DIR/access_key" "$DIR/secret_key"
  timeout "$TIMEOUT" radosgw-admin -c "$CONF" user create --uid=test --display-name=test \
    --access-key="$access" --secret="$secret" >/dev/null 2>"$DIR/log/user-create.err" ||
    { cat "$DIR/log/user-create.err" >&2; fail "radosgw-admin user create failed"; }
  log "S3 user created"
}

write_env() {
  local port
  port=$(rgw_port)
  cat >"$DIR/env.sh" <<EOF
# Generated by $PROG start: S3 settings of the test cluster in $DIR
export LS_CEPH_DIR='$DIR'
export LS_S3_ENDPOINT='http://127.0.0.1:$port'
export LS_S3_ACCESS_KEY='$(cat "$DIR/access_key")'
export LS_S3_SECRET_KEY='$(cat "$DIR/secret_key")'
EOF
  chmod 600 "$DIR/env.sh"
}

case "$CMD" in
  start)
    ensure_packages
    if [ -f "$CONF" ] && [ -f "$DIR/secret_key" ]; then
      log "cluster exists in $DIR: (re)starting its daemons"
      start_mon
      start_osd
      start_rgw
    else
      [ ! -e "$DIR" ] || [ -z "$(ls -A "$DIR")" ] ||
        die "$DIR exists, is not empty and holds no complete cluster: remove it or pick another"
      log "creating a fresh cluster in $DIR"
      create_cluster
    fi
    wait_rgw
    write_env
    log "ready: source $DIR/env.sh"
    ;;
  start-rgw)
    [ -f "$CONF" ] || die "no cluster in $DIR"
    [ -n "$(pid_of mon)" ] && [ -n "$(pid_of osd)" ] || die "the monitor and OSD of $DIR are not running: use start"
    start_rgw
    wait_rgw
    ;;
  stop-rgw)
    stop_daemon radosgw
    ;;
  stop)
    # Order matters: radosgw hangs on SIGTERM when the OSD or monitor went first.
    stop_daemon radosgw
    stop_daemon osd
    stop_daemon mon
    log "stopped"
    ;;
  status)
    for d in mon osd radosgw; do
      p=$(pid_of "$d")
      if [ -n "$p" ]; then echo "$d: running (pid $p)"; else echo "$d: stopped"; fi
    done
    ;;
  *) usage ;;
esac
