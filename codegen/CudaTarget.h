// The CUDA target: prints a tiled mixer function as CUDA C++ over the tile
// library in runtime/cuda (mixc_cuda.cuh): pre-processing kernels (one thread
// per row), the scans, and what follows them, behind one C entry point.
#ifndef MIXC_CODEGEN_CUDATARGET_H
#define MIXC_CODEGEN_CUDATARGET_H

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <string>
#include <vector>

namespace mixc {

struct CudaKernelSource {
  std::string name;   // C symbol of the entry point
  std::string source; // the .cu translation unit
  std::string header; // declarations and the argument order, for users
  std::vector<std::string> inputs, outputs;
};

/// Prints `func` (after the CUDA pipeline) as CUDA C++. Fails with a
/// diagnostic on an op the CUDA target does not handle.
mlir::FailureOr<CudaKernelSource> emitCudaKernel(mlir::func::FuncOp func);

/// Why the CUDA target has no backward kernel for `op`, a
/// mixer.recurrence_grad that mixer-lower-adjoint left (its adjoint is not
/// forward-shaped scans); empty where the three sweeps cover it.
std::string cudaSweepGradRefusal(mlir::Operation *op);
/// Whether a low-rank recurrence's adjoint (the three sweeps' kind) has the
/// chunked tensor-core kernels for bf16 calls (mixc_cuda_ut_grad.cuh): K and
/// V of 64 or 128, an identity or scalar diagonal, a forward scan.
bool cudaChunkedDeltaGrad(mlir::Operation *op);
/// Whether that adjoint is printed as a call of launchDeltaGrad (the chunked
/// kernels, or the scaled low-rank form), which reads q, k, v, a, b and dO
/// through any View: a bf16 input's rows go to the tensor cores as they are.
bool cudaDeltaGradLaunch(mlir::Operation *op);
/// Whether that adjoint (one without a low-rank term) is printed as a call of
/// launchSsdGrad (chunked on tensor cores for bf16 calls, else the checkpointed
/// sweep), which reads q, k, v and dO through any View likewise.
bool cudaSsdGradLaunch(mlir::Operation *op);

/// The runtime headers the generated source includes, by file name.
const std::vector<std::pair<std::string, std::string>> &cudaRuntimeHeaders();

} // namespace mixc

#endif
