// A diagonal recurrence's adjoint as forward-shaped recurrences (see
// Passes.td and docs/dialect.md, "The adjoint as scans").
//
// For S_t = D_t S_{t-1} + k_t v_t^T, o_t = c S_t^T q_t and the loss
// L = sum_t <do_t, o_t> + <dF, S_T>, the state's gradient
// dS_t = D_{t+1} dS_{t+1} + c q_t do_t^T (dS_T = dF + c q_T do_T^T) is a
// recurrence run the other way with the decays moved by one token; then
// dv_t = dS_t^T k_t, dk_t = dS_t v_t (the transposed scan: the decay acts on
// its value side), dinit = D_1 dS_1, dq_t = c S_t do_t (the forward's state,
// transposed), and for log-decays dg_t = sum_{s >= t} (q_s . dq_s - k_s . dk_s)
// + rowsum(dF . S_T). A reverse recurrence mirrors every "next" and "first".
//
// A bonus (RWKV-6: o_t = c (S_{t-1} + (u . k_t) v_t^T)^T q_t) reads the state
// before the token's update. Then G_{t-1} = D_t G_t + c q_t do_t^T is the
// adjoint run with the decays unshifted, read before its own update too: the
// three scans read exclusively (a bonus of zeros), dinit is the dS scan's
// final state itself, the bonus's own terms are per token (dq += c (u . k)
// (v . do), dk += c (u . q)(v . do), dv += c (q . u . k) do, du their sum),
// and the decays' sum loses the token's own readout term: dg_t = (as above)
// - q_t . dq'_t, dq' the state's part of dq.
#include "dialect/RecurrenceForms.h"
#include "passes/Passes.h"

#include <type_traits>

namespace mixc {
#define GEN_PASS_DEF_MIXERLOWERADJOINT
#include "passes/Passes.h.inc"
} // namespace mixc

using namespace mlir;
using namespace mixc::mixer;

namespace {

// Whether the adjoint is three forward-shaped scans: a diagonal transition of
// log-decays in one direction, nothing that reads a state but the readout
// (which may read it before the update: a bonus).
// (The verifier allows dt only with elementwise, the low rank only with dplr,
// the input gate and init_m only with normalizer mlstm.)
template <typename OpT> bool diagonal(OpT op) {
  Structure s = op.getStructure();
  return (s == Structure::identity || s == Structure::const_scalar || s == Structure::scalar ||
          s == Structure::vector) &&
         !op.hasFactorDecay() && op.getDirection() != Direction::bidirectional && !op.getSkipWeight() &&
         op.getNormalizerKind() == Normalizer::none;
}

template <typename OpT> bool elementwiseRow(OpT op);

// `auto`: wherever the forward was tiled for a target (bench/results/
// cpu-backward.md: on the CPU the scans beat the checkpointed sweep for
// every diagonal structure measured, scalar and per-key decays, K = 64 to
// 256; the CUDA target has no sweep backward at all) -- except one-row
// elementwise decays on the CPU (HGRN), where the sweep is faster (the scans
// 0.89x, median of five at 1 x 4096 x 8 x 512). Untiled (the reference), the
// adjoint recurrence itself.
// On CUDA, an adjoint that the chunked backward of the SSD or GLA form takes
// (cudaChunkedSsdGrad: identity, scalar or per-key vector log-decays, K and V
// of 64 or 128)
// stays mixer.recurrence_grad: one forward walk keeping each chunk's state,
// one reverse walk and a kernel per chunk against the scans' three walks and
// the flips, shifts and fp32 token passes around them.
template <typename OpT> bool preferScans(OpT op) {
  Attribute schedule = op->getAttr("mixer.schedule");
  if (isa_and_present<CpuTileAttr>(schedule) && elementwiseRow(op)) return false;
  if constexpr (std::is_same_v<OpT, RecurrenceGradOp>)
    if (isa_and_present<CudaTileAttr>(schedule) && cudaChunkedSsdGrad(op)) return false;
  return isa_and_present<CpuTileAttr, CudaTileAttr>(schedule);
}

template <typename OpT> bool chosen(OpT op, StringRef adjoint) {
  return adjoint == "scans" || (adjoint == "auto" && preferScans(op));
}

RankedTensorType tensorOf(ArrayRef<int64_t> shape, Type elem) { return RankedTensorType::get(shape, elem); }

// What both rewrites build with: constants of the element type, elementwise
// binaries, and a value scaled by a constant (none for a missing value or 1).
struct AdjointBuilder {
  OpBuilder b;
  Location loc;
  Type elem;
  explicit AdjointBuilder(RecurrenceGradOp g)
      : b(g), loc(g.getLoc()), elem(cast<RankedTensorType>(g.getQ().getType()).getElementType()) {}
  Value constant(ArrayRef<int64_t> shape, double x) {
    return ConstantOp::create(b, loc, DenseElementsAttr::get(tensorOf(shape, elem), b.getFloatAttr(elem, x)));
  }
  Value bin(Type t, BinaryFn fn, Value x, Value y) { return BinaryOp::create(b, loc, t, fn, x, y).getResult(); }
  Value scaled(Value x, double f) { return !x || f == 1.0 ? x : bin(x.getType(), BinaryFn::mul, x, constant({}, f)); }
};

void lower(RecurrenceGradOp g) {
  AdjointBuilder ab(g);
  OpBuilder &b = ab.b;
  Location loc = ab.loc;
  Type elem = ab.elem;
  auto qT = cast<RankedTensorType>(g.getQ().getType()), vT = cast<RankedTensorType>(g.getV().getType());
  const int64_t B = qT.getDimSize(0), T = qT.getDimSize(1), H = qT.getDimSize(2), K = qT.getDimSize(3),
                V = vT.getDimSize(3);
  const Structure s = g.getStructure();
  const bool forward = g.getDirection() == Direction::forward, vector = s == Structure::vector;
  const Direction adjointDir = forward ? Direction::reverse : Direction::forward;
  auto state = tensorOf({B, H, K, V}, elem), stateT = tensorOf({B, H, V, K}, elem);
  Value q = g.getQ(), k = g.getK(), v = g.getV(), dO = g.getDO(), dF = g.getDFinal(), init = g.getInit(),
        decay = g.getDecay();
  // The readout's scale c stays on the adjoint scans' readouts, not in their
  // operands: dS = c dS', dS' writing q do^T from dF / c. The scans then read
  // q as it is (exact where a target streams inputs in a narrower type).
  const double c = g.getScaleValue();
  // The adjoint scans' decays: the forward's at the token processed next
  // (with a bonus, whose readouts come before the update: the token's own).
  Value bonus = g.getBonus();
  auto tokenDecay = tensorOf(vector ? ArrayRef<int64_t>{B, T, H, K} : ArrayRef<int64_t>{B, T, H}, elem);
  Value next = !decay || bonus ? decay
                               : ShiftTokensOp::create(b, loc, tokenDecay, decay, b.getI64IntegerAttr(forward ? 1 : -1))
                                     .getResult();
  // A bonus's scans read the state before the token's update: a bonus of
  // zeros ([1, 1, H, D], D the scan's key size).
  llvm::SmallDenseMap<int64_t, Value> zeros;
  auto exclusive = [&](int64_t d) -> Value {
    if (!bonus) return Value();
    Value &z = zeros[d];
    if (!z) z = ab.constant({1, 1, H, d}, 0.0);
    return z;
  };
  Value dFc = ab.scaled(dF, 1.0 / c); // dS' starts from dF / c
  Value dFT = dFc ? TransposeStateOp::create(b, loc, stateT, dFc).getResult() : Value();
  Value initT = init ? TransposeStateOp::create(b, loc, stateT, init).getResult() : Value();
  // A scan on a K x V state (`valueSide` false) or on the transposed one
  // whose decay acts on its value side: a per-key decay is then the
  // elementwise structure with the factor exp(decay) per value column as dt
  // (decay_form factor: a kernel multiplies by it, one exp per column and
  // token, not one per state element).
  auto scan = [&](Direction dir, Value sq, Value sk, Value sv, Value d, Value s0, bool valueSide, Type oType,
                  Type sType, double scale, Value zeros) {
    Structure st = !d ? Structure::identity : s == Structure::const_scalar && d != decay ? Structure::scalar : s;
    Value rate = d, dt;
    DecayFormAttr form;
    if (valueSide && vector) {
      st = Structure::elementwise, rate = Value();
      dt = MapOp::create(b, loc, d.getType(), UnaryFn::exp, d);
      form = DecayFormAttr::get(b.getContext(), DecayForm::factor);
    }
    return RecurrenceOp::create(b, loc, oType, sType, Type(), st, dir, sq, sk, sv, rate, dt, Value(), Value(), Value(),
                                Value(), Value(), zeros, Value(), Value(), s0, Value(), DiagKindAttr(), form,
                                NormalizerAttr(), FloatAttr(), scale == 1.0 ? FloatAttr() : b.getF64FloatAttr(scale),
                                false, false, false);
  };
  // dS, read at k: dv; its final state is dS at the first token.
  RecurrenceOp dS = scan(adjointDir, k, q, dO, next, dFc, false, vT, state, c, exclusive(K));
  // dS^T, read at v: dk.
  RecurrenceOp dST = scan(adjointDir, v, dO, q, next, dFT, true, qT, stateT, c, exclusive(V));
  // S^T, read at do: dq; its final state is S_T^T.
  RecurrenceOp sT = scan(g.getDirection(), dO, v, k, decay, initT, true, qT, stateT, c, exclusive(V));

  Value dInit;
  if (init) {
    dInit = ab.scaled(dS.getFinalState(), c);
    if (decay && !bonus) { // dinit = D_1 dS_1: the first token's decay
      auto edgeType = tensorOf(vector ? ArrayRef<int64_t>{B, H, K} : ArrayRef<int64_t>{B, H}, elem);
      Value edge = EdgeTokenOp::create(b, loc, edgeType, decay, forward ? UnitAttr() : b.getUnitAttr());
      Value factor = MapOp::create(b, loc, edgeType, UnaryFn::exp, edge);
      dInit = BinaryOp::create(b, loc, init.getType(), BinaryFn::mul, dInit, factor);
    }
  }
  Value dDecay;
  if (decay) {
    // The cumulative log-decay at token t scales every term read after it
    // and divides every term written before: q . dq - k . dk, summed over the
    // tokens from t on, plus the final state's rowsum(dF . S_T).
    Value qdq = BinaryOp::create(b, loc, qT, BinaryFn::mul, q, sT.getO());
    Value kdk = BinaryOp::create(b, loc, qT, BinaryFn::mul, k, dST.getO());
    Value perToken = BinaryOp::create(b, loc, qT, BinaryFn::sub, qdq, kdk);
    if (!vector) perToken = SumToOp::create(b, loc, tokenDecay, perToken);
    Value last;
    if (dF) {
      Value sFinal = TransposeStateOp::create(b, loc, state, sT.getFinalState());
      last = BinaryOp::create(b, loc, tensorOf({B, H, K}, elem), BinaryFn::dot, dF, sFinal);
      if (!vector) last = SumToOp::create(b, loc, tensorOf({B, H}, elem), last);
    }
    dDecay = TokenCumsumOp::create(b, loc, tokenDecay, perToken, last, forward ? b.getUnitAttr() : UnitAttr());
    if (bonus) { // the token's own readout read the state before its decay
      Value own = qdq;
      if (!vector) own = SumToOp::create(b, loc, tokenDecay, own);
      dDecay = BinaryOp::create(b, loc, tokenDecay, BinaryFn::sub, dDecay, own);
    }
    if (dDecay.getType() != decay.getType()) dDecay = SumToOp::create(b, loc, decay.getType(), dDecay); // per head
  }
  // The gradients in operand order: q, k, v, decay, bonus, init.
  SmallVector<Value> grads = {sT.getO(), dST.getO(), dS.getO()};
  if (decay) grads.push_back(dDecay);
  if (bonus) { // the bonus's own per-token terms, c (q . u . k) v
    auto perTokenScalar = tensorOf({B, T, H}, elem);
    Value uk = BinaryOp::create(b, loc, qT, BinaryFn::mul, k, bonus);
    Value uq = BinaryOp::create(b, loc, qT, BinaryFn::mul, q, bonus);
    Value vdo = ab.scaled(BinaryOp::create(b, loc, perTokenScalar, BinaryFn::dot, v, dO), c);
    Value quk = ab.scaled(BinaryOp::create(b, loc, perTokenScalar, BinaryFn::dot, q, uk), c);
    auto add = [&](Value x, Value y) { return ab.bin(x.getType(), BinaryFn::add, x, y); };
    auto mul = [&](Type t, Value x, Value y) { return ab.bin(t, BinaryFn::mul, x, y); };
    grads[0] = add(grads[0], mul(qT, uk, vdo));
    grads[1] = add(grads[1], mul(qT, uq, vdo));
    grads[2] = add(grads[2], mul(vT, dO, quk));
    grads.push_back(SumToOp::create(b, loc, bonus.getType(), mul(qT, mul(qT, q, k), vdo)));
  }
  if (init) grads.push_back(dInit);
  g.replaceAllUsesWith(grads);
  g.erase();
}

// Elementwise decays with a single key row (HGRN: a decay per channel, given
// as the factor dt_t or as the log-decay rate * dt_t with a constant rate):
// the state and its gradient are one row per token, so two scans read them
// whole (a query of ones) and every gradient is a per-token product. With G_t
// the state's gradient and s_{t-1} the state before token t (the forward scan
// read before its update: a bonus of zeros), s_t = D_t s_{t-1} + k_t v_t and
//   dv = k G, dk = sum_v G v, dq = c sum_v s do,
//   a factor: ddt = G s_{t-1}; a log: E = G D_t s_{t-1}, ddt = rate E,
//   drate = sum dt E; dinit = D_1 G_1.
// (With K > 1 the decays' gradient is bilinear in the two states, which no
// readout gives: Mamba-1 keeps the sweep.)
template <typename OpT> bool elementwiseRow(OpT op) {
  const bool logRate = op.getDecay() && cast<RankedTensorType>(op.getDecay().getType()).getRank() == 0;
  return op.getStructure() == Structure::elementwise && op.getDt() && (op.hasFactorDecay() || logRate) &&
         cast<RankedTensorType>(op.getQ().getType()).getDimSize(3) == 1 &&
         op.getDirection() != Direction::bidirectional && !op.getBonus() && !op.getSkipWeight() &&
         op.getNormalizerKind() == Normalizer::none;
}

void lowerElementwiseRow(RecurrenceGradOp g) {
  AdjointBuilder ab(g);
  OpBuilder &b = ab.b;
  Location loc = ab.loc;
  Type elem = ab.elem;
  auto qT = cast<RankedTensorType>(g.getQ().getType()), vT = cast<RankedTensorType>(g.getV().getType());
  const int64_t B = qT.getDimSize(0), H = qT.getDimSize(2), V = vT.getDimSize(3);
  const bool forward = g.getDirection() == Direction::forward, factor = g.hasFactorDecay();
  auto state = tensorOf({B, H, 1, V}, elem);
  Value q = g.getQ(), k = g.getK(), v = g.getV(), dO = g.getDO(), dF = g.getDFinal(), init = g.getInit(),
        rate = g.getDecay(), dt = g.getDt();
  const double c = g.getScaleValue();
  Value ones = MapOp::create(b, loc, qT, UnaryFn::ones, v);
  auto form = factor ? DecayFormAttr::get(b.getContext(), DecayForm::factor) : DecayFormAttr();
  auto scan = [&](Direction dir, Value sk, Value sv, Value d, Value s0, double scale, Value bonus) {
    return RecurrenceOp::create(b, loc, vT, state, Type(), Structure::elementwise, dir, ones, sk, sv, rate, d, Value(),
                                Value(), Value(), Value(), Value(), bonus, Value(), Value(), s0, Value(),
                                DiagKindAttr(), form, NormalizerAttr(), FloatAttr(),
                                scale == 1.0 ? FloatAttr() : b.getF64FloatAttr(scale), false, false, false);
  };
  // G: the adjoint, its decays those of the token processed next (past the
  // sequence's edge a factor 1, a log-decay 0), c on the readout; then the
  // forward state before each token.
  auto shift = [&](Value x) { return ShiftTokensOp::create(b, loc, vT, x, b.getI64IntegerAttr(forward ? 1 : -1)); };
  Value one = ab.constant({}, 1.0);
  Value next =
      factor ? ab.bin(vT, BinaryFn::add, shift(ab.bin(vT, BinaryFn::sub, dt, one)), one) : shift(dt).getResult();
  RecurrenceOp gScan =
      scan(forward ? Direction::reverse : Direction::forward, q, dO, next, ab.scaled(dF, 1.0 / c), c, Value());
  Value zeros = ab.constant({1, 1, H, 1}, 0.0);
  RecurrenceOp pScan = scan(g.getDirection(), k, v, dt, init, 1.0, zeros);
  Value G = gScan.getO(), prev = pScan.getO();
  Value decay = factor ? dt : MapOp::create(b, loc, vT, UnaryFn::exp, ab.bin(vT, BinaryFn::mul, dt, rate)).getResult();
  Value st = ab.bin(vT, BinaryFn::add, ab.bin(vT, BinaryFn::mul, decay, prev), ab.bin(vT, BinaryFn::mul, v, k));
  Value dq = ab.scaled(SumToOp::create(b, loc, qT, ab.bin(vT, BinaryFn::mul, st, dO)), c);
  Value dk = SumToOp::create(b, loc, qT, ab.bin(vT, BinaryFn::mul, G, v));
  Value dv = ab.bin(vT, BinaryFn::mul, G, k);
  Value gPrev = ab.bin(vT, BinaryFn::mul, G, prev);
  SmallVector<Value> grads = {dq, dk, dv};
  if (factor) {
    grads.push_back(gPrev);
  } else {
    Value E = ab.bin(vT, BinaryFn::mul, gPrev, decay);
    grads.push_back(SumToOp::create(b, loc, rate.getType(), ab.bin(vT, BinaryFn::mul, E, dt)));
    grads.push_back(ab.bin(vT, BinaryFn::mul, E, rate));
  }
  if (init) { // D_1 G_1, through the transposed row ([B, H, V, 1] times the [B, H, V] decays)
    auto edgeType = tensorOf({B, H, V}, elem), rowT = tensorOf({B, H, V, 1}, elem);
    Value d1 = EdgeTokenOp::create(b, loc, edgeType, decay, forward ? UnitAttr() : b.getUnitAttr());
    Value g1 = TransposeStateOp::create(b, loc, rowT, ab.scaled(gScan.getFinalState(), c));
    grads.push_back(TransposeStateOp::create(b, loc, state, ab.bin(rowT, BinaryFn::mul, g1, d1)));
  }
  g.replaceAllUsesWith(grads);
  g.erase();
}

// The recurrences whose adjoint this pass can write as scans.
template <typename OpT> bool rewritable(OpT op) { return diagonal(op) || elementwiseRow(op); }

} // namespace

bool mixc::adjointAsScans(RecurrenceOp forward, llvm::StringRef adjoint) {
  return rewritable(forward) && chosen(forward, adjoint);
}

namespace {
struct LowerAdjoint : mixc::impl::MixerLowerAdjointBase<LowerAdjoint> {
  using MixerLowerAdjointBase::MixerLowerAdjointBase;

  void runOnOperation() override {
    if (adjoint != "scans" && adjoint != "auto" && adjoint != "sweep") {
      getOperation().emitError() << "mixer-lower-adjoint: unknown adjoint '" << adjoint
                                 << "' (expected scans, auto or sweep)";
      return signalPassFailure();
    }
    SmallVector<RecurrenceGradOp> ops;
    getOperation().walk([&](RecurrenceGradOp g) {
      if (rewritable(g) && g.getDO() && chosen(g, adjoint)) ops.push_back(g);
    });
    for (RecurrenceGradOp g : ops) diagonal(g) ? lower(g) : lowerElementwiseRow(g);
  }
};
} // namespace
