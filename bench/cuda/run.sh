#!/usr/bin/env bash
# On the GPU machine: builds the kernels emitted by bench/cuda/emit.sh as shared
# libraries (nvcc, sm_90a) and runs bench.py against flash-linear-attention.
# Usage: bench/cuda/run.sh FLA_DIR [KERNEL_DIR] [SHAPES]   (NVCC_FLAGS: extra nvcc flags)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
fla="$1"
kernels="${2:-$root/.bench-cuda/kernels}"
nvcc="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
# emit.sh records the commit: the GPU machine gets the working tree without .git.
echo "commit $(cat "$kernels/COMMIT" 2>/dev/null || echo unknown)"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
for d in "$kernels"/*/; do
  d="${d%/}"
  name="$(basename "$d")"
  spec="${name%_H*}"
  "$nvcc" -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a ${NVCC_FLAGS:-} -shared -Xcompiler -fPIC -I"$d" \
    "$d/$spec.cu" -o "$kernels/lib$name.so" &
done
wait
python3 "$root/bench/cuda/bench.py" "$fla" "$kernels" ${3:+"$3"}
