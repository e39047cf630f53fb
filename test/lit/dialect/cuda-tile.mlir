// RUN: mixer-opt %s --split-input-file --verify-diagnostics | FileCheck %s

// The CUDA schedule round-trips; `chunk` is left out for the recurrent algorithm.
// CHECK: #mixer.cuda_tile<algorithm = recurrent, k = 16, v_block = 4, cols_per_warp = 4, warps = 1, stage = 32>
// CHECK: #mixer.cuda_tile<algorithm = chunked_ssd, k = 256, v_block = 32, cols_per_warp = 4, warps = 8, stage = 8, chunk = 64>
func.func @ok() attributes {a = #mixer.cuda_tile<algorithm = recurrent, k = 16, v_block = 4, cols_per_warp = 4, warps = 1, stage = 32>,
                            b = #mixer.cuda_tile<algorithm = chunked_ssd, k = 256, v_block = 32, cols_per_warp = 4, warps = 8, stage = 8, chunk = 64>} {
  return
}

// -----

// expected-error @+1 {{cuda_tile: cols_per_warp must divide a warp's 32 lanes, got 3}}
func.func @bad_cols() attributes {a = #mixer.cuda_tile<algorithm = recurrent, k = 64, v_block = 24, cols_per_warp = 3, warps = 8, stage = 32>} {
  return
}

// -----

// expected-error @+1 {{cuda_tile: warps must be in [1, 8], got 16}}
func.func @bad_warps() attributes {a = #mixer.cuda_tile<algorithm = recurrent, k = 64, v_block = 64, cols_per_warp = 4, warps = 16, stage = 32>} {
  return
}

// -----

// expected-error @+1 {{cuda_tile: v_block must be warps * cols_per_warp = 32, got 64}}
func.func @bad_block() attributes {a = #mixer.cuda_tile<algorithm = recurrent, k = 64, v_block = 64, cols_per_warp = 4, warps = 8, stage = 32>} {
  return
}

// -----

// expected-error @+1 {{cuda_tile: stage must be a power of two up to 32, got 12}}
func.func @bad_stage() attributes {a = #mixer.cuda_tile<algorithm = recurrent, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 12>} {
  return
}

// -----

// expected-error @+1 {{cuda_tile: k must be positive, got 0}}
func.func @bad_k() attributes {a = #mixer.cuda_tile<algorithm = recurrent, k = 0, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32>} {
  return
}

// -----

// expected-error @+1 {{cuda_tile: a recurrent schedule has no chunk, got chunk = 64}}
func.func @recurrent_chunk() attributes {a = #mixer.cuda_tile<algorithm = recurrent, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64>} {
  return
}

// -----

// expected-error @+1 {{cuda_tile: the tensor-core kernels work in chunks of 64 tokens, got chunk = 32}}
func.func @chunk_size() attributes {a = #mixer.cuda_tile<algorithm = chunked_ssd, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 32>} {
  return
}

// -----

// expected-error @+1 {{cuda_tile: chunked_ut needs k a multiple of 64 up to 128, got 256}}
func.func @chunk_keys() attributes {a = #mixer.cuda_tile<algorithm = chunked_ut, k = 256, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64>} {
  return
}
