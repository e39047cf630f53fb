// Picks the chunked algorithm per structure and records it in `mixer.chunk`.
#include "passes/Passes.h"

namespace mixc {
#define GEN_PASS_DEF_MIXERCHUNK
#include "passes/Passes.h.inc"
} // namespace mixc

using namespace mlir;
using namespace mixc::mixer;

namespace {
// Whether every element of v is > 0 by construction (exp, sigmoid, softplus,
// positive constants, and sums, products and quotients of those).
bool provablyPositive(Value v) {
  Operation *d = v.getDefiningOp();
  if (auto m = dyn_cast_if_present<MapOp>(d))
    return m.getFn() == UnaryFn::exp || m.getFn() == UnaryFn::sigmoid || m.getFn() == UnaryFn::softplus;
  if (auto b = dyn_cast_if_present<BinaryOp>(d)) {
    BinaryFn f = b.getFn();
    return (f == BinaryFn::add || f == BinaryFn::mul || f == BinaryFn::div || f == BinaryFn::max ||
            f == BinaryFn::min) &&
           provablyPositive(b.getLhs()) && provablyPositive(b.getRhs());
  }
  if (auto c = dyn_cast_if_present<ConstantOp>(d))
    if (auto dense = dyn_cast<DenseFPElementsAttr>(c.getValue()))
      return llvm::all_of(dense.getValues<APFloat>(), [](const APFloat &x) { return !x.isNegative() && !x.isZero() && !x.isNaN(); });
  return false;
}

// A factor decay (decay_form factor) that may be negative, as in Mamba with
// decays in (-1, 1): the chunked forms run on cumulative log-decays, which
// such a decay does not have, so the exact token-by-token recurrence keeps it.
bool signedDecay(RecurrenceOp op) {
  if (!op.hasFactorDecay()) return false;
  return !provablyPositive(op.getStructure() == Structure::elementwise ? op.getDt() : op.getDecay());
}

struct ChunkRecurrence : mixc::impl::MixerChunkBase<ChunkRecurrence> {
  using MixerChunkBase::MixerChunkBase;

  void runOnOperation() override {
    if (chunkSize < 1 || chunkSize > 256) {
      getOperation().emitError() << "mixer-chunk: chunk-size must be in [1, 256], got " << (int)chunkSize;
      return signalPassFailure();
    }
    getOperation().walk([&](RecurrenceOp op) {
      if (op->hasAttr("mixer.schedule")) return; // tiled already: its chunking was decided
      Structure s = op.getStructure();
      bool ssd = s == Structure::identity || s == Structure::const_scalar || s == Structure::scalar;
      bool gla = s == Structure::vector;
      // Elementwise decays (Mamba-1) have no matrix form: the chunked scan
      // splits the sequence into chunks that are scanned from a zero state in
      // parallel, then corrected with the state entering each chunk (the
      // transition of a chunk is elementwise too: exp of the summed exponents).
      bool scan = s == Structure::elementwise;
      // The UT form: any diagonal (DeltaNet, Gated DeltaNet; KDA and RWKV-7
      // with a vector one, whose chunk form so far exists as IR only:
      // mixer-lower-chunks, no kernel).
      bool ut = s == Structure::dplr;
      if ((!ssd && !gla && !ut && !scan) || op.getBonus() || op.getNormalizerKind() == Normalizer::mlstm || signedDecay(op))
        return;
      Builder b(op.getContext());
      SmallVector<NamedAttribute> attrs = {
          b.getNamedAttr("algorithm", b.getStringAttr(ssd ? "ssd" : gla ? "gla" : scan ? "scan" : "ut")),
          b.getNamedAttr("size", b.getI64IntegerAttr(chunkSize))};
      // GLA's secondary chunking: a reference point per sub-block keeps the
      // factored exponents bounded (docs/cpu-backend.md).
      if (gla) attrs.push_back(b.getNamedAttr("sub_block", b.getI64IntegerAttr(16)));
      op->setAttr("mixer.chunk", b.getDictionaryAttr(attrs));
    });
  }
};
} // namespace
