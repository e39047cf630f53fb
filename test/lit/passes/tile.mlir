// RUN: mixer-opt %s --mixer-tile --split-input-file --verify-diagnostics | FileCheck %s
// RUN: mixer-opt %s --mixer-tile="cores=16 vector-width=16 vector-registers=32 isa=x86-64-v4" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=WIDE
// RUN: mixer-opt %s --mixer-tile="vector-width=16 vector-registers=32 isa=x86-64-v4" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=AVX512
// RUN: mixer-opt %s --mixer-tile="vector-width=4 vector-registers=32 isa=armv8-a" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=NEON
// RUN: mixer-opt %s --mixer-tile="l1-bytes=8192" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=SMALL-L1

// On 2 cores the whole 64 x 64 state (16 KB) is one block within the L1 budget.
// The default target is AVX2 (8 lanes, 16 registers): vector decays sweep
// four arrays of vectors (values, read-outs, and the paired next token's), so
// the block's 8 vectors are swept 2 at a time.
// CHECK-LABEL: func.func @gla
// CHECK: mixer.recurrence vector forward {{.*}} {mixer.schedule = #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v3", lanes = 8, k = 64, v_block = 64, reg_block = 2, threads = 2>}
// AVX-512 (16 lanes, 32 registers): the block is 4 vectors, one sweep.
// AVX512-LABEL: func.func @gla
// AVX512: {mixer.schedule = #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v4", lanes = 16, k = 64, v_block = 64, reg_block = 4, threads = 2>}
// NEON (4 lanes, 32 registers): 16 vectors in groups of at most
// (32 - 6) / 4 = 6: three sweeps (6, 6 and 4 vectors).
// NEON-LABEL: func.func @gla
// NEON: {mixer.schedule = #mixer.cpu_tile<algorithm = recurrent, isa = "armv8-a", lanes = 4, k = 64, v_block = 64, reg_block = 6, threads = 2>}
// With 16 cores and 2 heads the value blocks narrow to one register so that
// heads x blocks cover the cores.
// WIDE-LABEL: func.func @gla
// WIDE: {mixer.schedule = #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v4", lanes = 16, k = 64, v_block = 16, reg_block = 1, threads = 16>}
// An 8 KB budget allows 32 columns of 64 keys.
// SMALL-L1-LABEL: func.func @gla
// SMALL-L1: v_block = 32,
func.func @gla(%q: tensor<?x?x2x64xf32>, %v: tensor<?x?x2x64xf32>, %g: tensor<?x?x2x64xf32>) -> tensor<?x?x2x64xf32> {
  %o, %s = mixer.recurrence vector forward %q, %q, %v decay(%g) : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>)
  return %o : tensor<?x?x2x64xf32>
}

// -----

// A small V rounds up to one vector register.
// CHECK-LABEL: func.func @small_v
// CHECK: lanes = 8, k = 16, v_block = 8, reg_block = 1, threads = 2>
// WIDE-LABEL: func.func @small_v
// WIDE: v_block = 16,
func.func @small_v(%q: tensor<?x?x4x16xf32>, %v: tensor<?x?x4x3xf32>) -> tensor<?x?x4x3xf32> {
  %o, %s = mixer.recurrence identity forward %q, %q, %v : (tensor<?x?x4x16xf32>, tensor<?x?x4x16xf32>, tensor<?x?x4x3xf32>) -> (tensor<?x?x4x3xf32>, tensor<?x4x16x3xf32>)
  return %o : tensor<?x?x4x3xf32>
}

// -----

func.func @unsplit(%q: tensor<?x?x4x16xf32>, %v: tensor<?x?x4x3xf32>) -> tensor<?x?x4x3xf32> {
  // expected-error @+1 {{mixer-tile expects the split form}}
  %o, %s = mixer.recurrence identity bidirectional %q, %q, %v : (tensor<?x?x4x16xf32>, tensor<?x?x4x16xf32>, tensor<?x?x4x3xf32>) -> (tensor<?x?x4x3xf32>, tensor<?x4x16x3xf32>)
  return %o : tensor<?x?x4x3xf32>
}

// -----

// The floored normalizer becomes a ones column first, like the sum.
func.func @unsplit_max_abs(%q: tensor<?x?x4x16xf32>, %v: tensor<?x?x4x3xf32>) -> tensor<?x?x4x3xf32> {
  // expected-error @+1 {{mixer-tile expects the split form}}
  %o, %s = mixer.recurrence identity forward %q, %q, %v normalizer max_abs eps 1.0 : (tensor<?x?x4x16xf32>, tensor<?x?x4x16xf32>, tensor<?x?x4x3xf32>) -> (tensor<?x?x4x3xf32>, tensor<?x4x16x4xf32>)
  return %o : tensor<?x?x4x3xf32>
}

// -----

// With mixer.chunk, `schedule=chunked` picks the SSD form; `recurrent` keeps the sweep.
// RUN: mixer-opt %s --mixer-chunk --mixer-tile="schedule=chunked" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=CHUNKED
// RUN: mixer-opt %s --mixer-chunk --mixer-tile="schedule=recurrent" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=RECURRENT
// CHUNKED-LABEL: func.func @ssd
// CHUNKED: {mixer.chunk = {algorithm = "ssd", size = 64 : i64}, mixer.schedule = #mixer.cpu_tile<algorithm = chunked_ssd, isa = "x86-64-v3", lanes = 8, k = 32, v_block = 32, reg_block = 2, threads = 2, chunk = 64>}
// RECURRENT-LABEL: func.func @ssd
// RECURRENT: mixer.schedule = #mixer.cpu_tile<algorithm = recurrent,
func.func @ssd(%q: tensor<?x?x4x32xf32>, %v: tensor<?x?x4x32xf32>, %g: tensor<?x?x4xf32>) -> tensor<?x?x4x32xf32> {
  %o, %s = mixer.recurrence scalar forward %q, %q, %v decay(%g) : (tensor<?x?x4x32xf32>, tensor<?x?x4x32xf32>, tensor<?x?x4x32xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x32xf32>, tensor<?x4x32x32xf32>)
  return %o : tensor<?x?x4x32xf32>
}

// -----

// Under `auto` the cost model picks the chunked form from 128 keys on.
// RUN: mixer-opt %s --mixer-chunk --mixer-tile --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=AUTO
// AUTO-LABEL: func.func @many_keys
// AUTO: mixer.schedule = #mixer.cpu_tile<algorithm = chunked_ssd, isa = "x86-64-v3", lanes = 8, k = 128,
// AUTO-LABEL: func.func @few_keys
// AUTO: mixer.schedule = #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v3", lanes = 8, k = 64,
func.func @many_keys(%q: tensor<?x?x4x128xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4xf32>) -> tensor<?x?x4x64xf32> {
  %o, %s = mixer.recurrence scalar forward %q, %q, %v decay(%g) : (tensor<?x?x4x128xf32>, tensor<?x?x4x128xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x128x64xf32>)
  return %o : tensor<?x?x4x64xf32>
}
func.func @few_keys(%q: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4xf32>) -> tensor<?x?x4x64xf32> {
  %o, %s = mixer.recurrence scalar forward %q, %q, %v decay(%g) : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>)
  return %o : tensor<?x?x4x64xf32>
}

// -----

// Elementwise decays: the chunked scan under `auto` only where the (head,
// value block) tasks leave more than half the cores idle (one head of 16
// columns on 16 cores), else the sweep (8 heads); `chunked` forces it.
// RUN: mixer-opt %s --mixer-chunk --mixer-tile="cores=16 vector-width=16" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=SCAN
// RUN: mixer-opt %s --mixer-chunk --mixer-tile="schedule=chunked" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=SCAN-FORCED
// SCAN-LABEL: func.func @one_head
// SCAN: mixer.schedule = #mixer.cpu_tile<algorithm = chunked_scan, isa = "x86-64-v3", lanes = 16, k = 16, v_block = 16, reg_block = 1, threads = 16, chunk = 64>
// SCAN-LABEL: func.func @eight_heads
// SCAN: mixer.schedule = #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v3", lanes = 16, k = 16,
// SCAN-FORCED-LABEL: func.func @one_head
// SCAN-FORCED: cpu_tile<algorithm = chunked_scan,
// SCAN-FORCED-LABEL: func.func @eight_heads
// SCAN-FORCED: cpu_tile<algorithm = chunked_scan,
func.func @one_head(%c: tensor<?x?x1x16xf32>, %x: tensor<?x?x1x16xf32>, %a: tensor<1x1x1x16x16xf32>, %dt: tensor<?x?x1x16xf32>) -> tensor<?x?x1x16xf32> {
  %o, %s = mixer.recurrence elementwise forward %c, %c, %x decay(%a) dt(%dt) : (tensor<?x?x1x16xf32>, tensor<?x?x1x16xf32>, tensor<?x?x1x16xf32>, tensor<1x1x1x16x16xf32>, tensor<?x?x1x16xf32>) -> (tensor<?x?x1x16xf32>, tensor<?x1x16x16xf32>)
  return %o : tensor<?x?x1x16xf32>
}
func.func @eight_heads(%c: tensor<?x?x8x16xf32>, %x: tensor<?x?x8x64xf32>, %a: tensor<1x1x8x16x64xf32>, %dt: tensor<?x?x8x64xf32>) -> tensor<?x?x8x64xf32> {
  %o, %s = mixer.recurrence elementwise forward %c, %c, %x decay(%a) dt(%dt) : (tensor<?x?x8x16xf32>, tensor<?x?x8x16xf32>, tensor<?x?x8x64xf32>, tensor<1x1x8x16x64xf32>, tensor<?x?x8x64xf32>) -> (tensor<?x?x8x64xf32>, tensor<?x8x16x64xf32>)
  return %o : tensor<?x?x8x64xf32>
}

// -----

// Vector decays: the chunked GLA form under `chunked`, and under `auto` from
// 256 keys on (the sweep is faster below).
// RUN: mixer-opt %s --mixer-chunk --mixer-tile --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=GLA-AUTO
// RUN: mixer-opt %s --mixer-chunk --mixer-tile="schedule=chunked" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=GLA-FORCED
// GLA-AUTO-LABEL: func.func @gla_256
// GLA-AUTO: mixer.schedule = #mixer.cpu_tile<algorithm = chunked_gla, isa = "x86-64-v3", lanes = 8, k = 256,
// GLA-AUTO-LABEL: func.func @gla_128
// GLA-AUTO: mixer.schedule = #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v3", lanes = 8, k = 128,
// GLA-FORCED-LABEL: func.func @gla_256
// GLA-FORCED: cpu_tile<algorithm = chunked_gla,
// GLA-FORCED-LABEL: func.func @gla_128
// GLA-FORCED: cpu_tile<algorithm = chunked_gla,
func.func @gla_256(%q: tensor<?x?x2x256xf32>, %v: tensor<?x?x2x64xf32>, %g: tensor<?x?x2x256xf32>) -> tensor<?x?x2x64xf32> {
  %o, %s = mixer.recurrence vector forward %q, %q, %v decay(%g) : (tensor<?x?x2x256xf32>, tensor<?x?x2x256xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x256xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x256x64xf32>)
  return %o : tensor<?x?x2x64xf32>
}
func.func @gla_128(%q: tensor<?x?x2x128xf32>, %v: tensor<?x?x2x64xf32>, %g: tensor<?x?x2x128xf32>) -> tensor<?x?x2x64xf32> {
  %o, %s = mixer.recurrence vector forward %q, %q, %v decay(%g) : (tensor<?x?x2x128xf32>, tensor<?x?x2x128xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x128xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x128x64xf32>)
  return %o : tensor<?x?x2x64xf32>
}
