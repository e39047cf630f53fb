// RUN: mixer-opt %s --mixer-chunk --mixer-lower-chunks --split-input-file | FileCheck %s
// RUN: mixer-opt %s --mixer-chunk="chunk-size=16" --mixer-lower-chunks --split-input-file | mixer-opt --split-input-file | FileCheck %s --check-prefix=C16
// mixer-lower-chunks writes the SSD chunk form as ops: what mixer-chunk
// recorded as `algorithm = "ssd"` becomes the cumulative decays, the masked
// intra-chunk scores, the chunks' local states, the walk between chunks and
// the output. `mixc run --chunk-level` checks the result numerically against
// the recurrence (test/lit/driver/chunk-level.test).

// A data-dependent scalar decay (Mamba-2, simple GLA) with an initial state.
// CHECK-LABEL: func.func @scalar
// CHECK: %[[G:.*]] = mixer.chunk_cumsum %[[D:.*]] over %[[Q:[^ ]*]] chunk 64 : tensor<?x?x2xf32>, tensor<?x?x2x8xf32> -> tensor<?x?x2xf32>
// CHECK: %[[A:.*]] = mixer.chunk_scores %[[Q]], %[[K:[^ ]*]] decay(%[[G]]) chunk 64 : {{.*}} -> tensor<?x?x2x64xf32>
// CHECK: %[[U:.*]] = mixer.chunk_local_states %[[K]], %[[V:[^ ]*]] decay(%[[G]]) chunk 64 : {{.*}} -> tensor<?x?x2x8x4xf32>
// CHECK: %[[S:.*]], %[[F:.*]] = mixer.chunk_walk %[[U]] decay(%[[G]]) init(%{{.*}}) chunk 64
// CHECK: %[[O:.*]] = mixer.chunk_output %[[Q]], %[[V]] decay(%[[G]]) scores(%[[A]]) states(%[[S]]) chunk 64 scale 5.000000e-01
// CHECK-NOT: mixer.recurrence
// CHECK: return %[[O]], %[[F]]
// C16-LABEL: func.func @scalar
// C16: mixer.chunk_scores {{.*}} chunk 16 : {{.*}} -> tensor<?x?x2x16xf32>
func.func @scalar(%q: tensor<?x?x2x8xf32>, %k: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %g: tensor<?x?x2xf32>, %s0: tensor<?x2x8x4xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>) {
  %o, %s = mixer.recurrence scalar forward %q, %k, %v decay(%g) init(%s0) scale 5.000000e-01 : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2xf32>, tensor<?x2x8x4xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return %o, %s : tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>
}

// -----

// Identity (linear attention): no decay operand anywhere. A constant decay
// per head spans q's batch and time.
// CHECK-LABEL: func.func @identity
// CHECK-NOT: chunk_cumsum
// CHECK: mixer.chunk_scores %{{[^ ]*}}, %{{[^ ]*}} chunk 64
// CHECK: mixer.chunk_walk %{{[^ ]*}} chunk 64
// CHECK-LABEL: func.func @const_scalar
// CHECK: mixer.chunk_cumsum %{{.*}} over %{{.*}} chunk 64 : tensor<1x1x2xf32>, tensor<?x?x2x8xf32> -> tensor<?x?x2xf32>
func.func @identity(%q: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>) {
  %o, %s = mixer.recurrence identity forward %q, %q, %v : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return %o, %s : tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>
}
func.func @const_scalar(%q: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %g: tensor<1x1x2xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>) {
  %o, %s = mixer.recurrence const_scalar forward %q, %q, %v decay(%g) : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<1x1x2xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return %o, %s : tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>
}

// -----

// A factor decay that is positive by construction (a sigmoid) is summed as
// its log; one that may be negative has no chunk form (mixer-chunk leaves
// it) and stays a recurrence. A reverse scan takes the same ops, each marked
// `reverse` (chunks counted from the sequence's end). A vector decay (GLA)
// takes the same ops with cumulative decays per key [B, T, H, K].
// CHECK-LABEL: func.func @factor
// CHECK: %[[F:.*]] = mixer.map sigmoid
// CHECK: %[[L:.*]] = mixer.map log %[[F]] : tensor<?x?x2xf32> -> tensor<?x?x2xf32>
// CHECK: mixer.chunk_cumsum %[[L]]
// CHECK-LABEL: func.func @signed
// CHECK: mixer.recurrence scalar forward
// CHECK-LABEL: func.func @reverse
// CHECK: %[[RG:.*]] = mixer.chunk_cumsum %{{.*}} over %{{.*}} chunk 64 reverse
// CHECK: mixer.chunk_scores %{{.*}} decay(%[[RG]]) chunk 64 reverse
// CHECK: mixer.chunk_local_states %{{.*}} decay(%[[RG]]) chunk 64 reverse
// CHECK: mixer.chunk_walk %{{.*}} decay(%[[RG]]) chunk 64 reverse
// CHECK: mixer.chunk_output %{{.*}} chunk 64 scale 1.000000e+00 reverse
// CHECK-NOT: mixer.recurrence
// CHECK-LABEL: func.func @vector
// CHECK: %[[GV:.*]] = mixer.chunk_cumsum %{{.*}} over %{{.*}} chunk 64 : tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32> -> tensor<?x?x2x8xf32>
// CHECK: mixer.chunk_scores %{{.*}}, %{{.*}} decay(%[[GV]]) chunk 64
// CHECK: mixer.chunk_walk %{{.*}} decay(%[[GV]]) chunk 64
func.func @factor(%q: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %x: tensor<?x?x2xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>) {
  %f = mixer.map sigmoid %x : tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  %o, %s = mixer.recurrence scalar forward %q, %q, %v decay(%f) decay_form factor : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return %o, %s : tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>
}
func.func @signed(%q: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %f: tensor<?x?x2xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>) {
  %o, %s = mixer.recurrence scalar forward %q, %q, %v decay(%f) decay_form factor : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return %o, %s : tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>
}
func.func @reverse(%q: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %g: tensor<?x?x2xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>) {
  %o, %s = mixer.recurrence scalar reverse %q, %q, %v decay(%g) : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return %o, %s : tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>
}
func.func @vector(%q: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %g: tensor<?x?x2x8xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>) {
  %o, %s = mixer.recurrence vector forward %q, %q, %v decay(%g) : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x8xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return %o, %s : tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>
}

// -----

// The UT form (a gated delta rule in its canonical scaled form): the rows
// a = a_scale b and c k first, then the chunk's triangular system, the
// per-chunk states and dense K x K transitions, the walk through those and
// the output.
// CHECK-LABEL: func.func @delta
// CHECK: %[[G:.*]] = mixer.chunk_cumsum %{{.*}} over %[[Q:[^ ]*]] chunk 64
// CHECK: %[[A:.*]] = mixer.binary mul %[[K:[^,]*]], %[[S:[^ ]*]] : tensor<?x?x2x8xf32>, tensor<?x?x2xf32> -> tensor<?x?x2x8xf32>
// CHECK: %[[CK:.*]] = mixer.binary mul %[[K]], %[[C:[^ ]*]] : tensor<?x?x2x8xf32>, tensor<?x?x2xf32> -> tensor<?x?x2x8xf32>
// CHECK: %[[P:.*]], %[[U:.*]] = mixer.chunk_ut %[[A]], %[[K]], %[[CK]], %[[V:[^ ]*]] decay(%[[G]]) chunk 64
// CHECK: %[[L:.*]], %[[T:.*]] = mixer.chunk_ut_states %[[A]], %[[CK]], %[[V]], %[[P]], %[[U]] decay(%[[G]]) chunk 64 : {{.*}} -> (tensor<?x?x2x8x4xf32>, tensor<?x?x2x8x8xf32>)
// CHECK: %[[E:.*]], %[[F:.*]] = mixer.chunk_walk %[[L]] transition(%[[T]]) chunk 64
// CHECK: %[[O:.*]] = mixer.chunk_ut_output %[[Q]], %[[A]], %[[CK]], %[[V]], %[[P]], %[[U]] decay(%[[G]]) states(%[[E]]) chunk 64 scale 1.000000e+00
// CHECK: return %[[O]], %[[F]]
func.func @delta(%q: tensor<?x?x2x8xf32>, %k: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %g: tensor<?x?x2xf32>, %s: tensor<?x?x2xf32>, %c: tensor<?x?x2xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>) {
  %o, %st = mixer.recurrence dplr diag scalar forward %q, %k, %v decay(%g) lowrank(%s * %k) k_scale(%c) : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return %o, %st : tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>
}

// -----

// The scan form (elementwise decays, Mamba-1): dt summed per value column,
// each chunk scanned from zero, the walk with elementwise transitions
// exp(rate . D), the read-outs corrected by the entering state.
// CHECK-LABEL: func.func @mamba
// CHECK: %[[D:.*]] = mixer.chunk_cumsum %[[DT:[^ ]*]] over %[[Q:[^ ]*]] chunk 64 : tensor<?x?x2x4xf32>, tensor<?x?x2x8xf32> -> tensor<?x?x2x4xf32>
// CHECK: %[[LO:.*]], %[[L:.*]] = mixer.chunk_scan_local %[[Q]], %{{[^ ]*}}, %{{[^ ]*}} decay(%[[D]]) rate(%[[R:[^)]*]]) chunk 64
// CHECK: %[[S:.*]], %[[F:.*]] = mixer.chunk_walk %[[L]] decay(%[[D]]) rate(%[[R]]) chunk 64
// CHECK: mixer.chunk_scan_output %[[Q]], %[[LO]] decay(%[[D]]) rate(%[[R]]) states(%[[S]]) chunk 64
func.func @mamba(%q: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %rate: tensor<1x1x2x8x4xf32>, %dt: tensor<?x?x2x4xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>) {
  %o, %s = mixer.recurrence elementwise forward %q, %q, %v decay(%rate) dt(%dt) : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<1x1x2x8x4xf32>, tensor<?x?x2x4xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return %o, %s : tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>
}

// -----

// A recurrence tiled for a target is lowered only where its CPU schedule is
// chunked (the walk takes the schedule: the CPU target prints its kernel
// from the ops); a recurrent schedule keeps the recurrence.
// CHECK-LABEL: func.func @tiled_chunked
// CHECK: mixer.chunk_walk {{.*}} chunk 64 {mixer.schedule = #mixer.cpu_tile<algorithm = chunked_gla
// CHECK-NOT: mixer.recurrence
// CHECK-LABEL: func.func @tiled_recurrent
// CHECK: mixer.recurrence vector forward
// CHECK-NOT: mixer.chunk_walk
func.func @tiled_chunked(%q: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %g: tensor<?x?x2x8xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>) {
  %o, %s = mixer.recurrence vector forward %q, %q, %v decay(%g) {mixer.chunk = {algorithm = "gla", size = 64 : i64, sub_block = 16 : i64}, mixer.schedule = #mixer.cpu_tile<algorithm = chunked_gla, isa = "x86-64-v3", lanes = 8, k = 8, v_block = 8, reg_block = 1, threads = 2, chunk = 64>} : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x8xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return %o, %s : tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>
}
func.func @tiled_recurrent(%q: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %g: tensor<?x?x2x8xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>) {
  %o, %s = mixer.recurrence vector forward %q, %q, %v decay(%g) {mixer.chunk = {algorithm = "gla", size = 64 : i64, sub_block = 16 : i64}, mixer.schedule = #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v3", lanes = 8, k = 8, v_block = 8, reg_block = 1, threads = 2>} : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x8xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return %o, %s : tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>
}

// -----

// The UT form tiled chunked for the CPU: its walk takes the schedule too.
// CHECK-LABEL: func.func @tiled_ut
// CHECK: mixer.chunk_ut
// CHECK: mixer.chunk_ut_states
// CHECK: mixer.chunk_walk {{.*}} transition({{.*}}) chunk 64 {mixer.schedule = #mixer.cpu_tile<algorithm = chunked_ut
// CHECK: mixer.chunk_ut_output
// CHECK-NOT: mixer.recurrence
func.func @tiled_ut(%q: tensor<?x?x2x16xf32>, %v: tensor<?x?x2x16xf32>, %g: tensor<?x?x2xf32>) -> (tensor<?x?x2x16xf32>, tensor<?x2x16x16xf32>) {
  %o, %s = mixer.recurrence dplr diag scalar forward %q, %q, %v decay(%g) lowrank(%q, %q) {mixer.chunk = {algorithm = "ut", size = 64 : i64, sub_block = 16 : i64}, mixer.schedule = #mixer.cpu_tile<algorithm = chunked_ut, isa = "x86-64-v3", lanes = 8, k = 16, v_block = 16, reg_block = 2, threads = 2, chunk = 64>} : (tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>) -> (tensor<?x?x2x16xf32>, tensor<?x2x16x16xf32>)
  return %o, %s : tensor<?x?x2x16xf32>, tensor<?x2x16x16xf32>
}

// -----

// CUDA: GLA's form tiled chunked_gla (and the SSD form tiled chunked_ssd) is
// lowered (the CUDA target prints its kernels from the ops, the walk keeps the
// schedule); the UT form tiled for CUDA stays a recurrence (its kernels are
// still named by the tile).
// CHECK-LABEL: func.func @cuda_gla
// CHECK: mixer.chunk_scores
// CHECK: mixer.chunk_walk {{.*}} chunk 64 {mixer.schedule = #mixer.cuda_tile<algorithm = chunked_gla
// CHECK-NOT: mixer.recurrence
// CHECK-LABEL: func.func @cuda_ut
// CHECK: mixer.recurrence dplr
// CHECK-NOT: mixer.chunk_walk
func.func @cuda_gla(%q: tensor<?x?x2x64xf32>, %v: tensor<?x?x2x64xf32>, %g: tensor<?x?x2x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>) {
  %o, %s = mixer.recurrence vector forward %q, %q, %v decay(%g) {mixer.chunk = {algorithm = "gla", size = 64 : i64, sub_block = 16 : i64}, mixer.schedule = #mixer.cuda_tile<algorithm = chunked_gla, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 132, state_blocks = [128, 64, 32], key_split = 2, seq_split = 8>} : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>)
  return %o, %s : tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>
}
func.func @cuda_ut(%q: tensor<?x?x2x64xf32>, %v: tensor<?x?x2x64xf32>, %g: tensor<?x?x2xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>) {
  %o, %s = mixer.recurrence dplr diag scalar forward %q, %q, %v decay(%g) lowrank(%q, %q) {mixer.chunk = {algorithm = "ut", size = 64 : i64, sub_block = 16 : i64}, mixer.schedule = #mixer.cuda_tile<algorithm = chunked_ut, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 132, state_blocks = [128, 64, 32], key_split = 2>} : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>)
  return %o, %s : tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>
}
