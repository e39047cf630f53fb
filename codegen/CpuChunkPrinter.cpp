// The chunk forms on the CPU (mixer-lower-chunks: SSD, GLA, UT), each printed as one kernel.
#include "codegen/ChunkGroup.h"
#include "codegen/CpuPrinter.h"

#include "llvm/Support/FormatVariadic.h"

namespace mixc::cpuprint {

// What both chunk forms check and read the same way: the decays' chunk_cumsum
// (none where the recurrence has no decay), every op's chunk size equal to the
// schedule's, and the sizes of the state and of the decay row.
struct ChunkFormShape {
  ChunkCumsumOp cumsum;
  Value decay; // the cumsum's per-token input, null without a decay
  int64_t C, H, K, V, DW;
};
static FailureOr<ChunkFormShape> chunkFormShape(ChunkWalkOp walk, CpuTileAttr schedule, Value G,
                                                std::initializer_list<uint64_t> chunks,
                                                llvm::function_ref<LogicalResult(const Twine &)> refuse) {
  ChunkFormShape s;
  s.cumsum = G ? G.getDefiningOp<ChunkCumsumOp>() : ChunkCumsumOp();
  if (G && !s.cumsum) return refuse("the decays are not a chunk_cumsum");
  s.C = walk.getChunk();
  if (llvm::any_of(chunks, [&](uint64_t c) { return int64_t(c) != s.C; }) || (s.cumsum && s.cumsum.getChunk() != s.C) ||
      s.C != schedule.getChunk())
    return refuse("the ops' chunk sizes differ from each other or from the schedule's");
  if (s.C % 16) return refuse("chunks of a multiple of 16 tokens");
  auto stateType = cast<RankedTensorType>(walk.getFinalState().getType());
  s.H = stateType.getDimSize(1), s.K = stateType.getDimSize(2), s.V = stateType.getDimSize(3);
  s.decay = s.cumsum ? s.cumsum.getDecay() : Value();
  s.DW = s.decay ? RowPrinter::rowWidth(s.decay) : 0;
  if (s.DW != 0 && s.DW != 1 && s.DW != s.K) return refuse("a decay row of " + Twine(s.DW) + " values");
  return s;
}

// One line of a chunk form's task body: the primitive's call and the ops it computes.
static void printChunkStep(llvm::raw_ostream &os, const std::string &call, const char *ops) {
  os << llvm::formatv("      {0,-40} // {1}\n", call, ops).str();
}

// A chunk form's outputs (o, the walk's final state) and the opening of its
// scope: the ScanArgs `p` of the kernel call (sizes, packed sequences, the
// initial state, the outputs, the scale).
void Printer::emitChunkScanArgs(ChunkWalkOp walk, Value o, double scale, const std::string &r, int64_t H, int64_t K,
                                int64_t V) {
  std::string initBuf = walk.getInit() ? buffer(walk.getInit()) : "";
  resultBuffer(o, r + "_o", llvm::formatv("{B, T, {0}, {1}}", H, V).str());
  resultBuffer(walk.getFinalState(), r + "_state", llvm::formatv("{NS, {0}, {1}, {2}}", H, K, V).str());
  os << "  {\n    ScanArgs p;\n    Buffer tmp_init;\n";
  os << "    p.B = NS; p.T = T; p.seqStart = seqStart; p.H = " << H << "; p.Vs = " << V << ";\n";
  if (Value init = walk.getInit())
    os << "    p.init = "
       << optional(init, "as(" + initBuf + ", " + llvm::formatv("{NS, {0}, {1}, {2}}", H, K, V).str() + ", tmp_init)")
       << ";\n";
  os << "    p.o = " << r << "_o.ptr(); p.state = " << r << "_state.ptr();\n";
  os << "    p.scale = " << floatLiteral(scale) << ";\n";
}

// The SSD / GLA chunk form as mixer-lower-chunks writes it, printed as one
// kernel: per task (sequence, head, value block) and chunk, the chunk's rows
// from the row function, then one primitive per op (mixc_cpu_chunked.h), in
// dataflow order: chunk_cumsum, chunk_scores, chunk_output (which reads the
// state entering the chunk), and chunk_local_states with chunk_walk (which
// advance it). The decay's type decides the primitives: none, a scalar per
// token ([B, T, H] cumulative) or one per key ([B, T, H, K]).
LogicalResult Printer::emitChunkGroup(ChunkWalkOp walk) {
  auto schedule = walk->getAttrOfType<CpuTileAttr>("mixer.schedule");
  if (!schedule || !schedule.isChunked())
    return walk.emitOpError() << "has no chunked #mixer.cpu_tile schedule: lower a recurrence tiled for the CPU";
  if (failed(useIsaOf(walk, schedule))) return failure();
  if (walk.getTransition()) return emitUtChunkGroup(walk, schedule);
  auto refuse = [&](const Twine &why) {
    return walk.emitOpError() << "the CPU target prints the SSD / GLA chunk form only (chunk_cumsum, chunk_scores, "
                                 "chunk_local_states, chunk_walk, chunk_output of one recurrence): "
                              << why;
  };
  auto group = matchChunkGroup(walk, refuse);
  if (failed(group)) return failure();
  auto [cumsumOp, scores, local, out] = *group;
  Value G = walk.getCumulative();
  auto shape = chunkFormShape(walk, schedule, G, {out.getChunk(), scores.getChunk(), local.getChunk()}, refuse);
  if (failed(shape)) return failure();
  auto [cumsum, decay, C, H, K, V, DW] = *shape;

  const bool reverse = walk.getReverse();
  const char *form = DW == K ? "GLA" : "SSD";
  os << "  // chunk level, the " << form << " form" << (reverse ? " (reverse)" : "") << ": K = " << K << ", V = " << V
     << ", value block = " << schedule.getVBlock() << ", chunks of " << C << "\n";
  std::vector<RowOperand> rowOperands = {{scores.getQ(), "q", K}, {local.getK(), "k", K}, {local.getV(), "v", V}};
  if (decay) rowOperands.push_back({decay, "decay", DW});
  std::string r = emitRowLambda(rowOperands, K, V);
  if (r.empty()) return failure();
  emitChunkScanArgs(walk, out.getO(), out.getScale().convertToDouble(), r, H, K, V);
  os << "    p.reverse = " << (reverse ? "true" : "false") << ";\n";
  // The benchmarks' baseline: the same recurrence token by token.
  const char *plainStructure = DW == 0 ? "identity" : DW == 1 ? "scalar" : "vector";
  os << "    if (plain) scanPlain<" << K << ", " << V << ">(p, Structure::" << plainStructure
     << ", DiagKind::none, false, false, false, true, threads, " << r << "_row);\n";
  const std::string lanes = std::to_string(schedule.getLanes()) + ", " + std::to_string(schedule.getRegBlock());
  // The SSD form's scores and walk read the keys as columns (K^T); the GLA
  // form scales its key columns per op from the rows.
  os << "    else forEachChunk<" << K << ", " << V << ", " << schedule.getVBlock() << ", " << C << ", " << DW << ", "
     << (DW == K ? "false" : "true") << ">(p, threads, " << r << "_row, [&](auto &c) {\n";
  auto step = [&](const std::string &call, const char *ops) { printChunkStep(os, call, ops); };
  if (cumsum) step("chunkCumsum(c);", "mixer.chunk_cumsum");
  step(std::string(DW == K ? "chunkScoresKeys<" : "chunkScoresScalar<") + lanes + ">(c);", "mixer.chunk_scores");
  step("chunkOutput<" + lanes + ">(c, p.scale);", "mixer.chunk_output");
  step("chunkWalk<" + lanes + ">(c);", "mixer.chunk_local_states, mixer.chunk_walk");
  os << "    });\n  }\n";
  buffers[out.getO()] = r + "_o";
  buffers[walk.getFinalState()] = r + "_state";
  return success();
}

// The UT form (the delta rules) as mixer-lower-chunks writes it, printed as
// one kernel over forEachUtChunk: per chunk chunk_cumsum, the triangular
// system of chunk_ut and chunk_ut_output's two score matrices
// (chunkUtSystem), chunk_ut applied to the entering state (chunkUtSolve: the
// write vectors), chunk_ut_output, then chunk_ut_states with chunk_walk
// (chunkUtWalk advances the state without forming the K x K transition).
LogicalResult Printer::emitUtChunkGroup(ChunkWalkOp walk, CpuTileAttr schedule) {
  auto refuse = [&](const Twine &why) {
    return walk.emitOpError() << "the CPU target prints the UT chunk form as mixer-lower-chunks writes it (chunk_ut, "
                                 "chunk_ut_states, chunk_walk, chunk_ut_output of one recurrence): "
                              << why;
  };
  auto states = walk.getTransition().getDefiningOp<ChunkUtStatesOp>();
  if (!states || walk.getLocal() != states.getLocal() || walk.getCumulative() || walk.getRate())
    return refuse("the walk's local states and transition are not one chunk_ut_states'");
  auto ut = states.getP().getDefiningOp<ChunkUtOp>();
  if (!ut || states.getU() != ut.getU() || states.getP() != ut.getP())
    return refuse("the states do not read one chunk_ut's p and u");
  if (!walk.getEntering().hasOneUse()) return refuse("the entering states have readers other than one chunk_ut_output");
  auto out = dyn_cast<ChunkUtOutputOp>(*walk.getEntering().getUsers().begin());
  Value G = ut.getCumulative();
  if (!out || out.getP() != ut.getP() || out.getU() != ut.getU() || out.getA() != ut.getA() ||
      states.getA() != ut.getA() || out.getK() != ut.getK() || states.getK() != ut.getK() ||
      out.getV() != ut.getV() || states.getV() != ut.getV() || states.getCumulative() != G ||
      out.getCumulative() != G)
    return refuse("the output, states and system do not read the same a, k, v, p, u and decays");
  auto shape = chunkFormShape(walk, schedule, G, {out.getChunk(), ut.getChunk(), states.getChunk()}, refuse);
  if (failed(shape)) return failure();
  auto [cumsum, decay, C, H, K, V, DW] = *shape;
  if ((G && !readOnlyBy(G, {ut, states, out})) || !readOnlyBy(ut.getP(), {states, out}) ||
      !readOnlyBy(ut.getU(), {states, out}) || !readOnlyBy(states.getLocal(), {walk}) ||
      !readOnlyBy(states.getTransition(), {walk}))
    return refuse("an intermediate chunk value is read outside the chunk form");

  os << "  // chunk level, the UT form: K = " << K << ", V = " << V << ", value block = " << schedule.getVBlock()
     << ", chunks of " << C << (DW == K ? ", a decay per key" : DW == 1 ? ", a scalar decay" : "") << "\n";
  std::vector<RowOperand> rowOperands = {{out.getQ(), "q", K}, {ut.getA(), "a", K}, {ut.getB(), "b", K},
                                         {ut.getK(), "k", K},  {ut.getV(), "v", V}};
  if (decay) rowOperands.push_back({decay, "decay", DW});
  std::string r = emitRowLambda(rowOperands, K, V);
  if (r.empty()) return failure();
  emitChunkScanArgs(walk, out.getO(), out.getScale().convertToDouble(), r, H, K, V);
  // The benchmarks' baseline: the same recurrence token by token.
  const char *diag = DW == 0 ? "none" : DW == 1 ? "scalar" : "vector";
  os << "    if (plain) scanPlain<" << K << ", " << V << ">(p, Structure::dplr, DiagKind::" << diag
     << ", false, false, false, true, threads, " << r << "_row);\n";
  const std::string lanes = std::to_string(schedule.getLanes()) + ", " + std::to_string(schedule.getRegBlock());
  os << "    else forEachUtChunk<" << K << ", " << V << ", " << schedule.getVBlock() << ", " << C << ", " << DW
     << ">(p, threads, " << r << "_row, [&](auto &c) {\n";
  auto step = [&](const std::string &call, const char *ops) { printChunkStep(os, call, ops); };
  if (cumsum) step("chunkCumsum(c);", "mixer.chunk_cumsum");
  step("chunkUtSystem<" + lanes + ">(c);", "mixer.chunk_ut (L, M), chunk_ut_output's scores");
  step("chunkUtSolve<" + lanes + ">(c);", "mixer.chunk_ut: w = P S + U");
  step("chunkUtOutput<" + lanes + ">(c, p.scale);", "mixer.chunk_ut_output");
  step("chunkUtWalk<" + lanes + ">(c);", "mixer.chunk_ut_states, mixer.chunk_walk");
  os << "    });\n  }\n";
  buffers[out.getO()] = r + "_o";
  buffers[walk.getFinalState()] = r + "_state";
  return success();
}

} // namespace mixc::cpuprint
