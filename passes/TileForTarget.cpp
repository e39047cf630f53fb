// Chooses the schedule of every recurrence for a target and records it in the
// `mixer.schedule` attribute that code generation reads.
//
// CPU: the state stays in L1 and is updated token by token (`recurrent`),
// blocked over value columns so that one block of the state, K x VB floats,
// fits the L1 budget and every update is a vector FMA. Work
// items are (batch, head, value block), spread over the cores; when B * H is
// below the core count the value blocks make up the difference, and for
// elementwise decays the chunked scan (chunks over the cores). The SSD and
// GLA forms pay a C x C product per chunk that the sweep needs not; they win
// once the state outgrows L1 (see docs/cpu-backend.md).
#include "dialect/RecurrenceForms.h"
#include "passes/Passes.h"

namespace mixc {
#define GEN_PASS_DEF_MIXERTILEFORTARGET
#include "passes/Passes.h.inc"
} // namespace mixc

using namespace mlir;
using namespace mixc::mixer;

namespace {
// From this many keys `auto` prefers the chunked form: measured on the 2-core
// AVX-512 machine of bench/results/cpu.md, chunked SSD is 1.3-1.6x faster at
// K = 128 and 256 (the state outgrows L1 and the sweep's blocks narrow), on par
// or slower at K = 64 and 32.
constexpr int64_t kChunkedMinKeys = 128;
// GLA's chunked form adds the sub-blocks' element-wise exponentials: on the
// 2-core AVX-512 machine of bench/results/cpu.md the sweep stays 1.2x faster at
// K = 128 and the chunked form wins by 1.1x at K = 256.
constexpr int64_t kChunkedGlaMinKeys = 256;

struct TileForTarget : mixc::impl::MixerTileForTargetBase<TileForTarget> {
  using MixerTileForTargetBase::MixerTileForTargetBase;

  void runOnOperation() override {
    if (schedule != "auto" && schedule != "recurrent" && schedule != "chunked") {
      getOperation().emitError() << "mixer-tile: unknown schedule '" << schedule
                                 << "' (expected auto, recurrent or chunked)";
      return signalPassFailure();
    }
    if (target != "cpu" && target != "cuda") {
      getOperation().emitError() << "mixer-tile: unknown target '" << target << "' (expected cpu or cuda)";
      return signalPassFailure();
    }
    SmallVector<RecurrenceOp> ops;
    // Ops tiled before (a backward's forward scans) keep their schedule.
    getOperation().walk([&](RecurrenceOp op) {
      if (!op->hasAttr("mixer.schedule")) ops.push_back(op);
    });
    if (target == "cuda") getOperation().walk([&](RecurrenceGradOp g) { checkpointForCuda(g); });
    for (RecurrenceOp op : ops) {
      if (!op.isSplitForm()) {
        op.emitOpError() << "mixer-tile expects the split form (run mixer-split-skip, "
                            "mixer-normalizer-to-column and mixer-split-bidirectional first)";
        return signalPassFailure();
      }
      if (target == "cuda") {
        tileForCuda(op);
        continue;
      }
      auto stateType = cast<RankedTensorType>(op.getFinalState().getType());
      int64_t H = stateType.getDimSize(1), K = stateType.getDimSize(2), Vs = stateType.getDimSize(3);
      int64_t w = std::max(1, (int)vectorWidth);
      // mLSTM's n and a sum normalizer's ones column are scanned beside the
      // blocks, as a K-vector: only the other columns are blocked.
      auto appendOne = op.getV().getDefiningOp<MapOp>();
      bool sideColumn = op.getNormalizerKind() == Normalizer::mlstm ||
                        (appendOne && appendOne.getFn() == UnaryFn::append_one &&
                         op.getStructure() != Structure::elementwise);
      const int64_t blocked = sideColumn ? Vs - 1 : Vs;
      // As many value columns as keep the K x VB block of the state within
      // the L1 budget (the per-token gates are then computed once per block
      // and token), at least one vector register, no more than V needs.
      int64_t budget = std::max<int64_t>(w, (l1Bytes / 4 / std::max<int64_t>(K, 1)) / w * w);
      int64_t vBlock = std::min<int64_t>(budget, ((blocked + w - 1) / w) * w);
      // Narrow the block when (heads x blocks) alone cannot occupy the cores
      // (batch is only known at run time; the runtime adds it to the split).
      while (vBlock > w && H * ((blocked + vBlock - 1) / vBlock) < cores) vBlock -= w;
      // Chunked where the chunk pass allowed it and, under `auto`, where the
      // keys are many enough for the chunk's matrix products to beat the
      // per-token sweep.
      auto chunk = op->getAttrOfType<DictionaryAttr>("mixer.chunk");
      StringRef form = chunk ? cast<StringAttr>(chunk.get("algorithm")).getValue() : "";
      // The CPU's chunked kernels: UT (the delta rules) forward only, as
      // mixer-lower-chunks writes it.
      if (form != "ssd" && form != "gla" && form != "scan" && form != "ut") chunk = nullptr;
      if (form == "ut" && op.getDirection() != Direction::forward) chunk = nullptr;
      bool chunked = false;
      if (chunk && (form == "ssd" || form == "gla"))
        chunked = schedule == "chunked" ||
                  (schedule == "auto" && K >= (form == "gla" ? kChunkedGlaMinKeys : kChunkedMinKeys));
      if (chunk && form == "ut") chunked = schedule == "chunked";
      // The GLA form works in sub-blocks of 16 tokens (the attribute's
      // verifier holds that too): `auto` keeps the sweep for another chunk
      // size, `chunked` is refused with the reason.
      if (chunked && (form == "gla" || form == "ut") && cast<IntegerAttr>(chunk.get("size")).getInt() % 16 != 0) {
        if (schedule == "chunked") {
          op.emitError() << "--schedule=chunked: the chunked " << (form == "gla" ? "GLA" : "UT")
                         << " form needs a chunk size that is a multiple of 16 (its sub-blocks), got "
                           << cast<IntegerAttr>(chunk.get("size")).getInt();
          signalPassFailure();
          return;
        }
        chunked = false;
      }
      // The chunked scan does the sweep's work twice (scan from zero, then
      // again from the true entering state) but spreads the chunks over the
      // cores: under `auto`, only where (head, value block) tasks leave more
      // than half the cores idle. The runtime keeps the sweep when the batch
      // fills them.
      if (chunk && form == "scan")
        chunked = schedule == "chunked" || (schedule == "auto" && 2 * H * ((blocked + vBlock - 1) / vBlock) < cores);
      // schedule=chunked that the CPU cannot honour: an error naming why, or
      // with `fallback` the recurrent schedule and the reason on the op.
      if (schedule == "chunked" && !chunked) {
        std::string why = "a " + stringifyStructure(op.getStructure()).str() + " recurrence (" +
                          (form == "ut" ? "its UT form scans forward only"
                                        : "mixer-chunk gives none to a bonus, the mLSTM normalizer or decays that "
                                          "may be negative") +
                          ")";
        if (!fallback) {
          op.emitError() << "--schedule=chunked: the CPU has no chunked form for " << why
                         << "; --schedule=auto or recurrent runs it (mixc check states the schedule)";
          return signalPassFailure();
        }
        op->setAttr("mixer.no_chunked_form", StringAttr::get(op.getContext(), why));
      }
      if (chunked && form != "scan") {
        // Every value block recomputes the chunk's Q K^T (UT: its four Gram
        // matrices): take the blocks as wide as the cores allow.
        vBlock = ((Vs + w - 1) / w) * w;
        while (vBlock > w && H * ((Vs + vBlock - 1) / vBlock) < cores) vBlock -= w;
      }
      // Register blocking: a sweep over the key rows keeps, per vector of the
      // block it covers, the value and the read-out in registers (a delta
      // rule's sweep also w = b^T S and the next w; the paired sweep of vector
      // decays the next token's value and read-out), plus the row's
      // broadcast scalars and the updated vector (four registers; six for
      // the four-array sweeps). The block's vectors are swept in as few
      // equal groups as fit: on AVX2's 16 registers a 64-column block of
      // linear attention is two sweeps of four vectors, of GLA four of two;
      // on AVX-512's 32 either is one sweep of four.
      Structure s = op.getStructure();
      const int64_t live = (s == Structure::dplr || s == Structure::vector) ? 4 : 2;
      const int64_t reserve = live == 4 ? 6 : 4; // broadcast scalars of the row, the updated vector
      const int64_t maxGroup = std::max<int64_t>(1, (std::max(1, (int)vectorRegisters) - reserve) / live);
      const int64_t vectors = std::max<int64_t>(1, vBlock / w), groups = (vectors + maxGroup - 1) / maxGroup;
      int64_t regBlock = (vectors + groups - 1) / groups;
      // The chunked forms' products keep R = 4 rows of accumulators per
      // column tile, plus the tile's operand row: reg_block vectors per tile
      // with 4 * reg_block + reg_block + 1 registers (AVX2: 2, AVX-512: 6),
      // at most the block's vectors.
      if (chunked && form != "scan")
        regBlock = std::clamp<int64_t>((std::max(1, (int)vectorRegisters) - 2) / 5, 1, std::max<int64_t>(1, vBlock / w));
      CpuAlgorithm algorithm = !chunked        ? CpuAlgorithm::recurrent
                               : form == "ssd" ? CpuAlgorithm::chunked_ssd
                               : form == "gla" ? CpuAlgorithm::chunked_gla
                               : form == "ut"  ? CpuAlgorithm::chunked_ut
                                               : CpuAlgorithm::chunked_scan;
      int64_t chunkSize = chunked ? cast<IntegerAttr>(chunk.get("size")).getInt() : 0;
      // The derived backward keeps the state every `checkpoint` tokens and
      // recomputes one stretch (checkpoint + 1 states of K x Vs) at a time:
      // 64 where that stays within 2 MiB (L2), else the largest power of two
      // that does (K = V = 128: 16), at least 4.
      int64_t checkpoint = 64;
      while (checkpoint > 4 && (checkpoint + 1) * K * Vs * 4 > (int64_t(2) << 20)) checkpoint /= 2;
      auto tile = CpuTileAttr::getChecked([&] { return op.emitError(); }, op.getContext(), algorithm, StringRef(isa), w, K,
                                          vBlock, regBlock, (int64_t)cores, chunkSize, checkpoint);
      if (!tile) return signalPassFailure();
      // The CPU kernels read whole rows of a and k, and the chunked scan sums
      // log-decays: the forms they do not take become rows and logs here.
      OpBuilder builder(op);
      op = expandScaledLowRank(op, builder);
      if (algorithm == CpuAlgorithm::chunked_scan) op = elementwiseDecayAsLog(op, builder);
      op->setAttr("mixer.schedule", tile);
    }
  }

  // CUDA, a derived backward's recurrence that the three sweeps of the
  // low-rank form do not take (they store no state), or that they take with a
  // decay (its gradient is dS_t . S_{t-1}, which no sweep holds both of): the
  // state kept every 64 tokens for a reverse sweep that recomputes it. At
  // K = V = 64 that is a quarter of the fp32 token tensors the backward holds
  // anyway (16 KiB per head per 64 tokens against q, k, v, do and their
  // gradients), and a stretch is recomputed in runs of registers
  // (mixc_cuda_checkpoint_grad.cuh, mixc_cuda_sweep_grad.cuh).
  void checkpointForCuda(RecurrenceGradOp g) {
    auto tile = dyn_cast_if_present<CudaTileAttr>(g->getAttr("mixer.schedule"));
    if (!tile || tile.getGradCheckpoint()) return;
    const bool checkpointed = cudaLowRankSweepsRefusal(g).empty() ? g.getDiagKind() != DiagKind::none
                                                                   : cudaCheckpointSweepRefusal(g).empty();
    if (!checkpointed) return;
    g->setAttr("mixer.schedule",
               CudaTileAttr::get(g.getContext(), tile.getAlgorithm(), tile.getK(), tile.getVBlock(),
                                 tile.getColsPerWarp(), tile.getWarps(), tile.getStage(), tile.getChunk(),
                                 tile.getSms(), tile.getStateBlocks(), tile.getKeySplit(), tile.getSeqSplit(),
                                 tile.getWgmmaWalk(), tile.getDecayInLoads(), kCudaGradCheckpoint,
                                 tile.getScalarsInLoads()));
  }

  static constexpr int64_t kCudaGradCheckpoint = 64;

  // CUDA, recurrent: a CTA per (value block, head, batch) holds its K x VB
  // block of the state in registers. A warp serves `cols_per_warp` columns,
  // 32 / cols_per_warp lanes splitting the keys of each (8 lanes: a readout is
  // three shuffles); `stage` tokens at a time pass through shared memory,
  // as many as the budget holds (up to 32) so that the loads coalesce.
  void tileForCuda(RecurrenceOp op) {
    auto stateType = cast<RankedTensorType>(op.getFinalState().getType());
    int64_t K = stateType.getDimSize(2), Vs = stateType.getDimSize(3);
    bool mlstm = op.getNormalizerKind() == Normalizer::mlstm;
    int64_t V = mlstm ? Vs - 1 : Vs;
    int64_t kg = 1;
    while (kg < 8 && kg < K) kg *= 2;
    int64_t cpw = 32 / kg, kp = (K + kg - 1) / kg * kg;
    int64_t warps = std::clamp<int64_t>((V + cpw - 1) / cpw, 1, 8), vb = warps * cpw;
    Structure s = op.getStructure();
    bool vecDecay = op.hasKeyDecay();
    int64_t perToken = 4 * (2 * kp + 2 * vb + (vecDecay ? kp : 0) + (s == Structure::dplr ? 2 * kp + 2 : 0) +
                            (op.getDt() ? vb : 0) + 2);
    int64_t stage = 32;
    while (stage > 1 && stage * perToken > sharedBytes) stage /= 2;
    // Chunked (tensor cores) where the chunk pass allowed it and the tiles fit:
    // K a multiple of 64 up to 256, a forward scan. The kernel still falls back
    // to the recurrent sweep at run time for operands it cannot stream (not
    // bf16, unaligned); fp32 inputs take the sweep to stay exact.
    auto chunk = op->getAttrOfType<DictionaryAttr>("mixer.chunk");
    StringRef form = chunk ? cast<StringAttr>(chunk.get("algorithm")).getValue() : "";
    if (form == "scan") chunk = nullptr; // no chunked scan kernel for CUDA: the recurrent one
    // GLA's per-channel decays and the UT form's extra tiles take shared
    // memory of their own: K <= 128 there.
    bool chunked = chunk && schedule != "recurrent" && K % 64 == 0 && K <= (form == "ssd" ? 256 : 128) &&
                   op.getDirection() == Direction::forward;
    CudaAlgorithm algorithm = !chunked        ? CudaAlgorithm::recurrent
                              : form == "ssd" ? CudaAlgorithm::chunked_ssd
                              : form == "gla" ? CudaAlgorithm::chunked_gla
                                              : CudaAlgorithm::chunked_ut;
    int64_t chunkSize = chunked ? cast<IntegerAttr>(chunk.get("size")).getInt() : 0;
    // The chunked walk's tiling (the rules the glue evaluates with the batch,
    // see CudaTileAttr): 128-, 64- or 32-column blocks, the widest whose CTAs
    // fill the SMs, and at 32 columns two warps per 16 (K / 2 key rows each);
    // SSD and GLA split the sequence where even that leaves SMs idle, into as
    // many segments as fill the SMs once (a CTA of 8 warps per SM: a second,
    // partial wave would cost a whole segment's time); the delta rules (scalar
    // diagonal) walk on wgmma instead (a delta rule's segment transition is a
    // K x K matrix). K = 256 (SSD) has one kernel: 32-column blocks.
    int64_t tileSms = 0, keySplit = 1, seqSplit = 0;
    DenseI64ArrayAttr stateBlocks;
    bool wgmmaWalk = false;
    if (chunked) {
      tileSms = std::max(1, (int)sms);
      const bool wideK = K > 128;
      stateBlocks = DenseI64ArrayAttr::get(op.getContext(), wideK ? ArrayRef<int64_t>{32}
                                                                  : ArrayRef<int64_t>{128, 64, 32});
      keySplit = wideK ? 1 : 2;
      seqSplit = algorithm != CudaAlgorithm::chunked_ut && !wideK ? 8 : 0;
      wgmmaWalk = algorithm == CudaAlgorithm::chunked_ut && op.getDiagKind() != DiagKind::vector;
    }
    // A vector diagonal's decays computed from one input by pointwise maps
    // (GLA's logsigmoid, Kimi's gate from A_log and dt_bias): the kernels
    // evaluate the chain as they load that input (decay_in_loads). The
    // rewrites below keep the decay operand.
    llvm::SmallVector<Value> params;
    const bool decayInLoads = op.hasKeyDecay() && s != Structure::elementwise &&
                              decayLoadChain(op.getDecay(), params) && params.size() <= kDecayMapParams;
    // The CUDA elementwise scan takes log-decays; the chunked UT kernel takes
    // the scaled low-rank form when the key is b (a per-token kernel computes
    // the scales), every other kernel whole rows.
    OpBuilder builder(op);
    op = elementwiseDecayAsLog(op, builder);
    // KDA's (I - beta k k^T) Diag(e^g): the chunked kernels read k's rows
    // once with the scalars and the decays (decayed_b) instead of three rows.
    if (algorithm == CudaAlgorithm::chunked_ut && op.getDiagKind() == DiagKind::vector)
      op = contractDecayedLowRank(op, builder);
    // A vector diagonal takes the scaled form only with decayed_b (the kernel's
    // one form of it); a derived backward's scans (a mixture's recomputed
    // forward) read whole rows: the tensor program holds every operand as one.
    auto func = op->getParentOfType<func::FuncOp>();
    const bool inBackward = func && func->hasAttr("mixer.backward_of");
    bool scaled = algorithm == CudaAlgorithm::chunked_ut && op.isScaledWithKeyB() && !inBackward;
    if (!scaled) op = expandScaledLowRank(op, builder);
    // The delta rules' l2norm of q and k: the UT kernels (and the recurrent
    // sweep they fall back to) normalize the rows they load, so that no pass
    // writes normalized copies for them to read back.
    if (scaled) op = fuseRowNorms(op, builder);
    // The delta rules' per-token scalars (a scalar diagonal's decay, the
    // scaled form's a_scale and k_scale) computed from their inputs by
    // pointwise maps (Gated DeltaNet's gate, beta's sigmoid): the recurrent
    // sweep and the chunked prepare kernels evaluate them as they load a
    // token (scalars_in_loads), so that no row kernel runs before the scan.
    // (one at least computed: given as inputs, they are read as they are)
    llvm::SmallVector<Value> scalarTokens, scalarParams;
    const TokenScalars scalars = tokenScalarsOf(op);
    auto computed = [](Value v) { return v && !mlir::isa<BlockArgument>(v); };
    const bool scalarsInLoads = s == Structure::dplr && !inBackward &&
                                tokenScalarsInLoads(op, scalarTokens, scalarParams) &&
                                (computed(scalars.decay) || computed(scalars.aScale) || computed(scalars.kScale));
    auto tile = CudaTileAttr::getChecked([&] { return op.emitError(); }, op.getContext(), algorithm, K, vb, cpw, warps,
                                         stage, chunkSize, tileSms, stateBlocks, keySplit, seqSplit, wgmmaWalk,
                                         decayInLoads, /*gradCheckpoint=*/int64_t(0), scalarsInLoads);
    if (!tile) return signalPassFailure();
    op->setAttr("mixer.schedule", tile);
  }
};
} // namespace
