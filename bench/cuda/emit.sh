#!/usr/bin/env bash
# Emits the CUDA kernels of the benchmark specs (here, where mixc is built) into
# OUT_DIR (default .bench-cuda/kernels), one per spec and head count of the
# benchmark shapes; bench/cuda/run.sh builds and times them on the GPU machine.
# SMS: the GPU's multiprocessors the chunked walks are tiled for (132: H100 SXM, H200).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${1:-$root/.bench-cuda/kernels}"
mixc="${MIXC:-$root/build/bin/mixc}"
rm -rf "$out"
for spec in simple_gla gla delta_rule gated_delta_rule; do
  for H in 64 16; do
    "$mixc" emit "$root/bench/cuda/$spec.mixer" --target=cuda --cuda-sms="${SMS:-132}" --shape=H=$H,K=128,V=128 -o "$out/${spec}_H$H" >/dev/null
  done
done
echo "$(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- . ':!.bench-cuda' || echo +local changes)" > "$out/COMMIT"
echo "emitted into $out"
