#!/usr/bin/env bash
# Debian packages the build, the tests and the demos need. Idempotent; skips apt when all are present.
set -euo pipefail
# liblmdb-dev, libdeflate-dev: the addons; lmdb-utils, python3-lmdb, protobuf-compiler: interop tests; radosgw ceph-*: the real S3
# server; chromium: status page test; prometheus: promtool for the alert rules test; time: benchmarks; openssl: certificates
# of the Azure OAuth test; zsh, fish: completion tests. PowerDNS comes from scripts/pdns.sh install.
PKGS=(liblmdb-dev libdeflate-dev lmdb-utils python3-lmdb protobuf-compiler radosgw ceph-mon ceph-osd chromium prometheus time curl openssl zsh fish)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
