// The reference target: interprets a mixer function in float64, pre-processing
// ops pointwise and `mixer.recurrence` token by token (runtime/reference).
#ifndef MIXC_CODEGEN_REFERENCETARGET_H
#define MIXC_CODEGEN_REFERENCETARGET_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "runtime/reference/Array.h"

#include "runtime/reference/Recurrence.h"

#include "llvm/ADT/DenseMap.h"

#include <functional>
#include <map>
#include <string>

namespace mixc {

using NamedArrays = std::map<std::string, ref::Array>;

/// One function argument as the caller must supply it.
struct ArgumentSpec {
  std::string name;
  std::vector<int64_t> shape; // -1 for batch and time
  bool perHead = false;       // may be given as [H, ...] instead of [1, 1, H, ...]
  bool isState = false;       // may be omitted (zeros)
  bool isIndex = false;       // int64 (a mixture of memories' route)
};
std::vector<ArgumentSpec> argumentSpecs(mlir::func::FuncOp func);

/// Runs `func` on `inputs`, keyed by argument name (`mixer.name`). Omitted
/// initial states are zero. Outputs are named o, final_state and final_m.
/// Returns an empty string on success, otherwise a message naming the input.
/// `onRecurrence`, when given, sees each recurrence op's operands and results.
using RecurrenceHook = std::function<void(const ref::RecurrenceInputs &, const ref::RecurrenceOutputs &)>;
std::string runReference(mlir::func::FuncOp func, const NamedArrays &inputs, NamedArrays &outputs,
                         const RecurrenceHook &onRecurrence = {});

/// The interpreter behind runReference, kept for the gradient
/// (ReferenceGrad.h): the function in canonical form (a clone of the spec's)
/// and, after run(), the value of every SSA value in `env`.
class ReferenceInterpreter {
public:
  explicit ReferenceInterpreter(mlir::func::FuncOp spec);
  ReferenceInterpreter(const ReferenceInterpreter &) = delete; // owns its clone
  ReferenceInterpreter &operator=(const ReferenceInterpreter &) = delete;
  ~ReferenceInterpreter();
  std::string run(const NamedArrays &inputs, NamedArrays &outputs, const RecurrenceHook &onRecurrence = {});
  mlir::func::FuncOp func() const { return canonical; }

  /// A recurrence's operands as the reference takes them; the scaled
  /// low-rank forms are expanded into `aRows` / `kRows`.
  ref::RecurrenceInputs recurrenceInputs(mlir::Operation *recurrence, ref::Array &aRows, ref::Array &kRows);
  const ref::Array *valueOf(mlir::Value v) const;
  ref::Array &operator[](mlir::Value v) { return env[v]; }

  llvm::DenseMap<mlir::Value, ref::Array> env;

private:
  mlir::func::FuncOp canonical;
};

/// Evaluates one chunk-level op (ReferenceChunkOps.cpp); run() calls it.
std::string evalChunkOp(ReferenceInterpreter &interp, mlir::Operation *op);

/// Evaluates one Mixture-of-Memories op (ReferenceRouteOps.cpp); run() calls it.
std::string evalRouteOp(ReferenceInterpreter &interp, mlir::Operation *op);

/// A shape with -1 printed as B (first) or T.
std::string shapeString(const std::vector<int64_t> &shape);

} // namespace mixc

#endif
