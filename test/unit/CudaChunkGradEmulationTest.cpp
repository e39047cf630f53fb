// The UT form's chunked backward (mixc_cuda_ut_grad.cuh) on host threads
// (test/unit/CudaEmulation.h), as launchDeltaGradChunked runs it: the
// forward's prepare (deltaPrepare) and walk keeping each chunk's S0 and U
// (deltaStates), the reverse walk (deltaGradWalk), then the chunk kernel
// (deltaGradChunk), on emulated tensor cores, against the float64
// reference's gradients (runtime/reference) of the same bf16-rounded inputs.
// Two chunks, the second partial; two heads; two value blocks in the walks;
// an initial state and the final state's gradient. Two calls: a gated delta
// rule with every gradient in its fp32 rows (the plain form), and DeltaNet as
// its spec writes it (a = -beta k, key beta k, b = k: the scaled low-rank
// form, k's and b's gradients summed, the bf16 outputs written by the kernel).
// And the SSD form (no low-rank term: simple GLA with a scalar log-decay,
// linear attention without one) on the same kernels (gradform::ssd), the
// walks reading q, k, v (launchSsdGrad's bf16 calls; without the decay, the
// gradients written to bf16 outputs by the kernel). And GLA (vector
// log-decays per key: glaPrepare, the GLA walks, glaGradChunk).
#include "test/unit/CudaEmulation.h"

#include "runtime/reference/RecurrenceGrad.h"
#include "test/unit/RandomArrays.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <random>

using namespace mixc;
using cuda::tile::bf16;
using mixc::ref::Array;

namespace {

constexpr int64_t B = 1, T = 100, H = 2, K = 64, V = 64, C = cuda::chunk::C, CHUNKS = (T + C - 1) / C;
constexpr int WARPS = 2; // the reverse walk's: 32 value columns a CTA, two blocks

double relL2(const std::vector<double> &got, const std::vector<double> &want) {
  REQUIRE(got.size() == want.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) num += (got[i] - want[i]) * (got[i] - want[i]), den += want[i] * want[i];
  return std::sqrt(num / std::max(den, 1e-300));
}
template <typename E> std::vector<double> widen(const std::vector<E> &x) {
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    if constexpr (std::is_same_v<E, bf16>) y[i] = __bfloat162float(x[i]);
    else y[i] = x[i];
  }
  return y;
}

// x rounded to bf16, in place (the reference reads the rounded values) and as the kernels' rows.
std::vector<bf16> toBf16(Array &x) {
  std::vector<bf16> y(x.data.size());
  for (size_t i = 0; i < y.size(); ++i) y[i] = __float2bfloat16((float)x.data[i]), x.data[i] = __bfloat162float(y[i]);
  return y;
}
cuda::View rowsView(void *p, int dtype, int64_t D) {
  cuda::View w;
  w.p = p, w.dtype = dtype, w.s3 = D == 1 ? 0 : 1, w.s2 = D, w.s1 = H * D, w.s0 = T * H * D;
  return w;
}
cuda::View stateView(float *p) {
  cuda::View w;
  w.p = p, w.s0 = H * K * V, w.s1 = K * V, w.s2 = V, w.s3 = 1;
  return w;
}

// launchDeltaGradChunked's kernels for Form, in its order, on host threads:
// the forward's prepare (the UT form's deltaPrepare, GLA's glaPrepare, none
// for the SSD form), its walk keeping each chunk's S0 (and U), the reverse
// walk, the chunk kernel; p.B sequences of chunk slots of p.T tokens.
// DecayMap: the vector decays' map (decay_in_loads) that the prepare and
// chunk kernels apply as they load p.decay.
template <bool Decay, unsigned Form, typename DecayMap = cuda::NoMap>
void runChunkedGrad(const cuda::ScanParams &p, cuda::DeltaChunks &d, const cuda::DeltaGradRows &gr) {
  namespace gf = cuda::gradform;
  constexpr bool Ssd = (Form & gf::ssd) != 0, Gla = (Form & gf::gla) != 0, Vec = (Form & gf::vector) != 0;
  constexpr bool VecDecay = Gla || Vec; // per key: the decayed operands come prepared
  const int64_t slots = (p.T + C - 1) / C;
  const Dim3 items{(unsigned)(slots * H * p.B), 1, 1}, walks{(unsigned)(V / (16 * WARPS)), (unsigned)H, (unsigned)p.B};
  if constexpr (Gla)
    emu::launch(items, 256, [&] { cuda::glaPrepare<K, true, DecayMap>(p, d); }, cuda::GlaPrepareLayout<K>::bytes);
  else if constexpr (Vec)
    emu::launch(items, 256, [&] { cuda::dplrVectorPrepare<K, true, false, DecayMap>(p, d); },
                cuda::DplrVectorLayout<K>::bytes);
  else if constexpr (!Ssd)
    emu::launch(items, 256, [&] { cuda::deltaPrepare<K, Decay, true, false>(p, d); }, cuda::DeltaPrepareLayout<K>::bytes);
  cuda::ScanParams fp = p; // the walk keeps S0 (and U) instead of writing o
  fp.o = cuda::View{}, fp.state = cuda::View{};
  emu::launch(walks, 32 * WARPS,
              [&] { cuda::deltaStates<K, WARPS, Decay, true, false, Ssd, 1, VecDecay, true>(fp, d); },
              cuda::DeltaStatesLayout<K, 16 * WARPS, Ssd, 1, VecDecay>::bytes);
  emu::launch(walks, 32 * WARPS, [&] { cuda::deltaGradWalk<K, WARPS, Decay, Ssd, VecDecay>(p, d, gr); },
              cuda::DeltaGradWalkLayout<K, 16 * WARPS, VecDecay>::bytes);
  if constexpr (Gla)
    emu::launch(items, 256,
                [&] { cuda::glaGradChunk<K, V, Form & (gf::dqOut | gf::dkOut | gf::dvOut), DecayMap>(p, gr); },
                cuda::GlaGradChunkLayout<K, V>::bytes);
  else if constexpr (Vec) {
    emu::launch(items, 256, [&] { cuda::dplrVectorGradQB<K, V, Form & ~gf::vector, DecayMap>(p, gr); },
                cuda::DplrVectorGradQBLayout<K, V>::bytes);
    emu::launch(items, 256, [&] { cuda::dplrVectorGradAK<K, V, Form & ~gf::vector, DecayMap>(p, gr); },
                cuda::DplrVectorGradAKLayout<K, V>::bytes);
  }
  else
    emu::launch(items, 256, [&] { cuda::deltaGradChunk<K, V, Decay, Form>(p, gr); },
                cuda::DeltaGradChunkLayout<K, V>::bytes);
}
namespace gf = cuda::gradform;
constexpr unsigned outRows = gf::dqOut | gf::dkOut | gf::dvOut; // the gradients the chunk kernel writes to bf16 outputs

struct Case {
  bool decay = true, scaled = false, ssd = false;
};

void check(const Case &cs) {
  std::mt19937_64 rng(cs.scaled ? 61 : 59);
  // b: unit rows, beta in (0.1, 1): a = -beta b, the key beta b (DeltaNet's own k: b)
  Array q = ref::randn({B, T, H, K}, rng), b = ref::randn({B, T, H, K}, rng), v = ref::randn({B, T, H, V}, rng);
  for (int64_t r = 0; r < B * T * H; ++r) {
    double n = 0, m = 0;
    for (int64_t i = 0; i < K; ++i) n += b.data[r * K + i] * b.data[r * K + i], m += q.data[r * K + i] * q.data[r * K + i];
    for (int64_t i = 0; i < K; ++i) b.data[r * K + i] /= std::sqrt(n), q.data[r * K + i] /= std::sqrt(m);
  }
  Array beta = ref::uniform({B, T, H}, rng, 0.1, 1.0), g = ref::uniform({B, T, H}, rng, -0.3, -0.01);
  Array init = ref::randn({B, H, K, V}, rng, 0.5), dO = ref::randn({B, T, H, V}, rng), dF = ref::randn({B, H, K, V}, rng, 0.3);
  std::vector<bf16> hq = toBf16(q), hb = toBf16(b), hv = toBf16(v), hdO = toBf16(dO);
  std::vector<float> hg(g.data.begin(), g.data.end()), hinit(init.data.begin(), init.data.end()),
      hdF(dF.data.begin(), dF.data.end()), hbeta(beta.data.size()), hnbeta(beta.data.size());
  for (size_t i = 0; i < hbeta.size(); ++i) hbeta[i] = (float)beta.data[i], hnbeta[i] = -hbeta[i];
  for (size_t i = 0; i < g.data.size(); ++i) g.data[i] = hg[i];
  // a and the key: the plain form's own bf16 rows; the scaled form's scaled copies (launchDeltaGradChunked's
  // rowsToBf16Kernel), the reference given the exact products
  Array a({B, T, H, K}), k({B, T, H, K});
  std::vector<bf16> ha(a.data.size()), hk(k.data.size());
  for (int64_t r = 0; r < B * T * H; ++r)
    for (int64_t i = 0; i < K; ++i) {
      const int64_t e = r * K + i;
      const double x = b.data[e] * hbeta[r];
      a.data[e] = -x, k.data[e] = x;
      ha[e] = __float2bfloat16(hnbeta[r] * (float)b.data[e]), hk[e] = __float2bfloat16(hbeta[r] * (float)b.data[e]);
    }
  if (!cs.scaled) // the rows as given
    for (size_t e = 0; e < ha.size(); ++e) a.data[e] = __bfloat162float(ha[e]), k.data[e] = __bfloat162float(hk[e]);

  ref::RecurrenceInputs in;
  in.structure = !cs.ssd ? ref::Structure::dplr : cs.decay ? ref::Structure::scalar : ref::Structure::identity;
  in.scale = 0.7;
  if (cs.ssd) // the SSD form: k the key, as given
    for (size_t e = 0; e < k.data.size(); ++e) k.data[e] = __bfloat162float(hb[e]), hk[e] = hb[e];
  in.q = &q, in.k = &k, in.v = &v, in.decay = cs.decay ? &g : nullptr, in.init = &init;
  if (!cs.ssd) in.a = &a, in.b = &b;
  ref::RecurrenceGrads want;
  REQUIRE(ref::runRecurrenceGrad(in, &dO, &dF, want).empty());

  cuda::ScanParams p;
  p.q = rowsView(hq.data(), MIXC_BF16, K), p.k = rowsView(hk.data(), MIXC_BF16, K);
  if (!cs.ssd) p.a = rowsView(ha.data(), MIXC_BF16, K), p.b = rowsView(hb.data(), MIXC_BF16, K);
  p.v = rowsView(hv.data(), MIXC_BF16, V);
  if (cs.decay) p.decay = rowsView(hg.data(), MIXC_F32, 1);
  p.init = stateView(hinit.data());
  p.B = B, p.T = T, p.H = H, p.Vs = V, p.scale = 0.7f;

  // launchDeltaGradChunked's buffers: the forward's W, Q', R, P and the
  // chunks' S0 and U; the reverse walk's dS_C and X; the gradients.
  const int64_t rows = B * CHUNKS * C * H, slab = B * T * H;
  std::vector<bf16> w(rows * K), qp(rows * K), r(rows * C), pv(rows * C), states(B * CHUNKS * H * K * V),
      dStates(states.size()), u(rows * V), x(rows * V);
  cuda::DeltaChunks d;
  d.w = cuda::chunkRows(p, w.data(), K), d.qp = cuda::chunkRows(p, qp.data(), K);
  d.r = cuda::chunkRows(p, r.data(), C), d.pv = cuda::chunkRows(p, pv.data(), C);
  d.chunkStates = states.data(), d.uRows = cuda::chunkRows(p, u.data(), V);
  std::vector<float> dq(slab * K), dk(slab * K), da(slab * K), db(slab * K), dv(slab * V), dd(slab),
      dinit(B * H * K * V, NAN), daScale(slab), dkScale(slab);
  const bf16 nan = __float2bfloat16(NAN);
  std::vector<bf16> dqRows(slab * K, nan), dkRows(slab * K, nan), dvRows(slab * V, nan);
  cuda::DeltaGradRows gr;
  gr.dO = rowsView(hdO.data(), MIXC_BF16, V);
  gr.u = d.uRows, gr.x = cuda::chunkRows(p, x.data(), V);
  gr.states = states.data(), gr.dStates = dStates.data();
  gr.dFinal = stateView(hdF.data()), gr.dInit = stateView(dinit.data());
  gr.dv = dv.data(), gr.db = cs.ssd ? nullptr : db.data(), gr.ddecay = cs.decay ? dd.data() : nullptr, gr.Ttok = T;
  auto out = [](std::vector<bf16> &y, int64_t D) {
    return cuda::Bf16Rows{y.data(), T * H * D, H * D, D};
  };
  if (cs.scaled) {
    gr.aScale = rowsView(hnbeta.data(), MIXC_F32, 1), gr.kScale = rowsView(hbeta.data(), MIXC_F32, 1);
    gr.kPlain = p.b, gr.daScale = daScale.data(), gr.dkScale = dkScale.data();
    gr.dqTo = out(dqRows, K), gr.dkTo = out(dkRows, K), gr.dvTo = out(dvRows, V), gr.dbIntoDk = true;
  } else if (cs.ssd && !cs.decay) { // (launchSsdGrad's stored outputs: dv's fp32 rows first)
    gr.dqTo = out(dqRows, K), gr.dkTo = out(dkRows, K), gr.dvTo = out(dvRows, V);
  } else {
    gr.dq = dq.data(), gr.dk = dk.data(), gr.da = cs.ssd ? nullptr : da.data();
  }
  const bool toOutputs = cs.scaled || (cs.ssd && !cs.decay);

  constexpr unsigned Scaled = gf::aScaled | gf::kScaled | gf::dbIntoDk | gf::kIsB | outRows;
  if (cs.ssd && cs.decay) runChunkedGrad<true, gf::ssd>(p, d, gr);
  else if (cs.ssd) runChunkedGrad<false, gf::ssd | outRows>(p, d, gr);
  else if (cs.scaled) cs.decay ? runChunkedGrad<true, Scaled>(p, d, gr) : runChunkedGrad<false, Scaled>(p, d, gr);
  else cs.decay ? runChunkedGrad<true, 0u>(p, d, gr) : runChunkedGrad<false, 0u>(p, d, gr);

  // bf16 rows, states and products: the bf16 bar (2e-2) against float64.
  const double tol = 2e-2;
  INFO("dinit " << relL2(widen(dinit), want.init.data) << ", dv " << relL2(toOutputs ? widen(dvRows) : widen(dv), want.v.data));
  CHECK(relL2(widen(dinit), want.init.data) < tol);
  if (!cs.scaled) {
    const std::vector<double> gq = toOutputs ? widen(dqRows) : widen(dq), gk = toOutputs ? widen(dkRows) : widen(dk);
    INFO("dq " << relL2(gq, want.q.data) << " dk " << relL2(gk, want.k.data));
    CHECK(relL2(gq, want.q.data) < tol);
    CHECK(relL2(gk, want.k.data) < tol);
    if (!cs.ssd) {
      INFO("da " << relL2(widen(da), want.a.data) << " db " << relL2(widen(db), want.b.data));
      CHECK(relL2(widen(da), want.a.data) < tol);
      CHECK(relL2(widen(db), want.b.data) < tol);
    }
    CHECK(relL2(toOutputs ? widen(dvRows) : widen(dv), want.v.data) < tol);
    if (cs.decay) {
      INFO("dg " << relL2(widen(dd), want.decay.data));
      CHECK(relL2(widen(dd), want.decay.data) < tol);
    }
    return;
  }
  // DeltaNet's gradients by the chain rule: d b (b = k) = db + beta dkey - beta da,
  // d beta = <dkey, b> - <da, b> (the two scales' gradients).
  std::vector<double> wantDk(slab * K), wantKs(slab, 0.0), wantAs(slab, 0.0);
  for (int64_t row = 0; row < slab; ++row)
    for (int64_t i = 0; i < K; ++i) {
      const int64_t e = row * K + i;
      wantDk[e] = want.b.data[e] + beta.data[row] * (want.k.data[e] - want.a.data[e]);
      wantKs[row] += want.k.data[e] * b.data[e], wantAs[row] += want.a.data[e] * b.data[e];
    }
  INFO("dq " << relL2(widen(dqRows), want.q.data) << " dk " << relL2(widen(dkRows), wantDk) << " dk_scale "
             << relL2(widen(dkScale), wantKs) << " da_scale " << relL2(widen(daScale), wantAs));
  CHECK(relL2(widen(dqRows), want.q.data) < tol);
  CHECK(relL2(widen(dkRows), wantDk) < tol);
  CHECK(relL2(widen(dvRows), want.v.data) < tol);
  CHECK(relL2(widen(dkScale), wantKs) < tol);
  CHECK(relL2(widen(daScale), wantAs) < tol);
}

// GLA (vector log-decays per key) on its chunked backward (launchDeltaGradChunked
// with gradform::gla): the forward's glaPrepare and walk keeping S0,
// deltaGradWalk's GLA form, glaGradChunk; fp32 gradient rows, or (outputs) dq,
// dk, dv written to bf16 outputs by the kernel.
void checkGla(bool outputs, double lo) {
  std::mt19937_64 rng(outputs ? 67 : 71);
  Array q = ref::randn({B, T, H, K}, rng), k = ref::randn({B, T, H, K}, rng), v = ref::randn({B, T, H, V}, rng);
  Array g = ref::uniform({B, T, H, K}, rng, lo, -0.005);
  Array init = ref::randn({B, H, K, V}, rng, 0.5), dO = ref::randn({B, T, H, V}, rng), dF = ref::randn({B, H, K, V}, rng, 0.3);
  std::vector<bf16> hq = toBf16(q), hk = toBf16(k), hv = toBf16(v), hdO = toBf16(dO);
  std::vector<float> hg(g.data.begin(), g.data.end()), hinit(init.data.begin(), init.data.end()),
      hdF(dF.data.begin(), dF.data.end());
  for (size_t i = 0; i < g.data.size(); ++i) g.data[i] = hg[i];
  ref::RecurrenceInputs in;
  in.structure = ref::Structure::vector, in.scale = 0.7;
  in.q = &q, in.k = &k, in.v = &v, in.decay = &g, in.init = &init;
  ref::RecurrenceGrads want;
  REQUIRE(ref::runRecurrenceGrad(in, &dO, &dF, want).empty());

  cuda::ScanParams p;
  p.q = rowsView(hq.data(), MIXC_BF16, K), p.k = rowsView(hk.data(), MIXC_BF16, K), p.v = rowsView(hv.data(), MIXC_BF16, V);
  p.decay = rowsView(hg.data(), MIXC_F32, K), p.init = stateView(hinit.data());
  p.B = B, p.T = T, p.H = H, p.Vs = V, p.scale = 0.7f;
  const int64_t rows = B * CHUNKS * C * H, slab = B * T * H;
  std::vector<bf16> qp(rows * K), kp(rows * K), pv(rows * C), states(B * CHUNKS * H * K * V), dStates(states.size());
  std::vector<float> chunkDecay(B * CHUNKS * H * K);
  cuda::DeltaChunks d;
  d.qp = cuda::chunkRows(p, qp.data(), K), d.w = cuda::chunkRows(p, kp.data(), K), d.pv = cuda::chunkRows(p, pv.data(), C);
  d.chunkDecay = chunkDecay.data(), d.chunkStates = states.data();
  std::vector<float> dq(slab * K), dk(slab * K), dv(slab * V), dg(slab * K), dinit(B * H * K * V, NAN);
  const bf16 nan = __float2bfloat16(NAN);
  std::vector<bf16> dqRows(slab * K, nan), dkRows(slab * K, nan), dvRows(slab * V, nan);
  cuda::DeltaGradRows gr;
  gr.dO = rowsView(hdO.data(), MIXC_BF16, V);
  gr.states = states.data(), gr.dStates = dStates.data();
  gr.dFinal = stateView(hdF.data()), gr.dInit = stateView(dinit.data());
  gr.dv = dv.data(), gr.ddecay = dg.data(), gr.Ttok = T;
  if (outputs) {
    gr.dqTo = cuda::Bf16Rows{dqRows.data(), T * H * K, H * K, K}, gr.dkTo = cuda::Bf16Rows{dkRows.data(), T * H * K, H * K, K};
    gr.dvTo = cuda::Bf16Rows{dvRows.data(), T * H * V, H * V, V};
  } else {
    gr.dq = dq.data(), gr.dk = dk.data();
  }
  if (outputs) runChunkedGrad<false, gf::ssd | gf::gla | outRows>(p, d, gr);
  else runChunkedGrad<false, gf::ssd | gf::gla>(p, d, gr);

  const double tol = 2e-2;
  const std::vector<double> gq = outputs ? widen(dqRows) : widen(dq), gk = outputs ? widen(dkRows) : widen(dk),
                            gv = outputs ? widen(dvRows) : widen(dv);
  INFO("dinit " << relL2(widen(dinit), want.init.data) << " dq " << relL2(gq, want.q.data) << " dk "
                << relL2(gk, want.k.data) << " dv " << relL2(gv, want.v.data) << " dg "
                << relL2(widen(dg), want.decay.data));
  CHECK(relL2(widen(dinit), want.init.data) < tol);
  CHECK(relL2(gq, want.q.data) < tol);
  CHECK(relL2(gk, want.k.data) < tol);
  CHECK(relL2(gv, want.v.data) < tol);
  CHECK(relL2(widen(dg), want.decay.data) < tol);
}

// The delta rules with a vector diagonal (gradform::vector) on their chunked
// backward: dplrVectorPrepare and the vector walk keeping S0 and U,
// deltaGradWalk's vector form, dplrVectorGradQB and dplrVectorGradAK. RWKV-7's form (a =
// -(kk . a), b = kk, its own key; log-decays in (-0.61, 0)) with every
// gradient in fp32 rows, and KDA's as its adjoint writes it (a = -beta k,
// b = k . exp(g), the key beta k; Kimi Linear's lower-bound gate down to -5
// per token) with the gradients written to bf16 outputs; and KDA in its own
// form (gradform::bDecayed with the scaled low-rank form: b = k, its factor
// exp(G_i); a and the key the launch's bf16 copies -beta k and beta k), k's
// gradient summed to its output and the scales' as row dots; and that form
// with its decays mapped in the loads (decay_in_loads: p.decay the map's
// input x, g = x . s with s per head and key in p.mapIn).
enum class VectorForm { rwkv7, kda, kdaDecayedB, kdaDecayMap };
struct ScaledDecays { // the test's decay map: g = x . s
  static constexpr bool fused = true;
  struct Params {
    float s;
  };
  static Params load(const cuda::ScanParams &p, int64_t h, int64_t j) { return {p.mapIn[0].at(0, 0, h, j)}; }
  static float apply(float x, const Params &m) { return x * m.s; }
};
void checkDplrVector(VectorForm form) {
  const bool kda = form != VectorForm::rwkv7, mapped = form == VectorForm::kdaDecayMap,
             native = form == VectorForm::kdaDecayedB || mapped;
  std::mt19937_64 rng(form == VectorForm::rwkv7 ? 97 : native ? 101 : 89);
  Array q = ref::randn({B, T, H, K}, rng), k = ref::randn({B, T, H, K}, rng), v = ref::randn({B, T, H, V}, rng);
  Array kk = ref::randn({B, T, H, K}, rng), gate = ref::uniform({B, T, H, K}, rng, 0.05, 0.95);
  Array beta = ref::uniform({B, T, H}, rng, 0.1, 1.0);
  Array g = ref::uniform({B, T, H, K}, rng, kda ? -3.0 : -0.6, -0.005);
  for (int64_t r = 0; r < B * T * H; ++r) { // unit rows: kk (RWKV-7), q and k (KDA's l2norm)
    for (Array *x : {&kk, &q, &k}) {
      double n = 0;
      for (int64_t i = 0; i < K; ++i) n += x->data[r * K + i] * x->data[r * K + i];
      for (int64_t i = 0; i < K; ++i) x->data[r * K + i] /= std::sqrt(n);
    }
  }
  Array a({B, T, H, K}), bRows({B, T, H, K}), key({B, T, H, K});
  for (int64_t r = 0; r < B * T * H; ++r)
    for (int64_t i = 0; i < K; ++i) {
      const int64_t e = r * K + i;
      if (kda) {
        a.data[e] = -beta.data[r] * k.data[e], bRows.data[e] = k.data[e] * std::exp(g.data[e]);
        key.data[e] = beta.data[r] * k.data[e];
      } else {
        a.data[e] = -kk.data[e] * gate.data[e], bRows.data[e] = kk.data[e], key.data[e] = k.data[e];
      }
    }
  Array init = ref::randn({B, H, K, V}, rng, 0.5), dO = ref::randn({B, T, H, V}, rng), dF = ref::randn({B, H, K, V}, rng, 0.3);
  std::vector<bf16> hq = toBf16(q), hv = toBf16(v), hdO = toBf16(dO), hk, ha, hb;
  std::vector<float> hg(g.data.begin(), g.data.end()), hinit(init.data.begin(), init.data.end()),
      hdF(dF.data.begin(), dF.data.end()), hbeta(beta.data.size()), hnbeta(beta.data.size());
  // mapped: the input x and the scales s, the decays the kernels compute from them in float
  std::vector<float> hx(mapped ? hg.size() : 0), hs(mapped ? H * K : 0);
  if (mapped) {
    std::uniform_real_distribution<float> scale(0.5f, 1.f);
    for (float &x : hs) x = scale(rng);
    for (size_t i = 0; i < hg.size(); ++i) hx[i] = hg[i] / hs[i % (H * K)], hg[i] = hx[i] * hs[i % (H * K)];
  }
  for (size_t i = 0; i < g.data.size(); ++i) g.data[i] = hg[i];
  for (size_t i = 0; i < hbeta.size(); ++i) hbeta[i] = (float)beta.data[i], hnbeta[i] = -hbeta[i];
  if (native) { // k's rows (b), and the launch's scaled copies of a and the key (rowsToBf16Kernel); the
                // reference given the exact products and b = k . exp(g)
    hb = toBf16(k);
    ha.resize(hb.size()), hk.resize(hb.size());
    for (int64_t r = 0; r < B * T * H; ++r)
      for (int64_t i = 0; i < K; ++i) {
        const int64_t e = r * K + i;
        ha[e] = __float2bfloat16(hnbeta[r] * (float)k.data[e]), hk[e] = __float2bfloat16(hbeta[r] * (float)k.data[e]);
        a.data[e] = -beta.data[r] * k.data[e], key.data[e] = beta.data[r] * k.data[e];
        bRows.data[e] = k.data[e] * std::exp(g.data[e]);
      }
  } else {
    hk = toBf16(key), ha = toBf16(a), hb = toBf16(bRows);
  }
  ref::RecurrenceInputs in;
  in.structure = ref::Structure::dplr, in.scale = 0.7;
  in.q = &q, in.k = &key, in.v = &v, in.decay = &g, in.a = &a, in.b = &bRows, in.init = &init;
  ref::RecurrenceGrads want;
  REQUIRE(ref::runRecurrenceGrad(in, &dO, &dF, want).empty());

  cuda::ScanParams p;
  p.q = rowsView(hq.data(), MIXC_BF16, K), p.k = rowsView(hk.data(), MIXC_BF16, K), p.v = rowsView(hv.data(), MIXC_BF16, V);
  p.a = rowsView(ha.data(), MIXC_BF16, K), p.b = rowsView(hb.data(), MIXC_BF16, K);
  p.decay = rowsView(mapped ? hx.data() : hg.data(), MIXC_F32, K), p.init = stateView(hinit.data());
  if (mapped) p.mapIn[0].p = hs.data(), p.mapIn[0].s2 = K, p.mapIn[0].s3 = 1; // [1, 1, H, K]
  p.B = B, p.T = T, p.H = H, p.Vs = V, p.scale = 0.7f, p.bDecayed = native;
  // launchDeltaGradChunked's buffers: the forward's W, Q', A', K', R, P, G_C; S0 and U; dS_C and X
  const int64_t rows = B * CHUNKS * C * H, slab = B * T * H;
  std::vector<bf16> w(rows * K), qp(rows * K), ap(rows * K), kp(rows * K), r(rows * C), pv(rows * C),
      states(B * CHUNKS * H * K * V), dStates(states.size()), u(rows * V), x(rows * V);
  std::vector<float> chunkDecay(B * CHUNKS * H * K);
  cuda::DeltaChunks d;
  d.w = cuda::chunkRows(p, w.data(), K), d.qp = cuda::chunkRows(p, qp.data(), K);
  d.ap = cuda::chunkRows(p, ap.data(), K), d.kp = cuda::chunkRows(p, kp.data(), K);
  d.r = cuda::chunkRows(p, r.data(), C), d.pv = cuda::chunkRows(p, pv.data(), C);
  d.chunkDecay = chunkDecay.data(), d.chunkStates = states.data(), d.uRows = cuda::chunkRows(p, u.data(), V);
  std::vector<float> dq(slab * K), dk(slab * K), da(slab * K), db(slab * K), dv(slab * V), dg(slab * K),
      dinit(B * H * K * V, NAN), daScale(slab), dkScale(slab);
  const bf16 nan = __float2bfloat16(NAN);
  std::vector<bf16> dqRows(slab * K, nan), dkRows(slab * K, nan), dvRows(slab * V, nan), dbRows(slab * K, nan);
  cuda::DeltaGradRows gr;
  std::vector<bf16> gramGrads(B * CHUNKS * H * 4 * C * C);
  gr.dO = rowsView(hdO.data(), MIXC_BF16, V), gr.u = d.uRows, gr.x = cuda::chunkRows(p, x.data(), V), gr.kp = d.kp;
  gr.gramGrads = gramGrads.data();
  gr.states = states.data(), gr.dStates = dStates.data();
  gr.dFinal = stateView(hdF.data()), gr.dInit = stateView(dinit.data());
  gr.dv = dv.data(), gr.da = da.data(), gr.ddecay = dg.data(), gr.Ttok = T;
  auto out = [](std::vector<bf16> &y, int64_t D) { return cuda::Bf16Rows{y.data(), T * H * D, H * D, D}; };
  if (kda) gr.dqTo = out(dqRows, K), gr.dkTo = out(dkRows, K), gr.dvTo = out(dvRows, V), gr.dbTo = out(dbRows, K);
  else gr.dq = dq.data(), gr.dk = dk.data(), gr.db = db.data();
  constexpr unsigned Native = gf::vector | gf::bDecayed | gf::aScaled | gf::kScaled | gf::kIsB | gf::dbIntoDk |
                              gf::dqOut | gf::dkOut | gf::dvOut;
  if (native) {
    gr.dbTo = cuda::Bf16Rows{}, gr.db = db.data(); // (summed into dk)
    gr.aScale = rowsView(hnbeta.data(), MIXC_F32, 1), gr.kScale = rowsView(hbeta.data(), MIXC_F32, 1);
    gr.daScale = daScale.data(), gr.dkScale = dkScale.data(), gr.dbIntoDk = true;
    if (mapped) runChunkedGrad<false, Native, ScaledDecays>(p, d, gr);
    else runChunkedGrad<false, Native>(p, d, gr);
  } else if (kda) {
    runChunkedGrad<false, gf::vector | outRows | gf::dbOut>(p, d, gr);
  } else {
    runChunkedGrad<false, gf::vector>(p, d, gr);
  }

  const double tol = 2e-2;
  if (native) { // the chain rule to KDA's own operands: b = k . exp(g), a = -beta k, the key beta k
    std::vector<double> wantDk(slab * K), wantDg(slab * K), wantKs(slab, 0.0), wantAs(slab, 0.0);
    for (int64_t row = 0; row < slab; ++row)
      for (int64_t i = 0; i < K; ++i) {
        const int64_t e = row * K + i;
        wantDk[e] = want.b.data[e] * std::exp(g.data[e]) + beta.data[row] * (want.k.data[e] - want.a.data[e]);
        wantDg[e] = want.decay.data[e] + want.b.data[e] * bRows.data[e];
        wantKs[row] += want.k.data[e] * k.data[e], wantAs[row] += want.a.data[e] * k.data[e];
      }
    INFO("dinit " << relL2(widen(dinit), want.init.data) << " dq " << relL2(widen(dqRows), want.q.data) << " dk "
                  << relL2(widen(dkRows), wantDk) << " dv " << relL2(widen(dvRows), want.v.data) << " dg "
                  << relL2(widen(dg), wantDg) << " da_scale " << relL2(widen(daScale), wantAs) << " dk_scale "
                  << relL2(widen(dkScale), wantKs));
    CHECK(relL2(widen(dinit), want.init.data) < tol);
    CHECK(relL2(widen(dqRows), want.q.data) < tol);
    CHECK(relL2(widen(dkRows), wantDk) < tol);
    CHECK(relL2(widen(dvRows), want.v.data) < tol);
    CHECK(relL2(widen(dg), wantDg) < tol);
    CHECK(relL2(widen(daScale), wantAs) < tol);
    CHECK(relL2(widen(dkScale), wantKs) < tol);
    return;
  }
  const std::vector<double> gq = kda ? widen(dqRows) : widen(dq), gk = kda ? widen(dkRows) : widen(dk),
                            gv = kda ? widen(dvRows) : widen(dv), gb = kda ? widen(dbRows) : widen(db);
  INFO("dinit " << relL2(widen(dinit), want.init.data) << " dq " << relL2(gq, want.q.data) << " dk "
                << relL2(gk, want.k.data) << " dv " << relL2(gv, want.v.data) << " da " << relL2(widen(da), want.a.data)
                << " db " << relL2(gb, want.b.data) << " dg " << relL2(widen(dg), want.decay.data));
  CHECK(relL2(widen(dinit), want.init.data) < tol);
  CHECK(relL2(gq, want.q.data) < tol);
  CHECK(relL2(gk, want.k.data) < tol);
  CHECK(relL2(gv, want.v.data) < tol);
  CHECK(relL2(widen(da), want.a.data) < tol);
  CHECK(relL2(gb, want.b.data) < tol);
  CHECK(relL2(widen(dg), want.decay.data) < tol);
}

// Packed sequences (cu_seqlens) of 1, 70 and 29 tokens in one row on the
// chunked backward (the kernels' forSequence, their scratch by chunk slot of
// the longest sequence): GLA, the SSD form with a scalar decay, and a gated
// delta rule (the UT form), each sequence against the float64 reference run
// on it alone.
enum class PackedForm { gla, ssd, ut };
void checkPacked(PackedForm form) {
  const std::vector<int64_t> starts = {0, 1, 71, 100};
  constexpr int64_t NS = 3, Tp = 100, Tmax = 70, slots = (Tmax + C - 1) / C;
  const bool gla = form == PackedForm::gla, ut = form == PackedForm::ut;
  std::mt19937_64 rng(gla ? 73 : ut ? 79 : 83);
  Array q = ref::randn({1, Tp, H, K}, rng), k = ref::randn({1, Tp, H, K}, rng, 0.3), v = ref::randn({1, Tp, H, V}, rng);
  Array g = gla ? ref::uniform({1, Tp, H, K}, rng, -0.05, -0.005) : ref::uniform({1, Tp, H}, rng, -0.3, -0.01);
  Array bRows = ref::randn({1, Tp, H, K}, rng), beta = ref::uniform({1, Tp, H}, rng, 0.1, 1.0);
  for (int64_t r = 0; r < Tp * H; ++r) { // b: unit rows (the delta rule's keys)
    double n = 0;
    for (int64_t i = 0; i < K; ++i) n += bRows.data[r * K + i] * bRows.data[r * K + i];
    for (int64_t i = 0; i < K; ++i) bRows.data[r * K + i] /= std::sqrt(n);
  }
  Array a({1, Tp, H, K});
  if (ut) // a = -beta b, the key beta b
    for (int64_t r = 0; r < Tp * H; ++r)
      for (int64_t i = 0; i < K; ++i) a.data[r * K + i] = -beta.data[r] * bRows.data[r * K + i], k.data[r * K + i] = beta.data[r] * bRows.data[r * K + i];
  Array init = ref::randn({NS, H, K, V}, rng, 0.5), dO = ref::randn({1, Tp, H, V}, rng), dF = ref::randn({NS, H, K, V}, rng, 0.3);
  std::vector<bf16> hq = toBf16(q), hk = toBf16(k), hv = toBf16(v), hdO = toBf16(dO), ha = toBf16(a), hb = toBf16(bRows);
  std::vector<float> hg(g.data.begin(), g.data.end()), hinit(init.data.begin(), init.data.end()),
      hdF(dF.data.begin(), dF.data.end());
  for (size_t i = 0; i < g.data.size(); ++i) g.data[i] = hg[i];
  auto packed = [&](void *x, int dtype, int64_t w) {
    cuda::View view;
    view.p = x, view.dtype = dtype, view.s3 = w == 1 ? 0 : 1, view.s2 = w, view.s1 = H * w, view.s0 = 0;
    return view;
  };
  auto stateRows = [](float *x) {
    cuda::View w;
    w.p = x, w.s0 = H * K * V, w.s1 = K * V, w.s2 = V, w.s3 = 1;
    return w;
  };
  cuda::ScanParams p;
  p.q = packed(hq.data(), MIXC_BF16, K), p.k = packed(hk.data(), MIXC_BF16, K), p.v = packed(hv.data(), MIXC_BF16, V);
  p.decay = packed(hg.data(), MIXC_F32, gla ? K : 1), p.init = stateRows(hinit.data());
  if (ut) p.a = packed(ha.data(), MIXC_BF16, K), p.b = packed(hb.data(), MIXC_BF16, K);
  p.seqStart = starts.data(), p.B = NS, p.T = Tmax, p.H = H, p.Vs = V, p.scale = 0.7f;
  const int64_t rows = NS * slots * C * H, slab = Tp * H;
  std::vector<bf16> w(rows * K), qp(rows * K), r(rows * C), pv(rows * C), states(NS * slots * H * K * V),
      dStates(states.size()), u(rows * V), x(rows * V);
  std::vector<float> chunkDecay(NS * slots * H * K);
  cuda::DeltaChunks d;
  d.qp = cuda::chunkRows(p, qp.data(), K), d.w = cuda::chunkRows(p, w.data(), K), d.pv = cuda::chunkRows(p, pv.data(), C);
  d.r = cuda::chunkRows(p, r.data(), C), d.chunkDecay = chunkDecay.data(), d.chunkStates = states.data();
  d.uRows = cuda::chunkRows(p, u.data(), V);
  std::vector<float> dq(slab * K), dk(slab * K), da(slab * K), db(slab * K), dv(slab * V), dg(gla ? slab * K : slab),
      dinit(NS * H * K * V, NAN);
  cuda::DeltaGradRows gr;
  gr.dO = packed(hdO.data(), MIXC_BF16, V), gr.u = d.uRows, gr.x = cuda::chunkRows(p, x.data(), V);
  gr.states = states.data(), gr.dStates = dStates.data();
  gr.dFinal = stateRows(hdF.data()), gr.dInit = stateRows(dinit.data());
  gr.dq = dq.data(), gr.dk = dk.data(), gr.dv = dv.data(), gr.ddecay = dg.data(), gr.Ttok = Tp;
  if (ut) gr.da = da.data(), gr.db = db.data();
  if (gla) runChunkedGrad<false, gf::ssd | gf::gla>(p, d, gr);
  else if (!ut) runChunkedGrad<true, gf::ssd>(p, d, gr);
  else runChunkedGrad<true, 0u>(p, d, gr);
  const double tol = 2e-2;
  for (int64_t n = 0; n < NS; ++n) {
    const int64_t t0 = starts[n], t1 = starts[n + 1];
    Array qs = ref::slice(q, t0, t1, false), ks = ref::slice(k, t0, t1, false), vs = ref::slice(v, t0, t1, false);
    Array gs = ref::slice(g, t0, t1, false), as = ref::slice(a, t0, t1, false), bs = ref::slice(bRows, t0, t1, false);
    Array is = ref::slice(init, n, n + 1, true), dos = ref::slice(dO, t0, t1, false), dfs = ref::slice(dF, n, n + 1, true);
    ref::RecurrenceInputs in;
    in.structure = gla ? ref::Structure::vector : ut ? ref::Structure::dplr : ref::Structure::scalar;
    in.scale = 0.7, in.q = &qs, in.k = &ks, in.v = &vs, in.decay = &gs, in.init = &is;
    if (ut) in.a = &as, in.b = &bs;
    ref::RecurrenceGrads want;
    REQUIRE(ref::runRecurrenceGrad(in, &dos, &dfs, want).empty());
    auto part = [&](const std::vector<float> &y, int64_t wd) {
      return widen(std::vector<float>(y.begin() + t0 * H * wd, y.begin() + t1 * H * wd));
    };
    const int64_t gw = gla ? K : 1;
    INFO("sequence " << n << ": dq " << relL2(part(dq, K), want.q.data) << " dk " << relL2(part(dk, K), want.k.data)
                     << " dv " << relL2(part(dv, V), want.v.data) << " dg " << relL2(part(dg, gw), want.decay.data)
                     << " dinit "
                     << relL2(widen(std::vector<float>(dinit.begin() + n * H * K * V, dinit.begin() + (n + 1) * H * K * V)),
                              want.init.data));
    CHECK(relL2(part(dq, K), want.q.data) < tol);
    CHECK(relL2(part(dk, K), want.k.data) < tol);
    CHECK(relL2(part(dv, V), want.v.data) < tol);
    CHECK(relL2(part(dg, gw), want.decay.data) < tol);
    CHECK(relL2(widen(std::vector<float>(dinit.begin() + n * H * K * V, dinit.begin() + (n + 1) * H * K * V)),
                want.init.data) < tol);
    if (ut) {
      CHECK(relL2(part(da, K), want.a.data) < tol);
      CHECK(relL2(part(db, K), want.b.data) < tol);
    }
  }
}

} // namespace

TEST_CASE("CUDA chunked backward (emulated): packed sequences (GLA, the SSD form, a gated delta rule)", "[cuda-emulation]") {
  checkPacked(PackedForm::gla);
  checkPacked(PackedForm::ssd);
  checkPacked(PackedForm::ut);
}

TEST_CASE("CUDA chunked backward (emulated): a gated delta rule, every gradient in fp32 rows", "[cuda-emulation]") {
  check({/*decay=*/true, /*scaled=*/false});
}

TEST_CASE("CUDA chunked backward (emulated): DeltaNet's scaled form, gradients to bf16 outputs", "[cuda-emulation]") {
  check({/*decay=*/false, /*scaled=*/true});
}

TEST_CASE("CUDA chunked backward (emulated): the SSD form (simple GLA, linear attention)", "[cuda-emulation]") {
  check({/*decay=*/true, /*scaled=*/false, /*ssd=*/true});
  check({/*decay=*/false, /*scaled=*/false, /*ssd=*/true});
}

TEST_CASE("CUDA chunked backward (emulated): GLA's vector log-decays", "[cuda-emulation]") {
  checkGla(/*outputs=*/false, /*lo=*/-0.05); // GLA's own range (logsigmoid / 16): the state terms count
  checkGla(/*outputs=*/true, /*lo=*/-1.0); // strong decays: the sub-block factors' range
}

TEST_CASE("CUDA chunked backward (emulated): the delta rules' vector diagonal (RWKV-7, KDA)", "[cuda-emulation]") {
  checkDplrVector(VectorForm::rwkv7);
  checkDplrVector(VectorForm::kda);
  checkDplrVector(VectorForm::kdaDecayedB);
  checkDplrVector(VectorForm::kdaDecayMap);
}
