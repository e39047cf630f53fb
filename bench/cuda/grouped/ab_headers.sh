#!/bin/bash
# A/B of two CUDA runtime header sets on the same generated .cu: prepare here
# (mixc and git) with `bench/cuda/grouped/ab_headers.sh prepare DIR OLD_REV`, then
# on the GPU machine `bench/cuda/grouped/ab_headers.sh run DIR` (nvcc,
# test/cuda/run_kernel.cu; B=2, T=8192, H=16, K=V=128, bf16, medians of 30 calls,
# three alternating rounds). Results: bench/results/cuda-grouped-h200.md.
set -e
root=$(cd "$(dirname "$0")/../../.." && pwd)
if [ "$1" = prepare ]; then
  d=$2 rev=$3
  rm -rf "$d" && mkdir -p "$d"
  for s in gated_deltanet gla; do
    "$root/build/bin/mixc" emit "$root/examples/$s.mixer" --target=cuda --shape H=16,K=128,V=128 -o "$d/new_$s" > /dev/null
    cp -r "$d/new_$s" "$d/old_$s"
    for h in $(cd "$root/runtime/cuda" && ls *.cuh); do git -C "$root" show "$rev:runtime/cuda/$h" > "$d/old_$s/$h"; done
  done
  cp "$root/bench/cuda/grouped/ab_inputs.py" "$d/gen.py"
  exit 0
fi
cd "$2"
for s in gated_deltanet gla; do
  python3 gen.py data_$s $s
  for v in old new; do
    nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -DMIXC_ENTRY=mixc_${s}_cuda -I$v\_$s -I"$root/runtime" -I"$root" "$root/test/cuda/run_kernel.cu" $v\_$s/$s.cu "$root/runtime/Npy.cpp" -o rk_$v\_$s 2>&1 | grep -E "error" | head -3
  done
  for r in 1 2 3; do for v in old new; do echo -n "$s $v: "; ./rk_$v\_$s data_$s/in data_$s/ref /tmp/out_$v bf16 30 2>&1 | tail -1; done; done
done
