// RUN: mixer-opt %s --mixer-lower-adjoint=adjoint=scans --split-input-file | FileCheck %s
// RUN: mixer-opt %s --mixer-lower-adjoint=adjoint=scans --split-input-file | mixer-opt --split-input-file | FileCheck %s
// RUN: mixer-opt %s --mixer-lower-adjoint --split-input-file | FileCheck %s --check-prefix=AUTO
// RUN: mixer-opt %s --mixer-lower-adjoint=adjoint=sweep --split-input-file | FileCheck %s --check-prefix=SWEEP
// RUN: not mixer-opt %s --mixer-lower-adjoint=adjoint=fast --split-input-file 2>&1 | FileCheck %s --check-prefix=BAD
// mixer-lower-adjoint writes a diagonal recurrence's adjoint as forward-shaped
// recurrences that the targets' forward kernels run. Numerically checked by
// `mixc run --grad --adjoint=scans` (test/lit/driver/grad.test: every example
// against finite differences; test/lit/cpu/grad-cpu.test: the CPU kernels).

// GLA (per-key log-decays), forward, scale 0.5, with an initial state and the
// final state's gradient:
// CHECK-LABEL: func.func @gla_backward(
// CHECK-SAME: %[[Q:[^:]*]]: tensor<?x?x2x4xf32>, %[[K:[^:]*]]: tensor<?x?x2x4xf32>, %[[V:[^:]*]]: tensor<?x?x2x3xf32>, %[[G:[^:]*]]: tensor<?x?x2x4xf32>, %[[S0:[^:]*]]: tensor<?x2x4x3xf32>, %[[DO:[^:]*]]: tensor<?x?x2x3xf32>, %[[DF:[^:]*]]: tensor<?x2x4x3xf32>)
// CHECK-NOT: mixer.recurrence_grad
// The decays of the token processed next; the scale c stays on the adjoint
// scans' readouts (dS = c dS', dS' written with q as it is, from dF / c); the
// transposed states:
// CHECK: %[[NEXT:.*]] = mixer.shift_tokens %[[G]] by 1 : tensor<?x?x2x4xf32> -> tensor<?x?x2x4xf32>
// CHECK: %[[TWO:.*]] = mixer.constant dense<2.000000e+00> : tensor<f32>
// CHECK: %[[DFC:.*]] = mixer.binary mul %[[DF]], %[[TWO]]
// CHECK: %[[DFT:.*]] = mixer.transpose_state %[[DFC]] : tensor<?x2x4x3xf32> -> tensor<?x2x3x4xf32>
// CHECK: %[[S0T:.*]] = mixer.transpose_state %[[S0]]
// dS, backwards from dF, read at k: dv; its final state is dS at the first token.
// CHECK: %[[DV:.*]], %[[DS1C:.*]] = mixer.recurrence vector reverse %[[K]], %[[Q]], %[[DO]] decay(%[[NEXT]]) init(%[[DFC]]) scale 5.000000e-01
// dS^T read at v: dk; its decay acts on the value side (elementwise, the factor exp(decay) per column).
// CHECK: %[[FNEXT:.*]] = mixer.map exp %[[NEXT]] : tensor<?x?x2x4xf32> -> tensor<?x?x2x4xf32>
// CHECK: %[[DK:.*]], %{{.*}} = mixer.recurrence elementwise reverse %[[V]], %[[DO]], %[[Q]] dt(%[[FNEXT]]) decay_form factor init(%[[DFT]]) scale 5.000000e-01
// S^T read at do: dq, its final state S_T^T.
// CHECK: %[[FG:.*]] = mixer.map exp %[[G]]
// CHECK: %[[DQ:.*]], %[[STT:.*]] = mixer.recurrence elementwise forward %[[DO]], %[[V]], %[[K]] dt(%[[FG]]) decay_form factor init(%[[S0T]]) scale 5.000000e-01
// dinit = exp(g at the first token) . dS_1, dS_1 = c dS'_1:
// CHECK: %[[HALF:.*]] = mixer.constant dense<5.000000e-01> : tensor<f32>
// CHECK: %[[DS1:.*]] = mixer.binary mul %[[DS1C]], %[[HALF]]
// CHECK: %[[E:.*]] = mixer.edge_token %[[G]] : tensor<?x?x2x4xf32> -> tensor<?x2x4xf32>
// CHECK: %[[EXP:.*]] = mixer.map exp %[[E]]
// CHECK: %[[DINIT:.*]] = mixer.binary mul %[[DS1]], %[[EXP]]
// dg: q . dq - k . dk summed from each token on, plus rowsum(dF . S_T):
// CHECK: %[[QDQ:.*]] = mixer.binary mul %[[Q]], %[[DQ]]
// CHECK: %[[KDK:.*]] = mixer.binary mul %[[K]], %[[DK]]
// CHECK: %[[P:.*]] = mixer.binary sub %[[QDQ]], %[[KDK]]
// CHECK: %[[ST:.*]] = mixer.transpose_state %[[STT]]
// CHECK: %[[LAST:.*]] = mixer.binary dot %[[DF]], %[[ST]] : tensor<?x2x4x3xf32>, tensor<?x2x4x3xf32> -> tensor<?x2x4xf32>
// CHECK: %[[DG:.*]] = mixer.token_cumsum %[[P]] init(%[[LAST]]) reverse
// CHECK: return %[[DQ]], %[[DK]], %[[DV]], %[[DG]], %[[DINIT]]
// AUTO-LABEL: func.func @gla_backward(
// AUTO: mixer.recurrence_grad vector
// SWEEP-LABEL: func.func @gla_backward(
// SWEEP: mixer.recurrence_grad vector
// BAD: error: mixer-lower-adjoint: unknown adjoint 'fast' (expected scans, auto or sweep)
func.func @gla_backward(%q: tensor<?x?x2x4xf32>, %k: tensor<?x?x2x4xf32>, %v: tensor<?x?x2x3xf32>, %g: tensor<?x?x2x4xf32>, %s0: tensor<?x2x4x3xf32>, %do: tensor<?x?x2x3xf32>, %df: tensor<?x2x4x3xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>, tensor<?x2x4x3xf32>) {
  %r:5 = mixer.recurrence_grad vector forward %q, %k, %v decay(%g) init(%s0) scale 5.000000e-01 d_o(%do) d_final(%df) : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>, tensor<?x2x4x3xf32>, tensor<?x?x2x3xf32>, tensor<?x2x4x3xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>, tensor<?x2x4x3xf32>)
  return %r#0, %r#1, %r#2, %r#3, %r#4 : tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>, tensor<?x2x4x3xf32>
}

// -----

// A per-head constant decay in a reverse scan (RetNet's backward half of a
// bidirectional pair), without a final state's gradient: the adjoint runs
// forward, its decays are the previous token's (a per-token scalar, zero at the
// sequence's first token), dinit takes the last token's decay, and the decay's
// gradient is summed from the start to each token, then over batch and time.
// CHECK-LABEL: func.func @retnet_reverse_backward(
// CHECK-SAME: %[[Q:[^:]*]]: tensor<?x?x2x4xf32>, %[[K:[^:]*]]: tensor<?x?x2x4xf32>, %[[V:[^:]*]]: tensor<?x?x2x3xf32>, %[[G:[^:]*]]: tensor<1x1x2xf32>, %[[S0:[^:]*]]: tensor<?x2x4x3xf32>, %[[DO:[^:]*]]: tensor<?x?x2x3xf32>)
// CHECK: %[[PREV:.*]] = mixer.shift_tokens %[[G]] by -1 : tensor<1x1x2xf32> -> tensor<?x?x2xf32>
// CHECK: %[[DV:.*]], %[[DS1:.*]] = mixer.recurrence scalar forward %[[K]], %[[Q]], %[[DO]] decay(%[[PREV]]) :
// CHECK: %[[DK:.*]], %{{.*}} = mixer.recurrence scalar forward %[[V]], %[[DO]], %[[Q]] decay(%[[PREV]]) :
// CHECK: %[[DQ:.*]], %{{.*}} = mixer.recurrence const_scalar reverse %[[DO]], %[[V]], %[[K]] decay(%[[G]]) init(%{{.*}}) :
// CHECK: %[[E:.*]] = mixer.edge_token %[[G]] last : tensor<1x1x2xf32> -> tensor<?x2xf32>
// CHECK: %[[P:.*]] = mixer.binary sub
// CHECK: %[[PT:.*]] = mixer.sum_to %[[P]] : tensor<?x?x2x4xf32> -> tensor<?x?x2xf32>
// CHECK: %[[CUM:.*]] = mixer.token_cumsum %[[PT]] : (tensor<?x?x2xf32>) -> tensor<?x?x2xf32>
// CHECK: %[[DG:.*]] = mixer.sum_to %[[CUM]] : tensor<?x?x2xf32> -> tensor<1x1x2xf32>
// CHECK: return %[[DQ]], %[[DK]], %[[DV]], %[[DG]]
func.func @retnet_reverse_backward(%q: tensor<?x?x2x4xf32>, %k: tensor<?x?x2x4xf32>, %v: tensor<?x?x2x3xf32>, %g: tensor<1x1x2xf32>, %s0: tensor<?x2x4x3xf32>, %do: tensor<?x?x2x3xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<1x1x2xf32>, tensor<?x2x4x3xf32>) {
  %r:5 = mixer.recurrence_grad const_scalar reverse %q, %k, %v decay(%g) init(%s0) d_o(%do) : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<1x1x2xf32>, tensor<?x2x4x3xf32>, tensor<?x?x2x3xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<1x1x2xf32>, tensor<?x2x4x3xf32>)
  return %r#0, %r#1, %r#2, %r#3, %r#4 : tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<1x1x2xf32>, tensor<?x2x4x3xf32>
}

// -----

// What stays the adjoint recurrence: a delta rule (the low rank reads the
// state), a factor decay (no log to shift).
// CHECK-LABEL: func.func @kept(
// CHECK: mixer.recurrence_grad dplr
// CHECK: mixer.recurrence_grad scalar forward {{.*}} decay_form factor
// CHECK-NOT: mixer.recurrence {{.*}}:
func.func @kept(%q: tensor<?x?x2x4xf32>, %v: tensor<?x?x2x3xf32>, %a: tensor<?x?x2xf32>, %do: tensor<?x?x2x3xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>) {
  %r:5 = mixer.recurrence_grad dplr diag none forward %q, %q, %v lowrank(%q, %q) d_o(%do) : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>)
  %f:4 = mixer.recurrence_grad scalar forward %q, %q, %v decay(%a) decay_form factor d_o(%do) : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2xf32>, tensor<?x?x2x3xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2xf32>)
  return %r#0, %f#0, %r#1 : tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>
}

// -----

// A bonus (RWKV-6: o_t reads S_{t-1} plus the token's own term): the adjoint
// reads before its update too. The decays unshifted, each scan with a bonus
// of zeros (an exclusive readout), the decays' sum without the token's own
// q . dq', the bonus's terms per token, dinit the dS scan's final state.
// CHECK-LABEL: func.func @rwkv6_backward(
// CHECK-SAME: %[[Q:[^:]*]]: tensor<?x?x2x4xf32>, %[[K:[^:]*]]: tensor<?x?x2x4xf32>, %[[V:[^:]*]]: tensor<?x?x2x3xf32>, %[[G:[^:]*]]: tensor<?x?x2x4xf32>, %[[U:[^:]*]]: tensor<1x1x2x4xf32>, %[[S0:[^:]*]]: tensor<?x2x4x3xf32>, %[[DO:[^:]*]]: tensor<?x?x2x3xf32>, %[[DF:[^:]*]]: tensor<?x2x4x3xf32>)
// CHECK-NOT: mixer.shift_tokens
// CHECK: %[[ZK:.*]] = mixer.constant dense<0.000000e+00> : tensor<1x1x2x4xf32>
// CHECK: %[[DV:.*]], %[[DINIT:.*]] = mixer.recurrence vector reverse %[[K]], %[[Q]], %[[DO]] decay(%[[G]]) bonus(%[[ZK]]) init(%[[DF]])
// CHECK: %[[ZV:.*]] = mixer.constant dense<0.000000e+00> : tensor<1x1x2x3xf32>
// CHECK: %[[DK:.*]], %{{.*}} = mixer.recurrence elementwise reverse %[[V]], %[[DO]], %[[Q]] dt(%{{.*}}) decay_form factor bonus(%[[ZV]])
// CHECK: %[[DQ:.*]], %{{.*}} = mixer.recurrence elementwise forward %[[DO]], %[[V]], %[[K]] dt(%{{.*}}) decay_form factor bonus(%[[ZV]])
// CHECK: %[[QDQ:.*]] = mixer.binary mul %[[Q]], %[[DQ]]
// CHECK: %[[SUM:.*]] = mixer.token_cumsum
// CHECK: %[[DG:.*]] = mixer.binary sub %[[SUM]], %[[QDQ]]
// CHECK: %[[UK:.*]] = mixer.binary mul %[[K]], %[[U]]
// CHECK: %[[UQ:.*]] = mixer.binary mul %[[Q]], %[[U]]
// CHECK: %[[VDO:.*]] = mixer.binary dot %[[V]], %[[DO]] : tensor<?x?x2x3xf32>, tensor<?x?x2x3xf32> -> tensor<?x?x2xf32>
// CHECK: %[[QUK:.*]] = mixer.binary dot %[[Q]], %[[UK]]
// CHECK: %[[T0:.*]] = mixer.binary mul %[[UK]], %[[VDO]]
// CHECK: %[[GQ:.*]] = mixer.binary add %[[DQ]], %[[T0]]
// CHECK: %[[T1:.*]] = mixer.binary mul %[[UQ]], %[[VDO]]
// CHECK: %[[GK:.*]] = mixer.binary add %[[DK]], %[[T1]]
// CHECK: %[[T2:.*]] = mixer.binary mul %[[DO]], %[[QUK]]
// CHECK: %[[GV:.*]] = mixer.binary add %[[DV]], %[[T2]]
// CHECK: %[[QK:.*]] = mixer.binary mul %[[Q]], %[[K]]
// CHECK: %[[T3:.*]] = mixer.binary mul %[[QK]], %[[VDO]]
// CHECK: %[[GU:.*]] = mixer.sum_to %[[T3]] : tensor<?x?x2x4xf32> -> tensor<1x1x2x4xf32>
// CHECK: return %[[GQ]], %[[GK]], %[[GV]], %[[DG]], %[[GU]], %[[DINIT]]
// The sweep keeps it:
// SWEEP-LABEL: func.func @rwkv6_backward(
// SWEEP: mixer.recurrence_grad vector forward {{.*}} bonus(
func.func @rwkv6_backward(%q: tensor<?x?x2x4xf32>, %k: tensor<?x?x2x4xf32>, %v: tensor<?x?x2x3xf32>, %g: tensor<?x?x2x4xf32>, %u: tensor<1x1x2x4xf32>, %s0: tensor<?x2x4x3xf32>, %do: tensor<?x?x2x3xf32>, %df: tensor<?x2x4x3xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>, tensor<1x1x2x4xf32>, tensor<?x2x4x3xf32>) {
  %r:6 = mixer.recurrence_grad vector forward %q, %k, %v decay(%g) bonus(%u) init(%s0) d_o(%do) d_final(%df) : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>, tensor<1x1x2x4xf32>, tensor<?x2x4x3xf32>, tensor<?x?x2x3xf32>, tensor<?x2x4x3xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>, tensor<1x1x2x4xf32>, tensor<?x2x4x3xf32>)
  return %r#0, %r#1, %r#2, %r#3, %r#4, %r#5 : tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>, tensor<1x1x2x4xf32>, tensor<?x2x4x3xf32>
}

// -----

// Elementwise decays with one key row (HGRN, the decays as factors): two
// scans read whole with a query of ones -- the state's gradient G (its decays
// those of the next token, 1 past the edge) and the state before each token
// (a bonus of zeros) -- and every gradient a per-token product: dq = sum_v
// s do, dk = sum_v G v, dv = G k, ddt = G s_{t-1}, dinit = D_1 G_1.
// CHECK-LABEL: func.func @hgrn_backward(
// CHECK-SAME: %[[Q:[^:]*]]: tensor<?x?x2x1xf32>, %[[V:[^:]*]]: tensor<?x?x2x3xf32>, %[[F:[^:]*]]: tensor<?x?x2x3xf32>, %[[S0:[^:]*]]: tensor<?x2x1x3xf32>, %[[DO:[^:]*]]: tensor<?x?x2x3xf32>, %[[DF:[^:]*]]: tensor<?x2x1x3xf32>)
// CHECK-NOT: mixer.recurrence_grad
// CHECK: %[[ONES:.*]] = mixer.map ones %[[V]] : tensor<?x?x2x3xf32> -> tensor<?x?x2x1xf32>
// CHECK: %[[ONE:.*]] = mixer.constant dense<1.000000e+00> : tensor<f32>
// CHECK: %[[FM1:.*]] = mixer.binary sub %[[F]], %[[ONE]]
// CHECK: %[[SH:.*]] = mixer.shift_tokens %[[FM1]] by 1
// CHECK: %[[NEXT:.*]] = mixer.binary add %[[SH]], %[[ONE]]
// CHECK: %[[G:.*]], %[[G1:.*]] = mixer.recurrence elementwise reverse %[[ONES]], %[[Q]], %[[DO]] dt(%[[NEXT]]) decay_form factor init(%[[DF]])
// CHECK: %[[Z:.*]] = mixer.constant dense<0.000000e+00> : tensor<1x1x2x1xf32>
// CHECK: %[[PREV:.*]], %{{.*}} = mixer.recurrence elementwise forward %[[ONES]], %[[Q]], %[[V]] dt(%[[F]]) decay_form factor bonus(%[[Z]]) init(%[[S0]])
// CHECK: %[[KV:.*]] = mixer.binary mul %[[V]], %[[Q]]
// CHECK: %[[DP:.*]] = mixer.binary mul %[[F]], %[[PREV]]
// CHECK: %[[S:.*]] = mixer.binary add %[[DP]], %[[KV]]
// CHECK: %[[SDO:.*]] = mixer.binary mul %[[S]], %[[DO]]
// CHECK: %[[DQ:.*]] = mixer.sum_to %[[SDO]] : tensor<?x?x2x3xf32> -> tensor<?x?x2x1xf32>
// CHECK: %[[GV:.*]] = mixer.binary mul %[[G]], %[[V]]
// CHECK: %[[DK:.*]] = mixer.sum_to %[[GV]]
// CHECK: %[[DV:.*]] = mixer.binary mul %[[G]], %[[Q]]
// CHECK: %[[DDT:.*]] = mixer.binary mul %[[G]], %[[PREV]]
// CHECK: %[[D1:.*]] = mixer.edge_token %[[F]] : tensor<?x?x2x3xf32> -> tensor<?x2x3xf32>
// CHECK: %[[G1T:.*]] = mixer.transpose_state %[[G1]] : tensor<?x2x1x3xf32> -> tensor<?x2x3x1xf32>
// CHECK: %[[DI:.*]] = mixer.binary mul %[[G1T]], %[[D1]]
// CHECK: %[[DINIT:.*]] = mixer.transpose_state %[[DI]] : tensor<?x2x3x1xf32> -> tensor<?x2x1x3xf32>
// CHECK: return %[[DQ]], %[[DK]], %[[DV]], %[[DDT]], %[[DINIT]]
// SWEEP-LABEL: func.func @hgrn_backward(
// SWEEP: mixer.recurrence_grad elementwise forward
func.func @hgrn_backward(%ones: tensor<?x?x2x1xf32>, %v: tensor<?x?x2x3xf32>, %f: tensor<?x?x2x3xf32>, %s0: tensor<?x2x1x3xf32>, %do: tensor<?x?x2x3xf32>, %df: tensor<?x2x1x3xf32>) -> (tensor<?x?x2x1xf32>, tensor<?x?x2x1xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x3xf32>, tensor<?x2x1x3xf32>) {
  %r:5 = mixer.recurrence_grad elementwise forward %ones, %ones, %v dt(%f) decay_form factor init(%s0) d_o(%do) d_final(%df) : (tensor<?x?x2x1xf32>, tensor<?x?x2x1xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x3xf32>, tensor<?x2x1x3xf32>, tensor<?x?x2x3xf32>, tensor<?x2x1x3xf32>) -> (tensor<?x?x2x1xf32>, tensor<?x?x2x1xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x3xf32>, tensor<?x2x1x3xf32>)
  return %r#0, %r#1, %r#2, %r#3, %r#4 : tensor<?x?x2x1xf32>, tensor<?x?x2x1xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x3xf32>, tensor<?x2x1x3xf32>
}

// -----

// On CUDA, `auto` keeps a scalar adjoint that the SSD form's chunked backward
// takes (K and V of 64 or 128, forward: simple GLA at the benchmark's sizes)
// and lowers the same one at K = 16 to scans.
// AUTO-LABEL: func.func @ssd_cuda(
// AUTO: mixer.recurrence_grad scalar forward {{.*}}#mixer.cuda_tile
// AUTO-NOT: mixer.recurrence scalar
// GLA's per-key vector log-decays: the same (its chunked backward).
// AUTO-LABEL: func.func @gla_cuda(
// AUTO: mixer.recurrence_grad vector forward {{.*}}#mixer.cuda_tile
// AUTO-NOT: mixer.recurrence vector
// AUTO-LABEL: func.func @ssd_cuda_small(
// AUTO-NOT: mixer.recurrence_grad
// AUTO: mixer.recurrence scalar
func.func @ssd_cuda(%q: tensor<?x?x2x64xf32>, %v: tensor<?x?x2x64xf32>, %g: tensor<?x?x2xf32>, %do: tensor<?x?x2x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>) {
  %r:4 = mixer.recurrence_grad scalar forward %q, %q, %v decay(%g) d_o(%do) {mixer.schedule = #mixer.cuda_tile<algorithm = chunked_ssd, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 132, state_blocks = [128, 64, 32], key_split = 2>} : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>, tensor<?x?x2x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>)
  return %r#0, %r#1, %r#2, %r#3 : tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>
}
func.func @gla_cuda(%q: tensor<?x?x2x64xf32>, %v: tensor<?x?x2x64xf32>, %g: tensor<?x?x2x64xf32>, %do: tensor<?x?x2x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>) {
  %r:4 = mixer.recurrence_grad vector forward %q, %q, %v decay(%g) d_o(%do) {mixer.schedule = #mixer.cuda_tile<algorithm = chunked_gla, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 132, state_blocks = [128, 64, 32], key_split = 2>} : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>)
  return %r#0, %r#1, %r#2, %r#3 : tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>
}
func.func @ssd_cuda_small(%q: tensor<?x?x2x16xf32>, %v: tensor<?x?x2x16xf32>, %g: tensor<?x?x2xf32>, %do: tensor<?x?x2x16xf32>) -> (tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2xf32>) {
  %r:4 = mixer.recurrence_grad scalar forward %q, %q, %v decay(%g) d_o(%do) {mixer.schedule = #mixer.cuda_tile<algorithm = recurrent, k = 16, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32>} : (tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2xf32>, tensor<?x?x2x16xf32>) -> (tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2xf32>)
  return %r#0, %r#1, %r#2, %r#3 : tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2xf32>
}
