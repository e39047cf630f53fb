// RUN: mixer-translate --mixer-to-cpu %s --split-input-file --verify-diagnostics | FileCheck %s
// The CPU printer prints a chunked kernel from the chunk-level ops that
// mixer-lower-chunks writes: one task grid (forEachChunk) per chunk_walk, the
// chunk's rows from the row function, then one primitive per op in dataflow
// order. What differs between the SSD and GLA forms is the decay's type: no
// decay, a scalar per token ([B, T, H] cumulative) or one per key.

// GLA (per-key decays): the log-decays are the row's decay field (K wide),
// the tiling from the walk's #mixer.cpu_tile, reverse from the ops.
// CHECK-LABEL: from the mixer function @gla
// CHECK: // chunk level, the GLA form (reverse): K = 8, V = 16, value block = 16, chunks of 32
// CHECK: x{{[0-9]+}}[j] = logsigmoid(
// CHECK: p.reverse = true;
// CHECK: if (plain) scanPlain<8, 16>(p, Structure::vector, DiagKind::none, false, false, false, true, threads, r0_row);
// CHECK-NEXT: else forEachChunk<8, 16, 16, 32, 8, false>(p, threads, r0_row, [&](auto &c) {
// CHECK-NEXT: chunkCumsum(c);
// CHECK-NEXT: chunkScoresKeys<8, 2>(c);
// CHECK-NEXT: chunkOutput<8, 2>(c, p.scale);
// CHECK-NEXT: chunkWalk<8, 2>(c);
// CHECK-NEXT: });
func.func @gla(%q: tensor<?x?x2x8xf32> {mixer.name = "q"}, %k: tensor<?x?x2x8xf32> {mixer.name = "k"}, %v: tensor<?x?x2x16xf32> {mixer.name = "v"}, %g: tensor<?x?x2x8xf32> {mixer.name = "g"}) -> (tensor<?x?x2x16xf32>, tensor<?x2x8x16xf32>) {
  %d = mixer.map logsigmoid %g : tensor<?x?x2x8xf32> -> tensor<?x?x2x8xf32>
  %G = mixer.chunk_cumsum %d over %q chunk 32 reverse : tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32> -> tensor<?x?x2x8xf32>
  %A = mixer.chunk_scores %q, %k decay(%G) chunk 32 reverse : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>) -> tensor<?x?x2x32xf32>
  %U = mixer.chunk_local_states %k, %v decay(%G) chunk 32 reverse : (tensor<?x?x2x8xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x8xf32>) -> tensor<?x?x2x8x16xf32>
  %S, %F = mixer.chunk_walk %U decay(%G) chunk 32 reverse {mixer.schedule = #mixer.cpu_tile<algorithm = chunked_gla, isa = "x86-64-v3", lanes = 8, k = 8, v_block = 16, reg_block = 2, threads = 2, chunk = 32>} : (tensor<?x?x2x8x16xf32>, tensor<?x?x2x8xf32>) -> (tensor<?x?x2x8x16xf32>, tensor<?x2x8x16xf32>)
  %o = mixer.chunk_output %q, %v decay(%G) scores(%A) states(%S) chunk 32 scale 5.000000e-01 reverse : (tensor<?x?x2x8xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x32xf32>, tensor<?x?x2x8x16xf32>) -> tensor<?x?x2x16xf32>
  return %o, %F : tensor<?x?x2x16xf32>, tensor<?x2x8x16xf32>
}

// -----

// Linear attention (no decay): no chunk_cumsum, the SSD form's scores, an
// initial state read in place; forward.
// CHECK-LABEL: from the mixer function @linear
// CHECK: // chunk level, the SSD form: K = 8, V = 16, value block = 16, chunks of 64
// CHECK: p.init = inputs[2].data ? as(
// CHECK: p.reverse = false;
// CHECK: scanPlain<8, 16>(p, Structure::identity,
// CHECK-NEXT: else forEachChunk<8, 16, 16, 64, 0, true>(p, threads, r0_row, [&](auto &c) {
// CHECK-NEXT: chunkScoresScalar<16, 1>(c);
// CHECK-NEXT: chunkOutput<16, 1>(c, p.scale);
// CHECK-NEXT: chunkWalk<16, 1>(c);
func.func @linear(%q: tensor<?x?x2x8xf32> {mixer.name = "q"}, %v: tensor<?x?x2x16xf32> {mixer.name = "v"}, %s0: tensor<?x2x8x16xf32> {mixer.name = "init"}) -> (tensor<?x?x2x16xf32>, tensor<?x2x8x16xf32>) {
  %A = mixer.chunk_scores %q, %q chunk 64 : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>) -> tensor<?x?x2x64xf32>
  %U = mixer.chunk_local_states %q, %v chunk 64 : (tensor<?x?x2x8xf32>, tensor<?x?x2x16xf32>) -> tensor<?x?x2x8x16xf32>
  %S, %F = mixer.chunk_walk %U init(%s0) chunk 64 {mixer.schedule = #mixer.cpu_tile<algorithm = chunked_ssd, isa = "x86-64-v4", lanes = 16, k = 8, v_block = 16, reg_block = 1, threads = 2, chunk = 64>} : (tensor<?x?x2x8x16xf32>, tensor<?x2x8x16xf32>) -> (tensor<?x?x2x8x16xf32>, tensor<?x2x8x16xf32>)
  %o = mixer.chunk_output %q, %v scores(%A) states(%S) chunk 64 scale 1.000000e+00 : (tensor<?x?x2x8xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x8x16xf32>) -> tensor<?x?x2x16xf32>
  return %o, %F : tensor<?x?x2x16xf32>, tensor<?x2x8x16xf32>
}

// -----

// A scalar decay per token: DW = 1, the SSD form.
// CHECK-LABEL: from the mixer function @mamba2_like
// CHECK: forEachChunk<8, 16, 16, 64, 1, true>
// CHECK-NEXT: chunkCumsum(c);
// CHECK-NEXT: chunkScoresScalar<16, 1>(c);
func.func @mamba2_like(%q: tensor<?x?x2x8xf32> {mixer.name = "q"}, %v: tensor<?x?x2x16xf32> {mixer.name = "v"}, %g: tensor<?x?x2xf32> {mixer.name = "g"}) -> (tensor<?x?x2x16xf32>, tensor<?x2x8x16xf32>) {
  %G = mixer.chunk_cumsum %g over %q chunk 64 : tensor<?x?x2xf32>, tensor<?x?x2x8xf32> -> tensor<?x?x2xf32>
  %A = mixer.chunk_scores %q, %q decay(%G) chunk 64 : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2xf32>) -> tensor<?x?x2x64xf32>
  %U = mixer.chunk_local_states %q, %v decay(%G) chunk 64 : (tensor<?x?x2x8xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2xf32>) -> tensor<?x?x2x8x16xf32>
  %S, %F = mixer.chunk_walk %U decay(%G) chunk 64 {mixer.schedule = #mixer.cpu_tile<algorithm = chunked_ssd, isa = "x86-64-v4", lanes = 16, k = 8, v_block = 16, reg_block = 1, threads = 2, chunk = 64>} : (tensor<?x?x2x8x16xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x8x16xf32>, tensor<?x2x8x16xf32>)
  %o = mixer.chunk_output %q, %v decay(%G) scores(%A) states(%S) chunk 64 scale 1.000000e+00 : (tensor<?x?x2x8xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x8x16xf32>) -> tensor<?x?x2x16xf32>
  return %o, %F : tensor<?x?x2x16xf32>, tensor<?x2x8x16xf32>
}

// -----

// An intermediate chunk value read outside the chunk form has no kernel.
func.func @scores_escape(%q: tensor<?x?x2x8xf32> {mixer.name = "q"}, %v: tensor<?x?x2x16xf32> {mixer.name = "v"}) -> (tensor<?x?x2x16xf32>, tensor<?x2x8x16xf32>, tensor<?x?x2x64xf32>) {
  %A = mixer.chunk_scores %q, %q chunk 64 : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>) -> tensor<?x?x2x64xf32>
  %U = mixer.chunk_local_states %q, %v chunk 64 : (tensor<?x?x2x8xf32>, tensor<?x?x2x16xf32>) -> tensor<?x?x2x8x16xf32>
  // expected-error @+1 {{an intermediate chunk value is read outside the chunk form}}
  %S, %F = mixer.chunk_walk %U chunk 64 {mixer.schedule = #mixer.cpu_tile<algorithm = chunked_ssd, isa = "x86-64-v4", lanes = 16, k = 8, v_block = 16, reg_block = 1, threads = 2, chunk = 64>} : (tensor<?x?x2x8x16xf32>) -> (tensor<?x?x2x8x16xf32>, tensor<?x2x8x16xf32>)
  %o = mixer.chunk_output %q, %v scores(%A) states(%S) chunk 64 scale 1.000000e+00 : (tensor<?x?x2x8xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x8x16xf32>) -> tensor<?x?x2x16xf32>
  return %o, %F, %A : tensor<?x?x2x16xf32>, tensor<?x2x8x16xf32>, tensor<?x?x2x64xf32>
}

// -----

// A walk without a chunked CPU schedule.
func.func @unscheduled(%q: tensor<?x?x2x8xf32> {mixer.name = "q"}, %v: tensor<?x?x2x16xf32> {mixer.name = "v"}) -> (tensor<?x?x2x16xf32>, tensor<?x2x8x16xf32>) {
  %A = mixer.chunk_scores %q, %q chunk 64 : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>) -> tensor<?x?x2x64xf32>
  %U = mixer.chunk_local_states %q, %v chunk 64 : (tensor<?x?x2x8xf32>, tensor<?x?x2x16xf32>) -> tensor<?x?x2x8x16xf32>
  // expected-error @+1 {{has no chunked #mixer.cpu_tile schedule}}
  %S, %F = mixer.chunk_walk %U chunk 64 : (tensor<?x?x2x8x16xf32>) -> (tensor<?x?x2x8x16xf32>, tensor<?x2x8x16xf32>)
  %o = mixer.chunk_output %q, %v scores(%A) states(%S) chunk 64 scale 1.000000e+00 : (tensor<?x?x2x8xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x8x16xf32>) -> tensor<?x?x2x16xf32>
  return %o, %F : tensor<?x?x2x16xf32>, tensor<?x2x8x16xf32>
}

// -----

// The UT form with a decay per key (KDA, RWKV-7): one task grid, one
// primitive per op (chunk_ut's system and its solve against the entering
// state, the output, the states with the walk).
// CHECK-LABEL: from the mixer function @vector_delta
// CHECK: // chunk level, the UT form: K = 16, V = 16, value block = 16, chunks of 32, a decay per key
// CHECK: if (plain) scanPlain<16, 16>(p, Structure::dplr, DiagKind::vector, false, false, false, true, threads, r0_row);
// CHECK-NEXT: else forEachUtChunk<16, 16, 16, 32, 16>(p, threads, r0_row, [&](auto &c) {
// CHECK-NEXT: chunkCumsum(c);
// CHECK-NEXT: chunkUtSystem<16, 1>(c);
// CHECK-NEXT: chunkUtSolve<16, 1>(c);
// CHECK-NEXT: chunkUtOutput<16, 1>(c, p.scale);
// CHECK-NEXT: chunkUtWalk<16, 1>(c);
// CHECK-NEXT: });
func.func @vector_delta(%q: tensor<?x?x2x16xf32> {mixer.name = "q"}, %a: tensor<?x?x2x16xf32> {mixer.name = "a"}, %v: tensor<?x?x2x16xf32> {mixer.name = "v"}, %g: tensor<?x?x2x16xf32> {mixer.name = "g"}) -> (tensor<?x?x2x16xf32>, tensor<?x2x16x16xf32>) {
  %G = mixer.chunk_cumsum %g over %q chunk 32 : tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32> -> tensor<?x?x2x16xf32>
  %p, %u = mixer.chunk_ut %a, %q, %q, %v decay(%G) chunk 32 : (tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>) -> (tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>)
  %U, %A = mixer.chunk_ut_states %a, %q, %v, %p, %u decay(%G) chunk 32 : (tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>) -> (tensor<?x?x2x16x16xf32>, tensor<?x?x2x16x16xf32>)
  %S, %F = mixer.chunk_walk %U transition(%A) chunk 32 {mixer.schedule = #mixer.cpu_tile<algorithm = chunked_ut, isa = "x86-64-v4", lanes = 16, k = 16, v_block = 16, reg_block = 1, threads = 2, chunk = 32>} : (tensor<?x?x2x16x16xf32>, tensor<?x?x2x16x16xf32>) -> (tensor<?x?x2x16x16xf32>, tensor<?x2x16x16xf32>)
  %o = mixer.chunk_ut_output %q, %a, %q, %v, %p, %u decay(%G) states(%S) chunk 32 scale 1.000000e+00 : (tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16x16xf32>) -> tensor<?x?x2x16xf32>
  return %o, %F : tensor<?x?x2x16xf32>, tensor<?x2x16x16xf32>
}

// -----

// The UT form's p read outside it has no kernel either.
func.func @ut_escape(%q: tensor<?x?x2x16xf32> {mixer.name = "q"}, %v: tensor<?x?x2x16xf32> {mixer.name = "v"}) -> (tensor<?x?x2x16xf32>, tensor<?x2x16x16xf32>, tensor<?x?x2x16xf32>) {
  %p, %u = mixer.chunk_ut %q, %q, %q, %v chunk 32 : (tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>) -> (tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>)
  %U, %A = mixer.chunk_ut_states %q, %q, %v, %p, %u chunk 32 : (tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>) -> (tensor<?x?x2x16x16xf32>, tensor<?x?x2x16x16xf32>)
  // expected-error @+1 {{an intermediate chunk value is read outside the chunk form}}
  %S, %F = mixer.chunk_walk %U transition(%A) chunk 32 {mixer.schedule = #mixer.cpu_tile<algorithm = chunked_ut, isa = "x86-64-v4", lanes = 16, k = 16, v_block = 16, reg_block = 1, threads = 2, chunk = 32>} : (tensor<?x?x2x16x16xf32>, tensor<?x?x2x16x16xf32>) -> (tensor<?x?x2x16x16xf32>, tensor<?x2x16x16xf32>)
  %o = mixer.chunk_ut_output %q, %q, %q, %v, %p, %u states(%S) chunk 32 scale 1.000000e+00 : (tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16x16xf32>) -> tensor<?x?x2x16xf32>
  return %o, %F, %p : tensor<?x?x2x16xf32>, tensor<?x2x16x16xf32>, tensor<?x?x2x16xf32>
}
