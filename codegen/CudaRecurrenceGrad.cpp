// The CUDA target's adjoint of a recurrence that is not forward-shaped scans
// (what mixer-lower-adjoint leaves as mixer.recurrence_grad), with the
// forward schedule's tiling (value blocks, columns per warp, warps:
// #mixer.cuda_tile): with a low-rank term (the delta rules, KDA, RWKV-7) one
// call of launchSweepGrad (runtime/cuda/mixc_cuda_sweep_grad.cuh): three
// sweeps that store no state, or with a decay the schedule's grad_checkpoint
// (the state kept every C tokens, the decay's gradient a direct product);
// without a low-rank term, where mixer-tile gave it a grad_checkpoint
// (Mamba-1's elementwise decays, factors that may be negative, mLSTM) one call of
// launchCheckpointGrad or launchMlstmGrad (mixc_cuda_checkpoint_grad.cuh). Then the gradients'
// sums. Every operand and gradient is an fp32 Tensor of the tensor program.
#include "codegen/CudaPrinter.h"
#include "codegen/CudaTarget.h"
#include "dialect/RecurrenceForms.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

namespace mixc {

std::string cudaSweepGradRefusal(mlir::Operation *o) {
  auto op = llvm::cast<mixer::RecurrenceGradOp>(o);
  std::string lowRank = mixer::cudaLowRankSweepsRefusal(op);
  if (lowRank.empty()) return "";
  std::string checkpointed = mixer::cudaCheckpointSweepRefusal(op);
  if (checkpointed.empty()) return "";
  return "the CUDA target has no backward for " + checkpointed +
         " (mixer-lower-adjoint turns diagonal transitions of log-decays into scans; the three sweeps take a "
         "low-rank term, the checkpointed sweep the other transitions without a bonus or normalizer)";
}

bool cudaChunkedDeltaGrad(mlir::Operation *o) {
  auto op = llvm::cast<mixer::RecurrenceGradOp>(o);
  const int64_t K = llvm::cast<mlir::RankedTensorType>(op.getQ().getType()).getDimSize(3),
                V = llvm::cast<mlir::RankedTensorType>(op.getV().getType()).getDimSize(3);
  // (a vector diagonal: the plain low-rank form, as the adjoint writes RWKV-7's, or KDA's
  // scaled one with k = b and decayed_b)
  const bool vectorForm = (!op.getAScale() && !op.getKScale()) ||
                          (op.getAScale() && op.getKScale() && op.getK() == op.getB());
  return (K == 64 || K == 128) && (V == 64 || V == 128) &&
         (op.getDiagKind() != mixer::DiagKind::vector || vectorForm) && op.getDirection() == mixer::Direction::forward;
}

bool cudaDeltaGradLaunch(mlir::Operation *o) {
  auto op = llvm::cast<mixer::RecurrenceGradOp>(o);
  auto schedule = op->getAttrOfType<mixer::CudaTileAttr>("mixer.schedule");
  return schedule && mixer::cudaLowRankSweepsRefusal(op).empty() &&
         (cudaChunkedDeltaGrad(op) || op.getAScale() || op.getKScale());
}

bool cudaSsdGradLaunch(mlir::Operation *o) {
  auto op = llvm::cast<mixer::RecurrenceGradOp>(o);
  auto schedule = op->getAttrOfType<mixer::CudaTileAttr>("mixer.schedule");
  return schedule && schedule.getGradCheckpoint() && mixer::cudaChunkedSsdGrad(op);
}

} // namespace mixc

namespace mixc::cudaprint {

LogicalResult Printer::emitRecurrenceGrad(RecurrenceGradOp op) {
  auto schedule = op->getAttrOfType<CudaTileAttr>("mixer.schedule");
  if (!schedule)
    return op.emitOpError() << "has no #mixer.cuda_tile schedule: derive the backward after mixer-tile{target=cuda}";
  if (std::string why = cudaLowRankSweepsRefusal(op); !why.empty()) {
    if (schedule.getGradCheckpoint() > 0) return emitCheckpointGrad(op, schedule);
    if (std::string none = cudaSweepGradRefusal(op); !none.empty()) return op.emitOpError() << none;
    return op.emitOpError() << "the three sweeps do not take " << why
                            << ": mixer-tile{target=cuda} gives it a grad_checkpoint (the checkpointed sweep)";
  }
  auto qType = cast<RankedTensorType>(op.getQ().getType()), vType = cast<RankedTensorType>(op.getV().getType());
  const int64_t H = qType.getDimSize(2), K = qType.getDimSize(3), V = vType.getDimSize(3);
  const int64_t cpw = schedule.getColsPerWarp(), warps = schedule.getWarps(), C = schedule.getGradCheckpoint();
  const DiagKind diag = op.getDiagKind();
  if (diag != DiagKind::none && !op.getDecay()) return op.emitOpError() << "a diagonal without its decay";
  if (diag != DiagKind::none && C == 0)
    return op.emitOpError() << "a decay's gradient needs the checkpointed reverse sweep: mixer-tile{target=cuda} gives "
                               "it a grad_checkpoint";
  Type f32 = qType.getElementType();
  const int64_t dyn = ShapedType::kDynamic;
  auto token = [&](int64_t w) { return RankedTensorType::get({dyn, dyn, H, w}, f32); };
  // The operands in getPrimalOperands' order (one gradient each, by
  // position: b may be k's value).
  llvm::SmallVector<GradField> grads = {{op.getQ(), "out.dq", token(K)}, {op.getK(), "out.dk", token(K)},
                                        {op.getV(), "g.dv", token(V)}};
  if (Value d = op.getDecay())
    grads.push_back({d, "out.ddecay", diag == DiagKind::scalar ? RankedTensorType::get({dyn, dyn, H}, f32) : token(K)});
  // The scaled form (a = a_scale b, the key k_scale k): launchDeltaGrad
  // gives the operands' gradients and the scales'.
  auto perToken = RankedTensorType::get({dyn, dyn, H}, f32);
  if (Value a = op.getA()) grads.push_back({a, "out.da", token(K)});
  grads.push_back({op.getB(), "out.db", token(K)});
  if (Value s = op.getAScale()) grads.push_back({s, "out.daScale", perToken});
  if (Value s = op.getKScale()) grads.push_back({s, "out.dkScale", perToken});
  if (Value i = op.getInit()) grads.push_back({i, "g.dinit", RankedTensorType::get({dyn, H, K, V}, f32)});
  llvm::SmallVector<std::pair<std::string, std::string>> sums;
  llvm::DenseSet<Value> stored;
  // The chunk kernel's form (gradform bits): the scales, the outputs it writes.
  llvm::SmallVector<std::string> form;
  if (op.getAScale()) form.push_back("gradform::aScaled");
  if (op.getKScale()) form.push_back("gradform::kScaled");
  if (op.getK() == op.getB()) form.push_back("gradform::kIsB");
  if (op.getDecayedB()) form.push_back("gradform::bDecayed");
  if (op.getL2normQ()) form.push_back("gradform::l2normQ");
  if (op.getL2normB()) form.push_back("gradform::l2normB");
  if ((op.getL2normQ() || op.getL2normB()) && !cudaDeltaGradLaunch(op))
    return op.emitOpError() << "l2norm_q / l2norm_b: only launchDeltaGrad (the scaled form, k = b) normalizes rows";
  const std::string storedFields = cudaDeltaGradLaunch(op) ? launchStoredGrads(op, grads, stored, form) : "";
  FailureOr<std::string> fields = gradTensors(op, grads, sums, stored);
  if (failed(fields)) return failure();
  *fields += storedFields;
  // The chunked kernels (mixc_cuda_ut_grad.cuh; mixc_cuda_ut_vector_grad.cuh
  // for a vector diagonal, plain or scaled with k = b) take K and V of 64 or
  // 128; whether a call is theirs (bf16, forward; dense or packed) is known
  // only at run time.
  const bool chunked = cudaChunkedDeltaGrad(op);
  openGradBlock(op, std::string("the adjoint of the dplr recurrence") +
                        (op.getDirection() == Direction::reverse ? " (reverse)" : "") + ", K = " + std::to_string(K) +
                        ", V = " + std::to_string(V) + ": " +
                        (chunked ? "bf16 calls chunked on tensor cores (states kept per chunk), else " : "") +
                        (C ? "two sweeps of " : "three sweeps of ") + std::to_string(warps) + " warps per " +
                        std::to_string(warps * cpw) + " value columns (the forward's tiling), " +
                        (C ? "the state kept every " + std::to_string(C) + " tokens" : std::string("no state stored")));
  hs << "    p.a = " << gradRows(op.getA() ? op.getA() : op.getB()) << ";\n    p.b = " << gradRows(op.getB())
     << ";\n";
  if (Value s = op.getAScale()) hs << "    p.aScale = rowView(" << tensorOf(s) << ");\n";
  if (Value s = op.getKScale()) hs << "    p.kScale = rowView(" << tensorOf(s) << ");\n";
  const std::string decayMap = gradDecayOperand(op);
  if (op.getDecayedB()) hs << "    p.bDecayed = true; // b^T reads Diag(exp(decay)) S\n";
  if (op.getL2normQ()) hs << "    p.l2normQ = true; // q's rows read as q / ||q||, dq taken through the norm\n";
  if (op.getL2normB()) hs << "    p.l2normB = true; // b's rows (so a's, k's) read as b / ||b||, db and dk through it\n";
  if (op.getInit()) hs << "    p.init = stateTensorView(" << tensorOf(op.getInit()) << ");\n";
  gradBlockSizes(op, H, V);
  hs << "    SweepGrad g;\n";
  if (Value d = op.getDO()) hs << "    g.dO = " << gradRows(d) << ";\n";
  if (Value d = op.getDFinal()) hs << "    g.dFinal = stateTensorView(" << tensorOf(d) << ");\n";
  hs << "    SweepGradOut out;\n" << *fields;
  if (cudaDeltaGradLaunch(op))
    closeGradBlock(llvm::formatv("launchDeltaGrad<{0}, {1}, {2}, DiagKind::{3}, true, {4}, {5}, {6}{7}>", K, cpw,
                                 warps, stringifyDiagKind(diag), V, form.empty() ? "0u" : llvm::join(form, " | "), C,
                                 decayMap)
                       .str(),
                   sums, "sdt == MIXC_BF16, ");
  else
    closeGradBlock(llvm::formatv("launchSweepGrad<{0}, {1}, {2}, DiagKind::{3}, true, {4}>", K, cpw, warps,
                                 stringifyDiagKind(diag), C)
                       .str(),
                   sums);
  return success();
}


bool Printer::gradDecayInLoads(RecurrenceGradOp g, Value *raw, llvm::SmallVectorImpl<Value> *params) {
  auto schedule = g->getAttrOfType<CudaTileAttr>("mixer.schedule");
  if (!schedule || !schedule.getDecayInLoads() || !g.getDecay() || layoutOf(g) != Layout::tokens) return false;
  const bool mapped = (g.getStructure() == Structure::dplr && g.getDiagKind() == DiagKind::vector &&
                       cudaDeltaGradLaunch(g)) ||
                      (g.getStructure() == Structure::vector && cudaSsdGradLaunch(g));
  llvm::SmallVector<Value> found;
  Value x = mapped ? decayLoadChain(g.getDecay(), found) : Value();
  if (!x || found.size() > kDecayMapParams) return false;
  if (raw) *raw = x;
  if (params) params->assign(found.begin(), found.end());
  return true;
}

std::string Printer::gradDecayOperand(RecurrenceGradOp g) {
  Value raw;
  llvm::SmallVector<Value> params;
  if (!g.getDecay()) return "";
  if (!gradDecayInLoads(g, &raw, &params)) {
    hs << "    p.decay = rowView(" << tensorOf(g.getDecay()) << ");\n";
    return "";
  }
  // The inputs as the caller gave them (decayLoadChain's leaves are the function's arguments).
  auto in = [](Value v) { return "args.in[" + std::to_string(cast<BlockArgument>(v).getArgNumber()) + "]"; };
  const std::string name = "DecayMap" + std::to_string(nDecayMaps++);
  device += decayMapFunctor(name, g.getDecay(), raw, params);
  hs << "    p.decay = " << in(raw) << "; // the decays' input, " << name << " applied in the kernels' loads\n";
  for (auto [i, param] : llvm::enumerate(params)) hs << "    p.mapIn[" << i << "] = " << in(param) << ";\n";
  return ", " + name;
}

std::string Printer::launchStoredGrads(RecurrenceGradOp op, ArrayRef<GradField> grads, llvm::DenseSet<Value> &skip,
                                       SmallVectorImpl<std::string> &form) {
  if (layoutOf(op) != Layout::tokens || grads.size() != op.getGrads().size()) return "";
  Operation *ret = op->getBlock()->getTerminator();
  // The output number of v's only use, where that is the function's return.
  auto onlyOutput = [&](Value v) -> std::optional<unsigned> {
    if (!v.hasOneUse() || v.getUses().begin()->getOwner() != ret) return std::nullopt;
    return v.getUses().begin()->getOperandNumber();
  };
  Value dk, db;
  std::string fields;
  for (auto [gr, grad] : llvm::zip(grads, op.getGrads())) {
    const llvm::StringRef field(gr.field);
    if (field == "out.dk") dk = grad;
    if (field == "out.db") db = grad;
    if ((field != "out.dq" && field != "out.dk" && field != "g.dv" && field != "out.db") ||
        gr.x.getType() != gr.full)
      continue;
    if (auto i = onlyOutput(grad)) {
      const std::string name = field.drop_front(field.find('.') + 1).str();
      fields += "    out." + name + "To = args.out[" + std::to_string(*i) + "];\n";
      form.push_back("gradform::" + name + "Out");
      storedOutputs.insert(*i), skip.insert(grad);
    }
  }
  // dk + db, each used only there, the sum only by an output
  if (dk && db && !skip.contains(dk) && !skip.contains(db) && dk.hasOneUse() && db.hasOneUse()) {
    auto sum = dyn_cast<BinaryOp>(dk.getUses().begin()->getOwner());
    if (sum && sum == db.getUses().begin()->getOwner() && sum.getFn() == BinaryFn::add && sum.getLhs() != sum.getRhs() &&
        sum.getType() == dk.getType())
      if (auto i = onlyOutput(sum.getResult())) {
        fields += "    out.dkTo = args.out[" + std::to_string(*i) + "];\n    out.dbIntoDk = true;\n";
        form.append({"gradform::dkOut", "gradform::dbIntoDk"});
        storedOutputs.insert(*i), skip.insert(dk), skip.insert(db), foldedIntoLaunch.insert(sum);
      }
  }
  return fields;
}

FailureOr<std::string> Printer::gradTensors(RecurrenceGradOp op, ArrayRef<GradField> grads,
                                            SmallVectorImpl<std::pair<std::string, std::string>> &sums,
                                            const llvm::DenseSet<Value> &skip) {
  if (grads.size() != op.getGrads().size()) return op.emitOpError() << "expected one gradient per operand";
  // Allocated before the kernel's block (the program reads them after it);
  // where the operand broadcast (a per-head decay), a full one, summed to
  // the operand's shape after the launch. One the launch stores itself:
  // none (the launch allocates what it needs).
  std::string fields;
  for (auto [gr, grad] : llvm::zip(grads, op.getGrads())) {
    if (skip.contains(grad)) continue;
    const bool same = gr.x.getType() == gr.full;
    std::string t = same ? newTensorFor(grad) : newTensor(gr.full);
    if (!same) sums.push_back({t, newTensorFor(grad)});
    fields += std::string("    ") + gr.field + " = " + t + (llvm::StringRef(gr.field).starts_with("g.") ? ".p" : "") +
              ";\n";
  }
  return fields;
}

void Printer::openGradBlock(RecurrenceGradOp op, const std::string &comment) {
  hs << "  {\n    // " << comment << "\n" << memoryScope();
  hs << "    const int scratchMark = scratch.mark(); // the launch's own scratch, freed after it\n";
  hs << "    ScanParams p;\n";
  hs << "    p.q = " << gradRows(op.getQ()) << ";\n    p.k = " << gradRows(op.getK()) << ";\n    p.v = "
     << gradRows(op.getV()) << ";\n";
}

std::string Printer::gradRows(Value v) {
  auto in = inputRows.find(v);
  if (in != inputRows.end()) return "args.in[" + std::to_string(in->second) + "]";
  return "rowView(" + tensorOf(v) + ")";
}

void Printer::gradBlockSizes(RecurrenceGradOp op, int64_t H, int64_t Vs) {
  hs << "    p.B = B; p.T = T; p.H = " << H << "; p.Vs = " << Vs << ";\n";
  hs << "    if (seqStartDevice) p.B = NS, p.T = TS, p.seqStart = seqStartDevice;\n";
  hs << "    p.scale = " << floatLiteral(op.getScaleValue()) << ";\n";
  hs << "    p.reverse = " << (op.getDirection() == Direction::reverse ? "true" : "false") << ";\n";
}

void Printer::closeGradBlock(const std::string &launch, ArrayRef<std::pair<std::string, std::string>> sums,
                             const std::string &extraArgs) {
  hs << "    if (cudaError_t e = " << launch << "(p, g, out, B, T, " << extraArgs << "scratch, stream); e != cudaSuccess)\n"
     << "      return chk.fail(\"CUDA: %s\", cudaGetErrorString(e));\n";
  hs << "    scratch.releaseFrom(scratchMark);\n";
  for (auto &[full, t] : sums)
    hs << "    reduceTo(" << full << ", " << t << ", stream);\n    scratch.release(" << full << ".p);\n";
  hs << "  }\n";
}

} // namespace mixc::cudaprint

namespace mixc::cudaprint {

// The checkpointed reverse sweep (mixc_cuda_checkpoint_grad.cuh): one call of
// launchCheckpointGrad with the forward's tiling and the schedule's
// grad_checkpoint, the gradients of per-head operands summed to their shapes.
LogicalResult Printer::emitCheckpointGrad(RecurrenceGradOp op, CudaTileAttr schedule) {
  if (std::string why = cudaCheckpointSweepRefusal(op); !why.empty())
    return op.emitOpError() << "the checkpointed sweep does not take " << why;
  if (op.getNormalizerKind() == Normalizer::mlstm) return emitMlstmGrad(op, schedule);
  auto qType = cast<RankedTensorType>(op.getQ().getType()), vType = cast<RankedTensorType>(op.getV().getType());
  const int64_t H = qType.getDimSize(2), K = qType.getDimSize(3), V = vType.getDimSize(3);
  const int64_t cpw = schedule.getColsPerWarp(), warps = schedule.getWarps(), C = schedule.getGradCheckpoint();
  const Structure s = op.getStructure();
  const bool elementwise = s == Structure::elementwise;
  if (op.getDecay() && (s == Structure::identity)) return op.emitOpError() << "an identity transition with a decay";
  if (!op.getDecay() && s != Structure::identity) return op.emitOpError() << "a diagonal without its decay";
  Type f32 = qType.getElementType();
  const int64_t dyn = ShapedType::kDynamic;
  auto token = [&](int64_t w) { return RankedTensorType::get({dyn, dyn, H, w}, f32); };
  llvm::SmallVector<GradField> grads = {{op.getQ(), "out.dq", token(K)}, {op.getK(), "out.dk", token(K)},
                                        {op.getV(), "g.dv", token(V)}};
  const bool scalarDecay = s == Structure::scalar || s == Structure::const_scalar;
  if (Value d = op.getDecay())
    grads.push_back({d, elementwise ? "out.drate" : "out.ddecay",
                     elementwise   ? RankedTensorType::get({1, 1, H, K, V}, f32)
                     : scalarDecay ? RankedTensorType::get({dyn, dyn, H}, f32)
                                   : token(K)});
  if (Value d = op.getDt()) grads.push_back({d, "g.ddt", token(V)});
  if (Value w = op.getSkipWeight()) {
    grads.push_back({w, "out.dskipW", RankedTensorType::get({1, 1, H, V}, f32)});
    grads.push_back({op.getSkipInput(), "g.dskipX", token(V)});
  }
  if (Value i = op.getInit()) grads.push_back({i, "g.dinit", RankedTensorType::get({dyn, H, K, V}, f32)});
  llvm::SmallVector<std::pair<std::string, std::string>> sums;
  // launchSsdGrad writes the gradients used only by an output there (gradform bits).
  const bool ssd = cudaSsdGradLaunch(op);
  llvm::DenseSet<Value> stored;
  llvm::SmallVector<std::string> form;
  const std::string storedFields = ssd ? launchStoredGrads(op, grads, stored, form) : "";
  FailureOr<std::string> fields = gradTensors(op, grads, sums, stored);
  if (failed(fields)) return failure();
  *fields += storedFields;
  openGradBlock(op, "the adjoint of the " + stringifyStructure(s).str() +
                        (op.getDirection() == Direction::reverse ? " reverse" : "") + " recurrence, K = " +
                        std::to_string(K) + ", V = " + std::to_string(V) + ": " +
                        (ssd ? "bf16 calls chunked on tensor cores (states kept per chunk), else " : "") +
                        "the checkpointed reverse sweep, " +
                        std::to_string(warps) + " warps per " + std::to_string(warps * cpw) +
                        " value columns (the forward's tiling), the state kept every " + std::to_string(C) + " tokens");
  std::string decayMap;
  if (Value d = op.getDecay()) {
    if (elementwise) {
      hs << rateView(d, "rowView(" + tensorOf(d) + ")", /*wholeRow=*/true); // as the forward's scan reads it
    } else {
      decayMap = gradDecayOperand(op);
    }
  }
  if (Value d = op.getDt()) hs << "    p.dt = rowView(" << tensorOf(d) << ");\n";
  if (op.getInit()) hs << "    p.init = stateTensorView(" << tensorOf(op.getInit()) << ");\n";
  gradBlockSizes(op, H, V);
  hs << "    CheckpointGrad g;\n";
  if (Value d = op.getDO()) hs << "    g.dO = " << gradRows(d) << ";\n";
  if (Value d = op.getDFinal()) hs << "    g.dFinal = stateTensorView(" << tensorOf(d) << ");\n";
  if (Value w = op.getSkipWeight())
    hs << "    g.skipW = rowView(" << tensorOf(w) << ");\n    g.skipX = rowView(" << tensorOf(op.getSkipInput())
       << ");\n";
  hs << "    CheckpointGradOut out;\n" << *fields;
  auto b = [](bool x) { return x ? "true" : "false"; };
  if (ssd) // bf16 calls on the chunked kernels, the others on the sweep
    closeGradBlock(llvm::formatv("launchSsdGrad<Structure::{0}, {1}, {2}, {3}, true, {4}, {5}, {6}{7}>",
                                 stringifyStructure(s), K, cpw, warps, V,
                                 form.empty() ? "0u" : llvm::join(form, " | "), C, decayMap)
                       .str(),
                   sums, "sdt == MIXC_BF16, ");
  else
    closeGradBlock(llvm::formatv("launchCheckpointGrad<Structure::{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}>",
                                 stringifyStructure(s), K, cpw, warps, b(!op.hasFactorDecay()), b(bool(op.getDt())),
                                 b(bool(op.getSkipWeight())), C)
                       .str(),
                   sums);
  return success();
}

// mLSTM's stabilized normalizer on the checkpointed sweep: launchMlstmGrad
// (the state's normalizer column n beside the value columns, the stabilizer's
// gradient a chain over the tokens after the sweep).
LogicalResult Printer::emitMlstmGrad(RecurrenceGradOp op, CudaTileAttr schedule) {
  auto qType = cast<RankedTensorType>(op.getQ().getType()), vType = cast<RankedTensorType>(op.getV().getType());
  const int64_t H = qType.getDimSize(2), K = qType.getDimSize(3), V = vType.getDimSize(3);
  const int64_t cpw = schedule.getColsPerWarp(), warps = schedule.getWarps(), C = schedule.getGradCheckpoint();
  if (!op.getDecay() || !op.getIgate()) return op.emitOpError() << "mLSTM's backward needs its decay and input gate";
  Type f32 = qType.getElementType();
  const int64_t dyn = ShapedType::kDynamic;
  auto token = [&](int64_t w) { return RankedTensorType::get({dyn, dyn, H, w}, f32); };
  auto perToken = RankedTensorType::get({dyn, dyn, H}, f32);
  llvm::SmallVector<GradField> grads = {{op.getQ(), "out.dq", token(K)},
                                        {op.getK(), "out.dk", token(K)},
                                        {op.getV(), "g.dv", token(V)},
                                        {op.getDecay(), "out.ddecay", perToken},
                                        {op.getIgate(), "out.digate", perToken}};
  if (Value i = op.getInit()) grads.push_back({i, "g.dinit", RankedTensorType::get({dyn, H, K, V + 1}, f32)});
  if (Value m = op.getInitM()) grads.push_back({m, "out.dinitM", RankedTensorType::get({dyn, H}, f32)});
  llvm::SmallVector<std::pair<std::string, std::string>> sums;
  FailureOr<std::string> fields = gradTensors(op, grads, sums);
  if (failed(fields)) return failure();
  openGradBlock(op, "the adjoint of mLSTM's stabilized recurrence, K = " + std::to_string(K) + ", V = " +
                        std::to_string(V) + " and the normalizer's column: the checkpointed reverse sweep, " +
                        std::to_string(warps) + " warps per " + std::to_string(warps * cpw) +
                        " value columns (the forward's tiling), the state and stabilizer kept every " +
                        std::to_string(C) + " tokens");
  hs << "    p.decay = rowView(" << tensorOf(op.getDecay()) << ");\n    p.igate = rowView(" << tensorOf(op.getIgate())
     << ");\n";
  if (op.getInit()) hs << "    p.init = stateTensorView(" << tensorOf(op.getInit()) << ");\n";
  if (op.getInitM()) hs << "    p.initM = rowView(" << tensorOf(op.getInitM()) << ");\n";
  gradBlockSizes(op, H, V + 1);
  hs << "    MlstmGrad g;\n";
  if (Value d = op.getDO()) hs << "    g.dO = rowView(" << tensorOf(d) << ");\n";
  if (Value d = op.getDFinal()) hs << "    g.dFinal = stateTensorView(" << tensorOf(d) << ");\n";
  hs << "    MlstmGradOut out;\n" << *fields;
  closeGradBlock(llvm::formatv("launchMlstmGrad<{0}, {1}, {2}, {3}>", K, cpw, warps, C).str(), sums);
  return success();
}

} // namespace mixc::cudaprint
