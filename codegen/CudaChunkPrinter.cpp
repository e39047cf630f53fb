// The chunk forms on the GPU printed from the chunk-level ops
// (mixer-lower-chunks): today GLA's (vector decays per key). The ops that do
// not read the state (chunk_cumsum, chunk_scores, the decayed rows that
// chunk_output and chunk_local_states read) become one prepare kernel, a CTA
// per (chunk, head, batch), printed as one device call per op
// (mixc_cuda_gla.cuh); the walk (chunk_output, chunk_local_states,
// chunk_walk) is the state walk in its GLA form, tiled by the schedule.
#include "codegen/ChunkGroup.h"
#include "codegen/CudaPrinter.h"

#include "dialect/RecurrenceForms.h"

#include "llvm/Support/FormatVariadic.h"

namespace mixc::cudaprint {

LogicalResult Printer::emitChunkGroup(ChunkWalkOp walk) {
  auto schedule = walk->getAttrOfType<CudaTileAttr>("mixer.schedule");
  auto refuse = [&](const Twine &why) {
    return walk.emitOpError() << "the CUDA target prints the GLA chunk form as mixer-lower-chunks writes it "
                                 "(chunk_cumsum per key, chunk_scores, chunk_local_states, chunk_walk, chunk_output "
                                 "of one recurrence tiled chunked_gla): "
                              << why;
  };
  if (!schedule || schedule.getAlgorithm() != CudaAlgorithm::chunked_gla)
    return refuse("no #mixer.cuda_tile<algorithm = chunked_gla> schedule on the walk");
  if (tensorMode || mixtureScan) return refuse("a tensor program or a mixture's scan takes the recurrence");
  auto group = matchChunkGroup(walk, refuse);
  if (failed(group)) return failure();
  auto [cumsum, scores, local, out] = *group;
  if (!cumsum || walk.getReverse()) return refuse("a forward chunk_cumsum of the decays (the chunked kernels scan forward)");
  const int64_t C = walk.getChunk();
  if (C != schedule.getChunk() || C != 64) return refuse("chunks of 64 tokens, the schedule's");
  auto stateType = cast<RankedTensorType>(walk.getFinalState().getType());
  const int64_t H = stateType.getDimSize(1), K = stateType.getDimSize(2), V = stateType.getDimSize(3);
  Value q = scores.getQ(), k = local.getK(), v = local.getV(), decay = cumsum.getDecay();
  if (rowWidth(decay) != K) return refuse("the decays are not a row of K log-decays per token");
  if (K % 64 || K > 128) return refuse("K a multiple of 64 up to 128 (GLA's tiles)");

  // decay_in_loads: the prepare kernel and the recurrent sweep compute the
  // log-decays from their input as they load it.
  Value decayRaw;
  llvm::SmallVector<Value> decayParams;
  if (schedule.getDecayInLoads() && !(decayRaw = decayLoadChain(decay, decayParams)))
    return walk.emitOpError() << "decay_in_loads: the decay is not a pointwise chain of one input, per-head "
                                 "parameters and constants";
  std::vector<std::pair<const char *, Value>> operands = {
      {"q", q}, {"k", k}, {"v", v}, {"decay", decayRaw ? decayRaw : decay}};
  // Operands that are not inputs: a row kernel writes them first (q, k and v
  // in bf16 where the inputs are: the prepare kernel streams them).
  llvm::SetVector<Value> tokenWork;
  llvm::DenseSet<Value> streamed = {q, k, v};
  for (auto &[field, x] : operands)
    if (!isa<BlockArgument>(inputOf(x)) && !tmpIndex.count(x)) tokenWork.insert(x);
  rowKernel(tokenWork.getArrayRef(), false, H, streamed);

  hs << "  {\n    // chunk level, the GLA form: K = " << K << ", state columns = " << V << ", chunks of " << C << "\n";
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
  hs << "    const bool chunked = p.T >= " << schedule.minTokens() << " && chunkedApplies(p, true);\n";
  if (walk.getInit() && outIndex.count(stateOut)) printInPlaceStateCopy(false, false, H, K, V);

  // The prepare kernel: the ops that do not read the state, one call each.
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

  const std::string passFn = "statePass" + std::to_string(nStatePasses++);
  device += statePassFunction(passFn, schedule, H, V);
  auto fail = "        return chk.fail(\"CUDA: %s\", cudaGetErrorString(e));\n";
  hs << "    if (chunked) {\n      const StatePass pass = " << passFn << "(p.B, p.T);\n      DeltaChunks d;\n"
     << "      if (cudaError_t e = launchGlaPrepareKernel<" << K << ">(" << prepare
     << ", p, d, scratch, stream); e != cudaSuccess)\n"
     << fail << "      // mixer.chunk_output, chunk_local_states, chunk_walk: the state walk in its GLA form\n"
     << "      if (cudaError_t e = launchWalk<" << K << ", false, true, true>(p, d, pass, scratch, stream); "
     << "e != cudaSuccess)\n"
     << fail << "    } else\n  ";
  // The recurrent sweep of the same recurrence (vector decays, logs: the
  // lowering took a factor's log, which the decay map or a row kernel computes).
  hs << "    scanRecurrent<Structure::vector, " << K << ", " << schedule.getColsPerWarp() << ", " << schedule.getWarps()
     << ", " << schedule.getStage() << ", DiagKind::none, false, false, false, true, " << decayMap << "><<<grid, "
     << schedule.getWarps() * 32 << ", 0, stream>>>(p);\n  }\n";
  return success();
}

} // namespace mixc::cudaprint
