// The SSD / GLA chunk form as mixer-lower-chunks writes it, found from its
// walk: what both targets' printers check before printing a kernel of it.
#ifndef MIXC_CODEGEN_CHUNKGROUP_H
#define MIXC_CODEGEN_CHUNKGROUP_H

#include "dialect/MixerOps.h"

#include "llvm/ADT/STLFunctionalExtras.h"

namespace mixc {

struct ChunkGroup {
  mixer::ChunkCumsumOp cumsum; // null without a decay
  mixer::ChunkScoresOp scores;
  mixer::ChunkLocalStatesOp local;
  mixer::ChunkOutputOp out;
};

/// The ops of `walk`'s SSD / GLA form: one recurrence's chunk_cumsum (if it
/// has a decay), chunk_scores, chunk_local_states, chunk_walk and chunk_output,
/// reading the same q, k, v and decays with one chunk size, and their
/// intermediate values read by no other op (a kernel keeps them on chip).
/// Otherwise `refuse(why)` (an error on the walk) and failure.
mlir::FailureOr<ChunkGroup> matchChunkGroup(mixer::ChunkWalkOp walk,
                                            llvm::function_ref<mlir::LogicalResult(const llvm::Twine &)> refuse);

/// Whether `v` is read only by the ops of `group`.
bool readOnlyBy(mlir::Value v, std::initializer_list<mlir::Operation *> group);

} // namespace mixc

#endif
