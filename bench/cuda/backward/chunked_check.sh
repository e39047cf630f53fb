#!/bin/bash
# The chunked backward on the device (the UT, SSD, GLA and vector-diagonal
# (KDA, RWKV-7) forms' bf16 calls;
# fp32 calls of the same specs take the sweeps): `mixc run --target=cuda --grad`
# at T = 1, odd T, several chunks, K and V of 64 and 128, with an initial state,
# each gradient against the float64 reference fed the same rounded inputs; two
# runs bitwise-identical; compute-sanitizer; mixc.torch's autograd on packed
# sequences (torch_backward.py part 1b); then, unless TIMING=0, fwd + bwd beside
# fla (torch_backward.py part 2, FAMS, LIMIT seconds). Run from the repository
# root on the device with mixc carried in .mixc-bin/ and fla's fla/ in .fla/
# (bench/cuda/carry.sh). Results: bench/results/cuda-backward-h200.md.
# Call it as it is, not through `| tail`: a call cut short by the device's
# 10-minute limit then still shows what it printed (and $OUT/runs, timing.log).
set -u
. bench/cuda/device_env.sh
out=${OUT:-/tmp/out}
mkdir -p $out/runs
run() { grad_run $out/runs "$@"; } # name spec shape dtype
{
  run sg1 simple_gla B=1,T=1,H=2,K=64,V=64 bf16 &
  run sg2 simple_gla B=2,T=130,H=4,K=64,V=64 bf16 &
  run sg3 simple_gla B=2,T=130,H=4,K=64,V=64 f32 &
  run sg4 simple_gla B=2,T=1000,H=2,K=128,V=128 bf16 &
  run sg5 simple_gla B=1,T=63,H=2,K=128,V=64 bf16 &
  run rn1 retnet B=2,T=130,H=4,K=64,V=64 bf16 &
  run rn2 retnet B=1,T=1000,H=2,K=128,V=128 bf16 &
  run la1 linear_attention B=1,T=1,H=2,K=128,V=128 bf16 &
  run m21 mamba2 B=1,T=1000,H=2,K=128,V=128 bf16 &
  run gla1 gla B=2,T=130,H=4,K=64,V=64 bf16 &
  run gla2 gla B=1,T=1,H=2,K=64,V=64 bf16 &
  run gla3 gla B=2,T=1000,H=2,K=128,V=128 bf16 &
  run gla4 gla B=1,T=63,H=2,K=128,V=64 bf16 &
  run gla5 gla B=2,T=130,H=4,K=64,V=64 f32 &
  run hg1 hgrn2 B=2,T=130,H=4,K=64,V=64 bf16 &
  run dn1 deltanet B=2,T=130,H=2,K=64,V=64 bf16 &
  run gdn1 gated_deltanet B=1,T=1000,H=2,K=128,V=128 bf16 &
  wait
  run kda1 kda B=2,T=130,H=4,K=64,V=64 bf16 &
  run kda2 kda B=1,T=1,H=2,K=128,V=128 bf16 &
  run kda3 kda B=2,T=1000,H=2,K=128,V=128 bf16 &
  run kda4 kda B=1,T=63,H=2,K=128,V=64 bf16 &
  run kda5 kda B=2,T=130,H=4,K=64,V=64 f32 &
  run rw1 rwkv7 B=2,T=130,H=4,K=64,V=64 bf16 &
  run rw2 rwkv7 B=1,T=1000,H=2,K=128,V=128 bf16 &
  run rw3 rwkv7 B=1,T=1,H=2,K=64,V=128 bf16 &
  wait
} 2>&1 | sort
echo "--- failures"
for f in $(grep -l "FAILED\|error:" $out/runs/*.log | head -6); do echo "== $f"; grep "FAILED\|error:" $f | head -8; done
echo "--- determinism"
for spec in simple_gla gla kda; do
  same_bits $spec /tmp/det --shape B=2,T=200,H=2,K=128,V=128 --with-init --dtype=bf16
done
echo "--- compute-sanitizer"
for spec in simple_gla retnet gla kda rwkv7; do
  compute-sanitizer --tool memcheck --print-limit 5 mixc run examples/$spec.mixer --target=cuda --grad --shape B=2,T=130,H=2,K=64,V=64 --with-init --dtype=bf16 2>&1 | grep -E "ERROR SUMMARY|FAILED" | sed "s/^/$spec: /"
done
echo "--- packed sequences through mixc.torch (part 1b)"
for specs in gla.mixer gated_deltanet kda; do
  PARTS=1 SPECS=$specs timeout 300 python3 -u bench/cuda/backward/torch_backward.py 2>&1 | grep -E "packed|checks|FAILED|Error" | tail -8
done
[ "${TIMING:-1}" = 1 ] || exit 0
echo "--- fwd + bwd beside fla"
# (line by line into $out/timing.log too: a call cut short by its time limit keeps what it printed)
PARTS=2 FLA_UNGUARDED=1 FAMS=${FAMS:-gla,simple_gla,retnet,delta_rule} timeout ${LIMIT:-330} python3 -u bench/cuda/backward/torch_backward.py 2>&1 | tee $out/timing.log | grep -v "^  "
