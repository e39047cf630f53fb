#include "runtime/reference/Recurrence.h"

#include <algorithm>
#include <cmath>

namespace mixc::ref {
namespace {

std::string checkRank(const Array *x, const char *name, int64_t rank) {
  if (x && x->rank() != rank)
    return std::string("operand '") + name + "' has shape " + x->shapeString() + ", expected rank " +
           std::to_string(rank);
  return "";
}


} // namespace

std::string runRecurrence(const RecurrenceInputs &in, RecurrenceOutputs &out) {
  if (!in.q || !in.k || !in.v) return "operands 'q', 'k' and 'v' are required";
  struct RankCheck {
    const Array *x;
    const char *name;
    int64_t rank;
  };
  for (auto [x, name, rank] : {RankCheck{in.q, "q", 4}, {in.k, "k", 4}, {in.v, "v", 4}, {in.a, "a", 4},
                               {in.b, "b", 4}, {in.dt, "dt", 4}, {in.igate, "igate", 3},
                               {in.skipInput, "skip_input", 4}, {in.init, "init", 4}, {in.initM, "init_m", 2}})
    if (std::string e = checkRank(x, name, rank); !e.empty()) return e;
  const int64_t B = in.q->dim(0), T = in.q->dim(1), H = in.q->dim(2), K = in.q->dim(3), V = in.v->dim(3);
  if (in.k->shape != in.q->shape) return "operand 'k' has shape " + in.k->shapeString() + ", expected " + in.q->shapeString();
  if (in.v->dim(0) != B || in.v->dim(1) != T || in.v->dim(2) != H)
    return "operand 'v' has shape " + in.v->shapeString() + ", expected [B, T, H, V] with B, T, H of q";
  const bool norm = in.normalizer != Normalizer::none;
  const bool mlstm = in.normalizer == Normalizer::mlstm;
  const int64_t Vs = V + (norm ? 1 : 0);
  if (in.init && in.init->shape != std::vector<int64_t>{B, H, K, Vs})
    return "operand 'init' has shape " + in.init->shapeString() + ", expected [" + std::to_string(B) + ", " +
           std::to_string(H) + ", " + std::to_string(K) + ", " + std::to_string(Vs) + "]";
  const bool needDecay = in.structure != Structure::identity && in.structure != Structure::dplr &&
                         !(in.structure == Structure::elementwise && in.decayIsFactor);
  if (in.structure == Structure::elementwise && in.decayIsFactor && !in.dt)
    return "an elementwise factor decay needs operand 'dt' (the factor)";
  if (needDecay && !in.decay) return "structure needs operand 'decay'";
  if (in.structure == Structure::dplr && (!in.a || !in.b)) return "structure dplr needs operands 'a' and 'b'";
  if (mlstm && !in.igate) return "normalizer mlstm needs operand 'igate'";
  if (norm && in.structure == Structure::elementwise) return "a normalizer is not defined for an elementwise decay";
  if (in.direction == Direction::bidirectional && (in.init || in.bonus || mlstm))
    return "a bidirectional recurrence takes no initial state, bonus or mLSTM normalizer";

  out.o = Array({B, T, H, V});
  const View Q(in.q), Kv(in.k), Vv(in.v), Decay(in.decay), Dt(in.dt), Av(in.a), Bv(in.b), Igate(in.igate),
      Bonus(in.bonus), SkipW(in.skipWeight), SkipX(in.skipInput), InitM(in.initM);
  out.finalState = Array({B, H, K, Vs});
  out.finalM = Array(mlstm ? std::vector<int64_t>{B, H} : std::vector<int64_t>{});

  std::vector<double> num(T * V), den(T), numR(T * V), denR(T);
  std::vector<double> S(K * Vs), w(Vs), kv(K), vv(Vs), qv(K);

  // Runs one direction, writing the readout numerator and denominator per token.
  auto scan = [&](int64_t b, int64_t h, bool reverse, std::vector<double> &nm, std::vector<double> &dn,
                  bool keepFinal) {
    std::fill(S.begin(), S.end(), 0.0);
    double m = 0;
    // The initial state belongs to the primary scan (bidirectional has none).
    if (in.init && keepFinal)
      for (int64_t i = 0; i < K * Vs; ++i) S[i] = in.init->data[((b * H + h) * K) * Vs + i];
    if (in.initM) m = InitM(b, h);
    for (int64_t step = 0; step < T; ++step) {
      int64_t t = reverse ? T - 1 - step : step;
      for (int64_t i = 0; i < K; ++i) {
        kv[i] = Kv(b, t, h, i);
        qv[i] = Q(b, t, h, i);
      }
      for (int64_t j = 0; j < V; ++j) vv[j] = Vv(b, t, h, j);
      if (norm) vv[V] = 1.0;

      auto readout = [&]() {
        for (int64_t j = 0; j < V; ++j) {
          double s = 0;
          for (int64_t i = 0; i < K; ++i) s += S[i * Vs + j] * qv[i];
          nm[t * V + j] = s;
        }
        if (norm) {
          double s = 0;
          for (int64_t i = 0; i < K; ++i) s += S[i * Vs + V] * qv[i];
          dn[t] = s;
        }
      };
      if (in.bonus) {
        // RWKV-6: o_t reads S_{t-1} plus the current token's write weighted by u.
        readout();
        double qu = 0;
        for (int64_t i = 0; i < K; ++i) qu += qv[i] * Bonus(0, 0, h, i) * kv[i];
        for (int64_t j = 0; j < V; ++j) nm[t * V + j] += qu * vv[j];
        if (norm) dn[t] += qu;
      }

      // Transition: S <- A_t S.
      double writeScale = 1.0;
      switch (in.structure) {
      case Structure::identity: break;
      case Structure::const_scalar:
      case Structure::scalar: {
        double g = Decay(b, t, h);
        if (mlstm) {
          double ig = Igate(b, t, h);
          double mNew = std::max(g + m, ig);
          double f = std::exp(g + m - mNew);
          for (double &s : S) s *= f;
          writeScale = std::exp(ig - mNew);
          m = mNew;
        } else {
          double f = in.decayIsFactor ? g : std::exp(g);
          for (double &s : S) s *= f;
        }
        break;
      }
      case Structure::vector:
        for (int64_t i = 0; i < K; ++i) {
          double f = in.decayIsFactor ? Decay(b, t, h, i) : std::exp(Decay(b, t, h, i));
          for (int64_t j = 0; j < Vs; ++j) S[i * Vs + j] *= f;
        }
        break;
      case Structure::elementwise:
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < Vs; ++j) {
            double dtv = in.dt ? Dt(b, t, h, j) : 1.0;
            S[i * Vs + j] *= in.decayIsFactor ? dtv : std::exp(Decay(0, 0, h, i, j) * dtv);
          }
        break;
      case Structure::dplr: {
        // S <- D S + a (b^T S)
        std::fill(w.begin(), w.end(), 0.0);
        for (int64_t i = 0; i < K; ++i) {
          double bi = Bv(b, t, h, i);
          for (int64_t j = 0; j < Vs; ++j) w[j] += bi * S[i * Vs + j];
        }
        for (int64_t i = 0; i < K; ++i) {
          double d = 1.0;
          if (in.decay) {
            d = in.decay->rank() == 3 ? Decay(b, t, h) : Decay(b, t, h, i);
            if (!in.decayIsFactor) d = std::exp(d);
          }
          double ai = Av(b, t, h, i);
          for (int64_t j = 0; j < Vs; ++j) S[i * Vs + j] = d * S[i * Vs + j] + ai * w[j];
        }
        break;
      }
      }
      // Write: S += k v^T.
      for (int64_t i = 0; i < K; ++i)
        for (int64_t j = 0; j < Vs; ++j) S[i * Vs + j] += writeScale * kv[i] * vv[j];
      if (!in.bonus) readout();
      if (mlstm) {
        // Scale-invariant form: S and n are kept relative to exp(m).
        double d = std::max(std::fabs(dn[t]), std::exp(-m));
        for (int64_t j = 0; j < V; ++j) nm[t * V + j] /= d;
        dn[t] = 0;
      }
    }
    if (keepFinal) {
      for (int64_t i = 0; i < K * Vs; ++i) out.finalState.data[((b * H + h) * K) * Vs + i] = S[i];
      if (mlstm) out.finalM.data[b * H + h] = m;
    }
  };

  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      bool bidir = in.direction == Direction::bidirectional;
      scan(b, h, in.direction == Direction::reverse, num, den, true);
      if (bidir) {
        scan(b, h, true, numR, denR, false);
        // LION: the token's own write is in both scans; count it once.
        for (int64_t t = 0; t < T; ++t) {
          double qk = 0;
          for (int64_t i = 0; i < K; ++i) qk += Q(b, t, h, i) * Kv(b, t, h, i);
          for (int64_t j = 0; j < V; ++j) num[t * V + j] += numR[t * V + j] - qk * Vv(b, t, h, j);
          den[t] += denR[t] - qk;
        }
      }
      for (int64_t t = 0; t < T; ++t)
        for (int64_t j = 0; j < V; ++j) {
          double o = num[t * V + j];
          if (in.normalizer == Normalizer::sum) o /= den[t] + in.eps;
          if (in.normalizer == Normalizer::max_abs) o /= std::max(std::fabs(den[t]), in.eps);
          o *= in.scale;
          if (in.skipWeight) o += SkipW(0, 0, h, j) * SkipX(b, t, h, j);
          out.o.data[((b * T + t) * H + h) * V + j] = o;
        }
    }
  return "";
}

} // namespace mixc::ref
