// RUN: mixer-opt %s --split-input-file --verify-diagnostics | FileCheck %s

// The CPU schedule mixer-tile attaches to a recurrence round-trips; `chunk`
// is left out for the recurrent algorithm, `grad_checkpoint` where it is 64.
// CHECK: #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v3", lanes = 8, k = 64, v_block = 64, reg_block = 2, threads = 2>
// CHECK: #mixer.cpu_tile<algorithm = chunked_gla, isa = "x86-64-v4", lanes = 16, k = 256, v_block = 128, reg_block = 6, threads = 2, chunk = 64, grad_checkpoint = 4>
func.func @ok() attributes {a = #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v3", lanes = 8, k = 64, v_block = 64, reg_block = 2, threads = 2, grad_checkpoint = 64>,
                            b = #mixer.cpu_tile<algorithm = chunked_gla, isa = "x86-64-v4", lanes = 16, k = 256, v_block = 128, reg_block = 6, threads = 2, chunk = 64, grad_checkpoint = 4>} {
  return
}

// -----

// expected-error @+1 {{cpu_tile: grad_checkpoint must be positive (tokens between the backward's saved states), got 0}}
func.func @bad_checkpoint() attributes {a = #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v3", lanes = 8, k = 64, v_block = 64, reg_block = 2, threads = 2, grad_checkpoint = 0>} {
  return
}

// -----

// expected-error @+1 {{cpu_tile: v_block must be a positive multiple of lanes (8), got 60}}
func.func @bad_block() attributes {a = #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v3", lanes = 8, k = 64, v_block = 60, reg_block = 2, threads = 2>} {
  return
}

// -----

// expected-error @+1 {{cpu_tile: reg_block must be in [1, 4] (the vectors of a value block), got 5}}
func.func @bad_reg_block() attributes {a = #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v4", lanes = 16, k = 64, v_block = 64, reg_block = 5, threads = 2>} {
  return
}

// -----

// expected-error @+1 {{cpu_tile: lanes must be 1, 4, 8 or 16 (fp32 lanes of a vector register), got 6}}
func.func @bad_lanes() attributes {a = #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v3", lanes = 6, k = 64, v_block = 60, reg_block = 1, threads = 2>} {
  return
}

// -----

// expected-error @+1 {{cpu_tile: chunked_ssd needs chunk > 0}}
func.func @no_chunk() attributes {a = #mixer.cpu_tile<algorithm = chunked_ssd, isa = "x86-64-v3", lanes = 8, k = 64, v_block = 64, reg_block = 2, threads = 2>} {
  return
}

// -----

// expected-error @+1 {{cpu_tile: a recurrent schedule has no chunk, got chunk = 64}}
func.func @stray_chunk() attributes {a = #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v3", lanes = 8, k = 64, v_block = 64, reg_block = 2, threads = 2, chunk = 64>} {
  return
}

// -----

// expected-error @+1 {{cpu_tile: chunked_gla works in sub-blocks of 16 tokens; chunk must be a multiple of 16, got 40}}
func.func @gla_chunk() attributes {a = #mixer.cpu_tile<algorithm = chunked_gla, isa = "x86-64-v3", lanes = 8, k = 64, v_block = 64, reg_block = 2, threads = 2, chunk = 40>} {
  return
}

// -----

// expected-error @+1 {{cpu_tile: chunked_ut works in sub-blocks of 16 tokens; chunk must be a multiple of 16, got 24}}
func.func @ut_chunk() attributes {a = #mixer.cpu_tile<algorithm = chunked_ut, isa = "x86-64-v3", lanes = 8, k = 64, v_block = 64, reg_block = 2, threads = 2, chunk = 24>} {
  return
}
