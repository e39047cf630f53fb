// The CPU kernels' vectorizable math (runtime/cpu/mixc_cpu_vector.h,
// mixc_cpu.h) against libm in double precision: relative errors stay a small
// multiple of float rounding over the arguments the pre-processing meets.
#include "runtime/cpu/mixc_cpu.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <functional>

namespace {
// Largest relative error of f against ref over [lo, hi] on a fine grid; where
// |ref| < floor the error is taken relative to floor.
double worst(float (*f)(float), const std::function<double(double)> &ref, double lo, double hi, double floor = 0) {
  double worst = 0;
  for (int i = 0; i <= 200000; ++i) {
    const double x = lo + (hi - lo) * i / 200000.0;
    const double want = ref((double)(float)x), got = f((float)x);
    worst = std::max(worst, std::fabs(got - want) / std::max(std::fabs(want), floor));
  }
  return worst;
}
} // namespace

TEST_CASE("CPU kernel math matches libm") {
  using namespace mixc::cpu;
  CHECK(worst(fastExp, [](double x) { return std::exp(x); }, -80, 80) < 1e-6);
  CHECK(worst(fastLog, [](double x) { return std::log(x); }, 1e-6, 1e6, 1e-3) < 1e-6);
  CHECK(worst(sigmoid, [](double x) { return 1 / (1 + std::exp(-x)); }, -60, 60) < 2e-6);
  // logsigmoid of a large x is -exp(-x), tiny: its relative error must hold there too
  // (log(1 + e) with 1 + e rounded to float loses it).
  CHECK(worst(logsigmoid, [](double x) { return -std::log1p(std::exp(-x)); }, -60, 60) < 2e-6);
  CHECK(worst(softplus, [](double x) { return std::log1p(std::exp(x)); }, -60, 60) < 2e-6);
  CHECK(worst(log1pUnit, [](double x) { return std::log1p(x); }, 0, 1, 1e-30) < 1e-6);
}
