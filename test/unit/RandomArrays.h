// Seeded random float64 arrays for the reference's unit tests.
#ifndef MIXC_TEST_UNIT_RANDOMARRAYS_H
#define MIXC_TEST_UNIT_RANDOMARRAYS_H

#include "runtime/reference/Array.h"

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

} // namespace mixc::ref

#endif
