// The float64 backward of the recurrence against central finite differences
// of the forward, for every structure, every direction, with and without an
// initial state, decays as logs and as factors (negative eigenvalues
// included), strong decays, RWKV-6's bonus, the skip and the sum and floored
// normalizers, at T = 1, odd T and several tokens.
#include "runtime/reference/RecurrenceGrad.h"
#include "test/unit/RandomArrays.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <random>

using namespace mixc::ref;

namespace {

struct Case {
  Structure structure;
  Direction direction = Direction::forward;
  bool init = false, factor = false, bonus = false, skip = false, strong = false;
  Normalizer normalizer = Normalizer::none;
  int dplrDiag = 0; // dplr: 0 none, 1 scalar, 2 vector
  int64_t T = 5;
};

// L = <dO, o> + <dF, final state>: the loss whose gradient runRecurrenceGrad computes.
double loss(const RecurrenceInputs &in, const Array &dO, const Array &dF) {
  RecurrenceOutputs out;
  REQUIRE(runRecurrence(in, out).empty());
  double l = 0;
  for (size_t i = 0; i < out.o.data.size(); ++i) l += dO.data[i] * out.o.data[i];
  for (size_t i = 0; i < out.finalState.data.size(); ++i) l += dF.data[i] * out.finalState.data[i];
  return l;
}

void check(const Case &c, uint64_t seed) {
  const int64_t B = 2, T = c.T, H = 2, K = 3, V = 4;
  std::mt19937_64 rng(seed);
  Array q = randn({B, T, H, K}, rng), k = randn({B, T, H, K}, rng, 0.5), v = randn({B, T, H, V}, rng);
  Array decay, dt, a, b, bonus, skipW, skipX, init, igate, initM;
  RecurrenceInputs in;
  in.structure = c.structure;
  in.direction = c.direction;
  in.scale = 0.7;
  in.q = &q, in.k = &k, in.v = &v;
  in.decayIsFactor = c.factor;
  in.normalizer = c.normalizer;
  // A sum normalizer divides by z^T q: positive features (elu + 1 in practice)
  // keep it away from zero, where differences would not converge.
  if (c.normalizer == Normalizer::sum)
    for (Array *x : {&q, &k})
      for (double &e : x->data) e = std::fabs(e) + 0.1;
  in.eps = c.normalizer == Normalizer::max_abs ? 0.5 : c.normalizer == Normalizer::sum ? 1e-3 : 0.0;
  const int64_t Vs = V + (c.normalizer != Normalizer::none ? 1 : 0);
  // Realistic gates: log-decays in (-3, -0.05) (strong: down to -12), factors
  // in (-0.95, 0.95) (negative eigenvalues), never zero.
  auto gate = [&](std::vector<int64_t> shape) {
    if (c.factor) {
      Array f = uniform(std::move(shape), rng, 0.2, 0.95);
      std::bernoulli_distribution neg(0.3);
      for (double &x : f.data) x = neg(rng) ? -x : x;
      return f;
    }
    return uniform(std::move(shape), rng, c.strong ? -12.0 : -3.0, -0.05);
  };
  switch (c.structure) {
  case Structure::identity: break;
  case Structure::const_scalar: decay = uniform({1, 1, H}, rng, -1.0, -0.05); in.decay = &decay; break;
  case Structure::scalar: decay = gate({B, T, H}); in.decay = &decay; break;
  case Structure::vector: decay = gate({B, T, H, K}); in.decay = &decay; break;
  case Structure::elementwise:
    if (c.factor) {
      dt = gate({B, T, H, V});
    } else {
      decay = uniform({1, 1, H, K, V}, rng, -2.0, -0.1);
      in.decay = &decay;
      dt = uniform({B, T, H, V}, rng, 0.1, 1.5);
    }
    in.dt = &dt;
    break;
  case Structure::dplr: {
    // A delta rule's A = D (I - beta k k^T) with beta in (0, 2) (negative
    // eigenvalues): a = -D beta kn, b = kn, kn the normalized key.
    b = randn({B, T, H, K}, rng);
    for (int64_t r = 0; r < B * T * H; ++r) {
      double n = 0;
      for (int64_t i = 0; i < K; ++i) n += b.data[r * K + i] * b.data[r * K + i];
      for (int64_t i = 0; i < K; ++i) b.data[r * K + i] /= std::sqrt(n);
    }
    Array beta = uniform({B, T, H}, rng, 0.1, 1.9);
    a = b;
    for (int64_t r = 0; r < B * T * H; ++r)
      for (int64_t i = 0; i < K; ++i) a.data[r * K + i] *= -beta.data[r];
    in.a = &a, in.b = &b;
    if (c.dplrDiag == 1) decay = gate({B, T, H}), in.decay = &decay;
    if (c.dplrDiag == 2) decay = gate({B, T, H, K}), in.decay = &decay;
    break;
  }
  }
  if (c.bonus) bonus = randn({1, 1, H, K}, rng), in.bonus = &bonus;
  if (c.skip) skipW = randn({1, 1, H, V}, rng), skipX = randn({B, T, H, V}, rng), in.skipWeight = &skipW, in.skipInput = &skipX;
  if (c.init) init = randn({B, H, K, Vs}, rng), in.init = &init;
  if (c.normalizer == Normalizer::mlstm) {
    igate = randn({B, T, H}, rng), in.igate = &igate;
    if (c.init) initM = randn({B, H}, rng, 0.5), in.initM = &initM;
  }
  Array dO = randn({B, T, H, V}, rng), dF = randn({B, H, K, Vs}, rng);

  RecurrenceGrads g;
  REQUIRE(runRecurrenceGrad(in, &dO, &dF, g).empty());
  // Every element of every operand: central differences, step 1e-6.
  auto against = [&](const char *name, Array *x, const Array &grad) {
    if (!x) return;
    INFO("operand " << name);
    REQUIRE(grad.shape == x->shape);
    double num = 0, den = 0;
    for (size_t e = 0; e < x->data.size(); ++e) {
      const double keep = x->data[e], step = 1e-6 * std::max(1.0, std::fabs(keep));
      x->data[e] = keep + step;
      const double up = loss(in, dO, dF);
      x->data[e] = keep - step;
      const double down = loss(in, dO, dF);
      x->data[e] = keep;
      const double fd = (up - down) / (2 * step);
      num += (grad.data[e] - fd) * (grad.data[e] - fd);
      den += fd * fd;
    }
    // Relative L2 over the operand (float64: differences of order 1e-9).
    CHECK(std::sqrt(num / std::max(den, 1e-300)) < 1e-6);
  };
  against("q", &q, g.q);
  against("k", &k, g.k);
  against("v", &v, g.v);
  against("decay", in.decay ? &decay : nullptr, g.decay);
  against("dt", in.dt ? &dt : nullptr, g.dt);
  against("a", in.a ? &a : nullptr, g.a);
  against("b", in.b ? &b : nullptr, g.b);
  against("bonus", in.bonus ? &bonus : nullptr, g.bonus);
  against("skip weight", in.skipWeight ? &skipW : nullptr, g.skipWeight);
  against("skip input", in.skipInput ? &skipX : nullptr, g.skipInput);
  against("init", in.init ? &init : nullptr, g.init);
  against("igate", in.igate ? &igate : nullptr, g.igate);
  against("init_m", in.initM ? &initM : nullptr, g.initM);
}

} // namespace

TEST_CASE("the float64 backward matches central finite differences", "[reference][grad]") {
  std::vector<Case> cases;
  for (Structure s : {Structure::identity, Structure::const_scalar, Structure::scalar, Structure::vector,
                      Structure::elementwise, Structure::dplr})
    for (int64_t T : {1, 4, 7})
      for (bool init : {false, true}) {
        Case c{s};
        c.T = T, c.init = init;
        c.direction = T == 4 ? Direction::reverse : Direction::forward;
        cases.push_back(c);
        if (s == Structure::scalar || s == Structure::vector || s == Structure::elementwise) {
          c.factor = true; // negative eigenvalues
          cases.push_back(c);
          c.factor = false, c.strong = true;
          cases.push_back(c);
        }
        if (s == Structure::dplr) {
          c.dplrDiag = 1;
          cases.push_back(c);
          c.factor = true;
          cases.push_back(c);
          c.factor = false, c.dplrDiag = 2;
          cases.push_back(c);
        }
      }
  Case rwkv6{Structure::vector};
  rwkv6.bonus = true, rwkv6.init = true, rwkv6.T = 6;
  cases.push_back(rwkv6);
  Case mamba2{Structure::scalar};
  mamba2.skip = true, mamba2.T = 5;
  cases.push_back(mamba2);
  // Normalizers (the sum and the floored one; RWKV-6's bonus reads the
  // normalizer too) and bidirectional scans (LION's correction), with or
  // without a normalizer.
  for (Normalizer n : {Normalizer::sum, Normalizer::max_abs})
    for (Structure s : {Structure::identity, Structure::scalar, Structure::vector, Structure::dplr}) {
      Case c{s};
      c.normalizer = n, c.T = 7, c.init = true, c.dplrDiag = s == Structure::dplr ? 1 : 0;
      cases.push_back(c);
      c.init = false, c.direction = Direction::bidirectional;
      cases.push_back(c);
    }
  // mLSTM: the stabilizer's max and exp, the floored readout max(|den|, exp(-m)).
  for (Structure s : {Structure::scalar, Structure::const_scalar})
    for (int64_t T : {1, 7})
      for (bool init : {false, true}) {
        Case c{s};
        c.normalizer = Normalizer::mlstm, c.T = T, c.init = init;
        c.direction = init && T == 7 ? Direction::reverse : Direction::forward;
        cases.push_back(c);
      }
  Case bonusNorm{Structure::vector};
  bonusNorm.bonus = true, bonusNorm.normalizer = Normalizer::sum, bonusNorm.T = 5;
  cases.push_back(bonusNorm);
  for (Structure s : {Structure::vector, Structure::elementwise}) {
    Case c{s};
    c.direction = Direction::bidirectional, c.T = 6;
    cases.push_back(c);
  }
  uint64_t seed = 1;
  for (const Case &c : cases) {
    INFO("structure " << nameOf(c.structure) << ", normalizer " << nameOf(c.normalizer) << ", T = " << c.T
                      << (c.init ? ", init" : "")
                      << (c.factor ? ", factor decays" : "") << (c.strong ? ", strong decays" : "")
                      << (c.bonus ? ", bonus" : "") << (c.skip ? ", skip" : "") << ", dplr diagonal " << c.dplrDiag
                      << ", " << nameOf(c.direction));
    check(c, seed++);
  }
}

TEST_CASE("the float64 backward names what it does not cover", "[reference][grad]") {
  std::mt19937_64 rng(3);
  Array q = randn({1, 2, 1, 2}, rng), v = randn({1, 2, 1, 2}, rng), f = randn({1, 2, 1}, rng);
  RecurrenceInputs in;
  in.q = &q, in.k = &q, in.v = &v;
  in.structure = Structure::identity;
  in.igate = &f;
  in.normalizer = Normalizer::mlstm;
  RecurrenceGrads g;
  CHECK(runRecurrenceGrad(in, nullptr, nullptr, g) ==
        "the float64 backward covers normalizer mlstm with a scalar transition only");
}
