#ifndef MIXER_DIALECT_TD
#define MIXER_DIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/EnumAttr.td"

def Mixer_Dialect : Dialect {
  let name = "mixer";
  let summary = "Sequence mixers as one linear dynamical system over a matrix state";
  let description = [{
    The central op, `mixer.recurrence`, is the unified recurrence
    `S_t = A_t S_{t-1} + k_t v_t^T`, `o_t = scale * S_t^T q_t`. The structure of
    `A_t` is an attribute that passes dispatch on. Per-token pre-processing
    (gates, feature maps) is expressed with `mixer.map` and `mixer.binary`.
  }];
  let cppNamespace = "::mixc::mixer";
  let hasConstantMaterializer = 1;
  let useDefaultAttributePrinterParser = 1;
}

// Structure of the transition A_t, cheapest first.
def Mixer_StructureAttr : I32EnumAttr<"Structure", "structure of the transition A_t", [
    I32EnumAttrCase<"identity", 0>,
    I32EnumAttrCase<"const_scalar", 1>,
    I32EnumAttrCase<"scalar", 2>,
    I32EnumAttrCase<"vector", 3>,
    I32EnumAttrCase<"elementwise", 4>,
    I32EnumAttrCase<"dplr", 5>]> {
  let cppNamespace = "::mixc::mixer";
}

// The diagonal of a DPLR transition Diag(exp(decay)) + a b^T.
def Mixer_DiagKindAttr : I32EnumAttr<"DiagKind", "diagonal of a DPLR transition", [
    // The identity (DeltaNet): no decay operand.
    I32EnumAttrCase<"none", 0>,
    // One decay per token and head (Gated DeltaNet): decay [B, T, H].
    I32EnumAttrCase<"scalar", 1>,
    // One decay per key channel (KDA, RWKV-7): decay [B, T, H, K].
    I32EnumAttrCase<"vector", 2>]> {
  let cppNamespace = "::mixc::mixer";
}

// How the decay operand gives the transition's diagonal.
def Mixer_DecayFormAttr : I32EnumAttr<"DecayForm", "how the decay operand gives the diagonal", [
    // The diagonal is exp(decay) (elementwise: exp(decay * dt)).
    I32EnumAttrCase<"log", 0>,
    // The diagonal is the operand itself, a factor that may be negative
    // (elementwise: dt is the factor and there is no decay operand).
    I32EnumAttrCase<"factor", 1>]> {
  let cppNamespace = "::mixc::mixer";
}

def Mixer_DirectionAttr : I32EnumAttr<"Direction", "scan direction over time", [
    I32EnumAttrCase<"forward", 0>,
    I32EnumAttrCase<"reverse", 1>,
    I32EnumAttrCase<"bidirectional", 2>]> {
  let cppNamespace = "::mixc::mixer";
}

def Mixer_NormalizerAttr : I32EnumAttr<"Normalizer", "output normalizer", [
    I32EnumAttrCase<"none", 0>,
    // o = S^T q / (z^T q + eps), z the same recurrence with k written; z is
    // column V of the state.
    I32EnumAttrCase<"sum", 1>,
    // mLSTM: o = S^T q / max(|n^T q|, exp(-m)), S and n kept relative to
    // exp(m), m_t = max(g_t + m_{t-1}, i_t).
    I32EnumAttrCase<"mlstm", 2>,
    // o = S^T q / max(|z^T q|, eps), eps > 0: z as for sum (mLSTM's
    // denominator without the stabilizer; xLSTM-style normalized readouts).
    I32EnumAttrCase<"max_abs", 3>]> {
  let cppNamespace = "::mixc::mixer";
}

def Mixer_UnaryFnAttr : I32EnumAttr<"UnaryFn", "per-token pointwise function", [
    I32EnumAttrCase<"neg", 0>, I32EnumAttrCase<"exp", 1>, I32EnumAttrCase<"log", 2>,
    I32EnumAttrCase<"sigmoid", 3>, I32EnumAttrCase<"logsigmoid", 4>,
    I32EnumAttrCase<"softplus", 5>, I32EnumAttrCase<"silu", 6>, I32EnumAttrCase<"elu", 7>,
    I32EnumAttrCase<"relu", 8>, I32EnumAttrCase<"abs", 9>, I32EnumAttrCase<"sqrt", 10>,
    I32EnumAttrCase<"tanh", 11>,
    // Reductions over the feature (last) dimension.
    I32EnumAttrCase<"l2norm", 12>,
    // Based's 2nd-order Taylor feature map [1, x, vec(x x^T)/sqrt(2)], D -> 1+D+D^2.
    I32EnumAttrCase<"taylor2", 13>,
    // A per-token [B, T, H, 1] of ones: q and k of a K = 1 recurrence (HGRN).
    I32EnumAttrCase<"ones", 14>,
    // [..., D] -> [..., D + 1] with a last column of ones: the normalizer's
    // sum rides along as one more value column.
    I32EnumAttrCase<"append_one", 15>,
    // The sum over the feature (last) dimension: [.., D] -> [..].
    I32EnumAttrCase<"sum", 16>,
    // The softmax over the feature (last) dimension (learned feature maps:
    // Hedgehog, LoLCATs).
    I32EnumAttrCase<"softmax", 17>]> {
  let cppNamespace = "::mixc::mixer";
}

def Mixer_BinaryFnAttr : I32EnumAttr<"BinaryFn", "per-token pointwise binary function", [
    I32EnumAttrCase<"add", 0>, I32EnumAttrCase<"sub", 1>, I32EnumAttrCase<"mul", 2>,
    I32EnumAttrCase<"div", 3>, I32EnumAttrCase<"max", 4>, I32EnumAttrCase<"min", 5>,
    I32EnumAttrCase<"pow", 6>,
    // The dot product over the feature (last) dimension: [.., D] x [.., D] -> [..].
    I32EnumAttrCase<"dot", 7>,
    // A row times a matrix, x^T W: [.., D] x [.., D, F] -> [.., F] (learned
    // feature maps: a per-head W applied to q and k).
    I32EnumAttrCase<"vecmat", 8>,
    // Two rows side by side: [.., D] x [.., E] -> [.., D + E] (Hedgehog's
    // [softmax(W^T x), softmax(-W^T x)]).
    I32EnumAttrCase<"concat", 9>]> {
  let cppNamespace = "::mixc::mixer";
}

#endif
