// The CPU target's printer (internal to codegen/): one mixer function as C++
// over the CPU tile library. CpuTarget.cpp prints the pre-processing, the scans
// and their adjoints; CpuChunkPrinter.cpp the chunk forms; CpuMixturePrinter.cpp
// a mixture of memories' scope over the memories' sequences.
#ifndef MIXC_CODEGEN_CPUPRINTER_H
#define MIXC_CODEGEN_CPUPRINTER_H

#include "codegen/CpuTarget.h"
#include "codegen/KernelSignature.h"
#include "codegen/RowPrinter.h"
#include "dialect/MixerOps.h"
#include "runtime/cpu/HostCompiler.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/raw_ostream.h"

namespace mixc::cpuprint {

using namespace mlir;
using namespace mixc::mixer;


struct BodyText {
  std::string body;
  llvm::raw_string_ostream bodyOs{body};
};

class Printer : BodyText, RowPrinter {
public:
  explicit Printer(func::FuncOp func) : RowPrinter(bodyOs), func(func) {}

  FailureOr<CpuKernelSource> run();

private:
  func::FuncOp func;
  llvm::DenseMap<Value, std::string> buffers; // values materialized as whole Buffers
  llvm::DenseMap<Value, unsigned> argIndex;
  CpuKernelSource out;
  std::string isaName, isaFlags; // the ISA the schedule was tiled for, its host compiler flags
  // What the row function being printed reads per token (inputs, Buffers):
  // the scan prefetches their next rows (ScanArgs::stream).
  std::vector<std::string> rowStreams;
  bool mixture = false; // a mixture of memories (route ops): its inputs are read whole
  bool lazyFailure = false;      // a scan printed from buffer() failed (its error is emitted)

  const std::string &buffer(Value v);
  void leaf(Value v, const std::string &n, int64_t w, const std::string &dest) override;
  struct RowOperand {
    Value value;
    const char *field;
    int64_t width;
  };
  template <typename OpT> std::string emitRowFunction(OpT op, int64_t K, int64_t V);
  std::string emitRowLambda(const std::vector<RowOperand> &rowOperands, int64_t K, int64_t V);
  void resultBuffer(Value v, const std::string &name, const std::string &shape);
  LogicalResult emitRecurrence(RecurrenceOp op);
  LogicalResult emitChunkGroup(ChunkWalkOp walk);
  LogicalResult emitUtChunkGroup(ChunkWalkOp walk, CpuTileAttr schedule);
  void emitChunkScanArgs(ChunkWalkOp walk, Value o, double scale, const std::string &r, int64_t H, int64_t K,
                         int64_t V);
  LogicalResult emitRecurrenceGrad(RecurrenceGradOp op);
  LogicalResult emitMixture();
  /// A mixture's slot rows ([B, T * k, ...]: pre-processing of routed inputs
  /// and its adjoint) are T * k tokens long, not T.
  bool isSlotRows(Value v);
  llvm::DenseMap<Value, bool> slotRowsMemo;
  /// `v`'s Buffer as an argument: std::move'd where `v` has no other reader.
  std::string movedIfLast(Value v) {
    const std::string b = buffer(v);
    return v.hasOneUse() ? "std::move(" + b + ")" : b;
  }
  /// `v`'s shape as C++ (B, T for the dynamic sizes; T * k for slot rows).
  std::string shapeOf(Value v) {
    std::string s = shapeList(cast<RankedTensorType>(v.getType()), true);
    if (isSlotRows(v) && llvm::StringRef(s).starts_with("{B, T")) s.replace(0, 5, "{B, T * route_plan.k");
    return s;
  }
  llvm::DenseSet<Operation *> printedScans; // scans printed in a mixture's scope
  /// The ISA a scan was tiled for: its name and build flags go in the header.
  LogicalResult useIsaOf(Operation *op, CpuTileAttr schedule) {
    mixc::cpu::CpuIsa isa;
    std::string isaError;
    if (!mixc::cpu::cpuIsaNamed(schedule.getIsa().str(), isa, isaError))
      return op->emitOpError() << "#mixer.cpu_tile: " << isaError;
    isaName = isa.name;
    isaFlags = mixc::cpu::kernelFlags(isa);
    return success();
  }
  bool isBackward() { return func->hasAttr("mixer.backward_of"); }
  /// The C++ condition under which an optional state operand was given ("":
  /// always): an input's data pointer, through a transpose.
  std::string presence(Value v) {
    if (isa<BlockArgument>(v)) return "inputs[" + std::to_string(argIndex.lookup(v)) + "].data";
    if (auto t = v.getDefiningOp<TransposeStateOp>()) return presence(t.getInput());
    if (auto m = v.getDefiningOp<MemoryStatesOp>()) return presence(m.getInput());
    return "";
  }
  /// `expr` where the optional state `v` was given, else nullptr.
  std::string optional(Value v, const std::string &expr) {
    const std::string present = presence(v);
    return present.empty() ? expr : present + " ? " + expr + " : nullptr";
  }
};

} // namespace mixc::cpuprint

#endif
