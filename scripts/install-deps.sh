#!/usr/bin/env bash
# Debian packages the build, the tests and the demos need. Idempotent; skips apt when all are present.
# When another apt or dpkg holds its lock (unattended-upgrades, another set-up script), waits for it, up to
# LS_APT_LOCK_WAIT seconds (default 900), instead of failing at once.
set -euo pipefail
# liblmdb-dev, libdeflate-dev: the addons; lmdb-utils, python3-lmdb, protobuf-compiler: interop tests; radosgw ceph-*: the real S3
# server; chromium: status page test; prometheus: promtool for the alert rules test; time: benchmarks; openssl: certificates
# of the Azure OAuth test; zsh, fish: completion tests; systemd: systemd-analyze for the unit's test; podman runc
# debootstrap: the container image test. PowerDNS comes from scripts/pdns.sh install.
PKGS=(liblmdb-dev libdeflate-dev lmdb-utils python3-lmdb protobuf-compiler radosgw ceph-mon ceph-osd chromium prometheus time curl openssl
  zsh fish systemd podman runc debootstrap)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

# Runs an apt-get command; while it fails only for a lock another process holds, tries again every 5 s.
# (DPkg::Lock::Timeout covers dpkg's lock only: apt-get update fails at once on the lists lock.)
apt_get() {
  local deadline=$((SECONDS + ${LS_APT_LOCK_WAIT:-900})) out said=0
  while :; do
    if out=$(apt-get -o DPkg::Lock::Timeout=60 "$@" 2>&1); then return 0; fi
    if grep -qE 'Could not get lock|Unable to acquire the dpkg frontend lock|Unable to lock' <<<"$out" && [ "$SECONDS" -lt "$deadline" ]; then
      [ "$said" = 1 ] || echo "install-deps: another apt/dpkg holds its lock; waiting (up to ${LS_APT_LOCK_WAIT:-900} s)"
      said=1
      sleep 5
      continue
    fi
    printf '%s\n' "$out" >&2
    return 1
  done
}

if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_get update -qq
  apt_get install -y -qq --no-install-recommends "${missing[@]}"
fi
