// RUN: mixer-opt %s --mixer-derive-backward | FileCheck %s
// decayed_b, the fused row norms (l2norm_q, l2norm_b) and the scaled low-rank
// form exist only after mixer-tile{target=cuda}, and the adjoint keeps them
// (launchDeltaGrad takes them: k's rows and the scales, no b . exp(g), a or
// key written out, no normalized q and k; it gives the scales' gradients,
// a_scale's and k_scale's, as results, the decay's with b's factor in it,
// and q's and b's through the norms, so no map_vjp follows).

// CHECK-LABEL: func.func @kda_tiled(
// CHECK: mixer.recurrence dplr diag vector forward {{.*}} decayed_b k_scale
// CHECK-LABEL: func.func @kda_tiled_backward(
// CHECK-NOT: mixer.map exp
// CHECK: %[[G:.*]]:7 = mixer.recurrence_grad dplr diag vector forward %arg0, %arg1, %arg2 decay(%arg3) lowrank(%arg4 * %arg1) decayed_b k_scale(%arg5) d_o
// CHECK: %[[DK:.*]] = mixer.binary add %[[G]]#1, %[[G]]#4
// CHECK: return %[[G]]#0, %[[DK]], %[[G]]#2, %[[G]]#3, %[[G]]#5, %[[G]]#6 :
func.func @kda_tiled(%q: tensor<?x?x4x64xf32>, %k: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4x64xf32>, %s: tensor<?x?x4xf32>, %c: tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>) {
  %o, %st = mixer.recurrence dplr diag vector forward %q, %k, %v decay(%g) lowrank(%s * %k) decayed_b k_scale(%c) : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>)
  return %o, %st : tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>
}

// CHECK-LABEL: func.func @gdn_tiled(
// CHECK: mixer.recurrence dplr diag scalar forward %arg0, %arg1, %arg2 decay(%arg3) lowrank(%arg4 * %arg1) l2norm_q l2norm_b k_scale(%arg5)
// CHECK-LABEL: func.func @gdn_tiled_backward(
// CHECK-NOT: mixer.map l2norm
// CHECK: %[[G:.*]]:7 = mixer.recurrence_grad dplr diag scalar forward %arg0, %arg1, %arg2 decay(%arg3) lowrank(%arg4 * %arg1) l2norm_q l2norm_b k_scale(%arg5) d_o
// CHECK: %[[DK:.*]] = mixer.binary add %[[G]]#1, %[[G]]#4
// CHECK-NOT: map_vjp
// CHECK-NOT: binary_vjp
// CHECK: return %[[G]]#0, %[[DK]], %[[G]]#2, %[[G]]#3, %[[G]]#5, %[[G]]#6 :
func.func @gdn_tiled(%q: tensor<?x?x4x64xf32>, %k: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4xf32>, %s: tensor<?x?x4xf32>, %c: tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>) {
  %o, %st = mixer.recurrence dplr diag scalar forward %q, %k, %v decay(%g) lowrank(%s * %k) l2norm_q l2norm_b k_scale(%c) : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>)
  return %o, %st : tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>
}
