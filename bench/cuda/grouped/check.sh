#!/bin/bash
# Grouped heads on CUDA: `mixc run --target=cuda` of the grouped specs (fp32/bf16,
# several T and G) against the float64 reference, and compute-sanitizer. Run on
# the GPU machine from the repository root with .mixc-bin carried (mixc and its
# libraries, see bench/results/cuda-driver-h200.log). Results: cuda-grouped-h200.md.
set -u
. bench/cuda/device_env.sh
GDN=test/lit/python/Inputs/gdn_gva.mixer GLA=test/fuzz/seeds/grouped_gla.mixer
run() { echo "== $*"; mixc run "$@" --target=cuda --with-init 2>&1 | grep -E "check|error|cuda:|schedule" ; }
for dt in f32 bf16; do
  run $GDN --dtype=$dt --shape B=2,T=37,H=8,K=64,V=64,G=2
  run $GDN --dtype=$dt --shape B=2,T=1,H=8,K=64,V=64,G=4
  run $GDN --dtype=$dt --shape B=2,T=1000,H=8,K=64,V=64,G=2
  run $GDN --dtype=$dt --shape B=1,T=700,H=4,K=128,V=128,G=4
  run $GLA --dtype=$dt --shape B=2,T=37,H=8,K=64,V=64,G=2
  run $GLA --dtype=$dt --shape B=2,T=1000,H=8,K=64,V=64,G=4
  run $GLA --dtype=$dt --shape B=1,T=1,H=8,K=64,V=64,G=8
done
echo "== sanitizer"
mixc emit $GDN --target=cuda --shape H=8,K=64,V=64,G=2 -o /tmp/gsrc > /dev/null && echo emitted
compute-sanitizer --tool memcheck mixc run $GDN --target=cuda --dtype=bf16 --with-init --shape B=1,T=200,H=8,K=64,V=64,G=2 2>&1 | grep -E "ERROR SUMMARY|check" | head
compute-sanitizer --tool memcheck mixc run $GLA --target=cuda --dtype=bf16 --with-init --shape B=1,T=200,H=8,K=64,V=64,G=2 2>&1 | grep -E "ERROR SUMMARY|check" | head
