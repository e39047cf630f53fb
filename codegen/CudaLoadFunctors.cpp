// The functors the CUDA kernels apply as they load a scan's operands, printed
// from the IR where mixer-tile fused pre-processing into the loads:
// decay_in_loads (a vector diagonal's decays from one input and per-head
// parameters) and scalars_in_loads (the delta rules' per-token decay and
// scales from their inputs). Each is a pointwise chain of mixer.map and
// mixer.binary ops written as one C++ expression.
#include "codegen/CudaPrinter.h"
#include "dialect/RecurrenceForms.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <functional>

using namespace mlir;
using namespace mixc::mixer;

namespace mixc::cudaprint {

namespace {
// `v` as a C++ float expression: constants as literals, maps and binaries as
// lambdas of their operands, which `leaf` writes (it may recurse into
// pointwiseExpr for what it does not take itself).
std::string pointwiseExpr(Value v, const std::function<std::string(Value)> &leaf) {
  Operation *d = v.getDefiningOp();
  if (auto c = dyn_cast_if_present<ConstantOp>(d))
    return llvm::formatv("{0:e9}", (*cast<DenseElementsAttr>(c.getValue()).value_begin<APFloat>()).convertToDouble())
               .str() +
           "f";
  if (auto m = dyn_cast_if_present<MapOp>(d))
    return std::string("([](float x) { return ") + unaryExpr(m.getFn()) + "; })(" + leaf(m.getInput()) + ")";
  auto bop = cast<BinaryOp>(d);
  return std::string("([](float a, float b) { return ") + binaryExpr(bop.getFn()) + "; })(" + leaf(bop.getLhs()) +
         ", " + leaf(bop.getRhs()) + ")";
}
} // namespace

std::string Printer::decayMapFunctor(const std::string &name, Value decay, Value raw, ArrayRef<Value> params) {
  // What does not depend on the input element (the parameters and what is
  // computed from them alone: exp(A_log)) is the same for every token of a
  // channel: load() computes it once per (head, channel), apply() the rest
  // per element. (Read per element, the parameters' loads and exp made the
  // vector-UT prepare 1.7x slower than with the decays given.)
  std::function<bool(Value)> dependsOnRaw = [&](Value v) -> bool {
    if (v == raw) return true;
    Operation *d = v.getDefiningOp();
    if (!d) return false;
    return llvm::any_of(d->getOperands(), dependsOnRaw);
  };
  auto build = [&](Value v, const std::function<std::string(Value)> &leaf) -> std::string {
    if (v == raw || !v.getDefiningOp()) return leaf(v);
    return pointwiseExpr(v, leaf);
  };
  // load(): the parameter-only values, in terms of p.mapIn.
  std::function<std::string(Value)> paramExpr = [&](Value v) -> std::string {
    if (auto *it = llvm::find(params, v); it != params.end()) {
      const bool perKey = cast<RankedTensorType>(v.getType()).getRank() == 4;
      return "p.mapIn[" + std::to_string(it - params.begin()) + "].at(0, 0, h, " + (perKey ? "j" : "0") + ")";
    }
    return build(v, paramExpr);
  };
  SmallVector<std::string> hoisted;
  llvm::DenseMap<Value, unsigned> slot;
  std::function<std::string(Value)> elementExpr = [&](Value v) -> std::string {
    if (v == raw) return "x";
    if (!dependsOnRaw(v) && !isa_and_present<ConstantOp>(v.getDefiningOp())) {
      auto [it, fresh] = slot.try_emplace(v, hoisted.size());
      if (fresh) hoisted.push_back(paramExpr(v));
      return "m.v[" + std::to_string(it->second) + "]";
    }
    return build(v, elementExpr);
  };
  const std::string body = elementExpr(decay);
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "// The decays as the kernels load them (decay_in_loads): computed from the\n"
        "// input's element x and what load() computed once per (head, channel) from\n"
        "// the per-head parameters in p.mapIn.\n";
  os << "struct " << name << " {\n  static constexpr bool fused = true;\n"
     << "  struct Params {\n    float v[" << std::max<size_t>(hoisted.size(), 1) << "];\n  };\n"
     << "  __device__ __forceinline__ static Params load(const ScanParams &p, int64_t h, int64_t j) {\n"
     << "    (void)p; (void)h; (void)j;\n    Params m{};\n";
  for (auto [i, e] : llvm::enumerate(hoisted)) os << "    m.v[" << i << "] = " << e << ";\n";
  os << "    return m;\n  }\n"
     << "  __device__ __forceinline__ static float apply(float x, const Params &m) {\n"
     << "    (void)m;\n    return " << body << ";\n  }\n};\n\n";
  return text;
}

std::string Printer::tokenScalarsFunctor(const std::string &name, RecurrenceOp op, ArrayRef<Value> tokens,
                                         ArrayRef<Value> params) {
  std::function<std::string(Value)> expr = [&](Value v) -> std::string {
    if (auto *it = llvm::find(tokens, v); it != tokens.end())
      return "p.scalarIn[" + std::to_string(it - tokens.begin()) + "].at(b, t, h, 0)";
    if (auto *it = llvm::find(params, v); it != params.end())
      return "p.scalarParams[" + std::to_string(it - params.begin()) + "].at(0, 0, h, 0)";
    return pointwiseExpr(v, expr);
  };
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "// The per-token scalars as the kernels load a token (scalars_in_loads):\n"
        "// computed from the inputs in p.scalarIn (per token) and p.scalarParams\n"
        "// (per head); no row kernel writes them.\n";
  os << "struct " << name << " {\n  static constexpr bool fused = true;\n";
  auto method = [&](const char *what, Value v, const char *none) {
    os << "  __device__ __forceinline__ static float " << what
       << "(const ScanParams &p, int64_t b, int64_t t, int64_t h) {\n    (void)p; (void)b; (void)t; (void)h;\n"
       << "    return " << (v ? expr(v) : std::string(none)) << ";\n  }\n";
  };
  const TokenScalars s = tokenScalarsOf(op);
  // (decay() only where the kernels read a scalar decay: an unreferenced one is a warning)
  if (s.decay) method("decay", s.decay, "0.f");
  method("aScale", s.aScale, "1.f");
  method("kScale", s.kScale, "1.f");
  os << "};\n\n";
  return text;
}

} // namespace mixc::cudaprint
