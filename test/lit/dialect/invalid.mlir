// RUN: mixer-opt %s -split-input-file -verify-diagnostics
// One case per verifier diagnostic of the mixer dialect.

// element_types
func.func @element_types(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf16>, %v: tensor<?x?x4x6xf32>) {
  // expected-error @+1 {{operands must share one element type: q has 'f32', another operand has 'f16'}}
  %o:2 = mixer.recurrence identity forward %q, %k, %v : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf16>, tensor<?x?x4x6xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// q_rank
func.func @q_rank(%q: tensor<?x4x8xf32>, %k: tensor<?x4x8xf32>, %v: tensor<?x?x4x6xf32>) {
  // expected-error @+1 {{q expected shape [B, T, H, K], got [?, 4, 8]}}
  %o:2 = mixer.recurrence identity forward %q, %k, %v : (tensor<?x4x8xf32>, tensor<?x4x8xf32>, tensor<?x?x4x6xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// k_shape
func.func @k_shape(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x9xf32>, %v: tensor<?x?x4x6xf32>) {
  // expected-error @+1 {{k expected shape [B, T, H, K] = [?, ?, 4, 8], got [?, ?, 4, 9]}}
  %o:2 = mixer.recurrence identity forward %q, %k, %v : (tensor<?x?x4x8xf32>, tensor<?x?x4x9xf32>, tensor<?x?x4x6xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// v_heads
func.func @v_heads(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x3x6xf32>) {
  // expected-error @+1 {{v expected shape [B, T, H, V] = [?, ?, 4, 6], got [?, ?, 3, 6]}}
  %o:2 = mixer.recurrence identity forward %q, %k, %v : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x3x6xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// identity_decay
func.func @identity_decay(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<?x?x4xf32>) {
  // expected-error @+1 {{operand 'decay' is not allowed with structure identity}}
  %o:2 = mixer.recurrence identity forward %q, %k, %v decay(%g) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// dt_not_elementwise
func.func @dt_not_elementwise(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<?x?x4xf32>) {
  // expected-error @+1 {{operand 'dt' is not allowed with structure scalar}}
  %o:2 = mixer.recurrence scalar forward %q, %k, %v decay(%g) dt(%v) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4xf32>, tensor<?x?x4x6xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// lowrank_not_dplr
func.func @lowrank_not_dplr(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<?x?x4xf32>) {
  // expected-error @+1 {{operand 'a' is not allowed with structure scalar}}
  %o:2 = mixer.recurrence scalar forward %q, %k, %v decay(%g) lowrank(%k, %k) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// scalar_needs_decay
func.func @scalar_needs_decay(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>) {
  // expected-error @+1 {{structure scalar requires operand 'decay'}}
  %o:2 = mixer.recurrence scalar forward %q, %k, %v : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// scalar_decay_shape
func.func @scalar_decay_shape(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<?x?x4x8xf32>) {
  // expected-error @+1 {{decay expected shape [B, T, H] = [?, ?, 4], got [?, ?, 4, 8]}}
  %o:2 = mixer.recurrence scalar forward %q, %k, %v decay(%g) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4x8xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// const_scalar_shape
func.func @const_scalar_shape(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<1x1x3xf32>) {
  // expected-error @+1 {{decay expected shape [1, 1, H] = [1, 1, 4], got [1, 1, 3]}}
  %o:2 = mixer.recurrence const_scalar forward %q, %k, %v decay(%g) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<1x1x3xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// vector_decay_shape
func.func @vector_decay_shape(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<?x?x4xf32>) {
  // expected-error @+1 {{decay expected shape [B, T, H, K] = [?, ?, 4, 8], got [?, ?, 4]}}
  %o:2 = mixer.recurrence vector forward %q, %k, %v decay(%g) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// elementwise_decay_shape
func.func @elementwise_decay_shape(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<1x1x4x6x8xf32>) {
  // expected-error @+1 {{decay expected shape [1, 1, H, K, V] = [1, 1, 4, 8, 6], got [1, 1, 4, 6, 8]}}
  %o:2 = mixer.recurrence elementwise forward %q, %k, %v decay(%g) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<1x1x4x6x8xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// elementwise_dt_shape
func.func @elementwise_dt_shape(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<1x1x4x8x6xf32>) {
  // expected-error @+1 {{dt expected shape [B, T, H, V] = [?, ?, 4, 6], got [?, ?, 4, 8]}}
  %o:2 = mixer.recurrence elementwise forward %q, %k, %v decay(%g) dt(%q) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<1x1x4x8x6xf32>, tensor<?x?x4x8xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// dplr_needs_lowrank
func.func @dplr_needs_lowrank(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>) {
  // expected-error @+1 {{structure dplr requires operand 'b'}}
  %o:2 = mixer.recurrence dplr diag none forward %q, %k, %v : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// dplr_b_shape
func.func @dplr_b_shape(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>) {
  // expected-error @+1 {{b expected shape [B, T, H, K] = [?, ?, 4, 8], got [?, ?, 4, 6]}}
  %o:2 = mixer.recurrence dplr diag none forward %q, %k, %v lowrank(%k, %v) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// dplr_decay_shape
func.func @dplr_decay_shape(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<?x?x4x6xf32>) {
  // expected-error @+1 {{decay expected shape [B, T, H, K] = [?, ?, 4, 8], got [?, ?, 4, 6]}}
  %o:2 = mixer.recurrence dplr diag vector forward %q, %k, %v decay(%g) lowrank(%k, %k) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// bidirectional_init
func.func @bidirectional_init(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %s: tensor<?x4x8x6xf32>) {
  // expected-error @+1 {{an initial state is not allowed with direction bidirectional}}
  %o:2 = mixer.recurrence identity bidirectional %q, %k, %v init(%s) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// bidirectional_bonus
func.func @bidirectional_bonus(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %u: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{a bonus is not allowed with direction bidirectional}}
  %o:2 = mixer.recurrence identity bidirectional %q, %k, %v bonus(%u) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<1x1x4x8xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// normalizer_elementwise
func.func @normalizer_elementwise(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<1x1x4x8x6xf32>) {
  // expected-error @+1 {{a normalizer is not defined for structure elementwise}}
  %o:2 = mixer.recurrence elementwise forward %q, %k, %v decay(%g) normalizer sum : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<1x1x4x8x6xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x7xf32>)
  return
}

// -----

// eps_without_sum
func.func @eps_without_sum(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>) {
  // expected-error @+1 {{eps is only allowed with normalizers sum and max_abs}}
  %o:2 = mixer.recurrence identity forward %q, %k, %v eps 1.0 : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// mlstm_vector
func.func @mlstm_vector(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %w: tensor<?x?x4x8xf32>, %g: tensor<?x?x4xf32>) {
  // expected-error @+1 {{normalizer mlstm needs a scalar transition, got structure vector}}
  %o:3 = mixer.recurrence vector forward %q, %k, %v decay(%w) igate(%g) normalizer mlstm : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x7xf32>, tensor<?x4xf32>)
  return
}

// -----

// mlstm_needs_igate
func.func @mlstm_needs_igate(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<?x?x4xf32>) {
  // expected-error @+1 {{normalizer mlstm requires operand 'igate'}}
  %o:3 = mixer.recurrence scalar forward %q, %k, %v decay(%g) normalizer mlstm : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x7xf32>, tensor<?x4xf32>)
  return
}

// -----

// igate_without_mlstm
func.func @igate_without_mlstm(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<?x?x4xf32>) {
  // expected-error @+1 {{operand 'igate' is only allowed with normalizer mlstm}}
  %o:2 = mixer.recurrence scalar forward %q, %k, %v decay(%g) igate(%g) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// mlstm_needs_final_m
func.func @mlstm_needs_final_m(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<?x?x4xf32>) {
  // expected-error @+1 {{normalizer mlstm requires result 'final_m'}}
  %o:2 = mixer.recurrence scalar forward %q, %k, %v decay(%g) igate(%g) normalizer mlstm : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x7xf32>)
  return
}

// -----

// final_m_without_mlstm
func.func @final_m_without_mlstm(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<?x?x4xf32>) {
  // expected-error @+1 {{result 'final_m' is only allowed with normalizer mlstm}}
  %o:3 = mixer.recurrence scalar forward %q, %k, %v decay(%g) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>, tensor<?x4xf32>)
  return
}

// -----

// init_m_without_mlstm
func.func @init_m_without_mlstm(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<?x?x4xf32>, %s: tensor<?x4x8x6xf32>, %m: tensor<?x4xf32>) {
  // expected-error @+1 {{operand 'init_m' is only allowed with normalizer mlstm}}
  %o:2 = mixer.recurrence scalar forward %q, %k, %v decay(%g) init(%s, %m) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4xf32>, tensor<?x4x8x6xf32>, tensor<?x4xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// igate_shape
func.func @igate_shape(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<?x?x4xf32>) {
  // expected-error @+1 {{igate expected shape [B, T, H] = [?, ?, 4], got [?, ?, 4, 8]}}
  %o:3 = mixer.recurrence scalar forward %q, %k, %v decay(%g) igate(%q) normalizer mlstm : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4xf32>, tensor<?x?x4x8xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x7xf32>, tensor<?x4xf32>)
  return
}

// -----

// bonus_shape
func.func @bonus_shape(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %u: tensor<1x1x4x6xf32>) {
  // expected-error @+1 {{bonus expected shape [1, 1, H, K] = [1, 1, 4, 8], got [1, 1, 4, 6]}}
  %o:2 = mixer.recurrence identity forward %q, %k, %v bonus(%u) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<1x1x4x6xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// skip_shape
func.func @skip_shape(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %d: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{skip_weight expected shape [1, 1, H, V] = [1, 1, 4, 6], got [1, 1, 4, 8]}}
  %o:2 = mixer.recurrence identity forward %q, %k, %v skip(%d, %v) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<1x1x4x8xf32>, tensor<?x?x4x6xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// init_shape_normalized
func.func @init_shape_normalized(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %s: tensor<?x4x8x6xf32>) {
  // expected-error @+1 {{init expected shape [B, H, K, V+1] = [?, 4, 8, 7], got [?, 4, 8, 6]}}
  %o:2 = mixer.recurrence identity forward %q, %k, %v init(%s) normalizer sum : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x7xf32>)
  return
}

// -----

// result_o_shape
func.func @result_o_shape(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>) {
  // expected-error @+1 {{result o expected shape [B, T, H, V] = [?, ?, 4, 6], got [?, ?, 4, 8]}}
  %o:2 = mixer.recurrence identity forward %q, %k, %v : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>) -> (tensor<?x?x4x8xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// result_state_shape
func.func @result_state_shape(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>) {
  // expected-error @+1 {{result final_state expected shape [B, H, K, V] = [?, 4, 8, 6], got [?, 4, 6, 8]}}
  %o:2 = mixer.recurrence identity forward %q, %k, %v : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x6x8xf32>)
  return
}

// -----

// result_element_type
func.func @result_element_type(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>) {
  // expected-error @+1 {{results must have the element type of q ('f32')}}
  %o:2 = mixer.recurrence identity forward %q, %k, %v : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf16>)
  return
}

// -----

// scale_finite
func.func @scale_finite(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>) {
  // expected-error @+1 {{scale must be finite}}
  %o:2 = mixer.recurrence identity forward %q, %k, %v scale 0x7FF0000000000000 : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// map_element_type
func.func @map_element_type(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>) {
  // expected-error @+1 {{result element type 'f16' differs from input element type 'f32'}}
  %r = mixer.map exp %q : tensor<?x?x4x8xf32> -> tensor<?x?x4x8xf16>
  return
}

// -----

// map_l2norm_rank
func.func @map_l2norm_rank(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<?x?x4xf32>) {
  // expected-error @+1 {{l2norm expected a per-token vector [B, T, H, D], got [?, ?, 4]}}
  %r = mixer.map l2norm %g : tensor<?x?x4xf32> -> tensor<?x?x4xf32>
  return
}

// -----

// map_taylor_shape
func.func @map_taylor_shape(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>) {
  // expected-error @+1 {{result expected shape [?, ?, 4, 73], got [?, ?, 4, 64]}}
  %r = mixer.map taylor2 %q : tensor<?x?x4x8xf32> -> tensor<?x?x4x64xf32>
  return
}

// -----

// binary_broadcast
func.func @binary_broadcast(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>) {
  // expected-error @+1 {{shapes [?, ?, 4, 8] and [?, ?, 4, 6] do not broadcast at dimension 3}}
  %r = mixer.binary add %q, %v : tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32> -> tensor<?x?x4x8xf32>
  return
}

// -----

// binary_result
func.func @binary_result(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<?x?x4xf32>) {
  // expected-error @+1 {{result expected shape [?, ?, 4, 8], got [?, ?, 4]}}
  %r = mixer.binary mul %q, %g : tensor<?x?x4x8xf32>, tensor<?x?x4xf32> -> tensor<?x?x4xf32>
  return
}

// -----

// binary_element_types
func.func @binary_element_types(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<?x?x4xf16>) {
  // expected-error @+1 {{operands and result must share one element type}}
  %r = mixer.binary mul %q, %g : tensor<?x?x4x8xf32>, tensor<?x?x4xf16> -> tensor<?x?x4x8xf32>
  return
}

// -----

// constant_rank
func.func @constant_rank(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>) {
  // expected-error @+1 {{value must be dense floating-point elements}}
  %r = "mixer.constant"() {value = dense<1> : tensor<1xi32>} : () -> tensor<1xf32>
  return
}

// -----

// constant_type
func.func @constant_type() {
  // expected-error @+1 {{value type 'tensor<2xf32>' differs from result type 'tensor<f32>'}}
  %r = "mixer.constant"() {value = dense<1.0> : tensor<2xf32>} : () -> tensor<f32>
  return
}

// -----

// head_index_shape
func.func @head_index_shape(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>) {
  // expected-error @+1 {{result expected shape [1, 1, H], got [4]}}
  %r = mixer.head_index : tensor<4xf32>
  return
}


// -----

// normalize_shape
func.func @normalize_shape(%x: tensor<?x?x4x7xf32>) {
  // expected-error @+1 {{result expected shape [B, T, H, V] with V = 6 at dimension 3, got [?, ?, 4, 7]}}
  %r = mixer.normalize %x eps 0.0 scale 1.0 : tensor<?x?x4x7xf32> -> tensor<?x?x4x7xf32>
  return
}

// -----

// flip_per_head: flip_tokens takes per-token tensors only
func.func @flip_per_head(%g: tensor<1x1x2xf32>) -> tensor<1x1x2xf32> {
  // expected-error @+1 {{input expected per-token [B, T, H, ...], got [1, 1, 2]}}
  %f = mixer.flip_tokens %g : tensor<1x1x2xf32>
  return %f : tensor<1x1x2xf32>
}

// -----

// vecmat_rows: W's first feature dimension must be the row's width
func.func @vecmat_rows(%x: tensor<?x?x4x7xf32>, %w: tensor<1x1x4x6x3xf32>) {
  // expected-error @+1 {{vecmat needs a row [.., D] and a matrix [.., D, F], got [?, ?, 4, 7] and [1, 1, 4, 6, 3]}}
  %r = mixer.binary vecmat %x, %w : tensor<?x?x4x7xf32>, tensor<1x1x4x6x3xf32> -> tensor<?x?x4x3xf32>
  return
}

// -----

// vecmat_result: the result has the matrix's last dimension
func.func @vecmat_result(%x: tensor<?x?x4x7xf32>, %w: tensor<1x1x4x7x3xf32>) {
  // expected-error @+1 {{result expected shape [?, ?, 4, 3], got [?, ?, 4, 7]}}
  %r = mixer.binary vecmat %x, %w : tensor<?x?x4x7xf32>, tensor<1x1x4x7x3xf32> -> tensor<?x?x4x7xf32>
  return
}

// -----

// concat_width: the result's last dimension is the sum of the operands'
func.func @concat_width(%x: tensor<?x?x4x7xf32>, %y: tensor<?x?x4x5xf32>) {
  // expected-error @+1 {{result expected shape [?, ?, 4, 12], got [?, ?, 4, 14]}}
  %r = mixer.binary concat %x, %y : tensor<?x?x4x7xf32>, tensor<?x?x4x5xf32> -> tensor<?x?x4x14xf32>
  return
}

// -----

// concat_rank
func.func @concat_rank(%x: tensor<?x?x4x7xf32>, %y: tensor<?x?x4xf32>) {
  // expected-error @+1 {{concat needs two rows of one rank, got [?, ?, 4, 7] and [?, ?, 4]}}
  %r = mixer.binary concat %x, %y : tensor<?x?x4x7xf32>, tensor<?x?x4xf32> -> tensor<?x?x4x8xf32>
  return
}

// -----

// dot_sizes
func.func @dot_sizes(%x: tensor<?x?x4x7xf32>, %y: tensor<?x?x4x6xf32>) {
  // expected-error @+1 {{dot needs two vectors of one feature size, got [?, ?, 4, 7] and [?, ?, 4, 6]}}
  %r = mixer.binary dot %x, %y : tensor<?x?x4x7xf32>, tensor<?x?x4x6xf32> -> tensor<?x?x4xf32>
  return
}

// -----

// append_one_shape
func.func @append_one_shape(%x: tensor<?x?x4x7xf32>) {
  // expected-error @+1 {{result expected shape [?, ?, 4, 8], got [?, ?, 4, 7]}}
  %r = mixer.map append_one %x : tensor<?x?x4x7xf32> -> tensor<?x?x4x7xf32>
  return
}

// -----

// dplr_needs_diag
func.func @dplr_needs_diag(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<?x?x4xf32>) {
  // expected-error @+1 {{structure dplr requires attribute 'diag' (none, scalar or vector)}}
  %o:2 = mixer.recurrence dplr forward %q, %k, %v decay(%g) lowrank(%k, %k) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// diag_none_with_decay
func.func @diag_none_with_decay(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<?x?x4xf32>) {
  // expected-error @+1 {{diag none takes no decay operand}}
  %o:2 = mixer.recurrence dplr diag none forward %q, %k, %v decay(%g) lowrank(%k, %k) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// diag_scalar_shape
func.func @diag_scalar_shape(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<?x?x4x8xf32>) {
  // expected-error @+1 {{decay expected shape [B, T, H] = [?, ?, 4], got [?, ?, 4, 8]}}
  %o:2 = mixer.recurrence dplr diag scalar forward %q, %k, %v decay(%g) lowrank(%k, %k) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// diag_not_dplr
func.func @diag_not_dplr(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<?x?x4xf32>) {
  // expected-error @+1 {{attribute 'diag' is only allowed with structure dplr}}
  %o:2 = mixer.recurrence scalar diag scalar forward %q, %k, %v decay(%g) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// a_scale_shape
func.func @a_scale_shape(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %s: tensor<?x?x4x8xf32>) {
  // expected-error @+1 {{a_scale expected shape [B, T, H] = [?, ?, 4], got [?, ?, 4, 8]}}
  %o:2 = mixer.recurrence dplr diag none forward %q, %k, %v lowrank(%s * %k) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// k_scale_not_dplr
func.func @k_scale_not_dplr(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %s: tensor<?x?x4xf32>) {
  // expected-error @+1 {{operand 'k_scale' is not allowed with structure identity}}
  %o:2 = mixer.recurrence identity forward %q, %k, %v k_scale(%s) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// k_scale_shape
func.func @k_scale_shape(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %s: tensor<?x?x4x6xf32>) {
  // expected-error @+1 {{k_scale expected shape [B, T, H] = [?, ?, 4], got [?, ?, 4, 6]}}
  %o:2 = mixer.recurrence dplr diag none forward %q, %k, %v lowrank(%k, %k) k_scale(%s) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// factor_per_head
func.func @factor_per_head(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<1x1x4xf32>) {
  // expected-error @+1 {{decay_form factor needs a per-token decay, not structure const_scalar}}
  %o:2 = mixer.recurrence const_scalar forward %q, %k, %v decay(%g) decay_form factor : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<1x1x4xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// factor_no_decay
func.func @factor_no_decay(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<?x?x4xf32>) {
  // expected-error @+1 {{decay_form factor needs a decay operand (diag none has none)}}
  %o:2 = mixer.recurrence dplr diag none forward %q, %k, %v decay_form factor lowrank(%k, %k) : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// factor_mlstm
func.func @factor_mlstm(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<?x?x4xf32>) {
  // expected-error @+1 {{normalizer mlstm needs decay_form log (its stabilizer adds log-decays)}}
  %o:3 = mixer.recurrence scalar forward %q, %k, %v decay(%g) decay_form factor igate(%g) normalizer mlstm : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x7xf32>, tensor<?x4xf32>)
  return
}

// -----

// factor_elementwise_rate
func.func @factor_elementwise_rate(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>, %g: tensor<1x1x4x8x6xf32>, %dt: tensor<?x?x4x6xf32>) {
  // expected-error @+1 {{operand 'decay (the factor is dt)' is not allowed with structure elementwise}}
  %o:2 = mixer.recurrence elementwise forward %q, %k, %v decay(%g) dt(%dt) decay_form factor : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>, tensor<1x1x4x8x6xf32>, tensor<?x?x4x6xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// factor_elementwise_dt
func.func @factor_elementwise_dt(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>) {
  // expected-error @+1 {{structure elementwise requires operand 'dt'}}
  %o:2 = mixer.recurrence elementwise forward %q, %k, %v decay_form factor : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x6xf32>)
  return
}

// -----

// max_abs_floor
func.func @max_abs_floor(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x6xf32>) {
  // expected-error @+1 {{normalizer max_abs needs eps > 0 (the floor of |z^T q|), got 0}}
  %o:2 = mixer.recurrence identity forward %q, %k, %v normalizer max_abs : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x6xf32>) -> (tensor<?x?x4x6xf32>, tensor<?x4x8x7xf32>)
  return
}

// -----

// sum_scalar
func.func @sum_scalar(%x: tensor<?x?x4xf32>) {
  // expected-error @+1 {{sum expected a vector [B, T, H, D], got [?, ?, 4]}}
  %r = mixer.map sum %x : tensor<?x?x4xf32> -> tensor<?x?xf32>
  return
}

// -----

// The adjoint ops (mixer-derive-backward builds them; test/lit/passes/derive-backward.mlir).
func.func @grad_no_upstream(%q: tensor<?x?x2x4xf32>, %v: tensor<?x?x2x3xf32>) {
  // expected-error @+1 {{needs an upstream gradient: d_o, d_final or both}}
  %g:3 = mixer.recurrence_grad identity forward %q, %q, %v : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>)
  return
}

// -----

func.func @grad_count(%q: tensor<?x?x2x4xf32>, %v: tensor<?x?x2x3xf32>, %do: tensor<?x?x2x3xf32>) {
  // expected-error @+1 {{expected one gradient per operand of the recurrence (3), got 2}}
  %g:2 = mixer.recurrence_grad identity forward %q, %q, %v d_o(%do) : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x3xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>)
  return
}

// -----

func.func @grad_type(%q: tensor<?x?x2x4xf32>, %v: tensor<?x?x2x3xf32>, %do: tensor<?x?x2x3xf32>) {
  // expected-error @+1 {{gradient #2 must have its operand's type 'tensor<?x?x2x3xf32>', got 'tensor<?x?x2x4xf32>'}}
  %g:3 = mixer.recurrence_grad identity forward %q, %q, %v d_o(%do) : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x3xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>)
  return
}

// -----

// The recurrence's own rules hold for its adjoint, and d_o has o's shape.
func.func @grad_do_shape(%q: tensor<?x?x2x4xf32>, %v: tensor<?x?x2x3xf32>, %do: tensor<?x?x2x4xf32>) {
  // expected-error @+1 {{d_o expected shape [B, T, H, V] = [?, ?, 2, 3], got [?, ?, 2, 4]}}
  %g:3 = mixer.recurrence_grad identity forward %q, %q, %v d_o(%do) : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>)
  return
}

// -----

func.func @binary_vjp_operand(%a: tensor<?x?x2xf32>, %g: tensor<?x?x2xf32>) {
  // expected-error @+1 {{operand must be 0 (lhs) or 1 (rhs), got 2}}
  %d = mixer.binary_vjp mul 2 %a, %a, %g : tensor<?x?x2xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  return
}

// -----

func.func @binary_vjp_type(%a: tensor<?x?x2xf32>, %p: tensor<1x1x2xf32>, %g: tensor<?x?x2xf32>) {
  // expected-error @+1 {{the gradient must have the operand's type 'tensor<1x1x2xf32>', got 'tensor<?x?x2xf32>'}}
  %d = mixer.binary_vjp mul 1 %a, %p, %g : tensor<?x?x2xf32>, tensor<1x1x2xf32>, tensor<?x?x2xf32> -> tensor<?x?x2xf32>
  return
}

// -----

func.func @normalize_vjp_columns(%x: tensor<?x?x2x4xf32>, %g: tensor<?x?x2x4xf32>) {
  // expected-error @+1 {{the upstream gradient must have one value column less than the input, got [?, ?, 2, 4] for [?, ?, 2, 4]}}
  %d = mixer.normalize_vjp %x, %g eps 5.000000e-01 scale 1.000000e+00 : tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32> -> tensor<?x?x2x4xf32>
  return
}

// -----

// The chunk-level ops (mixer-lower-chunks builds them; test/lit/passes/lower-chunks.mlir).
func.func @chunk_zero(%g: tensor<?x?x2xf32>, %q: tensor<?x?x2x8xf32>) {
  // expected-error @+1 {{chunk must be positive, got 0}}
  %c = mixer.chunk_cumsum %g over %q chunk 0 : tensor<?x?x2xf32>, tensor<?x?x2x8xf32> -> tensor<?x?x2xf32>
  return
}

// -----

func.func @chunk_scores_width(%q: tensor<?x?x2x8xf32>) {
  // expected-error @+1 {{result expected [B, T, H, chunk], got [?, ?, 2, 32]}}
  %a = mixer.chunk_scores %q, %q chunk 64 : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>) -> tensor<?x?x2x32xf32>
  return
}

// -----

func.func @chunk_walk_init(%u: tensor<?x?x2x8x4xf32>, %s0: tensor<?x2x8x5xf32>) {
  // expected-error @+1 {{init expected [B, H, K, V], got [?, 2, 8, 5]}}
  %s, %f = mixer.chunk_walk %u init(%s0) chunk 64 : (tensor<?x?x2x8x4xf32>, tensor<?x2x8x5xf32>) -> (tensor<?x?x2x8x4xf32>, tensor<?x2x8x4xf32>)
  return
}

// -----

func.func @chunk_output_states(%q: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %a: tensor<?x?x2x64xf32>, %s: tensor<?x2x8x4xf32>) {
  // expected-error @+1 {{states expected [B, NC, H, K, V], got [?, 2, 8, 4]}}
  %o = mixer.chunk_output %q, %v scores(%a) states(%s) chunk 64 scale 1.000000e+00 : (tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x64xf32>, tensor<?x2x8x4xf32>) -> tensor<?x?x2x4xf32>
  return
}

// -----

func.func @chunk_walk_both(%u: tensor<?x?x2x8x4xf32>, %g: tensor<?x?x2xf32>, %a: tensor<?x?x2x8x8xf32>) {
  // expected-error @+1 {{takes a decay or a transition, not both}}
  %s, %f = mixer.chunk_walk %u decay(%g) transition(%a) chunk 64 : (tensor<?x?x2x8x4xf32>, tensor<?x?x2xf32>, tensor<?x?x2x8x8xf32>) -> (tensor<?x?x2x8x4xf32>, tensor<?x2x8x4xf32>)
  return
}

// -----

func.func @chunk_ut_decay_keys(%k: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>, %g: tensor<?x?x2x5xf32>) {
  // expected-error @+1 {{decay expected [B, T, H, K], got [?, ?, 2, 5]}}
  %p, %u = mixer.chunk_ut %k, %k, %k, %v decay(%g) chunk 64 : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x5xf32>) -> (tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>)
  return
}

// -----

// A reverse walk reads chunk ops of the same direction, and has no dense
// transition (the UT form is forward).
func.func @chunk_walk_mixed_direction(%k: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x4xf32>) {
  %u = mixer.chunk_local_states %k, %v chunk 64 : (tensor<?x?x2x8xf32>, tensor<?x?x2x4xf32>) -> tensor<?x?x2x8x4xf32>
  // expected-error @+1 {{is reverse but reads the forward mixer.chunk_local_states}}
  %s, %f = mixer.chunk_walk %u chunk 64 reverse : (tensor<?x?x2x8x4xf32>) -> (tensor<?x?x2x8x4xf32>, tensor<?x2x8x4xf32>)
  return
}

// -----

func.func @chunk_walk_reverse_transition(%u: tensor<?x?x2x8x4xf32>, %a: tensor<?x?x2x8x8xf32>) {
  // expected-error @+1 {{reverse walks take a scalar or per-key decay only}}
  %s, %f = mixer.chunk_walk %u transition(%a) chunk 64 reverse : (tensor<?x?x2x8x4xf32>, tensor<?x?x2x8x8xf32>) -> (tensor<?x?x2x8x4xf32>, tensor<?x2x8x4xf32>)
  return
}

// -----

func.func @chunk_walk_rate(%u: tensor<?x?x2x8x4xf32>, %r: tensor<f32>) {
  // expected-error @+1 {{an elementwise rate needs the cumulative dt (decay)}}
  %s, %f = mixer.chunk_walk %u rate(%r) chunk 64 : (tensor<?x?x2x8x4xf32>, tensor<f32>) -> (tensor<?x?x2x8x4xf32>, tensor<?x2x8x4xf32>)
  return
}

// -----

func.func @decayed_b_scalar(%q: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4xf32>, %s: tensor<?x?x4xf32>) {
  // expected-error @+1 {{decayed_b needs structure dplr with a vector diagonal of log-decays}}
  %o, %st = mixer.recurrence dplr diag scalar forward %q, %q, %v decay(%g) lowrank(%s * %q) decayed_b : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>)
  return
}

// -----

// The adjoint's decayed_b (KDA's form kept for the CUDA chunked backward), likewise.
func.func @decayed_b_grad_scalar(%q: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4xf32>, %s: tensor<?x?x4xf32>, %do: tensor<?x?x4x64xf32>) {
  // expected-error @+1 {{decayed_b needs structure dplr with a vector diagonal of log-decays}}
  %r:6 = mixer.recurrence_grad dplr diag scalar forward %q, %q, %v decay(%g) lowrank(%s * %q) decayed_b d_o(%do) : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4x64xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>)
  return
}

// -----

// The fused row norms need the scaled form with k = b (here no k_scale).
func.func @l2norm_unscaled(%q: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4xf32>, %s: tensor<?x?x4xf32>) {
  // expected-error @+1 {{l2norm_q needs structure dplr in the scaled low-rank form with k = b (a vector diagonal with decayed_b)}}
  %o, %st = mixer.recurrence dplr diag scalar forward %q, %q, %v decay(%g) lowrank(%s * %q) l2norm_q : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>)
  return
}

// -----

// ... and a vector diagonal only in KDA's decayed_b form.
func.func @l2norm_vector(%q: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4x64xf32>, %s: tensor<?x?x4xf32>) {
  // expected-error @+1 {{l2norm_b needs structure dplr in the scaled low-rank form with k = b (a vector diagonal with decayed_b)}}
  %o, %st = mixer.recurrence dplr diag vector forward %q, %q, %v decay(%g) lowrank(%s * %q) l2norm_b k_scale(%s) : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>)
  return
}

// -----

// The adjoint's fused row norms, likewise (here k is not b).
func.func @l2norm_grad_key_not_b(%q: tensor<?x?x4x64xf32>, %k: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>, %g: tensor<?x?x4xf32>, %s: tensor<?x?x4xf32>, %do: tensor<?x?x4x64xf32>) {
  // expected-error @+1 {{l2norm_q needs structure dplr in the scaled low-rank form with k = b (a vector diagonal with decayed_b)}}
  %r:7 = mixer.recurrence_grad dplr diag scalar forward %q, %k, %v decay(%g) lowrank(%s * %q) l2norm_q k_scale(%s) d_o(%do) : (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x?x4x64xf32>) -> (tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>)
  return
}

// -----

// The token and state ops of mixer-lower-adjoint.
func.func @shift_by_two(%g: tensor<?x?x4xf32>) {
  // expected-error @+1 {{by must be 1 or -1, got 2}}
  %0 = mixer.shift_tokens %g by 2 : tensor<?x?x4xf32> -> tensor<?x?x4xf32>
  return
}

// -----

func.func @shift_no_broadcast(%g: tensor<1x1x3xf32>) {
  // expected-error @+1 {{input [1, 1, 3] does not broadcast to the result [?, ?, 4]}}
  %0 = mixer.shift_tokens %g by 1 : tensor<1x1x3xf32> -> tensor<?x?x4xf32>
  return
}

// -----

func.func @cumsum_init(%x: tensor<?x?x4x8xf32>, %i: tensor<?x4xf32>) {
  // expected-error @+1 {{init expected the input without its time dimension, got [?, 4] for input [?, ?, 4, 8]}}
  %0 = mixer.token_cumsum %x init(%i) reverse : (tensor<?x?x4x8xf32>, tensor<?x4xf32>) -> tensor<?x?x4x8xf32>
  return
}

// -----

func.func @edge_rank(%x: tensor<?x?x4x8xf32>) {
  // expected-error @+1 {{input [?, ?, 4, 8] does not broadcast to [B, T, H, ...] of the result [?, 8]}}
  %0 = mixer.edge_token %x : tensor<?x?x4x8xf32> -> tensor<?x8xf32>
  return
}

// -----

func.func @transpose_shape(%s: tensor<?x4x8x6xf32>) {
  // expected-error @+1 {{expected [B, H, K, V] -> [B, H, V, K], got [?, 4, 8, 6] -> [?, 4, 8, 6]}}
  %0 = mixer.transpose_state %s : tensor<?x4x8x6xf32> -> tensor<?x4x8x6xf32>
  return
}

// -----

func.func @sum_to_grows(%x: tensor<?x?x4xf32>) {
  // expected-error @+1 {{result [?, ?, 4, 8] does not broadcast to the input [?, ?, 4]}}
  %0 = mixer.sum_to %x : tensor<?x?x4xf32> -> tensor<?x?x4x8xf32>
  return
}

// -----

func.func @repeat_heads_count(%q: tensor<?x?x2x8xf32>) {
  // expected-error @+1 {{the result [?, ?, 6, 8] must be the input [?, ?, 2, 8] with 2 times the heads}}
  %0 = mixer.repeat_heads %q group 2 : tensor<?x?x2x8xf32> -> tensor<?x?x6x8xf32>
  return
}

// -----

func.func @repeat_heads_group(%q: tensor<?x?x2x8xf32>) {
  // expected-error @+1 {{group must be positive, got 0}}
  %0 = mixer.repeat_heads %q group 0 : tensor<?x?x2x8xf32> -> tensor<?x?x2x8xf32>
  return
}

// -----

func.func @sum_heads_width(%x: tensor<?x?x4x8xf32>) {
  // expected-error @+1 {{the input [?, ?, 4, 8] must be the result [?, ?, 2, 4] with 2 times the heads}}
  %0 = mixer.sum_heads %x group 2 : tensor<?x?x4x8xf32> -> tensor<?x?x2x4xf32>
  return
}

// -----

func.func @route_gather_rank(%x: tensor<?x?x2x8xf32>, %r: tensor<?x?xi64>) {
  // expected-error @+1 {{route must be [B, T, k] (memory indices), got rank 2}}
  %0 = mixer.route_gather %x by %r memories 4 : (tensor<?x?x2x8xf32>, tensor<?x?xi64>) -> tensor<?x?x2x8xf32>
  return
}

// -----

func.func @route_gather_top(%x: tensor<?x?x2x8xf32>, %r: tensor<?x?x5xi64>) {
  // expected-error @+1 {{route chooses 5 memories per token, of 4}}
  %0 = mixer.route_gather %x by %r memories 4 : (tensor<?x?x2x8xf32>, tensor<?x?x5xi64>) -> tensor<?x?x2x8xf32>
  return
}

// -----

func.func @route_gather_rows(%x: tensor<?x?x2x8xf32>, %r: tensor<?x?x2xi64>) {
  // expected-error @+1 {{the result's rows must have the input's shape past [B, T]}}
  %0 = mixer.route_gather %x by %r memories 4 : (tensor<?x?x2x8xf32>, tensor<?x?x2xi64>) -> tensor<?x?x2x4xf32>
  return
}

// -----

func.func @route_scatter_weight(%y: tensor<?x?x2x8xf32>, %r: tensor<?x?x2xi64>, %w: tensor<?x?x3xf32>) {
  // expected-error @+1 {{weight must be [B, T, k] like route}}
  %0 = mixer.route_scatter %y by %r weights %w memories 4 : (tensor<?x?x2x8xf32>, tensor<?x?x2xi64>, tensor<?x?x3xf32>) -> tensor<?x?x2x8xf32>
  return
}

// -----

func.func @route_slots_rank(%x: tensor<?x?x2x8xf32>) {
  // expected-error @+1 {{dimension 3 of the [B, T, k, ...] side differs from dimension 2 of the other}}
  %0 = mixer.route_slots %x : tensor<?x?x2x8xf32> -> tensor<?x?x4xf32>
  return
}

// -----

func.func @memory_states_count(%s: tensor<?x3x2x8x8xf32>) {
  // expected-error @+1 {{the per-memory side has 3 memories, expected 4}}
  %0 = mixer.memory_states %s memories 4 : tensor<?x3x2x8x8xf32> -> tensor<?x2x8x8xf32>
  return
}

// -----

func.func @route_gather_weighted_slots(%x: tensor<?x?x2x8xf32>, %r: tensor<?x?x2xi64>, %w: tensor<?x?x2xf32>) {
  // expected-error @+1 {{weights scale token rows (not slots) and must be [B, T, k] like route}}
  %0 = mixer.route_gather %x by %r weights %w memories 4 slots : (tensor<?x?x2x8xf32>, tensor<?x?x2xi64>, tensor<?x?x2xf32>) -> tensor<?x?x2x8xf32>
  return
}

// -----

func.func @route_weight_grad_shape(%y: tensor<?x?x2x8xf32>, %g: tensor<?x?x2x8xf32>, %r: tensor<?x?x2xi64>) {
  // expected-error @+1 {{the result must be [B, T, k] like route}}
  %0 = mixer.route_weight_grad %y, %g by %r memories 4 : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2xi64>) -> tensor<?x?x3xf32>
  return
}
