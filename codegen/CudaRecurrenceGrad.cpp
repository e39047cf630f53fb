// The CUDA target's adjoint of a recurrence with a low-rank term (the delta
// rules, KDA, RWKV-7: what mixer-lower-adjoint leaves as mixer.recurrence_grad),
// printed as one call of launchSweepGrad (runtime/cuda/mixc_cuda_sweep_grad.cuh):
// three sweeps over the tokens with the forward schedule's tiling (value
// blocks, columns per warp, warps: #mixer.cuda_tile), then the gradients'
// sums. Every operand and gradient is an fp32 Tensor of the tensor program.
#include "codegen/CudaPrinter.h"
#include "codegen/CudaTarget.h"

namespace mixc {

std::string cudaSweepGradRefusal(mlir::Operation *o) {
  auto op = llvm::cast<mixer::RecurrenceGradOp>(o);
  using namespace mixer;
  auto refuse = [](const char *what) {
    return std::string("the CUDA target has no backward for ") + what +
           " (mixer-lower-adjoint turns diagonal transitions of log-decays into scans; the three sweeps cover the "
           "low-rank ones without a bonus, skip or normalizer)";
  };
  if (op.getBonus()) return refuse("a bonus");
  if (op.getSkipWeight()) return refuse("a skip term");
  if (op.getNormalizerKind() != Normalizer::none || op.getIgate()) return refuse("a normalizer");
  if (op.getDt()) return refuse("elementwise decays");
  if (op.getDirection() == Direction::bidirectional) return refuse("a bidirectional recurrence");
  if (op.getStructure() != Structure::dplr || !op.getA() || !op.getB())
    return refuse((std::string("a ") + stringifyStructure(op.getStructure()).str() + " transition" +
                   (op.hasFactorDecay() ? " of factor decays" : ""))
                      .c_str());
  if (op.getDecay() && op.hasFactorDecay()) return refuse("a decay given as a factor (its gradient would divide by it)");
  return "";
}

} // namespace mixc

namespace mixc::cudaprint {

LogicalResult Printer::emitRecurrenceGrad(RecurrenceGradOp op) {
  auto schedule = op->getAttrOfType<CudaTileAttr>("mixer.schedule");
  if (!schedule)
    return op.emitOpError() << "has no #mixer.cuda_tile schedule: derive the backward after mixer-tile{target=cuda}";
  if (std::string why = cudaSweepGradRefusal(op); !why.empty()) return op.emitOpError() << why;
  if (op.getAScale() || op.getKScale())
    return op.emitOpError() << "the CUDA sweeps read whole rows of a and k: mixer-derive-backward expands the scaled "
                               "low-rank form first";
  auto qType = cast<RankedTensorType>(op.getQ().getType()), vType = cast<RankedTensorType>(op.getV().getType());
  const int64_t H = qType.getDimSize(2), K = qType.getDimSize(3), V = vType.getDimSize(3);
  const int64_t cpw = schedule.getColsPerWarp(), warps = schedule.getWarps();
  const DiagKind diag = op.getDiagKind();
  if (diag != DiagKind::none && !op.getDecay()) return op.emitOpError() << "a diagonal without its decay";
  Type f32 = qType.getElementType();
  const int64_t dyn = ShapedType::kDynamic;
  auto token = [&](int64_t w) { return RankedTensorType::get({dyn, dyn, H, w}, f32); };
  // The operands in getPrimalOperands' order (one gradient each, by
  // position: b may be k's value), the field each gradient goes to, and the
  // full shape it is computed at (then summed to its operand's).
  struct Grad {
    Value x;
    const char *field;
    RankedTensorType full;
  };
  llvm::SmallVector<Grad> grads = {{op.getQ(), "out.dq", token(K)}, {op.getK(), "out.dk", token(K)},
                                   {op.getV(), "g.dv", token(V)}};
  if (Value d = op.getDecay())
    grads.push_back({d, "out.ddecay", diag == DiagKind::scalar ? RankedTensorType::get({dyn, dyn, H}, f32) : token(K)});
  grads.push_back({op.getA(), "out.da", token(K)});
  grads.push_back({op.getB(), "out.db", token(K)});
  if (Value i = op.getInit()) grads.push_back({i, "g.dinit", RankedTensorType::get({dyn, H, K, V}, f32)});
  if (grads.size() != op.getGrads().size()) return op.emitOpError() << "expected one gradient per operand";
  // Each gradient's Tensor, allocated before the block (the program reads
  // them after it); where the operand broadcast (a per-head decay), a full
  // one, summed to the operand's shape after the sweeps.
  llvm::SmallVector<std::pair<std::string, std::string>> sums;
  llvm::SmallVector<std::string> fields;
  for (auto [gr, grad] : llvm::zip(grads, op.getGrads())) {
    const bool same = gr.x.getType() == gr.full;
    std::string t = same ? newTensorFor(grad) : newTensor(gr.full);
    if (!same) sums.push_back({t, newTensorFor(grad)});
    fields.push_back(std::string("    ") + gr.field + " = " + t + (llvm::StringRef(gr.field).starts_with("g.") ? ".p" : "") + ";\n");
  }
  hs << "  {\n    // the adjoint of the dplr recurrence" << (op.getDirection() == Direction::reverse ? " (reverse)" : "")
     << ", K = " << K << ", V = " << V << ": three sweeps of " << warps << " warps per " << warps * cpw
     << " value columns (the forward's tiling), no state stored\n";
  hs << "    ScanParams p;\n";
  hs << "    p.q = rowView(" << tensorOf(op.getQ()) << ");\n    p.k = rowView(" << tensorOf(op.getK())
     << ");\n    p.v = rowView(" << tensorOf(op.getV()) << ");\n";
  hs << "    p.a = rowView(" << tensorOf(op.getA()) << ");\n    p.b = rowView(" << tensorOf(op.getB()) << ");\n";
  if (op.getDecay()) hs << "    p.decay = rowView(" << tensorOf(op.getDecay()) << ");\n";
  if (op.getInit()) hs << "    p.init = stateTensorView(" << tensorOf(op.getInit()) << ");\n";
  hs << "    p.B = B; p.T = T; p.H = " << H << "; p.Vs = " << V << ";\n";
  hs << "    if (seqStartDevice) p.B = NS, p.T = TS, p.seqStart = seqStartDevice;\n";
  hs << "    p.scale = " << floatLiteral(op.getScaleValue()) << ";\n";
  hs << "    p.reverse = " << (op.getDirection() == Direction::reverse ? "true" : "false") << ";\n";
  hs << "    SweepGrad g;\n";
  if (Value d = op.getDO()) hs << "    g.dO = rowView(" << tensorOf(d) << ");\n";
  if (Value d = op.getDFinal()) hs << "    g.dFinal = stateTensorView(" << tensorOf(d) << ");\n";
  hs << "    SweepGradOut out;\n";
  for (const std::string &f : fields) hs << f;
  hs << "    if (cudaError_t e = launchSweepGrad<" << K << ", " << cpw << ", " << warps << ", DiagKind::"
     << stringifyDiagKind(diag).str() << ", true>(p, g, out, B, T, scratch, stream); e != cudaSuccess)\n"
     << "      return chk.fail(\"CUDA: %s\", cudaGetErrorString(e));\n";
  for (auto &[full, t] : sums) hs << "    reduceTo(" << full << ", " << t << ", stream);\n";
  hs << "  }\n";
  return success();
}

} // namespace mixc::cudaprint
