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
} // namespace

std::string runRecurrenceGrad(const RecurrenceInputs &in, const Array *dO, const Array *dFinal, RecurrenceGrads &g) {
  if (in.normalizer != Normalizer::none)
    return std::string("the float64 backward does not cover normalizer ") + nameOf(in.normalizer) + " yet";
  if (in.direction == Direction::bidirectional) return "the float64 backward does not cover bidirectional scans yet";
  // The forward pass checks the operands and gives the shapes.
  RecurrenceOutputs fwd;
  if (std::string e = runRecurrence(in, fwd); !e.empty()) return e;
  const int64_t B = in.q->dim(0), T = in.q->dim(1), H = in.q->dim(2), K = in.q->dim(3), V = in.v->dim(3);
  if (dO && dO->shape != fwd.o.shape) return "the upstream gradient of o has shape " + dO->shapeString();
  if (dFinal && dFinal->shape != fwd.finalState.shape)
    return "the upstream gradient of the final state has shape " + dFinal->shapeString();

  const View Q(in.q), Kv(in.k), Vv(in.v), Decay(in.decay), Dt(in.dt), Av(in.a), Bv(in.b), Bonus(in.bonus),
      SkipW(in.skipWeight), SkipX(in.skipInput), DO(dO);
  const GradView dQ(in.q, g.q), dK(in.k, g.k), dV(in.v, g.v), dDecay(in.decay, g.decay), dDt(in.dt, g.dt),
      dA(in.a, g.a), dB(in.b, g.b), dBonus(in.bonus, g.bonus), dSkipW(in.skipWeight, g.skipWeight),
      dSkipX(in.skipInput, g.skipInput), dInit(in.init, g.init);
  const Structure s = in.structure;
  const bool factor = in.decayIsFactor;
  const double scale = in.scale;

  // The states after every token, S_0 (the initial state) first.
  std::vector<double> states((T + 1) * K * V), dS(K * V), dPrev(K * V), w(V), u(V);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      auto tokenAt = [&](int64_t step) { return in.direction == Direction::reverse ? T - 1 - step : step; };
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
      // Forward, keeping every state.
      double *S = states.data();
      for (int64_t e = 0; e < K * V; ++e) S[e] = in.init ? in.init->data[(b * H + h) * K * V + e] : 0.0;
      for (int64_t step = 0; step < T; ++step) {
        const int64_t t = tokenAt(step);
        const double *P = states.data() + step * K * V;
        double *N = states.data() + (step + 1) * K * V;
        if (s == Structure::dplr)
          for (int64_t j = 0; j < V; ++j) {
            w[j] = 0;
            for (int64_t i = 0; i < K; ++i) w[j] += Bv(b, t, h, i) * P[i * V + j];
          }
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < V; ++j) {
            double x = diagonal(t, i, j) * P[i * V + j];
            if (s == Structure::dplr) x += Av(b, t, h, i) * w[j];
            N[i * V + j] = x + Kv(b, t, h, i) * Vv(b, t, h, j);
          }
      }
      // Backward: dS is the gradient of L with respect to the state after `step`.
      for (int64_t e = 0; e < K * V; ++e) dS[e] = dFinal ? dFinal->data[(b * H + h) * K * V + e] : 0.0;
      for (int64_t step = T - 1; step >= 0; --step) {
        const int64_t t = tokenAt(step);
        const double *P = states.data() + step * K * V, *N = P + K * V;
        // o_t = scale (R^T q_t + bonus) + D . x_t, R the state read: S_t, or
        // with a bonus S_{t-1} (the read before the transition).
        const double *R = in.bonus ? P : N;
        std::fill(dPrev.begin(), dPrev.end(), 0.0);
        double *dRead = in.bonus ? dPrev.data() : dS.data();
        if (dO) {
          for (int64_t i = 0; i < K; ++i) {
            double dq = 0;
            for (int64_t j = 0; j < V; ++j) {
              const double go = DO(b, t, h, j);
              dq += R[i * V + j] * go;
              dRead[i * V + j] += scale * Q(b, t, h, i) * go;
            }
            dQ.add(scale * dq, b, t, h, i);
          }
          if (in.bonus) {
            // + (sum_i q_i u_i k_i) v_t
            double qu = 0, vg = 0;
            for (int64_t i = 0; i < K; ++i) qu += Q(b, t, h, i) * Bonus(0, 0, h, i) * Kv(b, t, h, i);
            for (int64_t j = 0; j < V; ++j) {
              vg += Vv(b, t, h, j) * DO(b, t, h, j);
              dV.add(scale * qu * DO(b, t, h, j), b, t, h, j);
            }
            for (int64_t i = 0; i < K; ++i) {
              const double qi = Q(b, t, h, i), ui = Bonus(0, 0, h, i), ki = Kv(b, t, h, i);
              dQ.add(scale * ui * ki * vg, b, t, h, i);
              dK.add(scale * qi * ui * vg, b, t, h, i);
              dBonus.add(scale * qi * ki * vg, 0, 0, h, i);
            }
          }
          if (in.skipWeight)
            for (int64_t j = 0; j < V; ++j) {
              dSkipW.add(SkipX(b, t, h, j) * DO(b, t, h, j), 0, 0, h, j);
              dSkipX.add(SkipW(0, 0, h, j) * DO(b, t, h, j), b, t, h, j);
            }
        }
        // S_t = A_t S_{t-1} + k_t v_t^T.
        for (int64_t i = 0; i < K; ++i) {
          double dk = 0;
          for (int64_t j = 0; j < V; ++j) dk += dS[i * V + j] * Vv(b, t, h, j);
          dK.add(dk, b, t, h, i);
        }
        for (int64_t j = 0; j < V; ++j) {
          double dv = 0;
          for (int64_t i = 0; i < K; ++i) dv += dS[i * V + j] * Kv(b, t, h, i);
          dV.add(dv, b, t, h, j);
        }
        // The diagonal: dPrev += D . dS; its own gradient dD = dS . S_{t-1},
        // then through exp when the operand is a log.
        double dScalar = 0;
        for (int64_t i = 0; i < K; ++i) {
          double dRow = 0;
          for (int64_t j = 0; j < V; ++j) {
            const double d = diagonal(t, i, j), dd = dS[i * V + j] * P[i * V + j];
            dPrev[i * V + j] += d * dS[i * V + j];
            const double dlog = factor ? dd : dd * d; // d(decay) for a log: dd * exp(decay)
            switch (s) {
            case Structure::elementwise: {
              const double dtv = in.dt ? Dt(b, t, h, j) : 1.0;
              if (factor) dDt.add(dd, b, t, h, j);
              else {
                dDecay.add(dlog * dtv, 0, 0, h, i, j);
                if (in.dt) dDt.add(dlog * Decay(0, 0, h, i, j), b, t, h, j);
              }
              break;
            }
            default: dRow += dlog;
            }
          }
          if (s == Structure::vector || (s == Structure::dplr && in.decay && in.decay->rank() == 4))
            dDecay.add(dRow, b, t, h, i);
          dScalar += dRow;
        }
        if (s == Structure::scalar || s == Structure::const_scalar || (s == Structure::dplr && in.decay && in.decay->rank() == 3))
          dDecay.add(dScalar, b, t, h);
        // The low rank: S' += a (b^T S_{t-1}): da = dS w, u = dS^T a,
        // db = S_{t-1} u, dPrev += b u^T.
        if (s == Structure::dplr) {
          for (int64_t j = 0; j < V; ++j) {
            w[j] = u[j] = 0;
            for (int64_t i = 0; i < K; ++i) {
              w[j] += Bv(b, t, h, i) * P[i * V + j];
              u[j] += Av(b, t, h, i) * dS[i * V + j];
            }
          }
          for (int64_t i = 0; i < K; ++i) {
            double da = 0, db = 0;
            for (int64_t j = 0; j < V; ++j) {
              da += dS[i * V + j] * w[j];
              db += P[i * V + j] * u[j];
              dPrev[i * V + j] += Bv(b, t, h, i) * u[j];
            }
            dA.add(da, b, t, h, i);
            dB.add(db, b, t, h, i);
          }
        }
        dS.swap(dPrev);
      }
      if (in.init)
        for (int64_t e = 0; e < K * V; ++e) dInit.add(dS[e], b, h, e / V, e % V);
    }
  return "";
}

} // namespace mixc::ref
