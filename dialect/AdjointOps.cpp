// Verifiers of the token and state ops that mixer-lower-adjoint writes
// (MixerAdjointOps.td).
#include "dialect/MixerOps.h"

using namespace mlir;
using namespace mixc::mixer;

namespace {
RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

// Two dimensions agree unless both are known and differ.
bool agree(int64_t a, int64_t b) { return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b; }

std::string shapeText(RankedTensorType t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.getRank(); ++i)
    s += (i ? ", " : "") + (t.isDynamicDim(i) ? std::string("?") : std::to_string(t.getDimSize(i)));
  return s + "]";
}

// Whether `from` broadcasts to `to` (left-aligned: a size-1 or missing
// trailing dimension of `from` broadcasts).
bool broadcastsTo(RankedTensorType from, ArrayRef<int64_t> to) {
  if (from.getRank() > (int64_t)to.size()) return false;
  for (int64_t i = 0; i < from.getRank(); ++i)
    if (from.getDimSize(i) != 1 && !agree(from.getDimSize(i), to[i])) return false;
  return true;
}
} // namespace

LogicalResult ShiftTokensOp::verify() {
  if (getBy() != 1 && getBy() != -1) return emitOpError() << "by must be 1 or -1, got " << getBy();
  RankedTensorType out = typeOf(getResult());
  if (out.getRank() < 3) return emitOpError() << "result expected [B, T, H, ...], got " << shapeText(out);
  if (typeOf(getInput()).getElementType() != out.getElementType())
    return emitOpError() << "input and result must share one element type";
  if (!broadcastsTo(typeOf(getInput()), out.getShape()))
    return emitOpError() << "input " << shapeText(typeOf(getInput())) << " does not broadcast to the result "
                         << shapeText(out);
  return success();
}

LogicalResult FlipTokensOp::verify() {
  RankedTensorType t = typeOf(getInput());
  if (t.getRank() < 3 || !ShapedType::isDynamic(t.getDimSize(1)))
    return emitOpError() << "input expected per-token [B, T, H, ...], got " << shapeText(t);
  return success();
}

LogicalResult TokenCumsumOp::verify() {
  RankedTensorType in = typeOf(getInput()), out = typeOf(getResult());
  if (in != out) return emitOpError() << "result must have the input's type";
  if (in.getRank() < 3) return emitOpError() << "input expected [B, T, H, ...], got " << shapeText(in);
  if (Value init = getInit()) {
    RankedTensorType t = typeOf(init);
    bool ok = t.getRank() == in.getRank() - 1 && t.getElementType() == in.getElementType() &&
              agree(t.getDimSize(0), in.getDimSize(0));
    for (int64_t i = 1; ok && i < t.getRank(); ++i) ok = agree(t.getDimSize(i), in.getDimSize(i + 1));
    if (!ok)
      return emitOpError() << "init expected the input without its time dimension, got " << shapeText(t)
                           << " for input " << shapeText(in);
  }
  return success();
}

LogicalResult EdgeTokenOp::verify() {
  RankedTensorType out = typeOf(getResult());
  if (out.getRank() < 2) return emitOpError() << "result expected [B, H, ...], got " << shapeText(out);
  if (typeOf(getInput()).getElementType() != out.getElementType())
    return emitOpError() << "input and result must share one element type";
  // The per-token shape the result comes from: [B, T, H, ...].
  SmallVector<int64_t> tokens(out.getShape());
  tokens.insert(tokens.begin() + 1, ShapedType::kDynamic);
  if (!broadcastsTo(typeOf(getInput()), tokens))
    return emitOpError() << "input " << shapeText(typeOf(getInput())) << " does not broadcast to [B, T, H, ...] of the result "
                         << shapeText(out);
  return success();
}

LogicalResult TransposeStateOp::verify() {
  RankedTensorType in = typeOf(getInput()), out = typeOf(getResult());
  if (in.getRank() != 4 || out.getRank() != 4 || in.getElementType() != out.getElementType() ||
      !agree(in.getDimSize(0), out.getDimSize(0)) || !agree(in.getDimSize(1), out.getDimSize(1)) ||
      !agree(in.getDimSize(2), out.getDimSize(3)) || !agree(in.getDimSize(3), out.getDimSize(2)))
    return emitOpError() << "expected [B, H, K, V] -> [B, H, V, K], got " << shapeText(in) << " -> " << shapeText(out);
  return success();
}

LogicalResult SumToOp::verify() {
  RankedTensorType in = typeOf(getInput()), out = typeOf(getResult());
  if (in.getElementType() != out.getElementType())
    return emitOpError() << "input and result must share one element type";
  if (!broadcastsTo(out, in.getShape()))
    return emitOpError() << "result " << shapeText(out) << " does not broadcast to the input " << shapeText(in);
  return success();
}
