// A mixture of memories on the CPU: the scope over the memories' sequences.
#include "codegen/CpuPrinter.h"

namespace mixc::cpuprint {

bool Printer::isSlotRows(Value v) {
  if (!isToken(v)) return false;
  auto it = slotRowsMemo.find(v);
  if (it != slotRowsMemo.end()) return it->second;
  bool slots = false;
  if (Operation *d = v.getDefiningOp()) {
    if (auto s = dyn_cast<RouteSlotsOp>(d))
      slots = s.flattens();
    else if (auto sc = dyn_cast<RouteScatterOp>(d))
      slots = sc.getSlots();
    else if (!isa<RouteGatherOp, RecurrenceOp, RecurrenceGradOp, ChunkOutputOp, ChunkUtOutputOp, ChunkWalkOp>(d))
      slots = llvm::any_of(d->getOperands(), [&](Value x) { return isSlotRows(x); });
  }
  return slotRowsMemo[v] = slots;
}

// A mixture of memories: what runs over the memories' sequences (the scan;
// in a backward the forward scan recomputed and its adjoint) is printed in one
// scope where B, T and NS are the B x M sequences of L tokens (the row
// functions and scan arguments read those names). What it reads from outside
// (the gathers, the states per memory merged, per-head values) is printed
// first, at the caller's B and T; what is read outside (the readouts and
// gradients the route mixes back, the states split per memory, reductions to
// per-head values) is moved out at its end.
LogicalResult Printer::emitMixture() {
  // Inner: values in the memories' layout, from the gathers and merged states
  // on, up to the ops that leave it (mixing back, splitting the states).
  auto leaves = [](Operation *op) {
    if (isa<RouteScatterOp, RouteWeightGradOp>(op)) return true;
    auto m = dyn_cast<MemoryStatesOp>(op);
    return m && !m.merges();
  };
  auto inLayout = [&](Value v) { return isToken(v) || isStateShaped(cast<RankedTensorType>(v.getType())); };
  llvm::DenseSet<Value> inner;
  llvm::SetVector<Operation *> innerOps;
  for (Operation &op : func.getBody().front()) {
    if (isa<RouteGatherOp>(op) || (isa<MemoryStatesOp>(op) && !leaves(&op))) {
      inner.insert(op.getResult(0)); // printed outside, read inside
      continue;
    }
    if (leaves(&op) || isa<func::ReturnOp>(op) ||
        llvm::none_of(op.getOperands(), [&](Value x) { return inner.contains(x); }))
      continue;
    innerOps.insert(&op);
    for (Value r : op.getResults())
      if (inLayout(r)) inner.insert(r);
  }
  // Read from outside: printed now (the gathers and merged states included).
  for (Operation *op : innerOps)
    for (Value x : op->getOperands())
      if (!inner.contains(x) || x.getDefiningOp<RouteGatherOp>() || x.getDefiningOp<MemoryStatesOp>()) buffer(x);
  llvm::SetVector<Value> exits;
  for (Operation *op : innerOps)
    for (Value r : op->getResults())
      if (llvm::any_of(r.getUsers(), [&](Operation *u) { return !innerOps.contains(u); })) exits.insert(r);
  for (Operation &op : func.getBody().front()) // the gathered values a leaving op reads
    if (leaves(&op))
      for (Value x : op.getOperands())
        if (inner.contains(x)) exits.insert(x);
  std::vector<std::string> holders;
  for (size_t i = 0; i < exits.size(); ++i) holders.push_back("mixture_out" + std::to_string(i));
  os << "  // The scan over the B x M sequences, each the tokens routed to one memory, zero rows\n"
        "  // (identity steps) padding them to the longest, L.\n";
  if (!holders.empty()) os << "  Buffer " << llvm::join(holders, ", ") << ";\n";
  os << "  {\n  const int64_t B = route_plan.B * route_plan.M, T = route_plan.L, NS = B;\n";
  os << "  const int64_t *seqStart = nullptr;\n  (void)seqStart;\n";
  for (Operation *op : innerOps) {
    LogicalResult printed = success();
    if (auto r = dyn_cast<RecurrenceOp>(op); r && !isBackward()) printed = emitRecurrence(r);
    else if (auto w = dyn_cast<ChunkWalkOp>(op); w && !isBackward()) printed = emitChunkGroup(w);
    else if (auto g = dyn_cast<RecurrenceGradOp>(op)) printed = emitRecurrenceGrad(g);
    else continue;
    if (failed(printed)) return failure();
    printedScans.insert(op);
  }
  std::vector<std::string> names;
  for (Value v : exits) names.push_back(buffer(v)); // printing a Buffer emits statements
  if (lazyFailure) return failure();
  for (auto [i, v] : llvm::enumerate(exits)) os << "  " << holders[i] << " = std::move(" << names[i] << ");\n";
  os << "  }\n";
  for (auto [i, v] : llvm::enumerate(exits)) buffers[v] = holders[i];
  return success();
}

} // namespace mixc::cpuprint
