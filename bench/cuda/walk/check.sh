#!/bin/bash
# The chunked walks' tilings (#mixer.cuda_tile's state_blocks, key_split,
# seq_split, wgmma_walk, evaluated by the glue as StatePass) on the device:
# `mixc run --target=cuda` of one spec per chunked form against the float64
# reference, bf16, with an initial state, at T = 700 (11 chunks, a ragged
# last one) and T = 37, with --cuda-sms chosen so that every tiling runs at
# small shapes: 1 SM (128-column blocks, no split, no wgmma walk), the
# device's own, and 100000 (32-column blocks with the key split, the sequence
# split of SSD and GLA, the wgmma walk of the delta rules on Hopper);
# compute-sanitizer on the split ones. Run from the repository root with the
# mixc binary and its libraries carried in .mixc-bin/.
set -u
. bench/cuda/device_env.sh
out=${OUT:-/tmp/out}
mkdir -p $out/walk
# One spec per form: SSD (scalar and identity decays), GLA, the delta rules'
# UT form (scalar diagonal, scaled low rank), the vector-diagonal UT (KDA), and
# SSD at K = 256 (one kernel, 32-column blocks).
cases="mamba2:K=64,V=128 linear_attention:K=128,V=64 gla:K=64,V=128 gated_deltanet:K=128,V=128
deltanet:K=64,V=64 kda:K=64,V=128 retnet:K=256,V=64"
# One spec per background job: each --cuda-sms is a compile of its own.
# (NORM_ONLY=1: only the fused l2norm runs below.)
[ "${NORM_ONLY:-0}" = 1 ] && cases=""
for c in $cases; do
  spec=${c%%:*} kv=${c#*:}
  (
    for sms in 1 device 100000; do
      opt=$([ $sms = device ] && echo "" || echo "--cuda-sms=$sms")
      for T in 700 37; do
        log=$out/walk/$spec.$sms.$T.log
        mixc run examples/$spec.mixer --target=cuda --shape B=2,T=$T,H=2,$kv --with-init --dtype=bf16 $opt > $log 2>&1
        echo "$spec sms=$sms T=$T rc=$? ok=$(grep -c ' OK$' $log) failed=$(grep -c FAILED $log)"
      done
    done
  ) > $out/walk/$spec.summary &
done
wait
[ -n "$cases" ] && cat $out/walk/*.summary
# The delta rules' l2norm of q and k done in the kernels' loads (l2norm_q,
# l2norm_b): the recurrent sweep (bf16 under 16 tokens, fp32 always) and the
# chunked kernels without an initial state.
for spec in deltanet gated_deltanet deltanet_negative_eigenvalues kda; do
  (
    for c in "bf16 1 --with-init" "bf16 9 --with-init" "f32 37 --with-init" "f32 130" "bf16 130"; do
      set -- $c
      log=$out/walk/$spec.norm.$1.$2.log
      mixc run examples/$spec.mixer --target=cuda --shape B=2,T=$2,H=2,K=64,V=64 --dtype=$1 ${3:-} > $log 2>&1
      echo "$spec $c rc=$? ok=$(grep -c ' OK$' $log) failed=$(grep -c FAILED $log)"
    done
  ) > $out/walk/$spec.norm.summary &
done
wait
cat $out/walk/*.norm.summary
echo "--- failures and errors"
for f in $(grep -l "FAILED\|error:" $out/walk/*.log | head -8); do echo "== $f"; grep "FAILED\|error:" $f | head -6; done
echo "--- compute-sanitizer (sms=100000: the split and narrow paths)"
for spec in $([ "${NORM_ONLY:-0}" = 1 ] && echo "gated_deltanet kda" || echo "gla mamba2 gated_deltanet kda"); do
  compute-sanitizer --tool memcheck --print-limit 5 mixc run examples/$spec.mixer --target=cuda --cuda-sms=100000 \
    --shape B=1,T=700,H=2,K=64,V=64 --with-init --dtype=bf16 2>&1 | grep -E "ERROR SUMMARY|check:" | head -4
done
