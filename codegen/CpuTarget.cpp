#include "codegen/CpuTarget.h"

#include "codegen/CpuPrinter.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"

#include <optional>

namespace mixc {

const std::vector<std::pair<std::string, std::string>> &cpuRuntimeHeaders() {
  static const std::vector<std::pair<std::string, std::string>> headers = {
#include "codegen/CpuRuntimeHeaders.inc"
  };
  return headers;
}

namespace cpuprint {

// Materializes `v` as a Buffer (inputs loaded, pre-processing on whole tensors).
const std::string &Printer::buffer(Value v) {
  auto it = buffers.find(v);
  if (it != buffers.end()) return it->second;
  if (auto rec = v.getDefiningOp<RecurrenceOp>()) { // a backward's forward scan, printed where first read
    if (failed(emitRecurrence(rec))) lazyFailure = true;
    return buffers[v];
  }
  // A chunk form's results, likewise: the walk names the group.
  ChunkWalkOp walk = v.getDefiningOp<ChunkWalkOp>();
  Value entering;
  if (auto out = v.getDefiningOp<ChunkOutputOp>()) entering = out.getEntering();
  if (auto out = v.getDefiningOp<ChunkUtOutputOp>()) entering = out.getEntering();
  const bool chunkOutput = bool(entering);
  if (chunkOutput) {
    walk = entering.getDefiningOp<ChunkWalkOp>();
    if (!walk) {
      v.getDefiningOp()->emitOpError() << "reads states that no chunk_walk made";
      lazyFailure = true;
      return buffers[v];
    }
  }
  if (walk && (v == walk.getFinalState() || chunkOutput)) {
    if (failed(emitChunkGroup(walk))) lazyFailure = true;
    return buffers[v];
  }
  std::string n = fresh("v");
  auto type = cast<RankedTensorType>(v.getType());
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    unsigned i = argIndex.lookup(v);
    // A state (init, dfinal_state) is read where it lies: the scans read
    // each task's block before any is written, so the final state may even
    // be the same memory (decoding in place).
    // (A mixture's inputs, read whole by its pre-processing and gathers,
    // likewise: not copied first.)
    os << "  Buffer " << n << " = " << (isStateShaped(type) || mixture ? "view" : "load") << "(inputs[" << i << "], "
       << shapeList(type, true) << ");\n";
  } else if (auto m = dyn_cast<MapOp>(v.getDefiningOp())) {
    std::string in = buffer(m.getInput());
    switch (m.getFn()) {
    case UnaryFn::l2norm: os << "  Buffer " << n << " = l2norm(" << in << ");\n"; break;
    case UnaryFn::softmax: os << "  Buffer " << n << " = softmax(" << in << ");\n"; break;
    case UnaryFn::taylor2: os << "  Buffer " << n << " = taylor2(" << in << ");\n"; break;
    case UnaryFn::ones: os << "  Buffer " << n << " = ones(" << in << ");\n"; break;
    case UnaryFn::append_one: os << "  Buffer " << n << " = appendOne(" << in << ");\n"; break;
    case UnaryFn::sum: os << "  Buffer " << n << " = sumLast(" << in << ");\n"; break;
    default:
      if (isBackward()) os << "  Buffer " << n << " = mapFn(" << in << ", MIXC_MAP_BLOCK(" << unaryExpr(m.getFn()) << "));\n";
      else os << "  Buffer " << n << " = map(" << in << ", [](float x) { return " << unaryExpr(m.getFn()) << "; });\n";
    }
  } else if (auto bop = dyn_cast<BinaryOp>(v.getDefiningOp())) {
    std::string a = buffer(bop.getLhs()), b = buffer(bop.getRhs());
    if (bop.getFn() == BinaryFn::dot) os << "  Buffer " << n << " = dot(" << a << ", " << b << ");\n";
    else if (bop.getFn() == BinaryFn::vecmat) os << "  Buffer " << n << " = vecmat(" << a << ", " << b << ");\n";
    else if (bop.getFn() == BinaryFn::concat) os << "  Buffer " << n << " = concat(" << a << ", " << b << ");\n";
    else if (isBackward())
      os << "  Buffer " << n << " = binaryFn(" << a << ", " << b << ", MIXC_BINARY_BLOCK(" << binaryExpr(bop.getFn())
         << "));\n";
    else
      os << "  Buffer " << n << " = binary(" << a << ", " << b << ", [](float a, float b) { return "
         << binaryExpr(bop.getFn()) << "; });\n";
  } else if (auto c = dyn_cast<ConstantOp>(v.getDefiningOp())) {
    auto dense = cast<DenseFPElementsAttr>(c.getValue());
    os << "  Buffer " << n << "(std::vector<int64_t>" << shapeList(type, true) << ");\n  " << n << ".data = {";
    int64_t i = 0;
    for (APFloat x : dense.getValues<APFloat>())
      os << (i++ ? ", " : "") << llvm::formatv("{0:e}", x.convertToDouble()).str() << "f";
    os << "};\n";
  } else if (auto h = dyn_cast<HeadIndexOp>(v.getDefiningOp())) {
    os << "  Buffer " << n << " = headIndex(" << type.getDimSize(2) << ");\n";
  } else if (auto m = dyn_cast<MapVjpOp>(v.getDefiningOp())) {
    std::string x = buffer(m.getInput()), g = buffer(m.getGrad());
    switch (m.getFn()) {
    case UnaryFn::l2norm: os << "  Buffer " << n << " = l2normVjp(" << x << ", " << g << ");\n"; break;
    case UnaryFn::softmax: {
      const std::string y = buffer(m.getResult());
      os << "  Buffer " << n << " = softmaxVjp(" << y << ", " << g << ");\n";
      break;
    }
    case UnaryFn::taylor2: os << "  Buffer " << n << " = taylor2Vjp(" << x << ", " << g << ");\n"; break;
    case UnaryFn::append_one: os << "  Buffer " << n << " = appendOneVjp(" << x << ", " << g << ");\n"; break;
    case UnaryFn::sum: os << "  Buffer " << n << " = sumVjp(" << x << ", " << g << ");\n"; break;
    case UnaryFn::ones: os << "  Buffer " << n << "(" << x << ".shape);\n"; break;
    default:
      const std::string y = buffer(m.getResult());
      os << "  Buffer " << n << " = mapVjp(" << x << ", " << y << ", " << g << ", MIXC_MAP_VJP_BLOCK("
         << unaryDerivative(m.getFn()) << "));\n";
    }
  } else if (auto bv = dyn_cast<BinaryVjpOp>(v.getDefiningOp())) {
    const int operand = (int)bv.getOperand();
    if (bv.getFn() == BinaryFn::add || bv.getFn() == BinaryFn::sub) { // reads no operand: g (negated), summed
      std::string g = buffer(bv.getGrad());
      if (bv.getFn() == BinaryFn::sub && operand == 1) {
        std::string neg = fresh("v");
        os << "  Buffer " << neg << " = map(" << g << ", [](float x) { return -x; });\n";
        g = neg;
      }
      os << "  Buffer " << n << " = reduceTo(" << g << ", " << shapeOf(v) << ");\n";
      return buffers[v] = n;
    }
    std::string a = buffer(bv.getLhs()), b = buffer(bv.getRhs()), g = buffer(bv.getGrad());
    if (bv.getFn() == BinaryFn::dot)
      os << "  Buffer " << n << " = dotVjp(" << (operand == 0 ? b : a) << ", " << g << ", " << shapeOf(v)
         << ");\n";
    else if (bv.getFn() == BinaryFn::vecmat)
      os << "  Buffer " << n << " = " << (operand == 0 ? "vecmatVjpRow(" + b : "vecmatVjpMatrix(" + a) << ", " << g
         << ", " << shapeOf(v) << ");\n";
    else if (bv.getFn() == BinaryFn::concat)
      os << "  Buffer " << n << " = concatVjp(" << g << ", " << operand << ", "
         << cast<RankedTensorType>(bv.getLhs().getType()).getShape().back() << ", " << shapeOf(v) << ");\n";
    else
      os << "  Buffer " << n << " = binaryVjp(" << a << ", " << b << ", " << g << ", " << shapeOf(v)
         << ", MIXC_BINARY_VJP_BLOCK(" << binaryDerivative(bv.getFn(), operand) << "));\n";
  } else if (auto nv = dyn_cast<NormalizeVjpOp>(v.getDefiningOp())) {
    const std::string x = buffer(nv.getInput()), g = buffer(nv.getGrad());
    os << "  Buffer " << n << " = normalizeVjp(" << x << ", " << g << ", "
       << (nv.getMaxAbs() ? "true" : "false") << ", " << floatLiteral(nv.getEps().convertToDouble()) << ", "
       << floatLiteral(nv.getScale().convertToDouble()) << ");\n";
  } else if (auto sh = dyn_cast<ShiftTokensOp>(v.getDefiningOp())) {
    const std::string x = buffer(sh.getInput()); // printing a Buffer emits statements
    os << "  Buffer " << n << " = shiftTokens(" << x << ", " << shapeOf(v) << ", "
       << sh.getBy() << ", NS, seqStart);\n";
  } else if (auto cs = dyn_cast<TokenCumsumOp>(v.getDefiningOp())) {
    const std::string x = buffer(cs.getInput());
    const std::string init = cs.getInit() ? buffer(cs.getInit()) + ".ptr()" : "nullptr";
    os << "  Buffer " << n << " = tokenCumsum(" << x << ", " << init << ", " << (cs.getReverse() ? "true" : "false")
       << ", NS, seqStart);\n";
  } else if (auto e = dyn_cast<EdgeTokenOp>(v.getDefiningOp())) {
    const std::string x = buffer(e.getInput());
    os << "  Buffer " << n << " = edgeToken(" << x << ", " << shapeOf(v) << ", "
       << (e.getLast() ? "true" : "false") << ", B, T, seqStart);\n";
  } else if (auto tr = dyn_cast<TransposeStateOp>(v.getDefiningOp())) {
    const std::string x = buffer(tr.getInput());
    os << "  Buffer " << n << " = transposeState(" << x << ");\n";
  } else if (auto rep = dyn_cast<RepeatHeadsOp>(v.getDefiningOp())) { // the backward's whole tensors
    const std::string x = buffer(rep.getInput());
    os << "  Buffer " << n << " = repeatHeads(" << x << ", " << rep.getGroup() << ");\n";
  } else if (auto sh = dyn_cast<SumHeadsOp>(v.getDefiningOp())) {
    const std::string x = buffer(sh.getInput());
    os << "  Buffer " << n << " = sumHeads(" << x << ", " << sh.getGroup() << ");\n";
  } else if (auto st = dyn_cast<SumToOp>(v.getDefiningOp())) {
    const std::string x = buffer(st.getInput());
    os << "  Buffer " << n << " = reduceTo(" << x << ", " << shapeOf(v) << ");\n";
  } else if (auto rs = dyn_cast<RouteSlotsOp>(v.getDefiningOp())) {
    // A view: the elements move where the view is the input's only reader.
    const std::string x = movedIfLast(rs.getInput());
    if (rs.flattens())
      os << "  Buffer " << n << " = routeSlots(" << x << ");\n";
    else
      os << "  Buffer " << n << " = unslots(" << x << ", " << type.getDimSize(2) << ");\n";
  } else if (auto ms = dyn_cast<MemoryStatesOp>(v.getDefiningOp())) {
    const std::string x = movedIfLast(ms.getInput());
    if (ms.merges())
      os << "  Buffer " << n << " = mergeMemories(" << x << ");\n";
    else
      os << "  Buffer " << n << " = splitMemories(" << x << ", " << ms.getMemories() << ");\n";
  } else if (auto g = dyn_cast<RouteGatherOp>(v.getDefiningOp())) { // after routePlan (run)
    const std::string x = buffer(g.getInput()), w = g.getWeight() ? "&" + buffer(g.getWeight()) : "nullptr";
    os << "  Buffer " << n << " = routeGather(" << x << ", route_plan, " << (g.getSlots() ? "true" : "false") << ", "
       << w << ");\n";
  } else if (auto sc = dyn_cast<RouteScatterOp>(v.getDefiningOp())) {
    const std::string y = buffer(sc.getInput()), w = sc.getWeight() ? "&" + buffer(sc.getWeight()) : "nullptr";
    os << "  Buffer " << n << " = routeScatter(" << y << ", route_plan, " << w << ", "
       << (sc.getSlots() ? "true" : "false") << ");\n";
  } else if (auto wg = dyn_cast<RouteWeightGradOp>(v.getDefiningOp())) {
    const std::string y = buffer(wg.getInput()), g = buffer(wg.getGrad());
    os << "  Buffer " << n << " = routeWeightGrad(" << y << ", " << g << ", route_plan);\n";
  } else if (isa<ZerosLikeOp>(v.getDefiningOp())) {
    os << "  Buffer " << n << "(std::vector<int64_t>" << shapeOf(v) << ");\n";
  } else if (auto nop = dyn_cast<NormalizeOp>(v.getDefiningOp())) {
    // The forward's normalize, recomputed for a backward: row by row.
    std::string in = buffer(nop.getInput());
    os << "  Buffer " << n << " = rows(" << in << ", " << rowWidth(v) << ", [](const float *x, int64_t D, float *o) {\n"
       << "    const float den = x[D - 1], inv = " << floatLiteral(nop.getScale().convertToDouble()) << " / "
       << (nop.getMaxAbs() ? "mxMax(mxAbs(den), " + floatLiteral(nop.getEps().convertToDouble()) + ")"
                           : "(den + " + floatLiteral(nop.getEps().convertToDouble()) + ")")
       << ";\n    for (int64_t j = 0; j + 1 < D; ++j) o[j] = x[j] * inv;\n  });\n";
  } else {
    // Recurrence results are bound when the recurrence is printed; normalize
    // follows a scan, so it always runs in the row pass.
    llvm_unreachable("not a whole-tensor value");
  }
  return buffers[v] = n;
}

// Rows of inputs are read per token; per-head values point into their
// Buffer (made before the row function); scan results into theirs.
void Printer::leaf(Value v, const std::string &n, int64_t w, const std::string &dest) {
  // A grouped input's rows are read at head h / G where head h is asked for.
  std::string head = "h", group;
  if (auto rep = v.getDefiningOp<RepeatHeadsOp>()) {
    group = std::to_string(rep.getGroup());
    head = "h / " + group;
    v = rep.getInput();
  }
  auto type = cast<RankedTensorType>(v.getType());
  auto streamOf = [&](const std::string &x) { return group.empty() ? x : x + ", " + group; };
  if (!isToken(v)) {
    os << "    const float *" << n << " = " << buffers.lookup(v) << ".ptr()"
       << (type.getRank() >= 3 ? " + h * " + std::to_string(w) : std::string()) << ";\n";
  } else if (isa<BlockArgument>(v) && dest.empty()) { // read in place where the layout allows
    rowStreams.push_back(streamOf("inputs[" + std::to_string(argIndex.lookup(v)) + "]"));
    os << "    float " << n << "_tmp[" << w << "];\n    const float *" << n << " = rowView(inputs[" << argIndex.lookup(v)
       << "], b, t, " << head << ", " << n << "_tmp, " << w << ");\n";
  } else if (isa<BlockArgument>(v)) {
    rowStreams.push_back(streamOf("inputs[" + std::to_string(argIndex.lookup(v)) + "]"));
    declare(n, w, dest);
    os << "    readRow(inputs[" << argIndex.lookup(v) << "], b, t, " << head << ", " << n << ", " << w << ");\n";
  } else {
    const std::string src = buffers.lookup(v) + ".ptr() + ((b * T + t) * " + std::to_string(type.getDimSize(2)) +
                            " + " + head + ") * " + std::to_string(w);
    if (group.empty()) rowStreams.push_back(buffers.lookup(v)); // (a Buffer stream has no group)
    if (dest.empty()) {
      os << "    const float *" << n << " = " << src << ";\n";
    } else {
      declare(n, w, dest);
      os << "    copyRow(" << src << ", " << w << ", " << n << ");\n";
    }
  }
}

// The row function of a recurrence (or of its gradient): the token operands
// computed per row (b, t, h) into a TokenRow; everything per head is a
// Buffer made first. Returns the function's name prefix, or "" on error.
template <typename OpT> std::string Printer::emitRowFunction(OpT op, int64_t K, int64_t V) {
  Structure s = op.getStructure();
  auto schedule = op->template getAttrOfType<CpuTileAttr>("mixer.schedule");

  // The token operands, computed per row inside the scan; everything per head
  // is a Buffer made first.
  std::vector<RowOperand> rowOperands = {{op.getQ(), "q", K}, {op.getK(), "k", K}, {op.getV(), "v", V}};
  // A factor decay (decay_form factor) is multiplied as it is: no log per
  // element in the row and no exp in the sweep.
  const bool logDecay = !op.hasFactorDecay();
  if (s != Structure::elementwise && op.getDecay())
    rowOperands.push_back({op.getDecay(), "decay", rowWidth(op.getDecay())});
  Value dt = op.getDt();
  if (!logDecay && schedule && schedule.getAlgorithm() == CpuAlgorithm::chunked_scan) {
    op.emitOpError() << "the chunked scan sums log-decays: mixer-tile turns a factor decay into its log";
    return "";
  }
  if (dt) rowOperands.push_back({dt, "dt", V});
  if (op.getA()) {
    rowOperands.push_back({op.getA(), "a", K});
    rowOperands.push_back({op.getB(), "b", K});
  }
  if (op.getIgate()) rowOperands.push_back({op.getIgate(), "igate", 1});
  return emitRowLambda(rowOperands, K, V);
}

// Prints the row function `<r>_row(b, t, h, TokenRow<K, V> &r)` that computes
// each token operand into its field of the row. Returns the name prefix.
std::string Printer::emitRowLambda(const std::vector<RowOperand> &rowOperands, int64_t K, int64_t V) {
  std::string r = fresh("r");
  // Per-head leaves of the row slice need their Buffers before the lambda.
  llvm::SmallVector<Value> stack;
  for (auto &ro : rowOperands) stack.push_back(ro.value);
  llvm::DenseSet<Value> seen;
  while (!stack.empty()) {
    Value v = stack.pop_back_val();
    if (!seen.insert(v).second) continue;
    if (auto rep = v.getDefiningOp<RepeatHeadsOp>()) { // read in place at h / G
      if (!isa<BlockArgument>(rep.getInput())) buffer(rep.getInput());
      continue;
    }
    if (!isToken(v) || isMaterializedToken(v)) {
      buffer(v);
      continue;
    }
    if (Operation *d = v.getDefiningOp())
      for (Value x : d->getOperands()) stack.push_back(x);
  }
  std::string rowType = llvm::formatv("TokenRow<{0}, {1}>", K, V).str();
  os << "  auto " << r << "_row = [&](int64_t b, int64_t t, int64_t h, " << rowType << " &r) {\n";
  clearRows();
  rowStreams.clear();
  // Each operand computed here is written into its field of the token row,
  // even when another field's chain needs it first.
  for (auto &ro : rowOperands)
    if (std::string(ro.field) != "igate" && isToken(ro.value)) preferDest(ro.value, std::string("r.") + ro.field);
  for (auto &ro : rowOperands) {
    std::string field = std::string("r.") + ro.field, x = rowOf(ro.value);
    if (field == "r.igate") os << "    r.igate = " << x << "[0];\n";
    else if (preferredDest.lookup(ro.value) != field)
      os << "    copyRow(" << x << ", " << ro.width << ", " << field << ");\n";
  }
  os << "    (void)b; (void)t; (void)h;\n  };\n";
  return r;
}

// The scan writes every element of o and of the state: no zero fill. A
// result returned as it is goes straight into the caller's tensor (see
// outputBuffer); one that later ops read gets a buffer of its own.
void Printer::resultBuffer(Value v, const std::string &name, const std::string &shape) {
  std::optional<unsigned> ret;
  if (v.hasOneUse())
    if (auto use = dyn_cast<func::ReturnOp>(*v.getUsers().begin())) ret = v.getUses().begin()->getOperandNumber();
  os << "  Buffer " << name;
  if (ret) os << " = outputBuffer(outputs[" << *ret << "], " << shape << ");\n";
  else os << "(" << shape << ", Uninit{});\n";
}

LogicalResult Printer::emitRecurrence(RecurrenceOp op) {
  auto schedule = op->getAttrOfType<CpuTileAttr>("mixer.schedule");
  if (!schedule) return op.emitOpError() << "has no #mixer.cpu_tile schedule: run mixer-tile for the CPU first";
  if (!op.isSplitForm()) return op.emitOpError() << "the CPU target expects the split form";
  if (op.hasCudaKernelForm())
    return op.emitOpError() << "the CPU kernels take the plain low-rank form and their operands as they are "
                               "(decayed_b, l2norm_q and l2norm_b are mixer-tile{target=cuda}'s)";
  if (schedule.getAlgorithm() == CpuAlgorithm::chunked_ssd || schedule.getAlgorithm() == CpuAlgorithm::chunked_gla ||
      schedule.getAlgorithm() == CpuAlgorithm::chunked_ut)
    return op.emitOpError() << "is scheduled " << stringifyCpuAlgorithm(schedule.getAlgorithm())
                            << ": the CPU target prints that form from the chunk-level ops (run mixer-lower-chunks)";
  auto stateType = cast<RankedTensorType>(op.getFinalState().getType());
  int64_t H = stateType.getDimSize(1), K = stateType.getDimSize(2), Vs = stateType.getDimSize(3);
  int64_t vBlock = schedule.getVBlock();
  // "<VB>, <lanes>, <register block>": the tiling the kernel template takes.
  const std::string tiling = std::to_string(vBlock) + ", " + std::to_string(schedule.getLanes()) + ", " +
                             std::to_string(schedule.getRegBlock());
  if (failed(useIsaOf(op, schedule))) return failure();
  bool mlstm = op.getNormalizerKind() == Normalizer::mlstm;
  Structure s = op.getStructure();
  std::string diag = stringifyDiagKind(op.getDiagKind()).str();
  if (op.getAScale() || op.getKScale())
    return op.emitOpError() << "the CPU kernels read whole rows of a and k: expand the scaled low-rank form "
                               "in mixer-tile first";
  int64_t V = mlstm ? Vs - 1 : Vs;
  os << "  // " << stringifyStructure(s).str() << (op.getDirection() == Direction::reverse ? " reverse" : "")
     << " recurrence, K = " << K << ", state columns = " << Vs << ", value block = " << vBlock << ", "
     << stringifyCpuAlgorithm(schedule.getAlgorithm()) << "\n";
  std::string r = emitRowFunction(op, K, V);
  if (r.empty()) return failure();
  const bool logDecay = !op.hasFactorDecay();
  // Whole-tensor operands first: printing a Buffer emits statements.
  std::string rateBuf = s == Structure::elementwise && op.getDecay() ? buffer(op.getDecay()) : "";
  std::string bonusBuf = op.getBonus() ? buffer(op.getBonus()) : "";
  std::string initBuf = op.getInit() ? buffer(op.getInit()) : "";
  std::string mBuf = op.getInitM() ? buffer(op.getInitM()) : "";
  resultBuffer(op.getO(), r + "_o", llvm::formatv("{B, T, {0}, {1}}", H, V).str());
  resultBuffer(op.getFinalState(), r + "_state", llvm::formatv("{NS, {0}, {1}, {2}}", H, K, Vs).str());
  os << "  Buffer " << r << "_m({NS, " << H << "});\n";
  os << "  {\n    ScanArgs p;\n    Buffer tmp_rate, tmp_bonus, tmp_init, tmp_m;\n";
  os << "    p.B = NS; p.T = T; p.seqStart = seqStart; p.H = " << H << "; p.Vs = " << Vs << ";\n";
  llvm::StringSet<> streamed;
  for (const std::string &x : rowStreams)
    if (streamed.insert(x).second) os << "    p.stream(" << x << ");\n";
  if (!rateBuf.empty())
    os << "    p.rate = as(" << rateBuf << ", " << llvm::formatv("{1, 1, {0}, {1}, {2}}", H, K, Vs).str()
       << ", tmp_rate);\n";
  if (Value u = op.getBonus())
    os << "    p.bonus = as(" << bonusBuf << ", " << llvm::formatv("{1, 1, {0}, {1}}", H, K).str() << ", tmp_bonus);\n";
  if (Value init = op.getInit())
    os << "    p.init = "
       << optional(init, "as(" + initBuf + ", " + llvm::formatv("{NS, {0}, {1}, {2}}", H, K, Vs).str() + ", tmp_init)")
       << ";\n";
  if (Value m0 = op.getInitM())
    os << "    p.initM = inputs[" << argIndex.lookup(m0) << "].data ? as(" << mBuf << ", "
       << llvm::formatv("{NS, {0}}", H).str() << ", tmp_m) : nullptr;\n";
  os << "    p.o = " << r << "_o.ptr(); p.state = " << r << "_state.ptr(); p.m = " << r << "_m.ptr();\n";
  os << "    p.scale = " << llvm::formatv("{0:e}", op.getScaleValue()).str() << "f;\n";
  os << "    p.reverse = " << (op.getDirection() == Direction::reverse ? "true" : "false") << ";\n";
  std::string st = "Structure::" + stringifyStructure(s).str(), dk = "DiagKind::" + diag;
  const char *bonus = op.getBonus() ? "true" : "false", *ml = mlstm ? "true" : "false",
             *hasDt = op.getDt() ? "true" : "false";
  const char *logD = logDecay ? "true" : "false";
  os << "    if (plain) scanPlain<" << K << ", " << V << ">(p, " << st << ", " << dk << ", " << bonus << ", " << ml
     << ", " << hasDt << ", " << logD << ", threads, " << r << "_row);\n";
  StringRef algorithm = stringifyCpuAlgorithm(schedule.getAlgorithm());
  // v = append_one(x): the ones column is scanned as a K-vector beside the blocks.
  auto appendOne = op.getV().getDefiningOp<MapOp>();
  bool onesColumn = appendOne && appendOne.getFn() == UnaryFn::append_one && !mlstm && s != Structure::elementwise;
  std::string recurrent = llvm::formatv("scanRecurrent<{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}>(p, threads, "
                                        "{10}_row);\n",
                                        st, K, V, tiling, dk, bonus, ml, hasDt, logD, onesColumn ? "true" : "false", r)
                              .str();
  if (algorithm == "chunked_scan")
    os << "    else scanChunkedElementwise<" << st << ", " << K << ", " << V << ", " << tiling << ", " << dk << ", "
       << bonus << ", " << ml << ", " << hasDt << ", " << logD << ", false>(p, threads, " << schedule.getChunk()
       << ", " << r << "_row);\n  }\n";
  else
    os << "    else " << recurrent << "  }\n";
  buffers[op.getO()] = r + "_o";
  buffers[op.getFinalState()] = r + "_state";
  if (op.getFinalM()) buffers[op.getFinalM()] = r + "_m";
  return success();
}

// The adjoint of a recurrence: scanRecurrentGrad (mixc_cpu_backward.h) over
// the same row function as the forward, one gradient buffer per operand,
// summed to the operand's shape where it broadcast.
LogicalResult Printer::emitRecurrenceGrad(RecurrenceGradOp op) {
  auto schedule = op->getAttrOfType<CpuTileAttr>("mixer.schedule");
  if (!schedule)
    return op.emitOpError() << "has no #mixer.cpu_tile schedule: derive the backward after mixer-tile for the CPU";
  if (failed(useIsaOf(op, schedule))) return failure();
  const bool mlstm = op.getNormalizerKind() == Normalizer::mlstm;
  if (op.getNormalizerKind() != Normalizer::none && !mlstm)
    return op.emitOpError() << "the CPU backward expects normalizers as a state column (mixer-normalizer-to-column)";
  if (mlstm && (op.getBonus() || op.getA() || op.getDt()))
    return op.emitOpError() << "the CPU backward covers normalizer mlstm with a scalar transition only";
  if (op.getAScale() || op.getKScale() || op.getSkipWeight() || op.getDecayedB() || op.getL2normQ() || op.getL2normB())
    return op.emitOpError() << "the CPU backward expects the split form with whole rows of a, b and k";
  if (op.getDirection() == Direction::bidirectional)
    return op.emitOpError() << "the CPU backward expects one direction per recurrence (mixer-split-bidirectional)";
  Structure s = op.getStructure();
  auto qType = cast<RankedTensorType>(op.getQ().getType()), vType = cast<RankedTensorType>(op.getV().getType());
  const int64_t H = qType.getDimSize(2), K = qType.getDimSize(3), V = vType.getDimSize(3), Vs = mlstm ? V + 1 : V;
  os << "  // the adjoint of the " << stringifyStructure(s).str()
     << (op.getDirection() == Direction::reverse ? " reverse" : "") << " recurrence, K = " << K
     << ", state columns = " << Vs << ": the state kept every " << schedule.getGradCheckpoint()
     << " tokens, the reverse sweep per (batch, head)\n";
  std::string r = emitRowFunction(op, K, V);
  if (r.empty()) return failure();
  std::string rateBuf = s == Structure::elementwise && op.getDecay() ? buffer(op.getDecay()) : "";
  std::string bonusBuf = op.getBonus() ? buffer(op.getBonus()) : "";
  std::string initBuf = op.getInit() ? buffer(op.getInit()) : "";
  std::string mBuf = op.getInitM() ? buffer(op.getInitM()) : "";
  std::string doBuf = op.getDO() ? buffer(op.getDO()) : "";
  std::string dfBuf = op.getDFinal() ? buffer(op.getDFinal()) : "";
  os << "  GradArgs " << r << "_g;\n  Buffer " << r << "_tmp_rate, " << r << "_tmp_bonus, " << r << "_tmp_init;\n";
  os << "  " << r << "_g.B = NS; " << r << "_g.T = T; " << r << "_g.seqStart = seqStart; " << r << "_g.H = " << H << "; " << r << "_g.Vs = " << Vs << ";\n";
  if (!rateBuf.empty())
    os << "  " << r << "_g.rate = as(" << rateBuf << ", " << llvm::formatv("{1, 1, {0}, {1}, {2}}", H, K, Vs).str()
       << ", " << r << "_tmp_rate);\n";
  if (!bonusBuf.empty())
    os << "  " << r << "_g.bonus = as(" << bonusBuf << ", " << llvm::formatv("{1, 1, {0}, {1}}", H, K).str() << ", "
       << r << "_tmp_bonus);\n";
  if (Value init = op.getInit())
    os << "  " << r << "_g.init = " << optional(init, "as(" + initBuf + ", " +
                                                          llvm::formatv("{NS, {0}, {1}, {2}}", H, K, Vs).str() + ", " +
                                                          r + "_tmp_init)")
       << ";\n";
  if (Value m0 = op.getInitM())
    os << "  " << r << "_g.initM = inputs[" << argIndex.lookup(m0) << "].data ? " << mBuf << ".ptr() : nullptr;\n";
  if (!doBuf.empty()) os << "  " << r << "_g.dO = " << doBuf << ".ptr();\n";
  if (Value df = op.getDFinal()) os << "  " << r << "_g.dFinal = " << optional(df, dfBuf + ".ptr()") << ";\n";
  os << "  " << r << "_g.scale = " << floatLiteral(op.getScaleValue()) << ";\n";
  os << "  " << r << "_g.reverse = " << (op.getDirection() == Direction::reverse ? "true" : "false") << ";\n";
  struct GradField {
    Value operand;
    const char *field;
    std::string shape; // the full shape the kernel writes
  };
  const std::string tok = "{B, T, " + std::to_string(H) + ", ";
  std::vector<GradField> fields = {{op.getQ(), "dq", tok + std::to_string(K) + "}"},
                                   {op.getK(), "dk", tok + std::to_string(K) + "}"},
                                   {op.getV(), "dv", tok + std::to_string(V) + "}"}};
  if (Value d = op.getDecay()) {
    if (s == Structure::elementwise)
      fields.push_back({d, "drate", llvm::formatv("{1, 1, {0}, {1}, {2}}", H, K, Vs).str()});
    else
      fields.push_back({d, "ddecay", rowWidth(d) == 1 ? "{B, T, " + std::to_string(H) + "}" : tok + std::to_string(K) + "}"});
  }
  if (Value d = op.getDt()) fields.push_back({d, "ddt", tok + std::to_string(Vs) + "}"});
  if (Value a = op.getA()) {
    fields.push_back({a, "da", tok + std::to_string(K) + "}"});
    fields.push_back({op.getB(), "db", tok + std::to_string(K) + "}"});
  }
  if (Value ig = op.getIgate()) fields.push_back({ig, "digate", "{B, T, " + std::to_string(H) + "}"});
  if (Value u = op.getBonus()) fields.push_back({u, "dbonus", llvm::formatv("{1, 1, {0}, {1}}", H, K).str()});
  if (Value init = op.getInit()) fields.push_back({init, "dinit", llvm::formatv("{NS, {0}, {1}, {2}}", H, K, Vs).str()});
  if (Value m0 = op.getInitM()) fields.push_back({m0, "dinitM", llvm::formatv("{NS, {0}}", H).str()});
  // The gradients come in the order of the operands present (q, k, v, decay,
  // dt, a, b, igate, bonus, init, init_m: the refused ones are absent), as `fields`.
  for (const GradField &f : fields) {
    const std::string n = r + "_" + f.field;
    os << "  Buffer " << n << "(" << f.shape << ", Uninit{});\n  " << r << "_g." << f.field << " = " << n << ".ptr();\n";
  }
  std::string st = "Structure::" + stringifyStructure(s).str(), dk = "DiagKind::" + stringifyDiagKind(op.getDiagKind()).str();
  if (mlstm)
    os << "  scanMlstmGrad<" << K << ", " << V << ", " << (op.hasFactorDecay() ? "false" : "true") << ", "
       << schedule.getGradCheckpoint() << ">(" << r << "_g, threads, " << r << "_row);\n";
  else
    os << "  scanRecurrentGrad<" << st << ", " << K << ", " << Vs << ", " << dk << ", "
       << (op.getBonus() ? "true" : "false") << ", " << (op.getDt() ? "true" : "false") << ", "
       << (op.hasFactorDecay() ? "false" : "true") << ", " << schedule.getGradCheckpoint() << ">(" << r
       << "_g, threads, " << r << "_row);\n";
  for (auto [f, g] : llvm::zip_equal(fields, op.getGrads())) {
    const std::string n = r + "_" + f.field, shape = shapeList(cast<RankedTensorType>(g.getType()), true);
    if (shape == f.shape) {
      buffers[g] = n;
      continue;
    }
    // A broadcast operand (a per-head decay): the sum over what it broadcast over.
    std::string red = fresh("v");
    os << "  Buffer " << red << " = reduceTo(" << n << ", " << shape << ");\n";
    buffers[g] = red;
  }
  return success();
}

FailureOr<CpuKernelSource> Printer::run() {
  out.name = "mixc_" + func.getName().str();

  KernelSignature sig = kernelSignature(func, /*varlen=*/true);
  out.inputs = sig.inputs;
  out.outputs = sig.outputs;
  for (unsigned i = 0; i < func.getNumArguments(); ++i) argIndex[func.getArgument(i)] = i;
  os << "  Checker chk(error, error_len);\n";
  os << "  kernelThreads() = threads > 0 ? threads : 1;\n";
  os << sig.checks;
  // A mixture of memories: the route planned first (each routed row's place
  // in its memory's sequence; slot rows' shapes read its k).
  RouteScatterOp mix;
  func.walk([&](RouteScatterOp s) { mix = s; });
  mixture = bool(mix);
  if (mix) {
    auto route = dyn_cast<BlockArgument>(mix.getRoute());
    if (!route) return mix.emitOpError() << "the CPU target expects a mixture's route as an input";
    os << "  // A mixture of " << mix.getMemories() << " memories.\n";
    os << "  if (seqStart) return chk.fail(\"input 'cu_seqlens': a mixture of memories takes B sequences of T "
          "tokens\");\n";
    os << "  RoutePlan route_plan;\n  if (!routePlan(inputs[" << argIndex.lookup(route) << "], B, T, "
       << mix.getMemories() << ", route_plan, chk)) return 1;\n";
  }
  if (mix && failed(emitMixture())) return failure();
  for (Operation &op : func.getBody().front()) {
    if (auto r = dyn_cast<RecurrenceOp>(op)) {
      // A backward runs a forward scan only where a gradient reads its result.
      if (!isBackward() && !printedScans.count(r) && failed(emitRecurrence(r))) return failure();
    } else if (auto g = dyn_cast<RecurrenceGradOp>(op)) {
      if (!printedScans.count(g) && failed(emitRecurrenceGrad(g))) return failure();
    } else if (auto w = dyn_cast<ChunkWalkOp>(op)) {
      // Printed with its chunk form; a backward's, where a gradient reads it.
      if (!isBackward() && !printedScans.count(w) && failed(emitChunkGroup(w))) return failure();
    } else if (isa<func::ReturnOp>(op)) {
      for (auto [i, v] : llvm::enumerate(op.getOperands())) {
        if (isToken(v) && !isMaterializedToken(v)) {
          // What follows the scans (normalize, skip, the bidirectional
          // correction) runs row by row in one parallel pass.
          llvm::SmallVector<Value> stack{v};
          llvm::DenseSet<Value> seen;
          while (!stack.empty()) {
            Value x = stack.pop_back_val();
            if (!seen.insert(x).second) continue;
            if (!isToken(x) || isMaterializedToken(x)) buffer(x);
            else if (Operation *d = x.getDefiningOp())
              for (Value y : d->getOperands()) stack.push_back(y);
          }
          auto type = cast<RankedTensorType>(v.getType());
          int64_t H = type.getDimSize(2), w = rowWidth(v);
          std::string outName = fresh("e");
          // Straight into the caller's tensor where it is contiguous f32 (no
          // zeroed buffer and no copy: this pass is memory-bound).
          os << "  Buffer " << outName << " = outputBuffer(outputs[" << i << "], {B, T, " << H << ", " << w << "});\n";
          // Rows in pieces: one task per row would make the threads fight
          // over the task counter.
          os << "  parallelRange(B * T * " << H << ", 256, [&](int64_t row0, int64_t row1) {\n";
          os << "   for (int64_t row = row0; row < row1; ++row) {\n";
          os << "    const int64_t b = row / (T * " << H << "), t = (row / " << H << ") % T, h = row % " << H << ";\n";
          clearRows();
          std::string x = rowOf(v, outName + ".ptr() + row * " + std::to_string(w));
          (void)x;
          os << "   }\n  });\n";
          buffers[v] = outName;
        }
        const std::string result = buffer(v); // printing a Buffer emits statements
        os << "  store(" << result << ", outputs[" << i << "]);\n";
      }
    } else if (!isa<MapOp, BinaryOp, ConstantOp, HeadIndexOp, NormalizeOp, MapVjpOp, BinaryVjpOp, NormalizeVjpOp,
                   ZerosLikeOp, ShiftTokensOp, TokenCumsumOp, EdgeTokenOp, TransposeStateOp, SumToOp,
                   RepeatHeadsOp, SumHeadsOp, ChunkCumsumOp, ChunkScoresOp, ChunkLocalStatesOp, ChunkOutputOp,
                   ChunkUtOp, ChunkUtStatesOp, ChunkUtOutputOp,
                   RouteSlotsOp, RouteGatherOp, RouteScatterOp, MemoryStatesOp, RouteWeightGradOp>(op)) {
      // (The chunk ops but the walk are printed with the walk's group.)
      return op.emitOpError() << "is not supported by the CPU target";
    }
    // Pre-processing is printed where it is used: per row inside a scan, or as
    // a Buffer for what follows a scan.
  }
  if (lazyFailure) return failure();
  os << "  return 0;\n";
  std::string fname = func.getName().str();
  out.source = "// Generated by mixc for the CPU from the mixer function @" + fname +
               ". Sizes are compile-time constants\n// so that the host compiler vectorizes the scan for its target.\n"
               "#include \"mixc_cpu.h\"\n\nusing namespace mixc::cpu;\n\nnamespace {\n"
               "// Returns a pointer to `b` laid out as `shape`, materializing a broadcast in `tmp`.\n"
               "const float *as(const Buffer &b, std::vector<int64_t> shape, Buffer &tmp) {\n"
               "  if (b.shape == shape) return b.ptr();\n  tmp = broadcastTo(b, shape);\n  return tmp.ptr();\n}\n\n"
               "int run(const mixc_tensor *inputs, int num_inputs, mixc_tensor *outputs, int num_outputs, int threads,\n"
               "        char *error, int error_len, bool plain) {\n" +
               body + "}\n} // namespace\n\nextern \"C\" {\n" + "int " + out.name +
               "(const mixc_tensor *inputs, int num_inputs, mixc_tensor *outputs, int num_outputs, int threads,\n"
               "    char *error, int error_len) {\n  return run(inputs, num_inputs, outputs, num_outputs, threads, error, error_len, false);\n}\n" +
               "// The plain recurrence (no blocking, sizes at run time): the baseline of `mixc bench`.\nint " + out.name +
               "_plain(const mixc_tensor *inputs, int num_inputs, mixc_tensor *outputs, int num_outputs, int threads,\n"
               "    char *error, int error_len) {\n  return run(inputs, num_inputs, outputs, num_outputs, threads, error, error_len, true);\n}\n}\n";
  const bool bwd = isBackward();
  out.declarations =
      "/* The CPU kernel of @" + fname +
      (bwd ? " (the backward, derived by mixer-derive-backward: the gradient of <do, o> + <dfinal_state, final_state>\n"
             " * with respect to every input, one output per input in their order; deterministic)"
           : "") +
      ".\n *\n * Arguments (mixc_tensor, f32 or bf16, any positive strides):\n" + sig.doc +
      " * Outputs must not overlap inputs: results are written into them as the scan goes; the one exception is\n"
      " * final_state (and final_m), which may be the initial state's own memory: the state updated in place.\n"
      " * Returns 0, or 1 with a message naming the bad argument in `error`.\n */\nint " +
      out.name + "(const mixc_tensor *inputs, int num_inputs, mixc_tensor *outputs, int num_outputs, int num_threads,\n"
      "    char *error, int error_len);\n" +
      (bwd ? "" : "int " + out.name + "_plain(const mixc_tensor *inputs, int num_inputs, mixc_tensor *outputs, "
                  "int num_outputs, int num_threads,\n    char *error, int error_len);\n");
  out.header = cpuKernelHeader(fname, isaName, isaFlags, {&out});
  return out;
}

} // namespace cpuprint

mlir::FailureOr<CpuKernelSource> emitCpuKernel(mlir::func::FuncOp func) { return cpuprint::Printer(func).run(); }

std::string cpuKernelHeader(const std::string &name, const std::string &isa, const std::string &flags,
                            std::initializer_list<const CpuKernelSource *> kernels) {
  std::string guard = "MIXC_KERNEL_" + llvm::StringRef(name).upper() + "_H";
  std::string text = "/* Generated by mixc: the CPU kernels of " + name + ", tiled for " + isa +
                     ".\n * Build each source, and the tile library's mixc_cpu_tensor_ops.cpp beside them (once per\n"
                     " * ISA and flags, for every kernel), with: c++ " + flags +
                     " -c\n * (without these flags the scans do not vectorize and run several times slower).\n */\n#ifndef " +
                     guard + "\n#define " + guard + "\n\n#include \"mixc_tensor.h\"\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n";
  for (const CpuKernelSource *k : kernels) text += "\n" + k->declarations;
  return text + "\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n";
}

} // namespace mixc
