// `mixc check`'s account of the schedules: the CPU's and CUDA's tiling of each
// recurrence at the given sizes, and how the backward runs on each target.
#include "frontend/mixc/Driver.h"

#include "codegen/CudaTarget.h"
#include "dialect/MixerOps.h"
#include "dialect/RecurrenceForms.h"
#include "passes/Passes.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

namespace mixc::driver {

// The CPU schedule the compiler picks at these sizes, as `mixc check` states it.
std::string cpuScheduleText(const sp::SourceFile &src, const sp::MixerDesc &desc, const sp::Sizes &sizes) {
  mlir::MLIRContext ctx;
  auto module = lower(ctx, src, desc, sizes);
  auto tiled = tileForCpu(*module, threadCount(), /*honour=*/false, /*lowerChunks=*/false);
  std::string text;
  int n = 0;
  theFunc(*tiled).walk([&](mixc::mixer::RecurrenceOp op) {
    auto tile = op->getAttrOfType<mixc::mixer::CpuTileAttr>("mixer.schedule");
    std::string line;
    raw_string_ostream ls(line);
    ls << format("  cpu:        %s%s %s, K = %lld, value block %lld, %lld threads (at H=%lld K=%lld V=%lld)\n",
                   n++ ? "and " : "", mixc::mixer::stringifyDirection(op.getDirection()).str().c_str(),
                   mixc::mixer::stringifyCpuAlgorithm(tile.getAlgorithm()).str().c_str(), (long long)tile.getK(),
                   (long long)tile.getVBlock(), (long long)tile.getThreads(), (long long)sizes.H, (long long)sizes.K,
                   (long long)sizes.V);
    if (auto why = op->getAttrOfType<mlir::StringAttr>("mixer.no_chunked_form"))
      ls << "              --schedule=chunked: the CPU has no chunked form for " << why.getValue()
         << "; run, bench and emit refuse it\n";
    const long long rb = tile.getRegBlock(), vectors = tile.vectors();
    if (tile.getAlgorithm() == mixc::mixer::CpuAlgorithm::chunked_ssd ||
        tile.getAlgorithm() == mixc::mixer::CpuAlgorithm::chunked_gla ||
        tile.getAlgorithm() == mixc::mixer::CpuAlgorithm::chunked_ut)
      ls << format("              %s: vectors of %lld floats, chunks of %lld tokens, products in column tiles of "
                   "%lld vectors x 4 rows\n",
                   tile.getIsa().str().c_str(), (long long)tile.getLanes(), (long long)tile.getChunk(), rb);
    else
      ls << format("              %s: vectors of %lld floats, register block %lld of the block's %lld vectors "
                   "(%lld sweep%s of the key rows per token)\n",
                   tile.getIsa().str().c_str(), (long long)tile.getLanes(), rb, vectors, (vectors + rb - 1) / rb,
                   (vectors + rb - 1) / rb == 1 ? "" : "s");
    // The derived backward's memory against recomputation, as the tile chose it.
    const long long cp = tile.getGradCheckpoint(), Vs = cast<mlir::RankedTensorType>(op.getFinalState().getType()).getDimSize(3);
    const bool scans = mixc::adjointAsScans(op, adjointChoice());
    if (scans && op.getStructure() == mixc::mixer::Structure::elementwise) // one key row (HGRN)
      ls << "              backward: two forward-shaped scans read whole (one key row: the state's gradient, and the "
            "state before each token), tiled like forward scans, every gradient a per-token product; no state kept "
            "(--adjoint=" << adjointChoice() << ")\n";
    else if (scans)
      ls << "              backward: three forward-shaped scans (dS read at k: dv and dinit; dS^T at v: dk; S^T at "
            "do: dq), tiled like forward scans, the decays' gradient a cumulative sum over tokens; no state kept "
            "(--adjoint=" << adjointChoice() << ")\n";
    else
      ls << format("              backward: a reverse sweep per (batch, head); the state kept every %lld tokens (T / "
                   "%lld states of %lld x %lld per head), each stretch's %lld states recomputed (%lld KiB)\n",
                   cp, cp, (long long)tile.getK(), Vs, cp + 1, (cp + 1) * tile.getK() * Vs * 4 / 1024);
    text += ls.str();
  });
  const mixc::cpu::CpuIsa &isa = cpuIsa();
  text += "  cpu isa:    " + isa.name + " (" + isa.describe + "), built with " + mixc::cpu::kernelFlags(isa) + "\n";
  return text;
}

// The CUDA schedule, likewise.
std::string cudaScheduleText(const sp::SourceFile &src, const sp::MixerDesc &desc, const sp::Sizes &sizes) {
  mlir::MLIRContext ctx;
  auto module = lower(ctx, src, desc, sizes);
  auto tiled = tileForCuda(*module);
  std::string text;
  if (desc.memories)
    text += "  cuda mix:   " + std::to_string(desc.memories) + " memories: a warp per (batch row, memory) plans the "
            "route (L, the longest memory's tokens, read back by the host), the operands gathered into B x " +
            std::to_string(desc.memories) + " sequences zero-padded to L, the scan below over them, a kernel mixing "
            "each token's top " + std::to_string(desc.topk) + " readouts\n";
  int n = 0;
  theFunc(*tiled).walk([&](mixc::mixer::RecurrenceOp op) {
    auto sched = op->getAttrOfType<mixc::mixer::CudaTileAttr>("mixer.schedule");
    std::string algorithm = mixc::mixer::stringifyCudaAlgorithm(sched.getAlgorithm()).str();
    std::string line;
    raw_string_ostream ls(line);
    ls << format("  cuda:       %s%s", n++ ? "and " : "", mixc::mixer::stringifyDirection(op.getDirection()).str().c_str());
    if (algorithm != "recurrent") {
      ls << " " << algorithm << " (bf16 q, k, v: tensor cores, chunks of " << sched.getChunk()
         << ", state on chip; otherwise, and for calls under " << sched.minTokens()
         << " tokens, the recurrent sweep below)\n";
      // Per-channel decays pair tokens through sub-blocks of 16 (GLA; the delta rules' vector diagonal).
      if (op.hasKeyDecay())
        ls << "              decays per key channel: tokens paired through sub-blocks of 16 (log-decays above -5 "
              "per token)\n";
      // What the delta rules' kernels read of the low-rank term (mixer-tile's form of it).
      if (op.getAScale() && op.getKScale())
        ls << "              low rank: b's rows once with per-token scales of a and the key"
           << (op.getDecayedB() ? ", b^T applied to the decayed state (decayed_b)" : "") << "\n";
      // The l2norm of q and b done by the kernels as they load the rows (mixer-tile's fusion).
      if (op.getL2normQ() || op.getL2normB())
        ls << "              l2norm of " << (op.getL2normQ() && op.getL2normB() ? "q and b" : op.getL2normQ() ? "q" : "b")
           << " in the kernels' loads (no normalized copies written)\n";
      // The walk's tiling: rules over the batch, evaluated by the glue (CudaTileAttr).
      ArrayRef<int64_t> widths = sched.getStateBlocks().asArrayRef();
      ls << "              walk: value blocks of " << sched.stateBlocksText() << " columns";
      if (widths.size() > 1) ls << ", the first whose B x H x blocks CTAs fill " << sched.getSms() << " SMs";
      if (sched.getKeySplit() == 2) ls << " (at " << widths.back() << ", two warps per 16 columns)";
      if (sched.getSeqSplit())
        ls << "; the sequence split into segments where " << widths[0] << "-column blocks fill at most half of them"
           << " (from " << sched.getSeqSplit() << " chunks)";
      if (sched.getWgmmaWalk()) ls << "; on wgmma where 64-column blocks leave SMs idle (Hopper)";
      ls << "\n              and";
    }
    ls << format(" recurrent: a CTA of %lld warps per %lld value columns, %lld keys over %lld lanes, %lld tokens "
                 "staged (at H=%lld K=%lld V=%lld)\n",
                 (long long)sched.getWarps(), (long long)sched.getVBlock(), (long long)sched.getK(),
                 (long long)(32 / sched.getColsPerWarp()), (long long)sched.getStage(),
                 (long long)sizes.H, (long long)sizes.K, (long long)sizes.V);
    // The decays' pre-processing evaluated as the kernels load its input (mixer-tile's decay_in_loads).
    if (sched.getDecayInLoads())
      ls << "              decays computed in the kernels' loads from their input (no row kernel writes them)\n";
    // The per-token scalars likewise (mixer-tile's scalars_in_loads).
    if (sched.getScalarsInLoads()) {
      const mixer::TokenScalars s = mixer::tokenScalarsOf(op);
      const bool decay = bool(s.decay), scales = s.aScale || s.kScale;
      ls << "              the per-token " << (decay && scales ? "decay and scales" : decay ? "decay" : "scales")
         << " computed in the kernels' loads from their inputs (no row kernel before the scan)\n";
    }
    text += ls.str();
  });
  // The backward: the derived IR as a CUDA tensor program where its adjoints are scans.
  std::string why;
  auto bwd = deriveCudaBackward(*tiled, why);
  llvm::SmallVector<std::string> scans;
  int ops = 0;
  bool sweep = false;
  int64_t checkpoint = 0, checkpointK = 0, checkpointV = 0; // the checkpointed sweep's interval and state
  int64_t sweepCheckpoint = 0, sweepK = 0, sweepV = 0; // the low-rank sweeps' (with a decay)
  int64_t chunkedK = 0, chunkedV = 0; // the chunked backward of the delta rules (bf16 calls)
  bool ssd = false; // the SSD form's chunked backward (bf16 calls) before the checkpointed sweep
  std::string sweepRefusal; // why a sweep is not covered (empty: the three sweeps or the checkpointed one are)
  if (succeeded(bwd))
    bwd->walk([&](mlir::Operation *op) {
      if (auto r = dyn_cast<mixc::mixer::RecurrenceOp>(op)) {
        auto sched = r->getAttrOfType<mixc::mixer::CudaTileAttr>("mixer.schedule");
        scans.push_back(sched ? mixc::mixer::stringifyCudaAlgorithm(sched.getAlgorithm()).str() : "untiled");
      } else if (auto g = dyn_cast<mixc::mixer::RecurrenceGradOp>(op)) {
        auto sched = g->getAttrOfType<mixc::mixer::CudaTileAttr>("mixer.schedule");
        const bool lowRank = mixc::mixer::cudaLowRankSweepsRefusal(g).empty();
        if (sched && sched.getGradCheckpoint() && !lowRank) {
          ssd = ssd || mixc::cudaSsdGradLaunch(op);
          checkpoint = sched.getGradCheckpoint();
          checkpointK = cast<mlir::RankedTensorType>(g.getQ().getType()).getDimSize(3);
          checkpointV = cast<mlir::RankedTensorType>(g.getV().getType()).getDimSize(3) +
                        (g.getNormalizerKind() == mixc::mixer::Normalizer::mlstm ? 1 : 0);
        } else {
          sweep = true;
          if (lowRank && sched && sched.getGradCheckpoint()) {
            sweepCheckpoint = sched.getGradCheckpoint();
            sweepK = cast<mlir::RankedTensorType>(g.getQ().getType()).getDimSize(3);
            sweepV = cast<mlir::RankedTensorType>(g.getV().getType()).getDimSize(3);
          }
          if (mixc::cudaChunkedDeltaGrad(op)) {
            chunkedK = cast<mlir::RankedTensorType>(g.getQ().getType()).getDimSize(3);
            chunkedV = cast<mlir::RankedTensorType>(g.getV().getType()).getDimSize(3);
          }
        }
        if (sweepRefusal.empty()) sweepRefusal = mixc::cudaSweepGradRefusal(op);
      } else if (!isa<mlir::func::FuncOp, mlir::func::ReturnOp, mixc::mixer::ConstantOp>(op)) {
        ++ops;
      }
    });
  if (failed(bwd))
    text += "  cuda bwd:   none (" + why + ")\n";
  else if (!sweepRefusal.empty())
    text += "  cuda bwd:   none: " + sweepRefusal + "\n";
  else {
    // The chunked backward's clause (the UT form's: with its prepare and U rows; the SSD and GLA forms').
    auto chunkedClause = [](const std::string &what, bool lowRank, int64_t K, int64_t V) {
      return what + " adjoint chunked on tensor cores for bf16 calls (the forward's " +
             (lowRank ? "prepare and walk" : "walk") +
             " again, keeping each chunk's starting state; a reverse walk keeping the state's gradient; then each "
             "chunk's terms; kept: 2 T / 64 states of " +
             std::to_string(K) + " x " + std::to_string(V) + " bf16 per head" +
             (lowRank ? " and two bf16 V-rows per token" : "") + "); for fp32 calls, ";
    };
    text += "  cuda bwd:   a tensor program: " +
            (chunkedK ? chunkedClause("the low-rank recurrence's", true, chunkedK, chunkedV) : std::string()) +
            (!sweep ? std::string()
             : sweepCheckpoint
                 ? std::string(chunkedK ? "" : "the low-rank recurrence's adjoint as ") +
                       "two sweeps (forward: S^T b per token and the state every " + std::to_string(sweepCheckpoint) +
                       " tokens; reverse: dS beside the state recomputed stretch by stretch in runs of registers, "
                       "every gradient a direct product (the decay's dS . S_{t-1}); kept: T / " +
                       std::to_string(sweepCheckpoint) + " states of " + std::to_string(sweepK) + " x " +
                       std::to_string(sweepV) + " fp32 per head, an fp32 V-row per token and five K-rows per "
                       "token and value block), "
                 : std::string(chunkedK ? "" : "the low-rank recurrence's adjoint as ") +
                       "three sweeps (forward: S^T b per token; reverse: dS; forward: the state's readouts; "
                       "recomputed, not stored: scratch of two fp32 V-rows per token and two K-rows per token and "
                       "value block), ") +
            (ssd ? chunkedClause("the recurrence's", false, checkpointK, checkpointV) : std::string()) +
            (checkpoint ? std::string(ssd ? "" : "the recurrence's adjoint as ") +
                              "the checkpointed reverse sweep (the state kept every " +
                              std::to_string(checkpoint) + " tokens: T / " + std::to_string(checkpoint) + " states of " +
                              std::to_string(checkpointK) + " x " + std::to_string(checkpointV) +
                              " fp32 per head; each stretch recomputed in runs of registers), "
                        : std::string()) +
            (scans.empty() ? std::string()
                           : std::to_string(scans.size()) + " scans (" + llvm::join(scans, ", ") +
                                 "; reverse ones over flipped tokens, chunked ones streaming exact bf16 operands), ") +
            std::to_string(ops) + " other ops on fp32 tensors" +
                (checkpoint || chunkedK || sweepCheckpoint ? "\n" : "; no state kept\n");
  }
  return text;
}

} // namespace mixc::driver
