// A reverse recurrence -> flip_tokens of its per-token operands, the forward
// recurrence, flip_tokens of its output (targets whose chunked kernels scan
// forward only).
#include "passes/Passes.h"
#include "dialect/RecurrenceParts.h"

namespace mixc {
#define GEN_PASS_DEF_MIXERFLIPREVERSESCANS
#include "passes/Passes.h.inc"
} // namespace mixc

using namespace mlir;
using namespace mixc::mixer;

namespace {
bool perToken(Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  return t.getRank() >= 3 && ShapedType::isDynamic(t.getDimSize(1));
}

struct FlipReverseScans : mixc::impl::MixerFlipReverseScansBase<FlipReverseScans> {
  void runOnOperation() override {
    getOperation().walk([](RecurrenceOp op) {
      if (op.getDirection() != Direction::reverse || op->hasAttr("mixer.schedule")) return;
      OpBuilder b(op);
      Location loc = op.getLoc();
      llvm::DenseMap<Value, Value> flipped; // one flip per operand value
      auto flip = [&](Value v) -> Value {
        if (!v || !perToken(v)) return v;
        Value &f = flipped[v];
        if (!f) f = FlipTokensOp::create(b, loc, v.getType(), v);
        return f;
      };
      mixc::RecurrenceParts parts(op);
      parts.direction = Direction::forward;
      for (Value *x : {&parts.q, &parts.k, &parts.v, &parts.decay, &parts.dt, &parts.a, &parts.b, &parts.aScale,
                       &parts.kScale, &parts.igate, &parts.skipInput, &parts.skipWeight})
        *x = flip(*x);
      RecurrenceOp forward = parts.build(b, loc);
      forward->setDiscardableAttrs(op->getDiscardableAttrDictionary());
      op.getO().replaceAllUsesWith(FlipTokensOp::create(b, loc, forward.getO().getType(), forward.getO()).getResult());
      op.getFinalState().replaceAllUsesWith(forward.getFinalState());
      if (op.getFinalM()) op.getFinalM().replaceAllUsesWith(forward.getFinalM());
      op.erase();
    });
  }
};
} // namespace
