// The CUDA backward's checkpointed reverse sweep (mixc_cuda_checkpoint_grad.cuh:
// Mamba-1's elementwise decays, factors that may be negative, mLSTM) run on
// host threads through test/unit/CudaEmulation.h, against the float64
// reference's gradients: the kernels' indexing, lane layout, partial row sums
// over value blocks and stretches of checkpoints, checked in CI without a GPU.
// Launches mirror launchCheckpointGrad / launchMlstmGrad. Shapes are small
// but cover two value blocks (the second partly past V), several stretches
// with a partial last one, and a partial run of recomputed states.
#include "test/unit/CudaEmulation.h"

#include "runtime/reference/RecurrenceGrad.h"
#include "test/unit/RandomArrays.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <random>

using namespace mixc;
using mixc::ref::Array;
using mixc::rt::Structure;

namespace {

constexpr int64_t B = 2, T = 40, H = 2, K = 16, V = 12;
constexpr int CPW = 4, WARPS = 2, C = 32; // 8 value columns per CTA: two blocks; stretches of 32

std::vector<float> f32(const Array &a) { return std::vector<float>(a.data.begin(), a.data.end()); }

// (b, t, h, j) over [B, T, H, w] (w = 1: per-token scalars).
cuda::View rows(std::vector<float> &x, int64_t w) {
  cuda::View v;
  v.p = x.data();
  v.s3 = w == 1 ? 0 : 1, v.s2 = w, v.s1 = H * w, v.s0 = T * H * w;
  return v;
}
// (n, h, k, v) over [N, H, K, Vs].
cuda::View states(std::vector<float> &x, int64_t Vs) {
  cuda::View v;
  v.p = x.data();
  v.s3 = 1, v.s2 = Vs, v.s1 = K * Vs, v.s0 = H * K * Vs;
  return v;
}
cuda::Tensor tensor(std::vector<float> &x, std::initializer_list<int64_t> dims) {
  cuda::Tensor t;
  t.p = x.data();
  for (int64_t d : dims) t.d[t.rank++] = d;
  return t;
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

enum class Kind { elementwise, scalarFactor, vectorLog, mlstm };

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
  } else {
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
  cuda::Tensor tq = tensor(dq, {B, T, H, K}), tk = tensor(dk, {B, T, H, K});
  cuda::Tensor td = NSUMS == 3 ? tensor(ddecay, {(int64_t)ddecay.size()}) : cuda::Tensor{};
  emu::launch(Dim3{2, 1, 1}, 64, [&] { cuda::checkpointGradSumBlocks<cuda::ckptScalar<S>()>(g, tq, tk, td, K); });
  if (g.drate) {
    cuda::Tensor tr = tensor(drate, {1, 1, H, K, V});
    emu::launch(Dim3{1, 1, 1}, 64, [&] { cuda::sumOverSequences<>(g.drate, B, H * K * V, tr); });
  }
  CHECK(relL2(dq, x.want.q) < 1e-4);
  CHECK(relL2(dk, x.want.k) < 1e-4);
  CHECK(relL2(dv, x.want.v) < 1e-4);
  CHECK(relL2(dinit, x.want.init) < 1e-4);
  if (S == Structure::elementwise) {
    CHECK(relL2(drate, x.want.decay) < 1e-4);
    CHECK(relL2(ddt, x.want.dt) < 1e-4);
  } else {
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
  emu::launch(Dim3{2, 1, 1}, 64, [&] { cuda::mlstmGradSumGonum<>(g, rowsN); });
  emu::launch(grid, WARPS * 32, [&] { cuda::mlstmGradReverse<K, CPW, WARPS, C>(d.p, g); });
  cuda::Tensor tq = tensor(dq, {B, T, H, K}), tk = tensor(dk, {B, T, H, K});
  emu::launch(Dim3{2, 1, 1}, 64, [&] { cuda::mlstmGradSumBlocks<>(d.p, g, tq, tk, gates.data(), K); });
  cuda::Tensor tdd = tensor(ddecay, {B, T, H}), tdi = tensor(digate, {B, T, H}), tdm = tensor(dinitM, {B, H});
  emu::launch(Dim3{1, 1, 1}, 64, [&] { cuda::mlstmGradGates<>(d.p, g, gates.data(), tdd, tdi, tdm, B); });
  CHECK(relL2(dq, x.want.q) < 1e-4);
  CHECK(relL2(dk, x.want.k) < 1e-4);
  CHECK(relL2(dv, x.want.v) < 1e-4);
  CHECK(relL2(ddecay, x.want.decay) < 1e-4);
  CHECK(relL2(digate, x.want.igate) < 1e-4);
  CHECK(relL2(dinit, x.want.init) < 1e-4);
  CHECK(relL2(dinitM, x.want.initM) < 1e-4);
}
