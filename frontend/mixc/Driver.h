// What the driver's commands share (mixc.cpp): the options, a spec lowered at
// its inputs' sizes with those inputs, and the printing and file helpers.
// Each command beyond check/emit/run/bench lives in a file of its own
// (RunGrad.cpp: `mixc run --grad`).
#ifndef MIXC_FRONTEND_MIXC_DRIVER_H
#define MIXC_FRONTEND_MIXC_DRIVER_H

#include "codegen/ReferenceTarget.h"
#include "frontend/spec/Analysis.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/CommandLine.h"

#include <memory>
#include <string>
#include <vector>

namespace mixc::driver {

namespace sp = mixc::spec;

extern llvm::cl::opt<std::string> specPath, dtypeOpt, targetOpt, inputsDir, outDir, saveInputsDir;
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
void printHeader(const Problem &p, const std::string &target);
void printOutputs(const mixc::NamedArrays &outputs);
void writeArrays(const mixc::NamedArrays &arrays, const std::string &dir, const std::string &dtype);
double relL2(const std::vector<double> &a, const std::vector<double> &b, size_t n);

/// `mixc run --grad`: the spec's gradients on the reference (RunGrad.cpp).
int runGrad(Problem &p);

/// `mixc run --chunk-level`: the chunk-level IR interpreted and checked
/// against the split form it was lowered from (RunChunkLevel.cpp); 0 when
/// they agree.
int checkChunkLevel(Problem &p);

} // namespace mixc::driver

#endif
