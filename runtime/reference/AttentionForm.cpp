#include "runtime/reference/AttentionForm.h"

#include <cmath>

namespace mixc::ref {

std::string runAttentionForm(const RecurrenceInputs &in, Array &o, int64_t pairs) {
  if (!in.q || !in.k || !in.v) return "operands 'q', 'k' and 'v' are required";
  const int64_t B = in.q->dim(0), T = in.q->dim(1), H = in.q->dim(2), K = in.q->dim(3), V = in.v->dim(3);
  const bool norm = in.normalizer != Normalizer::none, mlstm = in.normalizer == Normalizer::mlstm;
  const bool elementwise = in.structure == Structure::elementwise;
  const int64_t Vs = V + (norm ? 1 : 0);
  const int64_t W = elementwise ? V : 1; // width of a propagated key
  o = Array({B, T, H, V});
  const View Q(in.q), Kv(in.k), Vv(in.v), Decay(in.decay), Dt(in.dt), Av(in.a), Bv(in.b), Igate(in.igate),
      Bonus(in.bonus), SkipW(in.skipWeight), SkipX(in.skipInput), InitM(in.initM);
  if (pairs < 0) pairs = B * H;

  std::vector<double> x(K * W), num(T * V), den(T), tmp(W);
  for (int64_t pair = 0; pair < std::min(pairs, B * H); ++pair) {
    const int64_t b = pair / H, h = pair % H;
    auto q = [&](int64_t t, int64_t i) { return Q(b, t, h, i); };
    auto kk = [&](int64_t t, int64_t i) { return Kv(b, t, h, i); };
    auto vv = [&](int64_t t, int64_t j) { return j < V ? Vv(b, t, h, j) : 1.0; };
    // The diagonal factors of every A_t, exponentiated once per (batch, head).
    const int64_t F = in.structure == Structure::elementwise ? K * V
                      : (in.structure == Structure::vector || (in.structure == Structure::dplr && Decay && in.decay->rank() == 4)) ? K
                      : 1;
    std::vector<double> fac(T * F, 1.0);
    auto factor = [&](double x) { return in.decayIsFactor ? x : std::exp(x); };
    for (int64_t t = 0; t < T; ++t)
      for (int64_t f = 0; f < F; ++f) {
        switch (in.structure) {
        case Structure::identity: break;
        case Structure::const_scalar:
        case Structure::scalar: fac[t] = factor(Decay(b, t, h)); break;
        case Structure::vector: fac[t * F + f] = factor(Decay(b, t, h, f)); break;
        case Structure::elementwise:
          fac[t * F + f] = in.decayIsFactor ? Dt(b, t, h, f % V)
                                            : std::exp(Decay(0, 0, h, f / V, f % V) * (Dt ? Dt(b, t, h, f % V) : 1.0));
          break;
        case Structure::dplr:
          if (Decay) fac[t * F + f] = factor(F == K ? Decay(b, t, h, f) : Decay(b, t, h));
          break;
        }
      }
    // x <- A_t x, for x of K rows and W columns.
    auto apply = [&](int64_t t) {
      const double *d = &fac[t * F];
      switch (in.structure) {
      case Structure::identity: break;
      case Structure::const_scalar:
      case Structure::scalar:
        for (double &e : x) e *= d[0];
        break;
      case Structure::vector:
        for (int64_t i = 0; i < K; ++i) x[i] *= d[i];
        break;
      case Structure::elementwise:
        for (int64_t i = 0; i < K * V; ++i) x[i] *= d[i];
        break;
      case Structure::dplr: {
        double bx = 0;
        for (int64_t i = 0; i < K; ++i) bx += Bv(b, t, h, i) * x[i];
        for (int64_t i = 0; i < K; ++i) x[i] = d[F == K ? i : 0] * x[i] + Av(b, t, h, i) * bx;
        break;
      }
      }
    };
    // Adds q_t^T x (times v_s, or the column of ones) to token t.
    auto accumulate = [&](int64_t t, int64_t s, double sign) {
      for (int64_t j = 0; j < W; ++j) {
        double w = 0;
        for (int64_t i = 0; i < K; ++i) w += q(t, i) * x[i * W + j];
        tmp[j] = sign * w;
      }
      for (int64_t j = 0; j < V; ++j) num[t * V + j] += tmp[elementwise ? j : 0] * vv(s, j);
      if (norm) den[t] += tmp[0];
    };
    auto writeWeight = [&](int64_t s) { return mlstm ? std::exp(Igate(b, s, h)) : 1.0; };
    std::fill(num.begin(), num.end(), 0.0);
    std::fill(den.begin(), den.end(), 0.0);

    const bool fwd = in.direction != Direction::reverse, rev = in.direction != Direction::forward;
    for (int64_t s = 0; s < T; ++s) {
      auto seed = [&] {
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < W; ++j) x[i * W + j] = writeWeight(s) * kk(s, i);
      };
      if (fwd) {
        seed();
        // With a bonus, token t reads S_{t-1}: key s reaches t > s through A_{s+1..t-1}.
        int64_t first = in.bonus ? s + 1 : s;
        for (int64_t t = s; t < T; ++t) {
          if (t > s && !(in.bonus && t == s + 1)) apply(in.bonus ? t - 1 : t);
          if (t >= first) accumulate(t, s, 1.0);
        }
      }
      if (rev) {
        seed();
        int64_t first = in.bonus ? s - 1 : s;
        for (int64_t t = s; t >= 0; --t) {
          if (t < s && !(in.bonus && t == s - 1)) apply(in.bonus ? t + 1 : t);
          if (t <= first) accumulate(t, s, 1.0);
        }
      }
      if (fwd && rev) { // LION: the own token is in both scans
        seed();
        accumulate(s, s, -1.0);
      }
      if (in.bonus) {
        double w = 0;
        for (int64_t i = 0; i < K; ++i) w += q(s, i) * Bonus(0, 0, h, i) * kk(s, i);
        for (int64_t j = 0; j < V; ++j) num[s * V + j] += w * vv(s, j);
        if (norm) den[s] += w;
      }
    }
    if (in.init) {
      // The initial state, carried through every transition up to t.
      double m0 = in.initM ? std::exp(InitM(b, h)) : 1.0;
      for (int64_t c = 0; c < Vs; ++c) {
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < W; ++j) x[i * W + j] = m0 * in.init->data[((b * H + h) * K + i) * Vs + (elementwise ? j : c)];
        for (int64_t step = 0; step < T; ++step) {
          int64_t t = fwd ? step : T - 1 - step;
          if (!in.bonus) apply(t);
          double w = 0;
          for (int64_t i = 0; i < K; ++i) w += q(t, i) * x[i * W];
          if (elementwise) {
            for (int64_t j = 0; j < V; ++j) {
              double e = 0;
              for (int64_t i = 0; i < K; ++i) e += q(t, i) * x[i * W + j];
              num[t * V + j] += e;
            }
          } else if (c < V) {
            num[t * V + c] += w;
          } else {
            den[t] += w;
          }
          if (in.bonus) apply(t);
        }
        if (elementwise) break; // all columns carried at once
      }
    }
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < V; ++j) {
        double r = num[t * V + j];
        if (in.normalizer == Normalizer::sum) r /= den[t] + in.eps;
        if (in.normalizer == Normalizer::max_abs) r /= std::max(std::fabs(den[t]), in.eps);
        if (mlstm) r /= std::max(std::fabs(den[t]), 1.0);
        r *= in.scale;
        if (in.skipWeight) r += SkipW(0, 0, h, j) * SkipX(b, t, h, j);
        o.data[((b * T + t) * H + h) * V + j] = r;
      }
  }
  return "";
}

} // namespace mixc::ref
