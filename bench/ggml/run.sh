#!/usr/bin/env bash
# mixc against llama.cpp's ggml CPU ops, in one process on the same inputs.
# Needs ggml built outside the repository (its code is never committed):
#   GGML_DIR=/path/to/ggml (default third_party/ggml, ignored by git), with build/ from
#   `cmake -B build -G Ninja -DGGML_NATIVE=ON -DGGML_OPENMP=OFF -DBUILD_SHARED_LIBS=OFF
#   -DCMAKE_BUILD_TYPE=Release` and `ninja -C build`.
# For an ISA level other than the host's, ARCH=x86-64-v3 (say) builds the mixc
# kernels with --cpu-arch=$ARCH and links the ggml build in $GGML_BUILD (default
# build-$ARCH), configured for the same level (for x86-64-v3: -DGGML_NATIVE=OFF
# -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON).
# Writes bench/results/cpu-ggml.md (native) or cpu-ggml-$ARCH.md; GGML_OUT=FILE: another host's file.
# Usage: [ARCH=...] bench/ggml/run.sh [threads]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$(dirname "$here")")"
ggml="${GGML_DIR:-$root/third_party/ggml}"
threads="${1:-2}"
arch="${ARCH:-native}"
if [ "$arch" = native ]; then ggml_build="${GGML_BUILD:-$ggml/build}"; else ggml_build="${GGML_BUILD:-$ggml/build-$arch}"; fi
work="$root/build/bench-ggml-$arch"
rm -rf "$work" && mkdir -p "$work"
for spec in gla_gate rwkv6_wkv rwkv7_wkv ssm_scan2; do
  "$root/build/bin/mixc" emit "$here/$spec.mixer" --target=cpu --cpu-arch="$arch" --shape H=8,K=64,V=64 \
    --threads "$threads" -o "$work" > "$work/emit.log"
done
# Mamba-1 as llama.cpp runs it: one head of d_inner = 1024 channels, d_state 16.
"$root/build/bin/mixc" emit "$here/ssm_scan1.mixer" --target=cpu --cpu-arch="$arch" --shape H=1,K=16,V=1024 \
  --threads "$threads" -o "$work" > "$work/emit.log"
# The flags mixc prints for the ISA (the kernels need them to vectorize).
flags=$(sed -n 's/^build: c++ \(.*\) -c .*/\1/p' "$work/emit.log" | head -n 1)
libs=$(find "$ggml_build" -name 'libggml*.a' | sort -r | tr '\n' ' ')
c++ $flags \
  -I"$ggml/include" -I"$work" "$here/ggml_vs_mixc.cpp" "$work"/gla_gate.cpp "$work"/rwkv6_wkv.cpp "$work"/rwkv7_wkv.cpp "$work"/ssm_scan1.cpp "$work"/ssm_scan2.cpp \
  "$work"/mixc_cpu_tensor_ops.cpp \
  -Wl,--start-group $libs -Wl,--end-group -ldl -lm -o "$work/ggml_vs_mixc"
if [ "$arch" = native ]; then out="$root/bench/results/cpu-ggml.md"; else out="$root/bench/results/cpu-ggml-$arch.md"; fi
out="${GGML_OUT:-$out}"
{
  echo "# mixc against llama.cpp's ggml CPU ops"
  echo
  echo "Commit $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet -- . ':!bench/results' || echo ' (with local changes)'),"
  echo "ggml $(git -C "$ggml" rev-parse --short HEAD 2>/dev/null || echo '(unknown commit)'),"
  echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores;"
  echo "host: $(grep -q avx512f /proc/cpuinfo && echo AVX-512 || echo AVX2-only); mixc kernels built for $arch (\`$flags\`),"
  echo "ggml built in $(basename "$ggml_build") for the same level."
  echo "$threads threads; fp32; B=1; $(date -u +%Y-%m-%d). Command: \`ARCH=$arch bench/ggml/run.sh $threads\`."
  echo
  echo "Each row runs the ggml op and the mixc kernel of the same recurrence"
  echo "(bench/ggml/*.mixer) on the same inputs in one process, median of 7. This shared"
  echo "2-core VM varies by up to ~25% from run to run, so the comparison is run three times."
  echo "ggml_ssm_scan runs in both forms: Mamba-2 (scalar A per head, one group per head) and"
  echo "Mamba-1 (A per state and channel, every channel a head of one dimension, one group)."
  for run in 1 2 3; do
    echo
    echo "Run $run:"
    echo
    "$work/ggml_vs_mixc" "$threads"
  done
} > "$out"
cat "$out"
