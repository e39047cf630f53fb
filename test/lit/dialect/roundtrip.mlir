// RUN: mixer-opt %s | mixer-opt | FileCheck %s
// Every structure and optional part prints and parses back.

// CHECK-LABEL: func.func @identity
// CHECK: mixer.recurrence identity forward %{{.*}}, %{{.*}}, %{{.*}} scale 1.250000e-01 :
func.func @identity(%q: tensor<?x?x4x64xf32>, %k: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x32xf32>) -> (tensor<?x?x4x32xf32>, tensor<?x4x64x32xf32>) {
  %o, %s = mixer.recurrence identity forward %q, %k, %v scale 0.125 : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x32xf32>) -> (tensor<?x?x4x32xf32>, tensor<?x4x64x32xf32>)
  return %o, %s : tensor<?x?x4x32xf32>, tensor<?x4x64x32xf32>
}

// CHECK-LABEL: func.func @const_scalar
// CHECK: %[[H:.*]] = mixer.head_index : tensor<1x1x4xf32>
// CHECK: %[[C:.*]] = mixer.constant dense<-3.125000e-02> : tensor<f32>
// CHECK: %[[D:.*]] = mixer.binary mul %[[H]], %[[C]] : tensor<1x1x4xf32>, tensor<f32> -> tensor<1x1x4xf32>
// CHECK: mixer.recurrence const_scalar forward %{{.*}}, %{{.*}}, %{{.*}} decay(%[[D]]) init(%{{.*}})
func.func @const_scalar(%q: tensor<?x?x4x64xf32>, %k: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x32xf32>, %s0: tensor<?x4x64x32xf32>) -> (tensor<?x?x4x32xf32>, tensor<?x4x64x32xf32>) {
  %h = mixer.head_index : tensor<1x1x4xf32>
  %c = mixer.constant dense<-0.03125> : tensor<f32>
  %d = mixer.binary mul %h, %c : tensor<1x1x4xf32>, tensor<f32> -> tensor<1x1x4xf32>
  %o, %s = mixer.recurrence const_scalar forward %q, %k, %v decay(%d) init(%s0) : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x32xf32>, tensor<1x1x4xf32>, tensor<?x4x64x32xf32>) -> (tensor<?x?x4x32xf32>, tensor<?x4x64x32xf32>)
  return %o, %s : tensor<?x?x4x32xf32>, tensor<?x4x64x32xf32>
}

// CHECK-LABEL: func.func @vector_reverse_bf16
// CHECK: %[[G:.*]] = mixer.map logsigmoid %{{.*}} : tensor<?x?x4x64xbf16> -> tensor<?x?x4x64xbf16>
// CHECK: mixer.recurrence vector reverse %{{.*}}, %{{.*}}, %{{.*}} decay(%[[G]]) :
func.func @vector_reverse_bf16(%q: tensor<?x?x4x64xbf16>, %k: tensor<?x?x4x64xbf16>, %v: tensor<?x?x4x64xbf16>, %g: tensor<?x?x4x64xbf16>) -> (tensor<?x?x4x64xbf16>, tensor<?x4x64x64xbf16>) {
  %lg = mixer.map logsigmoid %g : tensor<?x?x4x64xbf16> -> tensor<?x?x4x64xbf16>
  %o, %s = mixer.recurrence vector reverse %q, %k, %v decay(%lg) : (tensor<?x?x4x64xbf16>, tensor<?x?x4x64xbf16>, tensor<?x?x4x64xbf16>, tensor<?x?x4x64xbf16>) -> (tensor<?x?x4x64xbf16>, tensor<?x4x64x64xbf16>)
  return %o, %s : tensor<?x?x4x64xbf16>, tensor<?x4x64x64xbf16>
}

// CHECK-LABEL: func.func @elementwise_skip
// CHECK: mixer.recurrence elementwise forward %{{.*}}, %{{.*}}, %{{.*}} decay(%{{.*}}) dt(%{{.*}}) skip(%{{.*}}, %{{.*}}) :
func.func @elementwise_skip(%c: tensor<?x?x2x16xf32>, %b: tensor<?x?x2x16xf32>, %x: tensor<?x?x2x32xf32>, %a: tensor<1x1x2x16x32xf32>, %dt: tensor<?x?x2x32xf32>, %d: tensor<1x1x2x32xf32>) -> (tensor<?x?x2x32xf32>, tensor<?x2x16x32xf32>) {
  %o, %s = mixer.recurrence elementwise forward %c, %b, %x decay(%a) dt(%dt) skip(%d, %x) : (tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x32xf32>, tensor<1x1x2x16x32xf32>, tensor<?x?x2x32xf32>, tensor<1x1x2x32xf32>, tensor<?x?x2x32xf32>) -> (tensor<?x?x2x32xf32>, tensor<?x2x16x32xf32>)
  return %o, %s : tensor<?x?x2x32xf32>, tensor<?x2x16x32xf32>
}

// CHECK-LABEL: func.func @dplr_vector_diag
// CHECK: mixer.recurrence dplr diag vector forward %{{.*}}, %{{.*}}, %{{.*}} decay(%{{.*}}) lowrank(%{{.*}}, %{{.*}}) :
func.func @dplr_vector_diag(%q: tensor<?x?x4x64xf32>, %k: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>, %w: tensor<?x?x4x64xf32>, %a: tensor<?x?x4x64xf32>, %b: tensor<?x?x4x64xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>) {
  %o, %s = mixer.recurrence dplr diag vector forward %q, %k, %v decay(%w) lowrank(%a, %b) : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>)
  return %o, %s : tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>
}

// CHECK-LABEL: func.func @bonus
// CHECK: mixer.recurrence vector forward %{{.*}}, %{{.*}}, %{{.*}} decay(%{{.*}}) bonus(%{{.*}}) :
func.func @bonus(%r: tensor<?x?x4x64xf32>, %k: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>, %w: tensor<?x?x4x64xf32>, %u: tensor<1x1x4x64xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>) {
  %o, %s = mixer.recurrence vector forward %r, %k, %v decay(%w) bonus(%u) : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<1x1x4x64xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>)
  return %o, %s : tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>
}

// CHECK-LABEL: func.func @normalized
// CHECK: mixer.recurrence identity bidirectional %{{.*}}, %{{.*}}, %{{.*}} normalizer sum eps 9.9999999999999995E-7 :
// CHECK-SAME: -> (tensor<?x?x4x64xf32>, tensor<?x4x64x65xf32>)
func.func @normalized(%q: tensor<?x?x4x64xf32>, %k: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x65xf32>) {
  %o, %s = mixer.recurrence identity bidirectional %q, %k, %v normalizer sum eps 1.0e-6 : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x65xf32>)
  return %o, %s : tensor<?x?x4x64xf32>, tensor<?x4x64x65xf32>
}

// CHECK-LABEL: func.func @mlstm
// CHECK: %o, %final_state, %final_m = mixer.recurrence scalar forward %{{.*}}, %{{.*}}, %{{.*}} decay(%{{.*}}) igate(%{{.*}}) init(%{{.*}}, %{{.*}}) normalizer mlstm :
func.func @mlstm(%q: tensor<?x?x4x64xf32>, %k: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>, %f: tensor<?x?x4xf32>, %i: tensor<?x?x4xf32>, %s0: tensor<?x4x64x65xf32>, %m0: tensor<?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x65xf32>, tensor<?x4xf32>) {
  %o, %s, %m = mixer.recurrence scalar forward %q, %k, %v decay(%f) igate(%i) init(%s0, %m0) normalizer mlstm : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x4x64x65xf32>, tensor<?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x65xf32>, tensor<?x4xf32>)
  return %o, %s, %m : tensor<?x?x4x64xf32>, tensor<?x4x64x65xf32>, tensor<?x4xf32>
}

// CHECK-LABEL: func.func @taylor
// CHECK: mixer.map taylor2 %{{.*}} : tensor<?x?x2x4xf32> -> tensor<?x?x2x21xf32>
// CHECK: mixer.map l2norm %{{.*}} : tensor<?x?x2x4xf32> -> tensor<?x?x2x4xf32>
// CHECK: mixer.map ones %{{.*}} : tensor<?x?x2x4xf32> -> tensor<?x?x2x1xf32>
func.func @taylor(%x: tensor<?x?x2x4xf32>) -> (tensor<?x?x2x21xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x1xf32>) {
  %t = mixer.map taylor2 %x : tensor<?x?x2x4xf32> -> tensor<?x?x2x21xf32>
  %n = mixer.map l2norm %x : tensor<?x?x2x4xf32> -> tensor<?x?x2x4xf32>
  %o = mixer.map ones %x : tensor<?x?x2x4xf32> -> tensor<?x?x2x1xf32>
  return %t, %n, %o : tensor<?x?x2x21xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x1xf32>
}

// CHECK-LABEL: func.func @normalize_dot
// CHECK: mixer.map append_one %{{.*}} : tensor<?x?x2x4xf32> -> tensor<?x?x2x5xf32>
// CHECK: mixer.normalize %{{.*}} eps 9.9999999999999995E-7 scale 5.000000e-01 : tensor<?x?x2x5xf32> -> tensor<?x?x2x4xf32>
// CHECK: mixer.binary dot %{{.*}}, %{{.*}} : tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32> -> tensor<?x?x2xf32>
func.func @normalize_dot(%x: tensor<?x?x2x4xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2xf32>) {
  %a = mixer.map append_one %x : tensor<?x?x2x4xf32> -> tensor<?x?x2x5xf32>
  %n = mixer.normalize %a eps 1.0e-6 scale 0.5 : tensor<?x?x2x5xf32> -> tensor<?x?x2x4xf32>
  %d = mixer.binary dot %x, %x : tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32> -> tensor<?x?x2xf32>
  return %n, %d : tensor<?x?x2x4xf32>, tensor<?x?x2xf32>
}

// A learned feature map's pieces: a row times a per-head matrix, two rows side by side.
// CHECK-LABEL: func.func @vecmat_concat
// CHECK: mixer.binary vecmat %{{.*}}, %{{.*}} : tensor<?x?x2x4xf32>, tensor<1x1x2x4x3xf32> -> tensor<?x?x2x3xf32>
// CHECK: mixer.binary concat %{{.*}}, %{{.*}} : tensor<?x?x2x3xf32>, tensor<?x?x2x3xf32> -> tensor<?x?x2x6xf32>
func.func @vecmat_concat(%x: tensor<?x?x2x4xf32>, %w: tensor<1x1x2x4x3xf32>) -> tensor<?x?x2x6xf32> {
  %y = mixer.binary vecmat %x, %w : tensor<?x?x2x4xf32>, tensor<1x1x2x4x3xf32> -> tensor<?x?x2x3xf32>
  %c = mixer.binary concat %y, %y : tensor<?x?x2x3xf32>, tensor<?x?x2x3xf32> -> tensor<?x?x2x6xf32>
  return %c : tensor<?x?x2x6xf32>
}

// The scaled low-rank form and a factor decay.
// CHECK-LABEL: func.func @dplr_scaled
// CHECK: mixer.recurrence dplr diag scalar forward %[[Q:.*]], %[[K:.*]], %{{.*}} decay(%[[G:.*]]) decay_form factor lowrank(%[[S:.*]] * %[[K]]) k_scale(%[[C:.*]]) :
func.func @dplr_scaled(%q: tensor<?x?x4x64xf32>, %k: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4xf32>, %s: tensor<?x?x4xf32>, %c: tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>) {
  %o, %st = mixer.recurrence dplr diag scalar forward %q, %k, %v decay(%g) decay_form factor lowrank(%s * %k) k_scale(%c) : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>)
  return %o, %st : tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>
}

// KDA's decayed_b form (the low-rank term reads the decayed state).
// CHECK-LABEL: func.func @dplr_decayed_b
// CHECK: mixer.recurrence dplr diag vector forward %[[Q:.*]], %[[K:.*]], %{{.*}} decay(%{{.*}}) lowrank(%{{.*}} * %[[K]]) decayed_b k_scale(%{{.*}}) :
func.func @dplr_decayed_b(%q: tensor<?x?x4x64xf32>, %k: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4x64xf32>, %s: tensor<?x?x4xf32>, %c: tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>) {
  %o, %st = mixer.recurrence dplr diag vector forward %q, %k, %v decay(%g) lowrank(%s * %k) decayed_b k_scale(%c) : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>)
  return %o, %st : tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>
}

// CHECK-LABEL: func.func @elementwise_factor
// CHECK: mixer.recurrence elementwise forward %{{.*}}, %{{.*}}, %{{.*}} dt(%{{.*}}) decay_form factor :
func.func @elementwise_factor(%q: tensor<?x?x4x1xf32>, %v: tensor<?x?x4x64xf32>, %f: tensor<?x?x4x64xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x1x64xf32>) {
  %o, %st = mixer.recurrence elementwise forward %q, %q, %v dt(%f) decay_form factor : (tensor<?x?x4x1xf32>, tensor<?x?x4x1xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x1x64xf32>)
  return %o, %st : tensor<?x?x4x64xf32>, tensor<?x4x1x64xf32>
}

// Reductions over the feature dimension: a per-token scalar.
// CHECK-LABEL: func.func @reductions
// CHECK: mixer.map sum %{{.*}} : tensor<?x?x4x8xf32> -> tensor<?x?x4xf32>
// CHECK: mixer.binary dot %{{.*}}, %{{.*}} : tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32> -> tensor<?x?x4xf32>
func.func @reductions(%x: tensor<?x?x4x8xf32>) -> (tensor<?x?x4xf32>, tensor<?x?x4xf32>) {
  %s = mixer.map sum %x : tensor<?x?x4x8xf32> -> tensor<?x?x4xf32>
  %d = mixer.binary dot %x, %x : tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32> -> tensor<?x?x4xf32>
  return %s, %d : tensor<?x?x4xf32>, tensor<?x?x4xf32>
}

// The token and state ops of mixer-lower-adjoint.
// CHECK-LABEL: func.func @adjoint_token_ops
// CHECK: mixer.shift_tokens %{{.*}} by -1 : tensor<1x1x4xf32> -> tensor<?x?x4xf32>
// CHECK: mixer.token_cumsum %{{.*}} init(%{{.*}}) reverse : (tensor<?x?x4x8xf32>, tensor<?x4x8xf32>) -> tensor<?x?x4x8xf32>
// CHECK: mixer.token_cumsum %{{.*}} : (tensor<?x?x4x8xf32>) -> tensor<?x?x4x8xf32>
// CHECK: mixer.edge_token %{{.*}} last : tensor<?x?x4x8xf32> -> tensor<?x4x8xf32>
// CHECK: mixer.transpose_state %{{.*}} : tensor<?x4x8x6xf32> -> tensor<?x4x6x8xf32>
// CHECK: mixer.sum_to %{{.*}} : tensor<?x?x4x8xf32> -> tensor<1x1x4xf32>
func.func @adjoint_token_ops(%g: tensor<1x1x4xf32>, %x: tensor<?x?x4x8xf32>, %i: tensor<?x4x8xf32>, %s: tensor<?x4x8x6xf32>) {
  %0 = mixer.shift_tokens %g by -1 : tensor<1x1x4xf32> -> tensor<?x?x4xf32>
  %1 = mixer.token_cumsum %x init(%i) reverse : (tensor<?x?x4x8xf32>, tensor<?x4x8xf32>) -> tensor<?x?x4x8xf32>
  %2 = mixer.token_cumsum %x : (tensor<?x?x4x8xf32>) -> tensor<?x?x4x8xf32>
  %3 = mixer.edge_token %x last : tensor<?x?x4x8xf32> -> tensor<?x4x8xf32>
  %4 = mixer.transpose_state %s : tensor<?x4x8x6xf32> -> tensor<?x4x6x8xf32>
  %5 = mixer.sum_to %x : tensor<?x?x4x8xf32> -> tensor<1x1x4xf32>
  return
}

// Grouped heads: a per-token input of H / G heads spread over H, and back.
// CHECK-LABEL: func.func @grouped_heads
// CHECK: mixer.repeat_heads %{{.*}} group 2 : tensor<?x?x2x8xf32> -> tensor<?x?x4x8xf32>
// CHECK: mixer.sum_heads %{{.*}} group 2 : tensor<?x?x4x8xf32> -> tensor<?x?x2x8xf32>
func.func @grouped_heads(%q: tensor<?x?x2x8xf32>) {
  %0 = mixer.repeat_heads %q group 2 : tensor<?x?x2x8xf32> -> tensor<?x?x4x8xf32>
  %1 = mixer.sum_heads %0 group 2 : tensor<?x?x4x8xf32> -> tensor<?x?x2x8xf32>
  return
}

// Mixture-of-Memories: routed rows gathered per memory, the readouts mixed back.
// CHECK-LABEL: func.func @mixture_of_memories
// CHECK: mixer.route_slots %{{.*}} : tensor<?x?x2x4x8xf32> -> tensor<?x?x4x8xf32>
// CHECK: mixer.route_gather %{{.*}} by %{{.*}} memories 4 slots : (tensor<?x?x4x8xf32>, tensor<?x?x2xi64>) -> tensor<?x?x4x8xf32>
// CHECK: mixer.route_gather %{{.*}} by %{{.*}} memories 4 : (tensor<?x?x4x8xf32>, tensor<?x?x2xi64>) -> tensor<?x?x4x8xf32>
// CHECK: mixer.memory_states %{{.*}} memories 4 : tensor<?x4x4x8x8xf32> -> tensor<?x4x8x8xf32>
// CHECK: mixer.route_scatter %{{.*}} by %{{.*}} weights %{{.*}} memories 4 : (tensor<?x?x4x8xf32>, tensor<?x?x2xi64>, tensor<?x?x2xf32>) -> tensor<?x?x4x8xf32>
func.func @mixture_of_memories(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x2x4x8xf32>, %v: tensor<?x?x2x4x8xf32>, %r: tensor<?x?x2xi64>, %w: tensor<?x?x2xf32>, %init: tensor<?x4x4x8x8xf32>) -> (tensor<?x?x4x8xf32>, tensor<?x4x4x8x8xf32>) {
  %ks = mixer.route_slots %k : tensor<?x?x2x4x8xf32> -> tensor<?x?x4x8xf32>
  %vs = mixer.route_slots %v : tensor<?x?x2x4x8xf32> -> tensor<?x?x4x8xf32>
  %kg = mixer.route_gather %ks by %r memories 4 slots : (tensor<?x?x4x8xf32>, tensor<?x?x2xi64>) -> tensor<?x?x4x8xf32>
  %vg = mixer.route_gather %vs by %r memories 4 slots : (tensor<?x?x4x8xf32>, tensor<?x?x2xi64>) -> tensor<?x?x4x8xf32>
  %qg = mixer.route_gather %q by %r memories 4 : (tensor<?x?x4x8xf32>, tensor<?x?x2xi64>) -> tensor<?x?x4x8xf32>
  %i = mixer.memory_states %init memories 4 : tensor<?x4x4x8x8xf32> -> tensor<?x4x8x8xf32>
  %o, %s = mixer.recurrence identity forward %qg, %kg, %vg init(%i) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x4x8x8xf32>) -> (tensor<?x?x4x8xf32>, tensor<?x4x8x8xf32>)
  %om = mixer.route_scatter %o by %r weights %w memories 4 : (tensor<?x?x4x8xf32>, tensor<?x?x2xi64>, tensor<?x?x2xf32>) -> tensor<?x?x4x8xf32>
  %sm = mixer.memory_states %s memories 4 : tensor<?x4x8x8xf32> -> tensor<?x4x4x8x8xf32>
  return %om, %sm : tensor<?x?x4x8xf32>, tensor<?x4x4x8x8xf32>
}

// The mixture's adjoint ops: do gathered weighted, rows mixed back unweighted
// (per token, per slot), the weights' gradient, a routed input's slots back.
// CHECK-LABEL: func.func @mixture_of_memories_adjoint
// CHECK: mixer.route_gather %{{.*}} by %{{.*}} weights %{{.*}} memories 4 :
// CHECK: mixer.route_scatter %{{.*}} by %{{.*}} memories 4 :
// CHECK: mixer.route_scatter %{{.*}} by %{{.*}} memories 4 slots :
// CHECK: mixer.route_weight_grad %{{.*}}, %{{.*}} by %{{.*}} memories 4 :
// CHECK: mixer.route_slots %{{.*}} : tensor<?x?x4x8xf32> -> tensor<?x?x2x4x8xf32>
func.func @mixture_of_memories_adjoint(%do: tensor<?x?x4x8xf32>, %y: tensor<?x?x4x8xf32>, %r: tensor<?x?x2xi64>, %w: tensor<?x?x2xf32>) -> (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x2xf32>, tensor<?x?x2x4x8xf32>) {
  %dy = mixer.route_gather %do by %r weights %w memories 4 : (tensor<?x?x4x8xf32>, tensor<?x?x2xi64>, tensor<?x?x2xf32>) -> tensor<?x?x4x8xf32>
  %dq = mixer.route_scatter %y by %r memories 4 : (tensor<?x?x4x8xf32>, tensor<?x?x2xi64>) -> tensor<?x?x4x8xf32>
  %dks = mixer.route_scatter %y by %r memories 4 slots : (tensor<?x?x4x8xf32>, tensor<?x?x2xi64>) -> tensor<?x?x4x8xf32>
  %dw = mixer.route_weight_grad %y, %do by %r memories 4 : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x2xi64>) -> tensor<?x?x2xf32>
  %dk = mixer.route_slots %dks : tensor<?x?x4x8xf32> -> tensor<?x?x2x4x8xf32>
  return %dy, %dq, %dw, %dk : tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x2xf32>, tensor<?x?x2x4x8xf32>
}
