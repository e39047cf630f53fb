// RUN: mixer-opt %s --mixer-chunk --mixer-tile="target=cuda" --split-input-file --verify-diagnostics | FileCheck %s
// RUN: mixer-opt %s --mixer-chunk --mixer-tile="target=cuda shared-bytes=8192" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=SMALL
// RUN: mixer-opt %s --mixer-chunk --mixer-tile="target=cuda sms=78" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=SMS
// RUN: mixer-opt %s --mixer-chunk --mixer-tile="target=cuda schedule=recurrent" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=RECURRENT
// RUN: mixer-opt %s --mixer-chunk --mixer-tile --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=CPU
// RUN: not mixer-opt %s --mixer-tile="target=gpu" --split-input-file 2>&1 | FileCheck %s --check-prefix=BADTARGET
// BADTARGET: error: mixer-tile: unknown target 'gpu' (expected cpu or cuda)

// CUDA: vector decays with 64 keys take the chunked GLA kernel. Its fallback
// (and `schedule=recurrent`): 8 lanes split the 64 keys of a column (8 rows
// each), 4 columns per warp, 8 warps: a CTA holds 32 columns; 32 tokens are
// staged through shared memory at a time. A smaller budget stages fewer.
// The chunked walk's tiling, for a target of 132 SMs unless told: value blocks
// of 128, 64 or 32 columns (the widest whose CTAs fill the SMs; at 32, two
// warps per 16 columns), the sequence split from 8 chunks where even 128-wide
// blocks leave half the SMs idle.
// CHECK-LABEL: func.func @gla
// CHECK: mixer.schedule = #mixer.cuda_tile<algorithm = chunked_gla, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 132, state_blocks = [128, 64, 32], key_split = 2, seq_split = 8>
// SMS-LABEL: func.func @gla
// SMS: sms = 78, state_blocks = [128, 64, 32]
// SMALL-LABEL: func.func @gla
// SMALL: stage = 4,
func.func @gla(%q: tensor<?x?x2x64xf32>, %v: tensor<?x?x2x64xf32>, %g: tensor<?x?x2x64xf32>) -> tensor<?x?x2x64xf32> {
  %o, %s = mixer.recurrence vector forward %q, %q, %v decay(%g) : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>)
  return %o : tensor<?x?x2x64xf32>
}

// -----

// Few value columns: one warp of 4 columns; 16 keys split over 8 lanes.
// CHECK-LABEL: func.func @small_v
// CHECK: #mixer.cuda_tile<algorithm = recurrent, k = 16, v_block = 4, cols_per_warp = 4, warps = 1, stage = 32>
func.func @small_v(%q: tensor<?x?x4x16xf32>, %v: tensor<?x?x4x3xf32>) -> tensor<?x?x4x3xf32> {
  %o, %s = mixer.recurrence identity forward %q, %q, %v : (tensor<?x?x4x16xf32>, tensor<?x?x4x16xf32>, tensor<?x?x4x3xf32>) -> (tensor<?x?x4x3xf32>, tensor<?x4x16x3xf32>)
  return %o : tensor<?x?x4x3xf32>
}

// -----

// A scalar decay with 128 keys takes the chunked SSD kernel (tensor cores);
// `schedule=recurrent` keeps the sweep. 32 keys do not fill the tiles.
// CHECK-LABEL: func.func @ssd
// CHECK: mixer.schedule = #mixer.cuda_tile<algorithm = chunked_ssd, k = 128, {{.*}}, chunk = 64, sms = 132, state_blocks = [128, 64, 32], key_split = 2, seq_split = 8>
// RECURRENT-LABEL: func.func @gla
// RECURRENT: mixer.schedule = #mixer.cuda_tile<algorithm = recurrent
// RECURRENT-LABEL: func.func @ssd
// RECURRENT: mixer.schedule = #mixer.cuda_tile<algorithm = recurrent
// CHECK-LABEL: func.func @ssd_few_keys
// CHECK: mixer.schedule = #mixer.cuda_tile<algorithm = recurrent, k = 32, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32>
func.func @ssd(%q: tensor<?x?x4x128xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4xf32>) -> tensor<?x?x4x64xf32> {
  %o, %s = mixer.recurrence scalar forward %q, %q, %v decay(%g) : (tensor<?x?x4x128xf32>, tensor<?x?x4x128xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x128x64xf32>)
  return %o : tensor<?x?x4x64xf32>
}
func.func @ssd_few_keys(%q: tensor<?x?x4x32xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4xf32>) -> tensor<?x?x4x64xf32> {
  %o, %s = mixer.recurrence scalar forward %q, %q, %v decay(%g) : (tensor<?x?x4x32xf32>, tensor<?x?x4x32xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x32x64xf32>)
  return %o : tensor<?x?x4x64xf32>
}
// 256 keys: one kernel in blocks of 32 columns, no split.
// CHECK-LABEL: func.func @ssd_wide
// CHECK: mixer.schedule = #mixer.cuda_tile<algorithm = chunked_ssd, k = 256, {{.*}}, chunk = 64, sms = 132, state_blocks = [32]>
func.func @ssd_wide(%q: tensor<?x?x4x256xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4xf32>) -> tensor<?x?x4x64xf32> {
  %o, %s = mixer.recurrence scalar forward %q, %q, %v decay(%g) : (tensor<?x?x4x256xf32>, tensor<?x?x4x256xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x256x64xf32>)
  return %o : tensor<?x?x4x64xf32>
}

// -----

// Delta rules take the UT form, with a scalar diagonal and with a vector
// one (KDA, RWKV-7: the per-channel decays by sub-block pairs); every
// low-rank row stays a whole row. The scalar diagonal's walk may run on
// wgmma (few CTAs, a Hopper device); neither splits the sequence.
// CHECK-LABEL: func.func @delta
// CHECK: mixer.schedule = #mixer.cuda_tile<algorithm = chunked_ut, k = 64, {{.*}}, chunk = 64, sms = 132, state_blocks = [128, 64, 32], key_split = 2, wgmma_walk = true>
// CHECK-LABEL: func.func @rwkv7_like
// CHECK: mixer.recurrence dplr diag vector forward
// CHECK-SAME: mixer.schedule = #mixer.cuda_tile<algorithm = chunked_ut, k = 64, {{.*}}, chunk = 64, sms = 132, state_blocks = [128, 64, 32], key_split = 2>
// RECURRENT-LABEL: func.func @rwkv7_like
// RECURRENT: mixer.schedule = #mixer.cuda_tile<algorithm = recurrent
func.func @delta(%q: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4xf32>) -> tensor<?x?x4x64xf32> {
  %o, %s = mixer.recurrence dplr diag scalar forward %q, %q, %v decay(%g) lowrank(%q, %q) : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>)
  return %o : tensor<?x?x4x64xf32>
}
func.func @rwkv7_like(%q: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>) -> tensor<?x?x4x64xf32> {
  %o, %s = mixer.recurrence dplr diag vector forward %q, %q, %v decay(%q) lowrank(%q, %q) : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>)
  return %o : tensor<?x?x4x64xf32>
}

// -----

// KDA's (I - beta k k^T) Diag(e^g): the plain form's three rows (a = -beta k,
// b = k e^g, the key beta k) become k's row with two scalars and decayed_b,
// the form the chunked kernel reads. The recurrent schedule keeps the rows.
// CHECK-LABEL: func.func @kda_like
// CHECK: %[[SA:.*]] = mixer.binary mul %{{.*}}, %arg4 : tensor<f32>, tensor<?x?x4xf32> -> tensor<?x?x4xf32>
// CHECK: mixer.recurrence dplr diag vector forward %arg0, %arg1, %arg2 decay(%arg3) lowrank(%[[SA]] * %arg1) decayed_b k_scale(%arg4)
// CHECK-SAME: algorithm = chunked_ut
// RECURRENT-LABEL: func.func @kda_like
// RECURRENT-NOT: decayed_b
// RECURRENT: mixer.recurrence dplr diag vector forward %arg0, %{{.*}}, %arg2 decay(%arg3) lowrank(%{{.*}}, %{{.*}}) init
func.func @kda_like(%q: tensor<?x?x4x64xf32>, %k: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4x64xf32>, %beta: tensor<?x?x4xf32>, %h0: tensor<?x4x64x64xf32>) -> tensor<?x?x4x64xf32> {
  %e = mixer.map exp %g : tensor<?x?x4x64xf32> -> tensor<?x?x4x64xf32>
  %b = mixer.binary mul %k, %e : tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32> -> tensor<?x?x4x64xf32>
  %key = mixer.binary mul %k, %beta : tensor<?x?x4x64xf32>, tensor<?x?x4xf32> -> tensor<?x?x4x64xf32>
  %m1 = mixer.constant dense<-1.0> : tensor<f32>
  %a = mixer.binary mul %key, %m1 : tensor<?x?x4x64xf32>, tensor<f32> -> tensor<?x?x4x64xf32>
  %o, %s = mixer.recurrence dplr diag vector forward %q, %key, %v decay(%g) lowrank(%a, %b) init(%h0) : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>)
  return %o : tensor<?x?x4x64xf32>
}

// -----

// Elementwise decays have no chunked CUDA kernel: the recurrent one, even
// though mixer-chunk marks them for the chunked scan.
// CHECK-LABEL: func.func @elementwise
// CHECK: {mixer.chunk = {algorithm = "scan", size = 64 : i64}, mixer.schedule = #mixer.cuda_tile<algorithm = recurrent
func.func @elementwise(%c: tensor<?x?x2x64xf32>, %x: tensor<?x?x2x64xf32>, %a: tensor<1x1x2x64x64xf32>, %dt: tensor<?x?x2x64xf32>) -> tensor<?x?x2x64xf32> {
  %o, %s = mixer.recurrence elementwise forward %c, %c, %x decay(%a) dt(%dt) : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<1x1x2x64x64xf32>, tensor<?x?x2x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>)
  return %o : tensor<?x?x2x64xf32>
}

// -----

// A target whose kernels read whole rows turns decayed_b back into the plain
// form: b = k . exp(decay), a = s_a k, the key s_k k.
// CPU-LABEL: func.func @decayed_b_expanded
// CPU: %[[E:.*]] = mixer.map exp %arg3
// CPU: %[[B:.*]] = mixer.binary mul %arg1, %[[E]]
// CPU: mixer.recurrence dplr diag vector forward %arg0, %{{.*}}, %arg2 decay(%arg3) lowrank(%{{.*}}, %[[B]])
// CPU-NOT: decayed_b
func.func @decayed_b_expanded(%q: tensor<?x?x4x64xf32>, %k: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4x64xf32>, %s: tensor<?x?x4xf32>, %c: tensor<?x?x4xf32>) -> tensor<?x?x4x64xf32> {
  %o, %st = mixer.recurrence dplr diag vector forward %q, %k, %v decay(%g) lowrank(%s * %k) decayed_b k_scale(%c) : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>)
  return %o : tensor<?x?x4x64xf32>
}

// -----

// Gated DeltaNet as users write it: q and k through l2norm. The chunked UT
// kernels (and the recurrent sweep they fall back to) normalize the rows they
// load: the recurrence reads the raw q and k with l2norm_q and l2norm_b, and
// no row pass writes normalized copies. A recurrent schedule, and the CPU,
// keep the maps.
// CHECK-LABEL: func.func @gated_delta_l2norm
// CHECK: mixer.recurrence dplr diag scalar forward %arg0, %arg1, %arg2 decay(%arg3) lowrank(%{{.*}} * %arg1) l2norm_q l2norm_b k_scale(%arg4) {{.*}}algorithm = chunked_ut
// RECURRENT-LABEL: func.func @gated_delta_l2norm
// RECURRENT: %[[Q:.*]] = mixer.map l2norm %arg0
// RECURRENT-NOT: l2norm_q
// RECURRENT: mixer.recurrence dplr diag scalar forward %[[Q]]
// CPU-LABEL: func.func @gated_delta_l2norm
// CPU-NOT: l2norm_b
// CPU: mixer.recurrence dplr diag scalar forward
// CPU-NOT: l2norm_b
func.func @gated_delta_l2norm(%q0: tensor<?x?x4x64xf32>, %k0: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4xf32>, %beta: tensor<?x?x4xf32>, %s: tensor<?x?x4xf32>) -> tensor<?x?x4x64xf32> {
  %q = mixer.map l2norm %q0 : tensor<?x?x4x64xf32> -> tensor<?x?x4x64xf32>
  %k = mixer.map l2norm %k0 : tensor<?x?x4x64xf32> -> tensor<?x?x4x64xf32>
  %o, %st = mixer.recurrence dplr diag scalar forward %q, %k, %v decay(%g) lowrank(%s * %k) k_scale(%beta) : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>)
  return %o : tensor<?x?x4x64xf32>
}

// -----

// Only an l2norm is fused: a key scaled some other way keeps its row pass.
// CHECK-LABEL: func.func @delta_unnormalized_key
// CHECK: mixer.recurrence dplr diag scalar forward %arg0, %{{.*}}, %arg2 {{.*}} l2norm_q k_scale
// CHECK-NOT: l2norm_b
func.func @delta_unnormalized_key(%q0: tensor<?x?x4x64xf32>, %k0: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4xf32>, %beta: tensor<?x?x4xf32>, %s: tensor<?x?x4xf32>) -> tensor<?x?x4x64xf32> {
  %q = mixer.map l2norm %q0 : tensor<?x?x4x64xf32> -> tensor<?x?x4x64xf32>
  %k = mixer.map silu %k0 : tensor<?x?x4x64xf32> -> tensor<?x?x4x64xf32>
  %o, %st = mixer.recurrence dplr diag scalar forward %q, %k, %v decay(%g) lowrank(%s * %k) k_scale(%beta) : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>)
  return %o : tensor<?x?x4x64xf32>
}

// -----

// KDA as written (k through l2norm): decayed_b's row of k, normalized by the kernels.
// CHECK-LABEL: func.func @kda_l2norm
// CHECK: mixer.recurrence dplr diag vector forward %arg0, %arg1, %arg2 decay(%arg3) lowrank(%{{.*}} * %arg1) decayed_b l2norm_b k_scale(%arg4)
func.func @kda_l2norm(%q: tensor<?x?x4x64xf32>, %k0: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4x64xf32>, %beta: tensor<?x?x4xf32>) -> tensor<?x?x4x64xf32> {
  %k = mixer.map l2norm %k0 : tensor<?x?x4x64xf32> -> tensor<?x?x4x64xf32>
  %e = mixer.map exp %g : tensor<?x?x4x64xf32> -> tensor<?x?x4x64xf32>
  %b = mixer.binary mul %k, %e : tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32> -> tensor<?x?x4x64xf32>
  %key = mixer.binary mul %k, %beta : tensor<?x?x4x64xf32>, tensor<?x?x4xf32> -> tensor<?x?x4x64xf32>
  %m1 = mixer.constant dense<-1.0> : tensor<f32>
  %a = mixer.binary mul %key, %m1 : tensor<?x?x4x64xf32>, tensor<f32> -> tensor<?x?x4x64xf32>
  %o, %s = mixer.recurrence dplr diag vector forward %q, %key, %v decay(%g) lowrank(%a, %b) : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>)
  return %o : tensor<?x?x4x64xf32>
}

// -----

// decay_in_loads: a vector diagonal's decays computed from one per-token input
// by pointwise maps, per-head parameters and constants (Kimi's gate from A_log
// and dt_bias) are evaluated by the kernels as they load the input: the
// schedule says so and the IR keeps the chain (the printer reads it), on the
// chunked kernels and on the recurrent sweep alike; the CPU has no such choice.
// CHECK-LABEL: func.func @gla_gate_in_loads
// CHECK: algorithm = chunked_gla, {{.*}}, decay_in_loads = true>
// RECURRENT-LABEL: func.func @gla_gate_in_loads
// RECURRENT: algorithm = recurrent, {{.*}}, decay_in_loads = true>
// CPU-LABEL: func.func @gla_gate_in_loads
// CPU-NOT: decay_in_loads
func.func @gla_gate_in_loads(%q: tensor<?x?x2x64xf32>, %v: tensor<?x?x2x64xf32>, %g: tensor<?x?x2x64xf32>, %a_log: tensor<1x1x2xf32>, %dt_bias: tensor<1x1x2x64xf32>) -> tensor<?x?x2x64xf32> {
  %c = mixer.constant dense<-5.0> : tensor<f32>
  %x = mixer.binary add %g, %dt_bias : tensor<?x?x2x64xf32>, tensor<1x1x2x64xf32> -> tensor<?x?x2x64xf32>
  %e = mixer.map exp %a_log : tensor<1x1x2xf32> -> tensor<1x1x2xf32>
  %y = mixer.binary mul %e, %x : tensor<1x1x2xf32>, tensor<?x?x2x64xf32> -> tensor<?x?x2x64xf32>
  %s = mixer.map sigmoid %y : tensor<?x?x2x64xf32> -> tensor<?x?x2x64xf32>
  %d = mixer.binary mul %c, %s : tensor<f32>, tensor<?x?x2x64xf32> -> tensor<?x?x2x64xf32>
  %o, %st = mixer.recurrence vector forward %q, %q, %v decay(%d) : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>)
  return %o : tensor<?x?x2x64xf32>
}

// -----

// scalars_in_loads: a delta rule's per-token scalars -- Gated DeltaNet's gate
// from a, A_log and dt_bias, beta's sigmoid in both scales -- are pointwise
// chains of per-token inputs, per-head parameters and constants: the kernels
// compute them as they load a token (chunked and recurrent alike), and the IR
// keeps the chains for the printer. Given as inputs (nothing computed), the
// scalars are read as they are: no scalars_in_loads.
// CHECK-LABEL: func.func @gdn_scalars_in_loads
// CHECK: algorithm = chunked_ut, {{.*}}, scalars_in_loads = true>
// CHECK-LABEL: func.func @gdn_scalars_given
// CHECK-NOT: scalars_in_loads
// CHECK: return
// RECURRENT-LABEL: func.func @gdn_scalars_in_loads
// RECURRENT: algorithm = recurrent, {{.*}}, scalars_in_loads = true>
// CPU-LABEL: func.func @gdn_scalars_in_loads
// CPU-NOT: scalars_in_loads
func.func @gdn_scalars_in_loads(%q: tensor<?x?x2x64xf32>, %k: tensor<?x?x2x64xf32>, %v: tensor<?x?x2x64xf32>, %a: tensor<?x?x2xf32>, %beta: tensor<?x?x2xf32>, %a_log: tensor<1x1x2xf32>, %dt_bias: tensor<1x1x2xf32>) -> tensor<?x?x2x64xf32> {
  %c = mixer.constant dense<-1.0> : tensor<f32>
  %b = mixer.map sigmoid %beta : tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  %x = mixer.binary add %a, %dt_bias : tensor<?x?x2xf32>, tensor<1x1x2xf32> -> tensor<?x?x2xf32>
  %sp = mixer.map softplus %x : tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  %e = mixer.map exp %a_log : tensor<1x1x2xf32> -> tensor<1x1x2xf32>
  %n = mixer.map neg %e : tensor<1x1x2xf32> -> tensor<1x1x2xf32>
  %g = mixer.binary mul %n, %sp : tensor<1x1x2xf32>, tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  %eg = mixer.map exp %g : tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  %m = mixer.binary mul %eg, %c : tensor<?x?x2xf32>, tensor<f32> -> tensor<?x?x2xf32>
  %sa = mixer.binary mul %m, %b : tensor<?x?x2xf32>, tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  %o, %st = mixer.recurrence dplr diag scalar forward %q, %k, %v decay(%g) lowrank(%sa * %k) k_scale(%b) : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>)
  return %o : tensor<?x?x2x64xf32>
}
func.func @gdn_scalars_given(%q: tensor<?x?x2x64xf32>, %k: tensor<?x?x2x64xf32>, %v: tensor<?x?x2x64xf32>, %g: tensor<?x?x2xf32>, %sa: tensor<?x?x2xf32>, %b: tensor<?x?x2xf32>) -> tensor<?x?x2x64xf32> {
  %o, %st = mixer.recurrence dplr diag scalar forward %q, %k, %v decay(%g) lowrank(%sa * %k) k_scale(%b) : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>)
  return %o : tensor<?x?x2x64xf32>
}

// -----

// Not in the loads: decays read from two per-token inputs, or through a map
// over the row (l2norm), stay a row kernel's.
// CHECK-LABEL: func.func @gla_two_inputs
// CHECK-NOT: decay_in_loads
// CHECK-LABEL: func.func @gla_row_map
// CHECK-NOT: decay_in_loads
// CHECK: return
func.func @gla_two_inputs(%q: tensor<?x?x2x64xf32>, %v: tensor<?x?x2x64xf32>, %g: tensor<?x?x2x64xf32>) -> tensor<?x?x2x64xf32> {
  %d = mixer.binary mul %g, %q : tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32> -> tensor<?x?x2x64xf32>
  %o, %st = mixer.recurrence vector forward %q, %q, %v decay(%d) : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>)
  return %o : tensor<?x?x2x64xf32>
}
func.func @gla_row_map(%q: tensor<?x?x2x64xf32>, %v: tensor<?x?x2x64xf32>, %g: tensor<?x?x2x64xf32>) -> tensor<?x?x2x64xf32> {
  %n = mixer.map l2norm %g : tensor<?x?x2x64xf32> -> tensor<?x?x2x64xf32>
  %d = mixer.map neg %n : tensor<?x?x2x64xf32> -> tensor<?x?x2x64xf32>
  %o, %st = mixer.recurrence vector forward %q, %q, %v decay(%d) : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>)
  return %o : tensor<?x?x2x64xf32>
}
