// The CUDA backward's checkpointed reverse sweep (mixc_cuda_checkpoint_grad.cuh:
// Mamba-1's elementwise decays, factors that may be negative, mLSTM) and the
// low-rank recurrences' sweeps (mixc_cuda_sweep_grad.cuh: three for DeltaNet,
// two from checkpoints with a decay: Gated DeltaNet, KDA) run on host threads through test/unit/CudaEmulation.h, against
// the float64 reference's gradients: the kernels' indexing, lane layout, partial row sums
// over value blocks and stretches of checkpoints, checked in CI without a GPU.
// Launches mirror launchCheckpointGrad / launchMlstmGrad / launchSweepGrad. Shapes are small
// but cover two value blocks (the second partly past V), several stretches
// with a partial last one, and a partial run of recomputed states; packed
// sequences (cu_seqlens) each against the reference run on it alone.
#include "test/unit/CudaEmulation.h"

#include "runtime/reference/RecurrenceGrad.h"
#include "test/unit/RandomArrays.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <random>

using namespace mixc;
using mixc::ref::Array;
using mixc::rt::DiagKind;
using mixc::rt::Structure;

namespace {

constexpr int64_t B = 2, T = 40, H = 2, K = 16, V = 12;
constexpr int CPW = 4, WARPS = 2, C = 32; // 8 value columns per CTA: two blocks; stretches of 32

std::vector<float> f32(const Array &a) { return std::vector<float>(a.data.begin(), a.data.end()); }

// (b, t, h, j) over [B, Tn, H, w] (w = 1: per-token scalars).
cuda::View rows(std::vector<float> &x, int64_t w, int64_t Tn = T) {
  cuda::View v;
  v.p = x.data();
  v.s3 = w == 1 ? 0 : 1, v.s2 = w, v.s1 = H * w, v.s0 = Tn * H * w;
  return v;
}
// (n, h, k, v) over [N, H, K, Vs].
cuda::View states(std::vector<float> &x, int64_t Vs) {
  cuda::View v;
  v.p = x.data();
  v.s3 = 1, v.s2 = Vs, v.s1 = K * Vs, v.s0 = H * K * Vs;
  return v;
}

double relL2(const std::vector<float> &got, const Array &want) {
  REQUIRE(got.size() == want.data.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = got[i] - want.data[i];
    num += d * d, den += want.data[i] * want.data[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

struct Inputs {
  Array q, k, v, decay, dt, igate, init, initM, dO, dF;
  ref::RecurrenceInputs in;
  ref::RecurrenceGrads want;
};

enum class Kind { elementwise, scalarFactor, scalarLog, identity, vectorLog, mlstm };

Inputs make(Kind kind, bool reverse, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Inputs x;
  const int64_t Vs = V + (kind == Kind::mlstm ? 1 : 0);
  x.q = ref::randn({B, T, H, K}, rng), x.k = ref::randn({B, T, H, K}, rng, 0.5), x.v = ref::randn({B, T, H, V}, rng);
  x.init = ref::randn({B, H, K, Vs}, rng), x.dO = ref::randn({B, T, H, V}, rng), x.dF = ref::randn({B, H, K, Vs}, rng);
  ref::RecurrenceInputs &in = x.in;
  in.direction = reverse ? ref::Direction::reverse : ref::Direction::forward;
  in.scale = 0.7;
  switch (kind) {
  case Kind::elementwise: // Mamba-1: exp(rate dt), rate < 0 per head, key and channel
    in.structure = ref::Structure::elementwise;
    x.decay = ref::uniform({1, 1, H, K, V}, rng, -2.0, -0.1);
    x.dt = ref::uniform({B, T, H, V}, rng, 0.05, 1.5);
    in.decay = &x.decay, in.dt = &x.dt;
    break;
  case Kind::scalarFactor: { // Mamba-2's (-1, 1): factors, some negative, never zero
    in.structure = ref::Structure::scalar;
    x.decay = ref::uniform({B, T, H}, rng, 0.2, 0.95);
    std::bernoulli_distribution neg(0.3);
    for (double &e : x.decay.data) e = neg(rng) ? -e : e;
    in.decay = &x.decay, in.decayIsFactor = true;
    break;
  }
  case Kind::scalarLog: // simple GLA, RetNet: a log-decay per head and token
    in.structure = ref::Structure::scalar;
    x.decay = ref::uniform({B, T, H}, rng, -2.0, -0.02);
    in.decay = &x.decay;
    break;
  case Kind::identity: // linear attention
    in.structure = ref::Structure::identity;
    break;
  case Kind::vectorLog: // GLA-like per-key log-decays
    in.structure = ref::Structure::vector;
    x.decay = ref::uniform({B, T, H, K}, rng, -3.0, -0.05);
    in.decay = &x.decay;
    break;
  case Kind::mlstm: // logsigmoid forget gates, exponential input gates
    in.structure = ref::Structure::scalar;
    in.normalizer = ref::Normalizer::mlstm;
    x.decay = ref::uniform({B, T, H}, rng, -3.0, -0.02);
    x.igate = ref::randn({B, T, H}, rng);
    x.initM = ref::randn({B, H}, rng, 0.5);
    in.decay = &x.decay, in.igate = &x.igate, in.initM = &x.initM;
    break;
  }
  in.q = &x.q, in.k = &x.k, in.v = &x.v, in.init = &x.init;
  REQUIRE(ref::runRecurrenceGrad(in, &x.dO, &x.dF, x.want).empty());
  return x;
}

// The fp32 copies the kernels read, and ScanParams over them.
struct Device {
  std::vector<float> q, k, v, decay, dt, igate, init, initM, dO, dF;
  cuda::ScanParams p;
  explicit Device(Inputs &x, int64_t Vs) {
    q = f32(x.q), k = f32(x.k), v = f32(x.v), init = f32(x.init), dO = f32(x.dO), dF = f32(x.dF);
    p.q = rows(q, K), p.k = rows(k, K), p.v = rows(v, V), p.init = states(init, Vs);
    if (!x.decay.data.empty()) decay = f32(x.decay);
    if (!x.dt.data.empty()) dt = f32(x.dt), p.dt = rows(dt, V);
    if (!x.igate.data.empty()) igate = f32(x.igate), p.igate = rows(igate, 1);
    if (!x.initM.data.empty()) {
      initM = f32(x.initM);
      p.initM.p = initM.data(), p.initM.s0 = H, p.initM.s1 = 1;
    }
    p.B = B, p.T = T, p.H = H, p.Vs = Vs, p.scale = (float)x.in.scale;
    p.reverse = x.in.direction == ref::Direction::reverse;
  }
};

template <Structure S, bool LogDecay, bool HasDt> void checkSweep(Kind kind, bool reverse) {
  Inputs x = make(kind, reverse, 7);
  Device d(x, V);
  if (S == Structure::elementwise) {
    d.p.rate.p = d.decay.data(), d.p.rate.s1 = K * V, d.p.rate.s2 = V, d.p.rate.s3 = 1;
  } else if (S != Structure::identity) {
    d.p.decay = rows(d.decay, S == Structure::vector ? K : 1);
  }
  // launchCheckpointGrad's scratch and launches.
  constexpr int VB = WARPS * CPW, NSUMS = cuda::ckptSums<S>();
  const int64_t tokens = B * T, slab = tokens * H * K, blocks = (V + VB - 1) / VB, stretches = (T + C - 1) / C;
  std::vector<float> ckpt(B * H * stretches * K * V), part(NSUMS * blocks * slab, 0.f), drateParts(B * H * K * V);
  std::vector<float> dq(slab), dk(slab), dv(tokens * H * V), ddt(tokens * H * V), dinit(B * H * K * V);
  std::vector<float> ddecay(S == Structure::vector ? slab : tokens * H), drate(H * K * V);
  cuda::CheckpointGrad g;
  g.dO = rows(d.dO, V), g.dFinal = states(d.dF, V);
  g.ckpt = ckpt.data(), g.part = part.data(), g.dv = dv.data(), g.ddt = HasDt ? ddt.data() : nullptr;
  g.drate = S == Structure::elementwise ? drateParts.data() : nullptr, g.dinit = dinit.data();
  g.Ttok = T, g.slab = slab, g.blocks = blocks, g.stretches = stretches;
  emu::launch(Dim3{(unsigned)blocks, (unsigned)H, (unsigned)B}, WARPS * 32, [&] {
    cuda::checkpointGradKernel<S, K, CPW, WARPS, LogDecay, HasDt, false, C>(d.p, g);
  });
  cuda::Tensor tq = cuda::tensorOver(dq, {B, T, H, K}), tk = cuda::tensorOver(dk, {B, T, H, K});
  cuda::Tensor td = NSUMS == 3 ? cuda::tensorOver(ddecay, {(int64_t)ddecay.size()}) : cuda::Tensor{};
  emu::launch(Dim3{2, 1, 1}, 64, [&] {
    cuda::RowSumOuts<NSUMS> sums;
    sums.t[0] = tq, sums.t[1] = tk;
    if constexpr (NSUMS == 3) sums.t[2] = td;
    cuda::blockRowSums<NSUMS, cuda::ckptScalar<S>()>(part.data(), blocks, slab, K, sums);
  });
  if (g.drate) {
    emu::launch(Dim3{1, 1, 1}, 64, [&] { cuda::sumParts<>(g.drate, B, H * K * V, drate.data()); });
  }
  CHECK(relL2(dq, x.want.q) < 1e-4);
  CHECK(relL2(dk, x.want.k) < 1e-4);
  CHECK(relL2(dv, x.want.v) < 1e-4);
  CHECK(relL2(dinit, x.want.init) < 1e-4);
  if (S == Structure::elementwise) {
    CHECK(relL2(drate, x.want.decay) < 1e-4);
    CHECK(relL2(ddt, x.want.dt) < 1e-4);
  } else if (S != Structure::identity) {
    CHECK(relL2(ddecay, x.want.decay) < 1e-4);
  }
}

} // namespace

TEST_CASE("CUDA checkpointed sweep (emulated): Mamba-1's elementwise decays", "[cuda-emulation]") {
  checkSweep<Structure::elementwise, true, true>(Kind::elementwise, false);
}

TEST_CASE("CUDA checkpointed sweep (emulated): scalar factors that may be negative", "[cuda-emulation]") {
  checkSweep<Structure::scalar, false, false>(Kind::scalarFactor, false);
}

// The SSD form's calls that its chunked backward does not take (fp32: launchSsdGrad).
TEST_CASE("CUDA checkpointed sweep (emulated): scalar log-decays and none", "[cuda-emulation]") {
  checkSweep<Structure::scalar, true, false>(Kind::scalarLog, false);
  checkSweep<Structure::identity, true, false>(Kind::identity, false);
}

TEST_CASE("CUDA checkpointed sweep (emulated): per-key log-decays, reverse", "[cuda-emulation]") {
  checkSweep<Structure::vector, true, false>(Kind::vectorLog, true);
}

TEST_CASE("CUDA checkpointed sweep (emulated): mLSTM's stabilized normalizer", "[cuda-emulation]") {
  Inputs x = make(Kind::mlstm, false, 11);
  const int64_t Vs = V + 1;
  Device d(x, Vs);
  d.p.decay = rows(d.decay, 1);
  // launchMlstmGrad's scratch and launches.
  constexpr int VB = WARPS * CPW;
  const int64_t tokens = B * T, slab = tokens * H * K, blocks = (V + VB - 1) / VB, stretches = (T + C - 1) / C;
  const int64_t rowsN = tokens * H;
  std::vector<float> ckpt(B * H * stretches * K * Vs), ckptM(B * H * stretches), mrow(rowsN, 0.f),
      gonum(blocks * rowsN, 0.f), gonumAll(rowsN), floorTerm(rowsN, 0.f), part(4 * blocks * slab, 0.f),
      gates(2 * rowsN);
  std::vector<float> dq(slab), dk(slab), dv(tokens * H * V), dinit(B * H * K * Vs), ddecay(rowsN), digate(rowsN),
      dinitM(B * H);
  cuda::MlstmGrad g;
  g.dO = rows(d.dO, V), g.dFinal = states(d.dF, Vs);
  g.ckpt = ckpt.data(), g.ckptM = ckptM.data(), g.mrow = mrow.data(), g.gonum = gonum.data();
  g.gonumAll = gonumAll.data(), g.floorTerm = floorTerm.data(), g.part = part.data();
  g.dv = dv.data(), g.dinit = dinit.data();
  g.Ttok = T, g.slab = slab, g.blocks = blocks, g.stretches = stretches;
  const Dim3 grid{(unsigned)blocks, (unsigned)H, (unsigned)B};
  emu::launch(grid, WARPS * 32, [&] { cuda::mlstmGradForward<K, CPW, WARPS, C>(d.p, g); });
  emu::launch(Dim3{2, 1, 1}, 64, [&] { cuda::sumParts<>(g.gonum, blocks, rowsN, g.gonumAll); });
  emu::launch(grid, WARPS * 32, [&] { cuda::mlstmGradReverse<K, CPW, WARPS, C>(d.p, g); });
  cuda::Tensor tq = cuda::tensorOver(dq, {B, T, H, K}), tk = cuda::tensorOver(dk, {B, T, H, K});
  emu::launch(Dim3{2, 1, 1}, 64, [&] { cuda::mlstmGradSumBlocks<>(d.p, g, tq, tk, gates.data(), K); });
  cuda::Tensor tdd = cuda::tensorOver(ddecay, {B, T, H}), tdi = cuda::tensorOver(digate, {B, T, H}), tdm = cuda::tensorOver(dinitM, {B, H});
  emu::launch(Dim3{1, 1, 1}, 64, [&] { cuda::mlstmGradGates<>(d.p, g, gates.data(), tdd, tdi, tdm, B); });
  CHECK(relL2(dq, x.want.q) < 1e-4);
  CHECK(relL2(dk, x.want.k) < 1e-4);
  CHECK(relL2(dv, x.want.v) < 1e-4);
  CHECK(relL2(ddecay, x.want.decay) < 1e-4);
  CHECK(relL2(digate, x.want.igate) < 1e-4);
  CHECK(relL2(dinit, x.want.init) < 1e-4);
  CHECK(relL2(dinitM, x.want.initM) < 1e-4);
}

namespace {
// A delta rule, S_t = D_t S_{t-1} + a_t (b_t^T S_{t-1}) + k_t v_t^T, a = -beta
// b, b = k's normalized rows, with no decay (DeltaNet: the three sweeps), a
// scalar (Gated DeltaNet) or a per-key (KDA) log-decay in [lo, hi] (the
// checkpointed reverse sweep), Tn tokens. `scaled`: passed in the scaled
// low-rank form (b's rows, a_scale = -beta, k_scale = beta) as launchDeltaGrad
// takes it: the rows expanded (scaledRowsKernel), the sweeps, then the
// operands' and the scales' gradients (scaledLowRankGradKernel) against the
// reference's by the chain rule. `decayedB` (with scaled, a per-key decay:
// KDA's form, b^T Diag(exp(g_t)) S_{t-1}): the sweeps read b . exp(g)
// (decayedRowsKernel) and its gradient goes back to b's and the decay's
// (decayedRowsGradKernel), as launchDeltaGrad's fallback does. Returns the
// decay's gradient and the reference's.
struct SweepCase {
  bool reverse = false, scaled = false, decayedB = false;
  int64_t Tn = T;
  double lo = -2.0, hi = -0.02;
};
template <DiagKind Diag> std::pair<std::vector<float>, Array> checkSweeps(const SweepCase &sc) {
  const int64_t Tn = sc.Tn;
  const bool reverse = sc.reverse, scaled = sc.scaled;
  constexpr bool decayed = Diag != DiagKind::none;
  std::mt19937_64 rng(23);
  Array q = ref::randn({B, Tn, H, K}, rng), v = ref::randn({B, Tn, H, V}, rng), b = ref::randn({B, Tn, H, K}, rng);
  for (int64_t r = 0; r < B * Tn * H; ++r) {
    double n = 0;
    for (int64_t i = 0; i < K; ++i) n += b.data[r * K + i] * b.data[r * K + i];
    for (int64_t i = 0; i < K; ++i) b.data[r * K + i] /= std::sqrt(n);
  }
  Array beta = ref::uniform({B, Tn, H}, rng, 0.1, 1.0), a = b, k = b;
  for (int64_t r = 0; r < B * Tn * H; ++r)
    for (int64_t i = 0; i < K; ++i) a.data[r * K + i] *= -beta.data[r], k.data[r * K + i] *= beta.data[r];
  Array decay = Diag == DiagKind::vector ? ref::uniform({B, Tn, H, K}, rng, sc.lo, sc.hi)
                                         : ref::uniform({B, Tn, H}, rng, sc.lo, sc.hi);
  Array init = ref::randn({B, H, K, V}, rng), dO = ref::randn({B, Tn, H, V}, rng), dF = ref::randn({B, H, K, V}, rng);
  Array bPlain = b; // decayed_b: the plain form's b is b . exp(g)
  if (sc.decayedB)
    for (size_t i = 0; i < bPlain.data.size(); ++i) bPlain.data[i] *= std::exp(decay.data[i]);
  ref::RecurrenceInputs in;
  in.structure = ref::Structure::dplr;
  in.direction = reverse ? ref::Direction::reverse : ref::Direction::forward;
  in.scale = 0.7;
  in.q = &q, in.k = &k, in.v = &v, in.a = &a, in.b = &bPlain, in.decay = decayed ? &decay : nullptr, in.init = &init;
  ref::RecurrenceGrads want;
  REQUIRE(ref::runRecurrenceGrad(in, &dO, &dF, want).empty());
  Array wantDecay = want.decay; // back through b . exp(g): + db . b . exp(g)
  if (sc.decayedB)
    for (size_t i = 0; i < wantDecay.data.size(); ++i) wantDecay.data[i] += want.b.data[i] * bPlain.data[i];
  std::vector<float> fq = f32(q), fk = f32(k), fv = f32(v), fa = f32(a), fb = f32(b), fd = f32(decay), fi = f32(init),
                     fo = f32(dO), ff = f32(dF);
  cuda::ScanParams p;
  p.q = rows(fq, K, Tn), p.k = rows(fk, K, Tn), p.v = rows(fv, V, Tn), p.a = rows(fa, K, Tn), p.b = rows(fb, K, Tn);
  if (decayed) p.decay = rows(fd, Diag == DiagKind::scalar ? 1 : K, Tn);
  p.init = states(fi, V);
  p.B = B, p.T = Tn, p.H = H, p.Vs = V, p.scale = 0.7f, p.reverse = reverse;
  std::vector<float> negBeta(B * Tn * H), fbeta = f32(beta), fa2(B * Tn * H * K), fk2(B * Tn * H * K);
  for (size_t i = 0; i < negBeta.size(); ++i) negBeta[i] = -fbeta[i];
  cuda::ScanParams scaledP = p; // the operands as launchDeltaGrad gets them
  if (scaled) {
    scaledP.a = rows(fb, K, Tn), scaledP.k = rows(fb, K, Tn), scaledP.aScale = rows(negBeta, 1, Tn);
    scaledP.kScale = rows(fbeta, 1, Tn);
    cuda::Tensor ta2 = cuda::tensorOver(fa2, {B, Tn, H, K}), tk2 = cuda::tensorOver(fk2, {B, Tn, H, K});
    emu::launch(Dim3{2, 1, 1}, 64, [&] { cuda::scaledRowsKernel<>(scaledP.a, scaledP.aScale, ta2); });
    emu::launch(Dim3{2, 1, 1}, 64, [&] { cuda::scaledRowsKernel<>(scaledP.k, scaledP.kScale, tk2); });
    p.a = rows(fa2, K, Tn), p.k = rows(fk2, K, Tn);
  }
  std::vector<float> fbp(sc.decayedB ? B * Tn * H * K : 0);
  cuda::Tensor tbp = cuda::tensorOver(fbp, {B, Tn, H, K});
  if (sc.decayedB) { // the sweeps read b . exp(g)
    emu::launch(Dim3{2, 1, 1}, 64, [&] { cuda::decayedRowsKernel<>(p.b, p.decay, tbp); });
    p.b = rows(fbp, K, Tn);
  }
  // launchSweepGrad's scratch and launches (C > 0 with a decay).
  constexpr int VB = WARPS * CPW, CK = decayed ? C : 0, NSUMS = decayed ? 5 : 2;
  const int64_t tokens = B * Tn, slab = tokens * H * K, blocks = (V + VB - 1) / VB, stretches = (Tn + C - 1) / C;
  std::vector<float> w(tokens * H * V), dw(tokens * H * V), part(NSUMS * blocks * slab, 0.f);
  std::vector<float> ckpt(decayed ? B * H * stretches * K * V : 1);
  std::vector<float> dq(slab), dk(slab), da(slab), db(slab), dv(tokens * H * V), dinit(B * H * K * V);
  std::vector<float> dd(Diag == DiagKind::scalar ? tokens * H : slab);
  cuda::SweepGrad g;
  g.dO = rows(fo, V, Tn), g.dFinal = states(ff, V);
  g.w = w.data(), g.part = part.data(), g.dv = dv.data(), g.dinit = dinit.data();
  if (decayed) g.ckpt = ckpt.data(), g.stretches = stretches;
  else g.dw = dw.data();
  g.Ttok = Tn, g.slab = slab, g.blocks = blocks;
  const Dim3 grid{(unsigned)blocks, (unsigned)H, (unsigned)B};
  cuda::Tensor tq = cuda::tensorOver(dq, {B, Tn, H, K}), tk = cuda::tensorOver(dk, {B, Tn, H, K}), ta = cuda::tensorOver(da, {B, Tn, H, K}),
               tb = cuda::tensorOver(db, {B, Tn, H, K}), tdd = cuda::tensorOver(dd, {(int64_t)dd.size()});
  emu::launch(grid, WARPS * 32, [&] { cuda::sweepGradForward<K, CPW, WARPS, Diag, true, false, CK>(p, g); });
  if constexpr (decayed) {
    emu::launch(grid, WARPS * 32, [&] { cuda::sweepGradReverseCheckpointed<K, CPW, WARPS, Diag, true, C>(p, g); });
    emu::launch(Dim3{2, 1, 1}, 64, [&] {
      cuda::blockRowSums<5, Diag == DiagKind::scalar>(part.data(), blocks, slab, K,
                                                      cuda::RowSumOuts<5>{{tk, ta, tq, tb, tdd}});
    });
    if (sc.decayedB) // db to b's own rows, the decay's gradient + db . b . exp(g)
      emu::launch(Dim3{2, 1, 1}, 64, [&] { cuda::decayedRowsGradKernel<>(scaledP.decay, tbp, tb, tdd); });
    INFO("ddecay " << relL2(dd, wantDecay));
    CHECK(relL2(dd, wantDecay) < 1e-4);
  } else {
    emu::launch(grid, WARPS * 32, [&] { cuda::sweepGradReverse<K, CPW, WARPS, Diag, true>(p, g); });
    emu::launch(Dim3{2, 1, 1}, 64, [&] { cuda::blockRowSums<2, false>(part.data(), blocks, slab, K, cuda::RowSumOuts<2>{{tk, ta}}); });
    std::fill(part.begin(), part.end(), 0.f);
    emu::launch(grid, WARPS * 32, [&] { cuda::sweepGradForward<K, CPW, WARPS, Diag, true, true>(p, g); });
    emu::launch(Dim3{2, 1, 1}, 64, [&] { cuda::blockRowSums<2, false>(part.data(), blocks, slab, K, cuda::RowSumOuts<2>{{tq, tb}}); });
  }
  CHECK(relL2(dq, want.q) < 1e-4);
  CHECK(relL2(dv, want.v) < 1e-4);
  CHECK(relL2(dinit, want.init) < 1e-4);
  if (!scaled) {
    CHECK(relL2(dk, want.k) < 1e-4);
    CHECK(relL2(da, want.a) < 1e-4);
    CHECK(relL2(db, want.b) < 1e-4);
    return {dd, want.decay};
  }
  // dk <- beta dk, d k_scale = <dk, b>; db <- db - beta da, d a_scale = <da, b>.
  std::vector<float> dkScale(B * Tn * H), daScale(B * Tn * H);
  emu::launch(Dim3{2, 1, 1}, 64, [&] {
    cuda::scaledLowRankGradKernel<>(scaledP, tk, ta, tb, cuda::tensorOver(dkScale, {B, Tn, H}), cuda::tensorOver(daScale, {B, Tn, H}), B,
                                    Tn, K);
  });
  Array wantK({B, Tn, H, K}), wantB({B, Tn, H, K}), wantKs({B, Tn, H}), wantAs({B, Tn, H});
  for (int64_t r = 0; r < B * Tn * H; ++r)
    for (int64_t i = 0; i < K; ++i) {
      const int64_t e = r * K + i;
      wantK.data[e] = beta.data[r] * want.k.data[e];
      wantB.data[e] = want.b.data[e] * (sc.decayedB ? std::exp(decay.data[e]) : 1.0) - beta.data[r] * want.a.data[e];
      wantKs.data[r] += want.k.data[e] * b.data[e];
      wantAs.data[r] += want.a.data[e] * b.data[e];
    }
  CHECK(relL2(dk, wantK) < 1e-4);
  CHECK(relL2(db, wantB) < 1e-4);
  CHECK(relL2(dkScale, wantKs) < 1e-4);
  CHECK(relL2(daScale, wantAs) < 1e-4);
  return {dd, want.decay};
}
} // namespace

TEST_CASE("CUDA sweeps (emulated): a delta rule without a decay (three sweeps)", "[cuda-emulation]") {
  checkSweeps<DiagKind::none>({});
  checkSweeps<DiagKind::none>({/*reverse=*/true, /*scaled=*/true});
}

TEST_CASE("CUDA sweeps (emulated): a delta rule with a scalar log-decay (checkpointed)", "[cuda-emulation]") {
  checkSweeps<DiagKind::scalar>({});
}

TEST_CASE("CUDA sweeps (emulated): per-key log-decays (KDA), reverse", "[cuda-emulation]") {
  checkSweeps<DiagKind::vector>({/*reverse=*/true});
}

TEST_CASE("CUDA sweeps (emulated): the scaled low-rank form (DeltaNet's -beta b, beta b)", "[cuda-emulation]") {
  checkSweeps<DiagKind::scalar>({/*reverse=*/false, /*scaled=*/true});
}

TEST_CASE("CUDA sweeps (emulated): KDA's decayed_b (b . exp(g) for the sweeps, back after)", "[cuda-emulation]") {
  checkSweeps<DiagKind::vector>({/*reverse=*/false, /*scaled=*/true, /*decayedB=*/true});
}

// A per-head decay parameter's gradient (A_log, dt_bias) is the sum of the
// per-token decay gradients, whose terms nearly cancel over a long sequence of
// weak decays: the sum must be as exact as the tokens' (about 1e-6 here; a telescoped form of
// the per-token gradient was 3e-4 off at T = 1000 in fp32 on the GPU).
TEST_CASE("CUDA sweeps (emulated): a decay's gradient summed over 256 tokens", "[cuda-emulation]") {
  SweepCase sc;
  sc.Tn = 256, sc.lo = -0.05, sc.hi = -0.001;
  auto [dd, want] = checkSweeps<DiagKind::scalar>(sc);
  double num = 0, den = 0;
  for (int64_t h = 0; h < H; ++h) {
    double got = 0, ref = 0;
    for (int64_t r = h; r < (int64_t)dd.size(); r += H) got += dd[r], ref += want.data[r];
    num += (got - ref) * (got - ref), den += ref * ref;
  }
  INFO("the per-head sums' relative L2 error " << std::sqrt(num / den));
  CHECK(std::sqrt(num / den) < 1e-5);
}

using ref::slice;

// Packed sequences (cu_seqlens): sequences of 1, 37 and 30 tokens in one row,
// each against the float64 reference run on that sequence alone, the rate's
// gradient against the sum over the sequences.
TEST_CASE("CUDA checkpointed sweep (emulated): packed sequences", "[cuda-emulation]") {
  const std::vector<int64_t> starts = {0, 1, 38, 68};
  const int64_t NS = 3, Tp = 68, Tmax = 37;
  std::mt19937_64 rng(5);
  Array q = ref::randn({1, Tp, H, K}, rng), k = ref::randn({1, Tp, H, K}, rng, 0.5), v = ref::randn({1, Tp, H, V}, rng);
  Array rate = ref::uniform({1, 1, H, K, V}, rng, -2.0, -0.1), dt = ref::uniform({1, Tp, H, V}, rng, 0.05, 1.5);
  Array init = ref::randn({NS, H, K, V}, rng), dO = ref::randn({1, Tp, H, V}, rng), dF = ref::randn({NS, H, K, V}, rng);
  std::vector<float> fq = f32(q), fk = f32(k), fv = f32(v), fr = f32(rate), fdt = f32(dt), fi = f32(init),
                     fo = f32(dO), ff = f32(dF);
  auto packed = [&](std::vector<float> &x, int64_t w) { // (0, t, h, j) over [1, Tp, H, w]
    cuda::View view;
    view.p = x.data(), view.s3 = 1, view.s2 = w, view.s1 = H * w, view.s0 = 0;
    return view;
  };
  cuda::ScanParams p;
  p.q = packed(fq, K), p.k = packed(fk, K), p.v = packed(fv, V), p.dt = packed(fdt, V), p.init = states(fi, V);
  p.rate.p = fr.data(), p.rate.s1 = K * V, p.rate.s2 = V, p.rate.s3 = 1;
  p.seqStart = starts.data(), p.B = NS, p.T = Tmax, p.H = H, p.Vs = V, p.scale = 0.7f;
  constexpr int VB = WARPS * CPW;
  const int64_t slab = Tp * H * K, blocks = (V + VB - 1) / VB, stretches = (Tmax + C - 1) / C;
  std::vector<float> ckpt(NS * H * stretches * K * V), part(2 * blocks * slab, 0.f), drateParts(NS * H * K * V);
  std::vector<float> dq(slab), dk(slab), dv(Tp * H * V), ddt(Tp * H * V), dinit(NS * H * K * V), drate(H * K * V);
  cuda::CheckpointGrad g;
  g.dO = packed(fo, V), g.dFinal = states(ff, V);
  g.ckpt = ckpt.data(), g.part = part.data(), g.dv = dv.data(), g.ddt = ddt.data(), g.drate = drateParts.data();
  g.dinit = dinit.data(), g.Ttok = Tp, g.slab = slab, g.blocks = blocks, g.stretches = stretches;
  emu::launch(Dim3{(unsigned)blocks, (unsigned)H, (unsigned)NS}, WARPS * 32, [&] {
    cuda::checkpointGradKernel<Structure::elementwise, K, CPW, WARPS, true, true, false, C>(p, g);
  });
  cuda::Tensor tq = cuda::tensorOver(dq, {1, Tp, H, K}), tk = cuda::tensorOver(dk, {1, Tp, H, K});
  emu::launch(Dim3{2, 1, 1}, 64,
              [&] { cuda::blockRowSums<2, false>(part.data(), blocks, slab, K, cuda::RowSumOuts<2>{{tq, tk}}); });
  emu::launch(Dim3{1, 1, 1}, 64, [&] { cuda::sumParts<>(g.drate, NS, H * K * V, drate.data()); });
  Array rateSum({1, 1, H, K, V});
  for (int64_t n = 0; n < NS; ++n) {
    const int64_t t0 = starts[n], t1 = starts[n + 1];
    Array qs = slice(q, t0, t1, false), ks = slice(k, t0, t1, false), vs = slice(v, t0, t1, false);
    Array dts = slice(dt, t0, t1, false), is = slice(init, n, n + 1, true), dos = slice(dO, t0, t1, false);
    Array dfs = slice(dF, n, n + 1, true);
    ref::RecurrenceInputs in;
    in.structure = ref::Structure::elementwise, in.scale = 0.7;
    in.q = &qs, in.k = &ks, in.v = &vs, in.decay = &rate, in.dt = &dts, in.init = &is;
    ref::RecurrenceGrads want;
    REQUIRE(ref::runRecurrenceGrad(in, &dos, &dfs, want).empty());
    INFO("sequence " << n);
    auto part_of = [&](const std::vector<float> &x, int64_t w) {
      return std::vector<float>(x.begin() + t0 * H * w, x.begin() + t1 * H * w);
    };
    CHECK(relL2(part_of(dq, K), want.q) < 1e-4);
    CHECK(relL2(part_of(dk, K), want.k) < 1e-4);
    CHECK(relL2(part_of(dv, V), want.v) < 1e-4);
    CHECK(relL2(part_of(ddt, V), want.dt) < 1e-4);
    CHECK(relL2(std::vector<float>(dinit.begin() + n * H * K * V, dinit.begin() + (n + 1) * H * K * V), want.init) <
          1e-4);
    for (size_t e = 0; e < rateSum.data.size(); ++e) rateSum.data[e] += want.decay.data[e];
  }
  CHECK(relL2(drate, rateSum) < 1e-4);
}
