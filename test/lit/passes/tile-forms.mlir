// RUN: mixer-opt %s --mixer-chunk --mixer-tile --split-input-file | FileCheck %s --check-prefix=CPU
// RUN: mixer-opt %s --mixer-chunk --mixer-tile="cores=16 schedule=chunked fallback=true" --split-input-file | FileCheck %s --check-prefix=SCAN
// RUN: mixer-opt %s --mixer-chunk --mixer-tile="target=cuda" --split-input-file | FileCheck %s --check-prefix=CUDA
// RUN: mixer-opt %s --mixer-chunk --mixer-tile="target=cuda schedule=recurrent" --split-input-file | FileCheck %s --check-prefix=CUDA-REC
// mixer-tile turns the canonical forms a target's kernel cannot read back
// into rows and logs, so that the tiled IR says what the kernel reads.

// The scaled low-rank form: the CPU kernels and CUDA's recurrent one read
// whole rows (a = a_scale b, the key k_scale k); CUDA's chunked UT kernel
// reads b's rows and the two scales.
// CPU-LABEL: func.func @delta
// CPU: %[[A:.*]] = mixer.binary mul %[[K:.*]], %[[S:.*]] : tensor<?x?x4x64xf32>, tensor<?x?x4xf32> -> tensor<?x?x4x64xf32>
// CPU: %[[BK:.*]] = mixer.binary mul %[[K]], %[[C:.*]] : tensor<?x?x4x64xf32>, tensor<?x?x4xf32> -> tensor<?x?x4x64xf32>
// CPU: mixer.recurrence dplr diag scalar forward %{{.*}}, %[[BK]], %{{.*}} decay(%{{.*}}) lowrank(%[[A]], %[[K]]) {
// CUDA-LABEL: func.func @delta
// CUDA-NOT: mixer.binary
// CUDA: lowrank(%{{.*}} * %{{.*}}) k_scale(%{{.*}}) {{{.*}}mixer.schedule = #mixer.cuda_tile<algorithm = chunked_ut
// CUDA-REC-LABEL: func.func @delta
// CUDA-REC: mixer.binary mul
// CUDA-REC: mixer.binary mul
// CUDA-REC: lowrank(%{{.*}}, %{{.*}}) {{{.*}}mixer.schedule = #mixer.cuda_tile<algorithm = recurrent
func.func @delta(%q: tensor<?x?x4x64xf32>, %k: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4xf32>, %s: tensor<?x?x4xf32>, %c: tensor<?x?x4xf32>) -> tensor<?x?x4x64xf32> {
  %o, %st = mixer.recurrence dplr diag scalar forward %q, %k, %v decay(%g) lowrank(%s * %k) k_scale(%c) : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>)
  return %o : tensor<?x?x4x64xf32>
}

// -----

// An elementwise factor decay (S <- f . S): the CPU sweep multiplies by f,
// the chunked scan sums log-decays (rate 1, dt = log f), and so does CUDA's
// elementwise kernel.
// CPU-LABEL: func.func @hgrn
// CPU: mixer.recurrence elementwise forward %{{.*}}, %{{.*}}, %{{.*}} dt(%{{.*}}) decay_form factor {{{.*}}algorithm = recurrent
// SCAN-LABEL: func.func @hgrn
// SCAN: %[[L:.*]] = mixer.map log %{{.*}} : tensor<?x?x1x64xf32>
// SCAN: %[[ONE:.*]] = mixer.constant dense<1.000000e+00> : tensor<f32>
// SCAN: mixer.recurrence elementwise forward %{{.*}}, %{{.*}}, %{{.*}} decay(%[[ONE]]) dt(%[[L]]) {{{.*}}algorithm = chunked_scan
// CUDA-LABEL: func.func @hgrn
// CUDA: %[[L:.*]] = mixer.map log
// CUDA: mixer.recurrence elementwise forward %{{.*}}, %{{.*}}, %{{.*}} decay(%{{.*}}) dt(%[[L]]) {
func.func @hgrn(%q: tensor<?x?x1x1xf32>, %v: tensor<?x?x1x64xf32>, %f: tensor<?x?x1x64xf32>) -> tensor<?x?x1x64xf32> {
  %s = mixer.map sigmoid %f : tensor<?x?x1x64xf32> -> tensor<?x?x1x64xf32>
  %o, %st = mixer.recurrence elementwise forward %q, %q, %v dt(%s) decay_form factor : (tensor<?x?x1x1xf32>, tensor<?x?x1x1xf32>, tensor<?x?x1x64xf32>, tensor<?x?x1x64xf32>) -> (tensor<?x?x1x64xf32>, tensor<?x1x1x64xf32>)
  return %o : tensor<?x?x1x64xf32>
}
