#!/usr/bin/env bash
# Installs Mesa's lavapipe (a Vulkan driver that runs on the CPU) and the Vulkan loader from Debian's
# packages, for Dawn in Node on a machine without a GPU (the `dawn` test project, `npm run bench --
# <name> --node`). Root only; does nothing when a recent enough lavapipe is already there.
# Debian 12 (bookworm) ships Mesa 22.3, whose lavapipe Dawn rejects ("Vulkan
# shaderUniform*ArrayDynamicIndexing required"): there it comes from bookworm-backports (Mesa 25).
# Other releases get their own package (Debian 13 ships Mesa 25).
set -euo pipefail

# The oldest Mesa we have seen Dawn accept (25.0.7 from bookworm-backports; 22.3.6 fails).
MIN_MESA=25

# dpkg-query fails for a package dpkg has never heard of; that is "not installed", not an error.
installed() { { dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null || true; } | sed -n 's/^install ok installed //p'; }

mesa=$(installed mesa-vulkan-drivers)
if [ -n "$mesa" ] && dpkg --compare-versions "$mesa" ge "$MIN_MESA" && [ -n "$(installed libvulkan1)" ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "lavapipe (Mesa >= $MIN_MESA) is missing: as root on Debian, run bash scripts/install-lavapipe.sh" >&2
  exit 1
fi

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
release=()
if [ "$codename" = bookworm ]; then
  if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d; then
    cat >/etc/apt/sources.list.d/bookworm-backports.sources <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  fi
  release=(-t bookworm-backports)
fi
echo "Installing lavapipe: apt-get install -y --no-install-recommends ${release[*]} mesa-vulkan-drivers libvulkan1"
apt-get update
apt-get install -y --no-install-recommends "${release[@]}" mesa-vulkan-drivers libvulkan1
