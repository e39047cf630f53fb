// Part of the CPU tile library (mixc_cpu.h): the plain recurrence that
// `mixc bench` compares every kernel against.
#ifndef MIXC_CPU_PLAIN_H
#define MIXC_CPU_PLAIN_H

#include "mixc_cpu.h"

namespace mixc::cpu {

// The baseline the benchmarks compare against: the textbook recurrence, one
// (batch, head) per task, the whole K x Vs state updated and read token by
// token, sizes known only at run time; compiled with the same -O3 -march=native.
template <int KC, int VIN, typename RowFn>
void scanPlain(const ScanArgs &p, Structure S, DiagKind diag, bool bonus, bool mlstm, bool hasDt, bool logDecay,
               int threads, RowFn rowOf) {
  int64_t K = KC, Vs = p.Vs;
  // The baseline must not specialize on the sizes: hide them from the optimizer.
  asm volatile("" : "+r"(K), "+r"(Vs));
  const int64_t B = p.B, H = p.H, V = mlstm ? Vs - 1 : Vs;
  parallelFor(B * H, threads, [&](int64_t bh) {
    const int64_t b = bh / H, h = bh % H;
    std::vector<float> st(K * Vs, 0.f), w(Vs), vv(Vs);
    if (p.init) std::copy_n(p.init + bh * K * Vs, K * Vs, st.data());
    float m = mlstm && p.initM ? p.initM[bh] : 0.f;
    const int64_t Tb = p.len(b);
    for (int64_t step = 0; step < Tb; ++step) {
      const int64_t t = p.reverse ? Tb - 1 - step : step, row = p.token(b, t) * H + h;
      TokenRow<KC, VIN> r;
      rowOf(p.inB(b), p.inT(b, t), h, r);
      const float *q = r.q, *k = r.k;
      for (int64_t j = 0; j < V; ++j) vv[j] = r.v[j];
      if (mlstm) vv[V] = 1.f;
      float *o = p.o + row * V;
      if (bonus) {
        float qu = 0.f;
        for (int64_t i = 0; i < K; ++i) qu += q[i] * p.bonus[h * K + i] * k[i];
        for (int64_t j = 0; j < V; ++j) o[j] = qu * vv[j];
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < V; ++j) o[j] += q[i] * st[i * Vs + j];
        for (int64_t j = 0; j < V; ++j) o[j] *= p.scale;
      }
      float ws = 1.f;
      switch (S) {
      case Structure::identity: break;
      case Structure::const_scalar:
      case Structure::scalar: {
        float g = r.decay[0], f;
        if (mlstm) {
          float ig = r.igate, mNew = std::max(g + m, ig);
          f = std::exp(g + m - mNew);
          ws = std::exp(ig - mNew);
          m = mNew;
        } else {
          f = logDecay ? std::exp(g) : g;
        }
        for (float &x : st) x *= f;
        break;
      }
      case Structure::vector:
        for (int64_t i = 0; i < K; ++i) {
          float f = logDecay ? std::exp(r.decay[i]) : r.decay[i];
          for (int64_t j = 0; j < Vs; ++j) st[i * Vs + j] *= f;
        }
        break;
      case Structure::elementwise:
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < Vs; ++j)
            st[i * Vs + j] *= logDecay ? std::exp(p.rate[(h * K + i) * Vs + j] * (hasDt ? r.dt[j] : 1.f)) : r.dt[j];
        break;
      case Structure::dplr:
        std::fill(w.begin(), w.end(), 0.f);
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < Vs; ++j) w[j] += r.b[i] * st[i * Vs + j];
        for (int64_t i = 0; i < K; ++i) {
          float g = diag == DiagKind::scalar ? r.decay[0] : r.decay[i];
          float d = diag == DiagKind::none ? 1.f : logDecay ? std::exp(g) : g;
          for (int64_t j = 0; j < Vs; ++j) st[i * Vs + j] = d * st[i * Vs + j] + r.a[i] * w[j];
        }
        break;
      }
      for (int64_t i = 0; i < K; ++i)
        for (int64_t j = 0; j < Vs; ++j) st[i * Vs + j] += ws * k[i] * vv[j];
      if (!bonus) {
        float div = 1.f;
        if (mlstm) {
          float den = 0.f;
          for (int64_t i = 0; i < K; ++i) den += q[i] * st[i * Vs + V];
          div = std::max(std::fabs(den), std::exp(-m));
        }
        for (int64_t j = 0; j < V; ++j) o[j] = 0.f;
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < V; ++j) o[j] += q[i] * st[i * Vs + j];
        for (int64_t j = 0; j < V; ++j) o[j] *= p.scale / div;
      }
    }
    std::copy_n(st.data(), K * Vs, p.state + bh * K * Vs);
    if (mlstm) p.m[bh] = m;
  });
}

} // namespace mixc::cpu

#endif
