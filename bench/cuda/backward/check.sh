#!/bin/bash
# The CUDA backward (the derived backward printed as a tensor program) on the
# device: `mixc run --target=cuda --grad` for every example it covers, fp32 and
# bf16, odd T, T = 1 and several chunks, with an initial state, each gradient
# against the float64 reference fed the same rounded inputs; compute-sanitizer
# on five, determinism on the sweeps' kinds; the learned feature map's CUDA forward. Run from the repository root
# on the device with the mixc binary and its libraries carried in .mixc-bin/
# (results: bench/results/cuda-backward-h200.md).
set -u
. bench/cuda/device_env.sh
out=${OUT:-/tmp/out}
mkdir -p $out/runs
# Every example (each has a CUDA backward: scans, the three sweeps, the
# checkpointed sweep, a mixture's gathers around them).
specs=${SPECS:-"$(ls examples/*.mixer | xargs -n1 basename | sed 's/\.mixer$//' | tr '\n' ' ')"}
for spec in $specs; do
  (
    for shape in "B=2,T=37,H=2,K=16,V=16" "B=1,T=1,H=2,K=16,V=16" "B=2,T=130,H=4,K=64,V=64"; do
      for dt in f32 bf16; do
        log=$out/runs/$spec.$(echo $shape | tr ',=' '__').$dt.log
        mixc run examples/$spec.mixer --target=cuda --grad --shape $shape --with-init --dtype=$dt > $log 2>&1
        echo "$spec $shape $dt rc=$? ok=$(grep -c ' OK$' $log) failed=$(grep -c FAILED $log)"
      done
    done
  ) > $out/runs/$spec.summary &
done
wait
cat $out/runs/*.summary
echo "--- failures and errors"
grep -l "FAILED\|error:" $out/runs/*.log | head -20
for f in $(grep -l "FAILED\|error:" $out/runs/*.log | head -5); do echo "== $f"; grep "FAILED\|error:" $f | head -8; done
[ "${EXTRAS:-1}" = 1 ] || exit 0 # EXTRAS=0: the specs' checks alone
echo "--- determinism: two runs, the same bits"
for spec in gated_deltanet mamba mamba2_negative_eigenvalues mlstm mom_gated_deltanet; do
  same_bits $spec $out/det --shape B=2,T=130,H=4,K=64,V=64 --with-init
done
echo "--- compute-sanitizer"
for spec in gla hedgehog mamba mlstm mom_gated_deltanet; do
  compute-sanitizer --tool memcheck --print-limit 5 mixc run examples/$spec.mixer --target=cuda --grad --shape B=2,T=37,H=2,K=16,V=16 --with-init 2>&1 | grep -E "ERROR SUMMARY|FAILED|error" | sed "s/^/$spec: /" | head -8
done
echo "--- learned feature map forward"
for dt in f32 bf16; do
  mixc run examples/hedgehog.mixer --target=cuda --shape B=2,T=130,H=4,K=64,F=32,V=64 --with-init --dtype=$dt 2>&1 | grep -E "check|error"
done
