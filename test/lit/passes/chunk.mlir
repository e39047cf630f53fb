// RUN: mixer-opt %s --mixer-chunk --split-input-file --verify-diagnostics | FileCheck %s
// RUN: mixer-opt %s --mixer-chunk="chunk-size=32" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=C32

// Identity and scalar decays take the SSD form.
// CHECK-LABEL: func.func @scalar
// CHECK: mixer.recurrence scalar forward {{.*}} {mixer.chunk = {algorithm = "ssd", size = 64 : i64}}
// C32-LABEL: func.func @scalar
// C32: {mixer.chunk = {algorithm = "ssd", size = 32 : i64}}
func.func @scalar(%q: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %g: tensor<?x?x2xf32>) -> tensor<?x?x2x4xf32> {
  %o, %s = mixer.recurrence scalar forward %q, %q, %v decay(%g) : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return %o : tensor<?x?x2x4xf32>
}

// CHECK-LABEL: func.func @identity
// CHECK: mixer.recurrence identity reverse {{.*}} {mixer.chunk = {algorithm = "ssd", size = 64 : i64}}
func.func @identity(%q: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>) -> tensor<?x?x2x4xf32> {
  %o, %s = mixer.recurrence identity reverse %q, %q, %v : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return %o : tensor<?x?x2x4xf32>
}

// Vector decays take the GLA form, with sub-blocks of 16.
// CHECK-LABEL: func.func @vector
// CHECK: mixer.recurrence vector forward {{.*}} {mixer.chunk = {algorithm = "gla", size = 64 : i64, sub_block = 16 : i64}}
func.func @vector(%q: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %g: tensor<?x?x2x8xf32>) -> tensor<?x?x2x4xf32> {
  %o1, %s1 = mixer.recurrence vector forward %q, %q, %v decay(%g) : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x8xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return %o1 : tensor<?x?x2x4xf32>
}

// Elementwise decays (Mamba-1) take the chunked scan.
// CHECK-LABEL: func.func @elementwise
// CHECK: mixer.recurrence elementwise forward {{.*}} {mixer.chunk = {algorithm = "scan", size = 64 : i64}}
// C32-LABEL: func.func @elementwise
// C32: {mixer.chunk = {algorithm = "scan", size = 32 : i64}}
func.func @elementwise(%c: tensor<?x?x2x16xf32>, %x: tensor<?x?x2x32xf32>, %a: tensor<1x1x2x16x32xf32>, %dt: tensor<?x?x2x32xf32>) -> tensor<?x?x2x32xf32> {
  %o, %s = mixer.recurrence elementwise forward %c, %c, %x decay(%a) dt(%dt) : (tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x32xf32>, tensor<1x1x2x16x32xf32>, tensor<?x?x2x32xf32>) -> (tensor<?x?x2x32xf32>, tensor<?x2x16x32xf32>)
  return %o : tensor<?x?x2x32xf32>
}

// Structures without a chunked form here, the bonus and mLSTM stay recurrent.
// CHECK-LABEL: func.func @not_chunked
// CHECK-NOT: mixer.chunk
// CHECK: return
func.func @not_chunked(%q: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %g: tensor<?x?x2x8xf32>, %f: tensor<?x?x2xf32>, %u: tensor<1x1x2x8xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>) {
  %o2, %s2 = mixer.recurrence scalar forward %q, %q, %v decay(%f) bonus(%u) : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2xf32>, tensor<1x1x2x8xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  %o3, %s3, %m3 = mixer.recurrence scalar forward %q, %q, %v decay(%f) igate(%f) normalizer mlstm : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x5xf32>, tensor<?x2xf32>)
  return %o2, %o3 : tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>
}

// -----

// A decay given as a factor (decay_form factor) that may be negative (tanh:
// decays in (-1, 1)) has no real logarithm: no chunked form. A factor that is
// positive by construction (a sigmoid, scaled by a positive constant) is
// chunked, and so is any decay given as its log.
// CHECK-LABEL: func.func @signed_decay
// CHECK: %[[T:.*]] = mixer.map tanh
// CHECK: mixer.recurrence scalar forward {{.*}} decay(%[[T]]) decay_form factor :
// CHECK-NOT: mixer.chunk
// CHECK: mixer.recurrence scalar forward {{.*}} decay_form factor {mixer.chunk = {algorithm = "ssd", size = 64 : i64}}
// CHECK: mixer.recurrence scalar forward {{.*}} {mixer.chunk = {algorithm = "ssd", size = 64 : i64}}
// CHECK: return
func.func @signed_decay(%q: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %g: tensor<?x?x2xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>) {
  %t = mixer.map tanh %g : tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  %o1, %s1 = mixer.recurrence scalar forward %q, %q, %v decay(%t) decay_form factor : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  %s = mixer.map sigmoid %g : tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  %c = mixer.constant dense<0.5> : tensor<f32>
  %sc = mixer.binary mul %s, %c : tensor<?x?x2xf32>, tensor<f32> -> tensor<?x?x2xf32>
  %o2, %s2 = mixer.recurrence scalar forward %q, %q, %v decay(%sc) decay_form factor : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  %lt = mixer.map log %t : tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  %o3, %s3 = mixer.recurrence scalar forward %q, %q, %v decay(%lt) : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return %o1, %o2, %o3 : tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>
}
