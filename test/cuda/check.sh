#!/usr/bin/env bash
# The GPU correctness run, on a machine with CUDA and no MLIR: builds every
# kernel that test/cuda/make_cases.py emitted (with runtime/ and run_kernel.cu),
# runs every case, compares with the float64 reference (compare.py), and runs
# one case per kernel under compute-sanitizer (memcheck and racecheck).
# Usage: test/cuda/check.sh CASES_DIR [ARCH (default sm_90a)]
# ARCH compute_80: PTX for sm_80, compiled by the driver for the GPU at hand,
# so that a Hopper GPU runs the portable (mma.sync) kernels instead of wgmma.
# MIXC_LAYOUT=head-first: every case with its per-token tensors (o included)
# laid out [B, H, T, D] in memory, passed by strides (run_kernel.cu).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cases="$(cd "$1" && pwd)"
arch="${2:-sm_90a}"
nvcc="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
jobs="$(nproc)"

build() { # kernel dir -> $dir/run_kernel
  local d="$1" k="$1/kernel"
  local entry sources
  # The forward's sources only: the derived backward's (NAME_backward.cu, which
  # mixc emits beside it) is another entry point and takes as long again to build.
  sources=$(ls "$k"/*.cu | grep -v '_backward\.cu$')
  # (the forward's entry: the kernel directory also holds the derived backward's)
  entry="$(grep -ho 'int mixc_[A-Za-z0-9_]*_cuda(' "$k"/*.h | grep -v '_backward_cuda(' | head -1 | sed 's/int //; s/(//')"
  local gencode="-gencode=arch=compute_${arch#sm_},code=$arch"
  [[ "$arch" == compute_* ]] && gencode="-gencode=arch=$arch,code=$arch"
  "$nvcc" -O3 -std=c++17 "$gencode" -DMIXC_ENTRY="$entry" \
    -I"$k" -I"$root" -I"$root/runtime" "$root/test/cuda/run_kernel.cu" $sources "$root/runtime/Npy.cpp" \
    -o "$d/run_kernel" > "$d/build.log" 2>&1 || { echo "BUILD FAILED: $d"; cat "$d/build.log"; }
}
export -f build
export nvcc root arch
ls -d "$cases"/*/ | sed 's#/$##' | xargs -P "$jobs" -I{} bash -c 'build {}'

for d in "$cases"/*/; do
  [ -x "$d/run_kernel" ] || continue
  for c in "$d"/*/; do
    c="${c%/}"
    [ "$(basename "$c")" = kernel ] && continue
    dtype="${c##*_}"
    "$d/run_kernel" "$c/in" "$c/ref" "$c/out" "$dtype" > "$c/run.log" 2>&1 || echo "RUN FAILED: $c: $(cat "$c/run.log")"
  done
done
python3 "$root/test/cuda/compare.py" "$cases"
status=$?

if command -v compute-sanitizer >/dev/null; then
  bad=0
  for d in "$cases"/*/; do
    [ -x "$d/run_kernel" ] || continue
    c="$(ls -d "$d"/T6[35]*_init_f32 "$d"/T67*_init_bf16 2>/dev/null | head -1)"
    [ -n "$c" ] || continue
    for tool in memcheck racecheck; do
      if ! compute-sanitizer --tool "$tool" --error-exitcode 9 "$d/run_kernel" "$c/in" "$c/ref" "$c/san" \
          "${c##*_}" > "$c/sanitizer-$tool.log" 2>&1; then
        echo "SANITIZER ($tool) FAILED: $c"; tail -20 "$c/sanitizer-$tool.log"; bad=1
      fi
    done
  done
  [ $bad = 0 ] && echo "compute-sanitizer: memcheck and racecheck clean on one case per kernel"
  [ $bad = 0 ] || status=1
fi
exit $status
