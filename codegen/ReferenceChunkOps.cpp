// The reference's float64 meaning of the chunk-level ops (MixerChunkOps.td):
// each computed as its description says, so that the chunk-level IR that
// mixer-lower-chunks builds can be checked against the token-by-token
// recurrence (`mixc run --target=reference --chunk-level`).
#include "codegen/ReferenceTarget.h"

#include "dialect/MixerOps.h"

#include <cmath>

using namespace mlir;

namespace mixc {

namespace {
// G at token t of (b, h) for key i: a scalar decay's is the same for every
// key, a vector decay's ([B, T, H, K]) per key; 0 without a decay.
double cum(const ref::Array *G, int64_t b, int64_t t, int64_t h, int64_t i) {
  if (!G) return 0.0;
  const int64_t row = (b * G->shape[1] + t) * G->shape[2] + h;
  return G->rank() == 4 ? G->data[row * G->shape[3] + i] : G->data[row];
}

double dot(const double *x, const double *y, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i] * y[i];
  return s;
}

// The UT form's three ops, token by token within each chunk. The diagonal is
// scalar ([B, T, H] cumulative decays) or per key ([B, T, H, K]: KDA, RWKV-7);
// g_t = exp(G_t) is the diagonal's product from the chunk's start.
std::string evalUtOp(ReferenceInterpreter &interp, Operation *op) {
  auto rows = [&](Value x) { return interp.valueOf(x); };
  // (g_t / g_s)_i within a chunk: exp(G_t - G_s) for key i; G before the chunk's start is 0.
  auto ratio = [](const ref::Array *G, int64_t b, int64_t t, int64_t s, int64_t h, int64_t c0, int64_t i) {
    const double gt = t < c0 ? 0.0 : cum(G, b, t, h, i), gs = s < c0 ? 0.0 : cum(G, b, s, h, i);
    return std::exp(gt - gs);
  };
  // sum_i x_i y_i (g_t / g_s)_i
  auto decayedDot = [&](const double *x, const double *y, int64_t K, const ref::Array *G, int64_t b, int64_t t,
                        int64_t s, int64_t h, int64_t c0) {
    double acc = 0;
    for (int64_t i = 0; i < K; ++i) acc += x[i] * y[i] * ratio(G, b, t, s, h, c0, i);
    return acc;
  };
  if (auto ut = dyn_cast<mixer::ChunkUtOp>(op)) {
    const ref::Array &a = *rows(ut.getA()), &bb = *rows(ut.getB()), &k = *rows(ut.getK()), &v = *rows(ut.getV());
    const ref::Array *G = rows(ut.getCumulative());
    const int64_t B = k.shape[0], T = k.shape[1], H = k.shape[2], K = k.shape[3], V = v.shape[3], C = ut.getChunk();
    ref::Array P(k.shape), U(v.shape);
    auto row = [&](const ref::Array &x, int64_t b, int64_t t, int64_t h, int64_t D) {
      return &x.data[((b * T + t) * H + h) * D];
    };
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t t = 0; t < T; ++t) {
          const int64_t c0 = t / C * C;
          double *p = &P.data[((b * T + t) * H + h) * K], *u = &U.data[((b * T + t) * H + h) * V];
          const double *bt = row(bb, b, t, h, K);
          for (int64_t i = 0; i < K; ++i) p[i] = ratio(G, b, t - 1, c0 - 1, h, c0, i) * bt[i]; // g_{t-1} b_t
          for (int64_t s = c0; s < t; ++s) {
            const double L = decayedDot(row(a, b, s, h, K), bt, K, G, b, t - 1, s, h, c0);
            const double M = decayedDot(row(k, b, s, h, K), bt, K, G, b, t - 1, s, h, c0);
            const double *ps = row(P, b, s, h, K), *us = row(U, b, s, h, V), *vs = row(v, b, s, h, V);
            for (int64_t i = 0; i < K; ++i) p[i] += L * ps[i];
            for (int64_t j = 0; j < V; ++j) u[j] += L * us[j] + M * vs[j];
          }
        }
    interp[ut.getP()] = std::move(P);
    interp[ut.getU()] = std::move(U);
    return "";
  }
  if (auto st = dyn_cast<mixer::ChunkUtStatesOp>(op)) {
    const ref::Array &a = *rows(st.getA()), &k = *rows(st.getK()), &v = *rows(st.getV());
    const ref::Array &P = *rows(st.getP()), &Uw = *rows(st.getU());
    const ref::Array *G = rows(st.getCumulative());
    const int64_t B = k.shape[0], T = k.shape[1], H = k.shape[2], K = k.shape[3], V = v.shape[3], C = st.getChunk();
    const int64_t NC = (T + C - 1) / C;
    ref::Array local({B, NC, H, K, V}), trans({B, NC, H, K, K});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < NC; ++c)
        for (int64_t h = 0; h < H; ++h) {
          const int64_t c0 = c * C, last = std::min(T, c0 + C) - 1;
          double *L = &local.data[((b * NC + c) * H + h) * K * V], *A = &trans.data[((b * NC + c) * H + h) * K * K];
          for (int64_t i = 0; i < K; ++i) A[i * K + i] = ratio(G, b, last, c0 - 1, h, c0, i);
          for (int64_t s = c0; s <= last; ++s) {
            const int64_t r = (b * T + s) * H + h;
            for (int64_t i = 0; i < K; ++i) {
              const double f = ratio(G, b, last, s, h, c0, i);
              const double as = f * a.data[r * K + i], ks = f * k.data[r * K + i];
              for (int64_t j = 0; j < V; ++j) L[i * V + j] += as * Uw.data[r * V + j] + ks * v.data[r * V + j];
              for (int64_t l = 0; l < K; ++l) A[i * K + l] += as * P.data[r * K + l];
            }
          }
        }
    interp[st.getLocal()] = std::move(local);
    interp[st.getTransition()] = std::move(trans);
    return "";
  }
  auto out = cast<mixer::ChunkUtOutputOp>(op);
  const ref::Array &q = *rows(out.getQ()), &a = *rows(out.getA()), &k = *rows(out.getK()), &v = *rows(out.getV());
  const ref::Array &P = *rows(out.getP()), &Uw = *rows(out.getU()), &S = *rows(out.getEntering());
  const ref::Array *G = rows(out.getCumulative());
  const int64_t B = k.shape[0], T = k.shape[1], H = k.shape[2], K = k.shape[3], V = v.shape[3], C = out.getChunk();
  const int64_t NC = S.shape[1];
  const double scale = out.getScale().convertToDouble();
  ref::Array o({B, T, H, V});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < T; ++t) {
        const int64_t c0 = t / C * C, r = (b * T + t) * H + h;
        const double *qt = &q.data[r * K];
        std::vector<double> qe(K), acc(V, 0.0);
        for (int64_t i = 0; i < K; ++i) qe[i] = ratio(G, b, t, c0 - 1, h, c0, i) * qt[i]; // g_t q_t
        for (int64_t s = c0; s <= t; ++s) {
          const int64_t rs = (b * T + s) * H + h;
          const double aq = decayedDot(&a.data[rs * K], qt, K, G, b, t, s, h, c0);
          const double kq = decayedDot(&k.data[rs * K], qt, K, G, b, t, s, h, c0);
          for (int64_t i = 0; i < K; ++i) qe[i] += aq * P.data[rs * K + i];
          for (int64_t j = 0; j < V; ++j) acc[j] += aq * Uw.data[rs * V + j] + kq * v.data[rs * V + j];
        }
        const double *s0 = &S.data[((b * NC + t / C) * H + h) * K * V];
        for (int64_t j = 0; j < V; ++j) {
          double x = acc[j];
          for (int64_t i = 0; i < K; ++i) x += s0[i * V + j] * qe[i];
          o.data[r * V + j] = scale * x;
        }
      }
  interp[out.getO()] = std::move(o);
  return "";
}
} // namespace

namespace {
std::string evalForward(ReferenceInterpreter &interp, Operation *op);

// Reverses the token axis (dimension 1) of a token-shaped array in place.
void flipTokens(ref::Array &a) {
  if (a.rank() < 3 || a.shape[1] < 2) return;
  int64_t inner = 1;
  for (int64_t d = 2; d < a.rank(); ++d) inner *= a.shape[d];
  const int64_t T = a.shape[1];
  for (int64_t b = 0; b < a.shape[0]; ++b)
    for (int64_t t = 0; t < T / 2; ++t)
      std::swap_ranges(&a.data[(b * T + t) * inner], &a.data[(b * T + t + 1) * inner],
                       &a.data[(b * T + T - 1 - t) * inner]);
}
} // namespace

// A reverse op is its forward meaning on the time-reversed sequence: its
// token-shaped operands are flipped, the op evaluated, and everything flipped
// back (chunk-shaped values are already in scan order).
std::string evalChunkOp(ReferenceInterpreter &interp, Operation *op) {
  if (!op->hasAttr("reverse")) return evalForward(interp, op);
  llvm::SmallVector<Value> tokens, results;
  if (auto c = dyn_cast<mixer::ChunkCumsumOp>(op)) tokens = {c.getDecay()}, results = {c.getCumulative()};
  else if (auto s = dyn_cast<mixer::ChunkScoresOp>(op))
    tokens = {s.getQ(), s.getK(), s.getCumulative()}, results = {s.getScores()};
  else if (auto l = dyn_cast<mixer::ChunkLocalStatesOp>(op)) tokens = {l.getK(), l.getV(), l.getCumulative()};
  else if (auto w = dyn_cast<mixer::ChunkWalkOp>(op)) tokens = {w.getCumulative()};
  else if (auto o = dyn_cast<mixer::ChunkOutputOp>(op))
    tokens = {o.getQ(), o.getV(), o.getCumulative(), o.getScores()}, results = {o.getO()};
  else return "the reference has no reverse form of " + op->getName().getStringRef().str();
  llvm::SmallDenseSet<Value> flipped; // q and k may be one value
  for (Value v : tokens)
    if (v && flipped.insert(v).second) flipTokens(interp[v]);
  std::string e = evalForward(interp, op);
  for (Value v : flipped) flipTokens(interp[v]);
  for (Value v : results) flipTokens(interp[v]);
  return e;
}

namespace {
std::string evalForward(ReferenceInterpreter &interp, Operation *op) {
  if (auto c = dyn_cast<mixer::ChunkCumsumOp>(op)) {
    const ref::Array &d = *interp.valueOf(c.getDecay()), &over = *interp.valueOf(c.getOver());
    const int64_t B = over.shape[0], T = over.shape[1], H = over.shape[2], C = c.getChunk();
    const int64_t K = d.rank() == 4 ? d.shape[3] : 1;
    ref::Array G(d.rank() == 4 ? std::vector<int64_t>{B, T, H, K} : std::vector<int64_t>{B, T, H});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < K; ++i) {
          double acc = 0;
          for (int64_t t = 0; t < T; ++t) {
            if (t % C == 0) acc = 0;
            acc += d.at({b, t, h, i});
            G.data[((b * T + t) * H + h) * K + i] = acc;
          }
        }
    interp[c.getCumulative()] = std::move(G);
    return "";
  }
  if (auto s = dyn_cast<mixer::ChunkScoresOp>(op)) {
    const ref::Array &q = *interp.valueOf(s.getQ()), &k = *interp.valueOf(s.getK());
    const ref::Array *G = interp.valueOf(s.getCumulative());
    const int64_t B = q.shape[0], T = q.shape[1], H = q.shape[2], K = q.shape[3], C = s.getChunk();
    ref::Array A({B, T, H, C});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t j = 0, s0 = t / C * C; j < C && s0 + j <= t; ++j) {
            const int64_t u = s0 + j;
            double dot = 0;
            for (int64_t i = 0; i < K; ++i)
              dot += q.data[((b * T + t) * H + h) * K + i] * k.data[((b * T + u) * H + h) * K + i] *
                     std::exp(cum(G, b, t, h, i) - cum(G, b, u, h, i));
            A.data[((b * T + t) * H + h) * C + j] = dot;
          }
    interp[s.getScores()] = std::move(A);
    return "";
  }
  if (auto l = dyn_cast<mixer::ChunkLocalStatesOp>(op)) {
    const ref::Array &k = *interp.valueOf(l.getK()), &v = *interp.valueOf(l.getV());
    const ref::Array *G = interp.valueOf(l.getCumulative());
    const int64_t B = k.shape[0], T = k.shape[1], H = k.shape[2], K = k.shape[3], V = v.shape[3], C = l.getChunk();
    const int64_t NC = (T + C - 1) / C;
    ref::Array U({B, NC, H, K, V});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < NC; ++c)
        for (int64_t h = 0; h < H; ++h) {
          const int64_t last = std::min(T, (c + 1) * C) - 1;
          double *u = &U.data[((b * NC + c) * H + h) * K * V];
          for (int64_t t = c * C; t <= last; ++t)
            for (int64_t i = 0; i < K; ++i) {
              const double w = std::exp(cum(G, b, last, h, i) - cum(G, b, t, h, i));
              for (int64_t j = 0; j < V; ++j)
                u[i * V + j] += w * k.data[((b * T + t) * H + h) * K + i] * v.data[((b * T + t) * H + h) * V + j];
            }
        }
    interp[l.getLocal()] = std::move(U);
    return "";
  }
  if (auto w = dyn_cast<mixer::ChunkWalkOp>(op)) {
    const ref::Array &U = *interp.valueOf(w.getLocal());
    const ref::Array *G = interp.valueOf(w.getCumulative()), *init = interp.valueOf(w.getInit());
    const ref::Array *A = interp.valueOf(w.getTransition()), *rate = interp.valueOf(w.getRate());
    const int64_t B = U.shape[0], NC = U.shape[1], H = U.shape[2], K = U.shape[3], V = U.shape[4], C = w.getChunk();
    const int64_t T = G ? G->shape[1] : NC * C;
    ref::Array entering(U.shape), final({B, H, K, V});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h) {
        std::vector<double> S(K * V, 0.0);
        if (init) std::copy_n(&init->data[(b * H + h) * K * V], K * V, S.begin());
        for (int64_t c = 0; c < NC; ++c) {
          std::copy(S.begin(), S.end(), &entering.data[((b * NC + c) * H + h) * K * V]);
          const double *u = &U.data[((b * NC + c) * H + h) * K * V];
          if (A) { // a dense chunk transition (the UT form): S <- A S + U
            const double *a = &A->data[((b * NC + c) * H + h) * K * K];
            std::vector<double> next(u, u + K * V);
            for (int64_t i = 0; i < K; ++i)
              for (int64_t l = 0; l < K; ++l)
                for (int64_t j = 0; j < V; ++j) next[i * V + j] += a[i * K + l] * S[l * V + j];
            S = std::move(next);
            continue;
          }
          const int64_t last = std::min(T, (c + 1) * C) - 1;
          for (int64_t i = 0; i < K; ++i)
            for (int64_t j = 0; j < V; ++j) {
              // Elementwise: exp(rate_ij D_last,j); else per key (or scalar).
              const double f = rate ? std::exp(rate->at({0, 0, h, i, j}) * cum(G, b, last, h, j))
                                    : std::exp(cum(G, b, last, h, i));
              S[i * V + j] = f * S[i * V + j] + u[i * V + j];
            }
        }
        std::copy(S.begin(), S.end(), &final.data[(b * H + h) * K * V]);
      }
    interp[w.getEntering()] = std::move(entering);
    interp[w.getFinalState()] = std::move(final);
    return "";
  }
  if (auto o = dyn_cast<mixer::ChunkOutputOp>(op)) {
    const ref::Array &q = *interp.valueOf(o.getQ()), &v = *interp.valueOf(o.getV());
    const ref::Array &A = *interp.valueOf(o.getScores()), &S = *interp.valueOf(o.getEntering());
    const ref::Array *G = interp.valueOf(o.getCumulative());
    const int64_t B = q.shape[0], T = q.shape[1], H = q.shape[2], K = q.shape[3], V = v.shape[3], C = o.getChunk();
    const int64_t NC = S.shape[1];
    const double scale = o.getScale().convertToDouble();
    ref::Array out({B, T, H, V});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < H; ++h) {
          const int64_t c = t / C, s0 = c * C;
          const double *st = &S.data[((b * NC + c) * H + h) * K * V], *qt = &q.data[((b * T + t) * H + h) * K];
          for (int64_t j = 0; j < V; ++j) {
            double acc = 0, inter = 0;
            for (int64_t jj = 0; jj < C && s0 + jj < T; ++jj)
              acc += A.data[((b * T + t) * H + h) * C + jj] * v.data[((b * T + s0 + jj) * H + h) * V + j];
            for (int64_t i = 0; i < K; ++i) inter += std::exp(cum(G, b, t, h, i)) * st[i * V + j] * qt[i];
            out.data[((b * T + t) * H + h) * V + j] = scale * (acc + inter);
          }
        }
    interp[o.getO()] = std::move(out);
    return "";
  }
  if (isa<mixer::ChunkUtOp, mixer::ChunkUtStatesOp, mixer::ChunkUtOutputOp>(op)) return evalUtOp(interp, op);
  if (auto sc = dyn_cast<mixer::ChunkScanLocalOp>(op)) {
    const ref::Array &q = *interp.valueOf(sc.getQ()), &k = *interp.valueOf(sc.getK()), &v = *interp.valueOf(sc.getV());
    const ref::Array &D = *interp.valueOf(sc.getCumulative()), &rate = *interp.valueOf(sc.getRate());
    const int64_t B = q.shape[0], T = q.shape[1], H = q.shape[2], K = q.shape[3], V = v.shape[3], C = sc.getChunk();
    const int64_t NC = (T + C - 1) / C;
    ref::Array lo(v.shape), U({B, NC, H, K, V});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t c = 0; c < NC; ++c) {
          std::vector<double> S(K * V, 0.0);
          for (int64_t t = c * C; t < std::min(T, (c + 1) * C); ++t) {
            const int64_t r = (b * T + t) * H + h;
            for (int64_t i = 0; i < K; ++i)
              for (int64_t j = 0; j < V; ++j) {
                // this token's factor: exp(rate (D_t - D_{t-1})), D restarting per chunk
                const double step = cum(&D, b, t, h, j) - (t > c * C ? cum(&D, b, t - 1, h, j) : 0.0);
                S[i * V + j] = std::exp(rate.at({0, 0, h, i, j}) * step) * S[i * V + j] +
                               k.data[r * K + i] * v.data[r * V + j];
              }
            for (int64_t j = 0; j < V; ++j) {
              double x = 0;
              for (int64_t i = 0; i < K; ++i) x += q.data[r * K + i] * S[i * V + j];
              lo.data[r * V + j] = x;
            }
          }
          std::copy(S.begin(), S.end(), &U.data[((b * NC + c) * H + h) * K * V]);
        }
    interp[sc.getLocalO()] = std::move(lo);
    interp[sc.getLocal()] = std::move(U);
    return "";
  }
  if (auto so = dyn_cast<mixer::ChunkScanOutputOp>(op)) {
    const ref::Array &q = *interp.valueOf(so.getQ()), &lo = *interp.valueOf(so.getLocalO());
    const ref::Array &D = *interp.valueOf(so.getCumulative()), &rate = *interp.valueOf(so.getRate());
    const ref::Array &S = *interp.valueOf(so.getEntering());
    const int64_t B = q.shape[0], T = q.shape[1], H = q.shape[2], K = q.shape[3], V = lo.shape[3], C = so.getChunk();
    const int64_t NC = S.shape[1];
    const double scale = so.getScale().convertToDouble();
    ref::Array o(lo.shape);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < H; ++h) {
          const int64_t r = (b * T + t) * H + h;
          const double *s0 = &S.data[((b * NC + t / C) * H + h) * K * V];
          for (int64_t j = 0; j < V; ++j) {
            double x = lo.data[r * V + j];
            for (int64_t i = 0; i < K; ++i)
              x += q.data[r * K + i] * std::exp(rate.at({0, 0, h, i, j}) * cum(&D, b, t, h, j)) * s0[i * V + j];
            o.data[r * V + j] = scale * x;
          }
        }
    interp[so.getO()] = std::move(o);
    return "";
  }
  return "not a chunk-level op: '" + op->getName().getStringRef().str() + "'";
}

} // namespace

} // namespace mixc
