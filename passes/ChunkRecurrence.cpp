// Picks the chunked algorithm per structure and records it in `mixer.chunk`.
#include "passes/Passes.h"

namespace mixc {
#define GEN_PASS_DEF_MIXERCHUNK
#include "passes/Passes.h.inc"
} // namespace mixc

using namespace mlir;
using namespace mixc::mixer;

namespace {
struct ChunkRecurrence : mixc::impl::MixerChunkBase<ChunkRecurrence> {
  using MixerChunkBase::MixerChunkBase;

  void runOnOperation() override {
    if (chunkSize < 1 || chunkSize > 256) {
      getOperation().emitError() << "mixer-chunk: chunk-size must be in [1, 256], got " << (int)chunkSize;
      return signalPassFailure();
    }
    getOperation().walk([&](RecurrenceOp op) {
      Structure s = op.getStructure();
      bool ssd = s == Structure::identity || s == Structure::const_scalar || s == Structure::scalar;
      bool gla = s == Structure::vector;
      // The UT form takes an identity or scalar diagonal (DeltaNet, Gated DeltaNet).
      bool ut = s == Structure::dplr &&
                (!op.getDecay() || cast<RankedTensorType>(op.getDecay().getType()).getRank() == 3);
      if ((!ssd && !gla && !ut) || op.getBonus() || op.getNormalizerKind() == Normalizer::mlstm) return;
      Builder b(op.getContext());
      SmallVector<NamedAttribute> attrs = {
          b.getNamedAttr("algorithm", b.getStringAttr(ssd ? "ssd" : gla ? "gla" : "ut")),
                                           b.getNamedAttr("size", b.getI64IntegerAttr(chunkSize))};
      // GLA's secondary chunking: a reference point per sub-block keeps the
      // factored exponents bounded (mixers.md).
      if (gla) attrs.push_back(b.getNamedAttr("sub_block", b.getI64IntegerAttr(16)));
      op->setAttr("mixer.chunk", b.getDictionaryAttr(attrs));
    });
  }
};
} // namespace
