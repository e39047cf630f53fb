// The chunk forms on the GPU printed from the chunk-level ops
// (mixer-lower-chunks): SSD (no, scalar or per-head decays) and GLA (vector
// decays per key). GLA's ops that do not read the state (chunk_cumsum,
// chunk_scores, the decayed rows that chunk_output and chunk_local_states
// read) become one prepare kernel, a CTA per (chunk, head, batch), printed as
// one device call per op (mixc_cuda_gla.cuh); its walk (chunk_output,
// chunk_local_states, chunk_walk) is the state walk in its GLA form, tiled by
// the schedule. The SSD form computes all five ops in its walk's one kernel.
#include "codegen/ChunkGroup.h"
#include "codegen/CudaPrinter.h"

#include "dialect/RecurrenceForms.h"

#include "llvm/Support/FormatVariadic.h"

namespace mixc::cudaprint {

LogicalResult Printer::emitChunkGroup(ChunkWalkOp walk) {
  auto schedule = walk->getAttrOfType<CudaTileAttr>("mixer.schedule");
  auto refuse = [&](const Twine &why) {
    return walk.emitOpError() << "the CUDA target prints the SSD / GLA chunk form as mixer-lower-chunks writes it "
                                 "(chunk_cumsum, chunk_scores, chunk_local_states, chunk_walk, chunk_output of one "
                                 "forward recurrence tiled chunked_ssd or chunked_gla): "
                              << why;
  };
  if (!schedule || (schedule.getAlgorithm() != CudaAlgorithm::chunked_gla &&
                    schedule.getAlgorithm() != CudaAlgorithm::chunked_ssd))
    return refuse("no #mixer.cuda_tile<algorithm = chunked_ssd or chunked_gla> schedule on the walk");
  if (tensorMode || mixtureScan) return refuse("a tensor program or a mixture's scan takes the recurrence");
  auto group = matchChunkGroup(walk, refuse);
  if (failed(group)) return failure();
  auto [cumsum, scores, local, out] = *group;
  if (walk.getReverse()) return refuse("a forward scan (the chunked kernels scan forward)");
  const int64_t C = walk.getChunk();
  if (C != schedule.getChunk() || C != 64) return refuse("chunks of 64 tokens, the schedule's");
  auto stateType = cast<RankedTensorType>(walk.getFinalState().getType());
  const int64_t H = stateType.getDimSize(1), K = stateType.getDimSize(2), V = stateType.getDimSize(3);
  Value q = scores.getQ(), k = local.getK(), v = local.getV(), decay = cumsum ? cumsum.getDecay() : Value();
  // The decays: none, a scalar per token or head, or (GLA) a row of K per token.
  const bool gla = schedule.getAlgorithm() == CudaAlgorithm::chunked_gla;
  const int64_t DW = decay ? rowWidth(decay) : 0;
  if (gla ? DW != K : DW > 1)
    return refuse(gla ? "the GLA form's decays are a row of K log-decays per token"
                      : "the SSD form's decays are a scalar per token or head");
  if (K % 64 || K > (gla ? 128 : 256)) return refuse(gla ? "K a multiple of 64 up to 128 (GLA's tiles)"
                                                          : "K a multiple of 64 up to 256 (the SSD form's tiles)");

  // decay_in_loads (GLA): the prepare kernel and the recurrent sweep compute
  // the log-decays from their input as they load it.
  Value decayRaw;
  llvm::SmallVector<Value> decayParams;
  if (schedule.getDecayInLoads() && !(decayRaw = decayLoadChain(decay, decayParams)))
    return walk.emitOpError() << "decay_in_loads: the decay is not a pointwise chain of one input, per-head "
                                 "parameters and constants";
  std::vector<std::pair<const char *, Value>> operands = {{"q", q}, {"k", k}, {"v", v}};
  if (decay) operands.push_back({"decay", decayRaw ? decayRaw : decay});
  // Operands that are not inputs: row kernels write them first, per token or
  // per head (a constant decay); q, k and v in bf16 where the inputs are (the
  // chunked kernels stream them).
  llvm::SetVector<Value> tokenWork, headWork;
  llvm::DenseSet<Value> streamed = {q, k, v};
  for (auto &[field, x] : operands)
    if (!isa<BlockArgument>(inputOf(x)) && !tmpIndex.count(x)) (isToken(x) ? tokenWork : headWork).insert(x);
  rowKernel(tokenWork.getArrayRef(), false, H, streamed);
  rowKernel(headWork.getArrayRef(), true, H);

  hs << "  {\n    // chunk level, the " << (gla ? "GLA" : "SSD") << " form: K = " << K << ", state columns = " << V
     << ", chunks of " << C << "\n";
  hs << "    ScanParams p;\n";
  for (auto &[field, x] : operands) {
    Value in = inputOf(x);
    hs << "    p." << field << " = "
       << (isa<BlockArgument>(in) ? "args.in[" + std::to_string(argIndex.lookup(in)) + "]"
                                  : "args.tmp[" + std::to_string(tmpIndex.lookup(x)) + "]")
       << ";\n";
  }
  std::string decayMap = "NoMap";
  if (decayRaw) {
    decayMap = "DecayMap" + std::to_string(nDecayMaps++);
    device += decayMapFunctor(decayMap, decay, decayRaw, decayParams);
    for (auto [i, param] : llvm::enumerate(decayParams))
      hs << "    p.mapIn[" << i << "] = args.in[" << argIndex.lookup(param) << "];\n";
  }
  Value stateOut;
  if (failed(printScanStates(walk, walk.getInit(), Value(), out.getO(), walk.getFinalState(), Value(), H, "", "",
                             stateOut)))
    return failure();
  hs << "    p.B = B; p.T = T; p.H = " << H << "; p.Vs = " << V << ";\n";
  hs << "    if (seqStartDevice) p.B = NS, p.T = TS, p.seqStart = seqStartDevice;\n";
  hs << "    p.scale = " << floatLiteral(out.getScale().convertToDouble()) << ";\n    p.reverse = false;\n";
  const int64_t vb = schedule.getVBlock();
  hs << "    dim3 grid(" << (V + vb - 1) / vb << ", " << H << ", (unsigned)p.B);\n";
  // Calls of under a quarter chunk (decoding) and operands the tiles cannot
  // stream (not bf16, unaligned rows) take the recurrent sweep.
  hs << "    const bool chunked = p.T >= " << schedule.minTokens() << " && chunkedApplies(p, " << (gla ? "true" : "false")
     << ");\n";
  if (walk.getInit() && outIndex.count(stateOut)) printInPlaceStateCopy(false, false, H, K, V);
  const std::string passFn = "statePass" + std::to_string(nStatePasses++);
  device += statePassFunction(passFn, schedule, H, V);
  auto fail = "        return chk.fail(\"CUDA: %s\", cudaGetErrorString(e));\n";
  hs << "    if (chunked) {\n      const StatePass pass = " << passFn << "(p.B, p.T);\n";
  if (!gla) {
    // The SSD form computes every op in its walk's kernel (the chunk's
    // scores and states on chip), a CTA per value block, head and batch row.
    hs << "      // mixer.chunk_cumsum, chunk_scores, chunk_local_states, chunk_walk, chunk_output: one kernel\n";
    if (K <= 128)
      hs << "      if (cudaError_t e = launchWalk<" << K << ", " << (DW ? "true" : "false")
         << ", true, false>(p, DeltaChunks{}, pass, scratch, stream); e != cudaSuccess)\n";
    else
      hs << "      if (cudaError_t e = launchChunked<" << K << ", ChunkDecay::" << (DW ? "scalar" : "none")
         << ", true>(p, pass, scratch, stream); e != cudaSuccess)\n";
    hs << fail << "    } else\n  ";
    printRecurrentFallback(schedule, DW ? "scalar" : "identity", K, "NoMap");
    return success();
  }

  // GLA's prepare kernel: the ops that do not read the state, one call each.
  const std::string prepare = "chunkPrepare" + std::to_string(nChunkPrepares++);
  std::string text;
  llvm::raw_string_ostream ds(text);
  auto step = [&](const std::string &call, const std::string &what) {
    ds << llvm::formatv("  {0,-42} // {1}\n", call, what).str();
  };
  ds << "// The GLA form's chunk-level ops that do not read the state (mixer-lower-chunks), a CTA of 256\n"
     << "// threads per (chunk, head, batch): what the walk reads, in scratch (d).\n"
     << "__global__ void __launch_bounds__(256, 2) " << prepare << "(const ScanParams call, const DeltaChunks d) {\n"
     << "  MIXC_DYNAMIC_SHARED(smem);\n";
  step("GlaChunk<" + std::to_string(K) + "> x(call, smem);", "chunk, head, batch; the tiles in shared memory");
  step("if (!x.live()) return;", "past a packed sequence's end");
  step("glaLoadChunk(x);", "q, k and the decays' input of the chunk");
  step("glaChunkCumsum<true, " + decayMap + ">(x, d);", "mixer.chunk_cumsum");
  step("glaChunkDecayedRows(x, d);", "the rows mixer.chunk_output and chunk_local_states read");
  step("glaChunkScores(x, d);", "mixer.chunk_scores");
  ds << "}\n\n";
  device += text;
  hs << "      DeltaChunks d;\n"
     << "      if (cudaError_t e = launchGlaPrepareKernel<" << K << ">(" << prepare
     << ", p, d, scratch, stream); e != cudaSuccess)\n"
     << fail << "      // mixer.chunk_output, chunk_local_states, chunk_walk: the state walk in its GLA form\n"
     << "      if (cudaError_t e = launchWalk<" << K << ", false, true, true>(p, d, pass, scratch, stream); "
     << "e != cudaSuccess)\n"
     << fail << "    } else\n  ";
  printRecurrentFallback(schedule, "vector", K, decayMap);
  return success();
}

// The recurrent sweep of a chunk form's recurrence (its decays are logs: the
// lowering took a factor's log, which the decay map or a row kernel computes).
void Printer::printRecurrentFallback(CudaTileAttr schedule, const char *structure, int64_t K,
                                     const std::string &decayMap) {
  hs << "    scanRecurrent<Structure::" << structure << ", " << K << ", " << schedule.getColsPerWarp() << ", "
     << schedule.getWarps() << ", " << schedule.getStage() << ", DiagKind::none, false, false, false, true, "
     << decayMap << "><<<grid, " << schedule.getWarps() * 32 << ", 0, stream>>>(p);\n  }\n";
}

} // namespace mixc::cudaprint
