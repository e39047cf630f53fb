// mixc: the driver. `check` prints the recognized structure, `emit` prints the
// IR, `run` executes a spec on generated or given inputs.
#include "codegen/ReferenceTarget.h"
#include "dialect/MixerOps.h"
#include "frontend/MLIRGen.h"
#include "frontend/spec/Analysis.h"
#include "runtime/Npy.h"
#include "runtime/reference/AttentionForm.h"
#include "runtime/reference/Recurrence.h"

#include "mlir/IR/Verifier.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <random>

using namespace llvm;
namespace sp = mixc::spec;

namespace {

cl::SubCommand checkCmd("check", "Print the transition structure mixc finds in a spec");
cl::SubCommand emitCmd("emit", "Print the spec lowered to the mixer dialect");
cl::SubCommand runCmd("run", "Run a spec on generated inputs or on .npy files");

cl::opt<std::string> specPath(cl::Positional, cl::desc("SPEC"), cl::Required, cl::sub(checkCmd), cl::sub(emitCmd),
                              cl::sub(runCmd));
cl::opt<std::string> shapeOpt("shape", cl::desc("Sizes, e.g. B=2,T=1024,H=4,K=64,V=64 (emit: H, K, V)"),
                              cl::sub(emitCmd), cl::sub(runCmd));
cl::opt<std::string> dtypeOpt("dtype", cl::desc("Element type: f32 (default), bf16, f16 or f64"), cl::init("f32"),
                              cl::sub(emitCmd), cl::sub(runCmd));
cl::opt<std::string> stageOpt("stage", cl::desc("What to emit: mlir"), cl::init("mlir"), cl::sub(emitCmd));
cl::opt<std::string> outFile("o", cl::desc("Output file (default: stdout)"), cl::init("-"), cl::sub(emitCmd));
cl::opt<std::string> targetOpt("target", cl::desc("Where to run: reference (float64, token by token)"),
                               cl::init("reference"), cl::sub(runCmd));
cl::opt<std::string> inputsDir("inputs", cl::desc("Directory with one NAME.npy per spec input ([B, T, H, D]; "
                                                  "per-token scalars [B, T, H]; parameters [H, ...]; optional "
                                                  "init.npy [B, H, K, V])"),
                               cl::sub(runCmd));
cl::opt<std::string> outDir("out", cl::desc("Directory to write o.npy, final_state.npy (and final_m.npy)"),
                            cl::sub(runCmd));
cl::opt<unsigned> seedOpt("seed", cl::desc("Seed of the generated inputs"), cl::init(0), cl::sub(runCmd));
cl::opt<bool> initOpt("with-init", cl::desc("Generate a random initial state too"), cl::sub(runCmd));
cl::opt<bool> noCheck("no-check", cl::desc("Skip the check against the attention form"), cl::sub(runCmd));

[[noreturn]] void die(const std::string &msg) {
  outs().flush();
  errs() << "mixc: error: " << msg << "\n";
  exit(1);
}

struct Shape {
  int64_t B = 2, T = 1024;
  sp::Sizes sizes;
};

Shape parseShape(const std::string &s, bool allowBT) {
  Shape shape;
  if (s.empty()) return shape;
  StringRef rest(s);
  while (!rest.empty()) {
    auto [item, tail] = rest.split(',');
    rest = tail;
    auto [key, value] = item.split('=');
    int64_t v;
    if (value.trim().getAsInteger(10, v) || v <= 0 || v > (1 << 24))
      die("--shape: '" + item.str() + "' needs a positive integer value");
    key = key.trim();
    if (key == "B" && allowBT) shape.B = v;
    else if (key == "T" && allowBT) shape.T = v;
    else if (key == "H") shape.sizes.H = v;
    else if (key == "K") shape.sizes.K = v;
    else if (key == "V") shape.sizes.V = v;
    else die("--shape: unknown size '" + key.str() + "' (expected " + (allowBT ? "B, T, " : "") + "H, K, V)");
  }
  if (shape.sizes.K > 1024 || shape.sizes.V > 1024) die("--shape: K and V are limited to 1024");
  return shape;
}

sp::SourceFile readSpec() {
  auto buf = MemoryBuffer::getFileOrSTDIN(specPath);
  if (!buf) die("cannot read '" + specPath + "': " + buf.getError().message());
  return {specPath, (*buf)->getBuffer().str()};
}

sp::MixerDesc analyzeOrExit(const sp::SourceFile &src) {
  sp::AnalysisResult r = sp::analyze(src);
  if (!r.desc) {
    errs() << r.error;
    exit(1);
  }
  return *r.desc;
}

mlir::Type elementType(mlir::MLIRContext &ctx) {
  mlir::Builder b(&ctx);
  if (dtypeOpt == "f32") return b.getF32Type();
  if (dtypeOpt == "f64") return b.getF64Type();
  if (dtypeOpt == "bf16") return b.getBF16Type();
  if (dtypeOpt == "f16") return b.getF16Type();
  die("--dtype: unknown element type '" + dtypeOpt + "' (expected f32, bf16, f16 or f64)");
}

mlir::OwningOpRef<mlir::ModuleOp> lower(mlir::MLIRContext &ctx, const sp::SourceFile &src,
                                        const sp::MixerDesc &desc, const sp::Sizes &sizes) {
  mixc::loadDialects(ctx);
  auto module = mixc::emitMLIR(ctx, src, desc, sizes, elementType(ctx));
  if (failed(mlir::verify(*module))) die("internal error: the emitted IR does not verify");
  return module;
}

// Rounds to what the element type can hold, so that the reference sees the
// same inputs a kernel of that type would.
double roundTo(double x, const std::string &dtype) {
  if (dtype == "f64") return x;
  float f = (float)x;
  if (dtype == "f32") return f;
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if (dtype == "bf16") {
    u = (u + 0x7fff + ((u >> 16) & 1)) & 0xffff0000u;
    std::memcpy(&f, &u, 4);
    return f;
  }
  // f16: round the mantissa to 10 bits (inputs stay in the normal range).
  int e;
  double m = std::frexp(x, &e);
  return std::ldexp(std::nearbyint(std::ldexp(m, 11)), e - 11);
}

int runCheck() {
  sp::SourceFile src = readSpec();
  outs() << sp::describe(analyzeOrExit(src));
  return 0;
}

int runEmit() {
  sp::SourceFile src = readSpec();
  sp::MixerDesc desc = analyzeOrExit(src);
  if (stageOpt != "mlir") die("--stage: unknown stage '" + stageOpt + "' (expected mlir)");
  Shape shape = parseShape(shapeOpt, false);
  mlir::MLIRContext ctx;
  auto module = lower(ctx, src, desc, shape.sizes);
  std::error_code ec;
  raw_fd_ostream os(outFile, ec);
  if (ec) die("cannot write '" + outFile + "': " + ec.message());
  module->print(os);
  return 0;
}

double relL2(const std::vector<double> &a, const std::vector<double> &b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

int runRun() {
  sp::SourceFile src = readSpec();
  sp::MixerDesc desc = analyzeOrExit(src);
  if (targetOpt != "reference") die("--target: unknown target '" + targetOpt + "' (available: reference)");
  Shape shape = parseShape(shapeOpt, true);
  mixc::NamedArrays inputs;
  // With --inputs, H, K and V come from the files.
  if (!inputsDir.empty()) {
    auto load = [&](const std::string &name, bool optional) -> bool {
      std::string path = inputsDir + "/" + name + ".npy";
      if (!sys::fs::exists(path)) {
        if (!optional) die("missing input file '" + path + "'");
        return false;
      }
      mixc::NpyArray a;
      if (std::string e = mixc::readNpy(path, a); !e.empty()) die(e);
      inputs[name] = mixc::ref::Array(a.shape);
      inputs[name].data = std::move(a.data);
      return true;
    };
    for (const sp::Argument &a : desc.args) load(a.name, false);
    load("init", true);
    load("init_m", true);
    // Infer H, K, V from the inputs' shapes.
    for (const sp::Argument &a : desc.args) {
      const auto &arr = inputs[a.name];
      const sp::Node &n = desc.nodes[a.node];
      size_t lead = a.isParam ? 1 : 3;
      if (arr.rank() != (int64_t)(lead + n.dims.size()))
        die("input '" + a.name + "' has shape " + arr.shapeString() + ", expected rank " +
            std::to_string(lead + n.dims.size()) + (a.isParam ? " ([H, ...])" : " ([B, T, H, ...])"));
      if (!a.isParam && &a == &desc.args.front()) shape.B = arr.dim(0), shape.T = arr.dim(1);
      shape.sizes.H = arr.dim(lead - 1);
      for (size_t i = 0; i < n.dims.size(); ++i)
        if (n.dims[i] == sp::Dim::K) shape.sizes.K = arr.dim(lead + i);
        else if (n.dims[i] == sp::Dim::V) shape.sizes.V = arr.dim(lead + i);
    }
  }
  mlir::MLIRContext ctx;
  auto module = lower(ctx, src, desc, shape.sizes);
  auto func = cast<mlir::func::FuncOp>(module->getBody()->front());
  const std::string dtype = dtypeOpt;

  if (inputsDir.empty()) {
    std::mt19937_64 rng(seedOpt);
    std::normal_distribution<double> normal(0.0, 1.0);
    for (const mixc::ArgumentSpec &a : mixc::argumentSpecs(func)) {
      if (a.isState && !initOpt) continue;
      std::vector<int64_t> s = a.shape;
      if (s[0] < 0) s[0] = shape.B;
      if (s.size() > 1 && s[1] < 0) s[1] = shape.T;
      mixc::ref::Array arr(s);
      // Realistic ranges: inputs N(0, 1) pass through the spec's own gates;
      // parameters and states are smaller. Nothing is zero.
      double sd = a.isState ? 0.5 : a.perHead ? 0.5 : 1.0;
      for (double &x : arr.data) x = roundTo(sd * normal(rng), dtype);
      if (a.name == "init" && desc.normalizer != "none") // normalizer column: positive sums
        for (int64_t i = shape.sizes.V; i < arr.size(); i += shape.sizes.V + 1) arr.data[i] = std::fabs(arr.data[i]) + 0.5;
      inputs[a.name] = std::move(arr);
    }
  } else {
    for (auto &[name, arr] : inputs)
      for (double &x : arr.data) x = roundTo(x, dtype);
  }

  outs() << "mixc: " << desc.name << " (" << specPath << "): structure " << desc.structure
         << (desc.structure == "dplr" ? " [" + desc.dplrDiag + " diagonal]" : "") << ", direction " << desc.direction
         << ", normalizer " << desc.normalizer << "\n";
  outs() << "  target reference (float64, token by token); inputs "
         << (inputsDir.empty() ? "generated, seed " + std::to_string(seedOpt) : "from " + inputsDir)
         << ", rounded to " << dtype << "\n";
  outs() << "  shape B=" << shape.B << " T=" << shape.T << " H=" << shape.sizes.H << " K="
         << sp::dimSize(desc.keyDim, shape.sizes) << " V=" << shape.sizes.V
         << (inputs.count("init") ? ", with initial state" : ", zero initial state") << "\n";

  mixc::NamedArrays outputs;
  double checkErr = -1;
  int64_t checkedPairs = 0, pairs = shape.B * shape.sizes.H;
  std::string checkError;
  using Clock = std::chrono::steady_clock;
  Clock::time_point t0, tRecurrence;
  auto hook = [&](const mixc::ref::RecurrenceInputs &in, const mixc::ref::RecurrenceOutputs &out) {
    tRecurrence = Clock::now();
    if (noCheck) return;
    // The attention form costs O(T^2 K) per (batch, head), O(T^2 K V) for an
    // elementwise decay: check as many pairs as fit the budget.
    double per = (double)shape.T * shape.T * sp::dimSize(desc.keyDim, shape.sizes) *
                 (desc.structure == "elementwise" ? shape.sizes.V : 1) * (desc.direction == "bidirectional" ? 2 : 1);
    checkedPairs = std::clamp<int64_t>((int64_t)(4e9 / std::max(per, 1.0)), 1, pairs);
    if (per > 4e10) return; // even one pair is too slow
    mixc::ref::Array o;
    checkError = mixc::ref::runAttentionForm(in, o, checkedPairs);
    int64_t rows = checkedPairs; // pairs are (b, h) in row-major order
    std::vector<double> a, b;
    const int64_t H = shape.sizes.H, T = shape.T, V = shape.sizes.V;
    for (int64_t p = 0; p < rows; ++p)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t j = 0; j < V; ++j) {
          size_t idx = (((p / H) * T + t) * H + p % H) * V + j;
          a.push_back(out.o.data[idx]);
          b.push_back(o.data[idx]);
        }
    checkErr = relL2(b, a, a.size());
  };
  t0 = Clock::now();
  if (std::string e = mixc::runReference(func, inputs, outputs, hook); !e.empty()) die(e);
  auto ms = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  outs() << format("  ran in %.1f ms", ms(tRecurrence - t0));
  if (!noCheck) outs() << format(", checked in %.1f ms", ms(Clock::now() - tRecurrence));
  outs() << "\n";
  for (auto &[name, arr] : outputs) {
    double ss = 0;
    bool finite = true;
    for (double x : arr.data) ss += x * x, finite &= std::isfinite(x);
    outs() << "  " << name << " " << arr.shapeString()
           << format("  rms %.4g", std::sqrt(ss / std::max<int64_t>(arr.size(), 1))) << (finite ? "" : "  NOT FINITE")
           << "\n";
    if (!finite) die("output '" + name + "' is not finite");
  }
  int status = 0;
  if (!checkError.empty()) die("attention form: " + checkError);
  if (checkErr >= 0) {
    // Both algorithms run in float64: they agree to rounding unless one is wrong.
    bool ok = checkErr < 1e-9;
    outs() << format("  check: o against the attention form (T x T, an independent algorithm) on %lld of %lld "
                     "(batch, head) pairs: relative L2 error %.2e  %s\n",
                     (long long)checkedPairs, (long long)pairs, checkErr, ok ? "OK" : "FAILED");
    if (!ok) status = 1;
  } else if (!noCheck) {
    outs() << "  check: skipped, the attention form is too slow at this T (use a smaller T)\n";
  }
  if (!outDir.empty()) {
    sys::fs::create_directories(outDir);
    for (auto &[name, arr] : outputs) {
      std::string path = outDir + "/" + name + ".npy";
      if (std::string e = mixc::writeNpy(path, arr.shape, arr.data, dtype == "f64" ? "f8" : "f4"); !e.empty()) die(e);
      outs() << "  wrote " << path << "\n";
    }
  }
  return status;
}

} // namespace

int main(int argc, char **argv) {
  cl::SetVersionPrinter([](raw_ostream &os) { os << "mixc 0.1\n"; });
  cl::ParseCommandLineOptions(argc, argv, "mixc: a compiler for sequence mixers\n\n"
                                          "  mixc check SPEC\n  mixc emit SPEC --stage=mlir\n"
                                          "  mixc run SPEC --target=reference\n");
  if (checkCmd) return runCheck();
  if (emitCmd) return runEmit();
  if (runCmd) return runRun();
  errs() << "mixc: error: expected a subcommand: check, emit or run (see --help)\n";
  return 1;
}
