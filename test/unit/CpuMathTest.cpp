// The CPU kernels' vectorizable math (runtime/cpu/mixc_cpu_vector.h,
// mixc_cpu.h) against libm in double precision: relative errors stay a small
// multiple of float rounding over the arguments the pre-processing meets.
#include "runtime/cpu/mixc_cpu.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <algorithm>
#include <functional>
#include <vector>

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

// The pre-processing rows' reductions (vector partial sums, then the lanes)
// and vecmat (column blocks of sums in registers) against double loops, at
// widths below, at and past a vector and with tails; copyRow exactly.
TEST_CASE("CPU row reductions, vecmat and copyRow match plain loops") {
  using namespace mixc::cpu;
  auto value = [](int64_t i) { return (float)std::sin(0.7 * (double)i + 0.3) * (1 + (float)(i % 5)); };
  for (int64_t n : {1, 3, 4, 7, 8, 9, 16, 17, 64, 100}) {
    std::vector<float> x(n), y(n), o(n + 1, -1.f);
    double dot = 0, sum = 0, mx = -1e30;
    for (int64_t i = 0; i < n; ++i) {
      x[i] = value(i), y[i] = value(3 * i + 1);
      dot += (double)x[i] * y[i], sum += x[i], mx = std::max(mx, (double)x[i]);
    }
    double scale = 0;
    for (int64_t i = 0; i < n; ++i) scale += std::fabs((double)x[i] * y[i]) + std::fabs((double)x[i]);
    CHECK(std::fabs(rowDot(x.data(), y.data(), n) - dot) <= 1e-6 * scale);
    CHECK(std::fabs(rowSum(x.data(), n) - sum) <= 1e-6 * scale);
    CHECK(rowMax(x.data(), n) == (float)mx);
    copyRow(x.data(), n, o.data());
    CHECK(std::equal(x.begin(), x.end(), o.begin()));
    CHECK(o[n] == -1.f); // nothing past the row
  }
  for (int64_t D : {1, 5, 64})
    for (int64_t F : {1, 3, 32, 64, 70, 135}) {
      std::vector<float> x(D), W(D * F), o(F);
      for (int64_t i = 0; i < D; ++i) x[i] = value(i);
      for (int64_t i = 0; i < D * F; ++i) W[i] = value(7 * i + 2);
      vecmatRow(x.data(), D, F, W.data(), o.data());
      double worst = 0;
      for (int64_t f = 0; f < F; ++f) {
        double want = 0, mag = 0;
        for (int64_t d = 0; d < D; ++d) want += (double)x[d] * W[d * F + f], mag += std::fabs((double)x[d] * W[d * F + f]);
        worst = std::max(worst, std::fabs(o[f] - want) / std::max(mag, 1e-30));
      }
      CHECK(worst < 1e-6);
    }
}
