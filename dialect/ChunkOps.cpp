// Verifiers of the chunk-level ops (MixerChunkOps.td).
#include "dialect/MixerOps.h"

using namespace mlir;
using namespace mixc::mixer;

namespace {
RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

// Two dimensions agree unless both are known and differ.
bool agree(int64_t a, int64_t b) { return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b; }

// `what` must have rank `rank`; `dims` pairs (its dimension, the size it must
// agree with).
LogicalResult expect(Operation *op, StringRef what, Value v, int64_t rank, StringRef layout,
                     std::initializer_list<std::pair<int64_t, int64_t>> dims = {}) {
  RankedTensorType t = typeOf(v);
  bool ok = t.getRank() == rank;
  for (auto [d, size] : dims) ok = ok && agree(t.getDimSize(d), size);
  if (ok) return success();
  std::string shape;
  for (int64_t i = 0; i < t.getRank(); ++i)
    shape += (i ? ", " : "") + (t.isDynamicDim(i) ? std::string("?") : std::to_string(t.getDimSize(i)));
  return op->emitOpError() << what << " expected " << layout << ", got [" << shape << "]";
}

// The cumulative decays: [B, T, H] (scalar) or [B, T, H, K] (vector, K = keys).
LogicalResult expectCumulative(Operation *op, Value G, int64_t H, int64_t K) {
  if (typeOf(G).getRank() == 4) return expect(op, "decay", G, 4, "[B, T, H, K]", {{2, H}, {3, K}});
  return expect(op, "decay", G, 3, "[B, T, H] or [B, T, H, K]", {{2, H}});
}

// A chunk op's chunk size, and its direction against the chunk ops it reads:
// chunks counted from the other end would not line up.
LogicalResult checkChunk(Operation *op, int64_t chunk) {
  if (chunk < 1) return op->emitOpError() << "chunk must be positive, got " << chunk;
  const bool reverse = op->hasAttr("reverse");
  for (Value x : op->getOperands()) {
    Operation *d = x.getDefiningOp();
    if (d && d->getName().getStringRef().starts_with("mixer.chunk_") && d->hasAttr("reverse") != reverse)
      return op->emitOpError() << "is " << (reverse ? "reverse" : "forward") << " but reads the "
                               << (reverse ? "forward" : "reverse") << " " << d->getName();
  }
  return success();
}
} // namespace

LogicalResult ChunkCumsumOp::verify() {
  Operation *op = getOperation();
  if (failed(checkChunk(op, getChunk()))) return failure();
  int64_t H = typeOf(getOver()).getRank() >= 3 ? typeOf(getOver()).getDimSize(2) : ShapedType::kDynamic;
  // Scalar decays [B, T, H] (or [1, 1, H]), vector decays [B, T, H, K].
  const int64_t rank = typeOf(getDecay()).getRank() == 4 ? 4 : 3;
  if (failed(expect(op, "decay", getDecay(), rank, "[B, T, H], [1, 1, H] or [B, T, H, K]", {{2, H}})) ||
      failed(expect(op, "over", getOver(), typeOf(getOver()).getRank() < 3 ? 3 : typeOf(getOver()).getRank(),
                    "a per-token tensor [B, T, H, ...]")) ||
      failed(expect(op, "result", getCumulative(), rank, rank == 4 ? "[B, T, H, K]" : "[B, T, H]",
                    {{0, typeOf(getOver()).getDimSize(0)}, {1, typeOf(getOver()).getDimSize(1)}, {2, H}})))
    return failure();
  return success();
}

LogicalResult ChunkScoresOp::verify() {
  Operation *op = getOperation();
  if (failed(checkChunk(op, getChunk()))) return failure();
  auto q = typeOf(getQ());
  if (failed(expect(op, "q", getQ(), 4, "[B, T, H, K]")) ||
      failed(expect(op, "k", getK(), 4, "[B, T, H, K] (q's)",
                    {{0, q.getDimSize(0)}, {1, q.getDimSize(1)}, {2, q.getDimSize(2)}, {3, q.getDimSize(3)}})))
    return failure();
  if (getCumulative() && failed(expectCumulative(op, getCumulative(), q.getDimSize(2), q.getDimSize(3))))
    return failure();
  return expect(op, "result", getScores(), 4, "[B, T, H, chunk]",
                {{1, q.getDimSize(1)}, {2, q.getDimSize(2)}, {3, getChunk()}});
}

LogicalResult ChunkLocalStatesOp::verify() {
  Operation *op = getOperation();
  if (failed(checkChunk(op, getChunk()))) return failure();
  auto k = typeOf(getK()), v = typeOf(getV());
  if (failed(expect(op, "k", getK(), 4, "[B, T, H, K]")) ||
      failed(expect(op, "v", getV(), 4, "[B, T, H, V]", {{2, k.getDimSize(2)}})))
    return failure();
  if (getCumulative() && failed(expectCumulative(op, getCumulative(), k.getDimSize(2), k.getDimSize(3))))
    return failure();
  return expect(op, "result", getLocal(), 5, "[B, NC, H, K, V]",
                {{2, k.getDimSize(2)}, {3, k.getDimSize(3)}, {4, v.getDimSize(3)}});
}

LogicalResult ChunkWalkOp::verify() {
  Operation *op = getOperation();
  if (failed(checkChunk(op, getChunk()))) return failure();
  auto u = typeOf(getLocal());
  if (failed(expect(op, "local states", getLocal(), 5, "[B, NC, H, K, V]"))) return failure();
  if (getCumulative() && getTransition())
    return emitOpError() << "takes a decay or a transition, not both";
  if (getRate() && !getCumulative())
    return emitOpError() << "an elementwise rate needs the cumulative dt (decay)";
  if (getReverse() && (getRate() || getTransition()))
    return emitOpError() << "reverse walks take a scalar or per-key decay only (the UT and scan forms are forward)";
  if (getRate()) { // elementwise: D per value column
    if (failed(expect(op, "decay", getCumulative(), 4, "[B, T, H, V]", {{2, u.getDimSize(2)}, {3, u.getDimSize(4)}})))
      return failure();
  } else if (getCumulative() && failed(expectCumulative(op, getCumulative(), u.getDimSize(2), u.getDimSize(3)))) {
    return failure();
  }
  if (getTransition() &&
      failed(expect(op, "transition", getTransition(), 5, "[B, NC, H, K, K]",
                    {{2, u.getDimSize(2)}, {3, u.getDimSize(3)}, {4, u.getDimSize(3)}})))
    return failure();
  if (getInit() &&
      failed(expect(op, "init", getInit(), 4, "[B, H, K, V]",
                    {{1, u.getDimSize(2)}, {2, u.getDimSize(3)}, {3, u.getDimSize(4)}})))
    return failure();
  if (getEntering().getType() != getLocal().getType())
    return emitOpError() << "the entering states must have the local states' type " << getLocal().getType();
  return expect(op, "final state", getFinalState(), 4, "[B, H, K, V]",
                {{1, u.getDimSize(2)}, {2, u.getDimSize(3)}, {3, u.getDimSize(4)}});
}

LogicalResult ChunkOutputOp::verify() {
  Operation *op = getOperation();
  if (failed(checkChunk(op, getChunk()))) return failure();
  auto q = typeOf(getQ()), v = typeOf(getV());
  if (failed(expect(op, "q", getQ(), 4, "[B, T, H, K]")) ||
      failed(expect(op, "v", getV(), 4, "[B, T, H, V]", {{2, q.getDimSize(2)}})) ||
      failed(expect(op, "scores", getScores(), 4, "[B, T, H, chunk]", {{2, q.getDimSize(2)}, {3, getChunk()}})) ||
      failed(expect(op, "states", getEntering(), 5, "[B, NC, H, K, V]",
                    {{2, q.getDimSize(2)}, {3, q.getDimSize(3)}, {4, v.getDimSize(3)}})))
    return failure();
  if (getCumulative() && failed(expectCumulative(op, getCumulative(), q.getDimSize(2), q.getDimSize(3))))
    return failure();
  return expect(op, "result", getO(), 4, "[B, T, H, V]", {{2, q.getDimSize(2)}, {3, v.getDimSize(3)}});
}

LogicalResult ChunkUtOp::verify() {
  Operation *op = getOperation();
  if (failed(checkChunk(op, getChunk()))) return failure();
  auto k = typeOf(getK());
  const int64_t H = k.getDimSize(2), K = k.getDimSize(3);
  for (auto [name, x] : {std::pair{"a", getA()}, std::pair{"b", getB()}, std::pair{"k", getK()}})
    if (failed(expect(op, name, x, 4, "[B, T, H, K]", {{2, H}, {3, K}}))) return failure();
  if (failed(expect(op, "v", getV(), 4, "[B, T, H, V]", {{2, H}}))) return failure();
  if (getCumulative() && failed(expectCumulative(op, getCumulative(), H, K))) return failure();
  if (getP().getType() != getK().getType())
    return emitOpError() << "p must have k's type " << getK().getType();
  if (getU().getType() != getV().getType())
    return emitOpError() << "u must have v's type " << getV().getType();
  return success();
}

LogicalResult ChunkUtStatesOp::verify() {
  Operation *op = getOperation();
  if (failed(checkChunk(op, getChunk()))) return failure();
  auto k = typeOf(getK()), v = typeOf(getV());
  const int64_t H = k.getDimSize(2), K = k.getDimSize(3), V = v.getDimSize(3);
  if (getA().getType() != getK().getType() || getP().getType() != getK().getType() ||
      getU().getType() != getV().getType())
    return emitOpError() << "a and p must have k's type, u v's";
  if (getCumulative() && failed(expectCumulative(op, getCumulative(), H, K))) return failure();
  if (failed(expect(op, "local states", getLocal(), 5, "[B, NC, H, K, V]", {{2, H}, {3, K}, {4, V}})))
    return failure();
  return expect(op, "transition", getTransition(), 5, "[B, NC, H, K, K]", {{2, H}, {3, K}, {4, K}});
}

LogicalResult ChunkUtOutputOp::verify() {
  Operation *op = getOperation();
  if (failed(checkChunk(op, getChunk()))) return failure();
  auto k = typeOf(getK()), v = typeOf(getV());
  const int64_t H = k.getDimSize(2), K = k.getDimSize(3), V = v.getDimSize(3);
  if (getQ().getType() != getK().getType() || getA().getType() != getK().getType() ||
      getP().getType() != getK().getType() || getU().getType() != getV().getType())
    return emitOpError() << "q, a and p must have k's type, u v's";
  if (getCumulative() && failed(expectCumulative(op, getCumulative(), H, K))) return failure();
  if (failed(expect(op, "states", getEntering(), 5, "[B, NC, H, K, V]", {{2, H}, {3, K}, {4, V}})))
    return failure();
  return expect(op, "result", getO(), 4, "[B, T, H, V]", {{2, H}, {3, V}});
}

namespace {
// An elementwise rate: rank 0 or [1, 1, H, K, V].
LogicalResult expectRate(Operation *op, Value rate, int64_t H, int64_t K, int64_t V) {
  if (typeOf(rate).getRank() == 0) return success();
  return expect(op, "rate", rate, 5, "[1, 1, H, K, V] or a scalar", {{0, 1}, {1, 1}, {2, H}, {3, K}, {4, V}});
}
} // namespace

LogicalResult ChunkScanLocalOp::verify() {
  Operation *op = getOperation();
  if (failed(checkChunk(op, getChunk()))) return failure();
  auto k = typeOf(getK()), v = typeOf(getV());
  const int64_t H = k.getDimSize(2), K = k.getDimSize(3), V = v.getDimSize(3);
  if (getQ().getType() != getK().getType()) return emitOpError() << "q must have k's type " << getK().getType();
  if (failed(expect(op, "decay", getCumulative(), 4, "[B, T, H, V]", {{2, H}, {3, V}})) ||
      failed(expectRate(op, getRate(), H, K, V)))
    return failure();
  if (getLocalO().getType() != getV().getType())
    return emitOpError() << "the local read-out must have v's type " << getV().getType();
  return expect(op, "local states", getLocal(), 5, "[B, NC, H, K, V]", {{2, H}, {3, K}, {4, V}});
}

LogicalResult ChunkScanOutputOp::verify() {
  Operation *op = getOperation();
  if (failed(checkChunk(op, getChunk()))) return failure();
  auto q = typeOf(getQ()), lo = typeOf(getLocalO());
  const int64_t H = q.getDimSize(2), K = q.getDimSize(3), V = lo.getDimSize(3);
  if (failed(expect(op, "decay", getCumulative(), 4, "[B, T, H, V]", {{2, H}, {3, V}})) ||
      failed(expectRate(op, getRate(), H, K, V)) ||
      failed(expect(op, "states", getEntering(), 5, "[B, NC, H, K, V]", {{2, H}, {3, K}, {4, V}})))
    return failure();
  if (getO().getType() != getLocalO().getType())
    return emitOpError() << "the output must have the local read-out's type " << getLocalO().getType();
  return success();
}
