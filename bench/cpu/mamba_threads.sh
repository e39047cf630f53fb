#!/usr/bin/env bash
# The chunked scan against the sweep on a many-core CPU, Mamba-1 (elementwise
# decays) at B = 1, H = 1, K = 16: `emit` here (needs mixc) writes both
# schedules' kernels into .bench-cpu/; `run` there (a C++ compiler only)
# builds and times them. Usage: bench/cpu/mamba_threads.sh emit THREADS | run THREADS
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/.bench-cpu"
threads="${2:-16}"
case "$1" in
  emit)
    rm -rf "$out" && mkdir -p "$out"
    for v in 64 256; do
      for s in recurrent chunked; do
        "$root/build/bin/mixc" emit "$root/examples/mamba.mixer" --target=cpu --shape "H=1,K=16,V=$v" \
          --threads "$threads" --schedule=$s -o "$out/$s-$v" > /dev/null
      done
    done
    git -C "$root" rev-parse --short HEAD > "$out/COMMIT" ;;
  run)
    echo "commit $(cat "$out/COMMIT"), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
    for v in 64 256; do
      for s in recurrent chunked; do
        # The flags `mixc emit` prints (without them the sweeps do not vectorize).
        c++ -O3 -march=native -mprefer-vector-width=512 -fno-trapping-math -fno-math-errno -std=c++17 -pthread -I"$out/$s-$v" "$root/bench/cpu/mamba_threads.cpp" \
          "$out/$s-$v/mamba.cpp" "$out/$s-$v/mixc_cpu_tensor_ops.cpp" -o "$out/$s-$v/bench"
        echo -n "$s: "; "$out/$s-$v/bench" 16384 16 "$v" "$threads"
      done
    done ;;
  *) echo "usage: $0 emit THREADS | run THREADS" >&2; exit 2 ;;
esac
