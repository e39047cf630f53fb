#!/bin/bash
# The backward's tensor programs on the device (the code around the scans:
# row maps, fused pointwise chains and their gradients, reductions, frees):
# `mixc run --target=cuda --grad` of every example in fp32 at a small shape
# and of KDA, Mamba-2 and GLA in bf16 at larger ones, each gradient against the
# float64 reference fed the same rounded inputs; KDA twice, bitwise; KDA's
# kernel split (kernel_profile.py); then, unless TIMING=0, mixc's fwd + bwd for
# KDA as users write it (kda_kimi) and with given decays (FLA=0: fla's cold
# autotune does not fit beside it). Run from the repository root on the device
# with mixc carried in .mixc-bin/ (bench/cuda/carry.sh bin). Logs under $OUT
# (few files: the device returns a handful). Results:
# bench/results/cuda-backward-h200.md.
set -u
. bench/cuda/device_env.sh
out=${OUT:-/tmp/out}
mkdir -p /tmp/runs $out
run() { grad_run /tmp/runs "$@"; } # name spec shape dtype
{
  for s in examples/*.mixer; do
    s=$(basename $s .mixer)
    run $s.f32 $s B=2,T=37,H=2,K=16,V=16 f32 &
  done
  run kda.bf16 kda B=2,T=1000,H=2,K=128,V=128 bf16 &
  run kda1.bf16 kda B=1,T=1,H=2,K=64,V=64 bf16 &
  run mamba2.bf16 mamba2 B=2,T=130,H=4,K=64,V=64 bf16 &
  run gla.bf16 gla B=2,T=130,H=4,K=64,V=64 bf16 &
  run gdn.bf16 gated_deltanet B=1,T=1000,H=2,K=128,V=128 bf16 &
  wait
} 2>&1 | sort | tee $out/checks.txt
for f in $(grep -l "FAILED\|error:" /tmp/runs/*.log | head -4); do echo "== $f"; grep -m5 "FAILED\|error:" $f; done | tee -a $out/checks.txt
same_bits kda /tmp/det --shape B=2,T=200,H=2,K=128,V=128 --with-init --dtype=bf16 | tee -a $out/checks.txt
SPEC=examples/kda.mixer timeout 200 python3 -u bench/cuda/backward/kernel_profile.py > $out/prof_kda.log 2>&1
grep -E "^(void|Self CUDA)" $out/prof_kda.log | awk '{n=$0; sub(/  +.*/,"",n); print substr(n,1,100), "|", $(NF-4), $NF}' | head -40
[ "${TIMING:-1}" = 1 ] || exit 0
echo "--- mixc alone, fwd + bwd (kda_kimi: the example's l2norm, Kimi gate and beta sigmoid; kda: given decays)"
FLA=0 PARTS=2 FAMS=kda_kimi,kda timeout ${LIMIT:-240} python3 -u bench/cuda/backward/torch_backward.py 2>&1 | grep -v "^  " | tee $out/timing.txt
