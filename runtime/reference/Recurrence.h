// The float64 oracle: the unified recurrence run token by token, exactly as
// docs/reference.md writes it, with no chunking. Every kernel path is tested against it.
#ifndef MIXC_RUNTIME_REFERENCE_RECURRENCE_H
#define MIXC_RUNTIME_REFERENCE_RECURRENCE_H

#include "runtime/mixc_enums.h"
#include "runtime/reference/Array.h"

#include <string>

namespace mixc::ref {

using rt::Direction; // the dialect's enums (runtime/mixc_enums.h, generated from the ODS)
using rt::Normalizer;
using rt::Structure;

/// Operands in the layout of `mixer.recurrence` (see dialect/MixerOps.td):
/// per-token [B, T, H, D] or [B, T, H]; per-head [1, 1, H, ...]; states
/// [B, H, K, V'] with V' = V + 1 under a normalizer. Absent operands are null.
struct RecurrenceInputs {
  Structure structure = Structure::identity;
  Direction direction = Direction::forward;
  Normalizer normalizer = Normalizer::none;
  double scale = 1.0, eps = 0.0;
  const Array *q = nullptr, *k = nullptr, *v = nullptr;
  const Array *decay = nullptr, *dt = nullptr, *a = nullptr, *b = nullptr, *igate = nullptr;
  const Array *bonus = nullptr, *skipWeight = nullptr, *skipInput = nullptr;
  const Array *init = nullptr, *initM = nullptr;
  /// The decay operand holds the factors of A_t themselves, not their
  /// logarithms: a decay that may be negative (in (-1, 1)) has
  /// no real logarithm. Scalar, vector and dplr diagonals; elementwise: dt
  /// is the factor and there is no decay.
  bool decayIsFactor = false;
};

struct RecurrenceOutputs {
  Array o;          // [B, T, H, V]
  Array finalState; // [B, H, K, V']
  Array finalM;     // [B, H], mLSTM only
};

/// Runs the recurrence. Returns an empty string on success, otherwise a message
/// naming the operand whose shape does not fit.
std::string runRecurrence(const RecurrenceInputs &in, RecurrenceOutputs &out);

} // namespace mixc::ref

#endif
