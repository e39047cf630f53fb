// The CPU target: prints a tiled mixer function as C++ over the tile library
// in runtime/cpu (mixc_cpu.h), with a C entry point per kernel.
#ifndef MIXC_CODEGEN_CPUTARGET_H
#define MIXC_CODEGEN_CPUTARGET_H

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <string>
#include <vector>

namespace mixc {

struct CpuKernelSource {
  std::string name;   // C symbol of the kernel; `<name>_plain` is the baseline
  std::string source; // the translation unit
  std::string header; // declarations and the argument order, for users
  std::string declarations; // this kernel's part of a header: its documentation and prototypes
  std::vector<std::string> inputs, outputs;
};

/// Prints `func` (after the CPU pipeline) as C++. Fails with a diagnostic on
/// an op the CPU target does not handle.
mlir::FailureOr<CpuKernelSource> emitCpuKernel(mlir::func::FuncOp func);

/// A C header declaring `kernels` (a spec's forward and its backward), built
/// for `isa` with `flags`.
std::string cpuKernelHeader(const std::string &name, const std::string &isa, const std::string &flags,
                            std::initializer_list<const CpuKernelSource *> kernels);

/// The runtime headers the generated source includes, by file name.
const std::vector<std::pair<std::string, std::string>> &cpuRuntimeHeaders();

} // namespace mixc

#endif
