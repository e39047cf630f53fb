// mixc: the driver. `check` prints the recognized structure, `emit` prints the
// IR or writes kernel sources, `run` executes a spec on generated or given
// inputs, `bench` times a compiled kernel against its baselines.
#include "codegen/CpuTarget.h"
#include "codegen/CudaTarget.h"
#include "codegen/ReferenceTarget.h"
#include "frontend/mixc/Driver.h"
#include "dialect/MixerOps.h"
#include "frontend/MLIRGen.h"
#include "frontend/spec/Analysis.h"
#include "passes/Passes.h"
#include "runtime/Npy.h"
#include "runtime/cpu/HostCompiler.h"
#include "runtime/cpu/mixc_cpu.h"
#include "runtime/reference/AttentionForm.h"
#include "runtime/reference/Recurrence.h"

#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <thread>

using namespace llvm;
namespace mixc::driver {

cl::SubCommand checkCmd("check", "Print the transition structure mixc finds in a spec");
cl::SubCommand emitCmd("emit", "Print the spec lowered to the mixer dialect, or write kernel sources");
cl::SubCommand runCmd("run", "Run a spec on generated inputs or on .npy files");
cl::SubCommand benchCmd("bench", "Time a compiled kernel against the plain recurrence and the reference");

cl::opt<std::string> specPath(cl::Positional, cl::desc("SPEC"), cl::Required, cl::sub(checkCmd), cl::sub(emitCmd),
                              cl::sub(runCmd), cl::sub(benchCmd));
cl::opt<std::string> shapeOpt("shape", cl::desc("Sizes, e.g. B=2,T=1024,H=4,K=64,V=64 (check, emit: H, K, V)"),
                              cl::sub(checkCmd), cl::sub(emitCmd), cl::sub(runCmd), cl::sub(benchCmd));
cl::opt<std::string> dtypeOpt("dtype", cl::desc("Element type: f32 (default), bf16, f16 or f64 (cpu: f32 or bf16)"),
                              cl::init("f32"), cl::sub(emitCmd), cl::sub(runCmd), cl::sub(benchCmd));
cl::opt<std::string> stageOpt("stage", cl::desc("What to print: mlir (the spec level), chunks (the chunk level), tiled "
                                               "(after the CPU pipeline) or backward (the derived backward beside the "
                                               "forward)"),
                              cl::init("mlir"), cl::sub(emitCmd));
cl::opt<std::string> emitTarget("target", cl::desc("With -o DIR: write the kernel for this target (cpu or cuda) as source "
                                                   "plus a C header"),
                                cl::init(""), cl::sub(emitCmd));
cl::opt<std::string> outFile("o", cl::desc("Output file (default: stdout); a directory with --target"), cl::init("-"),
                             cl::sub(emitCmd));
cl::opt<std::string> targetOpt("target", cl::desc("Where to run: reference (float64, token by token), cpu or cuda"),
                               cl::init("reference"), cl::sub(runCmd));
cl::opt<std::string> benchTarget("target", cl::desc("What to time: cpu or cuda"), cl::init("cpu"), cl::sub(benchCmd));
cl::opt<std::string> inputsDir("inputs", cl::desc("Directory with one NAME.npy per spec input ([B, T, H, D]; "
                                                  "per-token scalars [B, T, H]; parameters [H, ...]; optional "
                                                  "init.npy [B, H, K, V])"),
                               cl::sub(runCmd));
cl::opt<std::string> outDir("out", cl::desc("Directory to write o.npy, final_state.npy (and final_m.npy)"),
                            cl::sub(runCmd));
cl::opt<std::string> saveInputsDir("save-inputs",
                                   cl::desc("Directory to write the inputs used (NAME.npy, float32; with --dtype "
                                            "bf16 already rounded), for running them elsewhere"),
                                   cl::sub(runCmd));
cl::opt<bool> gradOpt("grad",
                      cl::desc("Also compute the gradient of every input (reference target): the upstream do.npy "
                               "and dfinal_state.npy from --inputs, else generated; writes dNAME.npy into --out and, "
                               "at small shapes, checks them against central finite differences"),
                      cl::sub(runCmd));
cl::opt<bool> chunkLevelOpt("chunk-level",
                            cl::desc("Reference target: also interpret the chunk-level IR (mixer-lower-chunks: the "
                                     "SSD form's ops) and check it against the token-by-token recurrence"),
                            cl::sub(runCmd));
cl::opt<unsigned> seedOpt("seed", cl::desc("Seed of the generated inputs"), cl::init(0), cl::sub(runCmd),
                          cl::sub(benchCmd));
cl::opt<bool> initOpt("with-init", cl::desc("Generate a random initial state too"), cl::sub(runCmd), cl::sub(benchCmd));
cl::opt<bool> noCheck("no-check", cl::desc("Skip the check (reference: against the attention form; cpu: against "
                                           "the reference)"),
                      cl::sub(runCmd));
cl::opt<unsigned> threadsOpt("threads", cl::desc("CPU threads (default: the cores of this machine)"), cl::init(0),
                             cl::sub(checkCmd), cl::sub(emitCmd), cl::sub(runCmd), cl::sub(benchCmd));
cl::opt<std::string> scheduleOpt("schedule", cl::desc("CPU schedule: auto (the compiler's choice), recurrent, or "
                                                     "chunked where the structure has a chunked form"),
                                 cl::init("auto"), cl::sub(checkCmd), cl::sub(emitCmd), cl::sub(runCmd),
                                 cl::sub(benchCmd));
cl::opt<std::string> cpuArchOpt("cpu-arch",
                               cl::desc("CPU: the instruction set the kernel is tiled and built for: native (the "
                                        "best this host runs, default), x86-64-v2, x86-64-v3 (AVX2), x86-64-v4 "
                                        "(AVX-512) or armv8-a (aarch64 NEON; emit only on other hosts)"),
                               cl::init("native"), cl::sub(checkCmd), cl::sub(emitCmd), cl::sub(runCmd),
                               cl::sub(benchCmd));
cl::opt<int> cudaSmsOpt("cuda-sms",
                        cl::desc("CUDA: the GPU's multiprocessors, which the chunked walks' tiling fills (default: "
                                 "the device's for run and bench --target=cuda, else 132: H100 SXM, H200)"),
                        cl::init(0), cl::sub(checkCmd), cl::sub(emitCmd), cl::sub(runCmd), cl::sub(benchCmd));
cl::opt<std::string> adjointOpt("adjoint",
                               cl::desc("The backward's recurrences: scans (forward-shaped scans, chunked where "
                                        "the forward kernels are), sweep (the checkpointed reverse sweep), or auto "
                                        "(the default: scans for every recurrence they cover on a target; the "
                                        "reference interprets the adjoint recurrence itself)"),
                               cl::init("auto"), cl::sub(checkCmd), cl::sub(emitCmd), cl::sub(runCmd));
cl::opt<unsigned> chunkSizeOpt("chunk-size",
                               cl::desc("CPU: tokens per chunk of the chunked schedules (default: the target's, 64)"),
                               cl::init(0), cl::sub(checkCmd), cl::sub(emitCmd), cl::sub(runCmd), cl::sub(benchCmd));
cl::opt<unsigned> repeatsOpt("repeats", cl::desc("Timed runs of each kernel (the median is reported)"), cl::init(5),
                             cl::sub(benchCmd));

[[noreturn]] void die(const std::string &msg) {
  outs().flush();
  errs() << "mixc: error: " << msg << "\n";
  exit(1);
}


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
    else if (key == "G") shape.sizes.G = v;
    else if (key == "F") shape.sizes.F = v;
    else die("--shape: unknown size '" + key.str() + "' (expected " + (allowBT ? "B, T, " : "") + "H, K, V, G, F)");
  }
  if (shape.sizes.H % shape.sizes.G)
    die("--shape: G (heads per group) must divide H, got H=" + std::to_string(shape.sizes.H) +
        ", G=" + std::to_string(shape.sizes.G));
  if (shape.sizes.K > 1024 || shape.sizes.V > 1024 || shape.sizes.F > 1024)
    die("--shape: K, V and F are limited to 1024");
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
  // G > 1 is honoured only by `grouped` inputs: without one it is an error.
  if (sizes.G > 1 && llvm::none_of(desc.args, [](const sp::Argument &a) { return a.grouped; }))
    die("--shape: G=" + std::to_string(sizes.G) + " (heads per group) but no input of " + desc.name +
        " is declared `grouped`");
  if (sizes.F > 0 && !sp::usesDim(desc, sp::Dim::F))
    die("--shape: F=" + std::to_string(sizes.F) + " (a learned feature width) but " + desc.name +
        " has no [K, F] parameter");
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



int threadCount() {
  return threadsOpt ? (int)threadsOpt : std::max(1, (int)std::thread::hardware_concurrency());
}

// Reports an error against the spec as `file:line:col: error:` with the line
// and a caret (a location that is not in the spec: `mixc: error:`), exit 1.
void dieAt(mlir::Location where, const std::string &message) {
  if (auto fl = dyn_cast<mlir::FileLineColLoc>(where)) {
    sp::SourceFile src = readSpec();
    size_t offset = 0;
    for (unsigned line = 1; line < fl.getLine() && offset < src.text.size(); ++offset)
      if (src.text[offset] == '\n') ++line;
    offset = std::min(offset + fl.getColumn() - 1, src.text.size());
    errs() << sp::renderError(src, {offset, 1}, message);
    exit(1);
  }
  die(message.empty() ? std::string("internal error: a pass failed") : message);
}

// Runs a pass pipeline; an error a pass reports against the spec (an option
// the schedule cannot honour) is printed as `file:line:col: error:` with the
// line and a caret, and exits 1.
void runPipeline(mlir::PassManager &pm, mlir::ModuleOp module) {
  std::string message;
  mlir::Location where = mlir::UnknownLoc::get(module.getContext());
  if (succeeded(firstError(module.getContext(), where, message, [&] { return pm.run(module); }))) return;
  dieAt(where, message);
}

// The ISA of --cpu-arch: the tile pass blocks for its vector width and
// registers, the host compiler builds with its flags.
const mixc::cpu::CpuIsa &cpuIsa() {
  static mixc::cpu::CpuIsa isa = [] {
    mixc::cpu::CpuIsa i;
    std::string error;
    if (!mixc::cpu::cpuIsaNamed(cpuArchOpt, i, error)) die("--cpu-arch: " + error);
    return i;
  }();
  return isa;
}

// The CPU pipeline on a clone of `module`: split forms, fold constants, tile.
// With `honour` (run, bench, emit), --schedule=chunked where the CPU has no
// chunked form is the tile pass's error; without it (check) the recurrent
// schedule, with the reason on the op.
namespace {
mixc::CpuTargetDesc cpuTarget(int threads, bool honour) {
  if (scheduleOpt != "auto" && scheduleOpt != "recurrent" && scheduleOpt != "chunked")
    die("--schedule: unknown schedule '" + scheduleOpt + "' (expected auto, recurrent or chunked)");
  if (chunkSizeOpt > 256) die("--chunk-size: must be in [1, 256], got " + std::to_string(chunkSizeOpt));
  const mixc::cpu::CpuIsa &isa = cpuIsa();
  mixc::CpuTargetDesc target;
  target.isa = isa.name;
  target.lanes = isa.lanes;
  target.registers = isa.registers;
  target.cores = threads;
  target.fallback = !honour;
  return target;
}
} // namespace

mlir::OwningOpRef<mlir::ModuleOp> tileForCpu(mlir::ModuleOp module, int threads, bool honour, bool lowerChunks) {
  mlir::OwningOpRef<mlir::ModuleOp> tiled = module.clone();
  mlir::PassManager pm(module.getContext());
  mixc::buildCpuPipeline(pm, cpuTarget(threads, honour), scheduleOpt, (int)chunkSizeOpt, lowerChunks);
  runPipeline(pm, *tiled);
  return tiled;
}

const std::string &adjointChoice() {
  if (adjointOpt != "auto" && adjointOpt != "scans" && adjointOpt != "sweep")
    die("--adjoint: unknown adjoint '" + adjointOpt + "' (expected auto, scans or sweep)");
  return adjointOpt.getValue();
}

namespace {
// The function a backward pipeline added (marked mixer.backward_of), or null.
mlir::func::FuncOp backwardFunction(mlir::ModuleOp m) {
  for (auto f : m.getOps<mlir::func::FuncOp>())
    if (f->hasAttr("mixer.backward_of")) return f;
  return nullptr;
}

// Runs a backward pipeline on `tiled`: its backward function, or failure with the first error in `why`.
mlir::FailureOr<mlir::func::FuncOp> runBackwardPipeline(mlir::PassManager &pm, mlir::ModuleOp tiled, std::string &why) {
  mlir::Location where = mlir::UnknownLoc::get(tiled.getContext());
  if (failed(firstError(tiled.getContext(), where, why, [&] { return pm.run(tiled); }))) return mlir::failure();
  if (mlir::func::FuncOp f = backwardFunction(tiled)) return f;
  why = "mixer-derive-backward made no backward function";
  return mlir::failure();
}
} // namespace

mlir::func::FuncOp deriveCpuBackward(mlir::ModuleOp tiled, int threads) {
  mlir::PassManager pm(tiled.getContext());
  mixc::buildCpuBackwardPipeline(pm, cpuTarget(threads, true), scheduleOpt, (int)chunkSizeOpt, adjointChoice());
  runPipeline(pm, tiled);
  if (mlir::func::FuncOp f = backwardFunction(tiled)) return f;
  die("mixer-derive-backward made no backward function");
}

// The same, failing with the first error in `why` (emit writes the forward alone then).
mlir::FailureOr<mlir::func::FuncOp> tryDeriveCpuBackward(mlir::ModuleOp tiled, int threads, std::string &why) {
  mlir::PassManager pm(tiled.getContext());
  mixc::buildCpuBackwardPipeline(pm, cpuTarget(threads, true), scheduleOpt, (int)chunkSizeOpt, adjointChoice());
  return runBackwardPipeline(pm, tiled, why);
}

// The GPU's multiprocessors the CUDA tiling fills: --cuda-sms, else the
// device's (deviceSms, 0 where none is open), else the default GPU's.
int cudaSms(int deviceSms) {
  if (cudaSmsOpt.getNumOccurrences() && cudaSmsOpt < 1) die("--cuda-sms: expected a positive count, got " +
                                                           std::to_string((int)cudaSmsOpt));
  return cudaSmsOpt > 0 ? (int)cudaSmsOpt : deviceSms > 0 ? deviceSms : mixc::kDefaultCudaSms;
}

mlir::OwningOpRef<mlir::ModuleOp> tileForCuda(mlir::ModuleOp module, int deviceSms) {
  mlir::OwningOpRef<mlir::ModuleOp> tiled = module.clone();
  mlir::PassManager pm(module.getContext());
  mixc::buildCudaPipeline(pm, "auto", cudaSms(deviceSms));
  runPipeline(pm, *tiled);
  return tiled;
}

mlir::OwningOpRef<mlir::ModuleOp> cudaForwardModule(mlir::ModuleOp tiled) {
  mlir::OwningOpRef<mlir::ModuleOp> lowered = tiled.clone();
  mlir::PassManager pm(tiled.getContext());
  mixc::buildCudaChunkLowering(pm);
  runPipeline(pm, *lowered);
  return lowered;
}

mlir::FailureOr<mlir::func::FuncOp> deriveCudaBackward(mlir::ModuleOp tiled, std::string &why, int deviceSms) {
  mlir::PassManager pm(tiled.getContext());
  mixc::buildCudaBackwardPipeline(pm, cudaSms(deviceSms));
  return runBackwardPipeline(pm, tiled, why);
}

mlir::func::FuncOp theFunc(mlir::ModuleOp m) { return cast<mlir::func::FuncOp>(m.getBody()->front()); }

int runCheck() {
  sp::SourceFile src = readSpec();
  sp::MixerDesc desc = analyzeOrExit(src);
  outs() << sp::describe(desc);
  outs() << cpuScheduleText(src, desc, parseShape(shapeOpt, false).sizes);
  outs() << cudaScheduleText(src, desc, parseShape(shapeOpt, false).sizes);
  return 0;
}

// Writes {name, text} files into the directory named by -o.
void writeFiles(const std::vector<std::pair<std::string, std::string>> &files) {
  if (std::error_code ec = sys::fs::create_directories(outFile)) die("cannot create '" + outFile + "': " + ec.message());
  for (const auto &[name, text] : files) {
    std::error_code ec;
    raw_fd_ostream os(outFile + "/" + name, ec);
    if (ec) die("cannot write '" + outFile + "/" + name + "': " + ec.message());
    os << text;
    outs() << "wrote " << outFile << "/" << name << "\n";
  }
}

int runEmit() {
  sp::SourceFile src = readSpec();
  sp::MixerDesc desc = analyzeOrExit(src);
  if (stageOpt != "mlir" && stageOpt != "chunks" && stageOpt != "tiled" && stageOpt != "backward")
    die("--stage: unknown stage '" + stageOpt + "' (expected mlir, chunks, tiled or backward)");
  if (!emitTarget.empty() && emitTarget != "cpu" && emitTarget != "cuda")
    die("--target: unknown target '" + emitTarget + "' (available: cpu, cuda)");
  Shape shape = parseShape(shapeOpt, false);
  mlir::MLIRContext ctx;
  auto module = lower(ctx, src, desc, shape.sizes);
  // A target writes a directory: its runtime headers, the kernel source and its C header.
  auto writeKernel = [&](std::vector<std::pair<std::string, std::string>> files, const std::string &sourceName,
                         const std::string &source, const std::string &header, const std::string &compiler) {
    files.push_back({sourceName, source});
    files.push_back({desc.name + ".h", header});
    writeFiles(files);
    outs() << "build: " << compiler << " -c " << outFile << "/" << sourceName << "\n";
    return 0;
  };
  if (emitTarget == "cpu" && dtypeOpt != "f32")
    die("--dtype: the CPU kernels take f32 or bf16 tensors at run time; emit with f32");
  if (!emitTarget.empty() && outFile == "-")
    die("-o: --target=" + emitTarget + " writes a directory of sources; name it with -o DIR");
  if (emitTarget == "cuda") {
    auto tiled = tileForCuda(*module);
    std::string why;
    mlir::Location where = mlir::UnknownLoc::get(&ctx);
    auto forward = cudaForwardModule(*tiled);
    auto kernel = firstError(&ctx, where, why, [&] { return mixc::emitCudaKernel(theFunc(*forward)); });
    if (failed(kernel)) dieAt(where, why.empty() ? "cannot generate the CUDA kernel" : why);
    // The backward derived from the same tiled forward, where the CUDA target covers it.
    auto files = mixc::cudaRuntimeHeaders();
    std::string bwhy;
    auto bwdFunc = deriveCudaBackward(*tiled, bwhy);
    mlir::FailureOr<mixc::CudaKernelSource> backward = mlir::failure();
    if (succeeded(bwdFunc)) backward = firstError(&ctx, where, bwhy, [&] { return mixc::emitCudaKernel(*bwdFunc); });
    const std::string nvcc = "nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a";
    if (succeeded(backward)) {
      files.push_back({desc.name + "_backward.cu", backward->source});
      files.push_back({desc.name + "_backward.h", backward->header});
      outs() << "build: " << nvcc << " -c " << outFile << "/" << desc.name << "_backward.cu\n";
    } else {
      outs() << "note: no CUDA backward kernel: " << bwhy << "\n";
    }
    return writeKernel(files, desc.name + ".cu", kernel->source, kernel->header, nvcc);
  }
  if (emitTarget == "cpu") {
    // The forward and, where the CPU backward covers the spec, the backward
    // derived from the same tiled forward: two sources, one header.
    auto kernel = mixc::emitCpuKernel(theFunc(*tileForCpu(*module, threadCount())));
    if (failed(kernel)) die("cannot generate the CPU kernel");
    auto tiled = tileForCpu(*module, threadCount(), /*honour=*/true, /*lowerChunks=*/false);
    std::string why;
    auto bwdFunc = tryDeriveCpuBackward(*tiled, threadCount(), why);
    mlir::Location where = mlir::UnknownLoc::get(&ctx);
    mlir::FailureOr<mixc::CpuKernelSource> backward = mlir::failure();
    if (succeeded(bwdFunc)) backward = firstError(&ctx, where, why, [&] { return mixc::emitCpuKernel(*bwdFunc); });
    const std::string flags = "c++ " + mixc::cpu::kernelFlags(cpuIsa());
    auto files = mixc::cpuRuntimeHeaders();
    if (succeeded(backward)) {
      files.push_back({desc.name + "_backward.cpp", backward->source});
      outs() << "build: " << flags << " -c " << outFile << "/" << desc.name << "_backward.cpp\n";
    } else {
      outs() << "note: no backward kernel: " << why << "\n";
    }
    std::string header = succeeded(backward)
                             ? mixc::cpuKernelHeader(desc.name, cpuIsa().name, mixc::cpu::kernelFlags(cpuIsa()),
                                                     {&*kernel, &*backward})
                             : kernel->header;
    writeKernel(files, desc.name + ".cpp", kernel->source, header, flags);
    // The tile library's whole-tensor ops: one object per ISA and flags, which
    // every kernel built with them links.
    outs() << "build: " << flags << " -c " << outFile << "/" << mixc::cpu::kTensorOpsSource << "\n";
    return 0;
  }
  std::error_code ec;
  raw_fd_ostream os(outFile, ec);
  if (ec) die("cannot write '" + outFile + "': " + ec.message());
  if (stageOpt == "tiled") {
    tileForCpu(*module, threadCount())->print(os);
  } else if (stageOpt == "chunks") {
    mlir::PassManager pm(&ctx);
    mixc::buildChunkLevelPipeline(pm, chunkSizeOpt > 0 ? (int)chunkSizeOpt : mixc::kCpuChunkSize);
    runPipeline(pm, *module);
    module->print(os);
  } else if (stageOpt == "backward") {
    mlir::PassManager pm(&ctx);
    pm.addNestedPass<mlir::func::FuncOp>(mlir::createCanonicalizerPass());
    pm.addPass(mixc::createMixerDeriveBackward());
    pm.addPass(mlir::createCanonicalizerPass());
    mixc::MixerLowerAdjointOptions lowering; // untiled: `auto` keeps the adjoint recurrences, `scans` shows the rewrite
    lowering.adjoint = adjointChoice();
    pm.addNestedPass<mlir::func::FuncOp>(mixc::createMixerLowerAdjoint(lowering));
    runPipeline(pm, *module);
    module->print(os);
  } else {
    module->print(os);
  }
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


Problem prepare(bool allowInputsDir) {
  Problem p;
  p.src = readSpec();
  p.desc = analyzeOrExit(p.src);
  p.shape = parseShape(shapeOpt, true);
  const sp::MixerDesc &desc = p.desc;
  Shape &shape = p.shape;
  mixc::NamedArrays &inputs = p.inputs;
  // With --inputs, H, K and V come from the files.
  if (allowInputsDir && !inputsDir.empty()) {
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
    if (desc.memories) load("route", false), load("route_weight", false);
    load("init", true);
    load("init_m", true);
    for (const sp::Argument &a : desc.args) {
      const auto &arr = inputs[a.name];
      const sp::Node &n = desc.nodes[a.node];
      size_t lead = a.isParam ? 1 : a.routed ? 4 : 3;
      if (arr.rank() != (int64_t)(lead + n.dims.size()))
        die("input '" + a.name + "' has shape " + arr.shapeString() + ", expected rank " +
            std::to_string(lead + n.dims.size()) +
            (a.isParam ? " ([H, ...])" : a.routed ? " ([B, T, top k, H, ...])" : " ([B, T, H, ...])"));
      if (!a.isParam && &a == &desc.args.front()) shape.B = arr.dim(0), shape.T = arr.dim(1);
      if (!a.grouped) shape.sizes.H = arr.dim(lead - 1); // grouped inputs have H / G heads
      for (size_t i = 0; i < n.dims.size(); ++i)
        if (n.dims[i] == sp::Dim::K) shape.sizes.K = arr.dim(lead + i);
        else if (n.dims[i] == sp::Dim::V) shape.sizes.V = arr.dim(lead + i);
        else if (n.dims[i] == sp::Dim::F) shape.sizes.F = arr.dim(lead + i);
    }
    for (const sp::Argument &a : desc.args)
      if (a.grouped) {
        const int64_t heads = inputs[a.name].dim(2);
        if (heads < 1 || shape.sizes.H % heads)
          die("input '" + a.name + "' is grouped: its " + std::to_string(heads) + " heads must divide the other "
              "inputs' H = " + std::to_string(shape.sizes.H));
        shape.sizes.G = shape.sizes.H / heads;
      }
    for (auto &[name, arr] : inputs)
      for (double &x : arr.data) x = roundTo(x, dtypeOpt);
    p.module = lower(*p.ctx, p.src, desc, shape.sizes);
    return p;
  }
  p.module = lower(*p.ctx, p.src, desc, shape.sizes);
  std::mt19937_64 rng(seedOpt);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (const mixc::ArgumentSpec &a : mixc::argumentSpecs(theFunc(*p.module))) {
    if (a.isState && !initOpt) continue;
    std::vector<int64_t> s = a.shape;
    if (s[0] < 0) s[0] = shape.B;
    if (s.size() > 1 && s[1] < 0) s[1] = shape.T;
    if (a.perHead) s.erase(s.begin(), s.begin() + 2); // [H, ...], as --inputs reads them back
    mixc::ref::Array arr(s);
    if (a.name == "route" || a.name == "route_weight") { // top-k distinct memories; weights summing to 1
      const int64_t k = s[2];
      std::vector<int64_t> order(desc.memories);
      for (int64_t row = 0; row < s[0] * s[1]; ++row) {
        double *x = arr.data.data() + row * k;
        if (a.name == "route") {
          std::iota(order.begin(), order.end(), 0);
          std::shuffle(order.begin(), order.end(), rng);
          std::copy_n(order.begin(), k, x);
          continue;
        }
        double total = 0;
        for (int64_t j = 0; j < k; ++j) total += x[j] = 0.2 + std::exp(normal(rng));
        for (int64_t j = 0; j < k; ++j) x[j] = roundTo(x[j] / total, dtypeOpt);
      }
      inputs[a.name] = std::move(arr);
      continue;
    }
    // Realistic ranges: inputs N(0, 1) pass through the spec's own gates;
    // parameters and states are smaller. Nothing is zero.
    double sd = a.isState ? 0.5 : a.perHead ? 0.5 : 1.0;
    for (double &x : arr.data) x = roundTo(sd * normal(rng), dtypeOpt);
    if (a.name == "init" && desc.normalizer != "none") // normalizer column: positive sums
      for (int64_t i = shape.sizes.V; i < arr.size(); i += shape.sizes.V + 1) arr.data[i] = roundTo(std::fabs(arr.data[i]) + 0.5, dtypeOpt);
    inputs[a.name] = std::move(arr);
  }
  return p;
}

void printHeader(const Problem &p, const std::string &target) {
  const sp::MixerDesc &desc = p.desc;
  outs() << "mixc: " << desc.name << " (" << specPath << "): structure " << desc.structure
         << (desc.structure == "dplr" ? " [" + desc.dplrDiag + " diagonal]" : "") << ", direction " << desc.direction
         << ", normalizer " << desc.normalizer << "\n";
  outs() << "  target " << target << "; inputs "
         << (inputsDir.empty() ? "generated, seed " + std::to_string(seedOpt) : "from " + inputsDir)
         << ", rounded to " << dtypeOpt << "\n";
  outs() << "  shape B=" << p.shape.B << " T=" << p.shape.T << " H=" << p.shape.sizes.H
         << " K=" << sp::dimSize(desc.keyDim, p.shape.sizes) << " V=" << p.shape.sizes.V
         << (sp::usesDim(desc, sp::Dim::F) ? " F=" + std::to_string(sp::dimSize(sp::Dim::F, p.shape.sizes)) : "")
         << (p.inputs.count("init") ? ", with initial state" : ", zero initial state") << "\n";
}

double msSince(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// The reference on `func`; with `check`, o is also compared against the
// attention form on as many (batch, head) pairs as fit a fixed budget.
struct ReferenceRun {
  mixc::NamedArrays outputs;
  double ms = 0, checkMs = 0, checkErr = -1;
  int64_t checkedPairs = 0, pairs = 0; // (sequence, head) pairs checked, of all
};

ReferenceRun runReferenceOn(mlir::func::FuncOp func, const Problem &p, bool check) {
  ReferenceRun run;
  const Shape &shape = p.shape;
  Clock::time_point t0 = Clock::now(), tRecurrence = t0;
  std::string checkError;
  auto hook = [&](const mixc::ref::RecurrenceInputs &in, const mixc::ref::RecurrenceOutputs &out) {
    tRecurrence = Clock::now();
    if (!check) return;
    // O(T^2 K) per (batch, head), O(T^2 K V) for an elementwise decay.
    // The scan's own sequences (a mixture of memories runs B x M of them).
    const int64_t H = shape.sizes.H, NS = in.q->dim(0), T = in.q->dim(1), V = shape.sizes.V;
    double per = (double)T * T * sp::dimSize(p.desc.keyDim, shape.sizes) *
                 (p.desc.structure == "elementwise" ? shape.sizes.V : 1) * (p.desc.direction == "bidirectional" ? 2 : 1);
    if (per > 4e10) return;
    run.pairs = NS * H;
    run.checkedPairs = std::clamp<int64_t>((int64_t)(4e9 / std::max(per, 1.0)), 1, NS * H);
    mixc::ref::Array o;
    checkError = mixc::ref::runAttentionForm(in, o, run.checkedPairs);
    std::vector<double> a, b;
    for (int64_t pair = 0; pair < run.checkedPairs; ++pair)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t j = 0; j < V; ++j) {
          size_t idx = (((pair / H) * T + t) * H + pair % H) * V + j;
          a.push_back(out.o.data[idx]);
          b.push_back(o.data[idx]);
        }
    run.checkErr = relL2(b, a, a.size());
  };
  if (std::string e = mixc::runReference(func, p.inputs, run.outputs, hook); !e.empty()) die(e);
  if (!checkError.empty()) die("attention form: " + checkError);
  run.ms = std::chrono::duration<double, std::milli>(tRecurrence - t0).count();
  run.checkMs = msSince(tRecurrence);
  return run;
}

void printOutputs(const mixc::NamedArrays &outputs) {
  for (auto &[name, arr] : outputs) {
    double ss = 0;
    bool finite = true;
    for (double x : arr.data) ss += x * x, finite &= std::isfinite(x);
    outs() << "  " << name << " " << arr.shapeString()
           << format("  rms %.4g", std::sqrt(ss / std::max<int64_t>(arr.size(), 1))) << (finite ? "" : "  NOT FINITE")
           << "\n";
    if (!finite) die("output '" + name + "' is not finite");
  }
}

void writeArrays(const mixc::NamedArrays &arrays, const std::string &dir, const std::string &dtype) {
  if (dir.empty()) return;
  sys::fs::create_directories(dir);
  for (auto &[name, arr] : arrays) {
    std::string path = dir + "/" + name + ".npy";
    if (std::string e = mixc::writeNpy(path, arr.shape, arr.data, dtype); !e.empty()) die(e);
    outs() << "  wrote " << path << "\n";
  }
}
void writeOutputs(const mixc::NamedArrays &outputs) { writeArrays(outputs, outDir, dtypeOpt == "f64" ? "f8" : "f4"); }

// The compiled kernels (cpu, cuda) take f32 or bf16 tensors.
void checkKernelDtype(const std::string &target) {
  if (dtypeOpt != "f32" && dtypeOpt != "bf16")
    die("--dtype: the " + std::string(target == "cpu" ? "CPU" : "CUDA") + " target takes f32 or bf16, not " + dtypeOpt);
}

int runRun() {
  if (targetOpt != "reference" && targetOpt != "cpu" && targetOpt != "cuda")
    die("--target: unknown target '" + targetOpt + "' (available: reference, cpu, cuda)");
  if (targetOpt != "reference") checkKernelDtype(targetOpt);
  if (chunkLevelOpt && targetOpt != "reference")
    die("--chunk-level: the chunk-level IR is interpreted by --target=reference only (no kernel is printed from it yet)");
  Problem p = prepare(true);
  mlir::ModuleOp module = *p.module;
  writeArrays(p.inputs, saveInputsDir, dtypeOpt == "f64" ? "f8" : "f4");
  if (gradOpt) return runGrad(p);
  if (targetOpt == "cuda") return runCuda(p, false, 0);

  if (targetOpt == "reference") {
    printHeader(p, "reference (float64, token by token)");
    ReferenceRun ref = runReferenceOn(theFunc(module), p, !noCheck);
    outs() << format("  ran in %.1f ms", ref.ms);
    if (!noCheck) outs() << format(", checked in %.1f ms", ref.checkMs);
    outs() << "\n";
    printOutputs(ref.outputs);
    int status = 0;
    if (ref.checkErr >= 0) {
      // Both algorithms run in float64: they agree to rounding unless one is wrong.
      bool ok = ref.checkErr < 1e-9;
      outs() << format("  check: o against the attention form (T x T, an independent algorithm) on %lld of %lld "
                       "(batch, head) pairs: relative L2 error %.2e  %s\n",
                       (long long)ref.checkedPairs, (long long)ref.pairs, ref.checkErr,
                       ok ? "OK" : "FAILED");
      if (!ok) status = 1;
    } else if (!noCheck) {
      outs() << "  check: skipped, the attention form is too slow at this T (use a smaller T)\n";
    }
    if (chunkLevelOpt && checkChunkLevel(p) != 0) status = 1;
    writeOutputs(ref.outputs);
    return status;
  }

  int threads = threadCount();
  printHeader(p, "cpu (" + std::to_string(threads) + " threads)");
  CpuKernel k = buildCpuKernel(module, threads);
  outs() << format("  kernel %s (%s, %.0f ms)\n", k.loaded.path.c_str(), k.loaded.cached ? "cached" : "compiled",
                   k.compileMs);
  KernelCall call = makeCall(k, p);
  Clock::time_point t0 = Clock::now();
  mixc::NamedArrays outputs = callKernel(k.loaded.fn, call, threads);
  outs() << format("  ran in %.2f ms\n", msSince(t0));
  printOutputs(outputs);
  int status = noCheck ? 0 : checkAgainstReference(p, outputs);
  writeOutputs(outputs);
  return status;
}

int checkAgainstReference(Problem &p, const mixc::NamedArrays &outputs) {
  // The reference sees the same (rounded) inputs; fp32 must be well under
  // 1e-4, bf16 inputs under 1e-2 (the kernels accumulate in fp32 either way).
  ReferenceRun ref = runReferenceOn(theFunc(*p.module), p, false);
  double tol = dtypeOpt == "bf16" ? 1e-2 : 1e-4;
  int status = 0;
  for (auto &[name, want] : ref.outputs) {
    const mixc::ref::Array &got = outputs.at(name);
    double err = relL2(got.data, want.data, want.data.size());
    bool ok = err < tol;
    outs() << format("  check: %s against the float64 reference: relative L2 error %.2e (< %.0e)  %s\n",
                     name.c_str(), err, tol, ok ? "OK" : "FAILED");
    if (!ok) status = 1;
  }
  return status;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int runBench() {
  if (benchTarget != "cpu" && benchTarget != "cuda")
    die("--target: unknown target '" + benchTarget + "' (available: cpu, cuda)");
  checkKernelDtype(benchTarget);
  Problem p = prepare(false);
  if (benchTarget == "cuda") return runCuda(p, true, repeatsOpt);
  mlir::ModuleOp module = *p.module;
  int threads = threadCount();
  printHeader(p, "cpu (" + std::to_string(threads) + " threads)");
  CpuKernel k = buildCpuKernel(module, threads);
  KernelCall call = makeCall(k, p);
  // Only the call is timed: widening the outputs to float64 for the
  // comparisons is the harness's work, not the kernel's. The kernel and the
  // plain recurrence alternate, so that a noisy stretch of a shared machine
  // falls on both.
  invokeKernel(k.loaded.fn, call, threads); // warm up
  invokeKernel(k.loaded.plain, call, threads);
  std::vector<double> kernelRuns, plainRuns;
  for (unsigned r = 0; r < std::max(1u, (unsigned)repeatsOpt); ++r)
    for (auto [fn, runs] : {std::pair{k.loaded.fn, &kernelRuns}, std::pair{k.loaded.plain, &plainRuns}}) {
      Clock::time_point t0 = Clock::now();
      invokeKernel(fn, call, threads);
      runs->push_back(msSince(t0));
    }
  double kernelMs = median(kernelRuns), plainMs = median(plainRuns);
  ReferenceRun ref = runReferenceOn(theFunc(module), p, false);
  // 4 K V FLOPs per token and head (decay, write, readout) is the common count.
  const Shape &s = p.shape;
  double flops = 4.0 * s.B * s.T * s.sizes.H * sp::dimSize(p.desc.keyDim, s.sizes) * s.sizes.V;
  outs() << format("  %-34s %10.3f ms %8.2f GFLOP/s\n", "mixc cpu kernel", kernelMs, flops / kernelMs / 1e6);
  outs() << format("  %-34s %10.3f ms %8.2f GFLOP/s  (mixc %.2fx faster)\n", "plain -O3 recurrence (same threads)",
                   plainMs, flops / plainMs / 1e6, plainMs / kernelMs);
  outs() << format("  %-34s %10.3f ms %8.2f GFLOP/s  (mixc %.2fx faster)\n", "float64 reference (1 thread)", ref.ms,
                   flops / ref.ms / 1e6, ref.ms / kernelMs);
  return 0;
}

} // namespace mixc::driver

using namespace mixc::driver;

// The linked LLVM libraries register hundreds of options of their own at the
// top level (--aarch64-neon-syntax, ...): --help shows mixc's subcommands and
// the generic options only; --help-hidden still lists the rest.
static void hideLlvmOptions() {
  static const char *const kShown[] = {"help", "help-hidden", "help-list", "help-list-hidden", "version"};
  for (auto &entry : cl::getRegisteredOptions(cl::SubCommand::getTopLevel())) {
    if (llvm::is_contained(kShown, entry.first)) continue;
    if (entry.second->getOptionHiddenFlag() == cl::NotHidden) entry.second->setHiddenFlag(cl::Hidden);
  }
}

int main(int argc, char **argv) {
  cl::SetVersionPrinter([](raw_ostream &os) { os << "mixc 0.1\n"; });
  hideLlvmOptions();
  cl::ParseCommandLineOptions(argc, argv, "mixc: a compiler for sequence mixers\n\n"
                                          "  mixc check SPEC\n  mixc emit SPEC --stage=mlir\n"
                                          "  mixc run SPEC --target=reference|cpu|cuda\n  mixc bench SPEC --target=cpu|cuda\n");
  if (checkCmd) return runCheck();
  if (emitCmd) return runEmit();
  if (runCmd) return runRun();
  if (benchCmd) return runBench();
  errs() << "mixc: error: expected a subcommand: check, emit, run or bench (see --help)\n";
  return 1;
}
