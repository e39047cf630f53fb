// The float64 gradient of a whole spec: the backward that
// mixer-derive-backward derives (passes/DeriveBackward.cpp), interpreted by
// the reference: its adjoint ops through runtime/reference/ArrayGrad.h (the
// chain rule of every pre-processing op) and RecurrenceGrad.h (the
// recurrence's own backward). It is the oracle for `mixc run --grad` and for
// the backward kernels; finiteDifferenceGrad tests it against central
// differences of the forward.
#ifndef MIXC_CODEGEN_REFERENCEGRAD_H
#define MIXC_CODEGEN_REFERENCEGRAD_H

#include "codegen/ReferenceTarget.h"

namespace mixc {

/// Evaluates one adjoint op (map_vjp, binary_vjp, normalize_vjp, zeros_like,
/// recurrence_grad) into the interpreter's values; ReferenceInterpreter::run
/// calls it.
std::string evalAdjointOp(ReferenceInterpreter &interp, mlir::Operation *op);

/// Evaluates one token or state op of mixer-lower-adjoint (shift_tokens,
/// token_cumsum, edge_token, transpose_state, sum_to), batch row b being one
/// sequence of T tokens.
std::string evalTokenOp(ReferenceInterpreter &interp, mlir::Operation *op, int64_t B, int64_t T);

/// Gradients of L = sum over the outputs of <upstream[name], output[name]>
/// (names o, final_state, final_m; a missing one contributes nothing) with
/// respect to every input given, keyed and shaped as `inputs`, by deriving the
/// backward function and interpreting it. Also fills `outputs` as
/// runReference does. `adjoint` (mixer-lower-adjoint's option): "scans"
/// interprets the diagonal recurrences' adjoints as the forward-shaped scans
/// that kernels run, "sweep" (the oracle) the adjoint recurrence itself.
/// Returns an empty string on success, else what it cannot differentiate.
std::string runReferenceGrad(mlir::func::FuncOp func, const NamedArrays &inputs, const NamedArrays &upstream,
                             NamedArrays &outputs, NamedArrays &grads, const std::string &adjoint = "sweep");

/// The same gradients by central differences of L with step `h` on every
/// element of every input (2 forward runs per element: small shapes only).
std::string finiteDifferenceGrad(mlir::func::FuncOp func, const NamedArrays &inputs, const NamedArrays &upstream,
                                 double h, NamedArrays &grads);

} // namespace mixc

#endif
