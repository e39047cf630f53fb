// Reverse-mode derivatives of the reference's pre-processing functions
// (Array.h's applyUnary / applyBinary), on float64: the pieces of the chain
// rule that the spec-level gradient (codegen/ReferenceGrad.cpp) strings
// together. test/unit/ReferenceGradTest.cpp checks each against central
// finite differences.
#ifndef MIXC_RUNTIME_REFERENCE_ARRAYGRAD_H
#define MIXC_RUNTIME_REFERENCE_ARRAYGRAD_H

#include "runtime/reference/Array.h"

namespace mixc::ref {

/// Adds to `gx` (x's shape; zero-filled when empty) the gradient through
/// y = fn(x) of an upstream gradient `gy` (y's shape). Returns false for an
/// unknown function name.
bool addUnaryGrad(const std::string &fn, const Array &x, const Array &y, const Array &gy, Array &gx);

/// Adds to `gx` and `gy` (the operands' shapes; zero-filled when empty) the
/// gradient through out = fn(x, y) of `g` (out's shape): an operand that was
/// broadcast gets the sum over what it was broadcast over.
bool addBinaryGrad(const std::string &fn, const Array &x, const Array &y, const Array &g, Array &gx, Array &gy);

/// `x` summed over the dimensions that `shape` broadcasts over (left-aligned:
/// size-1 and missing trailing dimensions): the gradient of a broadcast.
Array sumTo(const Array &x, const std::vector<int64_t> &shape);

/// Adds `g` into `acc` (zero-filled to g's shape when empty).
void accumulate(Array &acc, const Array &g);

} // namespace mixc::ref

#endif
