#!/usr/bin/env bash
# Installs what the NAT tests need from Debian's packages: coturn (the TURN/STUN server the tests
# start, `turnserver`) and nftables (`nft`, the masquerading routers of the home networks). Root
# only; does nothing when both are there. Debian's coturn package leaves its service disabled
# (/etc/default/coturn): the tests start their own turnserver with a config they write.
set -euo pipefail

missing=()
command -v turnserver >/dev/null 2>&1 || missing+=(coturn)
command -v nft >/dev/null 2>&1 || missing+=(nftables)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "missing ${missing[*]}: as root on Debian, run bash scripts/install-coturn.sh (apt-get install -y ${missing[*]})" >&2
  exit 1
fi
echo "Installing the NAT tests' servers: apt-get install -y --no-install-recommends ${missing[*]}"
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
