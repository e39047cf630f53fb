// RUN: mixer-opt %s --mixer-flip-reverse-scans --split-input-file | FileCheck %s
// RUN: mixer-opt %s --mixer-flip-reverse-scans --split-input-file | mixer-opt --split-input-file | FileCheck %s
// mixer-flip-reverse-scans writes a reverse recurrence as the forward one over
// its tokens flipped: each per-token operand flipped once (q and k the same
// value: one flip), per-head operands and the initial state as they are, the
// output flipped back. The CUDA backward runs it so that the adjoint's
// reverse scans take the chunked kernels (checked on an H200 by
// `mixc run --target=cuda --grad`: bench/results/cuda-backward-h200.md).

// CHECK-LABEL: func.func @reverse_scalar
// CHECK-SAME: (%[[Q:[^:]*]]: tensor<?x?x2x8xf32>, %[[V:[^:]*]]: tensor<?x?x2x4xf32>, %[[G:[^:]*]]: tensor<?x?x2xf32>, %[[S0:[^:]*]]: tensor<?x2x8x4xf32>)
// CHECK: %[[FQ:.*]] = mixer.flip_tokens %[[Q]] : tensor<?x?x2x8xf32>
// CHECK-NEXT: %[[FV:.*]] = mixer.flip_tokens %[[V]] : tensor<?x?x2x4xf32>
// CHECK-NEXT: %[[FG:.*]] = mixer.flip_tokens %[[G]] : tensor<?x?x2xf32>
// CHECK-NEXT: %[[O:.*]], %[[S:.*]] = mixer.recurrence scalar forward %[[FQ]], %[[FQ]], %[[FV]] decay(%[[FG]]) init(%[[S0]]) scale 5.000000e-01
// CHECK-NEXT: %[[FO:.*]] = mixer.flip_tokens %[[O]] : tensor<?x?x2x4xf32>
// CHECK-NEXT: return %[[FO]], %[[S]]
func.func @reverse_scalar(%q: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %g: tensor<?x?x2xf32>, %s0: tensor<?x2x8x4xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>) {
  %o, %s = mixer.recurrence scalar reverse %q, %q, %v decay(%g) init(%s0) scale 5.000000e-01 : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2xf32>, tensor<?x2x8x4xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return %o, %s : tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>
}

// -----

// A constant decay per head is not flipped; a forward recurrence is left alone.
// CHECK-LABEL: func.func @per_head_decay
// CHECK: mixer.flip_tokens %arg0
// CHECK-NOT: mixer.flip_tokens %arg3
// CHECK: mixer.recurrence const_scalar forward {{.*}} decay(%arg3)
// CHECK-LABEL: func.func @forward_untouched
// CHECK-NOT: mixer.flip_tokens
func.func @per_head_decay(%q: tensor<?x?x2x8xf32>, %k: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %g: tensor<1x1x2xf32>) -> tensor<?x?x2x4xf32> {
  %o, %s = mixer.recurrence const_scalar reverse %q, %k, %v decay(%g) : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<1x1x2xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return %o : tensor<?x?x2x4xf32>
}
func.func @forward_untouched(%q: tensor<?x?x2x8xf32>, %k: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>) -> tensor<?x?x2x4xf32> {
  %o, %s = mixer.recurrence identity forward %q, %k, %v : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return %o : tensor<?x?x2x4xf32>
}

