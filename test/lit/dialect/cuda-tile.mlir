// RUN: mixer-opt %s --split-input-file --verify-diagnostics | FileCheck %s

// The CUDA schedule round-trips; `chunk` and the state pass are left out for
// the recurrent algorithm.
// CHECK: #mixer.cuda_tile<algorithm = recurrent, k = 16, v_block = 4, cols_per_warp = 4, warps = 1, stage = 32>
// CHECK: #mixer.cuda_tile<algorithm = chunked_ssd, k = 256, v_block = 32, cols_per_warp = 4, warps = 8, stage = 8, chunk = 64, sms = 132, state_blocks = [32]>
// CHECK: #mixer.cuda_tile<algorithm = chunked_ut, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 78, state_blocks = [128, 64, 32], key_split = 2, wgmma_walk = true>
// CHECK: #mixer.cuda_tile<algorithm = chunked_gla, k = 128, v_block = 32, cols_per_warp = 4, warps = 8, stage = 16, chunk = 64, sms = 132, state_blocks = [128, 32], seq_split = 8>
// A derived backward's recurrence on the checkpointed sweep: grad_checkpoint.
// CHECK: #mixer.cuda_tile<algorithm = recurrent, k = 16, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, grad_checkpoint = 64>
func.func @ok() attributes {a = #mixer.cuda_tile<algorithm = recurrent, k = 16, v_block = 4, cols_per_warp = 4, warps = 1, stage = 32>,
                            b = #mixer.cuda_tile<algorithm = chunked_ssd, k = 256, v_block = 32, cols_per_warp = 4, warps = 8, stage = 8, chunk = 64, sms = 132, state_blocks = [32]>,
                            c = #mixer.cuda_tile<algorithm = chunked_ut, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 78, state_blocks = [128, 64, 32], key_split = 2, wgmma_walk = true>,
                            d = #mixer.cuda_tile<algorithm = chunked_gla, k = 128, v_block = 32, cols_per_warp = 4, warps = 8, stage = 16, chunk = 64, sms = 132, state_blocks = [128, 32], seq_split = 8>,
                            e = #mixer.cuda_tile<algorithm = recurrent, k = 16, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, grad_checkpoint = 64>} {
  return
}

// -----

// expected-error @+1 {{cuda_tile: grad_checkpoint is 0 or a multiple of 32 up to 1024 tokens, got 48}}
func.func @bad_checkpoint() attributes {a = #mixer.cuda_tile<algorithm = recurrent, k = 16, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, grad_checkpoint = 48>} {
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
func.func @chunk_size() attributes {a = #mixer.cuda_tile<algorithm = chunked_ssd, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 32, sms = 132, state_blocks = [128]>} {
  return
}

// -----

// expected-error @+1 {{cuda_tile: chunked_ut needs k a multiple of 64 up to 128, got 256}}
func.func @chunk_keys() attributes {a = #mixer.cuda_tile<algorithm = chunked_ut, k = 256, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 132, state_blocks = [32]>} {
  return
}

// -----

// expected-error @+1 {{cuda_tile: a recurrent schedule has no state pass (sms, state_blocks, key_split, seq_split, wgmma_walk)}}
func.func @recurrent_pass() attributes {a = #mixer.cuda_tile<algorithm = recurrent, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, sms = 132>} {
  return
}

// -----

// expected-error @+1 {{cuda_tile: a chunked schedule needs the target's sms, got 0}}
func.func @no_sms() attributes {a = #mixer.cuda_tile<algorithm = chunked_ssd, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, state_blocks = [128]>} {
  return
}

// -----

// expected-error @+1 {{cuda_tile: a chunked schedule needs its state_blocks}}
func.func @no_blocks() attributes {a = #mixer.cuda_tile<algorithm = chunked_ssd, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 132>} {
  return
}

// -----

// expected-error @+1 {{cuda_tile: state_blocks are 128, 64 or 32 value columns, got 48}}
func.func @odd_block() attributes {a = #mixer.cuda_tile<algorithm = chunked_gla, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 132, state_blocks = [128, 48]>} {
  return
}

// -----

// expected-error @+1 {{cuda_tile: state_blocks go from the widest to the narrowest}}
func.func @block_order() attributes {a = #mixer.cuda_tile<algorithm = chunked_gla, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 132, state_blocks = [32, 64]>} {
  return
}

// -----

// expected-error @+1 {{cuda_tile: key_split = 2 splits blocks of 32 columns, the last of state_blocks}}
func.func @key_split_width() attributes {a = #mixer.cuda_tile<algorithm = chunked_ut, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 132, state_blocks = [128, 64], key_split = 2>} {
  return
}

// -----

// expected-error @+1 {{cuda_tile: key_split is 1 or 2, got 4}}
func.func @key_split_value() attributes {a = #mixer.cuda_tile<algorithm = chunked_ut, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 132, state_blocks = [32], key_split = 4>} {
  return
}

// -----

// expected-error @+1 {{cuda_tile: k = 256 walks in blocks of 32 columns only (state_blocks = [32], no key or sequence split)}}
func.func @wide_k() attributes {a = #mixer.cuda_tile<algorithm = chunked_ssd, k = 256, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 132, state_blocks = [128, 32]>} {
  return
}

// -----

// expected-error @+1 {{cuda_tile: seq_split (at least 2 chunks, with 128-column blocks first) is the SSD and GLA walks', got 8 for chunked_ut}}
func.func @seq_split_ut() attributes {a = #mixer.cuda_tile<algorithm = chunked_ut, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 132, state_blocks = [128, 32], seq_split = 8>} {
  return
}

// -----

// expected-error @+1 {{cuda_tile: wgmma_walk is the delta rules' walk (chunked_ut, k up to 128)}}
func.func @wgmma_gla() attributes {a = #mixer.cuda_tile<algorithm = chunked_gla, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 132, state_blocks = [128, 32], wgmma_walk = true>} {
  return
}

// -----

// decay_in_loads is the vector decays' (the SSD form's decays are scalars).
// expected-error @+1 {{cuda_tile: decay_in_loads is the vector decays' (recurrent, chunked_gla, chunked_ut), not chunked_ssd's}}
func.func @bad_decay_in_loads() attributes {a = #mixer.cuda_tile<algorithm = chunked_ssd, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 8, chunk = 64, sms = 132, state_blocks = [128, 64, 32], decay_in_loads = true>} {
  return
}

// -----

// scalars_in_loads is the delta rules' kernels' (the SSD and GLA forms read their decays otherwise).
// expected-error @+1 {{cuda_tile: scalars_in_loads is the delta rules' (recurrent, chunked_ut), not chunked_gla's}}
func.func @bad_scalars_in_loads() attributes {a = #mixer.cuda_tile<algorithm = chunked_gla, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 8, chunk = 64, sms = 132, state_blocks = [128, 64, 32], scalars_in_loads = true>} {
  return
}
