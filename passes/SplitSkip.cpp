// o = R + D . x  ->  a recurrence without skip, then binary mul and add.
#include "passes/Passes.h"
#include "dialect/RecurrenceParts.h"

namespace mixc {
#define GEN_PASS_DEF_MIXERSPLITSKIP
#include "passes/Passes.h.inc"
} // namespace mixc

using namespace mlir;

namespace {
struct SplitSkip : mixc::impl::MixerSplitSkipBase<SplitSkip> {
  void runOnOperation() override {
    getOperation().walk([](mixc::mixer::RecurrenceOp op) {
      if (!op.getSkipWeight()) return;
      OpBuilder b(op);
      mixc::RecurrenceParts parts(op);
      parts.skipWeight = parts.skipInput = nullptr;
      auto plain = parts.build(b, op.getLoc());
      Type oType = op.getO().getType();
      Value dx = mixc::mixer::BinaryOp::create(b, op.getLoc(), oType, mixc::mixer::BinaryFn::mul, op.getSkipWeight(),
                                                 op.getSkipInput());
      Value o = mixc::mixer::BinaryOp::create(b, op.getLoc(), oType, mixc::mixer::BinaryFn::add, plain.getO(), dx);
      op.getO().replaceAllUsesWith(o);
      op.getFinalState().replaceAllUsesWith(plain.getFinalState());
      if (op.getFinalM()) op.getFinalM().replaceAllUsesWith(plain.getFinalM());
      op.erase();
    });
  }
};
} // namespace
