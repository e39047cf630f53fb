// RUN: mixer-opt %s --pass-pipeline='builtin.module(func.func(mixer-tile{target=cuda}))' --split-input-file | FileCheck %s
// mixer-tile{target=cuda} chooses the CUDA form of a derived backward's
// recurrence (mixer.recurrence_grad, tiled as its forward was): where the
// three sweeps of the low-rank form do not take it (here a scalar transition
// of factors that may be negative, Mamba-2's (-1, 1) decays), the
// checkpointed reverse sweep, the state kept every grad_checkpoint tokens.

// CHECK-LABEL: func.func @negative_factors
// CHECK: mixer.recurrence_grad scalar forward
// CHECK-SAME: mixer.schedule = #mixer.cuda_tile<algorithm = recurrent, k = 4, v_block = 4, cols_per_warp = 4, warps = 1, stage = 32, grad_checkpoint = 64>
func.func @negative_factors(%q: tensor<?x?x2x4xf32>, %k: tensor<?x?x2x4xf32>, %v: tensor<?x?x2x3xf32>, %a: tensor<?x?x2xf32>, %do: tensor<?x?x2x3xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2xf32>) {
  %g:4 = mixer.recurrence_grad scalar forward %q, %k, %v decay(%a) decay_form factor d_o(%do) {mixer.schedule = #mixer.cuda_tile<algorithm = recurrent, k = 4, v_block = 4, cols_per_warp = 4, warps = 1, stage = 32>} : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2xf32>, tensor<?x?x2x3xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2xf32>)
  return %g#0, %g#1, %g#2, %g#3 : tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2xf32>
}

// -----

// A low-rank term without a decay (the delta rule): the three sweeps, no checkpoint.
// CHECK-LABEL: func.func @delta_rule
// CHECK: mixer.recurrence_grad dplr diag none forward
// CHECK-SAME: mixer.schedule = #mixer.cuda_tile<algorithm = recurrent, k = 4, v_block = 4, cols_per_warp = 4, warps = 1, stage = 32>}
func.func @delta_rule(%q: tensor<?x?x2x4xf32>, %k: tensor<?x?x2x4xf32>, %v: tensor<?x?x2x3xf32>, %a: tensor<?x?x2x4xf32>, %b: tensor<?x?x2x4xf32>, %do: tensor<?x?x2x3xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>) {
  %g:5 = mixer.recurrence_grad dplr diag none forward %q, %k, %v lowrank(%a, %b) d_o(%do) {mixer.schedule = #mixer.cuda_tile<algorithm = recurrent, k = 4, v_block = 4, cols_per_warp = 4, warps = 1, stage = 32>} : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>)
  return %g#0, %g#1, %g#2, %g#3, %g#4 : tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>
}

// -----

// A low-rank term with a decay (Gated DeltaNet): the sweeps with the state
// kept every grad_checkpoint tokens, so that the decay's gradient is the
// direct product dS_t . S_{t-1}.
// CHECK-LABEL: func.func @gated_delta_rule
// CHECK: mixer.recurrence_grad dplr diag scalar forward
// CHECK-SAME: mixer.schedule = #mixer.cuda_tile<algorithm = recurrent, k = 4, v_block = 4, cols_per_warp = 4, warps = 1, stage = 32, grad_checkpoint = 64>
func.func @gated_delta_rule(%q: tensor<?x?x2x4xf32>, %k: tensor<?x?x2x4xf32>, %v: tensor<?x?x2x3xf32>, %d: tensor<?x?x2xf32>, %a: tensor<?x?x2x4xf32>, %b: tensor<?x?x2x4xf32>, %do: tensor<?x?x2x3xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>) {
  %g:6 = mixer.recurrence_grad dplr diag scalar forward %q, %k, %v decay(%d) lowrank(%a, %b) d_o(%do) {mixer.schedule = #mixer.cuda_tile<algorithm = recurrent, k = 4, v_block = 4, cols_per_warp = 4, warps = 1, stage = 32>} : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>)
  return %g#0, %g#1, %g#2, %g#3, %g#4, %g#5 : tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>
}
