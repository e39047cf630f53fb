// Reverse mode over a mixer function: @f -> @f_backward (see Passes.td).
#include "passes/Passes.h"
#include "dialect/RecurrenceForms.h"

#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/DenseSet.h"

namespace mixc {
#define GEN_PASS_DEF_MIXERDERIVEBACKWARD
#include "passes/Passes.h.inc"
} // namespace mixc

using namespace mlir;
using namespace mixc::mixer;

namespace {

// Builds @f_backward from @f.
class BackwardBuilder {
public:
  BackwardBuilder(func::FuncOp fwd, OpBuilder &b) : fwd(fwd), b(b), loc(fwd.getLoc()) {}

  func::FuncOp build() {
    auto ret = cast<func::ReturnOp>(fwd.getBody().front().getTerminator());
    SmallVector<Type> argTypes(fwd.getArgumentTypes());
    // The upstream gradients of o and of the final state (mLSTM's final
    // stabilizer gets none: it chains decodes, no loss reads it).
    argTypes.push_back(ret.getOperand(0).getType());
    argTypes.push_back(ret.getOperand(1).getType());
    // A gradient per floating-point input (a mixture's route, indices, has none).
    SmallVector<Type> gradTypes;
    SmallVector<unsigned> differentiable;
    for (auto [i, t] : llvm::enumerate(fwd.getArgumentTypes()))
      if (isa<FloatType>(cast<RankedTensorType>(t).getElementType())) {
        gradTypes.push_back(t);
        differentiable.push_back(i);
      }
    auto type = b.getFunctionType(argTypes, gradTypes);
    auto bwd = func::FuncOp::create(b, loc, (fwd.getName() + "_backward").str(), type);
    bwd->setAttr("mixer.backward_of", FlatSymbolRefAttr::get(fwd.getNameAttr()));
    Block *body = bwd.addEntryBlock();
    const unsigned n = fwd.getNumArguments();
    for (unsigned i = 0; i < n; ++i)
      if (auto name = fwd.getArgAttr(i, "mixer.name")) bwd.setArgAttr(i, "mixer.name", name);
    for (auto [r, i] : llvm::enumerate(differentiable))
      if (auto name = fwd.getArgAttr(i, "mixer.name"))
        bwd.setResultAttr(r, "mixer.name", b.getStringAttr("d" + cast<StringAttr>(name).str()));
    bwd.setArgAttr(n, "mixer.name", b.getStringAttr("do"));
    bwd.setArgAttr(n + 1, "mixer.name", b.getStringAttr("dfinal_state"));

    // The forward, recomputed.
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(body);
    IRMapping map;
    for (unsigned i = 0; i < n; ++i) map.map(fwd.getArgument(i), body->getArgument(i));
    SmallVector<Operation *> forward;
    for (Operation &op : fwd.getBody().front().without_terminator()) forward.push_back(b.clone(op, map));
    // Active values: those computed from an input.
    for (unsigned i = 0; i < n; ++i) active.insert(body->getArgument(i));
    for (Operation *op : forward)
      if (llvm::any_of(op->getOperands(), [&](Value v) { return active.contains(v); }))
        for (Value r : op->getResults()) active.insert(r);

    add(map.lookup(ret.getOperand(0)), body->getArgument(n));
    add(map.lookup(ret.getOperand(1)), body->getArgument(n + 1));
    for (Operation *op : llvm::reverse(forward)) adjoint(op);

    SmallVector<Value> grads;
    for (unsigned i : differentiable) {
      Value x = body->getArgument(i);
      Value g = adj.lookup(x);
      grads.push_back(g ? g : ZerosLikeOp::create(b, loc, x.getType(), x).getResult());
    }
    func::ReturnOp::create(b, loc, grads);
    // What no adjoint reads goes (the forward recurrences: recurrence_grad
    // recomputes their states).
    for (Operation *op : llvm::reverse(forward))
      if (op->use_empty()) op->erase();
    return bwd;
  }

private:
  // Adds g to the gradient of v (a second contribution is summed).
  void add(Value v, Value g) {
    if (!v || !g || !active.contains(v)) return;
    Value &acc = adj[v];
    acc = acc ? BinaryOp::create(b, loc, v.getType(), BinaryFn::add, acc, g).getResult() : g;
  }

  void adjoint(Operation *op) {
    auto gradOf = [&](Value v) { return adj.lookup(v); };
    if (failed) return; // one error is enough
    if (llvm::none_of(op->getResults(), [&](Value r) { return (bool)gradOf(r); })) return;
    if (auto m = dyn_cast<MapOp>(op)) {
      if (m.getFn() == UnaryFn::ones || !active.contains(m.getInput())) return; // ones does not read its input
      add(m.getInput(), MapVjpOp::create(b, loc, m.getInput().getType(), m.getFn(), m.getInput(), m.getResult(),
                                         gradOf(m.getResult())));
    } else if (auto bin = dyn_cast<BinaryOp>(op)) {
      for (auto [i, x] : llvm::enumerate(std::array<Value, 2>{bin.getLhs(), bin.getRhs()}))
        if (active.contains(x))
          add(x, BinaryVjpOp::create(b, loc, x.getType(), bin.getFn(), (uint64_t)i, bin.getLhs(),
                                     bin.getRhs(), gradOf(bin.getResult())));
    } else if (auto nrm = dyn_cast<NormalizeOp>(op)) {
      add(nrm.getInput(), NormalizeVjpOp::create(b, loc, nrm.getInput().getType(), nrm.getInput(),
                                                 gradOf(nrm.getResult()), nrm.getMaxAbsAttr(), nrm.getEpsAttr(),
                                                 nrm.getScaleAttr()));
    } else if (auto rep = dyn_cast<RepeatHeadsOp>(op)) { // each group's heads summed
      add(rep.getInput(), SumHeadsOp::create(b, loc, rep.getInput().getType(), gradOf(rep.getResult()),
                                             rep.getGroupAttr()));
    } else if (auto r = dyn_cast<RecurrenceOp>(op)) {
      recurrence(r, gradOf(r.getO()), gradOf(r.getFinalState()));
    } else if (auto s = dyn_cast<RouteSlotsOp>(op)) { // the view back
      add(s.getInput(), RouteSlotsOp::create(b, loc, s.getInput().getType(), gradOf(s.getResult())));
    } else if (auto ms = dyn_cast<MemoryStatesOp>(op)) {
      add(ms.getInput(), MemoryStatesOp::create(b, loc, ms.getInput().getType(), gradOf(ms.getResult()),
                                                ms.getMemoriesAttr()));
    } else if (auto g = dyn_cast<RouteGatherOp>(op)) {
      // Each copy's gradient back to its row: summed over a token's memories
      // for token rows, one per slot for slot rows.
      if (g.getWeight()) {
        op->emitOpError() << "mixer-derive-backward: a weighted gather has no adjoint (it is one)";
        failed = true;
        return;
      }
      add(g.getInput(), RouteScatterOp::create(b, loc, g.getInput().getType(), gradOf(g.getResult()), g.getRoute(),
                                               Value(), g.getMemoriesAttr(), g.getSlotsAttr()));
    } else if (auto sc = dyn_cast<RouteScatterOp>(op)) {
      if (!sc.getWeight() || sc.getSlots()) {
        op->emitOpError() << "mixer-derive-backward: only the weighted mix of readouts has an adjoint";
        failed = true;
        return;
      }
      Value dO = gradOf(sc.getResult());
      // Each memory's readout gets the output's gradient times its slot's
      // weight; each weight the readout's dot product with that gradient.
      add(sc.getInput(), RouteGatherOp::create(b, loc, sc.getInput().getType(), dO, sc.getRoute(), sc.getWeight(),
                                               sc.getMemoriesAttr(), UnitAttr()));
      add(sc.getWeight(), RouteWeightGradOp::create(b, loc, sc.getWeight().getType(), sc.getInput(), dO,
                                                    sc.getRoute(), sc.getMemoriesAttr()));
    } else if (llvm::any_of(op->getOperands(), [&](Value x) { return active.contains(x); })) {
      // A gradient must not silently stop at an op without an adjoint (the
      // chunk level: derive from the recurrences, before mixer-lower-chunks).
      op->emitOpError() << "mixer-derive-backward has no adjoint for this op"
                        << (op->getName().getStringRef().starts_with("mixer.chunk_")
                                ? ": derive the backward before mixer-lower-chunks"
                                : "");
      failed = true;
    }
    // Constants and the head index: nothing to pass on.
  }

  void recurrence(RecurrenceOp r, Value dO, Value dFinal) {
    OperationState state(loc, RecurrenceGradOp::getOperationName());
    SmallVector<Value> primal;
    for (Value x : {r.getQ(), r.getK(), r.getV(), r.getDecay(), r.getDt(), r.getA(), r.getB(), r.getAScale(),
                    r.getKScale(), r.getIgate(), r.getBonus(), r.getSkipWeight(), r.getSkipInput(), r.getInit(),
                    r.getInitM()})
      if (x) primal.push_back(x);
    SmallVector<Type> types;
    for (Value x : primal) types.push_back(x.getType());
    auto g = RecurrenceGradOp::create(
        b, loc, types, r.getStructureAttr(), r.getDirectionAttr(), r.getQ(), r.getK(), r.getV(), r.getDecay(),
        r.getDt(), r.getA(), r.getB(), r.getAScale(), r.getKScale(), r.getIgate(), r.getBonus(), r.getSkipWeight(),
        r.getSkipInput(), r.getInit(), r.getInitM(), dO, dFinal, r.getDiagAttr(), r.getDecayFormAttr(),
        r.getNormalizerAttr(), r.getEpsAttr(), r.getScaleAttr());
    // Derived after mixer-tile, the adjoint keeps the forward's tiling: the
    // target's backward kernel reads the same choices (ISA, vector width).
    if (Attribute schedule = r->getAttr("mixer.schedule")) g->setAttr("mixer.schedule", schedule);
    if (r.getDecayedB()) g.setDecayedB(true);
    if (r.getL2normQ()) g.setL2normQ(true);
    if (r.getL2normB()) g.setL2normB(true);
    for (auto [x, gx] : llvm::zip(primal, g.getGrads())) add(x, gx);
  }

public:
  bool failed = false;

private:
  func::FuncOp fwd;
  OpBuilder &b;
  Location loc;
  llvm::DenseSet<Value> active;
  llvm::DenseMap<Value, Value> adj;
};

struct DeriveBackward : mixc::impl::MixerDeriveBackwardBase<DeriveBackward> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<func::FuncOp> forwards;
    for (auto f : module.getOps<func::FuncOp>())
      if (!f->hasAttr("mixer.backward_of") && !f.isExternal()) forwards.push_back(f);
    for (func::FuncOp f : forwards) {
      if (f.getNumResults() < 2) {
        f.emitError() << "mixer-derive-backward: expected results (o, final_state[, final_m])";
        return signalPassFailure();
      }
      // decayed_b, the fused row norms and the scaled low-rank form exist only
      // after mixer-tile{target=cuda} (the chunked kernels' forms), and the
      // adjoint keeps them (launchDeltaGrad takes them: its gradients are
      // summed per row in one kernel instead of whole-tensor products and
      // sums around the recurrence; KDA's b . exp(g), a and key are not
      // written out, nor the normalized q and k and their gradients).
      auto cudaForm = [](RecurrenceOp r) {
        return r.hasCudaKernelForm() ||
               ((r.getAScale() || r.getKScale()) && isa_and_present<CudaTileAttr>(r->getAttr("mixer.schedule")));
      };
      OpBuilder b(module.getContext());
      b.setInsertionPointAfter(f);
      BackwardBuilder builder(f, b);
      func::FuncOp bwd = builder.build();
      if (builder.failed) return signalPassFailure();
      // A forward recurrence the adjoint reads (a mixture's output) is
      // recomputed by the tensor program, which takes plain rows.
      bwd.walk([&](RecurrenceOp r) {
        if (!cudaForm(r)) return;
        OpBuilder eb(r);
        expandScaledLowRank(r, eb); // (and the row norms, which need the scaled form)
      });
    }
  }
};

} // namespace
