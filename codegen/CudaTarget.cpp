#include "codegen/CudaPrinter.h"
#include "dialect/RecurrenceForms.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <functional>

using namespace mlir;
using namespace mixc::mixer;

namespace mixc {

const std::vector<std::pair<std::string, std::string>> &cudaRuntimeHeaders() {
  static const std::vector<std::pair<std::string, std::string>> headers = {
#include "codegen/CudaRuntimeHeaders.inc"
  };
  return headers;
}

namespace cudaprint {

std::string Printer::constant(ConstantOp c) {
  auto it = constNames.find(c.getResult());
  if (it != constNames.end()) return it->second;
  std::string n = "kConst" + std::to_string(constNames.size());
  constantArray("__device__ const", n, c);
  return constNames[c.getResult()] = n;
}

void Printer::constantArray(const std::string &qualifiers, const std::string &name, ConstantOp c) {
  llvm::raw_string_ostream cs(consts);
  cs << qualifiers << " float " << name << "[] = {";
  int64_t i = 0;
  for (APFloat x : cast<DenseFPElementsAttr>(c.getValue()).getValues<APFloat>())
    cs << (i++ ? ", " : "") << floatLiteral(x.convertToDouble());
  cs << "};\n";
}

void Printer::leaf(Value v, const std::string &n, int64_t w, const std::string &dest) {
  v = inputOf(v);
  Operation *d = v.getDefiningOp();
  if (!d) {
    declare(n, w, dest);
    os << indent << "readRow(A.in[" << argIndex.lookup(v) << "], b, t, h, " << n << ", " << w << ");\n";
  } else if (isa<RecurrenceOp, ChunkOutputOp, RouteGatherOp>(d)) { // (a mixture's gathered rows)
    declare(n, w, dest);
    os << indent << "readRow(A.tmp[" << tmpIndex.lookup(v) << "], b, t, h, " << n << ", " << w << ");\n";
  } else if (auto c = dyn_cast<ConstantOp>(d)) {
    auto type = cast<RankedTensorType>(v.getType());
    std::string at = constant(c) + (type.getRank() >= 3 && type.getDimSize(2) > 1 ? " + h * " + std::to_string(w) : "");
    if (dest.empty()) {
      os << indent << "const float *" << n << " = " << at << ";\n";
    } else {
      declare(n, w, dest);
      os << indent << "copyRow(" << at << ", " << w << ", " << n << ");\n";
    }
  } else {
    declare(n, 1, dest);
    os << indent << n << "[0] = (float)h;\n";
  }
}

bool Printer::pointwise(Value v) {
  v = inputOf(v);
  Operation *d = v.getDefiningOp();
  if (!d || isa<ConstantOp, HeadIndexOp, RouteGatherOp>(d)) return true;
  if (auto m = dyn_cast<MapOp>(d)) return isPointwise(m.getFn()) && pointwise(m.getInput());
  if (auto bop = dyn_cast<BinaryOp>(d))
    return isPointwise(bop.getFn()) && pointwise(bop.getLhs()) && pointwise(bop.getRhs());
  return false;
}

bool Printer::laneParallel(Value v) {
  v = inputOf(v);
  Operation *d = v.getDefiningOp();
  if (!d || isa<ConstantOp, HeadIndexOp, RouteGatherOp>(d)) return true;
  if (auto m = dyn_cast<MapOp>(d)) {
    Value in = m.getInput();
    switch (m.getFn()) {
    case UnaryFn::l2norm:
    case UnaryFn::softmax: return rowWidth(in) == rowWidth(v) && laneParallel(in);
    case UnaryFn::sum:
    case UnaryFn::append_one: return laneParallel(in);
    default: return isPointwise(m.getFn()) && laneParallel(in);
    }
  }
  // A row times a matrix and joined rows run a thread per row (their
  // elements read other lanes' elements).
  if (auto bop = dyn_cast<BinaryOp>(d))
    return (isPointwise(bop.getFn()) || bop.getFn() == BinaryFn::dot) && laneParallel(bop.getLhs()) &&
           laneParallel(bop.getRhs());
  return false;
}

std::string Printer::warpReduction(Value v) {
  if (auto it = hoisted.find(v); it != hoisted.end()) return it->second;
  Operation *d = v.getDefiningOp();
  std::string id = std::to_string(hoisted.size()), r = "r" + id, s = "s" + id;
  // The operands' expressions first: they may print hoisted scalars of their own.
  if (auto bop = dyn_cast<BinaryOp>(d)) { // dot
    int64_t w = rowWidth(bop.getLhs());
    std::string a = elementExpr(bop.getLhs(), "j"), b = elementExpr(bop.getRhs(), "j");
    os << "  float " << r << " = 0.f;\n  for (int j = lane; j < " << w << "; j += 32) " << r << " += (" << a
       << ") * (" << b << ");\n  const float " << s << " = warpSum(" << r << ");\n";
    return hoisted[v] = s;
  }
  auto m = cast<MapOp>(d);
  int64_t w = rowWidth(m.getInput());
  std::string x = elementExpr(m.getInput(), "j");
  switch (m.getFn()) {
  case UnaryFn::l2norm:
    os << "  float " << r << " = 0.f;\n  for (int j = lane; j < " << w << "; j += 32) {\n    const float x = " << x
       << ";\n    " << r << " += x * x;\n  }\n  const float " << s << " = rsqrtf(warpSum(" << r << ") + 1e-12f);\n";
    break;
  case UnaryFn::sum:
    os << "  float " << r << " = 0.f;\n  for (int j = lane; j < " << w << "; j += 32) " << r << " += " << x
       << ";\n  const float " << s << " = warpSum(" << r << ");\n";
    break;
  default: { // softmax: shifted by the row's maximum, so that exp never overflows
    std::string mx = "m" + id;
    os << "  float " << mx << " = -INFINITY;\n  for (int j = lane; j < " << w << "; j += 32) " << mx << " = fmaxf("
       << mx << ", " << x << ");\n  " << mx << " = warpMax(" << mx << ");\n  float " << r
       << " = 0.f;\n  for (int j = lane; j < " << w << "; j += 32) " << r << " += fastExp(" << x << " - " << mx
       << ");\n  const float " << s << " = 1.f / warpSum(" << r << ");\n";
    softmaxMax[v] = mx;
  }
  }
  return hoisted[v] = s;
}

std::string Printer::elementExpr(Value v, const std::string &j) {
  std::string jj = rowWidth(v) == 1 ? "0" : j;
  Operation *d = v.getDefiningOp();
  // Row reductions in a warp-per-row kernel: a warp-wide scalar per token.
  if (inTemplate && d) {
    if (auto m = dyn_cast<MapOp>(d)) {
      UnaryFn fn = m.getFn();
      if (fn == UnaryFn::sum) return warpReduction(v);
      if (fn == UnaryFn::l2norm) {
        std::string s = warpReduction(v);
        return "(" + elementExpr(m.getInput(), jj) + " * " + s + ")";
      }
      if (fn == UnaryFn::append_one) // the normalizer's column of ones after the features
        return "(" + jj + " < " + std::to_string(rowWidth(m.getInput())) + " ? " + elementExpr(m.getInput(), jj) +
               " : 1.f)";
      if (fn == UnaryFn::softmax) {
        std::string s = warpReduction(v);
        return "(fastExp(" + elementExpr(m.getInput(), jj) + " - " + softmaxMax.lookup(v) + ") * " + s + ")";
      }
    }
    if (auto bop = dyn_cast<BinaryOp>(d); bop && bop.getFn() == BinaryFn::dot) return warpReduction(v);
  }
  // A per-token scalar (a gate, beta) is the same for every feature: the
  // lanes compute it once, before the loops over the features (the compiler
  // cannot hoist its loads past the scratch stores).
  if (hoist && rowWidth(v) == 1 && !(d && isa<ConstantOp, HeadIndexOp>(d))) {
    if (auto it = hoisted.find(v); it != hoisted.end()) return it->second;
    hoist = false;
    std::string e = elementExpr(v, "0");
    hoist = true;
    std::string name = "s" + std::to_string(hoisted.size());
    os << "  const float " << name << " = " << e << ";\n";
    hoisted[v] = name;
    return name;
  }
  if (isa<BlockArgument>(inputOf(v))) v = inputOf(v), d = nullptr;
  if (!d) { // token inputs are all bf16 when Bf16 (the kernel's template argument) holds
    std::string in = "A.in[" + std::to_string(argIndex.lookup(v)) + "]";
    return isToken(v) && inTemplate ? "tokenAt<Bf16>(" + in + ", b, t, h, " + jj + ")" : in + ".at(b, t, h, " + jj + ")";
  }
  if (auto c = dyn_cast<ConstantOp>(d)) {
    auto type = cast<RankedTensorType>(v.getType());
    bool perHead = type.getRank() >= 3 && type.getDimSize(2) > 1;
    return constant(c) + "[" + (perHead ? "h * " + std::to_string(rowWidth(v)) + " + " : std::string()) + jj + "]";
  }
  if (isa<HeadIndexOp>(d)) return "(float)h";
  if (isa<RouteGatherOp>(d)) // a mixture's gathered rows, in scratch
    return "A.tmp[" + std::to_string(tmpIndex.lookup(v)) + "].at(b, t, h, " + jj + ")";
  if (auto m = dyn_cast<MapOp>(d))
    return std::string("([](float x) { return ") + unaryExpr(m.getFn()) + "; })(" + elementExpr(m.getInput(), jj) + ")";
  auto bop = cast<BinaryOp>(d);
  return std::string("([](float a, float b) { return ") + binaryExpr(bop.getFn()) + "; })(" +
         elementExpr(bop.getLhs(), jj) + ", " + elementExpr(bop.getRhs(), jj) + ")";
}

std::string Printer::beginRowKernel(Rows rows, int64_t H) {
  std::string name = (rows == Rows::threadPerHead ? "heads" : "rows") + std::to_string(nkernels++);
  // Warp-per-row kernels come in two versions: all token inputs bf16 (loads
  // without a dtype switch), and any dtypes.
  if (rows == Rows::warpPerToken) os << "template <bool Bf16>\n";
  os << "__global__ void " << name << "(const Args A) {\n";
  if (rows == Rows::threadPerHead) {
    os << "  const int64_t h = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, b = 0, t = 0;\n  if (h >= " << H
       << ") return;\n";
  } else {
    if (rows == Rows::warpPerToken)
      os << "  const int64_t row = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;\n"
         << "  const int lane = threadIdx.x % 32;\n";
    else
      os << "  const int64_t row = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;\n";
    os << "  if (row >= A.B * A." << tokens() << " * " << H << ") return;\n  const int64_t h = row % " << H
       << ";\n  int64_t b, t;\n  tokenOf(row / " << H << ", A." << tokens() << ", b, t);\n";
  }
  os << "  (void)b; (void)t; (void)h;\n";
  clearRows();
  return name;
}

void Printer::endRowKernel(const std::string &name, Rows rows, int64_t H) {
  os << "}\n\n";
  device += cur;
  cur.clear();
  std::string count = rows == Rows::threadPerHead ? std::to_string(H) : "B * " + tokens() + " * " + std::to_string(H);
  if (rows == Rows::warpPerToken) // 8 rows of 32 lanes per block
    hs << "  if (sdt == MIXC_BF16)\n    " << name << "<true><<<(unsigned)((" << count
       << " + 7) / 8), 256, 0, stream>>>(args);\n  else\n    " << name << "<false><<<(unsigned)((" << count
       << " + 7) / 8), 256, 0, stream>>>(args);\n";
  else
    hs << "  " << name << "<<<(unsigned)((" << count << " + 127) / 128), 128, 0, stream>>>(args);\n";
}

int Printer::scratchRows(Value v, int64_t H, bool perHead, bool streamed) {
  int idx = allocScratch(rowWidth(v), H, perHead, streamed);
  tmpIndex[v] = idx;
  return idx;
}

int Printer::allocScratch(int64_t w, int64_t H, bool perHead, bool streamed) {
  int idx = ntmp++;
  hs << "  {\n    float *mem = scratch.alloc(" << (perHead ? std::to_string(H) : "B * " + tokens() + " * " + std::to_string(H)) << " * "
     << w << ");\n    if (!mem) return chk.fail(\"CUDA: no device memory for scratch\");\n";
  if (perHead)
    hs << "    args.tmp[" << idx << "] = View{mem, MIXC_F32, 0, 0, " << w << ", " << (w == 1 ? 0 : 1) << "};\n";
  else
    hs << "    args.tmp[" << idx << "] = scratchView(mem, " << tokens() << ", " << H << ", " << w << ");\n";
  if (streamed) hs << "    args.tmp[" << idx << "].dtype = sdt;\n";
  hs << "  }\n";
  return idx;
}

std::pair<int, int> Printer::scaleKernel(Value kScale, Value aScale, int64_t H) {
  // Scales with row reductions (Longhorn's k^T k) take a warp per token, the
  // reductions by shuffles; pointwise ones a thread per token.
  const bool warp = !(pointwise(kScale) && pointwise(aScale)) && laneParallel(kScale) && laneParallel(aScale);
  const Rows rows = warp ? Rows::warpPerToken : Rows::threadPerToken;
  std::string name = beginRowKernel(rows, H);
  int ki = allocScratch(1, H, false, false), ai = allocScratch(1, H, false, false);
  hoisted.clear();
  softmaxMax.clear();
  hoist = inTemplate = warp;
  // A scale as one expression; otherwise (a reduction that the warp form
  // does not cover) through its row, whose statements print first.
  auto scalar = [&](Value s) { return warp || pointwise(s) ? elementExpr(s, "0") : rowOf(s) + "[0]"; };
  std::string k = scalar(kScale), a = scalar(aScale);
  const char *guard = warp ? "  if (lane == 0) " : "  ";
  os << guard << "A.tmp[" << ki << "].set(b, t, h, 0, " << k << ");\n";
  os << guard << "A.tmp[" << ai << "].set(b, t, h, 0, " << a << ");\n";
  hoist = inTemplate = false;
  endRowKernel(name, rows, H);
  return {ki, ai};
}

// `streamed` values are stored in `sdt` (bf16 when the token inputs are):
// the chunked kernels stream them into tensor-core tiles.
void Printer::rowKernel(llvm::ArrayRef<Value> values, bool perHead, int64_t H, const llvm::DenseSet<Value> &streamed) {
  if (values.empty()) return;
  // Pre-processing runs a warp per row, lanes over the features, so that
  // every load and store is coalesced and no row is held in an array (local
  // memory); row reductions (l2norm, softmax, sums, dot products) are
  // shuffles across the warp. The Taylor feature map (a row of D^2 products)
  // runs a thread per row, and so do per-token scalars computed pointwise
  // (a gate from A_log and dt_bias: a warp would idle 31 lanes of 32).
  auto scalar = [&](Value v) { return rowWidth(v) == 1 && pointwise(v); };
  Rows rows = perHead                                                         ? Rows::threadPerHead
              : llvm::all_of(values, scalar)                                  ? Rows::threadPerToken
              : llvm::all_of(values, [&](Value v) { return laneParallel(v); }) ? Rows::warpPerToken
                                                                              : Rows::threadPerToken;
  std::string name = beginRowKernel(rows, H);
  hoisted.clear();
  softmaxMax.clear();
  hoist = inTemplate = rows == Rows::warpPerToken;
  for (Value v : values) {
    int idx = scratchRows(v, H, perHead, streamed.count(v));
    std::string e = hoist ? elementExpr(v, "j") : std::string(); // prints the hoisted scalars first
    if (rows == Rows::warpPerToken)
      os << "  for (int j = lane; j < " << rowWidth(v) << "; j += 32) "
         << (streamed.count(v) ? "tokenSet<Bf16>(A.tmp[" + std::to_string(idx) + "], "
                               : "A.tmp[" + std::to_string(idx) + "].set(")
         << "b, t, h, j, " << e << ");\n";
    else {
      std::string x = rowOf(v); // prints the row's statements first
      os << "  writeRow(A.tmp[" << idx << "], b, t, h, " << x << ", " << rowWidth(v) << ");\n";
    }
  }
  hoist = inTemplate = false;
  endRowKernel(name, rows, H);
}

// The chunked walk's tiling for a call (StatePass), printed from the
// schedule's rules with every number filled in, as a host function of the
// batch and the length: the only things left to run time (and, for the wgmma
// walk, whether the device runs the sm_90a build). CTAs of a w-column block:
// B x H x ceil(Vs / w).
std::string statePassFunction(const std::string &name, CudaTileAttr schedule, int64_t H, int64_t Vs) {
  std::string text;
  llvm::raw_string_ostream hs(text);
  const int64_t sms = schedule.getSms();
  auto ctasPerBatch = [&](int64_t w) { return H * ((Vs + w - 1) / w); };
  ArrayRef<int64_t> widths = schedule.getStateBlocks().asArrayRef();
  hs << "// The chunked walk's tiling for B batch rows of T tokens (mixer.schedule): value blocks of "
     << schedule.stateBlocksText() << " columns";
  if (widths.size() > 1) hs << ",\n// the first whose CTAs fill " << sms << " SMs";
  if (schedule.getKeySplit() == 2) hs << ", at " << widths.back() << " two warps per 16 columns";
  if (schedule.getSeqSplit())
    hs << ";\n// the sequence split where " << widths[0] << "-column blocks leave half the SMs idle (from "
       << schedule.getSeqSplit() << " chunks)";
  if (schedule.getWgmmaWalk()) hs << ";\n// the wgmma walk where 64-column blocks leave SMs idle on a Hopper device";
  hs << ".\nStatePass " << name << "(int64_t B, [[maybe_unused]] int64_t T) {\n  StatePass pass;\n";
  std::string chain = "  ";
  if (schedule.getWgmmaWalk()) {
    hs << chain << "if (chunk::hasWgmma() && B * " << ctasPerBatch(64) << " < " << sms << ") pass.wgmma = true;\n";
    chain = "  else ";
  }
  if (int64_t split = schedule.getSeqSplit()) {
    const int64_t chunk = schedule.getChunk(), pairs = ctasPerBatch(widths[0]);
    hs << "  const int64_t chunks = (T + " << chunk - 1 << ") / " << chunk << ";\n";
    hs << chain << "if (2 * B * " << pairs << " <= " << sms << " && chunks >= " << split << ") {\n"
       << "    const int64_t segs = std::min<int64_t>(" << sms << " / (B * " << pairs << "), chunks / " << split / 2
       << ");\n"
       << "    pass.vBlock = " << widths[0] << ";\n"
       << "    pass.segChunks = (chunks + segs - 1) / segs;\n"
       << "    pass.segments = (int)((chunks + pass.segChunks - 1) / pass.segChunks);\n  }\n";
    chain = "  else ";
  }
  for (size_t i = 0; i + 1 < widths.size(); ++i) {
    // A width with as many CTAs as a wider one is never reached (that one took the batch).
    if (i > 0 && ctasPerBatch(widths[i]) == ctasPerBatch(widths[i - 1])) continue;
    hs << chain << "if (B * " << ctasPerBatch(widths[i]) << " >= " << sms << ") pass.vBlock = " << widths[i] << ";\n";
    chain = "  else ";
  }
  hs << chain << "pass.vBlock = " << widths.back() << (schedule.getKeySplit() == 2 ? ", pass.keySplit = 2" : "")
     << ";\n  return pass;\n}\n\n";
  return text;
}

// The final state in the initial state's memory (decoding): the scan reads
// a copy of the initial state (and stabilizer) where a block may be read
// after another CTA wrote it; `always` where every call takes such a kernel,
// else only the chunked ones (the recurrent sweep reads its block first).
void Printer::printInPlaceStateCopy(bool initM, bool always, int64_t H, int64_t K, int64_t Vs) {
  // (B: the scan's sequences, the states' batch)
  hs << "    if (p.init.p && p.init.p == p.state.p" << (always ? "" : " && chunked")
     << ") {\n      if (cudaError_t e = readFromCopy(p.init, p.B, " << H << ", " << K << ", " << Vs
     << ", scratch, stream); e != cudaSuccess)\n        return chk.fail(\"CUDA: %s\", cudaGetErrorString(e));\n";
  if (initM)
    hs << "      if (p.initM.p && p.initM.p == p.m.p)\n        if (cudaError_t e = readFromCopy(p.initM, p.B, " << H
       << ", 1, 1, scratch, stream); e != cudaSuccess)\n          return chk.fail(\"CUDA: %s\", "
       << "cudaGetErrorString(e));\n";
  hs << "    }\n";
}

// A scan's states and readouts in ScanParams p: the initial state (and
// mLSTM's stabilizer), o, the final state (per memory for a mixture: stateOut
// is then the memory_states value) and the final stabilizer.
LogicalResult Printer::printScanStates(Operation *op, Value init, Value initM, Value o, Value finalState, Value finalM,
                                       int64_t H, const std::string &oTensor, const std::string &stateTensor,
                                       Value &stateOut) {
  auto inputOf = [&](Value v, const char *what) -> FailureOr<unsigned> {
    if (!isa<BlockArgument>(v)) return op->emitOpError() << "the CUDA target takes the " << what << " as an input";
    return argIndex.lookup(v);
  };
  if (tensorMode && initM) return op->emitOpError() << "the CUDA tensor program has no mLSTM stabilizer";
  if (init && tensorMode) {
    hs << "    p.init = stateTensorView(" << tensorOf(init) << ");\n";
  } else if (init) {
    auto perMemory = init.getDefiningOp<MemoryStatesOp>(); // a mixture's [B, M, ...] states
    auto i = inputOf(perMemory ? perMemory.getInput() : init, "initial state");
    if (failed(i)) return failure();
    if (perMemory) hs << "    if (!memoryStateView(chk, inputs[" << *i << "], \"input\", \"init\", p.init)) return 1;\n";
    else hs << "    p.init = stateView(inputs[" << *i << "]);\n";
  }
  if (Value m0 = initM) {
    auto i = inputOf(m0, "initial stabilizer");
    if (failed(i)) return failure();
    hs << "    p.initM = stateView(inputs[" << *i << "]);\n";
  }
  if (tensorMode) {
    hs << "    p.o = rowView(" << oTensor << ");\n    p.state = stateTensorView(" << stateTensor << ");\n";
  } else if (outIndex.count(o)) {
    hs << "    p.o = args.out[" << outIndex.lookup(o) << "];\n";
  } else {
    // A mixture's readouts are only read back by the mix: stored at the
    // inputs' width (bf16 for bf16 inputs), half the bytes written and read.
    int idx = scratchRows(o, H, false, /*streamed=*/mixtureScan);
    hs << "    p.o = args.tmp[" << idx << "];\n";
  }
  // A mixture's final states go out per memory, [B, M, ...] (memory_states).
  stateOut = finalState;
  if (stateOut.hasOneUse())
    if (auto perMemory = dyn_cast<MemoryStatesOp>(*stateOut.getUsers().begin())) stateOut = perMemory.getResult();
  const bool perMemoryState = stateOut != finalState;
  if (!tensorMode && outIndex.count(stateOut)) {
    if (perMemoryState)
      hs << "    if (!memoryStateView(chk, outputs[" << outIndex.lookup(stateOut)
         << "], \"output\", \"final_state\", p.state)) return 1;\n";
    else
      hs << "    p.state = stateView(outputs[" << outIndex.lookup(stateOut) << "]);\n";
  }
  if (!tensorMode && finalM && outIndex.count(finalM))
    hs << "    p.m = stateView(outputs[" << outIndex.lookup(finalM) << "]);\n";
  return success();
}

LogicalResult Printer::emitRecurrence(RecurrenceOp op) {
  auto schedule = op->getAttrOfType<CudaTileAttr>("mixer.schedule");
  if (!schedule)
    return op.emitOpError() << "has no #mixer.cuda_tile schedule: run mixer-tile{target=cuda} first";
  if (!op.isSplitForm()) return op.emitOpError() << "the CUDA target expects the split form";
  auto stateType = cast<RankedTensorType>(op.getFinalState().getType());
  int64_t H = stateType.getDimSize(1), K = stateType.getDimSize(2), Vs = stateType.getDimSize(3);
  int64_t cpw = schedule.getColsPerWarp(), warps = schedule.getWarps(), stage = schedule.getStage(),
          vb = schedule.getVBlock();
  bool mlstm = op.getNormalizerKind() == Normalizer::mlstm;
  Structure s = op.getStructure();
  std::string diag = stringifyDiagKind(op.getDiagKind()).str();
  int64_t V = mlstm ? Vs - 1 : Vs;
  const CudaAlgorithm algorithm = schedule.getAlgorithm();
  // The scaled low-rank form reaches the printer only where mixer-tile kept
  // it: the chunked UT kernel, with k = b.
  bool scaled = op.getAScale() && op.getKScale();
  if ((op.getAScale() || op.getKScale()) &&
      (!scaled || algorithm != CudaAlgorithm::chunked_ut || op.getK() != op.getB()))
    return op.emitOpError() << "this CUDA kernel reads whole rows of a and k: expand the scaled low-rank form in "
                               "mixer-tile first";
  // With a vector diagonal the chunked kernel's scaled form is KDA's decayed_b one, and only it.
  if (op.getDiagKind() == DiagKind::vector && scaled != bool(op.getDecayedB()))
    return op.emitOpError() << "the CUDA kernels take a vector diagonal's scaled low-rank form with decayed_b "
                               "(mixer-tile writes both or neither)";
  const bool logDecay = !op.hasFactorDecay();
  // decay_in_loads: the scan reads the decays' input and the kernels compute
  // the decays as they load it (a tensor program has them as a Tensor already).
  Value decayRaw;
  llvm::SmallVector<Value> decayParams;
  if (!tensorMode && schedule.getDecayInLoads() && !(decayRaw = decayLoadChain(op.getDecay(), decayParams)))
    return op.emitOpError() << "decay_in_loads: the decay is not a pointwise chain of one input, per-head parameters "
                               "and constants";
  if (s == Structure::elementwise && !logDecay)
    return op.emitOpError() << "the CUDA elementwise scan takes log-decays: mixer-tile turns a factor into its log";
  // scalars_in_loads: the kernels compute the per-token decay and scales from
  // their inputs (tokenScalarChain's leaves) as they load a token.
  llvm::SmallVector<Value> scalarTokens, scalarParams;
  const bool scalarsInLoads = !tensorMode && schedule.getScalarsInLoads();
  const bool scalarDecayInLoads = scalarsInLoads && tokenScalarsOf(op).decay;
  if (scalarsInLoads) {
    if (s != Structure::dplr)
      return op.emitOpError() << "scalars_in_loads: the kernels take it for the delta rules' (dplr) scans only";
    if (!tokenScalarsInLoads(op, scalarTokens, scalarParams))
      return op.emitOpError() << "scalars_in_loads: a per-token decay or scale is not a pointwise chain of "
                                 "per-token inputs, per-head parameters and constants (at most "
                              << kTokenScalarInputs << " and " << kTokenScalarParams << ")";
  }

  // Operands: the user's tensor where the scan reads an input as it is,
  // scratch computed by a row kernel otherwise.
  std::vector<std::pair<const char *, Value>> operands = {{"q", op.getQ()}, {"k", op.getK()}, {"v", op.getV()}};
  Value rate = s == Structure::elementwise ? op.getDecay() : Value();
  if (s != Structure::elementwise && op.getDecay() && !scalarDecayInLoads)
    operands.push_back({"decay", decayRaw ? decayRaw : op.getDecay()});
  if (op.getDt()) operands.push_back({"dt", op.getDt()});
  // Delta rules in the scaled form (a = a_scale b, the key k_scale b): the
  // chunked UT kernels read b's rows once and apply the scales themselves,
  // and no row kernel writes the scaled copies.
  if (op.getB()) {
    operands.push_back({"a", scaled ? op.getB() : op.getA()});
    operands.push_back({"b", op.getB()});
  }
  if (op.getIgate()) operands.push_back({"igate", op.getIgate()});
  if (op.getBonus()) operands.push_back({"bonus", op.getBonus()});
  llvm::SetVector<Value> tokenWork, headWork;
  for (auto &[field, v] : operands) // (a mixture's gathered operands are in scratch already)
    if (!isa<BlockArgument>(inputOf(v)) && !tmpIndex.count(v)) (isToken(v) ? tokenWork : headWork).insert(v);
  if (rate) headWork.insert(rate); // read as (0, h, k, v): always a packed scratch row
  llvm::DenseSet<Value> streamed;
  if (schedule.isChunked())
    for (auto &[field, v] : operands)
      if (llvm::StringRef(field) == "q" || llvm::StringRef(field) == "k" || llvm::StringRef(field) == "v" ||
          llvm::StringRef(field) == "a" || llvm::StringRef(field) == "b")
        streamed.insert(v);
  // A tensor program has every operand as a Tensor already.
  if (tensorMode && scaled)
    return op.emitOpError() << "the CUDA tensor program takes no scaled low-rank form";
  if (!tensorMode) {
    rowKernel(tokenWork.getArrayRef(), false, H, streamed);
    rowKernel(headWork.getArrayRef(), true, H);
  }
  std::pair<int, int> scales;
  if (scaled && !scalarsInLoads) scales = scaleKernel(op.getKScale(), op.getAScale(), H);

  auto viewOfValue = [&](Value v) -> std::string {
    if (tensorMode) return "rowView(" + tensorOf(v) + ")";
    v = inputOf(v);
    if (isa<BlockArgument>(v)) return "args.in[" + std::to_string(argIndex.lookup(v)) + "]";
    return "args.tmp[" + std::to_string(tmpIndex.lookup(v)) + "]";
  };
  // A tensor program's results: Tensors allocated before the scan's block.
  std::string oTensor, stateTensor;
  if (tensorMode) oTensor = newTensorFor(op.getO()), stateTensor = newTensorFor(op.getFinalState());
  hs << "  {\n    // " << stringifyStructure(s).str() << (op.getDirection() == Direction::reverse ? " reverse" : "")
     << " recurrence, K = " << K << ", state columns = " << Vs << ", "
     << stringifyCudaAlgorithm(algorithm) << "\n" << memoryScope();
  if (tensorMode) hs << "    const int scratchMark = scratch.mark(); // the scan's own scratch, freed after it\n";
  hs << "    ScanParams p;\n";
  for (auto &[field, v] : operands) {
    // A tensor program streams the chunked kernels' operands in bf16 where its
    // inputs are, if that loses nothing: an input or its tokens moved. A value
    // computed in fp32 (delta * B, c q) rounded again would feed the decays'
    // gradient, a difference of near-equal terms, with bf16's error (Mamba-2's
    // dA_log was 75% off): those keep fp32 and the recurrent sweep.
    if (tensorMode && streamed.count(v) && exactFromInputs(v))
      hs << "    p." << field << " = streamedView(" << tensorOf(v) << ", sdt, scratch, stream);\n";
    else
      hs << "    p." << field << " = " << viewOfValue(v) << ";\n";
  }
  if (scaled && !scalarsInLoads)
    hs << "    p.kScale = args.tmp[" << scales.first << "];\n    p.aScale = args.tmp[" << scales.second << "];\n";
  std::string decayMapArg; // the kernels' last template argument with decay_in_loads
  if (decayRaw) {
    const std::string decayMap = "DecayMap" + std::to_string(nDecayMaps++);
    decayMapArg = ", " + decayMap;
    device += decayMapFunctor(decayMap, op.getDecay(), decayRaw, decayParams);
    for (auto [i, param] : llvm::enumerate(decayParams))
      hs << "    p.mapIn[" << i << "] = args.in[" << argIndex.lookup(param) << "];\n";
  }
  std::string scalarsArg; // the kernels' template argument with scalars_in_loads
  if (scalarsInLoads) {
    const std::string name = "TokenScalars" + std::to_string(nTokenScalars++);
    scalarsArg = ", " + name;
    device += tokenScalarsFunctor(name, op, scalarTokens, scalarParams);
    for (auto [i, v] : llvm::enumerate(scalarTokens))
      hs << "    p.scalarIn[" << i << "] = args.in[" << argIndex.lookup(v) << "];\n";
    for (auto [i, v] : llvm::enumerate(scalarParams))
      hs << "    p.scalarParams[" << i << "] = args.in[" << argIndex.lookup(v) << "];\n";
  }
  // The kernels' decay map and token scalars (NoMap where only the second is printed).
  const std::string loadArgs =
      decayMapArg + (scalarsArg.empty() ? "" : (decayMapArg.empty() ? ", NoMap" : "") + scalarsArg);
  if (rate)
    hs << rateView(rate,
                   tensorMode ? "rowView(" + tensorOf(rate) + ")" : "args.tmp[" + std::to_string(tmpIndex.lookup(rate)) + "]",
                   tensorMode);
  Value stateOut;
  if (failed(printScanStates(op, op.getInit(), op.getInitM(), op.getO(), op.getFinalState(), op.getFinalM(), H,
                             oTensor, stateTensor, stateOut)))
    return failure();
  hs << "    p.B = B; p.T = T; p.H = " << H << "; p.Vs = " << Vs << ";\n";
  // Packed sequences (cu_seqlens): the kernels take a sequence per batch row
  // (T: the longest, which sizes the chunked kernels' scratch).
  if (!mixtureScan) hs << "    if (seqStartDevice) p.B = NS, p.T = TS, p.seqStart = seqStartDevice;\n";
  hs << "    p.scale = " << floatLiteral(op.getScaleValue()) << ";\n";
  hs << "    p.reverse = " << (op.getDirection() == Direction::reverse ? "true" : "false") << ";\n";
  if (op.getDecayedB()) hs << "    p.bDecayed = true; // b^T reads Diag(exp(decay)) S: KDA's (I - beta k k^T) Diag(e^g)\n";
  // l2norm_q / l2norm_b: the kernels normalize the rows they load (mixer-tile's fusion of the maps).
  if (op.getL2normQ()) hs << "    p.l2normQ = true; // q's rows read as q / ||q||\n";
  if (op.getL2normB()) hs << "    p.l2normB = true; // b's rows (and so a's and k's) read as b / ||b||\n";
  auto b = [](bool x) { return x ? "true" : "false"; };
  hs << "    dim3 grid(" << (V + vb - 1) / vb << ", " << H << ", (unsigned)p.B);\n";
  // The chunked kernels run calls of a quarter chunk or more: shorter ones
  // (decoding) would be mostly padding, and take the recurrent sweep.
  const int64_t minTokens = schedule.minTokens();
  std::string applies;
  if (algorithm == CudaAlgorithm::chunked_ut && diag == "vector") applies = "chunkedDplrVectorApplies(p)";
  else if (algorithm == CudaAlgorithm::chunked_ut) applies = "chunkedDeltaApplies(p)";
  else if (schedule.isChunked()) applies = std::string("chunkedApplies(p, ") + b(s == Structure::vector) + ")";
  if (!applies.empty())
    hs << "    const bool chunked = p.T >= " << minTokens << " && " << applies << ";\n";
  // The final state in the initial state's memory (decoding): read a copy
  // where a block may be read after another CTA wrote it (the sweep alone
  // reads every element of its block first).
  const bool sideColumnShared = mlstm && (V + vb - 1) / vb > 1; // every block reads it, the first writes it
  if (!tensorMode && op.getInit() && outIndex.count(stateOut) && (sideColumnShared || !applies.empty())) {
    printInPlaceStateCopy(bool(op.getInitM()), sideColumnShared, H, K, Vs);
  }
  if (schedule.isChunked()) {
    if (schedule.getWgmmaWalk() && diag == "vector")
      return op.emitOpError() << "the wgmma walk is the scalar-diagonal delta rules' (no vector diagonal)";
    const std::string passFn = "statePass" + std::to_string(nStatePasses++);
    device += statePassFunction(passFn, schedule, H, Vs);
    hs << "    if (chunked) {\n      const StatePass pass = " << passFn << "(p.B, p.T);\n";
    if (algorithm == CudaAlgorithm::chunked_ut && diag == "vector")
      hs << "      if (cudaError_t e = launchChunkedDplrVector<" << K << ", " << b(logDecay) << ", " << b(scaled)
         << loadArgs << ">(p, pass, scratch, stream); e != cudaSuccess)\n";
    else if (algorithm == CudaAlgorithm::chunked_ut)
      hs << "      if (cudaError_t e = launchChunkedDelta<" << K << ", " << b(diag == "scalar") << ", " << b(logDecay)
         << ", " << b(scaled) << scalarsArg << ">(p, pass, scratch, stream); e != cudaSuccess)\n";
    else
      hs << "      if (cudaError_t e = launchChunked<" << K << ", ChunkDecay::"
         << (s == Structure::vector ? "vector" : s == Structure::identity ? "none" : "scalar") << ", " << b(logDecay)
         << decayMapArg << ">(p, pass, scratch, stream); e != cudaSuccess)\n";
    hs << "        return chk.fail(\"CUDA: %s\", cudaGetErrorString(e));\n    } else\n  ";
  }
  hs << "    scanRecurrent<Structure::" << stringifyStructure(s).str() << ", " << K << ", " << cpw << ", " << warps << ", "
     << stage << ", DiagKind::" << diag << ", " << b(bool(op.getBonus())) << ", " << b(mlstm) << ", "
     << b(bool(op.getDt())) << ", " << b(logDecay) << loadArgs << "><<<grid, " << warps * 32 << ", 0, stream>>>(p);\n";
  if (tensorMode) hs << "    scratch.releaseFrom(scratchMark);\n";
  hs << "  }\n";
  return success();
}

std::string Printer::rateView(Value rate, const std::string &view, bool wholeRow) {
  auto rt = cast<RankedTensorType>(rate.getType());
  int64_t r = rt.getRank(), rk = r >= 2 ? rt.getDimSize(r - 2) : 1, rv = r >= 1 ? rt.getDimSize(r - 1) : 1;
  return "    p.rate = " + view + ";\n    p.rate.s1 = " +
         std::to_string(wholeRow && (r < 3 || rt.getDimSize(2) == 1) ? 0 : rk * rv) +
         ", p.rate.s2 = " + std::to_string(rk == 1 ? 0 : rv) + ", p.rate.s3 = " + std::to_string(rv == 1 ? 0 : 1) +
         ";\n";
}

// The scan of a mixture of memories: a warp per (batch row, memory) plans the
// route (each choice's position in its memory's sequence; L, the longest, to
// the host), the pre-processed operands are gathered into B x M zero-padded
// sequences, the recurrence runs over them as over any batch, and a kernel
// mixes each token's top-k readouts by the router's weights into o.
LogicalResult Printer::emitMixtureScan(RecurrenceOp op) {
  RouteScatterOp scatter;
  func.walk([&](RouteScatterOp s) { scatter = s; });
  auto route = dyn_cast<BlockArgument>(scatter.getRoute()), weight = dyn_cast<BlockArgument>(scatter.getWeight());
  if (!route || !weight || scatter.getInput() != op.getO() || !outIndex.count(scatter.getResult()))
    return scatter.emitOpError() << "the CUDA target mixes the recurrence's readouts by the route and weights the "
                                    "function takes, into its output";
  const int64_t M = scatter.getMemories();
  const int64_t H = cast<RankedTensorType>(op.getFinalState().getType()).getDimSize(1);
  auto schedule = op->getAttrOfType<CudaTileAttr>("mixer.schedule");
  hs << "  // A mixture of " << M << " memories: the scan runs over B x " << M
     << " sequences, the tokens routed to each memory\n  // in token order, zero rows padding each to the longest, L.\n";
  hs << "  if (seqStartDevice) return chk.fail(\"input 'cu_seqlens': a mixture of memories takes B sequences of T "
        "tokens\");\n";
  hs << "  RoutePlan route_plan;\n  if (!planRoute(chk, inputs[" << argIndex.lookup(route) << "], B, T, " << M
     << ", scratch, stream, route_plan)) return 1;\n";
  hs << "  const int64_t Ts = T * route_plan.k;\n  args.Ts = Ts;\n";
  // What the gathers read: pre-processed rows of tokens, and of slots.
  SmallVector<RouteGatherOp> gathers;
  func.walk([&](RouteGatherOp g) { gathers.push_back(g); });
  llvm::SetVector<Value> tokenRows, slotRowValues;
  for (RouteGatherOp g : gathers)
    if (!isa<BlockArgument>(inputOf(g.getInput())) && !tmpIndex.count(g.getInput()))
      (g.getSlots() ? slotRowValues : tokenRows).insert(g.getInput());
  rowKernel(tokenRows.getArrayRef(), false, H);
  slotRows = true;
  rowKernel(slotRowValues.getArrayRef(), false, H);
  slotRows = false;
  // The operands the chunked kernels stream into tensor-core tiles are
  // gathered in `sdt` (bf16 where the inputs are), the rest in fp32.
  llvm::DenseSet<Value> streamed, fp32;
  if (schedule && schedule.isChunked()) {
    for (Value v : {op.getQ(), op.getK(), op.getV(), op.getA(), op.getB()})
      if (v) streamed.insert(v);
  }
  for (Value v : {op.getDecay(), op.getDt(), op.getIgate(), op.getBonus(), op.getSkipWeight(), op.getSkipInput()})
    if (v) fp32.insert(v);
  for (RouteGatherOp g : gathers) {
    Value x = g.getInput(), src = inputOf(x);
    const int64_t w = rowWidth(g.getResult());
    const int idx = ntmp++;
    tmpIndex[g.getResult()] = idx;
    const std::string view = isa<BlockArgument>(src) ? "args.in[" + std::to_string(argIndex.lookup(src)) + "]"
                                                     : "args.tmp[" + std::to_string(tmpIndex.lookup(x)) + "]";
    // (sized in the element type it is stored in; routeGather zeroes the padding rows)
    const bool narrow = streamed.count(g.getResult()) && !fp32.count(g.getResult());
    hs << "  {\n    const size_t bytes = (size_t)route_plan.B * " << M << " * route_plan.L * " << H * w << " * "
       << (narrow ? "(sdt == MIXC_BF16 ? 2 : 4)" : "sizeof(float)")
       << ";\n    float *mem = scratch.alloc((bytes + 3) / 4);\n"
       << "    if (!mem) return chk.fail(\"CUDA: no device memory for scratch\");\n"
       << "    args.tmp[" << idx << "] = scratchView(mem, route_plan.L, " << H << ", " << w << ");\n";
    if (narrow) hs << "    args.tmp[" << idx << "].dtype = sdt;\n";
    hs << "    routeGather(" << view << ", " << (g.getSlots() ? "true" : "false") << ", args.tmp[" << idx
       << "], route_plan, " << H << ", " << w << ", stream);\n  }\n";
  }
  // The scan, and the row kernels that read the gathered rows, over the B x M
  // sequences of L tokens.
  hs << "  {\n  const int64_t B = route_plan.B * " << M << ", T = route_plan.L; // the scan's sequences\n";
  hs << "  args.B = B;\n  args.T = T;\n";
  mixtureScan = true;
  if (failed(emitRecurrence(op))) return failure();
  mixtureScan = false;
  hs << "  }\n  args.B = B;\n  args.T = T;\n";
  hs << "  routeScatter(args.tmp[" << tmpIndex.lookup(op.getO()) << "], args.in[" << argIndex.lookup(weight)
     << "], args.out[" << outIndex.lookup(scatter.getResult()) << "], route_plan, " << H << ", "
     << rowWidth(op.getO()) << ", stream);\n";
  return success();
}

FailureOr<CudaKernelSource> Printer::run() {
  CudaKernelSource out;
  out.name = "mixc_" + func.getName().str() + "_cuda";
  // The forward and the derived backward take cu_seqlens (in device memory).
  KernelSignature sig = kernelSignature(func, /*varlen=*/true, /*seqlensOnDevice=*/true);
  out.inputs = sig.inputs;
  out.outputs = sig.outputs;
  unsigned nin = func.getNumArguments();
  auto results = func.getBody().front().getTerminator()->getOperands();
  for (unsigned i = 0; i < nin; ++i) argIndex[func.getArgument(i)] = i;
  for (auto [i, v] : llvm::enumerate(results)) {
    if (!outIndex.count(v)) outIndex[v] = i;
  }
  hs << "  Checker chk(error, error_len, (1u << MIXC_F32) | (1u << MIXC_BF16) | (1u << MIXC_F16));\n";
  hs << sig.checks;
  for (unsigned i = 0; i < nin; ++i) {
    auto t = cast<RankedTensorType>(func.getArgument(i).getType());
    if (t.getRank() > 4 && !isRouted(func.getArgument(i)) && !isPerMemory(func.getArgument(i)))
      hs << "  if (!checkPackedRow(chk, inputs[" << i << "], 3, \"input\", \"" << sig.inputs[i] << "\")) return 1;\n";
    hs << "  if (!checkDevicePointer(chk, inputs[" << i << "], \"input\", \"" << sig.inputs[i] << "\")) return 1;\n";
  }
  for (unsigned i = 0; i < results.size(); ++i)
    hs << "  if (!checkDevicePointer(chk, outputs[" << i << "], \"output\", \"" << sig.outputs[i] << "\")) return 1;\n";
  // Pre-processed operands that the chunked kernels stream are stored in
  // bf16 when every per-token input is bf16 (fp32 inputs keep fp32 and the
  // exact recurrent sweep).
  std::string allBf16;
  for (unsigned i = 0; i < nin; ++i) // (a mixture's route and weights are not streamed)
    if (RowPrinter::isToken(func.getArgument(i)) &&
        !isa<IntegerType>(cast<RankedTensorType>(func.getArgument(i).getType()).getElementType()) &&
        llvm::none_of(func.getArgument(i).getUsers(), [](Operation *u) { return isa<RouteScatterOp>(u); }))
      allBf16 += (allBf16.empty() ? "" : " && ") + ("inputs[" + std::to_string(i) + "].dtype == MIXC_BF16");
  hs << "  const int sdt = " << (allBf16.empty() ? "false" : allBf16) << " ? MIXC_BF16 : MIXC_F32;\n  (void)sdt;\n";
  hs << "  cudaStream_t stream = (cudaStream_t)stream_;\n  Scratch scratch(stream);\n  Args args;\n  args.B = B;\n  args.T = T;\n";
  for (unsigned i = 0; i < nin; ++i) {
    if (isRouted(func.getArgument(i))) // read as its slot rows [B, T * k, ...]
      hs << "  if (!slotsView(chk, inputs[" << i << "], \"" << sig.inputs[i] << "\", args.in[" << i << "])) return 1;\n";
    else
      hs << "  args.in[" << i << "] = viewOf(inputs[" << i << "], "
         << cast<RankedTensorType>(func.getArgument(i).getType()).getRank() << ");\n";
    for (Operation *user : func.getArgument(i).getUsers()) // a grouped input: head h reads row h / G
      if (auto r = dyn_cast<RepeatHeadsOp>(user)) {
        hs << "  args.in[" << i << "].hg = " << r.getGroup() << ";\n";
        break;
      }
  }
  for (auto [i, v] : llvm::enumerate(results))
    hs << "  args.out[" << i << "] = viewOf(outputs[" << i << "], " << cast<RankedTensorType>(v.getType()).getRank()
       << ");\n";

  // A derived backward is a tensor program; a forward, rows around scans.
  outputNames = sig.outputs;
  if (func->hasAttr("mixer.backward_of") && failed(emitTensorProgram())) return failure();
  for (Operation &op : func.getBody().front()) {
    if (tensorMode) break;
    if (auto r = dyn_cast<RecurrenceOp>(op)) {
      bool mixture = false;
      func.walk([&](RouteScatterOp) { mixture = true; });
      if (failed(mixture ? emitMixtureScan(r) : emitRecurrence(r))) return failure();
    } else if (auto walk = dyn_cast<ChunkWalkOp>(op)) {
      if (failed(emitChunkGroup(walk))) return failure();
    } else if (isa<ChunkCumsumOp, ChunkScoresOp, ChunkLocalStatesOp, ChunkOutputOp>(op)) {
      // (printed with their walk's group, which checks them)
    } else if (isa<func::ReturnOp>(op)) {
      // What follows the scans (normalize, skip, the bidirectional
      // correction): one row kernel writing the outputs.
      std::vector<std::pair<unsigned, Value>> rowsOut;
      for (auto [i, v] : llvm::enumerate(op.getOperands())) {
        Operation *d = v.getDefiningOp();
        if (d && isa<RecurrenceOp, ChunkWalkOp, ChunkOutputOp, RouteScatterOp, MemoryStatesOp>(d))
          continue; // the scan (and mix) wrote it
        if (!isToken(v)) return op.emitOpError() << "returns a value the CUDA target cannot place";
        rowsOut.push_back({(unsigned)i, v});
      }
      if (rowsOut.empty()) continue;
      auto type = cast<RankedTensorType>(rowsOut.front().second.getType());
      int64_t H = type.getDimSize(2);
      std::string name = beginRowKernel(Rows::threadPerToken, H);
      for (auto [i, v] : rowsOut) {
        std::string x = rowOf(v);
        os << "  writeRow(A.out[" << i << "], b, t, h, " << x << ", " << rowWidth(v) << ");\n";
      }
      endRowKernel(name, Rows::threadPerToken, H);
    } else if (auto r = dyn_cast<RepeatHeadsOp>(op)) {
      if (!isa<BlockArgument>(r.getInput())) // the printers read a grouped argument at h / G, nothing else
        return op.emitOpError() << "the CUDA target spreads grouped inputs only (an argument read at head h / G)";
    } else if (!isa<MapOp, BinaryOp, ConstantOp, HeadIndexOp, NormalizeOp, RouteSlotsOp, RouteGatherOp,
                   RouteScatterOp, MemoryStatesOp>(op)) {
      return op.emitOpError() << "is not supported by the CUDA target";
    }
  }
  hs << "  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return chk.fail(\"CUDA: %s\", "
        "cudaGetErrorString(e));\n  return 0;\n";

  std::string fname = func.getName().str(), argList;
  for (auto &n : sig.inputs) argList += (argList.empty() ? "" : ",") + n;
  argList += ";";
  for (auto [i, n] : llvm::enumerate(sig.outputs)) argList += (i ? "," : "") + n;
  out.source = "// Generated by mixc for CUDA from the mixer function @" + fname +
               ". Sizes are compile-time\n// constants; the scans and tile primitives are in mixc_cuda.cuh.\n"
               "#include \"" + fname + ".h\"\n#include \"mixc_cuda.cuh\"\n\nusing namespace mixc;\nusing namespace mixc::cuda;\n\n"
               "namespace {\n\n" + consts + (consts.empty() ? "" : "\n") +
               "// Views of the inputs, the outputs and the scratch rows, passed to every row kernel.\nstruct Args {\n  View in[" +
               std::to_string(std::max(nin, 1u)) + "], out[" + std::to_string(std::max<size_t>(results.size(), 1)) +
               "], tmp[" + std::to_string(std::max(ntmp, 1)) + "];\n  int64_t B = 0, T = 0, Ts = 0; // Ts: a mixture's slot rows, T x k\n};\n\n" + device +
               "} // namespace\n\nextern \"C\" {\n\nconst char *" + out.name + "_args = \"" + argList + "\";\n\nint " +
               out.name +
               "(const mixc_tensor *inputs, int num_inputs, mixc_tensor *outputs, int num_outputs, void *stream_,\n"
               "    char *error, int error_len) {\n" + host + "}\n\n}\n";
  std::string guard = "MIXC_KERNEL_" + llvm::StringRef(fname).upper() + "_CUDA_H";
  out.header = "/* Generated by mixc: the CUDA kernel of @" + fname +
               ".\n *\n * Arguments (mixc_tensor over device memory, f32, bf16 or f16, any non-negative strides):\n" +
               sig.doc +
               " * `stream` is a cudaStream_t (NULL: the default stream); the call is asynchronous.\n"
               " * Returns 0, or 1 with a message naming the bad argument in `error`.\n */\n#ifndef " + guard +
               "\n#define " + guard + "\n\n#include \"mixc_tensor.h\"\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
               "/* \"inputs;outputs\", comma-separated names in argument order. */\nextern const char *" + out.name +
               "_args;\n\nint " + out.name +
               "(const mixc_tensor *inputs, int num_inputs, mixc_tensor *outputs, int num_outputs, void *stream,\n"
               "    char *error, int error_len);\n\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n";
  return out;
}

} // namespace cudaprint

FailureOr<CudaKernelSource> emitCudaKernel(func::FuncOp func) { return cudaprint::Printer(func).run(); }

} // namespace mixc
