// The delta rules' per-token scalars computed in the kernels' loads
// (scalars_in_loads, a printed TokenScalars functor), on host threads
// (test/unit/CudaEmulation.h): Gated DeltaNet as users write it,
//   g = -exp(A_log_h) softplus(a + dt_bias_h),   beta = sigmoid(beta_raw),
//   S_t = exp(g) (I - beta k k^T) S_{t-1} + beta k v^T,   o_t = c S_t^T q_t,
// in the scaled form the kernels take (b = k, a = -exp(g) beta k, the key
// beta k). The recurrent sweep (decoding, short calls) with q and k
// normalized in its loads, and the chunked UT forward (deltaPrepare writing
// the chunk's scalars for the deltaStates walk), each against the recurrence
// in float64 on the same rounded inputs and against the same kernels reading
// the scalars as stored (StoredScalars), which must agree to rounding.
#include "test/unit/CudaEmulation.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

using namespace mixc;
using cuda::tile::bf16;

namespace {

constexpr int64_t H = 2, K = 64;

// The printed functor's shape (codegen/CudaLoadFunctors.cpp) for the chain
// above: scalarIn = {a, beta_raw}, scalarParams = {A_log, dt_bias}.
struct GdnScalars {
  static constexpr bool fused = true;
  static float gate(const cuda::ScanParams &p, int64_t b, int64_t t, int64_t h) {
    const float x = p.scalarIn[0].at(b, t, h, 0) + p.scalarParams[1].at(0, 0, h, 0);
    return -std::exp(p.scalarParams[0].at(0, 0, h, 0)) * (x > 20.f ? x : std::log1p(std::exp(x)));
  }
  static float beta(const cuda::ScanParams &p, int64_t b, int64_t t, int64_t h) {
    return 1.f / (1.f + std::exp(-p.scalarIn[1].at(b, t, h, 0)));
  }
  static float decay(const cuda::ScanParams &p, int64_t b, int64_t t, int64_t h) { return gate(p, b, t, h); }
  static float aScale(const cuda::ScanParams &p, int64_t b, int64_t t, int64_t h) {
    return -std::exp(gate(p, b, t, h)) * beta(p, b, t, h);
  }
  static float kScale(const cuda::ScanParams &p, int64_t b, int64_t t, int64_t h) { return beta(p, b, t, h); }
};

cuda::View rows(void *x, int dtype, int64_t T, int64_t D) {
  cuda::View w;
  w.p = x, w.dtype = dtype, w.s3 = 1, w.s2 = D, w.s1 = H * D, w.s0 = T * H * D;
  return w;
}

// Random inputs of B x T tokens (realistic gates: A_log, dt_bias, a and beta
// as models hold them), the fused call's ScanParams and the stored one's
// (the scalars written out by the same functor).
struct Call {
  int64_t B, T, V;
  std::vector<bf16> q, k, v;
  std::vector<float> a, beta, aLog, dtBias, init, g, sa, sk;
  cuda::ScanParams fused, stored;
  Call(int64_t B_, int64_t T_, int64_t V_, bool unitRows, unsigned seed)
      : B(B_), T(T_), V(V_), q(B * T * H * K), k(q.size()), v(B * T * H * V), a(B * T * H), beta(a.size()), aLog(H),
        dtBias(H), init(B * H * K * V), g(a.size()), sa(a.size()), sk(a.size()) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> nd;
    std::uniform_real_distribution<float> u(0.f, 1.f);
    for (int64_t r = 0; r < B * T * H; ++r) {
      float qn = 0, kn = 0, qx[K], kx[K];
      for (int64_t i = 0; i < K; ++i) qx[i] = nd(rng), kx[i] = nd(rng), qn += qx[i] * qx[i], kn += kx[i] * kx[i];
      for (int64_t i = 0; i < K; ++i) {
        q[r * K + i] = __float2bfloat16(unitRows ? qx[i] / std::sqrt(qn) : 0.7f * qx[i]);
        k[r * K + i] = __float2bfloat16(unitRows ? kx[i] / std::sqrt(kn) : 1.3f * kx[i]);
      }
      for (int64_t j = 0; j < V; ++j) v[r * V + j] = __float2bfloat16(nd(rng));
      a[r] = nd(rng), beta[r] = nd(rng);
    }
    for (int64_t h = 0; h < H; ++h) aLog[h] = std::log(1.f + 15.f * u(rng)), dtBias[h] = 0.5f * nd(rng);
    for (float &x : init) x = 0.5f * nd(rng);
    auto scalarsView = [&](std::vector<float> &x) {
      cuda::View w;
      w.p = x.data(), w.dtype = MIXC_F32, w.s3 = 0, w.s2 = 1, w.s1 = H, w.s0 = T * H;
      return w;
    };
    auto perHead = [&](std::vector<float> &x) {
      cuda::View w;
      w.p = x.data(), w.dtype = MIXC_F32, w.s2 = 1;
      return w;
    };
    cuda::ScanParams &p = fused;
    p.q = rows(q.data(), MIXC_BF16, T, K), p.k = p.a = p.b = rows(k.data(), MIXC_BF16, T, K);
    p.v = rows(v.data(), MIXC_BF16, T, V);
    p.scalarIn[0] = scalarsView(a), p.scalarIn[1] = scalarsView(beta);
    p.scalarParams[0] = perHead(aLog), p.scalarParams[1] = perHead(dtBias);
    p.init.p = init.data(), p.init.s0 = H * K * V, p.init.s1 = K * V, p.init.s2 = V, p.init.s3 = 1;
    p.B = B, p.T = T, p.H = H, p.Vs = V, p.scale = 0.125f;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < H; ++h) {
          const int64_t e = (b * T + t) * H + h;
          g[e] = GdnScalars::decay(p, b, t, h), sa[e] = GdnScalars::aScale(p, b, t, h);
          sk[e] = GdnScalars::kScale(p, b, t, h);
        }
    stored = fused;
    for (cuda::View &x : stored.scalarIn) x = cuda::View{};
    for (cuda::View &x : stored.scalarParams) x = cuda::View{};
    stored.decay = scalarsView(g), stored.aScale = scalarsView(sa), stored.kScale = scalarsView(sk);
  }
  // Where a call writes o [B, T, H, V] and the final state [B, H, K, V].
  static void outputs(cuda::ScanParams &p, std::vector<float> &o, std::vector<float> &state, int64_t T, int64_t V) {
    p.o.p = o.data(), p.o.s0 = T * H * V, p.o.s1 = H * V, p.o.s2 = V, p.o.s3 = 1;
    p.state.p = state.data(), p.state.s0 = H * K * V, p.state.s1 = K * V, p.state.s2 = V, p.state.s3 = 1;
  }
  // Relative L2 of o and of the final state against the recurrence in
  // float64 (q and k normalized there when `norms`).
  std::pair<double, double> error(const std::vector<float> &o, const std::vector<float> &state, bool norms) const {
    double num = 0, den = 0, snum = 0, sden = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h) {
        std::vector<double> S(K * V);
        for (int64_t e = 0; e < K * V; ++e) S[e] = init[(b * H + h) * K * V + e];
        for (int64_t t = 0; t < T; ++t) {
          const int64_t r = (b * T + t) * H + h;
          double qr[K], kr[K], qn = 0, kn = 0;
          for (int64_t i = 0; i < K; ++i) {
            qr[i] = __bfloat162float(q[r * K + i]), kr[i] = __bfloat162float(k[r * K + i]);
            qn += qr[i] * qr[i], kn += kr[i] * kr[i];
          }
          for (int64_t i = 0; i < K; ++i)
            if (norms) qr[i] /= std::sqrt(qn + 1e-12), kr[i] /= std::sqrt(kn + 1e-12);
          const double x = (double)a[r] + dtBias[h];
          const double gate = -std::exp((double)aLog[h]) * (x > 20 ? x : std::log1p(std::exp(x)));
          const double be = 1 / (1 + std::exp(-(double)beta[r])), f = std::exp(gate);
          std::vector<double> w(V, 0.0); // k^T S_{t-1}
          for (int64_t i = 0; i < K; ++i)
            for (int64_t j = 0; j < V; ++j) w[j] += kr[i] * S[i * V + j];
          for (int64_t i = 0; i < K; ++i)
            for (int64_t j = 0; j < V; ++j)
              S[i * V + j] = f * (S[i * V + j] - be * kr[i] * w[j]) + be * kr[i] * __bfloat162float(v[r * V + j]);
          for (int64_t j = 0; j < V; ++j) {
            double oj = 0;
            for (int64_t i = 0; i < K; ++i) oj += S[i * V + j] * qr[i];
            oj *= 0.125;
            const double got = o[r * V + j];
            num += (got - oj) * (got - oj), den += oj * oj;
          }
        }
        for (int64_t e = 0; e < K * V; ++e) {
          const double got = state[(b * H + h) * K * V + e];
          snum += (got - S[e]) * (got - S[e]), sden += S[e] * S[e];
        }
      }
    return {std::sqrt(num / den), std::sqrt(snum / sden)};
  }
};

double relL2(const std::vector<float> &x, const std::vector<float> &y) {
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) num += ((double)x[i] - y[i]) * ((double)x[i] - y[i]), den += (double)y[i] * y[i];
  return std::sqrt(num / den);
}

// The recurrent sweep, a CTA of 2 warps per 8 value columns (4 columns a warp,
// 8 lanes over the 64 keys), TC tokens staged at a time (the state block
// passes through the staging buffer in (TC x 64) / 9 rows at a time: all 64
// at TC = 32, five passes at TC = 2).
template <int TC, typename Scalars> void sweep(const Call &c, const cuda::ScanParams &p) {
  emu::launch(Dim3{(unsigned)((c.V + 7) / 8), (unsigned)H, (unsigned)c.B}, 64, [&] {
    cuda::scanRecurrent<cuda::Structure::dplr, K, 4, 2, TC, cuda::DiagKind::scalar, false, false, false, true,
                        cuda::NoMap, Scalars>(p);
  });
}

} // namespace

TEST_CASE("CUDA recurrent sweep (emulated): Gated DeltaNet's gate and beta computed in the loads",
          "[cuda-emulation]") {
  // A decoding step, and an odd call over two staged windows; V = 12: the
  // second value block partial.
  for (int64_t T : {1, 37}) {
    INFO("T = " << T);
    Call c(2, T, 12, /*unitRows=*/false, 51 + (unsigned)T);
    c.fused.l2normQ = c.fused.l2normB = c.stored.l2normQ = c.stored.l2normB = true;
    std::vector<float> o(c.B * T * H * c.V, NAN), state(c.init.size(), NAN), o2(o), state2(state);
    Call::outputs(c.fused, o, state, T, c.V);
    Call::outputs(c.stored, o2, state2, T, c.V);
    sweep<32, GdnScalars>(c, c.fused);
    sweep<2, cuda::StoredScalars>(c, c.stored);
    const auto [eo, es] = c.error(o, state, /*norms=*/true);
    INFO("o " << eo << ", final state " << es);
    CHECK(eo < 1e-4); // fp32 state, bf16 inputs rounded the same for the reference
    CHECK(es < 1e-4);
    CHECK(relL2(o, o2) < 1e-6);
    CHECK(relL2(state, state2) < 1e-6);
  }
}

TEST_CASE("CUDA chunked kernels (emulated): Gated DeltaNet's gate and beta computed by the UT prepare for the walk",
          "[cuda-emulation]") {
  constexpr int64_t B = 1, T = 100, V = 32, WARPS = 2, C = cuda::chunk::C, SLOTS = (T + C - 1) / C;
  auto forward = [&](Call &c, cuda::ScanParams &p, bool fusedScalars, std::vector<float> &o,
                     std::vector<float> &state) {
    Call::outputs(p, o, state, T, V);
    std::vector<bf16> w(B * SLOTS * C * H * K), qp(w.size()), r(B * SLOTS * C * H * C), pv(r.size());
    std::vector<float> scalars(B * SLOTS * H * 3 * C, NAN);
    cuda::DeltaChunks d;
    d.w = cuda::chunkRows(p, w.data(), K), d.qp = cuda::chunkRows(p, qp.data(), K);
    d.r = cuda::chunkRows(p, r.data(), C), d.pv = cuda::chunkRows(p, pv.data(), C);
    if (fusedScalars) d.scalars = scalars.data();
    emu::launch(
        Dim3{(unsigned)(SLOTS * H * B), 1, 1}, 256,
        [&] {
          if (fusedScalars) cuda::deltaPrepare<K, true, true, true, GdnScalars>(p, d);
          else cuda::deltaPrepare<K, true, true, true>(p, d);
        },
        cuda::DeltaPrepareLayout<K>::bytes);
    if (fusedScalars) // every slot's scalars written (zeros past T)
      for (float x : scalars) REQUIRE(!std::isnan(x));
    emu::launch(Dim3{(unsigned)(V / (16 * WARPS)), (unsigned)H, (unsigned)B}, 32 * WARPS,
                [&] { cuda::deltaStates<K, WARPS, true, true, true>(p, d); },
                cuda::DeltaStatesLayout<K, 16 * WARPS>::bytes);
  };
  Call c(B, T, V, /*unitRows=*/true, 61);
  std::vector<float> o(B * T * H * V, NAN), state(c.init.size(), NAN), o2(o), state2(state);
  forward(c, c.fused, true, o, state);
  forward(c, c.stored, false, o2, state2);
  const auto [eo, es] = c.error(o, state, /*norms=*/false);
  INFO("o " << eo << ", final state " << es);
  CHECK(eo < 1e-2); // bf16 tensor-core products
  CHECK(es < 1e-2);
  CHECK(relL2(o, o2) < 1e-6);
  CHECK(relL2(state, state2) < 1e-6);
}
