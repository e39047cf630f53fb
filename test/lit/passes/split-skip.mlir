// RUN: mixer-opt %s --mixer-split-skip | FileCheck %s

// CHECK-LABEL: func.func @mamba2_like
// CHECK-SAME: (%[[Q:.*]]: tensor<?x?x2x4xf32>, %[[K:.*]]: tensor<?x?x2x4xf32>, %[[X:.*]]: tensor<?x?x2x3xf32>, %[[G:.*]]: tensor<?x?x2xf32>, %[[D:.*]]: tensor<1x1x2x3xf32>)
// CHECK: %[[O:.*]], %[[S:.*]] = mixer.recurrence scalar forward %[[Q]], %[[K]], %[[X]] decay(%[[G]]) scale 5.000000e-01 :
// CHECK-NOT: skip
// CHECK: %[[DX:.*]] = mixer.binary mul %[[D]], %[[X]] : tensor<1x1x2x3xf32>, tensor<?x?x2x3xf32> -> tensor<?x?x2x3xf32>
// CHECK: %[[SUM:.*]] = mixer.binary add %[[O]], %[[DX]]
// CHECK: return %[[SUM]], %[[S]]
func.func @mamba2_like(%q: tensor<?x?x2x4xf32>, %k: tensor<?x?x2x4xf32>, %x: tensor<?x?x2x3xf32>, %g: tensor<?x?x2xf32>, %d: tensor<1x1x2x3xf32>) -> (tensor<?x?x2x3xf32>, tensor<?x2x4x3xf32>) {
  %o, %s = mixer.recurrence scalar forward %q, %k, %x decay(%g) skip(%d, %x) scale 0.5 : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2xf32>, tensor<1x1x2x3xf32>, tensor<?x?x2x3xf32>) -> (tensor<?x?x2x3xf32>, tensor<?x2x4x3xf32>)
  return %o, %s : tensor<?x?x2x3xf32>, tensor<?x2x4x3xf32>
}

// A recurrence without skip is left alone.
// CHECK-LABEL: func.func @no_skip
// CHECK-NEXT: mixer.recurrence identity forward
// CHECK-NEXT: return
func.func @no_skip(%q: tensor<?x?x2x4xf32>, %v: tensor<?x?x2x3xf32>) -> tensor<?x?x2x3xf32> {
  %o, %s = mixer.recurrence identity forward %q, %q, %v : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>) -> (tensor<?x?x2x3xf32>, tensor<?x2x4x3xf32>)
  return %o : tensor<?x?x2x3xf32>
}
