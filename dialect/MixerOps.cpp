#include "dialect/MixerOps.h"

#include "runtime/reference/Array.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mixc::mixer;

#include "dialect/MixerDialect.cpp.inc"
#include "dialect/MixerEnums.cpp.inc"
#define GET_ATTRDEF_CLASSES
#include "dialect/MixerAttrs.cpp.inc"

void MixerDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialect/MixerAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialect/MixerOps.cpp.inc"
      >();
}

// The low-rank term of a DPLR transition: `lowrank(%a, %b)`, or in the scaled
// form a = s * b, `lowrank(%s * %b)`.
static OptionalParseResult parseLowRank(OpAsmParser &parser, std::optional<OpAsmParser::UnresolvedOperand> &a,
                                std::optional<OpAsmParser::UnresolvedOperand> &aScale,
                                std::optional<OpAsmParser::UnresolvedOperand> &b) {
  if (failed(parser.parseOptionalKeyword("lowrank"))) return std::nullopt;
  OpAsmParser::UnresolvedOperand first, second;
  if (parser.parseLParen() || parser.parseOperand(first)) return failure();
  bool scaled = succeeded(parser.parseOptionalStar());
  if ((!scaled && parser.parseComma()) || parser.parseOperand(second) || parser.parseRParen()) return failure();
  (scaled ? aScale : a) = first;
  b = second;
  return ParseResult(success());
}

static void printLowRank(OpAsmPrinter &p, Operation *, Value a, Value aScale, Value b) {
  if (!b) return;
  p << "lowrank(";
  if (aScale) p << aScale << " * " << b;
  else p << a << ", " << b;
  p << ")";
}

#define GET_OP_CLASSES
#include "dialect/MixerOps.cpp.inc"

Operation *MixerDialect::materializeConstant(OpBuilder &builder, Attribute value, Type type, Location loc) {
  auto elements = dyn_cast<ElementsAttr>(value);
  if (!elements || elements.getType() != type) return nullptr;
  return ConstantOp::create(builder, loc, elements);
}

// Constant folding reuses the reference's float64 pointwise functions, so
// folded and interpreted values agree exactly.
namespace {
std::optional<mixc::ref::Array> toArray(Attribute attr) {
  auto dense = dyn_cast_if_present<DenseFPElementsAttr>(attr);
  if (!dense) return std::nullopt;
  ArrayRef<int64_t> shape = dense.getType().getShape();
  mixc::ref::Array a(std::vector<int64_t>(shape.begin(), shape.end()));
  int64_t i = 0;
  for (APFloat v : dense.getValues<APFloat>()) a.data[i++] = v.convertToDouble() ;
  if (dense.isSplat()) std::fill(a.data.begin(), a.data.end(), a.data.empty() ? 0.0 : a.data[0]);
  return a;
}

Attribute toAttr(const mixc::ref::Array &a, Type type) {
  auto t = cast<RankedTensorType>(type);
  if (!t.hasStaticShape() || (int64_t)a.data.size() != t.getNumElements()) return {};
  const llvm::fltSemantics &sem = cast<FloatType>(t.getElementType()).getFloatSemantics();
  SmallVector<APFloat> values;
  for (double d : a.data) {
    APFloat v(d);
    bool lost;
    v.convert(sem, APFloat::rmNearestTiesToEven, &lost);
    values.push_back(v);
  }
  return DenseElementsAttr::get(t, values);
}
} // namespace

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }

ParseResult ConstantOp::parse(OpAsmParser &parser, OperationState &result) {
  ElementsAttr value;
  if (parser.parseOptionalAttrDict(result.attributes) || parser.parseAttribute(value, "value", result.attributes))
    return failure();
  result.addTypes(value.getType());
  return success();
}

void ConstantOp::print(OpAsmPrinter &p) {
  p.printOptionalAttrDict((*this)->getAttrs(), {"value"});
  p << ' ' << getValue();
}

OpFoldResult HeadIndexOp::fold(FoldAdaptor) {
  auto t = cast<RankedTensorType>(getType());
  mixc::ref::Array a({1, 1, t.getDimSize(2)});
  for (size_t i = 0; i < a.data.size(); ++i) a.data[i] = (double)i;
  return toAttr(a, t);
}

OpFoldResult MapOp::fold(FoldAdaptor adaptor) {
  auto in = toArray(adaptor.getInput());
  mixc::ref::Array out;
  if (!in || !mixc::ref::applyUnary(stringifyUnaryFn(getFn()).str(), *in, out)) return {};
  return toAttr(out, getType());
}

OpFoldResult BinaryOp::fold(FoldAdaptor adaptor) {
  auto l = toArray(adaptor.getLhs()), r = toArray(adaptor.getRhs());
  mixc::ref::Array out;
  if (!l || !r || !mixc::ref::applyBinary(stringifyBinaryFn(getFn()).str(), *l, *r, out)) return {};
  return toAttr(out, getType());
}

namespace {
constexpr int64_t kAny = ShapedType::kDynamic;

struct ExpectedDim {
  const char *name; // symbolic name for the message: "B", "T", "K", "1"...
  int64_t size;     // kAny when unknown
};

std::string formatShape(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, d] : llvm::enumerate(shape)) {
    if (i) s += ", ";
    s += ShapedType::isDynamic(d) ? std::string("?") : std::to_string(d);
  }
  return s + "]";
}

// Checks `type` against the expected symbolic shape; the message names the
// operand, the expected and the actual shape.
LogicalResult expectShape(Operation *op, StringRef what, Type type,
                          ArrayRef<ExpectedDim> expected) {
  auto ranked = cast<RankedTensorType>(type);
  bool ok = ranked.getRank() == (int64_t)expected.size();
  for (size_t i = 0; ok && i < expected.size(); ++i) {
    int64_t got = ranked.getDimSize(i), want = expected[i].size;
    if (!ShapedType::isDynamic(got) && want != kAny && got != want) ok = false;
  }
  if (ok) return success();
  std::string names = "[", sizes = "[";
  for (auto [i, d] : llvm::enumerate(expected)) {
    if (i) { names += ", "; sizes += ", "; }
    names += d.name;
    sizes += d.size == kAny ? std::string("?") : std::to_string(d.size);
  }
  return op->emitOpError() << what << " expected shape " << names << "] = " << sizes
                           << "], got " << formatShape(ranked.getShape());
}

int64_t dimOf(Value v, unsigned i) {
  auto t = cast<RankedTensorType>(v.getType());
  return i < t.getRank() ? t.getDimSize(i) : kAny;
}
} // namespace

// The recurrence's operands and attributes, shared by `mixer.recurrence` and
// its adjoint `mixer.recurrence_grad` (whose o and final state are the
// upstream gradients' types, either possibly absent, and which has no final_m).
template <typename OpT>
static LogicalResult verifyRecurrence(OpT self, Value o, Value finalState, std::optional<Value> finalM) {
  Operation *op = self.getOperation();
  auto qType = cast<RankedTensorType>(self.getQ().getType());
  Type elem = qType.getElementType();
  for (Value v : op->getOperands())
    if (cast<RankedTensorType>(v.getType()).getElementType() != elem)
      return self.emitOpError() << "operands must share one element type: q has " << elem
                           << ", another operand has "
                           << cast<RankedTensorType>(v.getType()).getElementType();
  for (Value v : op->getResults())
    if (cast<RankedTensorType>(v.getType()).getElementType() != elem)
      return self.emitOpError() << "results must have the element type of q (" << elem << ")";
  if (qType.getRank() != 4)
    return self.emitOpError() << "q expected shape [B, T, H, K], got " << formatShape(qType.getShape());
  if (cast<RankedTensorType>(self.getV().getType()).getRank() != 4)
    return self.emitOpError() << "v expected shape [B, T, H, V], got "
                         << formatShape(cast<RankedTensorType>(self.getV().getType()).getShape());

  ExpectedDim B{"B", dimOf(self.getQ(), 0)}, T{"T", dimOf(self.getQ(), 1)}, H{"H", dimOf(self.getQ(), 2)},
      K{"K", dimOf(self.getQ(), 3)}, V{"V", dimOf(self.getV(), 3)}, one{"1", 1};
  Normalizer norm = self.getNormalizerKind();
  ExpectedDim Vs = V;
  if (norm != Normalizer::none) Vs = {"V+1", V.size == kAny ? kAny : V.size + 1};

  if (failed(expectShape(op, "k", self.getK().getType(), {B, T, H, K})) ||
      failed(expectShape(op, "v", self.getV().getType(), {B, T, H, V})))
    return failure();

  Structure s = self.getStructure();
  StringRef sName = stringifyStructure(s);
  auto forbid = [&](Value v, StringRef what) -> LogicalResult {
    if (v) return self.emitOpError() << "operand '" << what << "' is not allowed with structure " << sName;
    return success();
  };
  auto require = [&](Value v, StringRef what) -> LogicalResult {
    if (!v) return self.emitOpError() << "structure " << sName << " requires operand '" << what << "'";
    return success();
  };
  if (s != Structure::elementwise && failed(forbid(self.getDt(), "dt"))) return failure();
  if (s != Structure::dplr && (failed(forbid(self.getA(), "a")) || failed(forbid(self.getB(), "b"))))
    return failure();

  switch (s) {
  case Structure::identity:
    if (failed(forbid(self.getDecay(), "decay"))) return failure();
    break;
  case Structure::const_scalar:
    if (failed(require(self.getDecay(), "decay")))
      return failure();
    // A rank-0 decay is one constant for all heads.
    if (cast<RankedTensorType>(self.getDecay().getType()).getRank() != 0 &&
        failed(expectShape(op, "decay", self.getDecay().getType(), {one, one, H})))
      return failure();
    break;
  case Structure::scalar:
    if (failed(require(self.getDecay(), "decay")) ||
        failed(expectShape(op, "decay", self.getDecay().getType(), {B, T, H})))
      return failure();
    break;
  case Structure::vector:
    if (failed(require(self.getDecay(), "decay")) ||
        failed(expectShape(op, "decay", self.getDecay().getType(), {B, T, H, K})))
      return failure();
    break;
  case Structure::elementwise:
    if (self.hasFactorDecay()) {
      // S <- dt_t . S: the factor is dt itself.
      if (failed(forbid(self.getDecay(), "decay (the factor is dt)")) || failed(require(self.getDt(), "dt")))
        return failure();
    } else if (failed(require(self.getDecay(), "decay"))) {
      return failure();
    }
    // A rank-0 decay is the same rate everywhere (HGRN: all of it is in dt).
    if (self.getDecay() && cast<RankedTensorType>(self.getDecay().getType()).getRank() != 0 &&
        failed(expectShape(op, "decay", self.getDecay().getType(), {one, one, H, K, V})))
      return failure();
    if (self.getDt() && failed(expectShape(op, "dt", self.getDt().getType(), {B, T, H, V})))
      return failure();
    break;
  case Structure::dplr: {
    if (failed(require(self.getB(), "b")) || failed(expectShape(op, "b", self.getB().getType(), {B, T, H, K})))
      return failure();
    if ((bool)self.getA() == (bool)self.getAScale())
      return self.emitOpError() << "structure dplr takes one of operand 'a' or 'a_scale' (a = a_scale * b)";
    if (self.getA() && failed(expectShape(op, "a", self.getA().getType(), {B, T, H, K})))
      return failure();
    if (self.getAScale() && failed(expectShape(op, "a_scale", self.getAScale().getType(), {B, T, H})))
      return failure();
    if (!self.getDiag())
      return self.emitOpError() << "structure dplr requires attribute 'diag' (none, scalar or vector)";
    DiagKind diag = self.getDiagKind();
    if (diag == DiagKind::none && self.getDecay())
      return self.emitOpError() << "diag none takes no decay operand";
    if (diag != DiagKind::none && failed(require(self.getDecay(), "decay")))
      return failure();
    if (diag == DiagKind::scalar && failed(expectShape(op, "decay", self.getDecay().getType(), {B, T, H})))
      return failure();
    if (diag == DiagKind::vector && failed(expectShape(op, "decay", self.getDecay().getType(), {B, T, H, K})))
      return failure();
    break;
  }
  }
  if (s != Structure::dplr) {
    if (self.getDiag())
      return self.emitOpError() << "attribute 'diag' is only allowed with structure dplr";
    if (failed(forbid(self.getAScale(), "a_scale")) || failed(forbid(self.getKScale(), "k_scale")))
      return failure();
  }
  if (self.getKScale() && failed(expectShape(op, "k_scale", self.getKScale().getType(), {B, T, H})))
    return failure();
  if (self.getDecayedB() && (s != Structure::dplr || self.getDiagKind() != DiagKind::vector || self.hasFactorDecay()))
    return self.emitOpError() << "decayed_b needs structure dplr with a vector diagonal of log-decays";
  if ((self.getL2normQ() || self.getL2normB()) && !self.isScaledWithKeyB()) // a_scale: dplr only
    return self.emitOpError() << (self.getL2normQ() ? "l2norm_q" : "l2norm_b")
                              << " needs structure dplr in the scaled low-rank form with k = b (a vector diagonal "
                                 "with decayed_b)";
  if (self.hasFactorDecay()) {
    if (s == Structure::identity || s == Structure::const_scalar)
      return self.emitOpError() << "decay_form factor needs a per-token decay, not structure " << sName;
    if (s == Structure::dplr && self.getDiagKind() == DiagKind::none)
      return self.emitOpError() << "decay_form factor needs a decay operand (diag none has none)";
    if (self.getNormalizerKind() == Normalizer::mlstm)
      return self.emitOpError() << "normalizer mlstm needs decay_form log (its stabilizer adds log-decays)";
  }

  Direction dir = self.getDirection();
  if (dir == Direction::bidirectional) {
    if (self.getInit()) return self.emitOpError() << "an initial state is not allowed with direction bidirectional";
    if (self.getBonus()) return self.emitOpError() << "a bonus is not allowed with direction bidirectional";
    if (norm == Normalizer::mlstm)
      return self.emitOpError() << "normalizer mlstm is not allowed with direction bidirectional";
  }
  if (norm != Normalizer::none && s == Structure::elementwise)
    return self.emitOpError() << "a normalizer is not defined for structure elementwise";
  if (self.getEps() && norm != Normalizer::sum && norm != Normalizer::max_abs)
    return self.emitOpError() << "eps is only allowed with normalizers sum and max_abs";
  if (norm == Normalizer::max_abs && !(self.getEpsValue() > 0))
    return self.emitOpError() << "normalizer max_abs needs eps > 0 (the floor of |z^T q|), got " << self.getEpsValue();
  bool mlstm = norm == Normalizer::mlstm;
  if (mlstm && s != Structure::scalar && s != Structure::const_scalar && s != Structure::identity)
    return self.emitOpError() << "normalizer mlstm needs a scalar transition, got structure " << sName;
  if (mlstm != (bool)self.getIgate())
    return self.emitOpError() << (mlstm ? "normalizer mlstm requires operand 'igate'"
                                   : "operand 'igate' is only allowed with normalizer mlstm");
  if (finalM && mlstm != (bool)*finalM)
    return self.emitOpError() << (mlstm ? "normalizer mlstm requires result 'final_m'"
                                        : "result 'final_m' is only allowed with normalizer mlstm");
  if (self.getInitM() && !mlstm)
    return self.emitOpError() << "operand 'init_m' is only allowed with normalizer mlstm";
  if (self.getInitM() && !self.getInit())
    return self.emitOpError() << "operand 'init_m' requires operand 'init'";
  if (mlstm && failed(expectShape(op, "igate", self.getIgate().getType(), {B, T, H})))
    return failure();
  if (self.getBonus() && failed(expectShape(op, "bonus", self.getBonus().getType(), {one, one, H, K})))
    return failure();
  if (self.getSkipWeight()) {
    if (!self.getSkipInput()) return self.emitOpError() << "skip requires operand 'skip_input'";
    if (failed(expectShape(op, "skip_weight", self.getSkipWeight().getType(), {one, one, H, V})) ||
        failed(expectShape(op, "skip_input", self.getSkipInput().getType(), {B, T, H, V})))
      return failure();
  }
  if (self.getInit() && failed(expectShape(op, "init", self.getInit().getType(), {B, H, K, Vs})))
    return failure();
  if (self.getInitM() && failed(expectShape(op, "init_m", self.getInitM().getType(), {B, H})))
    return failure();
  const bool adjoint = !finalM; // o and the final state are then d_o and d_final
  if (o && failed(expectShape(op, adjoint ? "d_o" : "result o", o.getType(), {B, T, H, V})))
    return failure();
  if (finalState &&
      failed(expectShape(op, adjoint ? "d_final" : "result final_state", finalState.getType(), {B, H, K, Vs})))
    return failure();
  if (finalM && *finalM && failed(expectShape(op, "result final_m", finalM->getType(), {B, H})))
    return failure();
  if (self.getScale() && !std::isfinite(self.getScaleValue()))
    return self.emitOpError() << "scale must be finite";
  return success();
}

LogicalResult RecurrenceOp::verify() {
  return verifyRecurrence(*this, getO(), getFinalState(), std::optional<Value>(getFinalM()));
}

LogicalResult RecurrenceGradOp::verify() {
  if (!getDO() && !getDFinal())
    return emitOpError() << "needs an upstream gradient: d_o, d_final or both";
  if (failed(verifyRecurrence(*this, getDO(), getDFinal(), std::nullopt))) return failure();
  SmallVector<Value> primal = getPrimalOperands();
  if (primal.size() != getGrads().size())
    return emitOpError() << "expected one gradient per operand of the recurrence (" << primal.size() << "), got "
                         << getGrads().size();
  for (auto [i, x] : llvm::enumerate(primal))
    if (x.getType() != getGrads()[i].getType())
      return emitOpError() << "gradient #" << i << " must have its operand's type " << x.getType() << ", got "
                           << getGrads()[i].getType();
  return success();
}

LogicalResult MapOp::verify() {
  auto in = cast<RankedTensorType>(getInput().getType());
  auto out = cast<RankedTensorType>(getResult().getType());
  if (in.getElementType() != out.getElementType())
    return emitOpError() << "result element type " << out.getElementType()
                         << " differs from input element type " << in.getElementType();
  SmallVector<int64_t> want(in.getShape());
  UnaryFn fn = getFn();
  if (fn == UnaryFn::sum) { // [.., D] -> [..]
    if (in.getRank() != 4)
      return emitOpError() << "sum expected a vector [B, T, H, D], got " << formatShape(in.getShape());
    want.pop_back();
  }
  if (fn == UnaryFn::l2norm || fn == UnaryFn::softmax || fn == UnaryFn::taylor2 || fn == UnaryFn::ones ||
      fn == UnaryFn::append_one) {
    if (in.getRank() != 4)
      return emitOpError() << stringifyUnaryFn(getFn())
                           << " expected a per-token vector [B, T, H, D], got " << formatShape(in.getShape());
    if (getFn() == UnaryFn::taylor2 && !ShapedType::isDynamic(want[3]))
      want[3] = 1 + want[3] + want[3] * want[3];
    if (fn == UnaryFn::ones) want[3] = 1;
    if (fn == UnaryFn::append_one && !ShapedType::isDynamic(want[3])) want[3] += 1;
  }
  if (out.getRank() != (int64_t)want.size())
    return emitOpError() << "result expected shape " << formatShape(want) << ", got "
                         << formatShape(out.getShape());
  for (int64_t i = 0; i < out.getRank(); ++i)
    if (!ShapedType::isDynamic(want[i]) && !ShapedType::isDynamic(out.getDimSize(i)) &&
        want[i] != out.getDimSize(i))
      return emitOpError() << "result expected shape " << formatShape(want) << ", got "
                           << formatShape(out.getShape());
  return success();
}

namespace {
// The result shape of `fn` on operands of shapes l and r, or an error.
// Leading dimensions broadcast left-aligned (size 1 or missing trailing ones);
// dot contracts the last, vecmat multiplies a row [.., D] by a matrix
// [.., D, F], concat joins the last dimensions.
FailureOr<SmallVector<int64_t>> binaryResultShape(BinaryFn fn, ArrayRef<int64_t> l, ArrayRef<int64_t> r,
                                                  std::string &err) {
  auto sameSize = [](int64_t a, int64_t b) { return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b; };
  const bool rowOp = fn == BinaryFn::vecmat || fn == BinaryFn::concat;
  if (fn == BinaryFn::dot && (l.empty() || l.size() != r.size() || !sameSize(l.back(), r.back()))) {
    err = "dot needs two vectors of one feature size, got " + formatShape(l) + " and " + formatShape(r);
    return failure();
  }
  if (fn == BinaryFn::vecmat && (l.empty() || r.size() != l.size() + 1 || !sameSize(l.back(), r[l.size() - 1]))) {
    err = "vecmat needs a row [.., D] and a matrix [.., D, F], got " + formatShape(l) + " and " + formatShape(r);
    return failure();
  }
  if (fn == BinaryFn::concat && (l.empty() || l.size() != r.size())) {
    err = "concat needs two rows of one rank, got " + formatShape(l) + " and " + formatShape(r);
    return failure();
  }
  // The leading dimensions that broadcast: all but the rows' feature dimension.
  const int64_t lead = rowOp ? (int64_t)l.size() - 1 : (int64_t)std::max(l.size(), r.size());
  SmallVector<int64_t> want(lead, 1);
  for (int64_t i = 0; i < lead; ++i) {
    int64_t a = i < (int64_t)l.size() ? l[i] : 1;
    int64_t b = i < (int64_t)r.size() ? r[i] : 1;
    if (a == 1) want[i] = b;
    else if (b == 1) want[i] = a;
    else if (ShapedType::isDynamic(a)) want[i] = b;
    else if (ShapedType::isDynamic(b) || a == b) want[i] = a;
    else {
      err = "shapes " + formatShape(l) + " and " + formatShape(r) + " do not broadcast at dimension " +
            std::to_string(i);
      return failure();
    }
  }
  if (fn == BinaryFn::dot) want.pop_back();
  if (fn == BinaryFn::vecmat) want.push_back(r.back());
  if (fn == BinaryFn::concat)
    want.push_back(ShapedType::isDynamic(l.back()) || ShapedType::isDynamic(r.back()) ? ShapedType::kDynamic
                                                                                       : l.back() + r.back());
  return want;
}
} // namespace

LogicalResult BinaryOp::verify() {
  auto l = cast<RankedTensorType>(getLhs().getType());
  auto r = cast<RankedTensorType>(getRhs().getType());
  auto out = cast<RankedTensorType>(getResult().getType());
  if (l.getElementType() != r.getElementType() || l.getElementType() != out.getElementType())
    return emitOpError() << "operands and result must share one element type";
  std::string err;
  FailureOr<SmallVector<int64_t>> want = binaryResultShape(getFn(), l.getShape(), r.getShape(), err);
  if (failed(want)) return emitOpError() << err;
  bool ok = out.getRank() == (int64_t)want->size();
  for (int64_t i = 0; ok && i < out.getRank(); ++i)
    if (!ShapedType::isDynamic((*want)[i]) && !ShapedType::isDynamic(out.getDimSize(i)) &&
        (*want)[i] != out.getDimSize(i))
      ok = false;
  if (!ok)
    return emitOpError() << "result expected shape " << formatShape(*want) << ", got "
                         << formatShape(out.getShape());
  return success();
}

LogicalResult BinaryVjpOp::verify() {
  if (getOperand() != 0 && getOperand() != 1)
    return emitOpError() << "operand must be 0 (lhs) or 1 (rhs), got " << getOperand();
  Value x = getOperand() == 0 ? getLhs() : getRhs();
  if (getOperandGrad().getType() != x.getType())
    return emitOpError() << "the gradient must have the operand's type " << x.getType() << ", got "
                         << getOperandGrad().getType();
  auto g = cast<RankedTensorType>(getGrad().getType());
  std::string err;
  FailureOr<SmallVector<int64_t>> out =
      binaryResultShape(getFn(), cast<RankedTensorType>(getLhs().getType()).getShape(),
                        cast<RankedTensorType>(getRhs().getType()).getShape(), err);
  if (failed(out)) return emitOpError() << err;
  const int64_t rank = (int64_t)out->size();
  if (g.getRank() != rank)
    return emitOpError() << "the upstream gradient must have the result's rank " << rank << ", got "
                         << formatShape(g.getShape());
  return success();
}

LogicalResult NormalizeVjpOp::verify() {
  if (getInputGrad().getType() != getInput().getType())
    return emitOpError() << "the gradient must have the input's type " << getInput().getType();
  auto in = cast<RankedTensorType>(getInput().getType());
  auto g = cast<RankedTensorType>(getGrad().getType());
  if (g.getRank() != in.getRank() ||
      (!in.isDynamicDim(in.getRank() - 1) && !g.isDynamicDim(g.getRank() - 1) &&
       g.getDimSize(g.getRank() - 1) + 1 != in.getDimSize(in.getRank() - 1)))
    return emitOpError() << "the upstream gradient must have one value column less than the input, got "
                         << formatShape(g.getShape()) << " for " << formatShape(in.getShape());
  return success();
}

LogicalResult ConstantOp::verify() {
  auto t = cast<RankedTensorType>(getResult().getType());
  if (!isa<DenseFPElementsAttr>(getValue())) return emitOpError() << "value must be dense floating-point elements";
  if (getValue().getType() != t)
    return emitOpError() << "value type " << getValue().getType() << " differs from result type " << t;
  return success();
}

LogicalResult NormalizeOp::verify() {
  auto in = cast<RankedTensorType>(getInput().getType());
  auto out = cast<RankedTensorType>(getResult().getType());
  if (in.getRank() != 4 || out.getRank() != 4 || in.getElementType() != out.getElementType())
    return emitOpError() << "expects [B, T, H, V + 1] -> [B, T, H, V] of one element type";
  for (int64_t i = 0; i < 4; ++i) {
    int64_t a = in.getDimSize(i), b = out.getDimSize(i);
    if (ShapedType::isDynamic(a) || ShapedType::isDynamic(b)) continue;
    if (i < 3 ? a != b : a != b + 1)
      return emitOpError() << "result expected shape [B, T, H, V] with V = " << (i < 3 ? b : a - 1)
                           << " at dimension " << i << ", got " << formatShape(out.getShape());
  }
  return success();
}

LogicalResult HeadIndexOp::verify() {
  auto t = cast<RankedTensorType>(getResult().getType());
  if (t.getRank() != 3 || t.getDimSize(0) != 1 || t.getDimSize(1) != 1)
    return emitOpError() << "result expected shape [1, 1, H], got " << formatShape(t.getShape());
  return success();
}

// repeat_heads spreads [B, T, H / G, ...] over H heads; sum_heads folds it back.
static LogicalResult verifyHeadGroups(Operation *op, RankedTensorType few, RankedTensorType many, int64_t group,
                                     StringRef fewName, StringRef manyName) {
  if (group < 1) return op->emitOpError() << "group must be positive, got " << group;
  if (few.getElementType() != many.getElementType())
    return op->emitOpError() << "input and result must share one element type";
  if (few.getRank() < 3 || few.getRank() != many.getRank())
    return op->emitOpError() << "expected per-token tensors [B, T, heads, ...] of one rank, got "
                             << formatShape(few.getShape()) << " and " << formatShape(many.getShape());
  for (int64_t d = 0; d < few.getRank(); ++d) {
    int64_t a = few.getDimSize(d), b = many.getDimSize(d);
    if (d == 2 ? (a == ShapedType::kDynamic || b != a * group) : a != b)
      return op->emitOpError() << "the " << manyName << " " << formatShape(many.getShape()) << " must be the "
                               << fewName << " " << formatShape(few.getShape()) << " with " << group
                               << " times the heads";
  }
  return success();
}

LogicalResult RepeatHeadsOp::verify() {
  return verifyHeadGroups(*this, cast<RankedTensorType>(getInput().getType()),
                          cast<RankedTensorType>(getResult().getType()), getGroup(), "input", "result");
}

LogicalResult SumHeadsOp::verify() {
  return verifyHeadGroups(*this, cast<RankedTensorType>(getResult().getType()),
                          cast<RankedTensorType>(getInput().getType()), getGroup(), "result", "input");
}

LogicalResult CpuTileAttr::verify(function_ref<InFlightDiagnostic()> emitError, CpuAlgorithm algorithm,
                                  StringRef isa, int64_t lanes, int64_t k, int64_t vBlock, int64_t regBlock,
                                  int64_t threads, int64_t chunk, int64_t gradCheckpoint) {
  if (isa.empty()) return emitError() << "cpu_tile: isa must name an instruction set";
  if (gradCheckpoint < 1)
    return emitError() << "cpu_tile: grad_checkpoint must be positive (tokens between the backward's saved states), got "
                       << gradCheckpoint;
  if (lanes != 1 && lanes != 4 && lanes != 8 && lanes != 16)
    return emitError() << "cpu_tile: lanes must be 1, 4, 8 or 16 (fp32 lanes of a vector register), got " << lanes;
  if (k < 1) return emitError() << "cpu_tile: k must be positive, got " << k;
  if (vBlock < lanes || vBlock % lanes != 0)
    return emitError() << "cpu_tile: v_block must be a positive multiple of lanes (" << lanes << "), got " << vBlock;
  if (regBlock < 1 || regBlock > vBlock / lanes)
    return emitError() << "cpu_tile: reg_block must be in [1, " << vBlock / lanes
                       << "] (the vectors of a value block), got " << regBlock;
  if (threads < 1) return emitError() << "cpu_tile: threads must be positive, got " << threads;
  if (algorithm == CpuAlgorithm::recurrent && chunk != 0)
    return emitError() << "cpu_tile: a recurrent schedule has no chunk, got chunk = " << chunk;
  if (algorithm != CpuAlgorithm::recurrent && chunk < 1)
    return emitError() << "cpu_tile: " << stringifyCpuAlgorithm(algorithm) << " needs chunk > 0";
  if ((algorithm == CpuAlgorithm::chunked_gla || algorithm == CpuAlgorithm::chunked_ut) && chunk % 16 != 0)
    return emitError() << "cpu_tile: " << stringifyCpuAlgorithm(algorithm)
                       << " works in sub-blocks of 16 tokens; chunk must be a multiple of 16, got " << chunk;
  return success();
}

std::string CudaTileAttr::stateBlocksText() const {
  std::string text;
  ArrayRef<int64_t> widths = getStateBlocks() ? getStateBlocks().asArrayRef() : ArrayRef<int64_t>();
  for (size_t i = 0; i < widths.size(); ++i)
    text += (i == 0 ? "" : i + 1 == widths.size() ? " or " : ", ") + std::to_string(widths[i]);
  return text;
}

LogicalResult CudaTileAttr::verify(function_ref<InFlightDiagnostic()> emitError, CudaAlgorithm algorithm, int64_t k,
                                   int64_t vBlock, int64_t colsPerWarp, int64_t warps, int64_t stage, int64_t chunk,
                                   int64_t sms, DenseI64ArrayAttr stateBlocks, int64_t keySplit, int64_t seqSplit,
                                   bool wgmmaWalk, bool decayInLoads, int64_t gradCheckpoint,
                                   bool scalarsInLoads) {
  // The checkpointed sweep recomputes runs of up to 32 tokens within a stretch.
  if (gradCheckpoint < 0 || (gradCheckpoint > 0 && (gradCheckpoint % 32 != 0 || gradCheckpoint > 1024)))
    return emitError() << "cuda_tile: grad_checkpoint is 0 or a multiple of 32 up to 1024 tokens, got "
                       << gradCheckpoint;
  if (decayInLoads && algorithm == CudaAlgorithm::chunked_ssd)
    return emitError() << "cuda_tile: decay_in_loads is the vector decays' (recurrent, chunked_gla, chunked_ut), not "
                          "chunked_ssd's";
  if (scalarsInLoads && (algorithm == CudaAlgorithm::chunked_ssd || algorithm == CudaAlgorithm::chunked_gla))
    return emitError() << "cuda_tile: scalars_in_loads is the delta rules' (recurrent, chunked_ut), not "
                       << stringifyCudaAlgorithm(algorithm) << "'s";
  if (k < 1) return emitError() << "cuda_tile: k must be positive, got " << k;
  if (colsPerWarp < 1 || colsPerWarp > 32 || 32 % colsPerWarp != 0)
    return emitError() << "cuda_tile: cols_per_warp must divide a warp's 32 lanes, got " << colsPerWarp;
  if (warps < 1 || warps > 8) return emitError() << "cuda_tile: warps must be in [1, 8], got " << warps;
  if (vBlock != warps * colsPerWarp)
    return emitError() << "cuda_tile: v_block must be warps * cols_per_warp = " << warps * colsPerWarp << ", got "
                       << vBlock;
  if (stage < 1 || stage > 32 || (stage & (stage - 1)) != 0)
    return emitError() << "cuda_tile: stage must be a power of two up to 32, got " << stage;
  if (algorithm == CudaAlgorithm::recurrent) {
    if (chunk != 0) return emitError() << "cuda_tile: a recurrent schedule has no chunk, got chunk = " << chunk;
    if (sms != 0 || stateBlocks || keySplit != 1 || seqSplit != 0 || wgmmaWalk)
      return emitError() << "cuda_tile: a recurrent schedule has no state pass (sms, state_blocks, key_split, "
                            "seq_split, wgmma_walk)";
    return success();
  }
  // The tensor-core kernels' tiles are built for 64-token chunks and 64-key
  // slabs; GLA's decays and the UT form's extra tiles fit shared memory up to
  // 128 keys.
  if (chunk != 64)
    return emitError() << "cuda_tile: the tensor-core kernels work in chunks of 64 tokens, got chunk = " << chunk;
  const int64_t maxK = algorithm == CudaAlgorithm::chunked_ssd ? 256 : 128;
  if (k % 64 != 0 || k > maxK)
    return emitError() << "cuda_tile: " << stringifyCudaAlgorithm(algorithm) << " needs k a multiple of 64 up to "
                       << maxK << ", got " << k;
  // The state pass: the widths the walk's kernels are built for, widest first.
  if (sms < 1) return emitError() << "cuda_tile: a chunked schedule needs the target's sms, got " << sms;
  if (!stateBlocks || stateBlocks.empty())
    return emitError() << "cuda_tile: a chunked schedule needs its state_blocks";
  ArrayRef<int64_t> widths = stateBlocks.asArrayRef();
  for (size_t i = 0; i < widths.size(); ++i) {
    if (widths[i] != 128 && widths[i] != 64 && widths[i] != 32)
      return emitError() << "cuda_tile: state_blocks are 128, 64 or 32 value columns, got " << widths[i];
    if (i > 0 && widths[i] >= widths[i - 1])
      return emitError() << "cuda_tile: state_blocks go from the widest to the narrowest";
  }
  if (keySplit != 1 && keySplit != 2) return emitError() << "cuda_tile: key_split is 1 or 2, got " << keySplit;
  if (keySplit == 2 && widths.back() != 32)
    return emitError() << "cuda_tile: key_split = 2 splits blocks of 32 columns, the last of state_blocks";
  // K = 256 (SSD only): one kernel of 32-column blocks, no split of any kind.
  if (k > 128 && (widths.size() != 1 || widths[0] != 32 || keySplit != 1 || seqSplit != 0))
    return emitError() << "cuda_tile: k = " << k << " walks in blocks of 32 columns only (state_blocks = [32], no "
                          "key or sequence split)";
  if (seqSplit != 0 && (algorithm == CudaAlgorithm::chunked_ut || seqSplit < 2 || widths[0] != 128))
    return emitError() << "cuda_tile: seq_split (at least 2 chunks, with 128-column blocks first) is the SSD and "
                          "GLA walks', got "
                       << seqSplit << " for " << stringifyCudaAlgorithm(algorithm);
  if (wgmmaWalk && (algorithm != CudaAlgorithm::chunked_ut || k > 128))
    return emitError() << "cuda_tile: wgmma_walk is the delta rules' walk (chunked_ut, k up to 128)";
  return success();
}
