#include "codegen/ChunkGroup.h"

using namespace mlir;
using namespace mixc::mixer;

namespace mixc {

bool readOnlyBy(Value v, std::initializer_list<Operation *> group) {
  return llvm::all_of(v.getUsers(), [&](Operation *u) { return llvm::is_contained(group, u); });
}

FailureOr<ChunkGroup> matchChunkGroup(ChunkWalkOp walk, llvm::function_ref<LogicalResult(const Twine &)> refuse) {
  ChunkGroup g;
  g.local = walk.getLocal().getDefiningOp<ChunkLocalStatesOp>();
  if (!g.local || walk.getRate() || walk.getTransition()) return refuse("the walk's local states or transition differ");
  Value G = walk.getCumulative();
  if (g.local.getCumulative() != G) return refuse("the local states' decays are not the walk's");
  g.cumsum = G ? G.getDefiningOp<ChunkCumsumOp>() : ChunkCumsumOp();
  if (G && !g.cumsum) return refuse("the decays are not a chunk_cumsum");
  if (!walk.getEntering().hasOneUse()) return refuse("the entering states have readers other than one chunk_output");
  g.out = dyn_cast<ChunkOutputOp>(*walk.getEntering().getUsers().begin());
  g.scores = g.out ? g.out.getScores().getDefiningOp<ChunkScoresOp>() : ChunkScoresOp();
  if (!g.out || !g.scores || g.out.getCumulative() != G || g.scores.getCumulative() != G ||
      g.scores.getQ() != g.out.getQ() || g.scores.getK() != g.local.getK() || g.out.getV() != g.local.getV())
    return refuse("the output, scores and local states do not read the same q, k, v and decays");
  const uint64_t C = walk.getChunk();
  if (g.out.getChunk() != C || g.scores.getChunk() != C || g.local.getChunk() != C ||
      (g.cumsum && g.cumsum.getChunk() != C))
    return refuse("the ops' chunk sizes differ");
  const bool reverse = walk.getReverse();
  if (g.out.getReverse() != reverse || g.scores.getReverse() != reverse || g.local.getReverse() != reverse ||
      (g.cumsum && g.cumsum.getReverse() != reverse))
    return refuse("the ops' directions differ");
  if ((G && !readOnlyBy(G, {g.scores, g.local, walk, g.out})) || !readOnlyBy(g.scores.getScores(), {g.out}) ||
      !readOnlyBy(g.local.getLocal(), {walk}))
    return refuse("an intermediate chunk value is read outside the chunk form");
  return g;
}

} // namespace mixc
