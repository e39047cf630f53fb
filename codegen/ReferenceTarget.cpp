#include "codegen/ReferenceTarget.h"
#include "codegen/ReferenceGrad.h"

#include "mlir/IR/OwningOpRef.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "codegen/RowPrinter.h"

#include "dialect/MixerOps.h"
#include "runtime/reference/Recurrence.h"

#include "llvm/ADT/DenseMap.h"

using namespace mlir;

namespace mixc {

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + (shape[i] < 0 ? std::string(i == 0 ? "B" : "T") : std::to_string(shape[i]));
  return s + "]";
}

std::vector<ArgumentSpec> argumentSpecs(func::FuncOp func) {
  std::vector<ArgumentSpec> specs;
  for (unsigned i = 0; i < func.getNumArguments(); ++i) {
    ArgumentSpec s;
    auto name = func.getArgAttrOfType<StringAttr>(i, "mixer.name");
    s.name = name ? name.str() : "arg" + std::to_string(i);
    auto t = cast<RankedTensorType>(func.getArgument(i).getType());
    for (int64_t d : t.getShape()) s.shape.push_back(ShapedType::isDynamic(d) ? -1 : d);
    s.perHead = t.getRank() >= 3 && s.shape[0] == 1 && s.shape[1] == 1;
    s.isIndex = isa<IntegerType>(t.getElementType());
    // States may be omitted (zeros); so may a backward's dfinal_state.
    s.isState = s.name == "init" || s.name == "init_m" || s.name == "dfinal_state";
    specs.push_back(s);
  }
  return specs;
}

namespace {
ref::Structure toRef(mixer::Structure s) { return static_cast<ref::Structure>(static_cast<int>(s)); }
ref::Direction toRef(mixer::Direction d) { return static_cast<ref::Direction>(static_cast<int>(d)); }
ref::Normalizer toRef(mixer::Normalizer n) { return static_cast<ref::Normalizer>(static_cast<int>(n)); }
} // namespace

ReferenceInterpreter::ReferenceInterpreter(func::FuncOp spec) {
  // The recurrences in their canonical forms (a decay written as a factor is
  // the factor, which may be negative where its log is not real), on a copy.
  canonical = cast<func::FuncOp>(spec->clone());
  RewritePatternSet patterns(canonical.getContext());
  mixer::RecurrenceOp::getCanonicalizationPatterns(patterns, canonical.getContext());
  (void)applyPatternsGreedily(canonical, std::move(patterns));
}

ReferenceInterpreter::~ReferenceInterpreter() { canonical->erase(); }

const ref::Array *ReferenceInterpreter::valueOf(Value v) const {
  if (!v) return nullptr;
  auto it = env.find(v);
  return it == env.end() ? nullptr : &it->second;
}

namespace {
// The operands of a recurrence or of its adjoint (the same names), as the
// reference takes them.
template <typename OpT>
ref::RecurrenceInputs inputsOf(OpT r, const ReferenceInterpreter &interp, ref::Array &aRows, ref::Array &kRows) {
  ref::RecurrenceInputs in;
  in.structure = toRef(r.getStructure());
  in.direction = toRef(r.getDirection());
  in.normalizer = toRef(r.getNormalizerKind());
  in.scale = r.getScaleValue();
  in.eps = r.getEpsValue();
  auto get = [&](Value v) { return interp.valueOf(v); };
  in.q = get(r.getQ()), in.k = get(r.getK()), in.v = get(r.getV());
  in.decay = get(r.getDecay()), in.dt = get(r.getDt()), in.a = get(r.getA()), in.b = get(r.getB());
  in.decayIsFactor = r.hasFactorDecay();
  // The scaled low-rank form as whole rows: a = a_scale b, the key k_scale k.
  auto scaledRows = [&](Value scale, const ref::Array &x) {
    const ref::Array &s = *get(scale);
    ref::Array out = x;
    const int64_t D = x.shape.back();
    for (int64_t row = 0; row < x.size() / D; ++row) {
      const int64_t bi = row / (x.shape[1] * x.shape[2]), ti = row / x.shape[2] % x.shape[1], hi = row % x.shape[2];
      const double f = s.at({bi, ti, hi});
      for (int64_t i = 0; i < D; ++i) out.data[row * D + i] *= f;
    }
    return out;
  };
  if (r.getAScale() && get(r.getAScale()) && in.b) aRows = scaledRows(r.getAScale(), *in.b), in.a = &aRows;
  if (r.getKScale() && get(r.getKScale()) && in.k) kRows = scaledRows(r.getKScale(), *in.k), in.k = &kRows;
  in.igate = get(r.getIgate()), in.bonus = get(r.getBonus());
  in.skipWeight = get(r.getSkipWeight()), in.skipInput = get(r.getSkipInput());
  in.init = get(r.getInit()), in.initM = get(r.getInitM());
  return in;
}
} // namespace

ref::RecurrenceInputs ReferenceInterpreter::recurrenceInputs(Operation *op, ref::Array &aRows, ref::Array &kRows) {
  if (auto r = dyn_cast<mixer::RecurrenceOp>(op)) return inputsOf(r, *this, aRows, kRows);
  return inputsOf(cast<mixer::RecurrenceGradOp>(op), *this, aRows, kRows);
}

std::string runReference(func::FuncOp specFunc, const NamedArrays &inputs, NamedArrays &outputs,
                         const RecurrenceHook &onRecurrence) {
  return ReferenceInterpreter(specFunc).run(inputs, outputs, onRecurrence);
}

std::string ReferenceInterpreter::run(const NamedArrays &inputs, NamedArrays &outputs,
                                      const RecurrenceHook &onRecurrence) {
  func::FuncOp func = canonical;
  env.clear();
  std::vector<ArgumentSpec> specs = argumentSpecs(func);
  int64_t B = -1, T = -1;
  // Bind arguments, checking shapes; batch and time are fixed by the first token input.
  for (unsigned i = 0; i < specs.size(); ++i) {
    const ArgumentSpec &s = specs[i];
    auto it = inputs.find(s.name);
    if (it == inputs.end()) {
      if (!s.isState) return "missing input '" + s.name + "'";
      continue;
    }
    ref::Array a = it->second;
    if (s.perHead && a.rank() + 2 == (int64_t)s.shape.size()) a.shape.insert(a.shape.begin(), {1, 1});
    bool ok = a.rank() == (int64_t)s.shape.size();
    for (size_t d = 0; ok && d < s.shape.size(); ++d) {
      int64_t want = s.shape[d];
      if (want >= 0) ok = a.shape[d] == want;
      else if (d == 0 && !s.perHead) ok = B < 0 || a.shape[0] == B;
      else if (d == 1) ok = T < 0 || a.shape[1] == T;
    }
    if (ok && !s.perHead) {
      if (B < 0 && !s.shape.empty() && s.shape[0] < 0) B = a.shape[0];
      if (T < 0 && s.shape.size() > 1 && s.shape[1] < 0) T = a.shape[1];
    }
    if (!ok) {
      std::vector<int64_t> want = s.shape;
      if (s.name == "init" || s.name == "init_m") want[0] = B;
      else {
        if (B >= 0) want[0] = want[0] < 0 ? B : want[0];
        if (T >= 0 && want.size() > 1 && want[1] < 0) want[1] = T;
      }
      return "input '" + s.name + "' has shape " + a.shapeString() + ", expected " + shapeString(want);
    }
    env[func.getArgument(i)] = std::move(a);
  }
  if (B < 0 || T < 0) return "no per-token input fixes the batch and time sizes";

  for (Operation &op : func.getBody().front()) {
    if (auto m = dyn_cast<mixer::MapOp>(op)) {
      if (!ref::applyUnary(mixer::stringifyUnaryFn(m.getFn()).str(), env[m.getInput()], env[m.getResult()]))
        return "unsupported function " + mixer::stringifyUnaryFn(m.getFn()).str();
    } else if (auto bin = dyn_cast<mixer::BinaryOp>(op)) {
      if (!ref::applyBinary(mixer::stringifyBinaryFn(bin.getFn()).str(), env[bin.getLhs()], env[bin.getRhs()],
                            env[bin.getResult()]))
        return "unsupported function " + mixer::stringifyBinaryFn(bin.getFn()).str();
    } else if (auto c = dyn_cast<mixer::ConstantOp>(op)) {
      auto dense = cast<DenseFPElementsAttr>(c.getValue());
      ref::Array a(std::vector<int64_t>(dense.getType().getShape().begin(), dense.getType().getShape().end()));
      int64_t i = 0;
      for (APFloat v : dense.getValues<APFloat>()) a.data[i++] = v.convertToDouble();
      env[c.getResult()] = std::move(a);
    } else if (auto n = dyn_cast<mixer::NormalizeOp>(op)) {
      const ref::Array &x = env[n.getInput()];
      std::vector<int64_t> s = x.shape;
      int64_t Vs = s.back(), V = Vs - 1, rows = x.size() / Vs;
      s.back() = V;
      ref::Array o(s);
      double eps = n.getEps().convertToDouble(), scale = n.getScale().convertToDouble();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < V; ++j) {
          const double den = x.data[r * Vs + V];
          o.data[r * V + j] = scale * x.data[r * Vs + j] / (n.getMaxAbs() ? std::max(std::fabs(den), eps) : den + eps);
        }
      env[n.getResult()] = std::move(o);
    } else if (auto h = dyn_cast<mixer::HeadIndexOp>(op)) {
      int64_t H = cast<RankedTensorType>(h.getType()).getDimSize(2);
      ref::Array a({1, 1, H});
      for (int64_t j = 0; j < H; ++j) a.data[j] = (double)j;
      env[h.getResult()] = std::move(a);
    } else if (auto r = dyn_cast<mixer::RecurrenceOp>(op)) {
      if (r.getDecayedB()) // only mixer-tile{target=cuda} writes it
        return "the reference takes the plain low-rank form: expand decayed_b (expandScaledLowRank) first";
      if (r.getL2normQ() || r.getL2normB()) // likewise
        return "the reference takes the operands as they are: expand l2norm_q / l2norm_b (expandRowNorms) first";
      ref::Array aRows, kRows;
      ref::RecurrenceInputs in = recurrenceInputs(r, aRows, kRows);
      ref::RecurrenceOutputs out;
      if (std::string e = ref::runRecurrence(in, out); !e.empty()) return e;
      if (onRecurrence) onRecurrence(in, out);
      env[r.getO()] = std::move(out.o);
      env[r.getFinalState()] = std::move(out.finalState);
      if (r.getFinalM()) env[r.getFinalM()] = std::move(out.finalM);
    } else if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      // Named by the function's results (a derived backward names its
      // gradients), else o, final_state, final_m.
      static const char *names[] = {"o", "final_state", "final_m"};
      for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
        auto name = func.getResultAttrOfType<StringAttr>(i, "mixer.name");
        outputs[name ? name.str() : names[std::min<size_t>(i, 2)]] = env[v];
      }
    } else if (isa<mixer::ChunkCumsumOp, mixer::ChunkScoresOp, mixer::ChunkLocalStatesOp, mixer::ChunkWalkOp,
                   mixer::ChunkOutputOp, mixer::ChunkUtOp, mixer::ChunkUtStatesOp, mixer::ChunkUtOutputOp,
                   mixer::ChunkScanLocalOp, mixer::ChunkScanOutputOp>(op)) {
      if (std::string e = evalChunkOp(*this, &op); !e.empty()) return e;
    } else if (isa<mixer::MapVjpOp, mixer::BinaryVjpOp, mixer::NormalizeVjpOp, mixer::ZerosLikeOp,
                   mixer::RecurrenceGradOp>(op)) {
      if (std::string e = evalAdjointOp(*this, &op); !e.empty()) return e;
    } else if (isa<mixer::ShiftTokensOp, mixer::TokenCumsumOp, mixer::EdgeTokenOp, mixer::TransposeStateOp,
                   mixer::SumToOp, mixer::RepeatHeadsOp, mixer::SumHeadsOp>(op)) {
      if (std::string e = evalTokenOp(*this, &op, B, T); !e.empty()) return e;
    } else if (isa<mixer::RouteSlotsOp, mixer::RouteGatherOp, mixer::RouteScatterOp, mixer::MemoryStatesOp,
                   mixer::RouteWeightGradOp>(op)) {
      if (std::string e = evalRouteOp(*this, &op); !e.empty()) return e;
    } else {
      return "the reference cannot interpret '" + op.getName().getStringRef().str() + "'";
    }
  }
  return "";
}

} // namespace mixc
