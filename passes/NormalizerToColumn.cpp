// normalizer sum or max_abs -> v' = append_one(v), a plain recurrence over
// V + 1 value columns, and mixer.normalize (which applies eps and the scale).
#include "passes/Passes.h"
#include "dialect/RecurrenceParts.h"

namespace mixc {
#define GEN_PASS_DEF_MIXERNORMALIZERTOCOLUMN
#include "passes/Passes.h.inc"
} // namespace mixc

using namespace mlir;
using namespace mixc::mixer;

namespace {
struct NormalizerToColumn : mixc::impl::MixerNormalizerToColumnBase<NormalizerToColumn> {
  void runOnOperation() override {
    getOperation().walk([](RecurrenceOp op) {
      Normalizer norm = op.getNormalizerKind();
      if (norm != Normalizer::sum && norm != Normalizer::max_abs) return;
      OpBuilder b(op);
      Location loc = op.getLoc();
      mixc::RecurrenceParts parts(op);
      auto vType = cast<RankedTensorType>(op.getV().getType());
      int64_t V = vType.getDimSize(3);
      parts.v = MapOp::create(b, loc, mixc::withLastDim(vType, V + 1), UnaryFn::append_one, op.getV());
      parts.oType = mixc::withLastDim(op.getO().getType(), V + 1);
      parts.normalizer = nullptr;
      parts.eps = parts.scale = nullptr;
      auto plain = parts.build(b, loc);
      Value o = NormalizeOp::create(b, loc, op.getO().getType(), plain.getO(),
                                    norm == Normalizer::max_abs ? b.getUnitAttr() : UnitAttr(),
                                    b.getF64FloatAttr(op.getEpsValue()), b.getF64FloatAttr(op.getScaleValue()));
      op.getO().replaceAllUsesWith(o);
      op.getFinalState().replaceAllUsesWith(plain.getFinalState());
      op.erase();
    });
  }
};
} // namespace
