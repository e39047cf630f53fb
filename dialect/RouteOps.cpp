// Verifiers of the Mixture-of-Memories ops (MixerRouteOps.td).
#include "dialect/MixerOps.h"

#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mixc::mixer;

namespace {
RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

bool agree(int64_t a, int64_t b) { return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b; }

// The feature dimensions past [B, T] (or [B * M, L]) agree.
bool sameRows(RankedTensorType a, RankedTensorType b) {
  if (a.getRank() != b.getRank() || a.getRank() < 3) return false;
  for (int64_t i = 2; i < a.getRank(); ++i)
    if (!agree(a.getDimSize(i), b.getDimSize(i))) return false;
  return true;
}

LogicalResult verifyRoute(Operation *op, Value route, int64_t memories) {
  if (memories < 1) return op->emitOpError() << "memories must be positive, got " << memories;
  auto r = typeOf(route);
  if (r.getRank() != 3) return op->emitOpError() << "route must be [B, T, k] (memory indices), got rank " << r.getRank();
  if (!r.isDynamicDim(2) && (r.getDimSize(2) < 1 || r.getDimSize(2) > memories))
    return op->emitOpError() << "route chooses " << r.getDimSize(2) << " memories per token, of " << memories;
  return success();
}
} // namespace

LogicalResult RouteSlotsOp::verify() {
  auto in = typeOf(getInput()), out = typeOf(getResult());
  // [B, T, k, H, ...] -> [B, T * k, H, ...], or back (the adjoint).
  auto slotted = in.getRank() > out.getRank() ? in : out, flat = in.getRank() > out.getRank() ? out : in;
  if (slotted.getRank() < 4 || flat.getRank() != slotted.getRank() - 1)
    return emitOpError() << "expects [B, T, k, H, ...] <-> [B, T * k, H, ...]";
  for (int64_t i = 3; i < slotted.getRank(); ++i)
    if (!agree(slotted.getDimSize(i), flat.getDimSize(i - 1)))
      return emitOpError() << "dimension " << i << " of the [B, T, k, ...] side differs from dimension " << i - 1
                           << " of the other";
  return success();
}

LogicalResult RouteGatherOp::verify() {
  if (failed(verifyRoute(*this, getRoute(), getMemories()))) return failure();
  if (getWeight() && (typeOf(getWeight()).getRank() != 3 || getSlots()))
    return emitOpError() << "weights scale token rows (not slots) and must be [B, T, k] like route";
  if (!sameRows(typeOf(getInput()), typeOf(getResult())))
    return emitOpError() << "the result's rows must have the input's shape past [B, T]";
  return success();
}

LogicalResult RouteScatterOp::verify() {
  if (failed(verifyRoute(*this, getRoute(), getMemories()))) return failure();
  if (!sameRows(typeOf(getInput()), typeOf(getResult())))
    return emitOpError() << "the result's rows must have the input's shape past [B * M, L]";
  auto r = typeOf(getRoute());
  if (getWeight()) {
    auto w = typeOf(getWeight());
    if (w.getRank() != 3 || !agree(w.getDimSize(2), r.getDimSize(2)))
      return emitOpError() << "weight must be [B, T, k] like route";
  }
  return success();
}

LogicalResult RouteWeightGradOp::verify() {
  if (failed(verifyRoute(*this, getRoute(), getMemories()))) return failure();
  if (!sameRows(typeOf(getInput()), typeOf(getGrad())))
    return emitOpError() << "the readouts and the output's gradient must have rows of one shape";
  auto r = typeOf(getRoute()), out = typeOf(getResult());
  if (out.getRank() != 3 || !agree(out.getDimSize(2), r.getDimSize(2)))
    return emitOpError() << "the result must be [B, T, k] like route";
  return success();
}

LogicalResult MemoryStatesOp::verify() {
  auto in = typeOf(getInput()), out = typeOf(getResult());
  const int64_t M = getMemories();
  if (M < 1) return emitOpError() << "memories must be positive, got " << M;
  // [B, M, rest] -> [B * M, rest] or back.
  auto perMemory = in.getRank() > out.getRank() ? in : out, flat = in.getRank() > out.getRank() ? out : in;
  if (perMemory.getRank() != flat.getRank() + 1 || flat.getRank() < 2)
    return emitOpError() << "expects [B, M, ...] <-> [B * M, ...]";
  if (!agree(perMemory.getDimSize(1), M))
    return emitOpError() << "the per-memory side has " << perMemory.getDimSize(1) << " memories, expected " << M;
  for (int64_t i = 1; i < flat.getRank(); ++i)
    if (!agree(flat.getDimSize(i), perMemory.getDimSize(i + 1)))
      return emitOpError() << "the state dimensions differ";
  return success();
}

namespace {
bool isTokenValue(Value v) {
  auto t = typeOf(v);
  return t.getRank() >= 3 && t.isDynamicDim(1);
}

// route_gather(f(x, y)) -> f(route_gather(x), route_gather(y)) for f that maps
// zero rows to zero rows, so the padding stays an identity step; per-head and
// constant operands broadcast as they are.
struct GatherBeforeZeroPreserving : OpRewritePattern<RouteGatherOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RouteGatherOp g, PatternRewriter &rw) const override {
    if (g.getWeight()) return failure();
    Operation *d = g.getInput().getDefiningOp();
    auto gathered = [&](Value x) -> Value {
      if (!isTokenValue(x)) return x;
      return RouteGatherOp::create(rw, g.getLoc(), x.getType(), x, g.getRoute(), Value(), g.getMemoriesAttr(),
                                   g.getSlotsAttr());
    };
    if (auto b = dyn_cast_if_present<BinaryOp>(d)) {
      const bool zeroPreserving =
          b.getFn() == BinaryFn::mul || (b.getFn() == BinaryFn::div && !isTokenValue(b.getRhs()));
      if (!zeroPreserving) return failure();
      Value l = gathered(b.getLhs()), r = gathered(b.getRhs());
      rw.replaceOpWithNewOp<BinaryOp>(g, g.getType(), b.getFn(), l, r);
      return success();
    }
    // neg, and l2norm: a row-wise map (the gather moves whole rows) that keeps
    // a zero row zero, so the kernels can normalize in their loads.
    if (auto m = dyn_cast_if_present<MapOp>(d); m && (m.getFn() == UnaryFn::neg || m.getFn() == UnaryFn::l2norm)) {
      rw.replaceOpWithNewOp<MapOp>(g, g.getType(), m.getFn(), gathered(m.getInput()));
      return success();
    }
    return failure();
  }
};
} // namespace

void RouteGatherOp::getCanonicalizationPatterns(RewritePatternSet &patterns, MLIRContext *context) {
  patterns.add<GatherBeforeZeroPreserving>(context);
}
