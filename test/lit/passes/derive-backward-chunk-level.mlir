// RUN: not mixer-opt %s --mixer-chunk --mixer-lower-chunks --mixer-derive-backward 2>&1 | FileCheck %s
// A gradient never stops silently at an op without an adjoint: the chunk
// level is derived from its recurrence, before mixer-lower-chunks (the CPU
// backward pipeline lowers the adjoint's scans after deriving).
// CHECK: error: 'mixer.chunk_output' op mixer-derive-backward has no adjoint for this op: derive the backward before mixer-lower-chunks
// CHECK-NOT: error:
func.func @f(%q: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %g: tensor<?x?x2xf32>, %s0: tensor<?x2x8x4xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>) {
  %o, %s = mixer.recurrence scalar forward %q, %q, %v decay(%g) init(%s0) : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2xf32>, tensor<?x2x8x4xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return %o, %s : tensor<?x?x2x4xf32>, tensor<?x2x8x4xf32>
}
