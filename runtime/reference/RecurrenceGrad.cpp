#include "runtime/reference/RecurrenceGrad.h"

#include <cmath>

namespace mixc::ref {

namespace {
// Broadcasting accumulation into a gradient shaped like its operand: the
// strides of View, so that a size-1 dimension sums what it broadcast over.
struct GradView {
  double *p = nullptr;
  int64_t st[5] = {0, 0, 0, 0, 0};
  GradView() = default;
  GradView(const Array *operand, Array &grad) {
    if (!operand) return;
    grad = Array(operand->shape);
    p = grad.data.data();
    int64_t s = 1;
    for (int64_t i = std::min<int64_t>(operand->rank(), 5) - 1; i >= 0; --i) {
      st[i] = operand->shape[i] == 1 ? 0 : s;
      s *= operand->shape[i];
    }
  }
  void add(double x, int64_t i0, int64_t i1 = 0, int64_t i2 = 0, int64_t i3 = 0, int64_t i4 = 0) const {
    p[i0 * st[0] + i1 * st[1] + i2 * st[2] + i3 * st[3] + i4 * st[4]] += x;
  }
};

// One token's place in the operands, the read and write adjoints of both
// backward passes work on: the K x Vs state, value columns past V ones (a
// normalizer's z).
struct Token {
  int64_t b, t, h, K, V, Vs;
  double value(const View &Vv, int64_t j) const { return j < V ? Vv(b, t, h, j) : 1.0; }
};

// The read R^T q_t of a state R, whose columns have the gradients gRead(j):
// dq_t = R gRead into dQ, q_t gRead^T into dR.
template <typename G>
void readBackward(const Token &x, const double *R, double *dR, G gRead, const View &Q, const GradView &dQ) {
  for (int64_t i = 0; i < x.K; ++i) {
    double dq = 0;
    for (int64_t j = 0; j < x.Vs; ++j) {
      dq += R[i * x.Vs + j] * gRead(j);
      dR[i * x.Vs + j] += Q(x.b, x.t, x.h, i) * gRead(j);
    }
    dQ.add(dq, x.b, x.t, x.h, i);
  }
}

// The write w k_t [v_t, 1]^T into a state with gradient dS: w dS [v, 1] into
// dK and w dS^T k into dV; returns k^T dS [v, 1], the gradient of w.
double writeBackward(const Token &x, const double *dS, double w, const View &Kv, const View &Vv, const GradView &dK,
                     const GradView &dV) {
  double dw = 0;
  for (int64_t i = 0; i < x.K; ++i) {
    double dk = 0;
    for (int64_t j = 0; j < x.Vs; ++j) dk += dS[i * x.Vs + j] * x.value(Vv, j);
    dw += dk * Kv(x.b, x.t, x.h, i);
    dK.add(w * dk, x.b, x.t, x.h, i);
  }
  for (int64_t j = 0; j < x.V; ++j) {
    double dv = 0;
    for (int64_t i = 0; i < x.K; ++i) dv += dS[i * x.Vs + j] * Kv(x.b, x.t, x.h, i);
    dV.add(w * dv, x.b, x.t, x.h, j);
  }
  return dw;
}
} // namespace

// mLSTM (scalar transitions): m_t = max(g_t + m_{t-1}, i_t), f_t = exp(g_t +
// m_{t-1} - m_t), w_t = exp(i_t - m_t), S_t = f_t S_{t-1} + w_t k_t [v_t, 1]^T,
// o_t = scale num_t / max(|den_t|, exp(-m_t)). The adjoint carries dm_t beside
// dS_t; a max passes its gradient to the larger argument.
static std::string mlstmGrad(const RecurrenceInputs &in, const Array *dO, const Array *dFinal, RecurrenceGrads &g) {
  if (in.structure != Structure::scalar && in.structure != Structure::const_scalar)
    return "the float64 backward covers normalizer mlstm with a scalar transition only";
  if (in.bonus || in.skipWeight || in.direction == Direction::bidirectional)
    return "the float64 backward does not cover normalizer mlstm with a bonus, a skip or two directions yet";
  const int64_t B = in.q->dim(0), T = in.q->dim(1), H = in.q->dim(2), K = in.q->dim(3), V = in.v->dim(3), Vs = V + 1;
  const View Q(in.q), Kv(in.k), Vv(in.v), Decay(in.decay), Igate(in.igate), InitM(in.initM), DO(dO);
  const GradView dQ(in.q, g.q), dK(in.k, g.k), dV(in.v, g.v), dDecay(in.decay, g.decay), dIgate(in.igate, g.igate),
      dInit(in.init, g.init), dInitM(in.initM, g.initM);
  std::vector<double> states((T + 1) * K * Vs), ms(T + 1), dS(K * Vs), num(V), dRead(Vs);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      auto tokenAt = [&](int64_t step) { return in.direction == Direction::reverse ? T - 1 - step : step; };
      for (int64_t e = 0; e < K * Vs; ++e) states[e] = in.init ? in.init->data[(b * H + h) * K * Vs + e] : 0.0;
      ms[0] = in.initM ? InitM(b, h) : 0.0;
      for (int64_t step = 0; step < T; ++step) {
        const int64_t t = tokenAt(step);
        const double gt = Decay(b, t, h), it = Igate(b, t, h);
        const double m = std::max(gt + ms[step], it), f = std::exp(gt + ms[step] - m), w = std::exp(it - m);
        ms[step + 1] = m;
        const double *P = states.data() + step * K * Vs;
        double *N = states.data() + (step + 1) * K * Vs;
        const Token x{b, t, h, K, V, Vs};
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < Vs; ++j) N[i * Vs + j] = f * P[i * Vs + j] + w * Kv(b, t, h, i) * x.value(Vv, j);
      }
      for (int64_t e = 0; e < K * Vs; ++e) dS[e] = dFinal ? dFinal->data[(b * H + h) * K * Vs + e] : 0.0;
      double dm = 0; // the gradient of the stabilizer after `step`
      for (int64_t step = T - 1; step >= 0; --step) {
        const int64_t t = tokenAt(step);
        const double *P = states.data() + step * K * Vs, *N = P + K * Vs;
        const double gt = Decay(b, t, h), it = Igate(b, t, h), mPrev = ms[step], m = ms[step + 1];
        const double f = std::exp(gt + mPrev - m), w = std::exp(it - m);
        const Token x{b, t, h, K, V, Vs};
        // The readout: n = max(|den|, exp(-m)).
        if (dO) {
          double den = 0;
          for (int64_t i = 0; i < K; ++i) den += N[i * Vs + V] * Q(b, t, h, i);
          for (int64_t j = 0; j < V; ++j) {
            num[j] = 0;
            for (int64_t i = 0; i < K; ++i) num[j] += N[i * Vs + j] * Q(b, t, h, i);
          }
          const bool floor = std::exp(-m) > std::fabs(den);
          const double n = floor ? std::exp(-m) : std::fabs(den);
          double dn = 0; // the gradient of n
          std::fill(dRead.begin(), dRead.end(), 0.0);
          for (int64_t j = 0; j < V; ++j) {
            const double go = DO(b, t, h, j);
            dRead[j] = in.scale * go / n;
            dn -= in.scale * go * num[j] / (n * n);
          }
          if (floor) dm -= dn * n; // d exp(-m) / dm = -exp(-m)
          else dRead[V] = dn * (den > 0 ? 1.0 : -1.0);
          readBackward(x, N, dS.data(), [&](int64_t j) { return dRead[j]; }, Q, dQ);
        }
        // The update S_t = f S_{t-1} + w k [v, 1]^T.
        const double dw = writeBackward(x, dS.data(), w, Kv, Vv, dK, dV);
        double df = 0;
        for (int64_t e = 0; e < K * Vs; ++e) df += dS[e] * P[e];
        for (double &e : dS) e *= f;
        // f = exp(g + mPrev - m), w = exp(i - m), m = max(g + mPrev, i).
        double dg = df * f, dmPrev = df * f, di = dw * w;
        dm -= df * f + dw * w;
        if (gt + mPrev >= it) dg += dm, dmPrev += dm;
        else di += dm;
        dDecay.add(dg, b, t, h);
        dIgate.add(di, b, t, h);
        dm = dmPrev;
      }
      if (in.init)
        for (int64_t e = 0; e < K * Vs; ++e) dInit.add(dS[e], b, h, e / Vs, e % Vs);
      if (in.initM) dInitM.add(dm, b, h);
    }
  return "";
}

std::string runRecurrenceGrad(const RecurrenceInputs &in, const Array *dO, const Array *dFinal, RecurrenceGrads &g) {
  // The forward pass checks the operands and gives the shapes.
  RecurrenceOutputs fwd;
  if (std::string e = runRecurrence(in, fwd); !e.empty()) return e;
  const int64_t B = in.q->dim(0), T = in.q->dim(1), H = in.q->dim(2), K = in.q->dim(3), V = in.v->dim(3);
  if (dO && dO->shape != fwd.o.shape) return "the upstream gradient of o has shape " + dO->shapeString();
  if (dFinal && dFinal->shape != fwd.finalState.shape)
    return "the upstream gradient of the final state has shape " + dFinal->shapeString();
  if (in.normalizer == Normalizer::mlstm) return mlstmGrad(in, dO, dFinal, g);
  // A normalizer's z is state column V, written with 1 (v extended by a one).
  const bool norm = in.normalizer != Normalizer::none, bidir = in.direction == Direction::bidirectional;
  const int64_t Vs = V + (norm ? 1 : 0);

  const View Q(in.q), Kv(in.k), Vv(in.v), Decay(in.decay), Dt(in.dt), Av(in.a), Bv(in.b), Bonus(in.bonus),
      SkipW(in.skipWeight), SkipX(in.skipInput), DO(dO);
  const GradView dQ(in.q, g.q), dK(in.k, g.k), dV(in.v, g.v), dDecay(in.decay, g.decay), dDt(in.dt, g.dt),
      dA(in.a, g.a), dB(in.b, g.b), dBonus(in.bonus, g.bonus), dSkipW(in.skipWeight, g.skipWeight),
      dSkipX(in.skipInput, g.skipInput), dInit(in.init, g.init);
  const Structure s = in.structure;
  const bool factor = in.decayIsFactor;
  const double scale = in.scale;

  // Per direction: the states after every token, S_0 (the initial state) first.
  std::vector<double> states[2], num(T * V), den(T), dNum(T * V), dDen(T);
  for (auto &st : states) st.resize((T + 1) * K * Vs);
  std::vector<double> dS(K * Vs), dPrev(K * Vs), w(Vs), u(Vs);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      auto valueAt = [&](int64_t t, int64_t j) { return j < V ? Vv(b, t, h, j) : 1.0; };
      // The diagonal of A_t at key i and value column j (dplr: D).
      auto diagonal = [&](int64_t t, int64_t i, int64_t j) {
        switch (s) {
        case Structure::identity: return 1.0;
        case Structure::const_scalar:
        case Structure::scalar: return factor ? Decay(b, t, h) : std::exp(Decay(b, t, h));
        case Structure::vector: return factor ? Decay(b, t, h, i) : std::exp(Decay(b, t, h, i));
        case Structure::elementwise: {
          const double dtv = in.dt ? Dt(b, t, h, j) : 1.0;
          return factor ? dtv : std::exp(Decay(0, 0, h, i, j) * dtv);
        }
        case Structure::dplr: {
          if (!in.decay) return 1.0;
          const double d = in.decay->rank() == 3 ? Decay(b, t, h) : Decay(b, t, h, i);
          return factor ? d : std::exp(d);
        }
        }
        return 1.0;
      };
      auto qu = [&](int64_t t) { // the bonus read q . u . k
        double x = 0;
        for (int64_t i = 0; i < K; ++i) x += Q(b, t, h, i) * Bonus(0, 0, h, i) * Kv(b, t, h, i);
        return x;
      };
      // Direction d: 0 the primary scan (forward, or reverse), 1 a
      // bidirectional scan's reverse one (no initial state).
      auto reversed = [&](int d) { return d == 1 || in.direction == Direction::reverse; };
      auto tokenAt = [&](int d, int64_t step) { return reversed(d) ? T - 1 - step : step; };
      std::fill(num.begin(), num.end(), 0.0);
      std::fill(den.begin(), den.end(), 0.0);
      for (int d = 0; d < (bidir ? 2 : 1); ++d) {
        double *S0 = states[d].data();
        for (int64_t e = 0; e < K * Vs; ++e) S0[e] = in.init && d == 0 ? in.init->data[(b * H + h) * K * Vs + e] : 0.0;
        for (int64_t step = 0; step < T; ++step) {
          const int64_t t = tokenAt(d, step);
          const double *P = states[d].data() + step * K * Vs;
          double *N = states[d].data() + (step + 1) * K * Vs;
          if (s == Structure::dplr)
            for (int64_t j = 0; j < Vs; ++j) {
              w[j] = 0;
              for (int64_t i = 0; i < K; ++i) w[j] += Bv(b, t, h, i) * P[i * Vs + j];
            }
          for (int64_t i = 0; i < K; ++i)
            for (int64_t j = 0; j < Vs; ++j) {
              double x = diagonal(t, i, j) * P[i * Vs + j];
              if (s == Structure::dplr) x += Av(b, t, h, i) * w[j];
              N[i * Vs + j] = x + Kv(b, t, h, i) * valueAt(t, j);
            }
          // The read: S_t, or with a bonus S_{t-1} plus (q . u . k) [v, 1].
          const double *R = in.bonus ? P : N;
          const double bonusRead = in.bonus ? qu(t) : 0.0;
          for (int64_t j = 0; j < Vs; ++j) {
            double x = bonusRead * valueAt(t, j);
            for (int64_t i = 0; i < K; ++i) x += R[i * Vs + j] * Q(b, t, h, i);
            (j < V ? num[t * V + j] : den[t]) += x;
          }
        }
      }
      // LION's correction: the token's own write is in both scans, once.
      if (bidir)
        for (int64_t t = 0; t < T; ++t) {
          double qk = 0;
          for (int64_t i = 0; i < K; ++i) qk += Q(b, t, h, i) * Kv(b, t, h, i);
          for (int64_t j = 0; j < Vs; ++j) (j < V ? num[t * V + j] : den[t]) -= qk * valueAt(t, j);
        }
      // o = scale num / n(den) + D . x with n = 1, den + eps or max(|den|, eps):
      // the gradients of num and den.
      for (int64_t t = 0; t < T; ++t) {
        double n = 1.0, dn = 0.0; // n(den) and n'(den)
        if (in.normalizer == Normalizer::sum) n = den[t] + in.eps, dn = 1.0;
        if (in.normalizer == Normalizer::max_abs) {
          n = std::max(std::fabs(den[t]), in.eps);
          dn = std::fabs(den[t]) > in.eps ? (den[t] > 0 ? 1.0 : -1.0) : 0.0;
        }
        double dd = 0;
        for (int64_t j = 0; j < V; ++j) {
          const double go = dO ? DO(b, t, h, j) : 0.0;
          dNum[t * V + j] = scale * go / n;
          dd -= scale * go * num[t * V + j] / (n * n);
          if (in.skipWeight && dO) {
            dSkipW.add(SkipX(b, t, h, j) * go, 0, 0, h, j);
            dSkipX.add(SkipW(0, 0, h, j) * go, b, t, h, j);
          }
        }
        dDen[t] = dd * dn;
        if (bidir) { // - (q . k) [v, 1]
          double dqk = 0;
          for (int64_t j = 0; j < Vs; ++j) {
            const double gj = j < V ? dNum[t * V + j] : dDen[t];
            dqk -= gj * valueAt(t, j);
            if (j < V) {
              double qk = 0;
              for (int64_t i = 0; i < K; ++i) qk += Q(b, t, h, i) * Kv(b, t, h, i);
              dV.add(-qk * gj, b, t, h, j);
            }
          }
          for (int64_t i = 0; i < K; ++i) {
            dQ.add(dqk * Kv(b, t, h, i), b, t, h, i);
            dK.add(dqk * Q(b, t, h, i), b, t, h, i);
          }
        }
      }
      auto readGrad = [&](int64_t t, int64_t j) { return j < V ? dNum[t * V + j] : dDen[t]; };
      for (int d = (bidir ? 1 : 0); d >= 0; --d) {
        // dS: the gradient of L with respect to the state after `step`.
        for (int64_t e = 0; e < K * Vs; ++e) dS[e] = dFinal && d == 0 ? dFinal->data[(b * H + h) * K * Vs + e] : 0.0;
        for (int64_t step = T - 1; step >= 0; --step) {
          const int64_t t = tokenAt(d, step);
          const double *P = states[d].data() + step * K * Vs, *N = P + K * Vs;
          const Token x{b, t, h, K, V, Vs};
          // The read: S_t, or with a bonus S_{t-1} (its gradient goes to dPrev).
          std::fill(dPrev.begin(), dPrev.end(), 0.0);
          readBackward(x, in.bonus ? P : N, in.bonus ? dPrev.data() : dS.data(),
                       [&](int64_t j) { return readGrad(t, j); }, Q, dQ);
          if (in.bonus) { // + (sum_i q_i u_i k_i) [v, 1]
            double dqu = 0;
            const double read = qu(t);
            for (int64_t j = 0; j < Vs; ++j) {
              dqu += valueAt(t, j) * readGrad(t, j);
              if (j < V) dV.add(read * readGrad(t, j), b, t, h, j);
            }
            for (int64_t i = 0; i < K; ++i) {
              const double qi = Q(b, t, h, i), ui = Bonus(0, 0, h, i), ki = Kv(b, t, h, i);
              dQ.add(ui * ki * dqu, b, t, h, i);
              dK.add(qi * ui * dqu, b, t, h, i);
              dBonus.add(qi * ki * dqu, 0, 0, h, i);
            }
          }
          // S_t = A_t S_{t-1} + k_t [v_t, 1]^T.
          writeBackward(x, dS.data(), 1.0, Kv, Vv, dK, dV);
          // The diagonal: dPrev += D . dS; its own gradient dD = dS . S_{t-1},
          // then through exp when the operand is a log.
          double dScalar = 0;
          for (int64_t i = 0; i < K; ++i) {
            double dRow = 0;
            for (int64_t j = 0; j < Vs; ++j) {
              const double dg = diagonal(t, i, j), dd = dS[i * Vs + j] * P[i * Vs + j];
              dPrev[i * Vs + j] += dg * dS[i * Vs + j];
              const double dlog = factor ? dd : dd * dg; // d(decay) for a log: dd * exp(decay)
              if (s == Structure::elementwise) {
                const double dtv = in.dt ? Dt(b, t, h, j) : 1.0;
                if (factor) dDt.add(dd, b, t, h, j);
                else {
                  dDecay.add(dlog * dtv, 0, 0, h, i, j);
                  if (in.dt) dDt.add(dlog * Decay(0, 0, h, i, j), b, t, h, j);
                }
              } else {
                dRow += dlog;
              }
            }
            if (s == Structure::vector || (s == Structure::dplr && in.decay && in.decay->rank() == 4))
              dDecay.add(dRow, b, t, h, i);
            dScalar += dRow;
          }
          if (s == Structure::scalar || s == Structure::const_scalar ||
              (s == Structure::dplr && in.decay && in.decay->rank() == 3))
            dDecay.add(dScalar, b, t, h);
          // The low rank: S' += a (b^T S_{t-1}): da = dS w, u = dS^T a,
          // db = S_{t-1} u, dPrev += b u^T.
          if (s == Structure::dplr) {
            for (int64_t j = 0; j < Vs; ++j) {
              w[j] = u[j] = 0;
              for (int64_t i = 0; i < K; ++i) {
                w[j] += Bv(b, t, h, i) * P[i * Vs + j];
                u[j] += Av(b, t, h, i) * dS[i * Vs + j];
              }
            }
            for (int64_t i = 0; i < K; ++i) {
              double da = 0, db = 0;
              for (int64_t j = 0; j < Vs; ++j) {
                da += dS[i * Vs + j] * w[j];
                db += P[i * Vs + j] * u[j];
                dPrev[i * Vs + j] += Bv(b, t, h, i) * u[j];
              }
              dA.add(da, b, t, h, i);
              dB.add(db, b, t, h, i);
            }
          }
          dS.swap(dPrev);
        }
        if (in.init && d == 0)
          for (int64_t e = 0; e < K * Vs; ++e) dInit.add(dS[e], b, h, e / Vs, e % Vs);
      }
    }
  return "";
}

} // namespace mixc::ref
