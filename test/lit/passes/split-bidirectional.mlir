// RUN: mixer-opt %s --mixer-split-bidirectional --split-input-file --verify-diagnostics | FileCheck %s

// CHECK-LABEL: func.func @bidirectional_gla
// CHECK-SAME: (%[[Q:.*]]: tensor<?x?x2x4xf32>, %[[K:.*]]: tensor<?x?x2x4xf32>, %[[V:.*]]: tensor<?x?x2x3xf32>, %[[G:.*]]: tensor<?x?x2x4xf32>)
// CHECK: %[[OF:.*]], %[[SF:.*]] = mixer.recurrence vector forward %[[Q]], %[[K]], %[[V]] decay(%[[G]]) scale 5.000000e-01
// CHECK: %[[OR:.*]], %{{.*}} = mixer.recurrence vector reverse %[[Q]], %[[K]], %[[V]] decay(%[[G]]) scale 5.000000e-01
// CHECK: %[[QK:.*]] = mixer.binary dot %[[Q]], %[[K]] : tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32> -> tensor<?x?x2xf32>
// CHECK: %[[SELF:.*]] = mixer.binary mul %[[V]], %[[QK]]
// CHECK: %[[C:.*]] = mixer.constant dense<5.000000e-01> : tensor<f32>
// CHECK: %[[SELFS:.*]] = mixer.binary mul %[[SELF]], %[[C]]
// CHECK: %[[SUM:.*]] = mixer.binary add %[[OF]], %[[OR]]
// CHECK: %[[O:.*]] = mixer.binary sub %[[SUM]], %[[SELFS]]
// CHECK: return %[[O]], %[[SF]]
func.func @bidirectional_gla(%q: tensor<?x?x2x4xf32>, %k: tensor<?x?x2x4xf32>, %v: tensor<?x?x2x3xf32>, %g: tensor<?x?x2x4xf32>) -> (tensor<?x?x2x3xf32>, tensor<?x2x4x3xf32>) {
  %o, %s = mixer.recurrence vector bidirectional %q, %k, %v decay(%g) scale 0.5 : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>) -> (tensor<?x?x2x3xf32>, tensor<?x2x4x3xf32>)
  return %o, %s : tensor<?x?x2x3xf32>, tensor<?x2x4x3xf32>
}

// -----

// The normalizer must be a value column first.
func.func @normalized(%q: tensor<?x?x2x4xf32>, %v: tensor<?x?x2x3xf32>) -> tensor<?x?x2x3xf32> {
  // expected-error @+1 {{split the skip and the normalizer before the directions}}
  %o, %s = mixer.recurrence identity bidirectional %q, %q, %v normalizer sum : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>) -> (tensor<?x?x2x3xf32>, tensor<?x2x4x4xf32>)
  return %o : tensor<?x?x2x3xf32>
}

// -----

// A delta rule in the scaled low-rank form writes k_scale k v^T: the token's
// own term subtracted once is k_scale (q . k) v.
// CHECK-LABEL: func.func @bidirectional_delta
// CHECK-SAME: (%[[Q:.*]]: tensor<?x?x2x4xf32>, %[[K:.*]]: tensor<?x?x2x4xf32>, %[[V:.*]]: tensor<?x?x2x3xf32>, %[[A:.*]]: tensor<?x?x2xf32>, %[[B:.*]]: tensor<?x?x2xf32>)
// CHECK: mixer.recurrence dplr diag none forward
// CHECK: mixer.recurrence dplr diag none reverse
// CHECK: %[[QK:.*]] = mixer.binary dot %[[Q]], %[[K]]
// CHECK: %[[QKS:.*]] = mixer.binary mul %[[QK]], %[[B]] : tensor<?x?x2xf32>, tensor<?x?x2xf32> -> tensor<?x?x2xf32>
// CHECK: mixer.binary mul %[[V]], %[[QKS]]
func.func @bidirectional_delta(%q: tensor<?x?x2x4xf32>, %k: tensor<?x?x2x4xf32>, %v: tensor<?x?x2x3xf32>, %a: tensor<?x?x2xf32>, %beta: tensor<?x?x2xf32>) -> (tensor<?x?x2x3xf32>, tensor<?x2x4x3xf32>) {
  %o, %s = mixer.recurrence dplr diag none bidirectional %q, %k, %v lowrank(%a * %k) k_scale(%beta) : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x3xf32>, tensor<?x2x4x3xf32>)
  return %o, %s : tensor<?x?x2x3xf32>, tensor<?x2x4x3xf32>
}
