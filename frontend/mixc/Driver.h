// What the driver's commands share (mixc.cpp): the options, a spec lowered at
// its inputs' sizes with those inputs, and the printing and file helpers.
// Each command beyond check/emit/run/bench lives in a file of its own
// (RunGrad.cpp: `mixc run --grad`).
#ifndef MIXC_FRONTEND_MIXC_DRIVER_H
#define MIXC_FRONTEND_MIXC_DRIVER_H

#include "codegen/ReferenceTarget.h"
#include "frontend/spec/Analysis.h"
#include "runtime/cpu/HostCompiler.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/CommandLine.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace mixc::driver {

namespace sp = mixc::spec;

extern llvm::cl::opt<std::string> specPath, dtypeOpt, targetOpt, inputsDir, outDir, saveInputsDir, adjointOpt;
extern llvm::cl::opt<unsigned> seedOpt, chunkSizeOpt;
extern llvm::cl::opt<bool> noCheck;

[[noreturn]] void die(const std::string &msg);

struct Shape {
  int64_t B = 2, T = 1024;
  sp::Sizes sizes;
};

// A spec lowered at the sizes of its inputs, and those inputs.
struct Problem {
  sp::SourceFile src;
  sp::MixerDesc desc;
  Shape shape;
  mixc::NamedArrays inputs;
  std::unique_ptr<mlir::MLIRContext> ctx = std::make_unique<mlir::MLIRContext>();
  mlir::OwningOpRef<mlir::ModuleOp> module; // lowered once, at the inputs' sizes
};

mlir::func::FuncOp theFunc(mlir::ModuleOp m);
/// The spec at these sizes as the spec-level IR (mixc.cpp).
mlir::OwningOpRef<mlir::ModuleOp> lower(mlir::MLIRContext &ctx, const sp::SourceFile &src, const sp::MixerDesc &desc,
                                        const sp::Sizes &sizes);
/// What `mixc check` says of the CPU and the CUDA schedules at `sizes` (ScheduleText.cpp).
std::string cpuScheduleText(const sp::SourceFile &src, const sp::MixerDesc &desc, const sp::Sizes &sizes);
std::string cudaScheduleText(const sp::SourceFile &src, const sp::MixerDesc &desc, const sp::Sizes &sizes);
int threadCount();
using Clock = std::chrono::steady_clock;
double msSince(Clock::time_point t0);

/// Reports an error against the spec as `file:line:col: error:` with the line
/// and a caret (a location outside the spec: `mixc: error:`), exit 1.
[[noreturn]] void dieAt(mlir::Location where, const std::string &message);
/// Runs f() with the first error it reports kept (not printed): then
/// `where` and `message` say what failed.
template <typename F> auto firstError(mlir::MLIRContext *ctx, mlir::Location &where, std::string &message, F f) {
  mlir::ScopedDiagnosticHandler handler(ctx, [&](mlir::Diagnostic &d) {
    if (d.getSeverity() == mlir::DiagnosticSeverity::Error && message.empty()) {
      message = d.str();
      where = d.getLocation();
    }
    return mlir::success();
  });
  return f();
}

/// The ISA of --cpu-arch (mixc.cpp): the tiling and the build flags follow it.
const mixc::cpu::CpuIsa &cpuIsa();
/// Runs a pass pipeline; an error is reported at the spec (dieAt).
void runPipeline(mlir::PassManager &pm, mlir::ModuleOp module);
/// The CPU pipeline on a clone of `module` (mixc.cpp: split forms, tile).
/// The CPU pipeline on a clone of `module`; `lowerChunks` false keeps the
/// recurrences that a backward is derived from (or `mixc check` reads).
mlir::OwningOpRef<mlir::ModuleOp> tileForCpu(mlir::ModuleOp module, int threads, bool honour = true,
                                             bool lowerChunks = true);
/// --adjoint, checked (an unknown value is an error naming the option).
const std::string &adjointChoice();
/// Adds the backward of a CPU-tiled module (derived, its adjoints lowered as
/// --adjoint says, their scans tiled) and returns it.
mlir::func::FuncOp deriveCpuBackward(mlir::ModuleOp tiled, int threads);

// What a kernel printed from `func` is called with: its arguments, and its
// results' shapes (-1: the batch or time size) and names.
struct KernelInterface {
  std::vector<mixc::ArgumentSpec> args;
  std::vector<std::vector<int64_t>> outShapes;
  std::vector<std::string> outNames;
};
KernelInterface interfaceOf(mlir::func::FuncOp func);

// A compiled CPU kernel (a spec's forward, or with `backward` its derived
// @f_backward) and the tensors it is called with.
struct CpuKernel : KernelInterface {
  mixc::cpu::LoadedKernel loaded;
  double compileMs = 0;
};
CpuKernel buildCpuKernel(mlir::ModuleOp module, int threads, bool backward = false);
/// The CUDA pipeline on a clone of `module` (mixc.cpp).
mlir::OwningOpRef<mlir::ModuleOp> tileForCuda(mlir::ModuleOp module, int deviceSms = 0);
/// What the CUDA target prints a forward from: a clone of the module tileForCuda
/// made with the recurrences it prints from chunk-level ops lowered to them.
mlir::OwningOpRef<mlir::ModuleOp> cudaForwardModule(mlir::ModuleOp tiled);
/// The derived backward of a module tileForCuda made, its adjoints as scans tiled for CUDA.
mlir::FailureOr<mlir::func::FuncOp> deriveCudaBackward(mlir::ModuleOp tiled, std::string &why, int deviceSms = 0);
/// Checks a backward kernel's gradients `out` (dNAME) against `want` (NAME,
/// the float64 reference's), printing one line each; `got` keeps them. 1 on a failure.
int compareGrads(const mixc::NamedArrays &want, const mixc::NamedArrays &out, mixc::NamedArrays &got);
/// `mixc run --target=cuda --grad`: the derived backward on the device, its
/// gradients checked against `want` (the float64 reference's).
int checkCudaGrads(Problem &p, const mixc::NamedArrays &upstream, const mixc::NamedArrays &want,
                   mixc::NamedArrays &got);
/// `mixc run` / `mixc bench` with --target=cuda (CudaRun.cpp): the kernel
/// compiled with nvcc for the device found, run on the problem's inputs and
/// checked against the reference (run), or timed (bench).
int runCuda(Problem &p, bool bench, unsigned repeats);

// Calls a kernel (or its plain baseline) on named inputs in the element type
// of --dtype (an input it lacks is passed as absent), returning the outputs
// widened to float64 under the kernel's result names.
struct KernelCall {
  std::vector<std::vector<float>> f32;
  std::vector<std::vector<uint16_t>> bf16;
  std::vector<std::vector<int64_t>> i64; // index inputs (route)
  std::vector<mixc_tensor> in, out;
  std::vector<std::string> names;
};
KernelCall makeCall(const KernelInterface &k, const Problem &p);
KernelCall makeCall(const KernelInterface &k, const mixc::NamedArrays &inputs, int64_t B, int64_t T);
/// Calls fn; a refused argument dies with the kernel's message.
void invokeKernel(mixc_kernel_fn fn, KernelCall &c, int threads);
mixc::NamedArrays callKernel(mixc_kernel_fn fn, KernelCall &c, int threads);
/// The call's outputs (in host memory) widened to float64 under their names.
mixc::NamedArrays widenOutputs(const KernelCall &c);
/// Checks outputs against the float64 reference on the same inputs (fp32
/// well under 1e-4, bf16 under 1e-2), printing a line each; 0 when all pass.
int checkAgainstReference(Problem &p, const mixc::NamedArrays &outputs);
void printHeader(const Problem &p, const std::string &target);
void printOutputs(const mixc::NamedArrays &outputs);
void writeArrays(const mixc::NamedArrays &arrays, const std::string &dir, const std::string &dtype);
/// The outputs into --out DIR (if given), in the precision of --dtype.
void writeOutputs(const mixc::NamedArrays &outputs);
double relL2(const std::vector<double> &a, const std::vector<double> &b, size_t n);

/// `mixc run --grad`: the spec's gradients on the reference, checked against
/// finite differences, or (--target=cpu) by the derived backward kernel,
/// checked against the reference's (RunGrad.cpp).
int runGrad(Problem &p);

/// `mixc run --chunk-level`: the chunk-level IR interpreted and checked
/// against the split form it was lowered from (RunChunkLevel.cpp); 0 when
/// they agree.
int checkChunkLevel(Problem &p);

} // namespace mixc::driver

#endif
