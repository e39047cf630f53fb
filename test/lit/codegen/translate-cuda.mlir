// RUN: mixer-translate --mixer-to-cuda %s --split-input-file --verify-diagnostics | FileCheck %s
// The CUDA printer from .mlir input.

// The scaled low-rank form under the chunked UT schedule: one per-token
// kernel writes the two scales, the scan reads b's rows for k and a.
// CHECK-LABEL: from the mixer function @delta
// CHECK: A.tmp[0].set(b, t, h, 0, A.in[3].at(b, t, h, 0));
// CHECK-NEXT: A.tmp[1].set(b, t, h, 0, ([](float x) { return -x; })(A.in[3].at(b, t, h, 0)));
// The walk's tiling from the schedule's rules, the batch left to run time:
// 2 heads x one 64-column block per batch row (64 columns in 128- or
// 64-column blocks: as many CTAs, so the narrower is never printed).
// CHECK: StatePass statePass0(int64_t B, {{\[\[}}maybe_unused{{\]\]}} int64_t T) {
// CHECK-NEXT: StatePass pass;
// CHECK-NEXT: if (chunk::hasWgmma() && B * 2 < 132) pass.wgmma = true;
// CHECK-NEXT: else if (B * 2 >= 132) pass.vBlock = 128;
// CHECK-NEXT: else pass.vBlock = 32, pass.keySplit = 2;
// CHECK-NEXT: return pass;
// CHECK: p.k = args.in[1];
// CHECK: p.a = args.in[1];
// CHECK-NEXT: p.b = args.in[1];
// CHECK-NEXT: p.kScale = args.tmp[0];
// CHECK-NEXT: p.aScale = args.tmp[1];
// CHECK: if (chunked) {
// CHECK-NEXT: const StatePass pass = statePass0(p.B, p.T);
// CHECK-NEXT: launchChunkedDelta<64, false, true, true>(p, pass, scratch, stream)
func.func @delta(%q: tensor<?x?x2x64xf32> {mixer.name = "q"}, %k: tensor<?x?x2x64xf32> {mixer.name = "k"}, %v: tensor<?x?x2x64xf32> {mixer.name = "v"}, %beta: tensor<?x?x2xf32> {mixer.name = "beta"}) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>) {
  %nb = mixer.map neg %beta : tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  %o, %s = mixer.recurrence dplr diag none forward %q, %k, %v lowrank(%nb * %k) k_scale(%beta) {mixer.schedule = #mixer.cuda_tile<algorithm = chunked_ut, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 132, state_blocks = [128, 64, 32], key_split = 2, wgmma_walk = true>} : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>)
  return %o, %s : tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>
}

// -----

// The wgmma walk asked of a vector diagonal (RWKV-7's form): no such kernel.
func.func @vector_wgmma(%q: tensor<?x?x2x64xf32> {mixer.name = "q"}, %v: tensor<?x?x2x64xf32> {mixer.name = "v"}) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>) {
  // expected-error @+1 {{the wgmma walk is the scalar-diagonal delta rules' (no vector diagonal)}}
  %o, %s = mixer.recurrence dplr diag vector forward %q, %q, %v decay(%q) lowrank(%q, %q) {mixer.schedule = #mixer.cuda_tile<algorithm = chunked_ut, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 8, chunk = 64, sms = 132, state_blocks = [128, 64, 32], key_split = 2, wgmma_walk = true>} : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>)
  return %o, %s : tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>
}

// -----

// A vector diagonal's scaled low rank without decayed_b: no kernel reads that form.
func.func @vector_scaled(%q: tensor<?x?x2x64xf32> {mixer.name = "q"}, %k: tensor<?x?x2x64xf32> {mixer.name = "k"}, %v: tensor<?x?x2x64xf32> {mixer.name = "v"}, %g: tensor<?x?x2x64xf32> {mixer.name = "g"}, %beta: tensor<?x?x2xf32> {mixer.name = "beta"}) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>) {
  // expected-error @+1 {{the CUDA kernels take a vector diagonal's scaled low-rank form with decayed_b (mixer-tile writes both or neither)}}
  %o, %s = mixer.recurrence dplr diag vector forward %q, %k, %v decay(%g) lowrank(%beta * %k) k_scale(%beta) {mixer.schedule = #mixer.cuda_tile<algorithm = chunked_ut, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 8, chunk = 64, sms = 132, state_blocks = [128, 64, 32], key_split = 2>} : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>)
  return %o, %s : tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>
}

// -----

// The recurrent kernel reads whole rows: mixer-tile expands the form first.
func.func @delta_recurrent(%q: tensor<?x?x2x64xf32> {mixer.name = "q"}, %k: tensor<?x?x2x64xf32> {mixer.name = "k"}, %v: tensor<?x?x2x64xf32> {mixer.name = "v"}, %beta: tensor<?x?x2xf32> {mixer.name = "beta"}) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>) {
  // expected-error @+1 {{this CUDA kernel reads whole rows of a and k: expand the scaled low-rank form in mixer-tile first}}
  %o, %s = mixer.recurrence dplr diag none forward %q, %k, %v lowrank(%beta * %k) k_scale(%beta) {mixer.schedule = #mixer.cuda_tile<algorithm = recurrent, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32>} : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>)
  return %o, %s : tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>
}

// -----

// CUDA's elementwise scan takes log-decays.
func.func @hgrn(%q: tensor<?x?x2x1xf32> {mixer.name = "q"}, %v: tensor<?x?x2x64xf32> {mixer.name = "v"}, %f: tensor<?x?x2x64xf32> {mixer.name = "f"}) -> (tensor<?x?x2x64xf32>, tensor<?x2x1x64xf32>) {
  // expected-error @+1 {{the CUDA elementwise scan takes log-decays: mixer-tile turns a factor into its log}}
  %o, %s = mixer.recurrence elementwise forward %q, %q, %v dt(%f) decay_form factor {mixer.schedule = #mixer.cuda_tile<algorithm = recurrent, k = 1, v_block = 64, cols_per_warp = 32, warps = 2, stage = 32>} : (tensor<?x?x2x1xf32>, tensor<?x?x2x1xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x1x64xf32>)
  return %o, %s : tensor<?x?x2x64xf32>, tensor<?x2x1x64xf32>
}

// -----

// A function whose recurrence has no CUDA schedule.
func.func @untiled(%q: tensor<?x?x2x64xf32> {mixer.name = "q"}, %v: tensor<?x?x2x64xf32> {mixer.name = "v"}) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>) {
  // expected-error @+1 {{has no #mixer.cuda_tile schedule: run mixer-tile{target=cuda} first}}
  %o, %s = mixer.recurrence identity forward %q, %q, %v : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>)
  return %o, %s : tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>
}

// -----

// A scale that is not pointwise (Longhorn's 1 / (1 + k^T k)): a warp per
// token, the dot product reduced across its lanes, one lane writing.
// CHECK-LABEL: from the mixer function @longhorn_like
// CHECK: for (int j = lane; j < 64; j += 32) r0 += (tokenAt<Bf16>(A.in[1], b, t, h, j)) * (tokenAt<Bf16>(A.in[1], b, t, h, j));
// CHECK-NEXT: const float s0 = warpSum(r0);
// CHECK: if (lane == 0) A.tmp[0].set(b, t, h, 0, s{{[0-9]+}});
// CHECK: launchChunkedDelta<64, false, true, true>(p, pass, scratch, stream)
func.func @longhorn_like(%q: tensor<?x?x2x64xf32> {mixer.name = "q"}, %k: tensor<?x?x2x64xf32> {mixer.name = "k"}, %v: tensor<?x?x2x64xf32> {mixer.name = "v"}) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>) {
  %one = mixer.constant dense<1.0> : tensor<f32>
  %kk = mixer.binary dot %k, %k : tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32> -> tensor<?x?x2xf32>
  %den = mixer.binary add %kk, %one : tensor<?x?x2xf32>, tensor<f32> -> tensor<?x?x2xf32>
  %eps = mixer.binary div %one, %den : tensor<f32>, tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  %neps = mixer.map neg %eps : tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  %o, %s = mixer.recurrence dplr diag none forward %q, %k, %v lowrank(%neps * %k) k_scale(%eps) {mixer.schedule = #mixer.cuda_tile<algorithm = chunked_ut, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 132, state_blocks = [128, 64, 32], key_split = 2, wgmma_walk = true>} : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>)
  return %o, %s : tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>
}

// -----

// A skip that mixer-split-skip has not split off.
func.func @unsplit(%q: tensor<?x?x2x64xf32> {mixer.name = "q"}, %v: tensor<?x?x2x64xf32> {mixer.name = "v"}, %d: tensor<1x1x2x64xf32> {mixer.name = "D"}) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>) {
  // expected-error @+1 {{the CUDA target expects the split form}}
  %o, %s = mixer.recurrence identity forward %q, %q, %v skip(%d, %v) {mixer.schedule = #mixer.cuda_tile<algorithm = recurrent, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32>} : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<1x1x2x64xf32>, tensor<?x?x2x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>)
  return %o, %s : tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>
}

// -----

// decay_in_loads where the decay is an input already: nothing to evaluate in the loads.
func.func @decay_input_in_loads(%q: tensor<?x?x2x64xf32> {mixer.name = "q"}, %v: tensor<?x?x2x64xf32> {mixer.name = "v"}, %g: tensor<?x?x2x64xf32> {mixer.name = "g"}) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>) {
  // expected-error @+1 {{decay_in_loads: the decay is not a pointwise chain of one input, per-head parameters and constants}}
  %o, %s = mixer.recurrence vector forward %q, %q, %v decay(%g) {mixer.schedule = #mixer.cuda_tile<algorithm = recurrent, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, decay_in_loads = true>} : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>)
  return %o, %s : tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>
}

// -----

// scalars_in_loads on other than a delta rule: only the dplr kernels take a TokenScalars functor.
func.func @scalars_in_loads_not_dplr(%q: tensor<?x?x2x64xf32> {mixer.name = "q"}, %v: tensor<?x?x2x64xf32> {mixer.name = "v"}, %g: tensor<?x?x2xf32> {mixer.name = "g"}) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>) {
  %d = mixer.map neg %g : tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  // expected-error @+1 {{scalars_in_loads: the kernels take it for the delta rules' (dplr) scans only}}
  %o, %s = mixer.recurrence scalar forward %q, %q, %v decay(%d) {mixer.schedule = #mixer.cuda_tile<algorithm = recurrent, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, scalars_in_loads = true>} : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>)
  return %o, %s : tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>
}

// -----

// A scale from five per-token inputs: more than ScanParams' four slots.
func.func @scalars_in_loads_too_many(%q: tensor<?x?x2x64xf32> {mixer.name = "q"}, %k: tensor<?x?x2x64xf32> {mixer.name = "k"}, %v: tensor<?x?x2x64xf32> {mixer.name = "v"}, %b1: tensor<?x?x2xf32> {mixer.name = "b1"}, %b2: tensor<?x?x2xf32> {mixer.name = "b2"}, %b3: tensor<?x?x2xf32> {mixer.name = "b3"}, %b4: tensor<?x?x2xf32> {mixer.name = "b4"}, %b5: tensor<?x?x2xf32> {mixer.name = "b5"}) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>) {
  %s1 = mixer.binary add %b1, %b2 : tensor<?x?x2xf32>, tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  %s2 = mixer.binary add %s1, %b3 : tensor<?x?x2xf32>, tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  %s3 = mixer.binary add %s2, %b4 : tensor<?x?x2xf32>, tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  %beta = mixer.binary add %s3, %b5 : tensor<?x?x2xf32>, tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  %nb = mixer.map neg %beta : tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  // expected-error @+1 {{scalars_in_loads: a per-token decay or scale is not a pointwise chain of per-token inputs, per-head parameters and constants (at most 4 and 4)}}
  %o, %s = mixer.recurrence dplr diag none forward %q, %k, %v lowrank(%nb * %k) k_scale(%beta) {mixer.schedule = #mixer.cuda_tile<algorithm = chunked_ut, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 132, state_blocks = [128, 64, 32], key_split = 2, scalars_in_loads = true>} : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>)
  return %o, %s : tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>
}
