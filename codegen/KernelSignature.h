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
  // Statements: `chk` a Checker; they leave `B` and `T` (the per-token
  // inputs' batch and time), `NS` (the states' batch: B, or the number of
  // sequences with cu_seqlens) and, for a variable-length signature,
  // `seqStart` (cu_seqlens' offsets in host memory, or nullptr) and, with
  // cu_seqlens on the device, `seqStartDevice` (the caller's pointer).
  std::string checks;
  std::string doc;    // " *   inputs[0]  q  [B, T, 4, 16]" lines
};

/// `varlen`: the kernel takes an optional last input cu_seqlens ([N + 1]
/// int64 sequence starts in the packed time axis; the states are per sequence).
/// `seqlensOnDevice`: cu_seqlens lies in device memory (CUDA): the checks read
/// it back first (mixc::cuda::seqlensToHost, from the entry point's stream_).
KernelSignature kernelSignature(mlir::func::FuncOp func, bool varlen, bool seqlensOnDevice = false);

/// A state-shaped tensor ([batch, H, ...]: the batch dynamic, the next size
/// static), whose batch is the number of sequences.
bool isStateShaped(mlir::RankedTensorType t);

/// "{B, T, 4, 16}" and "{NS, 4, 16, 16}" for a state (or -1 for the dynamic
/// sizes with `dynamicAsVar` false); `stateBatch` names a state's batch.
std::string shapeList(mlir::RankedTensorType t, bool dynamicAsVar, const char *stateBatch = "NS");

} // namespace mixc

#endif
