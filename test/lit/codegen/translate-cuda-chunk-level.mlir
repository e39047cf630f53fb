// RUN: mixer-translate --mixer-to-cuda %s --split-input-file --verify-diagnostics | FileCheck %s
// The CUDA printer prints the SSD and GLA forms' kernels from the chunk-level
// ops that mixer-lower-chunks writes. GLA: a prepare kernel of one device call
// per op that does not read the state, then the walk (chunk_output,
// chunk_local_states, chunk_walk) tiled by the walk's #mixer.cuda_tile. SSD:
// every op in the walk's kernel. Both: the recurrent sweep for the calls the
// chunked kernels refuse.

// The decays' chain (logsigmoid / 16) is the prepare kernel's and the
// sweep's decay map (decay_in_loads): no row kernel writes the decays.
// CHECK-LABEL: from the mixer function @gla
// CHECK-NOT: rows0
// CHECK: struct DecayMap0 {
// The walk's tiling from the schedule (2 heads: the sequence split at few pairs).
// CHECK: StatePass statePass0(int64_t B, {{\[\[}}maybe_unused{{\]\]}} int64_t T) {
// CHECK: pass.segChunks = (chunks + segs - 1) / segs;
// CHECK: __global__ void __launch_bounds__(256, 2) chunkPrepare0(const ScanParams call, const DeltaChunks d) {
// CHECK-NEXT: MIXC_DYNAMIC_SHARED(smem);
// CHECK-NEXT: GlaChunk<64> x(call, smem);
// CHECK-NEXT: if (!x.live()) return;
// CHECK-NEXT: glaLoadChunk(x);
// CHECK-NEXT: glaChunkCumsum<true, DecayMap0>(x, d); // mixer.chunk_cumsum
// CHECK-NEXT: glaChunkDecayedRows(x, d); // the rows mixer.chunk_output and chunk_local_states read
// CHECK-NEXT: glaChunkScores(x, d); // mixer.chunk_scores
// CHECK-NEXT: }
// CHECK: // chunk level, the GLA form: K = 64, state columns = 64, chunks of 64
// CHECK: p.q = args.in[0];
// CHECK-NEXT: p.k = args.in[1];
// CHECK-NEXT: p.v = args.in[2];
// CHECK-NEXT: p.decay = args.in[3];
// CHECK: p.init = stateView(inputs[4]);
// CHECK-NEXT: p.o = args.out[0];
// CHECK-NEXT: p.state = stateView(outputs[1]);
// CHECK: p.scale = 1.250000e-01f;
// CHECK: const bool chunked = p.T >= 16 && chunkedApplies(p, true);
// The state updated in place (decoding's call) is read from a copy by the chunked kernels.
// CHECK-NEXT: if (p.init.p && p.init.p == p.state.p && chunked) {
// CHECK: if (chunked) {
// CHECK-NEXT: const StatePass pass = statePass0(p.B, p.T);
// CHECK-NEXT: DeltaChunks d;
// CHECK-NEXT: launchGlaPrepareKernel<64>(chunkPrepare0, p, d, scratch, stream)
// CHECK: launchWalk<64, false, true, true>(p, d, pass, scratch, stream)
// CHECK: } else
// CHECK-NEXT: scanRecurrent<Structure::vector, 64, 4, 8, 32, DiagKind::none, false, false, false, true, DecayMap0><<<grid, 256, 0, stream>>>(p);
func.func @gla(%q: tensor<?x?x2x64xf32> {mixer.name = "q"}, %k: tensor<?x?x2x64xf32> {mixer.name = "k"}, %v: tensor<?x?x2x64xf32> {mixer.name = "v"}, %g: tensor<?x?x2x64xf32> {mixer.name = "g"}, %init: tensor<?x2x64x64xf32> {mixer.name = "init"}) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>) {
  %c = mixer.constant dense<1.600000e+01> : tensor<f32>
  %l = mixer.map logsigmoid %g : tensor<?x?x2x64xf32> -> tensor<?x?x2x64xf32>
  %d = mixer.binary div %l, %c : tensor<?x?x2x64xf32>, tensor<f32> -> tensor<?x?x2x64xf32>
  %G = mixer.chunk_cumsum %d over %q chunk 64 : tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32> -> tensor<?x?x2x64xf32>
  %A = mixer.chunk_scores %q, %k decay(%G) chunk 64 : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>) -> tensor<?x?x2x64xf32>
  %U = mixer.chunk_local_states %k, %v decay(%G) chunk 64 : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>) -> tensor<?x?x2x64x64xf32>
  %S, %F = mixer.chunk_walk %U decay(%G) init(%init) chunk 64 {mixer.schedule = #mixer.cuda_tile<algorithm = chunked_gla, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 132, state_blocks = [128, 64, 32], key_split = 2, seq_split = 8, decay_in_loads = true>} : (tensor<?x?x2x64x64xf32>, tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>) -> (tensor<?x?x2x64x64xf32>, tensor<?x2x64x64xf32>)
  %o = mixer.chunk_output %q, %v decay(%G) scores(%A) states(%S) chunk 64 scale 1.250000e-01 : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64x64xf32>) -> tensor<?x?x2x64xf32>
  return %o, %F : tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>
}

// -----

// Without decay_in_loads a row kernel writes the log-decays (here the log
// that mixer-lower-chunks takes of a factor) and the kernels read them.
// CHECK-LABEL: from the mixer function @factor
// CHECK: rows0
// CHECK: glaChunkCumsum<true, NoMap>(x, d);
// CHECK: p.decay = args.tmp[0];
// CHECK: scanRecurrent<Structure::vector, 64, 4, 8, 32, DiagKind::none, false, false, false, true, NoMap>
func.func @factor(%q: tensor<?x?x2x64xf32> {mixer.name = "q"}, %k: tensor<?x?x2x64xf32> {mixer.name = "k"}, %v: tensor<?x?x2x64xf32> {mixer.name = "v"}, %g: tensor<?x?x2x64xf32> {mixer.name = "g"}) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>) {
  %s = mixer.map sigmoid %g : tensor<?x?x2x64xf32> -> tensor<?x?x2x64xf32>
  %d = mixer.map log %s : tensor<?x?x2x64xf32> -> tensor<?x?x2x64xf32>
  %G = mixer.chunk_cumsum %d over %q chunk 64 : tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32> -> tensor<?x?x2x64xf32>
  %A = mixer.chunk_scores %q, %k decay(%G) chunk 64 : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>) -> tensor<?x?x2x64xf32>
  %U = mixer.chunk_local_states %k, %v decay(%G) chunk 64 : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>) -> tensor<?x?x2x64x64xf32>
  %S, %F = mixer.chunk_walk %U decay(%G) chunk 64 {mixer.schedule = #mixer.cuda_tile<algorithm = chunked_gla, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 132, state_blocks = [128, 64, 32], key_split = 2, seq_split = 8>} : (tensor<?x?x2x64x64xf32>, tensor<?x?x2x64xf32>) -> (tensor<?x?x2x64x64xf32>, tensor<?x2x64x64xf32>)
  %o = mixer.chunk_output %q, %v decay(%G) scores(%A) states(%S) chunk 64 scale 1.250000e-01 : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64x64xf32>) -> tensor<?x?x2x64xf32>
  return %o, %F : tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>
}

// -----

// The SSD form (RetNet: a constant log-decay per head, computed once per head
// by a row kernel): every op in the walk's kernel, which the printer launches
// with the decay's kind; the recurrent sweep reads the same scalar.
// CHECK-LABEL: from the mixer function @retnet
// CHECK: heads0
// CHECK: // chunk level, the SSD form: K = 64, state columns = 64, chunks of 64
// CHECK: p.decay = args.tmp[0];
// CHECK: const bool chunked = p.T >= 16 && chunkedApplies(p, false);
// CHECK: // mixer.chunk_cumsum, chunk_scores, chunk_local_states, chunk_walk, chunk_output: one kernel
// CHECK-NEXT: launchWalk<64, true, true, false>(p, DeltaChunks{}, pass, scratch, stream)
// CHECK: scanRecurrent<Structure::scalar, 64, 4, 8, 32, DiagKind::none, false, false, false, true, NoMap>
func.func @retnet(%q: tensor<?x?x2x64xf32> {mixer.name = "q"}, %k: tensor<?x?x2x64xf32> {mixer.name = "k"}, %v: tensor<?x?x2x64xf32> {mixer.name = "v"}) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>) {
  %h = mixer.head_index : tensor<1x1x2xf32>
  %c = mixer.constant dense<-5.000000e+00> : tensor<f32>
  %e = mixer.binary sub %c, %h : tensor<f32>, tensor<1x1x2xf32> -> tensor<1x1x2xf32>
  %two = mixer.constant dense<2.000000e+00> : tensor<f32>
  %p = mixer.binary pow %two, %e : tensor<f32>, tensor<1x1x2xf32> -> tensor<1x1x2xf32>
  %one = mixer.constant dense<1.000000e+00> : tensor<f32>
  %g = mixer.binary sub %one, %p : tensor<f32>, tensor<1x1x2xf32> -> tensor<1x1x2xf32>
  %d = mixer.map log %g : tensor<1x1x2xf32> -> tensor<1x1x2xf32>
  %G = mixer.chunk_cumsum %d over %q chunk 64 : tensor<1x1x2xf32>, tensor<?x?x2x64xf32> -> tensor<?x?x2xf32>
  %A = mixer.chunk_scores %q, %k decay(%G) chunk 64 : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>) -> tensor<?x?x2x64xf32>
  %U = mixer.chunk_local_states %k, %v decay(%G) chunk 64 : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>) -> tensor<?x?x2x64x64xf32>
  %S, %F = mixer.chunk_walk %U decay(%G) chunk 64 {mixer.schedule = #mixer.cuda_tile<algorithm = chunked_ssd, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 132, state_blocks = [128, 64, 32], key_split = 2, seq_split = 8>} : (tensor<?x?x2x64x64xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x64x64xf32>, tensor<?x2x64x64xf32>)
  %o = mixer.chunk_output %q, %v decay(%G) scores(%A) states(%S) chunk 64 scale 1.250000e-01 : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64x64xf32>) -> tensor<?x?x2x64xf32>
  return %o, %F : tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>
}

// -----

// Linear attention at K = 256: no decay (no chunk_cumsum), the SSD form's
// widest kernel (scanChunked, value blocks of 32).
// CHECK-LABEL: from the mixer function @linear256
// CHECK: launchChunked<256, ChunkDecay::none, true>(p, pass, scratch, stream)
// CHECK: scanRecurrent<Structure::identity, 256,
func.func @linear256(%q: tensor<?x?x1x256xf32> {mixer.name = "q"}, %k: tensor<?x?x1x256xf32> {mixer.name = "k"}, %v: tensor<?x?x1x64xf32> {mixer.name = "v"}) -> (tensor<?x?x1x64xf32>, tensor<?x1x256x64xf32>) {
  %A = mixer.chunk_scores %q, %k chunk 64 : (tensor<?x?x1x256xf32>, tensor<?x?x1x256xf32>) -> tensor<?x?x1x64xf32>
  %U = mixer.chunk_local_states %k, %v chunk 64 : (tensor<?x?x1x256xf32>, tensor<?x?x1x64xf32>) -> tensor<?x?x1x256x64xf32>
  %S, %F = mixer.chunk_walk %U chunk 64 {mixer.schedule = #mixer.cuda_tile<algorithm = chunked_ssd, k = 256, v_block = 32, cols_per_warp = 4, warps = 8, stage = 16, chunk = 64, sms = 132, state_blocks = [32]>} : (tensor<?x?x1x256x64xf32>) -> (tensor<?x?x1x256x64xf32>, tensor<?x1x256x64xf32>)
  %o = mixer.chunk_output %q, %v scores(%A) states(%S) chunk 64 scale 6.250000e-02 : (tensor<?x?x1x256xf32>, tensor<?x?x1x64xf32>, tensor<?x?x1x64xf32>, tensor<?x?x1x256x64xf32>) -> tensor<?x?x1x64xf32>
  return %o, %F : tensor<?x?x1x64xf32>, tensor<?x1x256x64xf32>
}

// -----

// The scores read elsewhere than by the output: the printed kernels keep
// them in shared memory only, so the group is refused.
func.func @escaping(%q: tensor<?x?x2x64xf32> {mixer.name = "q"}, %k: tensor<?x?x2x64xf32> {mixer.name = "k"}, %v: tensor<?x?x2x64xf32> {mixer.name = "v"}, %d: tensor<?x?x2x64xf32> {mixer.name = "d"}) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>, tensor<?x?x2x64xf32>) {
  %G = mixer.chunk_cumsum %d over %q chunk 64 : tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32> -> tensor<?x?x2x64xf32>
  %A = mixer.chunk_scores %q, %k decay(%G) chunk 64 : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>) -> tensor<?x?x2x64xf32>
  %U = mixer.chunk_local_states %k, %v decay(%G) chunk 64 : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>) -> tensor<?x?x2x64x64xf32>
  // expected-error @+1 {{an intermediate chunk value is read outside the chunk form}}
  %S, %F = mixer.chunk_walk %U decay(%G) chunk 64 {mixer.schedule = #mixer.cuda_tile<algorithm = chunked_gla, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 132, state_blocks = [128, 64, 32], key_split = 2, seq_split = 8>} : (tensor<?x?x2x64x64xf32>, tensor<?x?x2x64xf32>) -> (tensor<?x?x2x64x64xf32>, tensor<?x2x64x64xf32>)
  %o = mixer.chunk_output %q, %v decay(%G) scores(%A) states(%S) chunk 64 scale 1.250000e-01 : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64x64xf32>) -> tensor<?x?x2x64xf32>
  return %o, %F, %A : tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>, tensor<?x?x2x64xf32>
}
