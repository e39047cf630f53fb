// The C entry point's arguments, shared by the targets: names and order of the
// tensors, the checks that refuse a bad descriptor (generated C++ over
// runtime/mixc_check.h), and the comment that documents them in the header.
#ifndef MIXC_CODEGEN_KERNELSIGNATURE_H
#define MIXC_CODEGEN_KERNELSIGNATURE_H

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <string>
#include <vector>

namespace mixc {

struct KernelSignature {
  std::vector<std::string> inputs, outputs;
  std::string checks; // statements: `chk` a Checker, `B` and `T` fixed by the inputs
  std::string doc;    // " *   inputs[0]  q  [B, T, 4, 16]" lines
};

KernelSignature kernelSignature(mlir::func::FuncOp func);

/// "{B, T, 4, 16}" (or -1 for the dynamic sizes with `dynamicAsVar` false).
std::string shapeList(mlir::RankedTensorType t, bool dynamicAsVar);

} // namespace mixc

#endif
