// The mixer passes: rewrite the spec-level op into the forms the backends take.
#ifndef MIXC_PASSES_PASSES_H
#define MIXC_PASSES_PASSES_H

#include "dialect/MixerOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

#include <string>

namespace mixc {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

/// Tokens per chunk by default: the CPU's chunked kernels take any size (128
/// measured slower than 64, 32 within noise of it; docs/cpu-backend.md); the
/// CUDA kernels' tiles are built for 64.
constexpr int kCpuChunkSize = 64, kCudaChunkSize = 64;

/// What the CPU tiling is decided from: the ISA (its name, fp32 lanes per
/// vector register and register count) and the cores to spread work over.
struct CpuTargetDesc {
  std::string isa = "x86-64-v3";
  int lanes = 8, registers = 16, cores = 2;
  /// schedule=chunked where the CPU has no chunked form: the recurrent one
  /// with the reason in `mixer.no_chunked_form` (mixc check), not an error.
  bool fallback = false;
};

/// The pipeline `mixc` runs before CPU code generation: canonicalize (folds
/// constant decays), split skip, normalizer to a column, split bidirectional,
/// chunk (`chunkSize` tokens, 0: the CPU default), tile for the CPU
/// (`schedule`: auto, recurrent or chunked), and with `lowerChunks` the
/// recurrences scheduled chunked lowered to the chunk-level ops the CPU target
/// prints (without: what mixer-derive-backward and `mixc check` read).
void buildCpuPipeline(mlir::OpPassManager &pm, const CpuTargetDesc &desc, const std::string &schedule = "auto",
                      int chunkSize = 0, bool lowerChunks = true);

/// The backward of a CPU-tiled module (not lowered to the chunk level):
/// mixer-derive-backward, the adjoints lowered to forward-shaped scans
/// (`adjoint`: scans, auto or sweep; see mixer-lower-adjoint), those scans
/// chunked and tiled like the forward, and the chunked ones lowered.
void buildCpuBackwardPipeline(mlir::OpPassManager &pm, const CpuTargetDesc &desc, const std::string &schedule,
                              int chunkSize, const std::string &adjoint);

/// Whether mixer-lower-adjoint{adjoint} writes the adjoint of this tiled
/// recurrence as forward-shaped scans (mixc check states it).
bool adjointAsScans(mixer::RecurrenceOp forward, llvm::StringRef adjoint);

/// The split form, chunked, and with `lower` the SSD and GLA recurrences
/// lowered to the chunk-level ops (mixer-lower-chunks): what the reference
/// checks the chunk level with (against the same pipeline without `lower`).
void buildChunkLevelPipeline(mlir::OpPassManager &pm, int chunkSize, bool lower = true);

/// The GPU the CUDA kernels are tiled for when none is named: 132 multiprocessors (H100 SXM, H200).
constexpr int kDefaultCudaSms = 132;
/// The same split form, chunked and tiled for CUDA, for a GPU of `sms` multiprocessors.
void buildCudaPipeline(mlir::OpPassManager &pm, const std::string &schedule = "auto", int sms = kDefaultCudaSms);
/// On a copy of what the CUDA pipeline tiled, before its forward is printed:
/// the recurrences whose kernels the CUDA target prints from the chunk-level
/// ops lowered to them (mixer-lower-chunks). The backward is derived from the
/// tiled module itself, whose recurrences stay.
void buildCudaChunkLowering(mlir::OpPassManager &pm);
/// From a module the CUDA pipeline tiled: the derived backward (mixer-derive-backward),
/// its adjoints as forward-shaped scans (mixer-lower-adjoint), chunked and tiled for CUDA.
void buildCudaBackwardPipeline(mlir::OpPassManager &pm, int sms = kDefaultCudaSms);

} // namespace mixc

#endif
