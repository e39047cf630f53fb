// The adjoint ops: what mixer-derive-backward builds (docs/dialect.md, "The
// backward"). Included by MixerOps.td.
#ifndef MIXER_ADJOINT_OPS_TD
#define MIXER_ADJOINT_OPS_TD


def Mixer_RecurrenceGradOp : Mixer_Op<"recurrence_grad", [Pure, AttrSizedOperandSegments]> {
  let summary = "the adjoint of a mixer.recurrence: one gradient per operand";
  let description = [{
    Takes the operands and attributes of a `mixer.recurrence` and the upstream
    gradients of its results, `d_o` (o's) and `d_final` (the final state's;
    either may be absent, meaning zero), and returns the gradient of
    L = <d_o, o> + <d_final, final state> with respect to each operand present,
    in operand order (q, k, v, decay, dt, a, b, a_scale, k_scale, igate, bonus,
    skip weight and input, init, init_m), each of its operand's type: an
    operand that broadcasts (a per-head decay) gets the sum over what it
    broadcast over. No gradient flows from mLSTM's final stabilizer.

    Its semantics is the adjoint recurrence: the state's gradient runs in the
    opposite direction, dS_{t-1} = A_t^T dS_t + (the readout's terms), with the
    transposed transition (a diagonal stays diagonal; diagonal plus low rank
    stays so with a and b swapped), and the operands' gradients are
    contractions of the forward states with dS. The reference interprets it
    directly; mixer-lower-adjoint rewrites the diagonal ones into
    forward-shaped recurrences; what stays is printed by the targets: the CPU's
    checkpointed reverse sweep, and for the low-rank transitions CUDA's three
    sweeps (forward, reverse, forward; no state stored) or its chunked kernels.
    `decayed_b` as on `mixer.recurrence` (KDA's b^T Diag(exp(g_t)) S_{t-1}):
    derived on CUDA from a forward in that form, so that the chunked kernels
    read k's rows and the per-token scales instead of b . exp(g), a and the
    key as whole tensors; the decay's gradient then includes b's factor.
    `l2norm_q`, `l2norm_b` as on `mixer.recurrence` (the scaled form with
    k = b): the op reads q_t / ||q_t|| and b_t / ||b_t||, and its gradients
    of q and of b (and of k, which is b's value) are those of the operands
    themselves, the l2norm's vector-Jacobian product (g - y (y . g)) / ||x||
    included: derived on CUDA from a forward in that form, so that no pass
    writes normalized copies of q and k or their gradients.
  }];
  let arguments = (ins
    Mixer_StructureAttr:$structure,
    Mixer_DirectionAttr:$direction,
    Mixer_FloatTensor:$q, Mixer_FloatTensor:$k, Mixer_FloatTensor:$v,
    Optional<Mixer_FloatTensor>:$decay,
    Optional<Mixer_FloatTensor>:$dt,
    Optional<Mixer_FloatTensor>:$a,
    Optional<Mixer_FloatTensor>:$b,
    Optional<Mixer_FloatTensor>:$a_scale,
    Optional<Mixer_FloatTensor>:$k_scale,
    Optional<Mixer_FloatTensor>:$igate,
    Optional<Mixer_FloatTensor>:$bonus,
    Optional<Mixer_FloatTensor>:$skip_weight,
    Optional<Mixer_FloatTensor>:$skip_input,
    Optional<Mixer_FloatTensor>:$init,
    Optional<Mixer_FloatTensor>:$init_m,
    Optional<Mixer_FloatTensor>:$d_o,
    Optional<Mixer_FloatTensor>:$d_final,
    OptionalAttr<Mixer_DiagKindAttr>:$diag,
    OptionalAttr<Mixer_DecayFormAttr>:$decay_form,
    OptionalAttr<Mixer_NormalizerAttr>:$normalizer,
    OptionalAttr<F64Attr>:$eps,
    OptionalAttr<F64Attr>:$scale,
    UnitAttr:$decayed_b,
    UnitAttr:$l2norm_q,
    UnitAttr:$l2norm_b);
  let results = (outs Variadic<Mixer_FloatTensor>:$grads);
  let assemblyFormat = [{
    $structure (`diag` $diag^)? $direction $q `,` $k `,` $v
      (`decay` `(` $decay^ `)`)?
      (`dt` `(` $dt^ `)`)?
      (`decay_form` $decay_form^)?
      (custom<LowRank>($a, $a_scale, $b)^)?
      (`decayed_b` $decayed_b^)?
      (`l2norm_q` $l2norm_q^)?
      (`l2norm_b` $l2norm_b^)?
      (`k_scale` `(` $k_scale^ `)`)?
      (`igate` `(` $igate^ `)`)?
      (`bonus` `(` $bonus^ `)`)?
      (`skip` `(` $skip_weight^ `,` $skip_input `)`)?
      (`init` `(` $init^ (`,` $init_m^)? `)`)?
      (`normalizer` $normalizer^)?
      (`eps` $eps^)?
      (`scale` $scale^)?
      (`d_o` `(` $d_o^ `)`)?
      (`d_final` `(` $d_final^ `)`)?
      attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    DiagKind getDiagKind() { return getDiag().value_or(DiagKind::none); }
    bool hasFactorDecay() { return getDecayForm().value_or(DecayForm::log) == DecayForm::factor; }
    Normalizer getNormalizerKind() { return getNormalizer().value_or(Normalizer::none); }
    double getScaleValue() { return getScale() ? getScale()->convertToDouble() : 1.0; }
    double getEpsValue() { return getEps() ? getEps()->convertToDouble() : 0.0; }
    ::mlir::Value getFinalM() { return {}; }
    bool isScaledWithKeyB() {
      return getAScale() && getKScale() && getK() == getB() &&
             (getDiagKind() != DiagKind::vector || getDecayedB());
    }
    /// The recurrence's operands present, in order: one gradient each.
    ::llvm::SmallVector<::mlir::Value> getPrimalOperands() {
      ::llvm::SmallVector<::mlir::Value> out;
      for (::mlir::Value x : {getQ(), getK(), getV(), getDecay(), getDt(), getA(), getB(), getAScale(), getKScale(),
                      getIgate(), getBonus(), getSkipWeight(), getSkipInput(), getInit(), getInitM()})
        if (x) out.push_back(x);
      return out;
    }
  }];
}

def Mixer_MapVjpOp : Mixer_Op<"map_vjp", [Pure, AllTypesMatch<["result", "grad"]>,
                                            AllTypesMatch<["input", "input_grad"]>]> {
  let summary = "the gradient through a mixer.map: d input from d result";
  let description = [{
    For y = `mixer.map fn x`: the gradient of x given the gradient g of y,
    g . dy/dx pointwise (sigmoid: g y (1 - y), ...), or the row's
    vector-Jacobian product for the maps over the feature dimension (l2norm,
    taylor2, sum, append_one; `ones` passes none). Takes the map's input and
    result (most derivatives read one of them).
  }];
  let arguments = (ins Mixer_UnaryFnAttr:$fn, Mixer_FloatTensor:$input, Mixer_FloatTensor:$result,
                       Mixer_FloatTensor:$grad);
  let results = (outs Mixer_FloatTensor:$input_grad);
  let assemblyFormat = "$fn $input `,` $result `,` $grad attr-dict `:` type($input) `->` type($result)";
}

def Mixer_BinaryVjpOp : Mixer_Op<"binary_vjp", [Pure]> {
  let summary = "the gradient through a mixer.binary of one operand (lhs or rhs)";
  let description = [{
    For out = `mixer.binary fn lhs, rhs`: the gradient of the operand `operand`
    (0: lhs, 1: rhs) given the gradient g of out, summed over what that
    operand broadcast over (a per-head parameter gets the sum over batch and
    time), so that the result has the operand's type.
  }];
  let arguments = (ins Mixer_BinaryFnAttr:$fn, I64Attr:$operand, Mixer_FloatTensor:$lhs, Mixer_FloatTensor:$rhs,
                       Mixer_FloatTensor:$grad);
  let results = (outs Mixer_FloatTensor:$operand_grad);
  let assemblyFormat = "$fn $operand $lhs `,` $rhs `,` $grad attr-dict `:` type($lhs) `,` type($rhs) `,` type($grad) `->` type($operand_grad)";
  let hasVerifier = 1;
}

def Mixer_NormalizeVjpOp : Mixer_Op<"normalize_vjp", [Pure]> {
  let summary = "the gradient through a mixer.normalize: d input from d result";
  let arguments = (ins Mixer_FloatTensor:$input, Mixer_FloatTensor:$grad, UnitAttr:$max_abs, F64Attr:$eps,
                       F64Attr:$scale);
  let results = (outs Mixer_FloatTensor:$input_grad);
  let assemblyFormat = "$input `,` $grad (`max_abs` $max_abs^)? `eps` $eps `scale` $scale attr-dict `:` type($input) `,` type($grad) `->` type($input_grad)";
  let hasVerifier = 1;
}

def Mixer_ZerosLikeOp : Mixer_Op<"zeros_like", [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "zeros of x's type: the gradient of an input the loss does not reach";
  let arguments = (ins Mixer_FloatTensor:$input);
  let results = (outs Mixer_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

// ---- token and state ops of the adjoint as forward-shaped scans -------------
// mixer-lower-adjoint writes a diagonal recurrence's adjoint as three
// mixer.recurrence ops and these (docs/dialect.md, "The adjoint as scans").
// Packed sequences (cu_seqlens, a run-time input of the kernels) make every
// "within a sequence" below stop at each sequence's end.

def Mixer_ShiftTokensOp : Mixer_Op<"shift_tokens", [Pure]> {
  let summary = "y_t = x_{t + by} within each sequence, zero past its end";
  let description = [{
    A per-token tensor moved by one token along time (`by` is 1 or -1): the
    value a scan reads at the token it processes next. The input may be a
    per-head value that broadcasts (left-aligned) to the per-token result, so
    that a constant decay becomes a per-token one with a zero at each
    sequence's edge.
  }];
  let arguments = (ins Mixer_FloatTensor:$input, I64Attr:$by);
  let results = (outs Mixer_FloatTensor:$result);
  let assemblyFormat = "$input `by` $by attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Mixer_FlipTokensOp : Mixer_Op<"flip_tokens", [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "y_t = x_{T - 1 - t} within each sequence: the tokens in reverse order";
  let description = [{
    A reverse scan is the forward scan of its tokens flipped, the output
    flipped back (mixer-flip-reverse-scans): so a target whose chunked
    kernels run forward only chunks the adjoint's reverse scans too.
  }];
  let arguments = (ins Mixer_FloatTensor:$input);
  let results = (outs Mixer_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def Mixer_TokenCumsumOp : Mixer_Op<"token_cumsum", [Pure]> {
  let summary = "cumulative sum over the tokens of each sequence, from init";
  let description = [{
    y_t = init + sum of x_s for s <= t (`reverse`: s >= t) within the
    sequence; `init` [B, H, ...] (x without its time dimension) is optional.
  }];
  let arguments = (ins Mixer_FloatTensor:$input, Optional<Mixer_FloatTensor>:$init, UnitAttr:$reverse);
  let results = (outs Mixer_FloatTensor:$result);
  let assemblyFormat = "$input (`init` `(` $init^ `)`)? (`reverse` $reverse^)? attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Mixer_EdgeTokenOp : Mixer_Op<"edge_token", [Pure]> {
  let summary = "the first (or `last`) token of each sequence: [B, T, H, ...] -> [B, H, ...]";
  let description = [{
    The input may be a per-head value that broadcasts over batch and time.
  }];
  let arguments = (ins Mixer_FloatTensor:$input, UnitAttr:$last);
  let results = (outs Mixer_FloatTensor:$result);
  let assemblyFormat = "$input (`last` $last^)? attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Mixer_TransposeStateOp : Mixer_Op<"transpose_state", [Pure]> {
  let summary = "a state's transpose: [B, H, K, V] -> [B, H, V, K]";
  let arguments = (ins Mixer_FloatTensor:$input);
  let results = (outs Mixer_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Mixer_SumToOp : Mixer_Op<"sum_to", [Pure]> {
  let summary = "the sum over the dimensions that the result broadcasts over";
  let description = [{
    The reverse of left-aligned broadcasting: dimensions of size 1 and
    missing trailing ones in the result are summed ([B, T, H, K] -> [B, T, H];
    per-token -> per-head [1, 1, H]).
  }];
  let arguments = (ins Mixer_FloatTensor:$input);
  let results = (outs Mixer_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

#endif
