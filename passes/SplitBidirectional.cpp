// bidirectional -> fwd + rev - scale (q . k) v (k_scale (q . k) v in the scaled
// low-rank form): the token's own write is in both scans and must be counted
// once (LION).
#include "passes/Passes.h"
#include "dialect/RecurrenceParts.h"

namespace mixc {
#define GEN_PASS_DEF_MIXERSPLITBIDIRECTIONAL
#include "passes/Passes.h.inc"
} // namespace mixc

using namespace mlir;
using namespace mixc::mixer;

namespace {
struct SplitBidirectional : mixc::impl::MixerSplitBidirectionalBase<SplitBidirectional> {
  void runOnOperation() override {
    getOperation().walk([&](RecurrenceOp op) {
      if (op.getDirection() != Direction::bidirectional) return;
      if (op.getNormalizerKind() != Normalizer::none || op.getSkipWeight()) {
        op.emitOpError() << "split the skip and the normalizer before the directions";
        return signalPassFailure();
      }
      OpBuilder b(op);
      Location loc = op.getLoc();
      mixc::RecurrenceParts parts(op);
      parts.direction = Direction::forward;
      auto fwd = parts.build(b, loc);
      parts.direction = Direction::reverse;
      auto rev = parts.build(b, loc);
      auto oType = cast<RankedTensorType>(op.getO().getType());
      auto qType = cast<RankedTensorType>(op.getQ().getType());
      auto scalarType = RankedTensorType::get(qType.getShape().drop_back(), qType.getElementType());
      Value qk = BinaryOp::create(b, loc, scalarType, BinaryFn::dot, op.getQ(), op.getK());
      // The scaled low-rank form writes k_scale k v^T (a delta rule's beta k).
      if (Value kScale = op.getKScale()) qk = BinaryOp::create(b, loc, scalarType, BinaryFn::mul, qk, kScale);
      Value self = BinaryOp::create(b, loc, oType, BinaryFn::mul, op.getV(), qk);
      auto scalar = RankedTensorType::get({}, qType.getElementType());
      APFloat s(op.getScaleValue());
      bool lost;
      s.convert(cast<FloatType>(qType.getElementType()).getFloatSemantics(), APFloat::rmNearestTiesToEven, &lost);
      Value scale = ConstantOp::create(b, loc, DenseElementsAttr::get(scalar, s));
      Value selfScaled = BinaryOp::create(b, loc, oType, BinaryFn::mul, self, scale);
      Value sum = BinaryOp::create(b, loc, oType, BinaryFn::add, fwd.getO(), rev.getO());
      Value o = BinaryOp::create(b, loc, oType, BinaryFn::sub, sum, selfScaled);
      op.getO().replaceAllUsesWith(o);
      op.getFinalState().replaceAllUsesWith(fwd.getFinalState());
      op.erase();
    });
  }
};
} // namespace
