// A second, independent float64 algorithm for the same op: the attention
// (T x T) form o_t = sum_s (q_t^T P_{t,s} k_s) v_s, where P_{t,s} is the product
// of the transitions between s and t, propagated per key without ever forming
// the state. It shares no code with the token-by-token recurrence, so the two
// check each other. O(T^2 K) per head (O(T^2 K V) for elementwise decays).
#ifndef MIXC_RUNTIME_REFERENCE_ATTENTIONFORM_H
#define MIXC_RUNTIME_REFERENCE_ATTENTIONFORM_H

#include "runtime/reference/Recurrence.h"

namespace mixc::ref {

/// Computes o for the first `pairs` (batch, head) pairs in row-major order
/// (all of them when pairs < 0); other rows of `o` are left zero. The mLSTM
/// normalizer is evaluated in its unstabilized form. Returns "" or an error.
std::string runAttentionForm(const RecurrenceInputs &in, Array &o, int64_t pairs = -1);

} // namespace mixc::ref

#endif
