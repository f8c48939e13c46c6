#!/usr/bin/env bash
# One command for a machine with a GPU (Vulkan) and no browser: prints the adapter, checks every
# kernel against the CPU reference (the `dawn` Playwright project: the kernel specs on Dawn), then runs
# the page benchmarks in Node on Dawn. Writes $OUT/gpu-check.log and $OUT/<bench>-node.json.
# Uses node and node_modules where they are installed; else the bundle that scripts/device-bundle.sh
# builds into .device/ (node, dawn.node, Playwright, the benchmarks bundled), for a machine with no
# node and no npm registry. Vulkan: unpacks .device/debs when `ldconfig -p` has no libvulkan, and uses
# NVIDIA's driver under /usr/local/nvidia when no VK_DRIVER_FILES/VK_ICD_FILENAMES is set.
#   OUT=dir         where the log and the results go (default bench/results)
#   BENCHES=list    benchmarks to run (default "matmul attention train")
#   BENCH_ARGS=...  more arguments for each, e.g. '--cases 128x128x128,T=128,2x64' (a CPU driver's quick run)
#   GPU_CHECK_TESTS_TIMEOUT_S, GPU_CHECK_BENCH_TIMEOUT_S  each step's limit (defaults below)
# Exit status: 0 when the kernel checks and every benchmark passed.
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
OUT=${OUT:-bench/results}
BENCHES=${BENCHES:-matmul attention train}
read -ra bench_args <<<"${BENCH_ARGS:-}"
# Each step's limit, so that on a GPU the whole check ends within 5 minutes even if a part hangs.
TESTS_TIMEOUT_S=${GPU_CHECK_TESTS_TIMEOUT_S:-80}
BENCH_TIMEOUT_S=${GPU_CHECK_BENCH_TIMEOUT_S:-70}
NVIDIA_ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
exec > >(tee "$OUT/gpu-check.log") 2>&1
echo "gpu-check: $(date -u +%FT%TZ) on $(uname -srm); results in $OUT"

# grep reads all of ldconfig's output (grep -q would stop early, and pipefail would count ldconfig's SIGPIPE).
if ! ldconfig -p | grep 'libvulkan\.so\.1' >/dev/null; then
  [ -d .device/debs ] || { echo "no Vulkan loader (libvulkan.so.1) and no .device/debs to unpack" >&2; exit 1; }
  echo "no Vulkan loader: unpacking .device/debs into /"
  for deb in .device/debs/*.deb; do dpkg -x "$deb" /; done
  ldconfig
fi
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && [ -e "$NVIDIA_ICD" ]; then
  export VK_DRIVER_FILES=$NVIDIA_ICD
fi
echo "Vulkan drivers: ${VK_DRIVER_FILES:-${VK_ICD_FILENAMES:-the Vulkan loader default list}}"

node_bin=$(command -v node || true)
if [ -n "$node_bin" ] && [ -d node_modules/webgpu ] && [ -d node_modules/tsx ]; then
  echo "node $("$node_bin" --version) and node_modules from this checkout"
  bench=("$node_bin" node_modules/tsx/dist/cli.mjs bench/run.ts)
else
  [ -f .device/node.gz ] || { echo "no node here and no .device/ bundle: run scripts/device-bundle.sh where npm works, carry .device/" >&2; exit 1; }
  echo "the .device/ bundle: $(head -1 .device/MANIFEST)"
  if [ -z "$node_bin" ]; then
    node_bin=$(mktemp -d)/node
    gunzip -c .device/node.gz >"$node_bin"
    chmod +x "$node_bin"
  fi
  [ -d node_modules/webgpu ] || tar -xzf .device/modules.tar.gz
  bench=("$node_bin" .device/bench.mjs)
fi
# Playwright starts its workers with the node that runs it.
export PATH="$(dirname "$node_bin"):$PATH"
"$node_bin" --version >/dev/null || { echo "this node does not run here: $(ldd "$node_bin" | grep 'not found')" >&2; exit 1; }

status=0
echo
echo "== kernels: the dawn project (the kernel specs of test/browser on Dawn; the adapter is printed first)"
timeout "$TESTS_TIMEOUT_S" "$node_bin" node_modules/@playwright/test/cli.js test -c playwright.dawn.config.ts
rc=$?
if [ "$rc" != 0 ]; then
  echo "kernel checks failed: exit status $rc$([ "$rc" = 124 ] && echo ", stopped after ${TESTS_TIMEOUT_S} s")"
  status=1
fi
for name in $BENCHES; do
  echo
  echo "== benchmark: $name"
  timeout "$BENCH_TIMEOUT_S" "${bench[@]}" "$name" --node --out "$OUT" "${bench_args[@]}"
  rc=$?
  if [ "$rc" != 0 ]; then
    echo "benchmark $name failed: exit status $rc$([ "$rc" = 124 ] && echo ", stopped after ${BENCH_TIMEOUT_S} s")"
    status=1
  fi
done
echo
echo "gpu-check: $(($(date +%s) - started)) s, status $status; files in $OUT:"
ls -l "$OUT"
exit "$status"
