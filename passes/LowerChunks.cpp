// A recurrence with a chunk form (SSD, GLA, UT, scan) -> the chunk-level ops (see Passes.td).
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
  StringRef form = algorithm ? algorithm.getValue() : "";
  // A recurrence tiled for a target is lowered only where the target prints
  // that schedule's kernels from the chunk ops: the CPU's chunked SSD, GLA and
  // UT forms, CUDA's SSD and GLA forms (its UT form's tiles still name their
  // kernels). A recurrent schedule stays a recurrence.
  if (Attribute schedule = op->getAttr("mixer.schedule")) {
    auto cpu = dyn_cast<CpuTileAttr>(schedule);
    auto cuda = dyn_cast<CudaTileAttr>(schedule);
    const bool cpuChunked = cpu && (cpu.getAlgorithm() == CpuAlgorithm::chunked_ssd ||
                                    cpu.getAlgorithm() == CpuAlgorithm::chunked_gla ||
                                    cpu.getAlgorithm() == CpuAlgorithm::chunked_ut);
    const bool cudaChunked = cuda && op.getDirection() == Direction::forward &&
                             ((cuda.getAlgorithm() == CudaAlgorithm::chunked_gla && op.hasKeyDecay()) ||
                              (cuda.getAlgorithm() == CudaAlgorithm::chunked_ssd && !op.hasKeyDecay()));
    if (!cpuChunked && !cudaChunked) return false;
    // A mixture's scan on CUDA is printed from the recurrence (around its route ops).
    if (cuda && op->getParentOp()->walk([](RouteScatterOp) { return WalkResult::interrupt(); }).wasInterrupted())
      return false;
  }
  // The scan form sums dt per value column: without dt there is nothing to sum.
  if (form == "scan" && !op.getDt()) return false;
  // SSD and GLA run in either direction (the ops' `reverse`); UT and the scan forward.
  const bool reverseOk = form == "ssd" || form == "gla";
  return (form == "ssd" || form == "gla" || form == "ut" || form == "scan") &&
         (op.getDirection() == Direction::forward || reverseOk) && !op.getDecayedB() &&
         !op.getL2normQ() && !op.getL2normB() &&
         op.getNormalizerKind() == Normalizer::none && !op.getSkipWeight() && !op.getBonus() && !op.getIgate();
}

// The delta rules' UT form: the write vectors through the chunk's
// triangular system, then a walk with dense chunk transitions.
void lowerUt(RecurrenceOp op, OpBuilder &b, Value G, int64_t C) {
  Location loc = op.getLoc();
  auto q = cast<RankedTensorType>(op.getQ().getType()), v = cast<RankedTensorType>(op.getV().getType());
  Type elem = q.getElementType();
  const int64_t B = q.getDimSize(0), H = q.getDimSize(2), K = q.getDimSize(3), V = v.getDimSize(3);
  // The scaled forms as rows: a = a_scale b, the key k_scale k.
  Value a = op.getA(), k = op.getK();
  if (op.getAScale()) a = BinaryOp::create(b, loc, q, BinaryFn::mul, op.getB(), op.getAScale());
  if (op.getKScale()) k = BinaryOp::create(b, loc, q, BinaryFn::mul, k, op.getKScale());
  auto ut = ChunkUtOp::create(b, loc, q, v, a, op.getB(), k, op.getV(), G, b.getI64IntegerAttr(C));
  auto chunkStates = RankedTensorType::get({B, ShapedType::kDynamic, H, K, V}, elem);
  auto transitions = RankedTensorType::get({B, ShapedType::kDynamic, H, K, K}, elem);
  auto states = ChunkUtStatesOp::create(b, loc, chunkStates, transitions, a, k, op.getV(), ut.getP(), ut.getU(), G,
                                        b.getI64IntegerAttr(C));
  auto walk = ChunkWalkOp::create(b, loc, chunkStates, op.getFinalState().getType(), states.getLocal(), Value(),
                                  Value(), states.getTransition(), op.getInit(), b.getI64IntegerAttr(C));
  auto o = ChunkUtOutputOp::create(b, loc, op.getO().getType(), op.getQ(), a, k, op.getV(), ut.getP(), ut.getU(), G,
                                   walk.getEntering(), b.getI64IntegerAttr(C), b.getF64FloatAttr(op.getScaleValue()));
  if (Attribute schedule = op->getAttr("mixer.schedule")) walk->setAttr("mixer.schedule", schedule);
  op.getO().replaceAllUsesWith(o.getO());
  op.getFinalState().replaceAllUsesWith(walk.getFinalState());
  op.erase();
}

// Elementwise decays: chunks scanned from zero in parallel, the walk with
// elementwise chunk transitions, the read-outs corrected by the entering state.
void lowerScan(RecurrenceOp op, OpBuilder &b, int64_t C) {
  Location loc = op.getLoc();
  auto q = cast<RankedTensorType>(op.getQ().getType()), v = cast<RankedTensorType>(op.getV().getType());
  Type elem = q.getElementType();
  const int64_t B = q.getDimSize(0), T = q.getDimSize(1), H = q.getDimSize(2), K = q.getDimSize(3),
                V = v.getDimSize(3);
  Value dt = op.getDt(), rate = op.getDecay();
  if (op.hasFactorDecay()) { // S <- f . S: log f summed, rate 1
    dt = MapOp::create(b, loc, dt.getType(), UnaryFn::log, dt);
    auto one = RankedTensorType::get({}, elem);
    rate = ConstantOp::create(b, loc, DenseElementsAttr::get(one, b.getFloatAttr(elem, 1.0)));
  }
  auto D = ChunkCumsumOp::create(b, loc, RankedTensorType::get({B, T, H, V}, elem), dt, op.getQ(), C);
  auto chunkStates = RankedTensorType::get({B, ShapedType::kDynamic, H, K, V}, elem);
  auto local = ChunkScanLocalOp::create(b, loc, v, chunkStates, op.getQ(), op.getK(), op.getV(), D, rate,
                                        b.getI64IntegerAttr(C));
  auto walk = ChunkWalkOp::create(b, loc, chunkStates, op.getFinalState().getType(), local.getLocal(), D, rate,
                                  Value(), op.getInit(), b.getI64IntegerAttr(C));
  auto o = ChunkScanOutputOp::create(b, loc, op.getO().getType(), op.getQ(), local.getLocalO(), D, rate,
                                     walk.getEntering(), b.getI64IntegerAttr(C), b.getF64FloatAttr(op.getScaleValue()));
  op.getO().replaceAllUsesWith(o.getO());
  op.getFinalState().replaceAllUsesWith(walk.getFinalState());
  op.erase();
}

void lower(RecurrenceOp op) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  const int64_t C = op->getAttrOfType<DictionaryAttr>("mixer.chunk").getAs<IntegerAttr>("size").getInt();
  if (op.getStructure() == Structure::elementwise) return lowerScan(op, b, C);
  auto q = cast<RankedTensorType>(op.getQ().getType()), v = cast<RankedTensorType>(op.getV().getType());
  Type elem = q.getElementType();
  const int64_t B = q.getDimSize(0), T = q.getDimSize(1), H = q.getDimSize(2), K = q.getDimSize(3),
                V = v.getDimSize(3);
  Value G;
  if (Value decay = op.getDecay()) {
    if (op.hasFactorDecay()) // the chunk form sums logs
      decay = MapOp::create(b, loc, decay.getType(), UnaryFn::log, decay);
    // Per key for vector decays (GLA), per token for scalar ones.
    const bool perKey = op.hasKeyDecay();
    auto gType = perKey ? RankedTensorType::get({B, T, H, K}, elem) : RankedTensorType::get({B, T, H}, elem);
    G = ChunkCumsumOp::create(b, loc, gType, decay, op.getQ(), C, op.getDirection() == Direction::reverse);
  }
  if (op.getStructure() == Structure::dplr) return lowerUt(op, b, G, C);
  const bool reverse = op.getDirection() == Direction::reverse;
  auto scores =
      ChunkScoresOp::create(b, loc, RankedTensorType::get({B, T, H, C}, elem), op.getQ(), op.getK(), G, C, reverse);
  auto chunkStates = RankedTensorType::get({B, ShapedType::kDynamic, H, K, V}, elem);
  auto local = ChunkLocalStatesOp::create(b, loc, chunkStates, op.getK(), op.getV(), G, C, reverse);
  auto walk = ChunkWalkOp::create(b, loc, chunkStates, op.getFinalState().getType(), local, G, Value(), Value(),
                                  op.getInit(), b.getI64IntegerAttr(C), reverse ? b.getUnitAttr() : UnitAttr());
  auto o = ChunkOutputOp::create(b, loc, op.getO().getType(), op.getQ(), op.getV(), G, scores, walk.getEntering(),
                                 b.getI64IntegerAttr(C), b.getF64FloatAttr(op.getScaleValue()),
                                 reverse ? b.getUnitAttr() : UnitAttr());
  // The schedule the recurrence was tiled with goes on the walk, whose
  // tasks the printed kernel is made of.
  if (Attribute schedule = op->getAttr("mixer.schedule")) walk->setAttr("mixer.schedule", schedule);
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
