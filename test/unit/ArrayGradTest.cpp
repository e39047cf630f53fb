// The chain rule's pieces (runtime/reference/ArrayGrad.h) against central
// finite differences: every pre-processing function, pointwise and per row,
// and every binary function with broadcast operands (a per-token scalar
// against a row, a rank-0 constant, a per-head parameter).
#include "runtime/reference/ArrayGrad.h"
#include "test/unit/RandomArrays.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <tuple>

using namespace mixc::ref;

namespace {
double dot(const Array &a, const Array &b) {
  double s = 0;
  for (int64_t i = 0; i < a.size(); ++i) s += a.data[i] * b.data[i];
  return s;
}

double relErr(const Array &got, const Array &want) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < want.size(); ++i)
    num += (got.data[i] - want.data[i]) * (got.data[i] - want.data[i]), den += want.data[i] * want.data[i];
  return std::sqrt(num / std::max(den, 1e-300));
}

// d <g, f(x)> / dx by central differences.
template <typename F> Array numericGrad(Array x, const Array &g, F f) {
  Array out(x.shape);
  for (int64_t i = 0; i < x.size(); ++i) {
    const double x0 = x.data[i], h = 1e-6;
    x.data[i] = x0 + h;
    const double lp = dot(g, f(x));
    x.data[i] = x0 - h;
    const double lm = dot(g, f(x));
    x.data[i] = x0;
    out.data[i] = (lp - lm) / (2 * h);
  }
  return out;
}
} // namespace

TEST_CASE("every unary function's gradient matches finite differences", "[reference][grad]") {
  std::mt19937_64 rng(11);
  for (const char *fn : {"neg", "exp", "log", "sigmoid", "logsigmoid", "softplus", "silu", "elu", "relu", "abs",
                         "sqrt", "tanh", "l2norm", "softmax", "taylor2", "ones", "append_one", "sum"}) {
    INFO(fn);
    const std::string name = fn;
    Array x = randn({2, 3, 2, 4}, rng);
    if (name == "log" || name == "sqrt")
      for (double &e : x.data) e = std::fabs(e) + 0.2;
    auto f = [&](const Array &in) {
      Array y;
      REQUIRE(applyUnary(name, in, y));
      return y;
    };
    Array y = f(x), g = randn(y.shape, rng), gx;
    REQUIRE(addUnaryGrad(name, x, y, g, gx));
    CHECK(gx.shape == x.shape);
    Array want = numericGrad(x, g, f);
    if (name == "ones") CHECK(dot(gx, gx) == 0.0);
    else CHECK(relErr(gx, want) < 1e-7);
    // Gradients accumulate: a second call adds the same again.
    Array twice = gx;
    REQUIRE(addUnaryGrad(name, x, y, g, twice));
    for (int64_t i = 0; i < gx.size(); ++i) CHECK(twice.data[i] == Approx(2 * gx.data[i]));
  }
}

TEST_CASE("vecmat and concat: values and gradients, a per-head matrix summed over tokens", "[reference][grad]") {
  std::mt19937_64 rng(13);
  // x^T W with x a per-token row [B, T, H, D] and W a per-head [1, 1, H, D, F].
  Array x = randn({2, 3, 2, 4}, rng), w = randn({1, 1, 2, 4, 5}, rng), o;
  REQUIRE(applyBinary("vecmat", x, w, o));
  REQUIRE(o.shape == std::vector<int64_t>{2, 3, 2, 5});
  double want = 0; // element (1, 2, 1, 3) by hand
  for (int64_t d = 0; d < 4; ++d) want += x.at({1, 2, 1, d}) * w.at({0, 0, 1, d, 3});
  CHECK(o.at({1, 2, 1, 3}) == Approx(want));
  Array y = randn({2, 3, 2, 3}, rng), c;
  REQUIRE(applyBinary("concat", x, y, c));
  REQUIRE(c.shape == std::vector<int64_t>{2, 3, 2, 7});
  CHECK(c.at({1, 0, 1, 2}) == x.at({1, 0, 1, 2}));
  CHECK(c.at({1, 0, 1, 5}) == y.at({1, 0, 1, 1}));
  CHECK_FALSE(applyBinary("vecmat", x, randn({1, 1, 2, 3, 5}, rng), o)); // D does not match
  for (auto [name, a, b] : {std::tuple<std::string, Array, Array>{"vecmat", x, w}, {"concat", x, y}}) {
    INFO(name);
    auto f = [&](const Array &l, const Array &r) {
      Array out;
      REQUIRE(applyBinary(name, l, r, out));
      return out;
    };
    Array g = randn(f(a, b).shape, rng), ga, gb;
    REQUIRE(addBinaryGrad(name, a, b, g, ga, gb));
    CHECK(ga.shape == a.shape);
    CHECK(gb.shape == b.shape);
    CHECK(relErr(ga, numericGrad(a, g, [&](const Array &l) { return f(l, b); })) < 1e-7);
    CHECK(relErr(gb, numericGrad(b, g, [&](const Array &r) { return f(a, r); })) < 1e-7);
  }
}

TEST_CASE("every binary function's gradient matches finite differences, broadcasts summed", "[reference][grad]") {
  std::mt19937_64 rng(12);
  // (lhs shape, rhs shape): same shapes, a per-token scalar against a row, a
  // rank-0 constant, a per-head parameter [1, 1, H].
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> shapes = {
      {{2, 3, 2, 4}, {2, 3, 2, 4}}, {{2, 3, 2}, {2, 3, 2, 4}}, {{}, {2, 3, 2}}, {{2, 3, 2}, {1, 1, 2}}};
  for (const char *fn : {"add", "sub", "mul", "div", "max", "min", "pow", "dot"})
    for (auto [sa, sb] : shapes) {
      const std::string name = fn;
      if (name == "dot" && sa != sb) continue;
      INFO(fn << " lhs rank " << sa.size() << " rhs rank " << sb.size());
      Array a = randn(sa, rng), b = randn(sb, rng);
      if (name == "pow") // a positive base
        for (double &e : a.data) e = std::fabs(e) + 0.3;
      if (name == "div")
        for (double &e : b.data) e = (e < 0 ? -1 : 1) * (std::fabs(e) + 0.3);
      auto f = [&](const Array &x, const Array &y) {
        Array o;
        REQUIRE(applyBinary(name, x, y, o));
        return o;
      };
      Array o = f(a, b), g = randn(o.shape, rng), ga, gb;
      REQUIRE(addBinaryGrad(name, a, b, g, ga, gb));
      CHECK(ga.shape == a.shape);
      CHECK(gb.shape == b.shape);
      CHECK(relErr(ga, numericGrad(a, g, [&](const Array &x) { return f(x, b); })) < 1e-7);
      CHECK(relErr(gb, numericGrad(b, g, [&](const Array &y) { return f(a, y); })) < 1e-7);
    }
}
