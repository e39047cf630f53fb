#include "codegen/RowPrinter.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mixc::mixer;

namespace mixc {

// The helpers named here (fastExp, mxAbs, ...) exist in both tile libraries.
const char *unaryExpr(UnaryFn fn) {
  switch (fn) {
  case UnaryFn::neg: return "-x";
  case UnaryFn::exp: return "fastExp(x)";
  case UnaryFn::log: return "safeLog(x)";
  case UnaryFn::sigmoid: return "sigmoid(x)";
  case UnaryFn::logsigmoid: return "logsigmoid(x)";
  case UnaryFn::softplus: return "softplus(x)";
  case UnaryFn::silu: return "silu(x)";
  case UnaryFn::elu: return "elu(x)";
  case UnaryFn::relu: return "relu(x)";
  case UnaryFn::abs: return "mxAbs(x)";
  case UnaryFn::sqrt: return "mxSqrt(x)";
  case UnaryFn::tanh: return "mxTanh(x)";
  default: return nullptr;
  }
}

const char *binaryExpr(BinaryFn fn) {
  switch (fn) {
  case BinaryFn::add: return "a + b";
  case BinaryFn::sub: return "a - b";
  case BinaryFn::mul: return "a * b";
  case BinaryFn::div: return "a / b";
  case BinaryFn::max: return "mxMax(a, b)";
  case BinaryFn::min: return "mxMin(a, b)";
  case BinaryFn::pow: return "mxPow(a, b)";
  default: return nullptr;
  }
}

// d y / d x of a pointwise map y = f(x), in `x` and `y` (C++ shared with the row helpers).
const char *unaryDerivative(UnaryFn fn) {
  switch (fn) {
  case UnaryFn::neg: return "-1.f";
  case UnaryFn::exp: return "y";
  case UnaryFn::log: return "1.f / x";
  case UnaryFn::sigmoid: return "y * (1.f - y)";
  case UnaryFn::logsigmoid: return "sigmoid(-x)";
  case UnaryFn::softplus: return "sigmoid(x)";
  case UnaryFn::silu: return "sigmoid(x) * (1.f + x * (1.f - sigmoid(x)))";
  case UnaryFn::elu: return "(x > 0.f ? 1.f : fastExp(x))";
  case UnaryFn::relu: return "(x > 0.f ? 1.f : 0.f)";
  case UnaryFn::abs: return "(x > 0.f ? 1.f : x < 0.f ? -1.f : 0.f)";
  case UnaryFn::sqrt: return "0.5f / y";
  case UnaryFn::tanh: return "(1.f - y * y)";
  default: return nullptr;
  }
}

// The partial derivative of f(a, b) by operand 0 (a) or 1 (b); max and min
// pass the gradient to the first operand on a tie, as they choose it.
const char *binaryDerivative(BinaryFn fn, int operand) {
  switch (fn) {
  case BinaryFn::add: return "1.f";
  case BinaryFn::sub: return operand == 0 ? "1.f" : "-1.f";
  case BinaryFn::mul: return operand == 0 ? "b" : "a";
  case BinaryFn::div: return operand == 0 ? "1.f / b" : "-a / (b * b)";
  case BinaryFn::max: return operand == 0 ? "(a < b ? 0.f : 1.f)" : "(a < b ? 1.f : 0.f)";
  case BinaryFn::min: return operand == 0 ? "(b < a ? 0.f : 1.f)" : "(b < a ? 1.f : 0.f)";
  case BinaryFn::pow: return operand == 0 ? "b * mxPow(a, b - 1.f)" : "(a > 0.f ? mxPow(a, b) * std::log(a) : 0.f)";
  default: return nullptr;
  }
}

std::string floatLiteral(double x) { return llvm::formatv("{0:e}", x).str() + "f"; }

// Per-token values are [B, T, H, ...] with T dynamic; per-head ones have
// static leading sizes and states a static second one.
bool RowPrinter::isToken(Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  return t.getRank() >= 3 && ShapedType::isDynamic(t.getDimSize(1));
}

int64_t RowPrinter::rowWidth(Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  int64_t w = 1;
  for (int64_t i = 3; i < t.getRank(); ++i) w *= t.getDimSize(i);
  return w;
}

bool RowPrinter::isMaterializedToken(Value v) {
  Operation *d = v.getDefiningOp();
  return d && !isa<MapOp, BinaryOp, NormalizeOp>(d) && isToken(v);
}

bool RowPrinter::isLeaf(Value v) {
  return !isToken(v) || !v.getDefiningOp() || isMaterializedToken(v);
}

void RowPrinter::declare(const std::string &n, int64_t w, const std::string &dest) {
  if (dest.empty()) os << indent << "float " << n << "[" << w << "];\n";
  else os << indent << "float *" << n << " = " << dest << ";\n";
}

// An operand of a pointwise op over `j`: a per-token scalar chain (width 1)
// under a wider op is computed once, before the loop (inlined, it ran per
// element: Gated DeltaNet's and KDA's sigmoid(beta) in beta * k, a scalar
// divide per key that also kept the loop from vectorizing).
std::string RowPrinter::operandExpr(Value x, bool wide, const std::string &j) {
  if (rowWidth(x) != 1) return rowExpr(x, j);
  Operation *d = x.getDefiningOp();
  if (wide && d && isToken(x) && isa<MapOp, BinaryOp>(d) && !rows.count(x)) return rowOf(x) + "[0]";
  return rowExpr(x, "0");
}

std::string RowPrinter::rowExpr(Value v, const std::string &j) {
  Operation *d = v.getDefiningOp();
  auto inlinable = [&] {
    if (!d || rows.count(v) || !v.hasOneUse() || !isToken(v)) return false;
    if (auto m = dyn_cast<MapOp>(d)) return isPointwise(m.getFn());
    if (auto bop = dyn_cast<BinaryOp>(d)) return isPointwise(bop.getFn());
    return false;
  };
  // A splat constant as a literal: the host compiler then folds it (a
  // division by 16 becomes a multiply) instead of loading it from a buffer.
  if (auto c = d ? dyn_cast<ConstantOp>(d) : ConstantOp())
    if (auto dense = dyn_cast<DenseElementsAttr>(c.getValue()); dense && dense.isSplat() &&
                                                                 isa<FloatType>(dense.getElementType()))
      return llvm::formatv("{0:e9}", dense.getSplatValue<APFloat>().convertToDouble()).str() + "f";
  if (inlinable()) {
    if (auto m = dyn_cast<MapOp>(d))
      return std::string("([](float x) { return ") + unaryExpr(m.getFn()) + "; })(" + rowExpr(m.getInput(), j) + ")";
    auto bop = cast<BinaryOp>(d);
    const bool wide = rowWidth(v) > 1;
    return std::string("([](float a, float b) { return ") + binaryExpr(bop.getFn()) + "; })(" +
           operandExpr(bop.getLhs(), wide, j) + ", " + operandExpr(bop.getRhs(), wide, j) + ")";
  }
  return rowOf(v) + "[" + (rowWidth(v) == 1 ? std::string("0") : j) + "]";
}

std::string RowPrinter::rowOf(Value v, const std::string &destArg) {
  auto it = rows.find(v);
  if (it != rows.end()) return it->second;
  const std::string dest = destArg.empty() ? preferredDest.lookup(v) : destArg;
  std::string n = fresh("x");
  int64_t w = rowWidth(v);
  Operation *d = v.getDefiningOp();
  if (isLeaf(v)) {
    leaf(v, n, w, dest);
  } else if (auto nop = dyn_cast<NormalizeOp>(d)) {
    std::string in = rowOf(nop.getInput());
    declare(n, w, dest);
    const std::string den = in + "[" + std::to_string(w) + "]", eps = floatLiteral(nop.getEps().convertToDouble());
    os << indent << "{\n" << indent << "  float inv = " << floatLiteral(nop.getScale().convertToDouble()) << " / "
       << (nop.getMaxAbs() ? "mxMax(mxAbs(" + den + "), " + eps + ")" : "(" + den + " + " + eps + ")") << ";\n"
       << indent << "  for (int j = 0; j < " << w << "; ++j) " << n << "[j] = " << in << "[j] * inv;\n"
       << indent << "}\n";
  } else if (auto m = dyn_cast<MapOp>(d)) {
    // A pointwise map reads its input inline; `ones` does not read it.
    bool pointwise = isPointwise(m.getFn());
    std::string in = pointwise || m.getFn() == UnaryFn::ones ? std::string() : rowOf(m.getInput());
    int64_t win = rowWidth(m.getInput());
    declare(n, w, dest);
    switch (m.getFn()) {
    case UnaryFn::l2norm: os << indent << "l2normRow(" << in << ", " << win << ", " << n << ");\n"; break;
    case UnaryFn::softmax: os << indent << "softmaxRow(" << in << ", " << win << ", " << n << ");\n"; break;
    case UnaryFn::taylor2: os << indent << "taylor2Row(" << in << ", " << win << ", " << n << ");\n"; break;
    case UnaryFn::ones: os << indent << n << "[0] = 1.f;\n"; break;
    case UnaryFn::sum:
      os << indent << n << "[0] = rowSum(" << in << ", " << win << ");\n";
      break;
    case UnaryFn::append_one:
      os << indent << "copyRow(" << in << ", " << win << ", " << n << ");\n" << indent << n << "[" << win << "] = 1.f;\n";
      break;
    default: {
      // The whole pointwise chain below this value, in one loop.
      std::string e = rowExpr(d->getOperand(0), "j");
      os << indent << "for (int j = 0; j < " << w << "; ++j) {\n"
         << indent << "  float x = " << e << ";\n"
         << indent << "  " << n << "[j] = " << unaryExpr(m.getFn()) << ";\n"
         << indent << "}\n";
    }
    }
  } else {
    auto bop = cast<BinaryOp>(d);
    int64_t wa = rowWidth(bop.getLhs()), wb = rowWidth(bop.getRhs());
    if (bop.getFn() == BinaryFn::dot) {
      std::string a = rowOf(bop.getLhs()), b = rowOf(bop.getRhs());
      declare(n, w, dest);
      os << indent << n << "[0] = rowDot(" << a << ", " << b << ", " << wa << ");\n";
    } else if (bop.getFn() == BinaryFn::vecmat) {
      std::string x = rowOf(bop.getLhs()), m = matrixRow(bop.getRhs());
      declare(n, w, dest);
      os << indent << "vecmatRow(" << x << ", " << wa << ", " << w << ", " << m << ", " << n << ");\n";
    } else if (bop.getFn() == BinaryFn::concat) {
      std::string a = rowOf(bop.getLhs()), b = rowOf(bop.getRhs());
      declare(n, w, dest);
      os << indent << "copyRow(" << a << ", " << wa << ", " << n << ");\n"
         << indent << "copyRow(" << b << ", " << wb << ", " << n << " + " << wa << ");\n";
    } else {
      std::string ea = operandExpr(bop.getLhs(), w > 1, "j"), eb = operandExpr(bop.getRhs(), w > 1, "j");
      declare(n, w, dest);
      os << indent << "for (int j = 0; j < " << w << "; ++j) {\n"
         << indent << "  float a = " << ea << ", b = " << eb << ";\n"
         << indent << "  " << n << "[j] = " << binaryExpr(bop.getFn()) << ";\n"
         << indent << "}\n";
    }
  }
  return rows[v] = n;
}

} // namespace mixc
