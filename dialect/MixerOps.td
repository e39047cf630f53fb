#ifndef MIXER_OPS_TD
#define MIXER_OPS_TD

include "dialect/MixerDialect.td"
include "dialect/MixerAttrs.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/BuiltinAttributes.td"
include "mlir/IR/OpBase.td"

class Mixer_Op<string mnemonic, list<Trait> traits = []> :
    Op<Mixer_Dialect, mnemonic, traits>;

def Mixer_FloatTensor : RankedTensorOf<[F16, BF16, F32, F64]>;

def Mixer_RecurrenceOp : Mixer_Op<"recurrence", [Pure, AttrSizedOperandSegments]> {
  let summary = "the unified linear recurrence S_t = A_t S_{t-1} + k_t v_t^T, o_t = scale S_t^T q_t";
  let description = [{
    Shapes use one layout: per-token tensors are [B, T, H, D] (per-token scalars
    [B, T, H]); per-head parameters are [1, 1, H, ...] so that they broadcast
    against per-token tensors; states are [B, H, K, V'] where V' = V + 1 when a
    normalizer is present (its state z is column V).

    The transition A_t by `structure` (`decay_form` log, the default):
      identity      A = I                          (no decay operand)
      const_scalar  A = exp(decay_h) I             decay [1, 1, H]
      scalar        A = exp(decay_t) I             decay [B, T, H]
      vector        A = Diag(exp(decay_t))         decay [B, T, H, K]
      elementwise   S <- exp(decay_h * dt_t) . S   decay [1, 1, H, K, V], dt [B, T, H, V] (optional)
      dplr          A = Diag(exp(decay)) + a b^T   a, b [B, T, H, K]; `diag` states the decay:
                                                   none (absent), scalar [B, T, H], vector [B, T, H, K]
    `decay_form factor` (scalar, vector, dplr, elementwise): the operand is the
    diagonal itself, not its log: A = decay_t I, Diag(decay_t), Diag(decay) + a b^T;
    elementwise S <- dt_t . S with no decay operand. A factor may be negative
    or zero; the canonical form of a decay written as exp(log x) or x.

    Scaled low rank (dplr): `lowrank(%s * %b)` is a = s b with a per-token
    scalar s [B, T, H] (delta rules: a = -beta k, or -alpha beta k gated), and
    `k_scale(%c)` writes the key c k (c [B, T, H]) wherever k appears. The
    canonical form of such products, so that a kernel reads b's rows once and
    applies the scalars itself.

    `decayed_b` (dplr with a vector diagonal of log-decays): the low-rank term
    reads the decayed state, A = (I + a b^T) Diag(exp(decay)), i.e. the plain
    form's b is Diag(exp(decay_t)) b_t (KDA: S = (I - beta k k^T) Diag(e^g) S
    + beta k v^T with b = k). mixer-tile{target=cuda} writes it, with the
    scaled form, for the chunked kernels that read k's rows once; nothing
    else produces it, and `expandScaledLowRank` turns it back.

    `l2norm_q`, `l2norm_b` (dplr in the scaled form, k = b; a vector diagonal
    with `decayed_b`): the recurrence reads q_t / ||q_t|| and b_t / ||b_t|| in
    place of the operands q and b (||x|| = sqrt(x^T x + 1e-12), the `l2norm`
    map), and so a = a_scale b_t / ||b_t||, k = k_scale b_t / ||b_t||: the
    delta rules' normalization of q and k done by the kernels as they read the
    rows, instead of a pass that writes normalized copies. mixer-tile{target=cuda}
    writes them; `expandRowNorms` turns them back.

    Optional parts: `init` (initial state), `bonus` u [1, 1, H, K] (RWKV-6:
    o_t reads S_{t-1} + (u . k_t) v_t^T), `skip` D [1, 1, H, V] with x [B, T, H, V]
    (o_t += D . x_t), `normalizer`, `direction`, `scale`; mLSTM also takes the
    log input gate `igate` [B, T, H] and the stabilizer `init_m` [B, H].

    Results: o [B, T, H, V], the final state, and for mLSTM the final stabilizer.
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
    OptionalAttr<Mixer_DiagKindAttr>:$diag,
    OptionalAttr<Mixer_DecayFormAttr>:$decay_form,
    OptionalAttr<Mixer_NormalizerAttr>:$normalizer,
    OptionalAttr<F64Attr>:$eps,
    OptionalAttr<F64Attr>:$scale,
    UnitAttr:$decayed_b,
    UnitAttr:$l2norm_q,
    UnitAttr:$l2norm_b);
  let results = (outs Mixer_FloatTensor:$o, Mixer_FloatTensor:$final_state,
                      Optional<Mixer_FloatTensor>:$final_m);
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
      attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
  let extraClassDeclaration = [{
    /// The DPLR diagonal, `none` when the attribute is absent.
    DiagKind getDiagKind() { return getDiag().value_or(DiagKind::none); }
    /// Whether the decay is a vector per key channel (structure vector, or dplr
    /// with a vector diagonal): the kernels pair tokens per channel.
    bool hasKeyDecay() { return getStructure() == Structure::vector || getDiagKind() == DiagKind::vector; }
    /// Whether the decay operand (elementwise: dt) is the diagonal itself.
    bool hasFactorDecay() { return getDecayForm().value_or(DecayForm::log) == DecayForm::factor; }
    /// The normalizer, `none` when the attribute is absent.
    Normalizer getNormalizerKind() {
      return getNormalizer().value_or(Normalizer::none);
    }
    double getScaleValue() { return getScale() ? getScale()->convertToDouble() : 1.0; }
    double getEpsValue() { return getEps() ? getEps()->convertToDouble() : 0.0; }
    /// Whether the op is in the split form the kernels take: one direction,
    /// no skip, and no normalizer that mixer-normalizer-to-column turns into a
    /// ones column (sum, max_abs; mLSTM's stays on the op).
    /// Whether the low rank is in the scaled form the chunked UT kernels read:
    /// a = a_scale b and the key k_scale b (k = b), a vector diagonal only as
    /// KDA's decayed_b.
    bool isScaledWithKeyB() {
      return getAScale() && getKScale() && getK() == getB() &&
             (getDiagKind() != DiagKind::vector || getDecayedB());
    }
    /// Whether the op carries a form only mixer-tile{target=cuda} writes
    /// (decayed_b, l2norm_q, l2norm_b): what the CUDA kernels read.
    bool hasCudaKernelForm() { return getDecayedB() || getL2normQ() || getL2normB(); }
    bool isSplitForm() {
      Normalizer n = getNormalizerKind();
      return getDirection() != Direction::bidirectional && n != Normalizer::sum && n != Normalizer::max_abs &&
             !getSkipWeight();
    }
  }];
}

def Mixer_MapOp : Mixer_Op<"map", [Pure]> {
  let summary = "per-token pointwise function (or a feature-dimension map such as l2norm)";
  let arguments = (ins Mixer_UnaryFnAttr:$fn, Mixer_FloatTensor:$input);
  let results = (outs Mixer_FloatTensor:$result);
  let assemblyFormat = "$fn $input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Mixer_NormalizeOp : Mixer_Op<"normalize", [Pure]> {
  let summary = "o = scale * x[..., :V] / (x[..., V] + eps): the sum normalizer as a last value column";
  let description = [{
    With `max_abs`: o = scale * x[..., :V] / max(|x[..., V]|, eps), the max_abs
    normalizer's readout.
  }];
  let arguments = (ins Mixer_FloatTensor:$input, UnitAttr:$max_abs, F64Attr:$eps, F64Attr:$scale);
  let results = (outs Mixer_FloatTensor:$result);
  let assemblyFormat = "$input (`max_abs` $max_abs^)? `eps` $eps `scale` $scale attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Mixer_BinaryOp : Mixer_Op<"binary", [Pure]> {
  let summary = "pointwise binary function with left-aligned broadcasting";
  let description = [{
    Shapes are aligned from the left (batch, time, head first) so that a
    per-token scalar [B, T, H] broadcasts against a per-token vector
    [B, T, H, D] and a per-head parameter [1, 1, H] against both. A dimension of
    size 1 (or a missing trailing one) broadcasts.
  }];
  let arguments = (ins Mixer_BinaryFnAttr:$fn, Mixer_FloatTensor:$lhs, Mixer_FloatTensor:$rhs);
  let results = (outs Mixer_FloatTensor:$result);
  let assemblyFormat = "$fn $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Mixer_ConstantOp : Mixer_Op<"constant", [Pure, ConstantLike]> {
  let summary = "a constant tensor (a scalar, or a per-head parameter after folding)";
  let arguments = (ins ElementsAttr:$value);
  let results = (outs Mixer_FloatTensor:$result);
  // `mixer.constant dense<1.0> : tensor<f32>`: the result type is the value's.
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
  let hasFolder = 1;
  let builders = [OpBuilder<(ins "::mlir::ElementsAttr":$value), [{
    build($_builder, $_state, value.getType(), value);
  }]>];
}

def Mixer_HeadIndexOp : Mixer_Op<"head_index", [Pure]> {
  let summary = "the head index h = 0..H-1 as a per-head parameter [1, 1, H]";
  let results = (outs Mixer_FloatTensor:$result);
  let assemblyFormat = "attr-dict `:` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Mixer_RepeatHeadsOp : Mixer_Op<"repeat_heads", [Pure]> {
  let summary = "a per-token input shared by groups of heads, spread over every head";
  let description = [{
    Grouped heads (grouped-query style; fla's grouped-value attention, where q
    and k have H / G heads and v, the decays and the state H): head h of the
    result is head h / G of the input ([B, T, H / G, ...] -> [B, T, H, ...]).
    The kernels read row h / G where the result's row h is asked for; nothing
    is copied per head.
  }];
  let arguments = (ins Mixer_FloatTensor:$input, I64Attr:$group);
  let results = (outs Mixer_FloatTensor:$result);
  let assemblyFormat = "$input `group` $group attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Mixer_SumHeadsOp : Mixer_Op<"sum_heads", [Pure]> {
  let summary = "each group of `group` consecutive heads summed: the adjoint of repeat_heads";
  let arguments = (ins Mixer_FloatTensor:$input, I64Attr:$group);
  let results = (outs Mixer_FloatTensor:$result);
  let assemblyFormat = "$input `group` $group attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

include "dialect/MixerAdjointOps.td"
include "dialect/MixerChunkOps.td"
include "dialect/MixerRouteOps.td"

#endif
