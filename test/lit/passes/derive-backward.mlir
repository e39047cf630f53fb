// RUN: mixer-opt %s --mixer-derive-backward --split-input-file | FileCheck %s
// RUN: mixer-opt %s --mixer-derive-backward --split-input-file | mixer-opt --split-input-file | FileCheck %s
// mixer-derive-backward adds @f_backward(inputs..., do, dfinal_state) ->
// (d input...): the forward recomputed, then one adjoint op per op in
// reverse order. The derived backward is checked numerically by `mixc run
// --grad` (test/lit/driver/grad.test: every example against finite differences).

// A gated delta rule as the canonical form writes it: the gradient of b's and
// k's shared operand is summed, the per-head parameter's gradient comes from
// a binary_vjp that sums over batch and time, the constant gets none, and an
// input the loss does not reach gets zeros.
// CHECK-LABEL: func.func @gdn_backward(
// CHECK-SAME: %[[Q:[^:]*]]: tensor<?x?x2x4xf32> {mixer.name = "q"}
// CHECK-SAME: %[[K:[^:]*]]: tensor<?x?x2x4xf32> {mixer.name = "k"}
// CHECK-SAME: %[[BETA:[^:]*]]: tensor<?x?x2xf32> {mixer.name = "beta"}
// CHECK-SAME: %[[ALOG:[^:]*]]: tensor<1x1x2xf32> {mixer.name = "A_log"}
// CHECK-SAME: %[[UNUSED:[^:]*]]: tensor<?x?x2xf32> {mixer.name = "unused"}
// CHECK-SAME: %[[DO:[^:]*]]: tensor<?x?x2x3xf32> {mixer.name = "do"}
// CHECK-SAME: %[[DF:[^:]*]]: tensor<?x2x4x3xf32> {mixer.name = "dfinal_state"}
// CHECK-SAME: -> (tensor<?x?x2x4xf32> {mixer.name = "dq"}, tensor<?x?x2x4xf32> {mixer.name = "dk"}, tensor<?x?x2x3xf32> {mixer.name = "dv"}, tensor<?x?x2xf32> {mixer.name = "dbeta"}, tensor<1x1x2xf32> {mixer.name = "dA_log"}, tensor<?x?x2xf32> {mixer.name = "dunused"})
// CHECK-SAME: mixer.backward_of = @gdn
// The forward's pre-processing, recomputed:
// CHECK: %[[KN:.*]] = mixer.map l2norm %[[K]]
// CHECK: %[[S:.*]] = mixer.map sigmoid %[[BETA]]
// CHECK: %[[G:.*]] = mixer.binary mul %[[ALOG]], %[[S]]
// The forward recurrence itself is not recomputed (its adjoint recomputes the states):
// CHECK-NOT: mixer.recurrence dplr
// The recurrence's adjoint: one gradient per operand (q, k, v, decay, b, a_scale, k_scale).
// CHECK: %[[RG:.*]]:7 = mixer.recurrence_grad dplr diag scalar forward %[[Q]], %[[KN]], %{{.*}} decay(%[[G]]) lowrank(%{{.*}} * %[[KN]]) k_scale(%[[S]]) d_o(%[[DO]]) d_final(%[[DF]])
// k's row is the key and b: their gradients add.
// CHECK: %[[DKN:.*]] = mixer.binary add %[[RG]]#1, %[[RG]]#4
// CHECK: %[[DALOG:.*]] = mixer.binary_vjp mul 0 %[[ALOG]], %[[S]], %[[RG]]#3 : tensor<1x1x2xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32> -> tensor<1x1x2xf32>
// CHECK: mixer.binary_vjp mul 1 %[[ALOG]], %[[S]], %[[RG]]#3 : tensor<1x1x2xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32> -> tensor<?x?x2xf32>
// CHECK: %[[DS:.*]] = mixer.map_vjp sigmoid %[[BETA]], %[[S]], %{{.*}} : tensor<?x?x2xf32> -> tensor<?x?x2xf32>
// CHECK: %[[DK:.*]] = mixer.map_vjp l2norm %[[K]], %[[KN]], %[[DKN]]
// CHECK: %[[Z:.*]] = mixer.zeros_like %[[UNUSED]] : tensor<?x?x2xf32>
// CHECK: return %[[RG]]#0, %[[DK]], %[[RG]]#2, %[[DS]], %[[DALOG]], %[[Z]]
func.func @gdn(%q: tensor<?x?x2x4xf32> {mixer.name = "q"}, %k: tensor<?x?x2x4xf32> {mixer.name = "k"}, %v: tensor<?x?x2x3xf32> {mixer.name = "v"}, %beta: tensor<?x?x2xf32> {mixer.name = "beta"}, %alog: tensor<1x1x2xf32> {mixer.name = "A_log"}, %unused: tensor<?x?x2xf32> {mixer.name = "unused"}) -> (tensor<?x?x2x3xf32>, tensor<?x2x4x3xf32>) {
  %m1 = mixer.constant dense<-1.000000e+00> : tensor<f32>
  %kn = mixer.map l2norm %k : tensor<?x?x2x4xf32> -> tensor<?x?x2x4xf32>
  %s = mixer.map sigmoid %beta : tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  %g = mixer.binary mul %alog, %s : tensor<1x1x2xf32>, tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  %a = mixer.binary mul %m1, %s : tensor<f32>, tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  %o, %st = mixer.recurrence dplr diag scalar forward %q, %kn, %v decay(%g) lowrank(%a * %kn) k_scale(%s) : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x3xf32>, tensor<?x2x4x3xf32>)
  return %o, %st : tensor<?x?x2x3xf32>, tensor<?x2x4x3xf32>
}

// -----

// A normalized readout: the normalize op's adjoint feeds the recurrence's
// o gradient; `ones` passes no gradient to its input.
// CHECK-LABEL: func.func @normalized_backward(
// CHECK: %[[R:.*]] = mixer.normalize_vjp %{{.*}}, %{{.*}} eps 5.000000e-01 scale 1.000000e+00 : tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32> -> tensor<?x?x2x4xf32>
// CHECK: mixer.recurrence_grad identity forward %{{.*}} d_o(%[[R]]) d_final(%{{.*}})
// CHECK-NOT: mixer.map_vjp ones
func.func @normalized(%q: tensor<?x?x2x4xf32> {mixer.name = "q"}, %v: tensor<?x?x2x3xf32> {mixer.name = "v"}) -> (tensor<?x?x2x3xf32>, tensor<?x2x4x4xf32>) {
  %v1 = mixer.map append_one %v : tensor<?x?x2x3xf32> -> tensor<?x?x2x4xf32>
  %o, %st = mixer.recurrence identity forward %q, %q, %v1 : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x4x4xf32>)
  %n = mixer.normalize %o eps 5.000000e-01 scale 1.000000e+00 : tensor<?x?x2x4xf32> -> tensor<?x?x2x3xf32>
  return %n, %st : tensor<?x?x2x3xf32>, tensor<?x2x4x4xf32>
}
