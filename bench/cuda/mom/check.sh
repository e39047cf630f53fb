#!/bin/bash
# Mixture-of-Memories on the device: `mixc run --target=cuda` on the MoM
# example (Gated DeltaNet, the chunked UT kernel) and MoM over GLA (the
# chunked GLA kernel), fp32 and bf16, T = 1, odd T and several chunks, with
# and without an initial state, each output against the float64 reference
# fed the same rounded inputs; compute-sanitizer on one. Run from the
# repository root on the device with the mixc binary and its libraries
# carried in .mixc-bin/ (results: bench/results/mom-h200.md).
set -u
. bench/cuda/device_env.sh
out=${OUT:-/tmp/out}
mkdir -p $out/runs
for spec in examples/mom_gated_deltanet.mixer test/lit/cpu/Inputs/mom_gla.mixer; do
  n=$(basename $spec .mixer)
  (
    for shape in "B=2,T=37,H=2,K=64,V=64" "B=1,T=1,H=2,K=64,V=64" "B=2,T=700,H=4,K=128,V=128"; do
      for dt in f32 bf16; do
        for init in --with-init ""; do
          log=$out/runs/$n.$(echo $shape | tr ',=' '__').$dt$init.log
          mixc run $spec --target=cuda --shape $shape $init --dtype=$dt > $log 2>&1
          echo "$n $shape $dt $init rc=$? ok=$(grep -c ' OK$' $log) failed=$(grep -c FAILED $log)"
        done
      done
    done
  ) > $out/runs/$n.summary &
done
wait
cat $out/runs/*.summary
echo "--- failures and errors"
for f in $(grep -l "FAILED\|error" $out/runs/*.log | head -5); do echo "== $f"; grep -B2 "FAILED\|error" $f | head -12; done
echo "--- one run in full"
cat $out/runs/mom_gated_deltanet.B_2_T_700_H_4_K_128_V_128.bf16--with-init.log
echo "--- compute-sanitizer"
compute-sanitizer --tool memcheck --print-limit 5 mixc run examples/mom_gated_deltanet.mixer --target=cuda --shape B=2,T=70,H=2,K=64,V=64 --with-init --dtype=bf16 2>&1 | grep -E "ERROR SUMMARY|check:|error" | head -8
