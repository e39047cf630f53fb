#include "passes/Passes.h"

#include "mlir/Transforms/Passes.h"

namespace mixc {

namespace {
void buildSplitForm(mlir::OpPassManager &pm, int chunkSize) {
  auto &fpm = pm.nest<mlir::func::FuncOp>();
  fpm.addPass(mlir::createCanonicalizerPass()); // folds constant decays into dense constants
  fpm.addPass(createMixerSplitSkip());
  fpm.addPass(createMixerNormalizerToColumn());
  fpm.addPass(createMixerSplitBidirectional());
  fpm.addPass(mlir::createCanonicalizerPass());
  fpm.addPass(mlir::createCSEPass());
  // Once more: CSE merges values the patterns need to see as one (MoM's three
  // gathers of l2norm(k) become one, so the scan takes the scaled low-rank form).
  fpm.addPass(mlir::createCanonicalizerPass());
  MixerChunkOptions chunk;
  chunk.chunkSize = chunkSize;
  fpm.addPass(createMixerChunk(chunk));
}
} // namespace

void buildChunkLevelPipeline(mlir::OpPassManager &pm, int chunkSize, bool lower) {
  buildSplitForm(pm, chunkSize);
  if (lower) pm.nest<mlir::func::FuncOp>().addPass(createMixerLowerChunks());
}

namespace {
MixerTileForTargetOptions cpuTileOptions(const CpuTargetDesc &desc, const std::string &schedule) {
  MixerTileForTargetOptions options;
  options.schedule = schedule;
  options.target = "cpu";
  options.isa = desc.isa;
  options.vectorWidth = desc.lanes;
  options.vectorRegisters = desc.registers;
  options.cores = desc.cores;
  options.fallback = desc.fallback;
  return options;
}
} // namespace

void buildCpuPipeline(mlir::OpPassManager &pm, const CpuTargetDesc &desc, const std::string &schedule,
                      int chunkSize, bool lowerChunks) {
  buildSplitForm(pm, chunkSize > 0 ? chunkSize : kCpuChunkSize);
  pm.nest<mlir::func::FuncOp>().addPass(createMixerTileForTarget(cpuTileOptions(desc, schedule)));
  // The recurrences scheduled chunked become the chunk-level ops the CPU
  // target prints their kernels from.
  if (lowerChunks) pm.nest<mlir::func::FuncOp>().addPass(createMixerLowerChunks());
}

void buildCpuBackwardPipeline(mlir::OpPassManager &pm, const CpuTargetDesc &desc, const std::string &schedule,
                              int chunkSize, const std::string &adjoint) {
  pm.addPass(createMixerDeriveBackward());
  auto &fpm = pm.nest<mlir::func::FuncOp>();
  MixerLowerAdjointOptions lowering;
  lowering.adjoint = adjoint;
  fpm.addPass(createMixerLowerAdjoint(lowering));
  fpm.addPass(mlir::createCSEPass());
  // The adjoint's scans get chunk forms and schedules of their own; the ops
  // tiled before keep theirs.
  MixerChunkOptions chunk;
  chunk.chunkSize = chunkSize > 0 ? chunkSize : kCpuChunkSize;
  fpm.addPass(createMixerChunk(chunk));
  fpm.addPass(createMixerTileForTarget(cpuTileOptions(desc, schedule)));
  fpm.addPass(createMixerLowerChunks());
}

void buildCudaPipeline(mlir::OpPassManager &pm, const std::string &schedule, int sms) {
  buildSplitForm(pm, kCudaChunkSize);
  MixerTileForTargetOptions options;
  options.schedule = schedule;
  options.target = "cuda";
  options.sms = sms;
  pm.nest<mlir::func::FuncOp>().addPass(createMixerTileForTarget(options));
}

void buildCudaChunkLowering(mlir::OpPassManager &pm) {
  pm.nest<mlir::func::FuncOp>().addPass(createMixerLowerChunks());
}

void buildCudaBackwardPipeline(mlir::OpPassManager &pm, int sms) {
  pm.addPass(createMixerDeriveBackward());
  auto &fpm = pm.nest<mlir::func::FuncOp>();
  fpm.addPass(createMixerLowerAdjoint()); // auto: the CUDA-tiled forward's adjoints become scans
  fpm.addPass(createMixerFlipReverseScans()); // the chunked kernels scan forward only
  fpm.addPass(mlir::createCanonicalizerPass());
  fpm.addPass(mlir::createCSEPass());
  MixerChunkOptions chunk;
  chunk.chunkSize = kCudaChunkSize;
  fpm.addPass(createMixerChunk(chunk));
  MixerTileForTargetOptions options;
  options.target = "cuda";
  options.sms = sms;
  fpm.addPass(createMixerTileForTarget(options));
}

} // namespace mixc
