// RUN: mixer-translate --mixer-to-cuda %s --split-input-file --verify-diagnostics | FileCheck %s
// The CUDA printer on a derived backward (a tensor program around
// mixer.recurrence_grad, its #mixer.cuda_tile schedule from mixer-tile): a
// low-rank recurrence's adjoint as a call of launchDeltaGrad whose template
// arguments are the schedule's and the op's form.

// A gated delta rule (scalar log-decay): the checkpointed reverse sweep every
// grad_checkpoint tokens where the chunked kernels do not take the call; each
// gradient written to its output (gradform's *Out bits).
// CHECK-LABEL: from the mixer function @gdr_backward
// CHECK: launchDeltaGrad<64, 4, 8, DiagKind::scalar, true, 64, gradform::dqOut | gradform::dkOut | gradform::dvOut | gradform::dbOut, 64>(
func.func @gdr_backward(%q: tensor<?x?x2x64xf32> {mixer.name = "q"}, %k: tensor<?x?x2x64xf32> {mixer.name = "k"}, %v: tensor<?x?x2x64xf32> {mixer.name = "v"}, %g: tensor<?x?x2xf32> {mixer.name = "g"}, %a: tensor<?x?x2x64xf32> {mixer.name = "a"}, %b: tensor<?x?x2x64xf32> {mixer.name = "b"}, %init: tensor<?x2x64x64xf32> {mixer.name = "init"}, %do: tensor<?x?x2x64xf32> {mixer.name = "do"}, %df: tensor<?x2x64x64xf32> {mixer.name = "dfinal_state"}) -> (tensor<?x?x2x64xf32> {mixer.name = "dq"}, tensor<?x?x2x64xf32> {mixer.name = "dk"}, tensor<?x?x2x64xf32> {mixer.name = "dv"}, tensor<?x?x2xf32> {mixer.name = "dg"}, tensor<?x?x2x64xf32> {mixer.name = "da"}, tensor<?x?x2x64xf32> {mixer.name = "db"}, tensor<?x2x64x64xf32> {mixer.name = "dinit"}) attributes {mixer.backward_of = @gdr} {
  %0:7 = mixer.recurrence_grad dplr diag scalar forward %q, %k, %v decay(%g) lowrank(%a, %b) init(%init) scale 1.250000e-01 d_o(%do) d_final(%df) {mixer.schedule = #mixer.cuda_tile<algorithm = recurrent, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, grad_checkpoint = 64>} : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>, tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>)
  return %0#0, %0#1, %0#2, %0#3, %0#4, %0#5, %0#6 : tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>
}

// -----

// DeltaNet as its spec writes it (a = -beta k, the key beta k, b = k): the
// scaled low-rank form, the scales' gradients as results, k's and b's summed
// in the chunk kernel (kIsB, dbIntoDk); no decay: no checkpoint.
// CHECK-LABEL: from the mixer function @deltanet_backward
// CHECK: out.daScale = t3;
// CHECK: out.dkScale = t4;
// CHECK: out.dbIntoDk = true;
// CHECK: launchDeltaGrad<64, 4, 8, DiagKind::none, true, 64, gradform::aScaled | gradform::kScaled | gradform::kIsB | gradform::dqOut | gradform::dvOut | gradform::dkOut | gradform::dbIntoDk, 0>(
func.func @deltanet_backward(%q: tensor<?x?x2x64xf32> {mixer.name = "q"}, %k: tensor<?x?x2x64xf32> {mixer.name = "k"}, %v: tensor<?x?x2x64xf32> {mixer.name = "v"}, %s: tensor<?x?x2xf32> {mixer.name = "s"}, %c: tensor<?x?x2xf32> {mixer.name = "beta"}, %do: tensor<?x?x2x64xf32> {mixer.name = "do"}, %df: tensor<?x2x64x64xf32> {mixer.name = "dfinal_state"}) -> (tensor<?x?x2x64xf32> {mixer.name = "dq"}, tensor<?x?x2x64xf32> {mixer.name = "dk"}, tensor<?x?x2x64xf32> {mixer.name = "dv"}, tensor<?x?x2xf32> {mixer.name = "ds"}, tensor<?x?x2xf32> {mixer.name = "dbeta"}) attributes {mixer.backward_of = @deltanet} {
  %0:6 = mixer.recurrence_grad dplr diag none forward %q, %k, %v lowrank(%s * %k) k_scale(%c) scale 1.250000e-01 d_o(%do) d_final(%df) {mixer.schedule = #mixer.cuda_tile<algorithm = recurrent, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32>} : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32>, tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32>)
  %1 = mixer.binary add %0#1, %0#3 : tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32> -> tensor<?x?x2x64xf32>
  return %0#0, %1, %0#2, %0#4, %0#5 : tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32>
}

// -----

// A decay's gradient without a grad_checkpoint (mixer-tile always gives one):
// the printer refuses rather than print the sweeps that would lose it.
func.func @no_checkpoint_backward(%q: tensor<?x?x2x64xf32> {mixer.name = "q"}, %k: tensor<?x?x2x64xf32> {mixer.name = "k"}, %v: tensor<?x?x2x64xf32> {mixer.name = "v"}, %g: tensor<?x?x2xf32> {mixer.name = "g"}, %a: tensor<?x?x2x64xf32> {mixer.name = "a"}, %b: tensor<?x?x2x64xf32> {mixer.name = "b"}, %init: tensor<?x2x64x64xf32> {mixer.name = "init"}, %do: tensor<?x?x2x64xf32> {mixer.name = "do"}, %df: tensor<?x2x64x64xf32> {mixer.name = "dfinal_state"}) -> (tensor<?x?x2x64xf32> {mixer.name = "dq"}, tensor<?x?x2x64xf32> {mixer.name = "dk"}, tensor<?x?x2x64xf32> {mixer.name = "dv"}, tensor<?x?x2xf32> {mixer.name = "dg"}, tensor<?x?x2x64xf32> {mixer.name = "da"}, tensor<?x?x2x64xf32> {mixer.name = "db"}, tensor<?x2x64x64xf32> {mixer.name = "dinit"}) attributes {mixer.backward_of = @gdr} {
  // expected-error @+1 {{a decay's gradient needs the checkpointed reverse sweep}}
  %0:7 = mixer.recurrence_grad dplr diag scalar forward %q, %k, %v decay(%g) lowrank(%a, %b) init(%init) scale 1.250000e-01 d_o(%do) d_final(%df) {mixer.schedule = #mixer.cuda_tile<algorithm = recurrent, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32>} : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>, tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>)
  return %0#0, %0#1, %0#2, %0#3, %0#4, %0#5, %0#6 : tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x2x64x64xf32>
}


// -----

// The SSD form (a scalar log-decay, no low-rank term) at K = V = 64: one
// launchSsdGrad (bf16 calls on the chunked kernels, others on the
// checkpointed sweep) reading q, k, v and do through the call's views and
// writing the gradients used only by an output there.
// CHECK-LABEL: from the mixer function @sgla_backward
// CHECK: p.q = args.in[0];
// CHECK: g.dO = args.in[4];
// CHECK: out.dqTo = args.out[0];
// CHECK: launchSsdGrad<Structure::scalar, 64, 4, 8, true, 64, gradform::dqOut | gradform::dkOut | gradform::dvOut, 64>(
func.func @sgla_backward(%q: tensor<?x?x2x64xf32> {mixer.name = "q"}, %k: tensor<?x?x2x64xf32> {mixer.name = "k"}, %v: tensor<?x?x2x64xf32> {mixer.name = "v"}, %g: tensor<?x?x2xf32> {mixer.name = "g"}, %do: tensor<?x?x2x64xf32> {mixer.name = "do"}) -> (tensor<?x?x2x64xf32> {mixer.name = "dq"}, tensor<?x?x2x64xf32> {mixer.name = "dk"}, tensor<?x?x2x64xf32> {mixer.name = "dv"}, tensor<?x?x2xf32> {mixer.name = "dg"}) attributes {mixer.backward_of = @sgla} {
  %0:4 = mixer.recurrence_grad scalar forward %q, %k, %v decay(%g) scale 1.250000e-01 d_o(%do) {mixer.schedule = #mixer.cuda_tile<algorithm = chunked_ssd, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 132, state_blocks = [128, 64, 32], key_split = 2, grad_checkpoint = 64>} : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>, tensor<?x?x2x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>)
  return %0#0, %0#1, %0#2, %0#3 : tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2xf32>
}

// -----

// GLA (per-key vector log-decays) at K = V = 64: the same launch, its
// Structure::vector (gradform::gla's chunk kernel for bf16 calls); the
// decay's gradient [B, T, H, K].
// CHECK-LABEL: from the mixer function @gla_backward
// CHECK: p.decay = rowView(
// CHECK: launchSsdGrad<Structure::vector, 64, 4, 8, true, 64, gradform::dqOut | gradform::dkOut | gradform::dvOut, 64>(
func.func @gla_backward(%q: tensor<?x?x2x64xf32> {mixer.name = "q"}, %k: tensor<?x?x2x64xf32> {mixer.name = "k"}, %v: tensor<?x?x2x64xf32> {mixer.name = "v"}, %g: tensor<?x?x2x64xf32> {mixer.name = "g"}, %do: tensor<?x?x2x64xf32> {mixer.name = "do"}) -> (tensor<?x?x2x64xf32> {mixer.name = "dq"}, tensor<?x?x2x64xf32> {mixer.name = "dk"}, tensor<?x?x2x64xf32> {mixer.name = "dv"}, tensor<?x?x2x64xf32> {mixer.name = "dg"}) attributes {mixer.backward_of = @gla} {
  %0:4 = mixer.recurrence_grad vector forward %q, %k, %v decay(%g) scale 1.250000e-01 d_o(%do) {mixer.schedule = #mixer.cuda_tile<algorithm = chunked_gla, k = 64, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, chunk = 64, sms = 132, state_blocks = [128, 64, 32], key_split = 2, grad_checkpoint = 64>} : (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>) -> (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>)
  return %0#0, %0#1, %0#2, %0#3 : tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>
}

// -----

// At K = 16 (no chunked tiles) the same op is the checkpointed sweep alone.
// CHECK-LABEL: from the mixer function @small_backward
// CHECK-NOT: launchSsdGrad
// CHECK: launchCheckpointGrad<Structure::scalar, 16, 4, 8, true, false, false, 64>(
func.func @small_backward(%q: tensor<?x?x2x16xf32> {mixer.name = "q"}, %k: tensor<?x?x2x16xf32> {mixer.name = "k"}, %v: tensor<?x?x2x16xf32> {mixer.name = "v"}, %g: tensor<?x?x2xf32> {mixer.name = "g"}, %do: tensor<?x?x2x16xf32> {mixer.name = "do"}) -> (tensor<?x?x2x16xf32> {mixer.name = "dq"}, tensor<?x?x2x16xf32> {mixer.name = "dk"}, tensor<?x?x2x16xf32> {mixer.name = "dv"}, tensor<?x?x2xf32> {mixer.name = "dg"}) attributes {mixer.backward_of = @sgla} {
  %0:4 = mixer.recurrence_grad scalar forward %q, %k, %v decay(%g) scale 1.250000e-01 d_o(%do) {mixer.schedule = #mixer.cuda_tile<algorithm = recurrent, k = 16, v_block = 32, cols_per_warp = 4, warps = 8, stage = 32, grad_checkpoint = 64>} : (tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2xf32>, tensor<?x?x2x16xf32>) -> (tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2xf32>)
  return %0#0, %0#1, %0#2, %0#3 : tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2xf32>
}
