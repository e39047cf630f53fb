// Verifiers of the Mixture-of-Memories ops (MixerRouteOps.td).
#include "dialect/MixerOps.h"

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
  if (in.getRank() < 4 || out.getRank() != in.getRank() - 1)
    return emitOpError() << "expects [B, T, k, H, ...] -> [B, T * k, H, ...]";
  for (int64_t i = 3; i < in.getRank(); ++i)
    if (!agree(in.getDimSize(i), out.getDimSize(i - 1)))
      return emitOpError() << "dimension " << i << " of the input differs from dimension " << i - 1 << " of the result";
  return success();
}

LogicalResult RouteGatherOp::verify() {
  if (failed(verifyRoute(*this, getRoute(), getMemories()))) return failure();
  if (!sameRows(typeOf(getInput()), typeOf(getResult())))
    return emitOpError() << "the result's rows must have the input's shape past [B, T]";
  return success();
}

LogicalResult RouteScatterOp::verify() {
  if (failed(verifyRoute(*this, getRoute(), getMemories()))) return failure();
  if (!sameRows(typeOf(getInput()), typeOf(getResult())))
    return emitOpError() << "the result's rows must have the input's shape past [B * M, L]";
  auto r = typeOf(getRoute()), w = typeOf(getWeight());
  if (w.getRank() != 3 || !agree(w.getDimSize(2), r.getDimSize(2)))
    return emitOpError() << "weight must be [B, T, k] like route";
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
