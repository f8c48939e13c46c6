#!/usr/bin/env bash
# Builds .device/ (ignored by git): everything scripts/gpu-check.sh needs on an x86-64 Linux machine
# with a GPU and no node, no npm registry and no browser. Carry the folder there with the working tree.
#   node.gz          this machine's node binary, stripped of debug symbols, gzip -9 (no xz assumed there)
#   modules.tar.gz   node_modules/ for the `dawn` test project: webgpu (linux-x64 dawn.node only) and
#                    Playwright's test runner, which transpiles our TypeScript itself
#   bench.mjs        bench/node-main.ts bundled by esbuild (WGSL inlined, TensorFlow.js included)
#   debs/*.deb       the Vulkan loader (libvulkan1) and the GL dispatch libraries (glvnd) that a driver's
#                    Vulkan ICD may need, for a machine whose `ldconfig -p` has no libvulkan
# Run here from a checkout with node_modules installed (npm ci) and Debian's apt lists (apt-get update).
set -euo pipefail
cd "$(dirname "$0")/.."

# What .device/ may take: the working tree travels with it, 64 MiB in all.
LIMIT_MIB=60
DEBS=(libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libopengl0 libgles2)

rm -rf .device
mkdir -p .device/debs
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

node_bin=$(command -v node)
cp "$node_bin" "$stage/node"
if command -v strip >/dev/null; then strip "$stage/node"; fi
gzip -9 -c "$stage/node" >.device/node.gz

mkdir -p "$stage/node_modules/webgpu/dist"
cp node_modules/webgpu/package.json node_modules/webgpu/index.js "$stage/node_modules/webgpu/"
cp -r node_modules/webgpu/dist/linux-x64 "$stage/node_modules/webgpu/dist/"
mkdir -p "$stage/node_modules/@playwright"
cp -r node_modules/@playwright/test "$stage/node_modules/@playwright/"
cp -r node_modules/playwright node_modules/playwright-core "$stage/node_modules/"
tar -C "$stage" -czf .device/modules.tar.gz node_modules

# The banner gives the CommonJS modules inside the ES module bundle a require for Node's built-ins.
npx esbuild bench/node-main.ts --bundle --platform=node --format=esm --target=node20 --loader:.wgsl=text \
  --external:webgpu --outfile=.device/bench.mjs --log-level=warning \
  --banner:js="import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);"

(cd .device/debs && apt-get -o APT::Sandbox::User=root download "${DEBS[@]}")

cat >.device/MANIFEST <<EOF
built $(date -u +%FT%TZ) from $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!.device' || echo ' (with uncommitted changes)')
node $("$node_bin" --version), webgpu $(node -p "require('./node_modules/webgpu/package.json').version"), @playwright/test $(node -p "require('./node_modules/@playwright/test/package.json').version")
EOF
ls -l .device .device/debs
mib=$(du -sm .device | cut -f1)
echo ".device: ${mib} MiB (limit ${LIMIT_MIB} MiB)"
if [ "$mib" -gt "$LIMIT_MIB" ]; then
  echo "error: .device is over ${LIMIT_MIB} MiB" >&2
  exit 1
fi
