// The float64 gradient of a whole spec: reverse mode over the interpreted
// function (ReferenceInterpreter), the chain rule through every
// pre-processing op (runtime/reference/ArrayGrad.h) and the recurrence's own
// backward (runtime/reference/RecurrenceGrad.h). It is the oracle for
// `mixc run --grad` and for the derived backward kernels; `checkGradByFiniteDifferences`
// tests it against central differences of the forward.
#ifndef MIXC_CODEGEN_REFERENCEGRAD_H
#define MIXC_CODEGEN_REFERENCEGRAD_H

#include "codegen/ReferenceTarget.h"

namespace mixc {

/// Gradients of L = sum over the outputs of <upstream[name], output[name]>
/// (names o, final_state, final_m; a missing one contributes nothing) with
/// respect to every input given, keyed and shaped as `inputs`. Also fills
/// `outputs` as runReference does. Returns an empty string on success, else
/// what it cannot differentiate.
std::string runReferenceGrad(mlir::func::FuncOp func, const NamedArrays &inputs, const NamedArrays &upstream,
                             NamedArrays &outputs, NamedArrays &grads);

/// The same gradients by central differences of L with step `h` on every
/// element of every input (2 forward runs per element: small shapes only).
std::string finiteDifferenceGrad(mlir::func::FuncOp func, const NamedArrays &inputs, const NamedArrays &upstream,
                                 double h, NamedArrays &grads);

} // namespace mixc

#endif
