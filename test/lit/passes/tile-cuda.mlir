// RUN: mixer-opt %s --mixer-chunk --mixer-tile="target=cuda" --split-input-file --verify-diagnostics | FileCheck %s
// RUN: mixer-opt %s --mixer-chunk --mixer-tile="target=cuda shared-bytes=8192" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=SMALL
// RUN: mixer-opt %s --mixer-chunk --mixer-tile="target=cuda schedule=recurrent" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=RECURRENT
// RUN: not mixer-opt %s --mixer-tile="target=gpu" --split-input-file 2>&1 | FileCheck %s --check-prefix=BADTARGET
// BADTARGET: error: mixer-tile: unknown target 'gpu' (expected cpu or cuda)

// CUDA: vector decays with 64 keys take the chunked GLA kernel. Its fallback
// (and `schedule=recurrent`): 8 lanes split the 64 keys of a column (8 rows
// each), 4 columns per warp, 8 warps: a CTA holds 32 columns; 32 tokens are
// staged through shared memory at a time. A smaller budget stages fewer.
// CHECK-LABEL: func.func @gla
// CHECK: mixer.schedule = #mixer.cuda_tile<algorithm = chunked_gla, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64>
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
// CHECK: mixer.schedule = #mixer.cuda_tile<algorithm = chunked_ssd
// RECURRENT-LABEL: func.func @gla
// RECURRENT: mixer.schedule = #mixer.cuda_tile<algorithm = recurrent
// RECURRENT-LABEL: func.func @ssd
// RECURRENT: mixer.schedule = #mixer.cuda_tile<algorithm = recurrent
// CHECK-LABEL: func.func @ssd_few_keys
// CHECK: mixer.schedule = #mixer.cuda_tile<algorithm = recurrent
func.func @ssd(%q: tensor<?x?x4x128xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4xf32>) -> tensor<?x?x4x64xf32> {
  %o, %s = mixer.recurrence scalar forward %q, %q, %v decay(%g) : (tensor<?x?x4x128xf32>, tensor<?x?x4x128xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x128x64xf32>)
  return %o : tensor<?x?x4x64xf32>
}
func.func @ssd_few_keys(%q: tensor<?x?x4x32xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4xf32>) -> tensor<?x?x4x64xf32> {
  %o, %s = mixer.recurrence scalar forward %q, %q, %v decay(%g) : (tensor<?x?x4x32xf32>, tensor<?x?x4x32xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x32x64xf32>)
  return %o : tensor<?x?x4x64xf32>
}

// -----

// Delta rules take the UT form, with a scalar diagonal and with a vector
// one (KDA, RWKV-7: the per-channel decays by sub-block pairs); every
// low-rank row stays a whole row.
// CHECK-LABEL: func.func @delta
// CHECK: mixer.schedule = #mixer.cuda_tile<algorithm = chunked_ut
// CHECK-LABEL: func.func @rwkv7_like
// CHECK: mixer.recurrence dplr diag vector forward
// CHECK-SAME: mixer.schedule = #mixer.cuda_tile<algorithm = chunked_ut, k = 64
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

// Elementwise decays have no chunked CUDA kernel: the recurrent one, even
// though mixer-chunk marks them for the chunked scan.
// CHECK-LABEL: func.func @elementwise
// CHECK: {mixer.chunk = {algorithm = "scan", size = 64 : i64}, mixer.schedule = #mixer.cuda_tile<algorithm = recurrent
func.func @elementwise(%c: tensor<?x?x2x64xf32>, %x: tensor<?x?x2x64xf32>, %a: tensor<1x1x2x64x64xf32>, %dt: tensor<?x?x2x64xf32>) -> tensor<?x?x2x64xf32> {
  %o, %s = mixer.recurrence elementwise forward %c, %c, %x decay(%a) dt(%dt) : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<1x1x2x64x64xf32>, tensor<?x?x2x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>)
  return %o : tensor<?x?x2x64xf32>
}
