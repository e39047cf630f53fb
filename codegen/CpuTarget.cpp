#include "codegen/CpuTarget.h"

#include "dialect/MixerOps.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mixc::mixer;

namespace mixc {

const std::vector<std::pair<std::string, std::string>> &cpuRuntimeHeaders() {
  static const std::vector<std::pair<std::string, std::string>> headers = {
#include "codegen/CpuRuntimeHeaders.inc"
  };
  return headers;
}

namespace {

std::string shapeList(RankedTensorType t, bool dynamicAsVar) {
  std::string s = "{";
  for (auto [i, d] : llvm::enumerate(t.getShape())) {
    if (i) s += ", ";
    if (ShapedType::isDynamic(d)) s += dynamicAsVar ? (i == 0 ? "B" : "T") : "-1";
    else s += std::to_string(d);
  }
  return s + "}";
}

const char *unaryExpr(UnaryFn fn) {
  switch (fn) {
  case UnaryFn::neg: return "-x";
  case UnaryFn::exp: return "fastExp(x)";
  case UnaryFn::log: return "std::log(x)";
  case UnaryFn::sigmoid: return "sigmoid(x)";
  case UnaryFn::logsigmoid: return "logsigmoid(x)";
  case UnaryFn::softplus: return "softplus(x)";
  case UnaryFn::silu: return "silu(x)";
  case UnaryFn::elu: return "elu(x)";
  case UnaryFn::relu: return "relu(x)";
  case UnaryFn::abs: return "std::fabs(x)";
  case UnaryFn::sqrt: return "std::sqrt(x)";
  case UnaryFn::tanh: return "std::tanh(x)";
  default: return nullptr;
  }
}

const char *binaryExpr(BinaryFn fn) {
  switch (fn) {
  case BinaryFn::add: return "a + b";
  case BinaryFn::sub: return "a - b";
  case BinaryFn::mul: return "a * b";
  case BinaryFn::div: return "a / b";
  case BinaryFn::max: return "std::max(a, b)";
  case BinaryFn::min: return "std::min(a, b)";
  case BinaryFn::pow: return "std::pow(a, b)";
  default: return nullptr;
  }
}

const char *structureName(Structure s) {
  switch (s) {
  case Structure::identity: return "identity";
  case Structure::const_scalar: return "const_scalar";
  case Structure::scalar: return "scalar";
  case Structure::vector: return "vector";
  case Structure::elementwise: return "elementwise";
  case Structure::dplr: return "dplr";
  }
  return "identity";
}

class Printer {
public:
  explicit Printer(func::FuncOp func) : func(func), os(body) {}

  FailureOr<CpuKernelSource> run();

private:
  func::FuncOp func;
  std::string body;
  llvm::raw_string_ostream os;
  llvm::DenseMap<Value, std::string> names;
  int counter = 0;
  CpuKernelSource out;

  std::string fresh(Value v) {
    std::string n = "v" + std::to_string(counter++);
    names[v] = n;
    return n;
  }
  const std::string &name(Value v) { return names[v]; }
  LogicalResult emitRecurrence(RecurrenceOp op);
};

LogicalResult Printer::emitRecurrence(RecurrenceOp op) {
  auto schedule = op->getAttrOfType<DictionaryAttr>("mixer.schedule");
  if (!schedule) return op.emitOpError() << "has no mixer.schedule: run mixer-tile first";
  if (op.getDirection() == Direction::bidirectional || op.getNormalizerKind() == Normalizer::sum ||
      op.getSkipWeight())
    return op.emitOpError() << "the CPU target expects the split form";
  auto stateType = cast<RankedTensorType>(op.getFinalState().getType());
  int64_t H = stateType.getDimSize(1), K = stateType.getDimSize(2), Vs = stateType.getDimSize(3);
  int64_t vBlock = cast<IntegerAttr>(schedule.get("v_block")).getInt();
  bool mlstm = op.getNormalizerKind() == Normalizer::mlstm;
  Structure s = op.getStructure();
  std::string diag = "none";
  if (s == Structure::dplr && op.getDecay())
    diag = cast<RankedTensorType>(op.getDecay().getType()).getRank() == 3 ? "scalar" : "vector";
  int64_t V = mlstm ? Vs - 1 : Vs;
  std::string r = "r" + std::to_string(counter++);
  auto operand = [&](Value v, const std::string &shape) {
    return llvm::formatv("as({0}, {1}, {2}_tmp{3})", name(v), shape, r, counter++).str();
  };
  os << "  // " << structureName(s) << (op.getDirection() == Direction::reverse ? " reverse" : "")
     << " recurrence, K = " << K << ", state columns = " << Vs << ", value block = " << vBlock << "\n";
  os << "  Buffer " << r << "_o({B, T, " << H << ", " << V << "}), " << r << "_state({B, " << H << ", " << K << ", "
     << Vs << "}), " << r << "_m({B, " << H << "});\n";
  os << "  {\n    ScanArgs p;\n    p.B = B; p.T = T; p.H = " << H << "; p.Vs = " << Vs << ";\n";
  // Temporaries for broadcast operands live as long as the scan.
  std::string tmps;
  for (int i = 0; i < 12; ++i) tmps += (i ? ", " : "") + r + "_tmp" + std::to_string(counter + i);
  std::string tokK = llvm::formatv("{B, T, {0}, {1}}", H, K).str();
  std::string tokV = llvm::formatv("{B, T, {0}, {1}}", H, V).str();
  std::string tok = llvm::formatv("{B, T, {0}}", H).str();
  std::vector<std::string> lines;
  lines.push_back("p.q = " + operand(op.getQ(), tokK) + ";");
  lines.push_back("p.k = " + operand(op.getK(), tokK) + ";");
  lines.push_back("p.v = " + operand(op.getV(), tokV) + ";");
  if (Value d = op.getDecay()) {
    std::string shape;
    if (s == Structure::elementwise) shape = llvm::formatv("{1, 1, {0}, {1}, {2}}", H, K, Vs).str();
    else if (s == Structure::vector || (s == Structure::dplr && diag == "vector")) shape = tokK;
    else shape = tok;
    lines.push_back("p.decay = " + operand(d, shape) + ";");
  }
  if (Value dt = op.getDt()) lines.push_back("p.dt = " + operand(dt, tokV) + ";");
  if (Value a = op.getA()) lines.push_back("p.a = " + operand(a, tokK) + ";");
  if (Value b = op.getB()) lines.push_back("p.b = " + operand(b, tokK) + ";");
  if (Value ig = op.getIgate()) lines.push_back("p.igate = " + operand(ig, tok) + ";");
  if (Value u = op.getBonus()) lines.push_back("p.bonus = " + operand(u, llvm::formatv("{1, 1, {0}, {1}}", H, K).str()) + ";");
  if (Value init = op.getInit())
    lines.push_back("p.init = present_" + name(init) + " ? " + operand(init, llvm::formatv("{B, {0}, {1}, {2}}", H, K, Vs).str()) + " : nullptr;");
  if (Value m0 = op.getInitM())
    lines.push_back("p.initM = present_" + name(m0) + " ? " + operand(m0, llvm::formatv("{B, {0}}", H).str()) + " : nullptr;");
  os << "    Buffer " << tmps << ";\n";
  for (const std::string &l : lines) os << "    " << l << "\n";
  os << "    p.o = " << r << "_o.ptr(); p.state = " << r << "_state.ptr(); p.m = " << r << "_m.ptr();\n";
  os << "    p.scale = " << llvm::formatv("{0:e}", op.getScaleValue()).str() << "f;\n";
  os << "    p.reverse = " << (op.getDirection() == Direction::reverse ? "true" : "false") << ";\n";
  std::string st = std::string("Structure::") + structureName(s), dk = "DiagKind::" + diag;
  const char *bonus = op.getBonus() ? "true" : "false", *ml = mlstm ? "true" : "false",
             *hasDt = op.getDt() ? "true" : "false";
  os << "    if (plain) scanPlain(p, " << K << ", " << st << ", " << dk << ", " << bonus << ", " << ml << ", " << hasDt
     << ", threads);\n";
  os << "    else scanRecurrent<" << st << ", " << K << ", " << vBlock << ", " << dk << ", " << bonus << ", " << ml
     << ", " << hasDt << ">(p, threads);\n  }\n";
  names[op.getO()] = r + "_o";
  names[op.getFinalState()] = r + "_state";
  if (op.getFinalM()) names[op.getFinalM()] = r + "_m";
  return success();
}

FailureOr<CpuKernelSource> Printer::run() {
  out.name = "mixc_" + func.getName().str();
  unsigned nin = func.getNumArguments();
  auto results = func.getBody().front().getTerminator()->getOperands();
  static const char *resultNames[] = {"o", "final_state", "final_m"};

  std::string inputDoc, outputDoc;
  os << "  Checker chk(error, error_len);\n";
  os << "  kernelThreads() = threads > 0 ? threads : 1;\n";
  os << "  if (num_inputs != " << nin << ") return chk.fail(\"expected " << nin << " inputs, got %d\", num_inputs);\n";
  os << "  if (num_outputs != " << results.size() << ") return chk.fail(\"expected " << results.size()
     << " outputs, got %d\", num_outputs);\n";
  os << "  if (!inputs || !outputs) return chk.fail(\"null inputs or outputs array\");\n";
  os << "  int64_t B = -1, T = -1;\n";
  for (unsigned i = 0; i < nin; ++i) {
    auto t = cast<RankedTensorType>(func.getArgument(i).getType());
    auto nameAttr = func.getArgAttrOfType<StringAttr>(i, "mixer.name");
    std::string n = nameAttr ? nameAttr.str() : "arg" + std::to_string(i);
    bool perHead = t.getRank() >= 3 && t.getDimSize(0) == 1 && t.getDimSize(1) == 1;
    bool optional = n == "init" || n == "init_m";
    out.inputs.push_back(n);
    os << "  if (!chk.tensor(&inputs[" << i << "], \"input\", \"" << n << "\", " << shapeList(t, false) << ", "
       << (perHead ? "true" : "false") << ", " << (optional ? "true" : "false") << ", B, T)) return 1;\n";
    inputDoc += llvm::formatv(" *   inputs[{0}]  {1,-12} {2}{3}{4}\n", i, n, shapeList(t, true),
                              perHead ? " (or without the leading 1, 1)" : "", optional ? ", optional (NULL data: zeros)" : "")
                    .str();
  }
  for (auto [i, v] : llvm::enumerate(results)) {
    auto t = cast<RankedTensorType>(v.getType());
    out.outputs.push_back(resultNames[std::min<size_t>(i, 2)]);
    os << "  if (!chk.tensor(&outputs[" << i << "], \"output\", \"" << resultNames[std::min<size_t>(i, 2)] << "\", "
       << shapeList(t, false) << ", false, false, B, T)) return 1;\n";
    outputDoc += llvm::formatv(" *   outputs[{0}] {1,-12} {2}\n", i, resultNames[std::min<size_t>(i, 2)], shapeList(t, true)).str();
  }
  os << "  if (B < 0 || T < 0) return chk.fail(\"no per-token input fixes the batch and time sizes\");\n";
  for (unsigned i = 0; i < nin; ++i) {
    Value arg = func.getArgument(i);
    auto t = cast<RankedTensorType>(arg.getType());
    std::string n = fresh(arg);
    os << "  Buffer " << n << " = load(inputs[" << i << "], " << shapeList(t, true) << ");\n";
    os << "  const bool present_" << n << " = inputs[" << i << "].data != nullptr;\n";
    os << "  (void)present_" << n << ";\n";
  }
  for (Operation &op : func.getBody().front()) {
    if (auto m = dyn_cast<MapOp>(op)) {
      std::string in = name(m.getInput()), res = fresh(m.getResult());
      switch (m.getFn()) {
      case UnaryFn::l2norm: os << "  Buffer " << res << " = l2norm(" << in << ");\n"; break;
      case UnaryFn::taylor2: os << "  Buffer " << res << " = taylor2(" << in << ");\n"; break;
      case UnaryFn::ones: os << "  Buffer " << res << " = ones(" << in << ");\n"; break;
      case UnaryFn::append_one: os << "  Buffer " << res << " = appendOne(" << in << ");\n"; break;
      default:
        os << "  Buffer " << res << " = map(" << in << ", [](float x) { return " << unaryExpr(m.getFn()) << "; });\n";
      }
    } else if (auto bop = dyn_cast<BinaryOp>(op)) {
      std::string a = name(bop.getLhs()), b = name(bop.getRhs()), res = fresh(bop.getResult());
      if (bop.getFn() == BinaryFn::dot) os << "  Buffer " << res << " = dot(" << a << ", " << b << ");\n";
      else
        os << "  Buffer " << res << " = binary(" << a << ", " << b << ", [](float a, float b) { return "
           << binaryExpr(bop.getFn()) << "; });\n";
    } else if (auto c = dyn_cast<ConstantOp>(op)) {
      auto dense = cast<DenseFPElementsAttr>(c.getValue());
      std::string res = fresh(c.getResult());
      os << "  Buffer " << res << "(std::vector<int64_t>" << shapeList(cast<RankedTensorType>(c.getType()), true)
         << ");\n";
      os << "  " << res << ".data = {";
      int64_t i = 0;
      for (APFloat v : dense.getValues<APFloat>()) os << (i++ ? ", " : "") << llvm::formatv("{0:e}", v.convertToDouble()).str() << "f";
      os << "};\n";
    } else if (auto h = dyn_cast<HeadIndexOp>(op)) {
      os << "  Buffer " << fresh(h.getResult()) << " = headIndex("
         << cast<RankedTensorType>(h.getType()).getDimSize(2) << ");\n";
    } else if (auto n = dyn_cast<NormalizeOp>(op)) {
      os << "  Buffer " << fresh(n.getResult()) << " = normalize(" << name(n.getInput()) << ", "
         << llvm::formatv("{0:e}", n.getEps().convertToDouble()).str() << "f, "
         << llvm::formatv("{0:e}", n.getScale().convertToDouble()).str() << "f);\n";
    } else if (auto r = dyn_cast<RecurrenceOp>(op)) {
      if (failed(emitRecurrence(r))) return failure();
    } else if (isa<func::ReturnOp>(op)) {
      for (auto [i, v] : llvm::enumerate(op.getOperands()))
        os << "  store(" << name(v) << ", outputs[" << i << "]);\n";
    } else {
      return op.emitOpError() << "is not supported by the CPU target";
    }
  }
  os << "  return 0;\n";

  std::string fname = func.getName().str();
  out.source = "// Generated by mixc for the CPU from the mixer function @" + fname +
               ". Sizes are compile-time constants\n// so that the host compiler vectorizes the scan for its target.\n"
               "#include \"mixc_cpu.h\"\n\nusing namespace mixc::cpu;\n\nnamespace {\n"
               "// Returns a pointer to `b` laid out as `shape`, materializing a broadcast in `tmp`.\n"
               "const float *as(const Buffer &b, std::vector<int64_t> shape, Buffer &tmp) {\n"
               "  if (b.shape == shape) return b.ptr();\n  tmp = broadcastTo(b, shape);\n  return tmp.ptr();\n}\n\n"
               "int run(const mixc_tensor *inputs, int num_inputs, mixc_tensor *outputs, int num_outputs, int threads,\n"
               "        char *error, int error_len, bool plain) {\n" +
               body + "}\n} // namespace\n\nextern \"C\" {\n" + "int " + out.name +
               "(const mixc_tensor *inputs, int num_inputs, mixc_tensor *outputs, int num_outputs, int threads,\n"
               "    char *error, int error_len) {\n  return run(inputs, num_inputs, outputs, num_outputs, threads, error, error_len, false);\n}\n" +
               "// The plain recurrence (no blocking, sizes at run time): the baseline of `mixc bench`.\nint " + out.name +
               "_plain(const mixc_tensor *inputs, int num_inputs, mixc_tensor *outputs, int num_outputs, int threads,\n"
               "    char *error, int error_len) {\n  return run(inputs, num_inputs, outputs, num_outputs, threads, error, error_len, true);\n}\n}\n";
  std::string guard = "MIXC_KERNEL_" + llvm::StringRef(fname).upper() + "_H";
  out.header = "/* Generated by mixc: the CPU kernel of @" + fname + ".\n *\n * Arguments (mixc_tensor, f32 or bf16, any positive strides):\n" +
               inputDoc + outputDoc +
               " * Returns 0, or 1 with a message naming the bad argument in `error`.\n */\n#ifndef " + guard +
               "\n#define " + guard + "\n\n#include \"mixc_tensor.h\"\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\nint " +
               out.name + "(const mixc_tensor *inputs, int num_inputs, mixc_tensor *outputs, int num_outputs, int num_threads,\n    char *error, int error_len);\nint " +
               out.name + "_plain(const mixc_tensor *inputs, int num_inputs, mixc_tensor *outputs, int num_outputs, int num_threads,\n    char *error, int error_len);\n\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n";
  return out;
}

} // namespace

FailureOr<CpuKernelSource> emitCpuKernel(func::FuncOp func) { return Printer(func).run(); }

} // namespace mixc
