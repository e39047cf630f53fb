// A recurrence with the SSD or GLA chunk form -> the chunk-level ops (see Passes.td).
#include "passes/Passes.h"

namespace mixc {
#define GEN_PASS_DEF_MIXERLOWERCHUNKS
#include "passes/Passes.h.inc"
} // namespace mixc

using namespace mlir;
using namespace mixc::mixer;

namespace {

bool lowerable(RecurrenceOp op) {
  auto chunk = op->getAttrOfType<DictionaryAttr>("mixer.chunk");
  auto algorithm = chunk ? chunk.getAs<StringAttr>("algorithm") : StringAttr();
  return algorithm && (algorithm.getValue() == "ssd" || algorithm.getValue() == "gla") &&
         op.getDirection() == Direction::forward &&
         op.getNormalizerKind() == Normalizer::none && !op.getSkipWeight() && !op.getBonus() && !op.getIgate();
}

void lower(RecurrenceOp op) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  const int64_t C = op->getAttrOfType<DictionaryAttr>("mixer.chunk").getAs<IntegerAttr>("size").getInt();
  auto q = cast<RankedTensorType>(op.getQ().getType()), v = cast<RankedTensorType>(op.getV().getType());
  Type elem = q.getElementType();
  const int64_t B = q.getDimSize(0), T = q.getDimSize(1), H = q.getDimSize(2), K = q.getDimSize(3),
                V = v.getDimSize(3);
  Value G;
  if (Value decay = op.getDecay()) {
    if (op.hasFactorDecay()) // the chunk form sums logs
      decay = MapOp::create(b, loc, decay.getType(), UnaryFn::log, decay);
    // Per key for vector decays (GLA), per token for scalar ones.
    auto gType = op.getStructure() == Structure::vector ? RankedTensorType::get({B, T, H, K}, elem)
                                                         : RankedTensorType::get({B, T, H}, elem);
    G = ChunkCumsumOp::create(b, loc, gType, decay, op.getQ(), C);
  }
  auto scores = ChunkScoresOp::create(b, loc, RankedTensorType::get({B, T, H, C}, elem), op.getQ(), op.getK(), G, C);
  auto chunkStates = RankedTensorType::get({B, ShapedType::kDynamic, H, K, V}, elem);
  auto local = ChunkLocalStatesOp::create(b, loc, chunkStates, op.getK(), op.getV(), G, C);
  auto walk = ChunkWalkOp::create(b, loc, chunkStates, op.getFinalState().getType(), local, G, op.getInit(),
                                  b.getI64IntegerAttr(C));
  auto o = ChunkOutputOp::create(b, loc, op.getO().getType(), op.getQ(), op.getV(), G, scores, walk.getEntering(),
                                 b.getI64IntegerAttr(C),
                                 b.getF64FloatAttr(op.getScaleValue()));
  op.getO().replaceAllUsesWith(o.getO());
  op.getFinalState().replaceAllUsesWith(walk.getFinalState());
  op.erase();
}

struct LowerChunks : mixc::impl::MixerLowerChunksBase<LowerChunks> {
  void runOnOperation() override {
    SmallVector<RecurrenceOp> ops;
    getOperation().walk([&](RecurrenceOp op) {
      if (lowerable(op)) ops.push_back(op);
    });
    for (RecurrenceOp op : ops) lower(op);
  }
};

} // namespace
