// The float64 reference against closed forms, against its independent
// attention form, and against itself under state passing.
#include "runtime/reference/AttentionForm.h"
#include "runtime/reference/Recurrence.h"
#include "test/unit/RandomArrays.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <random>

using namespace mixc::ref;

namespace {

double relErr(const Array &got, const Array &want) {
  REQUIRE(got.shape == want.shape);
  double num = 0, den = 0;
  for (size_t i = 0; i < got.data.size(); ++i) {
    num += (got.data[i] - want.data[i]) * (got.data[i] - want.data[i]);
    den += want.data[i] * want.data[i];
  }
  return std::sqrt(num / den);
}

// Inputs for one structure, with realistic gates (log-decays < 0, never zero).
struct Problem {
  int64_t B, T, H, K, V;
  Array q, k, v, decay, dt, a, b, igate, bonus, skipW, skipX, init, initM;
  RecurrenceInputs in;

  Problem(Structure s, int64_t T, bool withInit, Normalizer norm = Normalizer::none, uint64_t seed = 1,
          int64_t B = 2, int64_t H = 3, int64_t K = 5, int64_t V = 4)
      : B(B), T(T), H(H), K(K), V(V) {
    std::mt19937_64 rng(seed);
    q = randn({B, T, H, K}, rng);
    k = randn({B, T, H, K}, rng, 0.5);
    v = randn({B, T, H, V}, rng);
    in.structure = s;
    in.normalizer = norm;
    in.q = &q, in.k = &k, in.v = &v;
    auto logDecay = [&](std::vector<int64_t> shape) {
      Array g = randn(std::move(shape), rng, 0.5, -1.0);
      for (double &x : g.data) x = -std::log1p(std::exp(-x)); // logsigmoid: < 0
      return g;
    };
    switch (s) {
    case Structure::identity: break;
    case Structure::const_scalar: decay = logDecay({1, 1, H}); in.decay = &decay; break;
    case Structure::scalar: decay = logDecay({B, T, H}); in.decay = &decay; break;
    case Structure::vector: decay = logDecay({B, T, H, K}); in.decay = &decay; break;
    case Structure::elementwise:
      decay = logDecay({1, 1, H, K, V});
      dt = randn({B, T, H, V}, rng, 0.3, 1.0);
      for (double &x : dt.data) x = std::log1p(std::exp(x)); // softplus: > 0
      in.decay = &decay, in.dt = &dt;
      break;
    case Structure::dplr: {
      // Gated DeltaNet: a = -alpha beta k, b = k with k normalized, beta in (0, 2).
      decay = logDecay({B, T, H});
      a = Array({B, T, H, K});
      b = Array({B, T, H, K});
      std::uniform_real_distribution<double> beta(0.05, 1.95);
      for (int64_t r = 0; r < B * T * H; ++r) {
        double n = 0;
        for (int64_t i = 0; i < K; ++i) n += k.data[r * K + i] * k.data[r * K + i];
        double bt = beta(rng), alpha = std::exp(decay.data[r]);
        for (int64_t i = 0; i < K; ++i) {
          b.data[r * K + i] = k.data[r * K + i] / std::sqrt(n);
          a.data[r * K + i] = -alpha * bt * b.data[r * K + i];
        }
      }
      in.decay = &decay, in.a = &a, in.b = &b;
      break;
    }
    }
    if (norm == Normalizer::mlstm) {
      igate = randn({B, T, H}, rng);
      in.igate = &igate;
    }
    if (norm == Normalizer::sum) {
      for (double &x : k.data) x = std::fabs(x) + 0.1; // positive features keep z^T q away from 0
      for (double &x : q.data) x = std::fabs(x) + 0.1;
      in.eps = 1e-6;
    }
    if (withInit) {
      int64_t Vs = V + (norm != Normalizer::none ? 1 : 0);
      init = randn({B, H, K, Vs}, rng, 0.5);
      if (norm == Normalizer::sum)
        for (int64_t i = V; i < init.size(); i += Vs) init.data[i] = std::fabs(init.data[i]) + 0.5;
      in.init = &init;
      if (norm == Normalizer::mlstm) {
        initM = randn({B, H}, rng, 0.5);
        in.initM = &initM;
      }
    }
    in.scale = 0.7;
  }
};

// The sub-problem of tokens [t0, t1): per-token operands sliced along T.
Array sliceT(const Array &x, int64_t t0, int64_t t1) {
  if (x.rank() < 3 || x.dim(1) == 1) return x;
  std::vector<int64_t> s = x.shape;
  s[1] = t1 - t0;
  Array out(s);
  int64_t inner = 1;
  for (size_t i = 2; i < s.size(); ++i) inner *= s[i];
  for (int64_t b = 0; b < s[0]; ++b)
    for (int64_t t = t0; t < t1; ++t)
      std::copy_n(&x.data[(b * x.dim(1) + t) * inner], inner, &out.data[(b * s[1] + t - t0) * inner]);
  return out;
}

const Structure kAll[] = {Structure::identity, Structure::const_scalar, Structure::scalar,
                          Structure::vector,   Structure::elementwise,  Structure::dplr};
const char *name(Structure s) {
  static const char *n[] = {"identity", "const_scalar", "scalar", "vector", "elementwise", "dplr"};
  return n[(int)s];
}

} // namespace

TEST_CASE("linear attention equals causally masked (Q K^T) V", "[reference]") {
  Problem p(Structure::identity, 37, false);
  p.in.scale = 1.0;
  RecurrenceOutputs out;
  REQUIRE(runRecurrence(p.in, out).empty());
  Array want({p.B, p.T, p.H, p.V});
  for (int64_t b = 0; b < p.B; ++b)
    for (int64_t h = 0; h < p.H; ++h)
      for (int64_t t = 0; t < p.T; ++t)
        for (int64_t s = 0; s <= t; ++s) {
          double qk = 0;
          for (int64_t i = 0; i < p.K; ++i) qk += p.q.at({b, t, h, i}) * p.k.at({b, s, h, i});
          for (int64_t j = 0; j < p.V; ++j) want.data[((b * p.T + t) * p.H + h) * p.V + j] += qk * p.v.at({b, s, h, j});
        }
  CHECK(relErr(out.o, want) < 1e-13);
}

TEST_CASE("RetNet equals its decay-masked parallel form", "[reference]") {
  Problem p(Structure::const_scalar, 41, false);
  // RetNet's gamma_h = 1 - 2^(-5-h).
  for (int64_t h = 0; h < p.H; ++h) p.decay.data[h] = std::log(1 - std::pow(2.0, -5.0 - h));
  RecurrenceOutputs out;
  REQUIRE(runRecurrence(p.in, out).empty());
  Array want({p.B, p.T, p.H, p.V});
  for (int64_t b = 0; b < p.B; ++b)
    for (int64_t h = 0; h < p.H; ++h) {
      double gamma = 1 - std::pow(2.0, -5.0 - h);
      for (int64_t t = 0; t < p.T; ++t)
        for (int64_t s = 0; s <= t; ++s) {
          double qk = 0;
          for (int64_t i = 0; i < p.K; ++i) qk += p.q.at({b, t, h, i}) * p.k.at({b, s, h, i});
          double w = p.in.scale * std::pow(gamma, (double)(t - s)) * qk;
          for (int64_t j = 0; j < p.V; ++j) want.data[((b * p.T + t) * p.H + h) * p.V + j] += w * p.v.at({b, s, h, j});
        }
    }
  CHECK(relErr(out.o, want) < 1e-13);
}

TEST_CASE("one DeltaNet step by hand", "[reference]") {
  // K = V = 2, k = (0.6, 0.8) (unit norm), beta = 0.5, v = (1, 2), q = (1, -1),
  // S0 = [[1, 0], [0, 2]].
  // (I - beta k k^T) = [[1 - 0.18, -0.24], [-0.24, 1 - 0.32]] = [[0.82, -0.24], [-0.24, 0.68]]
  // (I - beta k k^T) S0 = [[0.82, -0.48], [-0.24, 1.36]]
  // beta k v^T = [[0.3, 0.6], [0.4, 0.8]]
  // S1 = [[1.12, 0.12], [0.16, 2.16]];  o = S1^T q = (1.12 - 0.16, 0.12 - 2.16) = (0.96, -2.04)
  Array q({1, 1, 1, 2}), k({1, 1, 1, 2}), v({1, 1, 1, 2}), a({1, 1, 1, 2}), b({1, 1, 1, 2}), s0({1, 1, 2, 2});
  q.data = {1, -1};
  k.data = {0.3, 0.4}; // beta k, the written key
  v.data = {1, 2};
  b.data = {0.6, 0.8};
  a.data = {-0.3, -0.4}; // -beta k
  s0.data = {1, 0, 0, 2};
  RecurrenceInputs in;
  in.structure = Structure::dplr;
  in.q = &q, in.k = &k, in.v = &v, in.a = &a, in.b = &b, in.init = &s0;
  RecurrenceOutputs out;
  REQUIRE(runRecurrence(in, out).empty());
  std::vector<double> S1 = {1.12, 0.12, 0.16, 2.16}, o = {0.96, -2.04};
  for (int i = 0; i < 4; ++i) CHECK(out.finalState.data[i] == Approx(S1[i]).epsilon(1e-14));
  for (int i = 0; i < 2; ++i) CHECK(out.o.data[i] == Approx(o[i]).epsilon(1e-14));
}

TEST_CASE("the recurrence agrees with the attention form", "[reference]") {
  for (Structure s : kAll)
    for (int64_t T : {1, 2, 17, 64})
      for (bool withInit : {false, true}) {
        INFO(name(s) << " T=" << T << " init=" << withInit);
        Problem p(s, T, withInit);
        RecurrenceOutputs out;
        REQUIRE(runRecurrence(p.in, out).empty());
        Array o;
        REQUIRE(runAttentionForm(p.in, o).empty());
        CHECK(relErr(out.o, o) < 1e-12);
      }
}

TEST_CASE("normalizers, bonus, skip and directions agree with the attention form", "[reference]") {
  std::mt19937_64 rng(7);
  for (Structure s : {Structure::identity, Structure::scalar, Structure::vector, Structure::dplr})
    for (Direction dir : {Direction::forward, Direction::reverse, Direction::bidirectional})
      for (Normalizer norm : {Normalizer::none, Normalizer::sum, Normalizer::mlstm}) {
        if (norm == Normalizer::mlstm && (s != Structure::scalar || dir == Direction::bidirectional)) continue;
        for (bool withInit : {false, true}) {
          if (withInit && dir == Direction::bidirectional) continue;
          INFO(name(s) << " dir=" << (int)dir << " norm=" << (int)norm << " init=" << withInit);
          Problem p(s, 23, withInit, norm);
          p.in.direction = dir;
          Array bonus = randn({1, 1, p.H, p.K}, rng), sw = randn({1, 1, p.H, p.V}, rng);
          if (dir != Direction::bidirectional && norm == Normalizer::none) p.in.bonus = &bonus;
          p.in.skipWeight = &sw, p.in.skipInput = &p.v;
          RecurrenceOutputs out;
          REQUIRE(runRecurrence(p.in, out).empty());
          Array o;
          REQUIRE(runAttentionForm(p.in, o).empty());
          CHECK(relErr(out.o, o) < 1e-11);
        }
      }
}

TEST_CASE("passing the final state on equals one long run", "[reference]") {
  for (Structure s : kAll)
    for (Normalizer norm : {Normalizer::none, Normalizer::sum, Normalizer::mlstm}) {
      if (norm == Normalizer::mlstm && s != Structure::scalar) continue;
      if (norm != Normalizer::none && s == Structure::elementwise) continue;
      for (int64_t split : {1, 31, 63}) {
        INFO(name(s) << " norm=" << (int)norm << " split=" << split);
        Problem p(s, 64, true, norm);
        RecurrenceOutputs whole;
        REQUIRE(runRecurrence(p.in, whole).empty());
        // First part, then the rest from its final state.
        Array parts[2][6];
        RecurrenceOutputs out[2];
        for (int half = 0; half < 2; ++half) {
          int64_t t0 = half ? split : 0, t1 = half ? p.T : split;
          RecurrenceInputs in = p.in;
          const Array *src[6] = {p.in.q, p.in.k, p.in.v, p.in.decay, p.in.a, p.in.b};
          for (int i = 0; i < 6; ++i)
            if (src[i]) parts[half][i] = sliceT(*src[i], t0, t1);
          in.q = &parts[half][0], in.k = &parts[half][1], in.v = &parts[half][2];
          if (p.in.decay) in.decay = &parts[half][3];
          if (p.in.a) in.a = &parts[half][4], in.b = &parts[half][5];
          Array dt, ig;
          if (p.in.dt) dt = sliceT(*p.in.dt, t0, t1), in.dt = &dt;
          if (p.in.igate) ig = sliceT(*p.in.igate, t0, t1), in.igate = &ig;
          if (half) {
            in.init = &out[0].finalState;
            if (norm == Normalizer::mlstm) in.initM = &out[0].finalM;
          }
          REQUIRE(runRecurrence(in, out[half]).empty());
        }
        Array joined = whole.o;
        for (int64_t b = 0; b < p.B; ++b)
          for (int64_t t = 0; t < p.T; ++t) {
            const Array &src = t < split ? out[0].o : out[1].o;
            int64_t tt = t < split ? t : t - split, TT = t < split ? split : p.T - split;
            for (int64_t r = 0; r < p.H * p.V; ++r)
              joined.data[(b * p.T + t) * p.H * p.V + r] = src.data[(b * TT + tt) * p.H * p.V + r];
          }
        CHECK(relErr(joined, whole.o) < 1e-12);
        CHECK(relErr(out[1].finalState, whole.finalState) < 1e-12);
      }
    }
}

TEST_CASE("strong decays stay finite", "[reference]") {
  for (Structure s : kAll) {
    INFO(name(s));
    Problem p(s, 50, true);
    for (double &x : p.decay.data) x = -20.0;
    RecurrenceOutputs out;
    REQUIRE(runRecurrence(p.in, out).empty());
    for (double x : out.o.data) REQUIRE(std::isfinite(x));
    for (double x : out.finalState.data) REQUIRE(std::isfinite(x));
  }
}

TEST_CASE("negative eigenvalues: beta up to 2 keeps DeltaNet bounded", "[reference]") {
  Problem p(Structure::dplr, 500, true);
  // beta = 1.95 everywhere, alpha = 1: I - beta k k^T has eigenvalue -0.95 along k.
  for (int64_t r = 0; r < p.B * p.T * p.H; ++r)
    for (int64_t i = 0; i < p.K; ++i) p.a.data[r * p.K + i] = -1.95 * p.b.data[r * p.K + i];
  p.in.decay = nullptr;
  RecurrenceOutputs out;
  REQUIRE(runRecurrence(p.in, out).empty());
  Array o;
  REQUIRE(runAttentionForm(p.in, o).empty());
  CHECK(relErr(out.o, o) < 1e-10);
  double maxAbs = 0;
  for (double x : out.finalState.data) maxAbs = std::max(maxAbs, std::fabs(x));
  CHECK(maxAbs < 1e3);
}

TEST_CASE("a wrong shape is an error naming the operand", "[reference]") {
  Problem p(Structure::scalar, 8, true);
  Array bad({p.B, p.H, p.K, p.V + 1});
  p.in.init = &bad;
  RecurrenceOutputs out;
  std::string e = runRecurrence(p.in, out);
  CHECK(e.find("operand 'init' has shape [2, 3, 5, 5]") != std::string::npos);
  Array v3({p.B, p.T, p.H});
  p.in.init = nullptr;
  p.in.v = &v3;
  CHECK(runRecurrence(p.in, out).find("operand 'v'") != std::string::npos);
}
