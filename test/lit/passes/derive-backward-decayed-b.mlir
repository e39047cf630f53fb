// RUN: mixer-opt %s --mixer-derive-backward --verify-diagnostics
// decayed_b exists only after mixer-tile{target=cuda}: the adjoint is derived
// from the plain form, before tiling, and refuses the tiled one.
func.func @kda_tiled(%q: tensor<?x?x4x64xf32>, %k: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4x64xf32>, %s: tensor<?x?x4xf32>, %c: tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>) {
  // expected-error @+1 {{decayed_b: derive the backward before mixer-tile{target=cuda}}}
  %o, %st = mixer.recurrence dplr diag vector forward %q, %k, %v decay(%g) lowrank(%s * %k) decayed_b k_scale(%c) : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>)
  return %o, %st : tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>
}
