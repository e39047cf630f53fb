// RUN: mixer-opt %s -canonicalize -split-input-file | FileCheck %s
// The canonical forms of mixer.recurrence: a decay written as log(x) becomes
// the factor x, and a delta rule's a = s_1 ... s_n b the scaled low-rank form.

// CHECK-LABEL: func.func @factor_decay
// CHECK-SAME: %[[F:[a-z0-9]+]]: tensor<?x?x2xf32>
// CHECK-NOT: mixer.map log
// CHECK: mixer.recurrence scalar forward %{{.*}}, %{{.*}}, %{{.*}} decay(%[[F]]) decay_form factor :
func.func @factor_decay(%q: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %f: tensor<?x?x2xf32>) -> tensor<?x?x2x4xf32> {
  %l = mixer.map log %f : tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  %o, %s = mixer.recurrence scalar forward %q, %q, %v decay(%l) : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return %o : tensor<?x?x2x4xf32>
}

// -----

// mLSTM's stabilizer adds log-decays: the log stays.
// CHECK-LABEL: func.func @mlstm_keeps_log
// CHECK: %[[L:.*]] = mixer.map log
// CHECK: mixer.recurrence scalar forward %{{.*}}, %{{.*}}, %{{.*}} decay(%[[L]]) igate
// CHECK-NOT: decay_form
func.func @mlstm_keeps_log(%q: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %f: tensor<?x?x2xf32>) -> tensor<?x?x2x4xf32> {
  %l = mixer.map log %f : tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  %o, %s, %m = mixer.recurrence scalar forward %q, %q, %v decay(%l) igate(%f) normalizer mlstm : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x5xf32>, tensor<?x2xf32>)
  return %o : tensor<?x?x2x4xf32>
}

// -----

// HGRN's `f * s`: exp(1 * log f) per element becomes S <- f . S.
// CHECK-LABEL: func.func @elementwise_factor
// CHECK-SAME: tensor<?x?x2x4xf32>, %[[F:[a-z0-9]+]]: tensor<?x?x2x4xf32>
// CHECK: mixer.recurrence elementwise forward %{{.*}}, %{{.*}}, %{{.*}} dt(%[[F]]) decay_form factor :
func.func @elementwise_factor(%q: tensor<?x?x2x1xf32>, %v: tensor<?x?x2x4xf32>, %f: tensor<?x?x2x4xf32>) -> tensor<?x?x2x4xf32> {
  %one = mixer.constant dense<1.0> : tensor<f32>
  %l = mixer.map log %f : tensor<?x?x2x4xf32> -> tensor<?x?x2x4xf32>
  %o, %s = mixer.recurrence elementwise forward %q, %q, %v decay(%one) dt(%l) : (tensor<?x?x2x1xf32>, tensor<?x?x2x1xf32>, tensor<?x?x2x4xf32>, tensor<f32>, tensor<?x?x2x4xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x1x4xf32>)
  return %o : tensor<?x?x2x4xf32>
}

// -----

// A rate other than 1 (Mamba-1's A . dt) stays a log-decay.
// CHECK-LABEL: func.func @elementwise_rate
// CHECK: mixer.recurrence elementwise forward %{{.*}}, %{{.*}}, %{{.*}} decay(%{{.*}}) dt(%{{.*}}) :
func.func @elementwise_rate(%q: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %a: tensor<1x1x2x8x4xf32>, %f: tensor<?x?x2x4xf32>) -> tensor<?x?x2x4xf32> {
  %l = mixer.map log %f : tensor<?x?x2x4xf32> -> tensor<?x?x2x4xf32>
  %o, %s = mixer.recurrence elementwise forward %q, %q, %v decay(%a) dt(%l) : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<1x1x2x8x4xf32>, tensor<?x?x2x4xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return %o : tensor<?x?x2x4xf32>
}

// -----

// Gated DeltaNet: a = e^g * ((beta k) * -1), key beta k, b = k. The scales
// become one product each; k and b are k's rows.
// CHECK-LABEL: func.func @gated_delta
// CHECK-SAME: %[[K:[a-z0-9]+]]: tensor<?x?x2x8xf32>, %{{.*}}: tensor<?x?x2x4xf32>, %[[BETA:[a-z0-9]+]]: tensor<?x?x2xf32>, %[[G:[a-z0-9]+]]: tensor<?x?x2xf32>
// CHECK: %[[E:.*]] = mixer.map exp %[[G]]
// CHECK: %[[P1:.*]] = mixer.binary mul %[[E]], %{{.*}} : tensor<?x?x2xf32>, tensor<f32> -> tensor<?x?x2xf32>
// CHECK: %[[P2:.*]] = mixer.binary mul %[[P1]], %[[BETA]] : tensor<?x?x2xf32>, tensor<?x?x2xf32> -> tensor<?x?x2xf32>
// CHECK: mixer.recurrence dplr diag scalar forward %{{.*}}, %[[K]], %{{.*}} decay(%[[G]]) lowrank(%[[P2]] * %[[K]]) k_scale(%[[BETA]]) :
func.func @gated_delta(%k: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %beta: tensor<?x?x2xf32>, %g: tensor<?x?x2xf32>) -> tensor<?x?x2x4xf32> {
  %m1 = mixer.constant dense<-1.0> : tensor<f32>
  %bk = mixer.binary mul %k, %beta : tensor<?x?x2x8xf32>, tensor<?x?x2xf32> -> tensor<?x?x2x8xf32>
  %nbk = mixer.binary mul %bk, %m1 : tensor<?x?x2x8xf32>, tensor<f32> -> tensor<?x?x2x8xf32>
  %e = mixer.map exp %g : tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  %a = mixer.binary mul %e, %nbk : tensor<?x?x2xf32>, tensor<?x?x2x8xf32> -> tensor<?x?x2x8xf32>
  %o, %s = mixer.recurrence dplr diag scalar forward %k, %bk, %v decay(%g) lowrank(%a, %k) : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return %o : tensor<?x?x2x4xf32>
}

// -----

// RWKV-7: a = -(kk . a) with a per-channel a is no multiple of b: whole rows.
// CHECK-LABEL: func.func @rwkv7_like
// CHECK: mixer.recurrence dplr diag vector forward {{.*}} lowrank(%{{.*}}, %{{.*}}) :
// CHECK-NOT: k_scale
func.func @rwkv7_like(%kk: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %w: tensor<?x?x2x8xf32>, %x: tensor<?x?x2x8xf32>) -> tensor<?x?x2x4xf32> {
  %a = mixer.binary mul %kk, %x : tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32> -> tensor<?x?x2x8xf32>
  %o, %s = mixer.recurrence dplr diag vector forward %kk, %kk, %v decay(%w) lowrank(%a, %kk) : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return %o : tensor<?x?x2x4xf32>
}

// -----

// A mixture's gather moves before zero-preserving ops (a product, a negation,
// an l2norm of the row, a division by a per-head value), so the recurrence
// sees a = s * b and the kernels normalize in their loads; it stays after the
// others (exp(0) is not 0).
// CHECK-LABEL: func.func @gather_before_products
// CHECK-DAG: %[[K:.*]] = mixer.route_gather %arg0 by %arg2 memories 4 slots
// CHECK-DAG: %[[BETA:.*]] = mixer.route_gather %arg1 by %arg2 memories 4 slots
// CHECK-DAG: %[[E:.*]] = mixer.map exp %arg1
// CHECK-DAG: mixer.route_gather %[[E]] by %arg2 memories 4 slots
// CHECK-DAG: %[[KN:.*]] = mixer.map l2norm %[[K]]
// CHECK-DAG: %[[KB:.*]] = mixer.binary mul %[[KN]], %[[BETA]]
// CHECK-DAG: mixer.map neg %[[KB]]
func.func @gather_before_products(%k0: tensor<?x?x2x8xf32>, %beta: tensor<?x?x2xf32>, %r: tensor<?x?x2xi64>) -> (tensor<?x?x2x8xf32>, tensor<?x?x2xf32>) {
  %k = mixer.map l2norm %k0 : tensor<?x?x2x8xf32> -> tensor<?x?x2x8xf32>
  %kb = mixer.binary mul %k, %beta : tensor<?x?x2x8xf32>, tensor<?x?x2xf32> -> tensor<?x?x2x8xf32>
  %n = mixer.map neg %kb : tensor<?x?x2x8xf32> -> tensor<?x?x2x8xf32>
  %g = mixer.route_gather %n by %r memories 4 slots : (tensor<?x?x2x8xf32>, tensor<?x?x2xi64>) -> tensor<?x?x2x8xf32>
  %e = mixer.map exp %beta : tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  %ge = mixer.route_gather %e by %r memories 4 slots : (tensor<?x?x2xf32>, tensor<?x?x2xi64>) -> tensor<?x?x2xf32>
  return %g, %ge : tensor<?x?x2x8xf32>, tensor<?x?x2xf32>
}
