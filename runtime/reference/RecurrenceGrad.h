// The float64 backward of the unified recurrence: reverse-mode gradients of
// runRecurrence's outputs, computed token by token from the stored states
// (the adjoint state dS_{t-1} = A_t^T dS_t + the readout's terms, see
// docs/reference.md). It is the oracle that derived backward kernels are
// checked against; test/unit/ReferenceGradTest.cpp checks it against central
// finite differences of runRecurrence.
#ifndef MIXC_RUNTIME_REFERENCE_RECURRENCEGRAD_H
#define MIXC_RUNTIME_REFERENCE_RECURRENCEGRAD_H

#include "runtime/reference/Recurrence.h"

namespace mixc::ref {

/// One gradient per operand of RecurrenceInputs, shaped like it (a broadcast
/// operand, such as a per-head decay, gets the sum over what it broadcast
/// over); empty for an operand that is absent.
struct RecurrenceGrads {
  Array q, k, v, decay, dt, a, b, igate, bonus, skipWeight, skipInput, init, initM;
};

/// Gradients of L = <dO, o> + <dFinal, final state> (either may be null: zero)
/// with respect to every operand. Covers every structure and direction
/// (bidirectional included), an initial state, decays given as logs or
/// factors, RWKV-6's bonus, the skip, and every normalizer (mLSTM's for its
/// scalar transitions, stabilizer included: the final stabilizer's own
/// gradient is taken as zero). Returns an empty string on success, else a
/// message naming what it does not cover.
std::string runRecurrenceGrad(const RecurrenceInputs &in, const Array *dO, const Array *dFinal, RecurrenceGrads &g);

} // namespace mixc::ref

#endif
