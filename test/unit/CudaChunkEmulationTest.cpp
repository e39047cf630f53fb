// A chunked kernel on host threads (test/unit/CudaEmulation.h): the delta
// rules' UT prepare (deltaPrepare, mixc_cuda_ut.cuh) over bf16 rows with a
// scalar log-decay, against the chunk formulas in float64 on the same
// bf16-rounded inputs. Per chunk, with b the cumulative log-decays (b_{-1} = 0):
//   L_A = StrictLower(exp(b_{i-1} - b_j) B A^T), L_K likewise with K,
//   M . X = Causal(exp(b_i - b_j) X), T = (I - L_A)^{-1},
//   W = T Gamma' B, R = T L_K, Q' = Gamma Q + (M . Q A^T) W,
//   P = (M . Q A^T) R + M . Q K^T  (Gamma = exp(b_i), Gamma' = exp(b_{i-1})).
// Two chunks, the second partial (its rows past T read as zeros), two heads:
// the cp.async row copies, the gates' scan, the Grams, the inverse and the
// products on emulated tensor cores, and the rows written to their slots.
// Then the state walk after it (deltaStates, the mma.sync walk) gives o and the
// final state of the recurrence itself, S_t = exp(g_t) S_{t-1} + a_t (b_t^T
// S_{t-1}) + k_t v_t^T, o_t = c S_t^T q_t, from an initial state.
#include "test/unit/CudaEmulation.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

using namespace mixc;
using cuda::tile::bf16;

namespace {

constexpr int64_t B = 1, T = 100, H = 2, K = 64, C = cuda::chunk::C, SLOTS = (T + C - 1) / C;
using Mat = std::vector<std::vector<double>>;
Mat zeros(int64_t r, int64_t c) { return Mat(r, std::vector<double>(c, 0.0)); }

double relL2(const Mat &got, const Mat &want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i)
    for (size_t j = 0; j < want[i].size(); ++j)
      num += (got[i][j] - want[i][j]) * (got[i][j] - want[i][j]), den += want[i][j] * want[i][j];
  return std::sqrt(num / den);
}

} // namespace

namespace {
// bf16 rows [B, T, H, K] (q and b unit rows, a = -beta b, k = beta b; v [B, T, H, V]) and
// fp32 log-decays [B, T, H], as the chunked kernels read them.
struct Inputs {
  std::vector<bf16> q, k, a, b, v;
  std::vector<float> g;
  cuda::ScanParams p;
  explicit Inputs(int64_t V) : q(B * T * H * K), k(q.size()), a(q.size()), b(q.size()), v(B * T * H * V), g(B * T * H) {
    std::mt19937_64 rng(41);
    std::normal_distribution<double> nd;
    std::uniform_real_distribution<double> beta(0.1, 1.0), gate(-0.2, -0.01);
    for (int64_t r = 0; r < B * T * H; ++r) {
      double qn = 0, bn = 0, qx[K], bx[K];
      for (int64_t i = 0; i < K; ++i) qx[i] = nd(rng), bx[i] = nd(rng), qn += qx[i] * qx[i], bn += bx[i] * bx[i];
      const double be = beta(rng);
      for (int64_t i = 0; i < K; ++i) {
        const double bi = bx[i] / std::sqrt(bn);
        q[r * K + i] = __float2bfloat16((float)(qx[i] / std::sqrt(qn)));
        b[r * K + i] = __float2bfloat16((float)bi);
        a[r * K + i] = __float2bfloat16((float)(-be * bi));
        k[r * K + i] = __float2bfloat16((float)(be * bi));
      }
      for (int64_t j = 0; j < V; ++j) v[r * V + j] = __float2bfloat16((float)nd(rng));
      g[r] = (float)gate(rng);
    }
    auto rowsView = [](std::vector<bf16> &x, int64_t D) {
      cuda::View w;
      w.p = x.data(), w.dtype = MIXC_BF16, w.s3 = 1, w.s2 = D, w.s1 = H * D, w.s0 = T * H * D;
      return w;
    };
    p.q = rowsView(q, K), p.k = rowsView(k, K), p.a = rowsView(a, K), p.b = rowsView(b, K), p.v = rowsView(v, V);
    p.decay.p = g.data(), p.decay.dtype = MIXC_F32, p.decay.s3 = 0, p.decay.s2 = 1, p.decay.s1 = H, p.decay.s0 = T * H;
    p.B = B, p.T = T, p.H = H, p.Vs = V;
  }
};

// deltaPrepare over every chunk slot, writing W, Q', R, P into w, qp, r, pv
// (bf16 rows [B, slots C, H, D], chunkRows').
cuda::DeltaChunks prepare(const cuda::ScanParams &p, std::vector<bf16> &w, std::vector<bf16> &qp, std::vector<bf16> &r,
                          std::vector<bf16> &pv) {
  cuda::DeltaChunks d;
  d.w = cuda::chunkRows(p, w.data(), K), d.qp = cuda::chunkRows(p, qp.data(), K);
  d.r = cuda::chunkRows(p, r.data(), C), d.pv = cuda::chunkRows(p, pv.data(), C);
  emu::launch(Dim3{(unsigned)(SLOTS * H * B), 1, 1}, 256, [&] { cuda::deltaPrepare<K, true, true, false>(p, d); },
              cuda::DeltaPrepareLayout<K>::bytes);
  return d;
}
} // namespace

TEST_CASE("CUDA chunked kernels (emulated): the UT prepare of a gated delta rule", "[cuda-emulation]") {
  Inputs in(K);
  cuda::ScanParams &p = in.p;
  std::vector<bf16> &q = in.q, &k = in.k, &a = in.a, &b = in.b;
  std::vector<float> &g = in.g;
  // The outputs: bf16 rows [B, slots C, H, D] (chunkRows), NaN first: every row of a slot is written.
  const bf16 nan = __float2bfloat16(NAN);
  std::vector<bf16> w(B * SLOTS * C * H * K, nan), qp(w.size(), nan), r(B * SLOTS * C * H * C, nan), pv(r.size(), nan);
  const cuda::DeltaChunks d = prepare(p, w, qp, r, pv);

  for (int64_t h = 0; h < H; ++h)
    for (int64_t c = 0; c < SLOTS; ++c) {
      INFO("head " << h << ", chunk " << c);
      // The chunk's operands in float64 (zero rows and gates past T).
      Mat Q = zeros(C, K), Kc = zeros(C, K), A = zeros(C, K), Bm = zeros(C, K);
      std::vector<double> bc(C), bprev(C);
      double run = 0;
      for (int64_t i = 0; i < C; ++i) {
        const int64_t t = c * C + i;
        bprev[i] = run;
        if (t < T) {
          run += g[t * H + h];
          for (int64_t j = 0; j < K; ++j) {
            const int64_t e = (t * H + h) * K + j;
            Q[i][j] = __bfloat162float(q[e]), Kc[i][j] = __bfloat162float(k[e]);
            A[i][j] = __bfloat162float(a[e]), Bm[i][j] = __bfloat162float(b[e]);
          }
        }
        bc[i] = run;
      }
      auto dot = [](const std::vector<double> &x, const std::vector<double> &y) {
        double s = 0;
        for (size_t j = 0; j < x.size(); ++j) s += x[j] * y[j];
        return s;
      };
      Mat LA = zeros(C, C), LK = zeros(C, C), MQA = zeros(C, C), MQK = zeros(C, C);
      for (int64_t i = 0; i < C; ++i)
        for (int64_t j = 0; j <= i; ++j) {
          if (j < i) {
            const double f = std::exp(bprev[i] - bc[j]);
            LA[i][j] = f * dot(Bm[i], A[j]), LK[i][j] = f * dot(Bm[i], Kc[j]);
          }
          const double f = std::exp(bc[i] - bc[j]);
          MQA[i][j] = f * dot(Q[i], A[j]), MQK[i][j] = f * dot(Q[i], Kc[j]);
        }
      Mat Tm = zeros(C, C); // (I - L_A) T = I by forward substitution
      for (int64_t col = 0; col < C; ++col)
        for (int64_t i = 0; i < C; ++i) {
          double s = i == col ? 1.0 : 0.0;
          for (int64_t j = 0; j < i; ++j) s += LA[i][j] * Tm[j][col];
          Tm[i][col] = s;
        }
      auto mul = [](const Mat &x, const Mat &y) {
        Mat z = zeros((int64_t)x.size(), (int64_t)y[0].size());
        for (size_t i = 0; i < x.size(); ++i)
          for (size_t l = 0; l < y.size(); ++l)
            if (x[i][l] != 0)
              for (size_t j = 0; j < y[0].size(); ++j) z[i][j] += x[i][l] * y[l][j];
        return z;
      };
      Mat GB = Bm;
      for (int64_t i = 0; i < C; ++i)
        for (double &x : GB[i]) x *= std::exp(bprev[i]);
      const Mat W = mul(Tm, GB), R = mul(Tm, LK);
      Mat Qp = mul(MQA, W), P = mul(MQA, R);
      for (int64_t i = 0; i < C; ++i) {
        for (int64_t j = 0; j < K; ++j) Qp[i][j] += std::exp(bc[i]) * Q[i][j];
        for (int64_t j = 0; j < C; ++j) P[i][j] += MQK[i][j];
      }
      auto got = [&](const std::vector<bf16> &x, int64_t D) {
        Mat m = zeros(C, D);
        for (int64_t i = 0; i < C; ++i)
          for (int64_t j = 0; j < D; ++j) m[i][j] = __bfloat162float(x[((c * C + i) * H + h) * D + j]);
        return m;
      };
      INFO("W " << relL2(got(w, K), W) << " R " << relL2(got(r, C), R) << " Q' " << relL2(got(qp, K), Qp) << " P " << relL2(got(pv, C), P));
      CHECK(relL2(got(w, K), W) < 1e-2);
      CHECK(relL2(got(r, C), R) < 1e-2);
      CHECK(relL2(got(qp, K), Qp) < 1e-2);
      CHECK(relL2(got(pv, C), P) < 1e-2);
    }
}

TEST_CASE("CUDA chunked kernels (emulated): the UT forward of a gated delta rule (prepare, then the state walk)",
          "[cuda-emulation]") {
  constexpr int64_t V = 32, WARPS = 2; // one CTA per (head): 16 value columns a warp
  Inputs in(V);
  cuda::ScanParams &p = in.p;
  std::mt19937_64 rng(43);
  std::normal_distribution<float> nd;
  std::vector<float> init(B * H * K * V), state(init.size(), NAN), o(B * T * H * V, NAN);
  for (float &x : init) x = 0.5f * nd(rng);
  p.init.p = init.data(), p.init.s0 = H * K * V, p.init.s1 = K * V, p.init.s2 = V, p.init.s3 = 1;
  p.state.p = state.data(), p.state.s0 = H * K * V, p.state.s1 = K * V, p.state.s2 = V, p.state.s3 = 1;
  p.o.p = o.data(), p.o.s0 = T * H * V, p.o.s1 = H * V, p.o.s2 = V, p.o.s3 = 1;
  p.scale = 0.7f;
  std::vector<bf16> w(B * SLOTS * C * H * K), qp(w.size()), r(B * SLOTS * C * H * C), pv(r.size());
  const cuda::DeltaChunks d = prepare(p, w, qp, r, pv);
  emu::launch(Dim3{(unsigned)(V / (16 * WARPS)), (unsigned)H, (unsigned)B}, 32 * WARPS,
              [&] { cuda::deltaStates<K, WARPS, true, true, false>(p, d); },
              cuda::DeltaStatesLayout<K, 16 * WARPS>::bytes);
  // The recurrence in float64 on the same rounded inputs.
  double num = 0, den = 0, snum = 0, sden = 0;
  for (int64_t h = 0; h < H; ++h) {
    Mat S = zeros(K, V);
    for (int64_t i = 0; i < K; ++i)
      for (int64_t j = 0; j < V; ++j) S[i][j] = init[(h * K + i) * V + j];
    for (int64_t t = 0; t < T; ++t) {
      auto at = [&](const std::vector<bf16> &x, int64_t D, int64_t i) {
        return (double)__bfloat162float(x[(t * H + h) * D + i]);
      };
      const double f = std::exp((double)in.g[t * H + h]);
      std::vector<double> w(V, 0.0); // b^T S_{t-1}
      for (int64_t i = 0; i < K; ++i)
        for (int64_t j = 0; j < V; ++j) w[j] += at(in.b, K, i) * S[i][j];
      for (int64_t i = 0; i < K; ++i)
        for (int64_t j = 0; j < V; ++j) S[i][j] = f * S[i][j] + at(in.a, K, i) * w[j] + at(in.k, K, i) * at(in.v, V, j);
      for (int64_t j = 0; j < V; ++j) {
        double oj = 0;
        for (int64_t i = 0; i < K; ++i) oj += S[i][j] * at(in.q, K, i);
        oj *= 0.7;
        const double got = o[(t * H + h) * V + j];
        num += (got - oj) * (got - oj), den += oj * oj;
      }
    }
    for (int64_t i = 0; i < K; ++i)
      for (int64_t j = 0; j < V; ++j) {
        const double got = state[(h * K + i) * V + j];
        snum += (got - S[i][j]) * (got - S[i][j]), sden += S[i][j] * S[i][j];
      }
  }
  INFO("o " << std::sqrt(num / den) << ", final state " << std::sqrt(snum / sden));
  CHECK(std::sqrt(num / den) < 1e-2);
  CHECK(std::sqrt(snum / sden) < 1e-2);
}
