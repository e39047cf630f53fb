// Seeded random float64 arrays for the reference's unit tests.
#ifndef MIXC_TEST_UNIT_RANDOMARRAYS_H
#define MIXC_TEST_UNIT_RANDOMARRAYS_H

#include "runtime/reference/Array.h"

#include <algorithm>
#include <random>

namespace mixc::ref {

inline Array randn(std::vector<int64_t> shape, std::mt19937_64 &rng, double sd = 1.0, double mean = 0.0) {
  Array a(std::move(shape));
  std::normal_distribution<double> n(mean, sd);
  for (double &x : a.data) x = n(rng);
  return a;
}

inline Array uniform(std::vector<int64_t> shape, std::mt19937_64 &rng, double lo, double hi) {
  Array a(std::move(shape));
  std::uniform_real_distribution<double> u(lo, hi);
  for (double &x : a.data) x = u(rng);
  return a;
}

// Tokens [i0, i1) of a [1, T, ...] array, or (seq) rows [i0, i1) of an [N, ...]
// one: a packed call's sequence, as the reference runs it alone.
inline Array slice(const Array &a, int64_t i0, int64_t i1, bool seq) {
  const int64_t axis = seq ? 0 : 1;
  std::vector<int64_t> shape = a.shape;
  int64_t inner = 1;
  for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
  shape[axis] = i1 - i0;
  Array out(shape);
  std::copy(a.data.begin() + i0 * inner, a.data.begin() + i1 * inner, out.data.begin());
  return out;
}

} // namespace mixc::ref

#endif
