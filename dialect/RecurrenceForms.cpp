#include "dialect/RecurrenceForms.h"

#include "dialect/RecurrenceParts.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/PatternMatch.h"

#include <functional>

using namespace mlir;

namespace mixc::mixer {

Value peelScalarFactors(Value v, SmallVectorImpl<Value> &factors) {
  while (auto mul = v.getDefiningOp<BinaryOp>()) {
    if (mul.getFn() != BinaryFn::mul) break;
    auto scalar = [](Value x) { return cast<RankedTensorType>(x.getType()).getRank() <= 3; };
    bool l = scalar(mul.getLhs()), r = scalar(mul.getRhs());
    if (l == r) break;
    factors.push_back(r ? mul.getRhs() : mul.getLhs());
    v = r ? mul.getLhs() : mul.getRhs();
  }
  return v;
}

namespace {

// Left-aligned broadcasting, as mixer.binary's verifier has it.
RankedTensorType broadcastType(RankedTensorType l, RankedTensorType r) {
  int64_t rank = std::max(l.getRank(), r.getRank());
  SmallVector<int64_t> shape(rank, 1);
  for (int64_t i = 0; i < rank; ++i) {
    int64_t a = i < l.getRank() ? l.getDimSize(i) : 1, b = i < r.getRank() ? r.getDimSize(i) : 1;
    shape[i] = a == 1 ? b : b == 1 ? a : ShapedType::isDynamic(a) ? b : a;
  }
  return RankedTensorType::get(shape, l.getElementType());
}

// s_1 * ... * s_n as one value of type `want`; null when the product has
// another shape (every factor per head, say).
Value product(OpBuilder &b, Location loc, ArrayRef<Value> factors, RankedTensorType want) {
  Value p = factors.front();
  for (Value f : factors.drop_front()) {
    auto t = broadcastType(cast<RankedTensorType>(p.getType()), cast<RankedTensorType>(f.getType()));
    p = BinaryOp::create(b, loc, t, BinaryFn::mul, p, f);
  }
  return p.getType() == want ? p : Value();
}

// The per-token scalar type [B, T, H] of a per-token vector [B, T, H, K].
RankedTensorType scalarTypeOf(Value vector) {
  auto t = cast<RankedTensorType>(vector.getType());
  return RankedTensorType::get(t.getShape().take_front(3), t.getElementType());
}

bool isSplatOne(Value v) {
  auto c = v ? v.getDefiningOp<ConstantOp>() : nullptr;
  auto dense = c ? dyn_cast<DenseFPElementsAttr>(c.getValue()) : DenseFPElementsAttr();
  return dense && dense.isSplat() && dense.getSplatValue<APFloat>().convertToDouble() == 1.0;
}

// A decay written as a factor x reaches the op as log(x) (the spec's `x * S`):
// the op takes x itself, so that no kernel computes exp(log(x)) per element
// and token, and a negative x (Mamba's decays in (-1, 1)) stays real. mLSTM's
// stabilizer adds log-decays, so it keeps the log.
struct DecayAsFactor : OpRewritePattern<RecurrenceOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RecurrenceOp op, PatternRewriter &rewriter) const override {
    if (op.hasFactorDecay() || op.getNormalizerKind() == Normalizer::mlstm) return failure();
    Structure s = op.getStructure();
    RecurrenceParts parts(op);
    if (s == Structure::scalar || s == Structure::vector || (s == Structure::dplr && op.getDecay())) {
      auto log = op.getDecay().getDefiningOp<MapOp>();
      if (!log || log.getFn() != UnaryFn::log) return failure();
      parts.decay = log.getInput();
    } else if (s == Structure::elementwise) {
      // exp(1 * log(x) per element): HGRN's `f * s`.
      auto log = op.getDt() ? op.getDt().getDefiningOp<MapOp>() : nullptr;
      if (!log || log.getFn() != UnaryFn::log || !isSplatOne(op.getDecay())) return failure();
      parts.decay = Value();
      parts.dt = log.getInput();
    } else {
      return failure();
    }
    parts.decayForm = DecayFormAttr::get(op.getContext(), DecayForm::factor);
    rewriter.replaceOp(op, parts.build(rewriter, op.getLoc())->getResults());
    return success();
  }
};

// A delta rule's a = -beta k (Gated DeltaNet: -alpha beta k) and written key
// beta k are per-token multiples of b = k: the op takes the scalars, so that
// a kernel reads b's rows once and scales them itself.
struct ScaleLowRank : OpRewritePattern<RecurrenceOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RecurrenceOp op, PatternRewriter &rewriter) const override {
    if (op.getStructure() != Structure::dplr || !op.getA()) return failure();
    SmallVector<Value> aFactors, kFactors;
    if (peelScalarFactors(op.getA(), aFactors) != op.getB() || aFactors.empty()) return failure();
    RankedTensorType scalar = scalarTypeOf(op.getB());
    Value aScale = product(rewriter, op.getLoc(), aFactors, scalar);
    if (!aScale) return failure();
    RecurrenceParts parts(op);
    parts.a = Value();
    parts.aScale = aScale;
    if (!op.getKScale() && peelScalarFactors(op.getK(), kFactors) == op.getB() && !kFactors.empty())
      if (Value kScale = product(rewriter, op.getLoc(), kFactors, scalar)) {
        parts.k = op.getB();
        parts.kScale = kScale;
      }
    rewriter.replaceOp(op, parts.build(rewriter, op.getLoc())->getResults());
    return success();
  }
};

// `parts` built in place of `op`, keeping its discardable attributes (the
// chunk and schedule passes' records).
RecurrenceOp replaceWith(RecurrenceOp op, const RecurrenceParts &parts, OpBuilder &builder) {
  RecurrenceOp rebuilt = parts.build(builder, op.getLoc());
  rebuilt->setDiscardableAttrs(op->getDiscardableAttrDictionary());
  op->replaceAllUsesWith(rebuilt->getResults());
  op->erase();
  return rebuilt;
}

} // namespace

RecurrenceOp elementwiseDecayAsLog(RecurrenceOp op, OpBuilder &builder) {
  if (op.getStructure() != Structure::elementwise || !op.hasFactorDecay()) return op;
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPoint(op);
  Location loc = op.getLoc();
  RecurrenceParts parts(op);
  parts.dt = MapOp::create(builder, loc, op.getDt().getType(), UnaryFn::log, op.getDt());
  auto one = RankedTensorType::get({}, cast<RankedTensorType>(op.getDt().getType()).getElementType());
  parts.decay = ConstantOp::create(builder, loc, DenseElementsAttr::get(one, builder.getFloatAttr(one.getElementType(), 1.0)));
  parts.decayForm = DecayFormAttr();
  return replaceWith(op, parts, builder);
}

RecurrenceOp fuseRowNorms(RecurrenceOp op, OpBuilder &builder) {
  if (!op.isScaledWithKeyB()) return op;
  auto normOf = [](Value v) -> Value {
    auto m = v.getDefiningOp<MapOp>();
    return m && m.getFn() == UnaryFn::l2norm ? m.getInput() : Value();
  };
  Value q = op.getL2normQ() ? Value() : normOf(op.getQ()), b = op.getL2normB() ? Value() : normOf(op.getB());
  if (!q && !b) return op;
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPoint(op);
  RecurrenceParts parts(op);
  if (q) parts.q = q, parts.l2normQ = UnitAttr::get(op.getContext());
  if (b) parts.b = parts.k = b, parts.l2normB = UnitAttr::get(op.getContext());
  Operation *qNorm = q ? op.getQ().getDefiningOp() : nullptr, *bNorm = b ? op.getB().getDefiningOp() : nullptr;
  if (bNorm == qNorm) bNorm = nullptr;
  RecurrenceOp rebuilt = replaceWith(op, parts, builder);
  for (Operation *norm : {qNorm, bNorm}) // the maps no one else reads go
    if (norm && norm->use_empty()) norm->erase();
  return rebuilt;
}

RecurrenceOp expandRowNorms(RecurrenceOp op, OpBuilder &builder) {
  if (!op.getL2normQ() && !op.getL2normB()) return op;
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPoint(op);
  Location loc = op.getLoc();
  RecurrenceParts parts(op);
  auto norm = [&](Value x) { return MapOp::create(builder, loc, x.getType(), UnaryFn::l2norm, x); };
  if (op.getL2normQ()) parts.q = norm(op.getQ()), parts.l2normQ = UnitAttr();
  if (op.getL2normB()) parts.b = parts.k = norm(op.getB()), parts.l2normB = UnitAttr();
  return replaceWith(op, parts, builder);
}

RecurrenceOp expandScaledLowRank(RecurrenceOp op, OpBuilder &builder) {
  if (!op.getAScale() && !op.getKScale() && !op.getDecayedB()) return op;
  op = expandRowNorms(op, builder); // the norms' attributes need the scaled form
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPoint(op);
  Location loc = op.getLoc();
  RecurrenceParts parts(op);
  auto scaled = [&](Value s, Value x) { return BinaryOp::create(builder, loc, x.getType(), BinaryFn::mul, x, s); };
  if (op.getAScale()) parts.a = scaled(op.getAScale(), op.getB()), parts.aScale = Value();
  if (op.getKScale()) parts.k = scaled(op.getKScale(), op.getK()), parts.kScale = Value();
  if (op.getDecayedB()) { // b^T Diag(e^g) S: the plain form's b is b . e^g
    Value e = MapOp::create(builder, loc, op.getDecay().getType(), UnaryFn::exp, op.getDecay());
    parts.b = BinaryOp::create(builder, loc, op.getB().getType(), BinaryFn::mul, op.getB(), e);
    parts.decayedB = UnitAttr();
  }
  return replaceWith(op, parts, builder);
}

RecurrenceOp contractDecayedLowRank(RecurrenceOp op, OpBuilder &builder) {
  if (op.getStructure() != Structure::dplr || op.getDiagKind() != DiagKind::vector || op.hasFactorDecay() ||
      op.getDecayedB() || !op.getA() || op.getKScale())
    return op;
  // b = x . exp(decay), either order.
  auto mul = op.getB().getDefiningOp<BinaryOp>();
  if (!mul || mul.getFn() != BinaryFn::mul) return op;
  auto isDecayExp = [&](Value v) {
    auto e = v.getDefiningOp<MapOp>();
    return e && e.getFn() == UnaryFn::exp && e.getInput() == op.getDecay();
  };
  Value x = isDecayExp(mul.getRhs()) ? mul.getLhs() : isDecayExp(mul.getLhs()) ? mul.getRhs() : Value();
  if (!x || x.getType() != op.getB().getType()) return op;
  // a and the key per-token multiples of x.
  SmallVector<Value> aFactors, kFactors;
  if (peelScalarFactors(op.getA(), aFactors) != x || aFactors.empty()) return op;
  if (peelScalarFactors(op.getK(), kFactors) != x || kFactors.empty()) return op;
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPoint(op);
  RankedTensorType scalar = scalarTypeOf(x);
  Value aScale = product(builder, op.getLoc(), aFactors, scalar);
  Value kScale = product(builder, op.getLoc(), kFactors, scalar);
  if (!aScale || !kScale) return op;
  RecurrenceParts parts(op);
  parts.a = Value(), parts.aScale = aScale, parts.b = x, parts.k = x, parts.kScale = kScale;
  parts.decayedB = UnitAttr::get(op.getContext());
  return replaceWith(op, parts, builder);
}

void RecurrenceOp::getCanonicalizationPatterns(RewritePatternSet &patterns, MLIRContext *context) {
  patterns.add<DecayAsFactor, ScaleLowRank>(context);
}

Value decayLoadChain(Value decay, SmallVectorImpl<Value> &params) {
  if (!decay || isa<BlockArgument>(decay)) return Value();
  auto decayType = cast<RankedTensorType>(decay.getType());
  Value raw;
  bool ok = true;
  std::function<void(Value)> visit = [&](Value v) {
    if (!ok) return;
    auto t = cast<RankedTensorType>(v.getType());
    if (auto arg = dyn_cast<BlockArgument>(v)) {
      const bool perHead = (t.getRank() == 3 || t.getRank() == 4) && t.getDimSize(0) == 1 && t.getDimSize(1) == 1 &&
                           t.getDimSize(2) == decayType.getDimSize(2) &&
                           (t.getRank() == 3 || t.getDimSize(3) == decayType.getDimSize(3));
      if (t == decayType && (!raw || raw == v)) raw = v;
      else if (perHead) {
        if (!llvm::is_contained(params, v)) params.push_back(v);
      } else ok = false;
      return;
    }
    Operation *d = v.getDefiningOp();
    if (auto c = dyn_cast<ConstantOp>(d)) {
      ok = c.getValue().getNumElements() == 1;
    } else if (auto m = dyn_cast<MapOp>(d)) {
      ok = isPointwise(m.getFn());
      visit(m.getInput());
    } else if (auto b = dyn_cast<BinaryOp>(d)) {
      ok = isPointwise(b.getFn());
      visit(b.getLhs());
      visit(b.getRhs());
    } else {
      ok = false;
    }
  };
  visit(decay);
  if (!ok || !raw) {
    params.clear();
    return Value();
  }
  return raw;
}

bool tokenScalarChain(Value v, SmallVectorImpl<Value> &tokens, SmallVectorImpl<Value> &params) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type || type.getRank() != 3) return false;
  const int64_t H = type.getDimSize(2);
  std::function<bool(Value)> visit = [&](Value x) -> bool {
    auto t = cast<RankedTensorType>(x.getType());
    if (isa<BlockArgument>(x)) {
      const bool perToken = t == type, perHead = t.getRank() == 3 && t.getDimSize(0) == 1 &&
                                                 t.getDimSize(1) == 1 && t.getDimSize(2) == H;
      if (!perToken && !perHead) return false;
      auto &list = perToken ? tokens : params;
      if (!llvm::is_contained(list, x)) list.push_back(x);
      return true;
    }
    Operation *d = x.getDefiningOp();
    if (auto c = dyn_cast<ConstantOp>(d)) return c.getValue().getNumElements() == 1;
    if (auto m = dyn_cast<MapOp>(d)) return isPointwise(m.getFn()) && visit(m.getInput());
    if (auto b = dyn_cast<BinaryOp>(d)) return isPointwise(b.getFn()) && visit(b.getLhs()) && visit(b.getRhs());
    return false;
  };
  return visit(v);
}

TokenScalars tokenScalarsOf(RecurrenceOp op) {
  return {op.getDiagKind() == DiagKind::scalar ? op.getDecay() : Value(), op.getAScale(), op.getKScale()};
}

bool tokenScalarsInLoads(RecurrenceOp op, SmallVectorImpl<Value> &tokens, SmallVectorImpl<Value> &params) {
  const TokenScalars s = tokenScalarsOf(op);
  for (Value v : {s.decay, s.aScale, s.kScale})
    if (v && !tokenScalarChain(v, tokens, params)) return false;
  return tokens.size() <= kTokenScalarInputs && params.size() <= kTokenScalarParams;
}

std::string cudaLowRankSweepsRefusal(RecurrenceGradOp op) {
  if (op.getBonus()) return "a bonus";
  if (op.getSkipWeight()) return "a skip term";
  if (op.getNormalizerKind() != Normalizer::none || op.getIgate()) return "a normalizer";
  if (op.getDt()) return "elementwise decays";
  if (op.getDirection() == Direction::bidirectional) return "a bidirectional recurrence";
  if (op.getStructure() != Structure::dplr || !(op.getA() || op.getAScale()) || !op.getB())
    return "a " + stringifyStructure(op.getStructure()).str() + " transition" +
           (op.hasFactorDecay() ? " of factor decays" : "") + " (no low-rank term)";
  if (op.getDecay() && op.hasFactorDecay()) return "a decay given as a factor (its gradient would divide by it)";
  return "";
}

std::string cudaCheckpointSweepRefusal(RecurrenceGradOp op) {
  if (op.getBonus()) return "a bonus";
  const bool mlstm = op.getNormalizerKind() == Normalizer::mlstm;
  if ((op.getNormalizerKind() != Normalizer::none && !mlstm) || (op.getIgate() && !mlstm))
    return "a normalizer other than mLSTM's (mixer-normalizer-to-column makes the others a state column)";
  if (mlstm && (op.getStructure() != Structure::scalar || op.hasFactorDecay() || op.getSkipWeight()))
    return "mLSTM's normalizer on other than a scalar transition of log-decays";
  if (op.getDirection() == Direction::bidirectional) return "a bidirectional recurrence";
  if (op.getA() || op.getB() || op.getStructure() == Structure::dplr) return "a low-rank term";
  if (op.getStructure() == Structure::elementwise && op.getDecay() && op.hasFactorDecay())
    return "elementwise decays given as factors (the CUDA forward takes log-rates)";
  if (op.getStructure() == Structure::elementwise && !op.getDecay()) return "elementwise decays without a rate";
  if (cast<RankedTensorType>(op.getQ().getType()).getDimSize(3) > 128) return "more than 128 keys";
  return "";
}

bool cudaChunkedSsdGrad(RecurrenceGradOp op) {
  const Structure s = op.getStructure();
  const int64_t K = cast<RankedTensorType>(op.getQ().getType()).getDimSize(3),
                V = cast<RankedTensorType>(op.getV().getType()).getDimSize(3);
  return (s == Structure::identity || s == Structure::scalar || s == Structure::const_scalar ||
          s == Structure::vector) &&
         !op.hasFactorDecay() && op.getDirection() == Direction::forward && !op.getA() && !op.getB() &&
         !op.getBonus() && !op.getSkipWeight() && !op.getDt() && !op.getIgate() &&
         op.getNormalizerKind() == Normalizer::none && (K == 64 || K == 128) && (V == 64 || V == 128);
}

} // namespace mixc::mixer
