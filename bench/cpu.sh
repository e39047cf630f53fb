#!/usr/bin/env bash
# CPU benchmark of every example: the mixc kernel against the plain -O3
# recurrence and the float64 reference, measured in the same run by
# `mixc bench`, for each ISA level given (default: native and, where the host
# runs it, x86-64-v3; the kernel and the plain recurrence are built with the
# same flags). Writes bench/results/cpu.md (or $CPU_BENCH_OUT). Usage: bench/cpu.sh [threads [arch...]]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mixc="$root/build/bin/mixc"
threads="${1:-2}"
shift || true
archs=("$@")
if [ ${#archs[@]} -eq 0 ]; then
  archs=(native)
  grep -qw avx2 /proc/cpuinfo && grep -qw avx512f /proc/cpuinfo && archs+=(x86-64-v3)
fi
out="${CPU_BENCH_OUT:-$root/bench/results/cpu.md}" # CPU_BENCH_OUT: another host's file
shape_for() {
  case "$1" in
    based) echo "B=1,T=4096,H=8,K=16,V=64" ;;      # feature size 1 + K + K^2 = 273
    mamba) echo "B=1,T=4096,H=8,K=16,V=64" ;;      # Mamba-1: K = d_state N = 16
    hgrn) echo "B=1,T=4096,H=8,V=64" ;;            # K = 1 per channel
    *) echo "B=1,T=4096,H=8,K=64,V=64" ;;
  esac
}
{
  echo "# CPU benchmarks"
  echo
  echo "Commit $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet -- . ':!bench/results' || echo ' (with local changes)'),"
  echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores;"
  echo "vector flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(sse4_2|avx|avx2|fma|f16c|bmi2|avx512f|avx512bw|avx512vl|avx512dq)$' | tr '\n' ' ')"
  echo "$threads threads; fp32; $(date -u +%Y-%m-%d). Command: \`bench/cpu.sh $threads ${archs[*]}\`."
  echo
  echo "Each row is one \`mixc bench\` run: the kernel, the plain recurrence (same pre-processing,"
  echo "threads and compiler flags, textbook loops, sizes known only at run time) and the float64"
  echo "reference, timed in the same process on the same inputs (kernel and plain alternate, median"
  echo "of 7). GFLOP/s counts 4 K V FLOPs per token and head. One section per ISA level"
  echo "(\`--cpu-arch\`): the tiling (vector width, register blocking) and the build flags follow it."
  for arch in "${archs[@]}"; do
  echo
  echo "## --cpu-arch=$arch: $("$mixc" check "$root/examples/gla.mixer" --cpu-arch="$arch" | sed -n 's/^  cpu isa: *//p')"
  echo
  echo "| spec | shape | mixc ms | GFLOP/s | plain ms | x plain | reference ms | x reference | command |"
  echo "|---|---|---|---|---|---|---|---|---|"
  row() { # spec name shape schedule
    local spec=$1 name=$2 shape=$3 schedule=$4
    cmd="mixc bench examples/$name.mixer --shape $shape --threads $threads --repeats 7 --schedule=$schedule --cpu-arch=$arch"
    res=$("$mixc" bench "$spec" --shape "$shape" --threads "$threads" --repeats 7 --schedule="$schedule" --cpu-arch="$arch")
    k=$(echo "$res" | awk '/mixc cpu kernel/ {print $4, $6}')
    p=$(echo "$res" | awk '/plain -O3/ {print $6, $11}' | tr -d '(x')
    r=$(echo "$res" | awk '/float64 reference/ {print $5, $10}' | tr -d '(x')
    read -r kms kgf <<<"$k"
    read -r pms px <<<"$p"
    read -r rms rx <<<"$r"
    echo "| $name | $shape | $kms | $kgf | $pms | $px | $rms | $rx | \`$cmd\` |"
  }
  for spec in "$root"/examples/*.mixer; do
    name=$(basename "$spec" .mixer)
    row "$spec" "$name" "$(shape_for "$name")" auto
  done
  echo
  echo "The chunked schedule (SSD, GLA) where the structure has one, against the recurrent sweep"
  echo "that \`auto\` picks at these sizes, same machine and run:"
  echo
  echo "| spec | shape | mixc ms | GFLOP/s | plain ms | x plain | reference ms | x reference | command |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for spec in "$root"/examples/*.mixer; do
    name=$(basename "$spec" .mixer)
    "$mixc" check "$spec" --schedule=chunked | grep -q "chunked_ssd\|chunked_gla" || continue
    for schedule in recurrent chunked; do row "$spec" "$name" "$(shape_for "$name")" "$schedule"; done
  done
  echo
  echo "GLA with more keys, where \`auto\` switches to the chunked form (K >= 256):"
  echo
  echo "| spec | shape | mixc ms | GFLOP/s | plain ms | x plain | reference ms | x reference | command |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for shape in B=1,T=4096,H=8,K=128,V=128 B=1,T=1024,H=4,K=256,V=256; do
    for schedule in recurrent chunked; do row "$root/examples/gla.mixer" gla "$shape" "$schedule"; done
  done
  echo
  echo "GLA at B=1, T=4096, H=8, K=V=64 five more times in a row (this shared VM's spread), x plain:"
  echo
  for i in 1 2 3 4 5; do
    "$mixc" bench "$root/examples/gla.mixer" --shape B=1,T=4096,H=8,K=64,V=64 --threads "$threads" --repeats 7 \
      --cpu-arch="$arch" | awk '/plain -O3/ {print $11}' | tr -d '(x'
  done | tr '\n' ' '
  echo
  done
} > "$out"
cat "$out"
