// RUN: mixer-opt %s --mixer-normalizer-to-column | FileCheck %s

// CHECK-LABEL: func.func @normalized
// CHECK-SAME: (%[[Q:.*]]: tensor<?x?x2x4xf32>, %[[K:.*]]: tensor<?x?x2x4xf32>, %[[V:.*]]: tensor<?x?x2x3xf32>, %[[S0:.*]]: tensor<?x2x4x4xf32>)
// CHECK: %[[V1:.*]] = mixer.map append_one %[[V]] : tensor<?x?x2x3xf32> -> tensor<?x?x2x4xf32>
// CHECK: %[[O:.*]], %[[S:.*]] = mixer.recurrence identity forward %[[Q]], %[[K]], %[[V1]] init(%[[S0]]) : ({{.*}}) -> (tensor<?x?x2x4xf32>, tensor<?x2x4x4xf32>)
// CHECK: %[[N:.*]] = mixer.normalize %[[O]] eps 9.9999999999999995E-7 scale 2.500000e-01 : tensor<?x?x2x4xf32> -> tensor<?x?x2x3xf32>
// CHECK: return %[[N]], %[[S]]
func.func @normalized(%q: tensor<?x?x2x4xf32>, %k: tensor<?x?x2x4xf32>, %v: tensor<?x?x2x3xf32>, %s0: tensor<?x2x4x4xf32>) -> (tensor<?x?x2x3xf32>, tensor<?x2x4x4xf32>) {
  %o, %s = mixer.recurrence identity forward %q, %k, %v init(%s0) normalizer sum eps 1.0e-6 scale 0.25 : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x2x4x4xf32>) -> (tensor<?x?x2x3xf32>, tensor<?x2x4x4xf32>)
  return %o, %s : tensor<?x?x2x3xf32>, tensor<?x2x4x4xf32>
}

// max_abs: the same column, the floor in the normalize op.
// CHECK-LABEL: func.func @max_abs
// CHECK: mixer.map append_one
// CHECK: mixer.normalize %{{.*}} max_abs eps 1.000000e+00 scale 1.000000e+00 :
func.func @max_abs(%q: tensor<?x?x2x4xf32>, %k: tensor<?x?x2x4xf32>, %v: tensor<?x?x2x3xf32>) -> tensor<?x?x2x3xf32> {
  %o, %s = mixer.recurrence identity forward %q, %k, %v normalizer max_abs eps 1.0 : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>) -> (tensor<?x?x2x3xf32>, tensor<?x2x4x4xf32>)
  return %o : tensor<?x?x2x3xf32>
}

// mLSTM keeps its normalizer: the kernel carries the stabilizer.
// CHECK-LABEL: func.func @mlstm
// CHECK-NOT: append_one
// CHECK: normalizer mlstm
func.func @mlstm(%q: tensor<?x?x2x4xf32>, %v: tensor<?x?x2x3xf32>, %f: tensor<?x?x2xf32>) -> tensor<?x?x2x3xf32> {
  %o, %s, %m = mixer.recurrence scalar forward %q, %q, %v decay(%f) igate(%f) normalizer mlstm : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x3xf32>, tensor<?x2x4x4xf32>, tensor<?x2xf32>)
  return %o : tensor<?x?x2x3xf32>
}
