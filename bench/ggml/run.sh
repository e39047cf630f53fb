#!/usr/bin/env bash
# mixc against llama.cpp's ggml CPU ops, in one process on the same inputs.
# Needs ggml built outside the repository (its code is never committed):
#   GGML_DIR=/path/to/ggml (default third_party/ggml, ignored by git), with build/ from
#   `cmake -B build -G Ninja -DGGML_NATIVE=ON -DGGML_OPENMP=OFF -DBUILD_SHARED_LIBS=OFF
#   -DCMAKE_BUILD_TYPE=Release` and `ninja -C build`.
# Writes bench/results/cpu-ggml.md. Usage: bench/ggml/run.sh [threads]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$(dirname "$here")")"
ggml="${GGML_DIR:-$root/third_party/ggml}"
threads="${1:-2}"
work="$root/build/bench-ggml"
rm -rf "$work" && mkdir -p "$work"
for spec in gla_gate rwkv6_wkv rwkv7_wkv ssm_scan2; do
  "$root/build/bin/mixc" emit "$here/$spec.mixer" --target=cpu --shape H=8,K=64,V=64 --threads "$threads" \
    -o "$work" > /dev/null
done
# Mamba-1 as llama.cpp runs it: one head of d_inner = 1024 channels, d_state 16.
"$root/build/bin/mixc" emit "$here/ssm_scan1.mixer" --target=cpu --shape H=1,K=16,V=1024 --threads "$threads" \
  -o "$work" > /dev/null
libs=$(find "$ggml/build" -name 'libggml*.a' | sort -r | tr '\n' ' ')
c++ -O3 -march=native -mprefer-vector-width=512 -fno-trapping-math -fno-math-errno -std=c++17 -pthread \
  -I"$ggml/include" -I"$work" "$here/ggml_vs_mixc.cpp" "$work"/gla_gate.cpp "$work"/rwkv6_wkv.cpp "$work"/rwkv7_wkv.cpp "$work"/ssm_scan1.cpp "$work"/ssm_scan2.cpp \
  -Wl,--start-group $libs -Wl,--end-group -ldl -lm -o "$work/ggml_vs_mixc"
out="$root/bench/results/cpu-ggml.md"
{
  echo "# mixc against llama.cpp's ggml CPU ops"
  echo
  echo "Commit $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet -- . ':!bench/results' || echo ' (with local changes)'),"
  echo "ggml $(git -C "$ggml" rev-parse --short HEAD 2>/dev/null || echo '(unknown commit)'),"
  echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores;"
  echo "$threads threads; fp32; B=1; $(date -u +%Y-%m-%d). Command: \`bench/ggml/run.sh $threads\`."
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
