// The CUDA target's tensor programs: a derived backward (mixer-derive-backward,
// its adjoints lowered to forward-shaped scans by mixer-lower-adjoint) printed
// op by op. Every value is a contiguous fp32 Tensor in scratch; each op is one
// kernel of runtime/cuda/mixc_cuda_tensor.cuh (pointwise functions as functors
// printed here), the scans are the forward's kernels reading Tensors through
// Views. Pointwise chains (gradients included) are one kernel each; each
// Tensor is freed after the kernel that reads it last.
#include "codegen/CudaPrinter.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"

#include <functional>

namespace mixc::cudaprint {

namespace {
const char *kAllocCheck = "return chk.fail(\"CUDA: no device memory for scratch\");";

// A row map's device functor in mixc_cuda_rows.cuh (null: pointwise).
const char *rowFunctor(UnaryFn fn) {
  switch (fn) {
  case UnaryFn::l2norm: return "L2normRow{}";
  case UnaryFn::softmax: return "SoftmaxRow{}";
  case UnaryFn::taylor2: return "Taylor2Row{}";
  case UnaryFn::sum: return "SumRow{}";
  case UnaryFn::append_one: return "AppendOneRow{}";
  case UnaryFn::ones: return "OnesRow{}";
  default: return nullptr;
  }
}
int64_t lastDim(Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  return t.getRank() ? t.getDimSize(t.getRank() - 1) : 1;
}
// Whether x is a row operand (q, k, v, a, b, dO) of g, a recurrence_grad
// printed as launchDeltaGrad or launchSsdGrad, which reads it through its view.
bool readAsGradRows(RecurrenceGradOp g, Value x) {
  if (!(cudaDeltaGradLaunch(g) || cudaSsdGradLaunch(g))) return false;
  // (each use once per field: k and b may be one input, which is fine; a
  // decay or a scale that is also a row operand is not)
  const Value rows[] = {g.getQ(), g.getK(), g.getV(), g.getA(), g.getB(), g.getDO()};
  return llvm::count(rows, x) == llvm::count(g->getOperands(), x);
}

// Whether every use of an input is such a row operand: then the input is not
// loaded into an fp32 Tensor.
bool readAsDeltaGradRows(Value x) {
  if (x.use_empty()) return false;
  for (Operation *user : x.getUsers()) {
    auto g = dyn_cast<RecurrenceGradOp>(user);
    if (!g || !readAsGradRows(g, x)) return false;
  }
  return true;
}
} // namespace

std::string Printer::newTensor(RankedTensorType type, bool allocate) {
  std::string n = "t" + std::to_string(ntensors++);
  hs << "  Tensor " << n << (allocate ? " = newTensor(scratch, {" : " = shapeTensor({");
  const bool memories = curLayout == Layout::memories, slots = curLayout == Layout::slots;
  for (int64_t i = 0; i < type.getRank(); ++i) {
    int64_t d = type.getDimSize(i);
    // A state's batch is the number of sequences (NS: B, or cu_seqlens' N);
    // over a mixture's memories, B x M sequences of L tokens.
    const char *batch = memories ? "Bm" : isStateShaped(type) ? "NS" : "B";
    const char *time = memories ? "Lm" : slots ? "Ts" : "T";
    hs << (i ? ", " : "") << (ShapedType::isDynamic(d) ? (i == 0 ? batch : time) : std::to_string(d));
  }
  hs << "});\n";
  if (allocate) hs << "  if (!" << n << ".p) " << kAllocCheck << "\n";
  return n;
}

std::string Printer::newTensorFor(Value v) { return tensors[v] = newTensor(cast<RankedTensorType>(v.getType())); }

namespace {
// The gradient of a pointwise op: g . f'(...) element by element (a binary
// op's at its operand's shape when that is the result's; a broadcast
// operand's is summed after it, so it ends a chain).
bool pointwiseVjp(Operation *d, bool summedAfter = false) {
  if (auto m = dyn_cast_if_present<MapVjpOp>(d)) return isPointwise(m.getFn());
  if (auto b = dyn_cast_if_present<BinaryVjpOp>(d))
    return isPointwise(b.getFn()) && (summedAfter || b.getOperandGrad().getType() == b.getGrad().getType());
  return false;
}
bool pointwiseOp(Operation *d) {
  if (auto m = dyn_cast_if_present<MapOp>(d)) return isPointwise(m.getFn());
  if (auto b = dyn_cast_if_present<BinaryOp>(d)) return isPointwise(b.getFn());
  return pointwiseVjp(d);
}
// A leaf of a fused chain broadcast along some of the result's dimensions,
// the ones it keeps one contiguous run: its offset is (e / W) % N, with W and N
// constants (static extents) that the compiler turns into multiplies, where
// broadcastAt spends a division per dimension (a [4, 4096, 64, 128] chain
// with a per-head parameter took 2.1 ms on an H100 against 0.65 unbroadcast).
std::optional<std::string> runOffset(RankedTensorType leaf, RankedTensorType result) {
  if (leaf.getRank() > result.getRank()) return std::nullopt;
  int state = 0; // 0: leading broadcast dimensions, 1: kept ones, 2: trailing broadcast ones
  int64_t W = 1, N = 1;
  bool leading = false, dynamicRun = false;
  for (int64_t i = 0; i < result.getRank(); ++i) {
    const int64_t rd = result.getDimSize(i), ld = i < leaf.getRank() ? leaf.getDimSize(i) : 1;
    if (rd == 1) continue;
    const bool kept = ld == rd; // two dynamic extents: the same (B or T)
    if (!kept && ld != 1) return std::nullopt;
    if (kept) {
      if (state == 2) return std::nullopt;
      state = 1;
      if (ShapedType::isDynamic(rd)) dynamicRun = true;
      else N *= rd;
    } else if (state == 0) {
      leading = true;
    } else {
      if (ShapedType::isDynamic(rd)) return std::nullopt;
      state = 2, W *= rd;
    }
  }
  if (state == 0) return std::string("0");
  if (leading && dynamicRun) return std::nullopt;
  std::string off = W == 1 ? "e" : "(e / " + std::to_string(W) + ")";
  return leading ? "(" + off + " % " + std::to_string(N) + ")" : off;
}
} // namespace

namespace {
// The ops a pointwise value's expression holds with its inlined producers,
// counted up to `cap` (a value used by several pointwise ops is computed again
// in each when this is small: a pass over memory costs more than a few ops).
constexpr int kRecomputeOps = 16;
int inlinedOps(Value v, int cap, const llvm::function_ref<bool(Value)> &inlined) {
  int n = 1;
  for (Value x : v.getDefiningOp()->getOperands())
    if (n <= cap && inlined(x)) n += inlinedOps(x, cap - n, inlined);
  return n;
}
} // namespace

bool Printer::fusedIntoUser(Value v) {
  if (auto it = inlinedValues.find(v); it != inlinedValues.end()) return it->second;
  bool inlined = pointwiseOp(v.getDefiningOp()) && !v.use_empty();
  for (Operation *u : v.getUsers()) { // (a broadcast operand's gradient ends a chain, but reads one too)
    auto g = dyn_cast<RecurrenceGradOp>(u);
    if (g && g.getDecay() == v && llvm::count(g->getOperands(), v) == 1 && gradDecayInLoads(g))
      continue; // the launch maps the decays' input in its loads
    if (!pointwiseOp(u) && !pointwiseVjp(u, /*summedAfter=*/true))
      inlined = false; // a scan, a row op or an output reads it from memory
  }
  if (inlined && !v.hasOneUse())
    inlined = inlinedOps(v, kRecomputeOps, [&](Value x) { return fusedIntoUser(x); }) <= kRecomputeOps;
  return inlinedValues[v] = inlined;
}

bool Printer::readInPlace(BlockArgument a) {
  auto type = cast<RankedTensorType>(a.getType());
  if (a.use_empty() || (type.getRank() != 3 && type.getRank() != 4) || !ShapedType::isDynamic(type.getDimSize(0)) ||
      !ShapedType::isDynamic(type.getDimSize(1)) || isRouted(a) || isPerMemory(a))
    return false; // token rows only (a per-head parameter is small: loaded once)
  for (Operation *u : a.getUsers()) {
    if (pointwiseOp(u) || pointwiseVjp(u, /*summedAfter=*/true)) continue; // a leaf of a fused chain
    auto g = dyn_cast<RecurrenceGradOp>(u);
    if (!g || !readAsGradRows(g, a)) return false; // a row map, a scan or an output reads a Tensor
  }
  return true;
}

void Printer::printFused(Value root, Type shape, const std::string &into, const std::string &storeTo) {
  const std::string f = fusedFunctor(root, shape);
  if (!storeTo.empty()) {
    hs << "  fusedStoreKernel<<<gridFor(" << into << ".size()), 256, 0, stream>>>(" << into << ", " << storeTo << ", "
       << f << ");\n";
    return;
  }
  hs << "  fusedKernel<<<gridFor(" << into << ".size()), 256, 0, stream>>>(" << into << ", " << f << ");\n";
}

std::string Printer::fusedFunctor(Value root, Type shape) {
  llvm::SmallVector<std::string> leaves;
  fusedResultType = shape, fusedRoot = root.getDefiningOp(), fusedIndexed = false;
  const std::string e = fusedExpr(root, leaves);
  fusedRoot = nullptr;
  std::string n = "Fused" + std::to_string(nfunctors++), fields, init;
  auto inPlace = [&](const std::string &l) {
    return llvm::any_of(inputLeaves, [&](const auto &x) { return x.second == l; });
  };
  for (auto [i, l] : llvm::enumerate(leaves)) {
    fields += std::string("  ") + (inPlace(l) ? "InputRows" : "Tensor") + " m" + std::to_string(i) + ";\n";
    init += (i ? ", " : "") + l;
  }
  device += "struct " + n + " {\n" + (leaves.empty() ? std::string("  Tensor unused;\n") : fields) +
            "  static constexpr bool indexed = " + (fusedIndexed ? "true" : "false") +
            ";\n  __device__ float operator()(const int64_t *idx, int64_t e) const { (void)idx, (void)e; return " + e +
            "; }\n};\n";
  return n + "{" + init + "}";
}

std::string Printer::fusedExpr(Value v, llvm::SmallVectorImpl<std::string> &leaves) {
  Operation *d = v.getDefiningOp();
  if ((d && d == fusedRoot) || (pointwiseOp(d) && (fusedIntoUser(v) || !tensors.count(v)))) {
    if (auto m = dyn_cast<MapOp>(d))
      return std::string("([](float x) { return ") + unaryExpr(m.getFn()) + "; })(" + fusedExpr(m.getInput(), leaves) +
             ")";
    if (auto m = dyn_cast<MapVjpOp>(d)) // g * f'(x, y), f' from the input x and result y
      return std::string("([](float x, float y, float g) { return (void)x, (void)y, g * (") +
             unaryDerivative(m.getFn()) + "); })(" + fusedExpr(m.getInput(), leaves) + ", " +
             fusedExpr(m.getResult(), leaves) + ", " + fusedExpr(m.getGrad(), leaves) + ")";
    if (auto b = dyn_cast<BinaryVjpOp>(d)) // g * (d f / d operand)(a, b)
      return std::string("([](float a, float b, float g) { return (void)a, (void)b, g * (") +
             binaryDerivative(b.getFn(), (int)b.getOperand()) + "); })(" + fusedExpr(b.getLhs(), leaves) + ", " +
             fusedExpr(b.getRhs(), leaves) + ", " + fusedExpr(b.getGrad(), leaves) + ")";
    auto b = cast<BinaryOp>(d);
    return std::string("([](float a, float b) { return ") + binaryExpr(b.getFn()) + "; })(" +
           fusedExpr(b.getLhs(), leaves) + ", " + fusedExpr(b.getRhs(), leaves) + ")";
  }
  // A Tensor read twice is one leaf; an input read in place, its InputRows.
  auto in = inputLeaves.find(v);
  const bool inPlace = in != inputLeaves.end();
  const std::string t = inPlace ? in->second : tensorOf(v);
  auto it = llvm::find(leaves, t);
  const std::string m = "m" + std::to_string(it - leaves.begin());
  if (it == leaves.end()) leaves.push_back(t);
  auto read = [&](const std::string &off) { return inPlace ? m + ".at(" + off + ")" : m + ".p[" + off + "]"; };
  // A leaf of the result's shape and layout is read at the result's flat
  // index; a scalar at 0; only a broadcast one needs the index per dimension.
  auto type = cast<RankedTensorType>(v.getType());
  auto arg = dyn_cast<BlockArgument>(v);
  const bool sameLayout = arg ? !isRouted(arg) && !isPerMemory(arg) && curLayout == Layout::tokens
                              : layouts.lookup(v) == curLayout;
  if (type == fusedResultType && sameLayout) return read("e");
  if (type.getRank() == 0) return read("0");
  if (sameLayout)
    if (auto off = runOffset(type, cast<RankedTensorType>(fusedResultType))) return read(*off);
  fusedIndexed = true;
  return read("broadcastAt(" + m + (inPlace ? ".shape" : "") + ", idx)");
}

std::string Printer::functor(const std::string &params, const std::string &body) {
  std::string n = "Fn" + std::to_string(nfunctors++);
  device += "struct " + n + " {\n  __device__ float operator()(" + params + ") const { return " + body + "; }\n};\n";
  return n + "{}";
}

LogicalResult Printer::emitTensorOp(Operation *op) {
  if (foldedIntoLaunch.contains(op)) return success(); // its launch stored it
  const std::string launch = "<<<gridFor(";
  auto grid = [&](const std::string &t) { return launch + t + ".size()), 256, 0, stream>>>"; };
  auto zeros = [&](const std::string &t) {
    hs << "  cudaMemsetAsync(" << t << ".p, 0, " << t << ".size() * sizeof(float), stream);\n";
  };
  if (auto c = dyn_cast<ConstantOp>(op)) { // copied from a host array
    std::string host = "kHost" + std::to_string(constNames.size());
    constNames[c.getResult()] = host;
    constantArray("const", host, c);
    std::string t = newTensorFor(c.getResult());
    hs << "  cudaMemcpyAsync(" << t << ".p, " << host << ", sizeof " << host
       << ", cudaMemcpyHostToDevice, stream);\n";
    return success();
  }
  if (auto h = dyn_cast<HeadIndexOp>(op)) {
    std::string t = newTensorFor(h.getResult()), host = "kHeads" + std::to_string(ntensors);
    const int64_t H = cast<RankedTensorType>(h.getType()).getDimSize(2);
    llvm::raw_string_ostream cs(consts);
    cs << "const float " << host << "[] = {";
    for (int64_t i = 0; i < H; ++i) cs << (i ? ", " : "") << i << ".f";
    cs << "};\n";
    hs << "  cudaMemcpyAsync(" << t << ".p, " << host << ", sizeof " << host << ", cudaMemcpyHostToDevice, stream);\n";
    return success();
  }
  // A chain of pointwise ops is one kernel: producers used once are inlined.
  if (pointwiseOp(op)) {
    Value r = op->getResult(0);
    if (fusedIntoUser(r)) return success();
    // A chain whose value is only a token output: stored as it is computed.
    if (r.hasOneUse() && isa<func::ReturnOp>(*r.getUsers().begin()) && curLayout == Layout::tokens &&
        !isStateType(cast<RankedTensorType>(r.getType()))) {
      const unsigned i = r.getUses().begin()->getOperandNumber();
      storedOutputs.insert(i);
      printFused(r, r.getType(), newTensor(cast<RankedTensorType>(r.getType()), /*allocate=*/false),
                 "args.out[" + std::to_string(i) + "]");
      return success();
    }
    printFused(r, r.getType(), newTensorFor(r));
    return success();
  }
  // A broadcast operand's gradient: the chain at the result's shape, computed
  // where it is summed to the operand's.
  if (pointwiseVjp(op, /*summedAfter=*/true)) {
    auto bv = cast<BinaryVjpOp>(op);
    auto full = cast<RankedTensorType>(bv.getGrad().getType());
    std::string out = newTensorFor(bv.getOperandGrad()), shape = newTensor(full, /*allocate=*/false);
    hs << "  if (!reduceChainTo(" << shape << ", " << fusedFunctor(bv.getOperandGrad(), full) << ", " << out
       << ", scratch, stream)) " << kAllocCheck << "\n";
    return success();
  }
  if (auto m = dyn_cast<MapOp>(op)) { // a row map (the pointwise ones are fused above)
    std::string x = tensorOf(m.getInput()), y = newTensorFor(m.getResult());
    hs << "  rows(" << x << ", " << y << ", " << lastDim(m.getInput()) << ", "
       << (m.getFn() == UnaryFn::sum ? 1 : lastDim(m.getResult())) << ", " << rowFunctor(m.getFn()) << ", stream);\n";
    return success();
  }
  if (auto n = dyn_cast<NormalizeOp>(op)) {
    std::string x = tensorOf(n.getInput()), y = newTensorFor(n.getResult());
    hs << "  rows(" << x << ", " << y << ", " << lastDim(n.getInput()) << ", " << lastDim(n.getResult())
       << ", NormalizeRow{" << (n.getMaxAbs() ? "true" : "false") << ", " << floatLiteral(n.getEps().convertToDouble())
       << ", " << floatLiteral(n.getScale().convertToDouble()) << "}, stream);\n";
    return success();
  }
  if (auto b = dyn_cast<BinaryOp>(op)) {
    std::string x = tensorOf(b.getLhs()), w = tensorOf(b.getRhs()), y = newTensorFor(b.getResult());
    const auto lt = cast<RankedTensorType>(b.getLhs().getType()), rt = cast<RankedTensorType>(b.getRhs().getType());
    switch (b.getFn()) {
    case BinaryFn::dot:
      if (lt.getShape() != rt.getShape())
        return op->emitOpError() << "the CUDA tensor program takes dot products of operands of one shape";
      hs << "  rows2(" << x << ", " << w << ", " << y << ", " << lastDim(b.getLhs()) << ", " << lastDim(b.getRhs())
         << ", 1, DotRows{}, stream);\n";
      return success();
    case BinaryFn::concat:
      if (lt.getShape().drop_back() != rt.getShape().drop_back())
        return op->emitOpError() << "the CUDA tensor program joins rows of one leading shape";
      hs << "  rows2(" << x << ", " << w << ", " << y << ", " << lastDim(b.getLhs()) << ", " << lastDim(b.getRhs())
         << ", " << lastDim(b.getResult()) << ", ConcatRows{}, stream);\n";
      return success();
    case BinaryFn::vecmat: {
      const int64_t H = rt.getDimSize(rt.getRank() - 3);
      hs << "  vecmatKernel<>" << grid(y) << "(" << x << ", " << w << ", " << y << ", " << H << ", "
         << lastDim(b.getLhs()) << ", " << lastDim(b.getResult()) << ");\n";
      return success();
    }
    default: // the pointwise ones are fused above
      return op->emitOpError() << "is not a row op of the CUDA tensor program";
    }
  }
  if (auto m = dyn_cast<MapVjpOp>(op)) {
    std::string x = tensorOf(m.getInput()), y = tensorOf(m.getResult()), g = tensorOf(m.getGrad());
    std::string out = newTensorFor(m.getInputGrad());
    const int64_t D = lastDim(m.getInput()), Dg = lastDim(m.getGrad());
    auto rowsVjp = [&](const std::string &in, const char *f) {
      hs << "  rows2(" << in << ", " << g << ", " << out << ", " << D << ", " << (m.getFn() == UnaryFn::sum ? 1 : Dg)
         << ", " << D << ", " << f << ", stream);\n";
    };
    switch (m.getFn()) {
    case UnaryFn::l2norm: rowsVjp(x, "L2normVjpRow{}"); break;
    case UnaryFn::softmax: rowsVjp(y, "SoftmaxVjpRow{}"); break;
    case UnaryFn::taylor2: rowsVjp(x, "Taylor2VjpRow{}"); break;
    case UnaryFn::sum: rowsVjp(x, "SumVjpRow{}"); break;
    case UnaryFn::append_one: rowsVjp(x, "AppendOneVjpRow{}"); break;
    case UnaryFn::ones: zeros(out); break;
    default: return op->emitOpError() << "is not a row map's gradient (the pointwise ones are fused above)";
    }
    return success();
  }
  if (auto bv = dyn_cast<BinaryVjpOp>(op)) {
    const int operand = (int)bv.getOperand();
    std::string a = tensorOf(bv.getLhs()), b = tensorOf(bv.getRhs()), g = tensorOf(bv.getGrad());
    std::string out = newTensorFor(bv.getOperandGrad());
    Value x = operand == 0 ? bv.getLhs() : bv.getRhs();
    auto full = [&](RankedTensorType t) { return newTensor(t); };
    switch (bv.getFn()) {
    case BinaryFn::dot: // the other operand times the row's g (operands of one shape)
      hs << "  dotVjpKernel<>" << grid(out) << "(" << (operand == 0 ? b : a) << ", " << g << ", " << out << ", "
         << lastDim(x) << ");\n";
      return success();
    case BinaryFn::vecmat: {
      auto wt = cast<RankedTensorType>(bv.getRhs().getType());
      const int64_t H = wt.getDimSize(wt.getRank() - 3), D = lastDim(bv.getLhs()), F = lastDim(bv.getGrad());
      if (operand == 1) {
        hs << "  vecmatVjpMatrixKernel<>" << grid(out) << "(" << a << ", " << g << ", " << out << ", " << H << ", " << D
           << ", " << F << ", " << g << ".size() / " << F << ");\n";
        return success();
      }
      auto gt = cast<RankedTensorType>(bv.getGrad().getType());
      SmallVector<int64_t> s(gt.getShape());
      s.back() = D;
      std::string f = full(RankedTensorType::get(s, gt.getElementType()));
      hs << "  vecmatVjpRowKernel<>" << grid(f) << "(" << b << ", " << g << ", " << f << ", " << H << ", " << D << ", "
         << F << ");\n  reduceTo(" << f << ", " << out << ", stream);\n";
      return success();
    }
    case BinaryFn::concat: {
      auto gt = cast<RankedTensorType>(bv.getGrad().getType());
      SmallVector<int64_t> s(gt.getShape());
      s.back() = lastDim(x);
      std::string f = full(RankedTensorType::get(s, gt.getElementType()));
      hs << "  columnsKernel<>" << grid(f) << "(" << g << ", " << f << ", " << lastDim(bv.getGrad()) << ", "
         << (operand == 0 ? 0 : lastDim(bv.getLhs())) << ", " << lastDim(x) << ");\n  reduceTo(" << f << ", " << out
         << ", stream);\n";
      return success();
    }
    default: return op->emitOpError() << "is not a row op's gradient (the pointwise ones are fused above)";
    }
  }
  if (auto nv = dyn_cast<NormalizeVjpOp>(op)) {
    std::string x = tensorOf(nv.getInput()), g = tensorOf(nv.getGrad()), out = newTensorFor(nv.getInputGrad());
    hs << "  rows2(" << x << ", " << g << ", " << out << ", " << lastDim(nv.getInput()) << ", " << lastDim(nv.getGrad())
       << ", " << lastDim(nv.getInput()) << ", NormalizeVjpRow{" << (nv.getMaxAbs() ? "true" : "false") << ", "
       << floatLiteral(nv.getEps().convertToDouble()) << ", " << floatLiteral(nv.getScale().convertToDouble())
       << "}, stream);\n";
    return success();
  }
  if (auto z = dyn_cast<ZerosLikeOp>(op)) {
    zeros(newTensorFor(z.getResult()));
    return success();
  }
  // A per-head input of a token op spread to per-token rows first.
  auto perToken = [&](Value in, RankedTensorType want) {
    std::string x = tensorOf(in);
    if (RowPrinter::isToken(in)) return x;
    std::string f = newTensor(want);
    hs << "  binaryKernel" << grid(f) << "(" << x << ", " << x << ", " << f << ", "
       << functor("float a, float b", "(void)b, a") << ");\n";
    return f;
  };
  if (auto s = dyn_cast<ShiftTokensOp>(op)) {
    auto rt = cast<RankedTensorType>(s.getType());
    std::string x = perToken(s.getInput(), rt), out = newTensorFor(s.getResult());
    hs << "  {\n" << memoryScope() << "  shiftTokensKernel<>" << grid(out) << "(" << x << ", " << out << ", "
       << s.getBy() << ", seqStartDevice, NS);\n  }\n";
    return success();
  }
  if (auto f = dyn_cast<FlipTokensOp>(op)) {
    std::string x = tensorOf(f.getInput()), out = newTensorFor(f.getResult());
    hs << "  {\n" << memoryScope() << "  flipTokensKernel<>" << grid(out) << "(" << x << ", " << out
       << ", seqStartDevice, NS);\n  }\n";
    return success();
  }
  if (auto c = dyn_cast<TokenCumsumOp>(op)) {
    std::string x = tensorOf(c.getInput()), out = newTensorFor(c.getResult());
    std::string init = c.getInit() ? tensorOf(c.getInit()) + ".p" : "nullptr";
    hs << "  {\n" << memoryScope() << "  tokenCumsumKernel<><<<(unsigned)std::min<int64_t>(NS * " << x
       << ".width(2), 65535), 256, 0, stream>>>(" << x << ", " << init << ", " << out << ", "
       << (c.getReverse() ? "true" : "false") << ", seqStartDevice, NS);\n  }\n";
    return success();
  }
  if (auto e = dyn_cast<EdgeTokenOp>(op)) {
    auto it = cast<RankedTensorType>(e.getInput().getType());
    std::string x = tensorOf(e.getInput());
    if (!RowPrinter::isToken(e.getInput())) { // per head: every token the same, read as one token per batch
      SmallVector<int64_t> s(it.getShape());
      s[0] = ShapedType::kDynamic, s[1] = 1;
      x = perToken(e.getInput(), RankedTensorType::get(s, it.getElementType()));
    }
    std::string out = newTensorFor(e.getResult());
    hs << "  {\n" << memoryScope() << "  edgeTokenKernel<>" << grid(out) << "(" << x << ", " << out << ", "
       << (e.getLast() ? "true" : "false") << ", seqStartDevice);\n  }\n";
    return success();
  }
  if (auto t = dyn_cast<TransposeStateOp>(op)) {
    std::string x = tensorOf(t.getInput()), out = newTensorFor(t.getResult());
    hs << "  transposeStateKernel<>" << grid(out) << "(" << x << ", " << out << ");\n";
    return success();
  }
  if (auto s = dyn_cast<SumToOp>(op)) {
    std::string x = tensorOf(s.getInput()), out = newTensorFor(s.getResult());
    hs << "  reduceTo(" << x << ", " << out << ", stream);\n";
    return success();
  }
  if (auto r = dyn_cast<RepeatHeadsOp>(op)) {
    auto rt = cast<RankedTensorType>(r.getType());
    std::string x = tensorOf(r.getInput()), out = newTensorFor(r.getResult());
    hs << "  repeatHeadsKernel<>" << grid(out) << "(" << x << ", " << out << ", " << rt.getDimSize(2) << ", "
       << r.getGroup() << ", " << out << ".width(3));\n";
    return success();
  }
  if (auto s = dyn_cast<SumHeadsOp>(op)) {
    auto it = cast<RankedTensorType>(s.getInput().getType());
    std::string x = tensorOf(s.getInput()), out = newTensorFor(s.getResult());
    hs << "  sumHeadsKernel<>" << grid(out) << "(" << x << ", " << out << ", " << it.getDimSize(2) << ", "
       << s.getGroup() << ", " << x << ".width(3));\n";
    return success();
  }
  if (auto r = dyn_cast<RecurrenceOp>(op)) return emitRecurrence(r);
  if (auto g = dyn_cast<RecurrenceGradOp>(op)) return emitRecurrenceGrad(g);
  FailureOr<bool> routed = emitRouteOp(op);
  if (failed(routed)) return failure();
  if (*routed) return success();
  return op->emitOpError() << "is not supported by the CUDA tensor program";
}

Printer::Layout Printer::layoutOf(Operation *op) {
  if (isa<RouteGatherOp>(op)) return Layout::memories;
  if (auto m = dyn_cast<MemoryStatesOp>(op)) return m.merges() ? Layout::memories : Layout::tokens;
  if (auto s = dyn_cast<RouteScatterOp>(op)) return s.getSlots() ? Layout::slots : Layout::tokens;
  if (isa<RouteWeightGradOp>(op)) return Layout::tokens;
  if (auto s = dyn_cast<RouteSlotsOp>(op)) return s.flattens() ? Layout::slots : Layout::tokens;
  Layout l = Layout::tokens;
  for (Value x : op->getOperands()) {
    auto it = layouts.find(x);
    if (it == layouts.end()) continue;
    if (it->second == Layout::memories) return Layout::memories;
    if (it->second == Layout::slots) l = Layout::slots;
  }
  return l;
}

std::string Printer::memoryScope() const {
  if (!tensorMode || curLayout != Layout::memories) return "";
  return "    // over the memories' sequences: B x M of L tokens, no packed sequences\n"
         "    const int64_t B = Bm, T = Lm, NS = Bm, TS = Lm;\n    const int64_t *seqStartDevice = nullptr;\n"
         "    (void)B, (void)T, (void)NS, (void)TS, (void)seqStartDevice;\n";
}

FailureOr<bool> Printer::emitRouteOp(Operation *op) {
  auto width = [](Value v) { // the elements of a row after [B, T, H]
    auto t = cast<RankedTensorType>(v.getType());
    int64_t w = 1;
    for (int64_t i = 3; i < t.getRank(); ++i) w *= t.getDimSize(i);
    return w;
  };
  auto heads = [](Value v) { return cast<RankedTensorType>(v.getType()).getDimSize(2); };
  if (auto s = dyn_cast<RouteSlotsOp>(op)) { // [B, T, k, ...] <-> [B, T * k, ...]: the same memory
    tensors[s.getResult()] = tensorOf(s.getInput());
    return true;
  }
  if (auto m = dyn_cast<MemoryStatesOp>(op)) { // [B, M, ...] <-> [B * M, ...]: the same memory
    tensors[m.getResult()] = tensorOf(m.getInput());
    return true;
  }
  if (auto g = dyn_cast<RouteGatherOp>(op)) {
    const std::string y = newTensorFor(g.getResult());
    hs << "  {\n    View dst = rowView(" << y << ");\n    routeGather(rowView(" << tensorOf(g.getInput()) << "), "
       << (g.getSlots() ? "true" : "false") << ", dst, route_plan, "
       << heads(g.getResult()) << ", " << width(g.getResult()) << ", stream"
       << (g.getWeight() ? ", rowView(" + tensorOf(g.getWeight()) + ")" : std::string()) << ");\n  }\n";
    return true;
  }
  if (auto sc = dyn_cast<RouteScatterOp>(op)) {
    const std::string out = newTensorFor(sc.getResult());
    hs << "  {\n    View o = rowView(" << out << ");\n    routeScatter(rowView(" << tensorOf(sc.getInput()) << "), "
       << (sc.getWeight() ? "rowView(" + tensorOf(sc.getWeight()) + ")" : std::string("View{}")) << ", o, route_plan, "
       << heads(sc.getResult()) << ", " << width(sc.getResult()) << ", stream, " << (sc.getSlots() ? "true" : "false")
       << ");\n  }\n";
    return true;
  }
  if (auto w = dyn_cast<RouteWeightGradOp>(op)) {
    const std::string out = newTensorFor(w.getResult());
    hs << "  {\n    View o = rowView(" << out << ");\n    routeWeightGrad(rowView(" << tensorOf(w.getInput())
       << "), rowView(" << tensorOf(w.getGrad()) << "), o, route_plan, " << heads(w.getInput()) << ", "
       << width(w.getInput()) << ", stream);\n  }\n";
    return true;
  }
  return false;
}

LogicalResult Printer::emitTensorProgram() {
  tensorMode = true;
  storedOutputs.clear(), foldedIntoLaunch.clear();
  Block &body = func.getBody().front();
  // A mixture of memories: the route planned first (the memories' sequences'
  // length L sizes their Tensors).
  RouteGatherOp anyGather;
  func.walk([&](RouteGatherOp g) { anyGather = anyGather ? anyGather : g; });
  if (anyGather) {
    auto route = dyn_cast<BlockArgument>(anyGather.getRoute());
    if (!route) return anyGather.emitOpError() << "the CUDA tensor program plans the route the function takes";
    const int64_t M = anyGather.getMemories();
    hs << "  // A mixture of " << M << " memories: the route planned once; B x " << M
       << " sequences of L tokens (Bm, Lm), slot rows of T x k (Ts)\n";
    hs << "  if (seqStartDevice) return chk.fail(\"input 'cu_seqlens': a mixture of memories takes B sequences of T "
          "tokens\");\n";
    hs << "  RoutePlan route_plan;\n  if (!planRoute(chk, inputs[" << route.getArgNumber() << "], B, T, " << M
       << ", scratch, stream, route_plan)) return 1;\n";
    hs << "  const int64_t Ts = T * route_plan.k, Bm = route_plan.B * " << M << ", Lm = route_plan.L;\n";
    hs << "  (void)Ts, (void)Bm, (void)Lm;\n";
  }
  // The inputs, read once into fp32 Tensors; an optional state left out is
  // zeros. A routed input is read as its slot rows, states per memory as the
  // memories' sequences; the route (indices) is read by the plan only.
  for (unsigned i = 0; i < func.getNumArguments(); ++i) {
    Value a = func.getArgument(i);
    auto type = cast<RankedTensorType>(a.getType());
    if (isa<IntegerType>(type.getElementType())) continue;
    std::string t, view = "args.in[" + std::to_string(i) + "]";
    bool state = isStateType(type);
    if (isRouted(a) || isPerMemory(a)) {
      llvm::SmallVector<int64_t> s(type.getShape());
      s.erase(s.begin() + (isRouted(a) ? 2 : 1)); // [B, T * k, H, ...]; [B * M, H, K, V]
      curLayout = isRouted(a) ? Layout::slots : Layout::memories;
      t = tensors[a] = newTensor(RankedTensorType::get(s, type.getElementType()));
      curLayout = Layout::tokens;
      if (isPerMemory(a)) {
        view = "view" + std::to_string(i), state = true;
        auto name = func.getArgAttrOfType<StringAttr>(i, "mixer.name");
        hs << "  View " << view << ";\n  if (!memoryStateView(chk, inputs[" << i << "], \"input\", \""
           << (name ? name.getValue() : StringRef("initial_state")) << "\", " << view << ")) return 1;\n";
      }
    } else if (readAsDeltaGradRows(a)) {
      inputRows[a] = i;
      continue;
    } else if (!anyGather && !state && readInPlace(cast<BlockArgument>(a))) {
      // read by the chains where it is; an adjoint launch takes its rows or its decays' input as given
      inputRows[a] = i;
      const std::string name = "in" + std::to_string(i);
      inputLeaves[a] = name;
      std::string extents = "B, T"; // (token rows: B and T dynamic, the rest static)
      for (int64_t d = 2; d < type.getRank(); ++d) extents += ", " + std::to_string(type.getDimSize(d));
      hs << "  const InputRows " << name << " = inputRows(" << view << ", shapeTensor({" << extents << "}));\n";
      continue;
    } else {
      t = newTensorFor(a);
    }
    hs << "  if (inputs[" << i << "].data) loadTensor(" << view << ", " << t << ", " << (state ? "true" : "false")
       << ", stream);\n  else cudaMemsetAsync(" << t << ".p, 0, " << t << ".size() * sizeof(float), stream);\n";
  }
  // Each value's Tensor is freed after the kernel that reads it last (a value
  // fused into its user is read where that chain's kernel is printed), so the
  // program's peak is its live values', not all of them (KDA's backward held
  // 17 GB at 4 x 4096 x 64 x 128 bf16). Returned values are stored at the end.
  // Not in a mixture's program, whose route views share Tensors between values.
  llvm::DenseMap<Operation *, llvm::SmallVector<Value>> freedAfter;
  bool sharesTensors = false;
  func.walk([&](Operation *op) { sharesTensors |= isa<RouteSlotsOp, MemoryStatesOp, RouteGatherOp>(op); });
  if (!sharesTensors) {
    llvm::DenseMap<Operation *, unsigned> pos;
    for (Operation &op : body) pos[&op] = pos.size();
    // The last kernel that reads what op u reads: u's, or where its value is
    // inlined, the last of its users' (a value recomputed in several chains).
    llvm::DenseMap<Operation *, Operation *> readerOf;
    std::function<Operation *(Operation *)> reader = [&](Operation *u) -> Operation * {
      if (u->getNumResults() != 1 || !fusedIntoUser(u->getResult(0))) return u;
      if (Operation *r = readerOf.lookup(u)) return r;
      Operation *r = nullptr;
      for (Operation *user : u->getResult(0).getUsers())
        if (Operation *x = reader(user); !r || pos[x] > pos[r]) r = x;
      return readerOf[u] = r;
    };
    llvm::DenseMap<Value, Operation *> last;
    for (Operation &op : body)
      for (Value v : op.getOperands()) {
        Operation *&l = last[v], *r = reader(&op);
        if (!l || pos[r] > pos[l]) l = r;
      }
    llvm::DenseSet<Value> listed; // in op and operand order: the printed program is the same every run
    for (Operation &op : body)
      for (Value v : op.getOperands())
        if (Operation *r = last[v]; !isa<func::ReturnOp>(r) && listed.insert(v).second) freedAfter[r].push_back(v);
  }
  llvm::StringSet<> released;
  for (Operation &op : body) {
    if (isa<func::ReturnOp>(op)) continue;
    curLayout = layoutOf(&op);
    for (Value r : op.getResults()) layouts[r] = curLayout;
    if (failed(emitTensorOp(&op))) return failure();
    curLayout = Layout::tokens;
    for (Value v : freedAfter.lookup(&op))
      if (std::string t = tensorOf(v); !t.empty() && released.insert(t).second)
        hs << "  scratch.release(" << t << ".p);\n";
  }
  for (auto [i, v] : llvm::enumerate(body.getTerminator()->getOperands())) {
    if (storedOutputs.contains(i)) continue; // by launchDeltaGrad, or a chain's fusedStoreKernel
    // A routed input's gradient is its slot rows, a state per memory's the
    // memories' sequences: written through the output's own view.
    auto slots = v.getDefiningOp<RouteSlotsOp>();
    auto memories = v.getDefiningOp<MemoryStatesOp>();
    if ((slots && !slots.flattens()) || (memories && !memories.merges())) {
      const std::string view = "outView" + std::to_string(i);
      const std::string name = i < outputNames.size() ? outputNames[i] : std::to_string(i);
      if (slots)
        hs << "  View " << view << ";\n  if (!slotsView(chk, outputs[" << i << "], \"" << name << "\", " << view
           << ")) return 1;\n";
      else
        hs << "  View " << view << ";\n  if (!memoryStateView(chk, outputs[" << i << "], \"output\", \"" << name
           << "\", " << view << ")) return 1;\n";
      hs << "  storeTensor(" << tensorOf(v) << ", " << view << ", " << (memories ? "true" : "false") << ", stream);\n";
      continue;
    }
    hs << "  storeTensor(" << tensorOf(v) << ", args.out[" << i << "], "
       << (isStateType(cast<RankedTensorType>(v.getType())) ? "true" : "false") << ", stream);\n";
  }
  // Scratch is freed when `scratch` leaves scope (stream-ordered frees).
  return success();
}

} // namespace mixc::cudaprint
