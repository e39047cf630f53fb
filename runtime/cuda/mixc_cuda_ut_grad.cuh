// Part of the CUDA tile library (mixc_cuda.cuh, which includes it): the
// chunked backward of the delta rules' UT form (identity or scalar log-decay
// diagonal, S_t = alpha_t S_{t-1} + a_t (b_t^T S_{t-1}) + k_t v_t^T,
// o_t = c S_t^T q_t), on tensor cores, for bf16 calls; with gradform::ssd
// (a = b = 0) the SSD form's (simple GLA, RetNet, Mamba-2). Per chunk, with S0 the
// state it starts from and deltaPrepare's notation (b the cumulative
// log-decay, L_A, L_K, M, T = (I - L_A)^{-1}, W = T Gamma' B, e_j =
// exp(b_C - b_j)), the forward is
//   U = T (Gamma' B S0 + L_K V),  O = c (Gamma Q S0 + M_QA U + M_QK V),
//   S_C = gamma_C S0 + (e A)^T U + (e K)^T V,
// and, given dO and dS_C (the gradient of the state after the chunk):
//   dU = (e A) dS_C + c M_QA^T dO,  Y = T^T dU,
//   dS0 = gamma_C dS_C + W^T (e A) dS_C + c Q'^T dO        (Q' = Gamma Q + M_QA W),
//   dV = c M_QK^T dO + L_K^T Y + (e K) dS_C,
//   dL_A = Y U^T, dL_K = Y V^T, dM_QA = c dO U^T, dM_QK = c dO V^T (masked, times their decays: G_A, G_K, H_A, H_K),
//   dQ = H_A A + H_K K + c Gamma dO S0^T,   dB = G_A A + G_K K + Gamma' Y S0^T,
//   dA = G_A^T B + H_A^T Q + e U dS_C^T,    dK = G_K^T B + H_K^T Q + e V dS_C^T,
// and the cumulative log-decays' gradient from every factor exp(b_i - b_j)
// (its entry times its gradient, + to b_i, - to b_j), summed from the chunk's
// end into the per-token log-decays. Four kernels:
//   deltaPrepare (the forward's: W, Q', R per chunk),
//   deltaStates (the forward's walk) keeping each chunk's S0 and U instead of o,
//   deltaGradWalk: the chunks in reverse with dS in registers, keeping each
//     chunk's dS_C and (e A) dS_C; the last dS is the initial state's gradient,
//   deltaGradChunk: per chunk, the rest: the terms without the states, then
//     S0 and dS_C land in their buffers and each gradient is written once.
// Their launches: mixc_cuda_ut_grad_launch.cuh.
// Every sum runs in a fixed order (no atomics): the same inputs give the same bits.
#ifndef MIXC_CUDA_UT_GRAD_CUH
#define MIXC_CUDA_UT_GRAD_CUH

// test/unit/CudaEmulation.h defines MIXC_CUDA_EMULATION and the device
// library these kernels use, to run them on host threads in the unit tests.
#ifndef MIXC_CUDA_EMULATION
#include "mixc_cuda.cuh"
#endif

#include <type_traits>

namespace mixc::cuda {

// What the printer knows of a delta rule's backward, as bits of the chunk
// kernel's template parameter `Form`: the scaled low-rank form's two scales,
// k's and b's gradients summed (raw DeltaNet), and which gradients go to the
// caller's outputs (bf16 rows written by the kernel). Every choice is made
// when the kernel is compiled, none per element: branches and dtype switches
// in its unrolled stores made its code outgrow the instruction cache (16.4
// ms against 4.1 on an H100).
namespace gradform {
enum : unsigned {
  aScaled = 1u, kScaled = 2u, dbIntoDk = 4u, dqOut = 8u, dkOut = 16u, dvOut = 32u, dbOut = 64u,
  kIsB = 128u, // k's rows are b's (the delta rules as written): dk_scale's dot reads b's tile
  ssd = 256u,  // no low-rank term (the SSD form: simple GLA, RetNet, Mamba-2): only q, k, v's terms
  gla = 512u,  // with ssd: vector log-decays per key (GLA; mixc_cuda_gla_grad.cuh's chunk kernel)
  vector = 1024u, // the low-rank form with vector log-decays per key (RWKV-7, KDA; mixc_cuda_ut_vector_grad.cuh's)
  bDecayed = 2048u, // with vector: b^T reads Diag(exp(g_t)) S_{t-1} (KDA's decayed_b; p.bDecayed)
  // q's (b's, and so a's and k's) rows read normalized (p.l2normQ, p.l2normB) and the gradients
  // taken through the norm: launchDeltaGrad's copies and passes around the kernels, which never see them
  l2normQ = 4096u, l2normB = 8192u,
};
}

// bf16 rows [B, T, H, D], unit stride in D: an output the chunk kernel writes.
struct Bf16Rows {
  __nv_bfloat16 *p = nullptr;
  int64_t s0 = 0, s1 = 0, s2 = 0;
};

// A thread's two rows (forTile's e < 2 and e >= 2) of a gradient: its
// output's bf16 rows (Out) or its fp32 rows. Found once per thread: 64-bit
// address arithmetic per element of the unrolled stores tripled the code.
template <bool Out> struct GradRowPair {
  using Elem = std::conditional_t<Out, __nv_bfloat16, float>;
  Elem *p[2] = {nullptr, nullptr};
  __device__ __forceinline__ void put(int u, int j, float x) const {
    if constexpr (Out) p[u][j] = __float2bfloat16(x);
    else p[u][j] = x;
  }
};

// What the backward kernels pass between them (bf16 rows [B, chunks * C, H, V]
// in chunkRows' layout; states [B, chunks, H, K, V]).
struct DeltaGradRows {
  View dO;                        // bf16 rows [B, T, H, V]
  View u, x;                      // U, (e A) dS_C
  View kp;                        // the vector form's K' = K . exp(G_C - G) (its prepare's)
  __nv_bfloat16 *gramGrads = nullptr; // the vector form's Gram gradients per chunk ([4][C][C] bf16)
  __nv_bfloat16 *states = nullptr, *dStates = nullptr; // S0 and dS_C per chunk
  View dFinal, dInit;             // fp32 states (null: zero; not wanted)
  float *dq = nullptr, *dk = nullptr, *da = nullptr, *db = nullptr; // [tokB, tokT, H, K]
  float *dv = nullptr;            // [tokB, tokT, H, V]
  float *ddecay = nullptr;        // [tokB, tokT, H] (scalar log-decays)
  int64_t Ttok = 0;               // the token tensors' T
  // The scaled low-rank form (a = a_scale b, the key k_scale k), summed back in
  // the chunk kernel: da is not written, db gets a_scale da and da_scale =
  // <da, b>; dk is k_scale times the scaled key's and dk_scale = <that, k>.
  View aScale, kScale, kPlain;    // [B, T, H] scales; k's own rows
  float *daScale = nullptr, *dkScale = nullptr; // [tokB, tokT, H]
  // Gradients written to the caller's bf16 outputs instead of dq, dk, dv, db
  // (SweepGradOut's, where they are bf16 rows; dv and db, summed in two
  // steps, still pass through their fp32 rows); dbIntoDk: db's added to dk's.
  Bf16Rows dqTo, dkTo, dvTo, dbTo;
  bool dbIntoDk = false;
};

__device__ __forceinline__ float bf(__nv_bfloat16 x) { return __bfloat162float(x); }

// Where sequence n's tokens are in the token tensors (dO, the gradients'
// rows, the scales): a packed call's (call.seqStart) from token t0 of batch
// row 0, a dense call's row n from token 0. The kernels index their scratch
// (chunk rows, states) by sequence and chunk slot of the longest sequence.
struct SeqRows {
  int64_t bt = 0, t0 = 0;
};
__device__ __forceinline__ SeqRows seqRows(const ScanParams &call, int64_t n) {
  SeqRows s;
  if (call.seqStart) s.t0 = call.seqStart[n];
  else s.bt = n;
  return s;
}
// A per-chunk kernel's item, blockIdx.x: chunk slot c (of the longest
// sequence's `slots`) of head h of sequence b, and where b's tokens are.
struct ChunkItem {
  int64_t slots = 0, c = 0, h = 0, b = 0;
  SeqRows sr;
  // The [tokB, tokT, H] row of the chunk's token i (Ttok: the token tensors' T).
  __device__ __forceinline__ int64_t tokenRow(int i, int64_t Ttok, int64_t H) const {
    return (sr.bt * Ttok + sr.t0 + c * chunk::C + i) * H + h;
  }
  // A thread's two rows (the chunk's tokens i0 and i0 + 8) of a gradient: its
  // output's bf16 rows (Out) or its fp32 rows of width W, found once.
  template <bool Out>
  __device__ __forceinline__ GradRowPair<Out> rowPair(int i0, const Bf16Rows &to, float *rows, int W, int64_t Ttok,
                                                      int64_t H) const {
    GradRowPair<Out> q;
#pragma unroll
    for (int u = 0; u < 2; ++u) {
      if constexpr (Out) q.p[u] = to.p + sr.bt * to.s0 + (sr.t0 + c * chunk::C + i0 + 8 * u) * to.s1 + h * to.s2;
      else q.p[u] = rows + tokenRow(i0 + 8 * u, Ttok, H) * W;
    }
    return q;
  }
};
__device__ __forceinline__ ChunkItem chunkItem(const ScanParams &call) {
  ChunkItem it;
  it.slots = (call.T + chunk::C - 1) / chunk::C;
  const int64_t item = blockIdx.x;
  it.c = item % it.slots, it.h = (item / it.slots) % call.H, it.b = item / (it.slots * call.H);
  it.sr = seqRows(call, it.b);
  return it;
}
// A token view from sequence n's first token (packed calls), as forSequence moves the inputs'.
__device__ __forceinline__ View seqView(View v, const ScanParams &call, int64_t n) {
  if (call.seqStart) fromToken(v, call.seqStart[n]);
  return v;
}

// exp(x) where `keep`, else 0, without a branch: the argument selected first
// (a masked entry's exp(b_i - b_j) may overflow) and one ex2.approx.ftz (a
// factor under 2^-126 is 0). __expf behind `keep ? ... : 0` compiled to a
// branch and a subnormal fix-up per element of the unrolled tiles.
__device__ __forceinline__ float maskedExp(bool keep, float x) {
  const float arg = (keep ? x : -256.f) * 1.4426950408889634f;
#ifdef MIXC_CUDA_EMULATION
  const float y = std::exp2(arg);
  return y < 0x1p-126f ? 0.f : y;
#else
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(arg));
  return y;
#endif
}

// The per-chunk kernels' common loads: the value-side rows (dO, `mid`: X or
// Y, U, V) by cp.async after whatever the caller started, then the chunk's
// cumulative log-decays (warp 0) and a barrier once everything has landed.
template <int V, bool Decay, bool LowRank = true>
__device__ __forceinline__ void landChunk(const ScanParams &p, const DeltaGradRows &r, const View &dO, const View &mid,
                                          __nv_bfloat16 *dOs, __nv_bfloat16 *mids, __nv_bfloat16 *Us,
                                          __nv_bfloat16 *Vs, int ld, int64_t b, int64_t h, int64_t c, float *Bc,
                                          int64_t slots) {
  const int64_t T = p.T, rows = slots * chunk::C;
  chunk::copyRows<V, 256>(dOs, ld, dO, b, h, c, T, 0, V);
  if constexpr (LowRank) {
    chunk::copyRows<V, 256>(mids, ld, mid, b, h, c, rows, 0, V);
    chunk::copyRows<V, 256>(Us, ld, r.u, b, h, c, rows, 0, V);
  }
  chunk::copyRows<V, 256>(Vs, ld, p.v, b, h, c, T, 0, V);
  tile::commit();
  if (threadIdx.x < 32) {
    float g0 = 0.f, g1 = 0.f;
    if constexpr (Decay) chunk::scalarGates<true>(p, b, h, c, g0, g1);
    chunk::cumulativeGates(g0, g1, Bc);
  }
  tile::waitGroups<0>();
  __syncthreads();
}

// ---- the reverse walk ----
template <int K, int VB, bool Gla = false> struct DeltaGradWalkLayout {
  static constexpr int C = 64, LK = K + 8, LV = VB + 8, rowsK = C * LK * 2;
  static constexpr int w = 0, qp = rowsK, a = 2 * rowsK, dO = 3 * rowsK, ec = dO + C * LV * 2;
  static constexpr int stage = ec + (Gla ? K * 4 : 0); // ec: GLA's chunk log-decays per key
  static constexpr int bc = 2 * stage, bytes = bc + 2 * C * 4;
};

// One CTA of WARPS warps per (value block of 16 WARPS columns, head, batch),
// each warp with dS^T of its 16 value columns in registers (deltaStates'
// layout), the chunks from the last: keeps dS_C, X = (e A) dS_C, then
// dS = gamma_C dS + W^T X + c Q'^T dO.
// Ssd (no low-rank term: W = 0, Q' = Gamma Q): dS = gamma_C dS + c Q^T Gamma dO,
// reading q's rows and dO only. Gla (with Ssd): vector log-decays per key,
// Q' = Q . exp(b) from glaPrepare (d.qp) and the chunk's log-decays b_C
// (d.chunkDecay): dS = Diag(exp(b_C)) dS + c Q'^T dO. Gla without Ssd (the
// delta rules with a vector diagonal): W, Q' and A' = A . exp(b_C - b) from
// dplrVectorPrepare (d.w, d.qp, d.ap): X = A' dS_C, dS = Diag(exp(b_C)) dS +
// W^T X + c Q'^T dO.
template <int K, int WARPS, bool Decay, bool Ssd = false, bool Gla = false>
__global__ void __launch_bounds__(WARPS * 32, 1) deltaGradWalk(const ScanParams call, const DeltaChunks d,
                                                               const DeltaGradRows r) {
  using tile::bf16;
  constexpr int VB = 16 * WARPS, THREADS = WARPS * 32, KT = K / 16;
  using L = DeltaGradWalkLayout<K, VB, Gla>;
  static_assert(!Gla || !Decay, "vector decays: the decayed operands come prepared");
  constexpr int C = L::C, LK = L::LK, LV = L::LV;
  MIXC_DYNAMIC_SHARED(smem);
  float *Bc = (float *)(smem + L::bc);
  const ScanParams p = forSequence(call, blockIdx.z); // (a packed call: sequence blockIdx.z)
  const View dO = seqView(r.dO, call, blockIdx.z);
  const int64_t T = p.T, V = p.Vs, h = blockIdx.y, b = blockIdx.z, j0 = (int64_t)blockIdx.x * VB;
  const int64_t chunks = (T + C - 1) / C, slots = (call.T + C - 1) / C;
  const int wid = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t4 = lane % 4, v0 = wid * 16;
  auto load = [&](int64_t c) {
    unsigned char *st = smem + ((chunks - 1 - c) & 1) * L::stage;
    if constexpr (Gla) {
      chunk::copyRows<K, THREADS>((bf16 *)(st + L::qp), LK, d.qp, b, h, c, T, 0, K);
      if constexpr (!Ssd) {
        chunk::copyRows<K, THREADS>((bf16 *)(st + L::w), LK, d.w, b, h, c, T, 0, K);
        chunk::copyRows<K, THREADS>((bf16 *)(st + L::a), LK, d.ap, b, h, c, T, 0, K);
      }
      const float *ec = d.chunkDecay + ((b * slots + c) * p.H + h) * K;
      for (int i = threadIdx.x; i < K / 4; i += THREADS) tile::copy16(st + L::ec + 16 * i, ec + 4 * i, true);
    } else if constexpr (Ssd) {
      chunk::copyRows<K, THREADS>((bf16 *)(st + L::qp), LK, p.q, b, h, c, T, 0, K);
    } else {
      chunk::copyRows<K, THREADS>((bf16 *)(st + L::w), LK, d.w, b, h, c, T, 0, K);
      chunk::copyRows<K, THREADS>((bf16 *)(st + L::qp), LK, d.qp, b, h, c, T, 0, K);
      chunk::copyRows<K, THREADS>((bf16 *)(st + L::a), LK, p.a, b, h, c, T, 0, K);
    }
    chunk::copyRows<VB, THREADS>((bf16 *)(st + L::dO), LV, dO, b, h, c, T, j0, V);
    tile::commit();
  };
  float STs[1][2 * KT][4];
  float(&ST)[2 * KT][4] = STs[0];
  chunk::loadState<true>(STs, r.dFinal, V, b, h, 0, j0 + v0);
  if (chunks > 0) load(chunks - 1);
  if (wid == 0 && chunks > 0) {
    float g0 = 0.f, g1 = 0.f;
    if constexpr (Decay) chunk::scalarGates<true>(p, b, h, chunks - 1, g0, g1);
    chunk::cumulativeGates(g0, g1, Bc);
  }
  for (int64_t c = chunks - 1; c >= 0; --c) {
    const int s = (int)((chunks - 1 - c) & 1);
    const unsigned char *st = smem + s * L::stage;
    const bf16 *Ws = (const bf16 *)(st + L::w), *Qp = (const bf16 *)(st + L::qp), *As = (const bf16 *)(st + L::a),
               *dOs = (const bf16 *)(st + L::dO);
    const float *Bs = Bc + s * C;
    tile::waitGroups<0>();
    __syncthreads(); // chunk c has landed; every warp is done with chunk c + 1's stage
    if (c > 0) load(c - 1);
    float g0 = 0.f, g1 = 0.f;
    if (Decay && wid == 0 && c > 0) chunk::scalarGates<true>(p, b, h, c - 1, g0, g1);
    { // dS_C of this chunk, [K][V] per (b, c, h)
      bf16 *at = r.dStates + ((b * slots + c) * p.H + h) * K * V;
      chunk::forStateElements<true>(STs, 0, j0 + v0, [&](float &x, int row, int64_t col) {
        if (col < V) at[row * V + col] = __float2bfloat16(x);
      });
    }
    uint32_t SA[KT][4];
#pragma unroll
    for (int kk = 0; kk < KT; ++kk) {
      SA[kk][0] = tile::pack(ST[2 * kk][0], ST[2 * kk][1]);
      SA[kk][1] = tile::pack(ST[2 * kk][2], ST[2 * kk][3]);
      SA[kk][2] = tile::pack(ST[2 * kk + 1][0], ST[2 * kk + 1][1]);
      SA[kk][3] = tile::pack(ST[2 * kk + 1][2], ST[2 * kk + 1][3]);
    }
    // X^T = dS^T A^T, its columns (tokens) times e_j.
    float XT[C / 8][4] = {};
#pragma unroll
    for (int kk = 0; kk < (Ssd ? 0 : KT); ++kk) {
      uint32_t bb[C / 16][4];
#pragma unroll
      for (int np = 0; np < C / 16; ++np) tile::loadBN(bb[np], As + np * 16 * LK + kk * 16, LK);
#pragma unroll
      for (int np = 0; np < C / 16; ++np) {
        tile::mma(XT[2 * np], SA[kk], bb[np][0], bb[np][1]);
        tile::mma(XT[2 * np + 1], SA[kk], bb[np][2], bb[np][3]);
      }
    }
    const float bL = Decay ? Bs[C - 1] : 0.f;
    if constexpr (!Ssd) {
      bf16 *x = (bf16 *)r.x.p + b * r.x.s0 + c * C * r.x.s1 + r.x.head(h);
#pragma unroll
      for (int nt = 0; nt < C / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int j = nt * 8 + 2 * t4 + (e & 1);
          if constexpr (Decay) XT[nt][e] *= __expf(bL - Bs[j]);
          const int64_t col = j0 + v0 + g + (e >= 2 ? 8 : 0);
          if (col < V) x[j * r.x.s1 + col] = __float2bfloat16(XT[nt][e]);
        }
    }
    // dS^T = gamma_C dS^T + X^T W + c dO^T Q'
    if constexpr (Gla) { // dS^T . Diag(exp(b_C)), per key column
      const float *ec = (const float *)(st + L::ec);
#pragma unroll
      for (int nt = 0; nt < 2 * KT; ++nt) {
        const float f0 = __expf(ec[nt * 8 + 2 * t4]), f1 = __expf(ec[nt * 8 + 2 * t4 + 1]);
        ST[nt][0] *= f0, ST[nt][1] *= f1, ST[nt][2] *= f0, ST[nt][3] *= f1;
      }
    }
    if constexpr (Decay) {
      const float eL = __expf(bL);
#pragma unroll
      for (int nt = 0; nt < 2 * KT; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) ST[nt][e] *= eL;
    }
    auto addToState = [&](const uint32_t *Lf, const bf16 *X, int kt) {
      uint32_t bb[KT][4];
#pragma unroll
      for (int np = 0; np < KT; ++np) tile::loadBK(bb[np], X + kt * 16 * LK + np * 16, LK);
#pragma unroll
      for (int np = 0; np < KT; ++np) {
        tile::mma(ST[2 * np], Lf, bb[np][0], bb[np][1]);
        tile::mma(ST[2 * np + 1], Lf, bb[np][2], bb[np][3]);
      }
    };
#pragma unroll
    for (int kt = 0; kt < C / 16; ++kt) {
      if constexpr (!Ssd) {
        const uint32_t XA[4] = {tile::pack(XT[2 * kt][0], XT[2 * kt][1]), tile::pack(XT[2 * kt][2], XT[2 * kt][3]),
                                tile::pack(XT[2 * kt + 1][0], XT[2 * kt + 1][1]),
                                tile::pack(XT[2 * kt + 1][2], XT[2 * kt + 1][3])};
        addToState(XA, Ws, kt);
      }
      uint32_t OA[4];
      tile::loadAT(OA, dOs + kt * 16 * LV + v0, LV);
      if constexpr (Ssd && Decay) { // (Gamma dO)^T: the fragment's columns are tokens 16 kt + 2 t4 (+ 1, + 8, + 9)
        const int j = kt * 16 + 2 * t4;
        const float f0 = p.scale * __expf(Bs[j]), f1 = p.scale * __expf(Bs[j + 1]);
        const float f8 = p.scale * __expf(Bs[j + 8]), f9 = p.scale * __expf(Bs[j + 9]);
        OA[0] = tile::scalePair(OA[0], f0, f1), OA[1] = tile::scalePair(OA[1], f0, f1);
        OA[2] = tile::scalePair(OA[2], f8, f9), OA[3] = tile::scalePair(OA[3], f8, f9);
      } else {
#pragma unroll
        for (int i = 0; i < 4; ++i) OA[i] = tile::scalePair(OA[i], p.scale, p.scale);
      }
      addToState(OA, Qp, kt);
    }
    if (Decay && wid == 0 && c > 0) chunk::cumulativeGates(g0, g1, Bc + (s ^ 1) * C);
  }
  chunk::storeState<true>(STs, r.dInit, V, b, h, 0, j0 + v0);
}

// ---- the chunk's terms ----
// A chunk's kept state ([K][V] bf16 of the item's chunk slot: S0 or dS_C) into
// shared memory rows of LV, by cp.async (the caller commits).
template <int K, int V, int LV>
__device__ __forceinline__ void copyChunkState(tile::bf16 *dst, const tile::bf16 *states, const ChunkItem &it,
                                               int64_t H) {
  const tile::bf16 *src = states + ((it.b * it.slots + it.c) * H + it.h) * K * V;
  for (int e = threadIdx.x; e < K * V / 8; e += 256) {
    const int row = e / (V / 8), col = (e % (V / 8)) * 8;
    tile::copy16(dst + row * LV + col, src + row * V + col);
  }
}
// acc += Dp[I, J] . t, a product by the 16-token sub-block pair (I, J) times
// the pair's factor per key column (Df: subBlockPairDecays'; 1 on the diagonal
// blocks); the warp's columns from k0 (the vector decays' chunk kernels).
template <int K, int NK>
__device__ __forceinline__ void addPairProduct(float (&acc)[NK][4], const float (&t)[NK][4], const float *Df, int I,
                                               int J, int k0) {
  const float *dp = Df + ((I * (I - 1)) / 2 + J) * K;
  forTile<NK>(t, 0, k0, [&](int, int k, float x, int nt, int e) { acc[nt][e] += I > J ? x * dp[k] : x; });
}
// The UT form's chunk steps that the scalar and the vector diagonal's chunk
// kernels share (CTAs of 8 warps; warp (rw, hf) takes rows 16 rw.. of each
// product in the column half hf; bf16 tiles [C][LV] of values and [C][LC] of
// the chunk's C x C matrices).
// Y = T^T dU with dU = X + c M_QA^T dO, over X's rows. Ends before a barrier.
template <int V, int LV, int LC>
__device__ __forceinline__ void utGradY(tile::bf16 *Xs, const tile::bf16 *MQA, const tile::bf16 *Ts,
                                        const tile::bf16 *dOs, float cs) {
  constexpr int NV = V / 16;
  const int warp = threadIdx.x / 32, rw = warp % 4, hf = warp / 4, r0 = rw * 16;
  {
    float acc[NV][4] = {};
    warpGemm<NV, true, true>(acc, MQA + r0, LC, dOs + hf * (V / 2), LV, rw, 4);
#pragma unroll
    for (int nt = 0; nt < NV; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[nt][e] *= cs;
    addIntoTile<NV>(Xs, LV, r0, hf * (V / 2), acc, [](int) { return 1.f; });
  }
  __syncthreads();
  float acc[NV][4] = {};
  warpGemm<NV, true, true>(acc, Ts + r0, LC, Xs + hf * (V / 2), LV, rw, 4);
  __syncthreads();
  storeTile<NV>(Xs, LV, r0, hf * (V / 2), acc, [](int, int, float x) { return x; });
}
// dV's terms within the chunk, c M_QK^T dO (+ L_K^T Y with a low-rank term), this warp's part.
template <int V, int LV, int LC, bool LowRank>
__device__ __forceinline__ void utGradDvLocal(float (&acc)[V / 16][4], const tile::bf16 *MQK, const tile::bf16 *LK,
                                              const tile::bf16 *dOs, const tile::bf16 *Ys, float cs) {
  constexpr int NV = V / 16;
  const int warp = threadIdx.x / 32, rw = warp % 4, hf = warp / 4, r0 = rw * 16;
  warpGemm<NV, true, true>(acc, MQK + r0, LC, dOs + hf * (V / 2), LV, rw, 4);
#pragma unroll
  for (int nt = 0; nt < NV; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) acc[nt][e] *= cs;
  if constexpr (LowRank) warpGemm<NV, true, true>(acc, LK + r0, LC, Ys + hf * (V / 2), LV, rw, 4);
}
// The masked matrices' gradients before their masks and decays, this warp's 16 x 32:
// dL_A = Y U^T, dL_K = Y V^T, dM_QA = dO U^T, dM_QK = dO V^T (without a low-rank term dM_QK only).
template <int V, int LV, bool LowRank>
__device__ __forceinline__ void utGramGrads(float (&dLA)[4][4], float (&dLK)[4][4], float (&dMA)[4][4],
                                            float (&dMK)[4][4], const tile::bf16 *Ys, const tile::bf16 *dOs,
                                            const tile::bf16 *Us, const tile::bf16 *Vs) {
  constexpr int NV = V / 16;
  const int warp = threadIdx.x / 32, r0 = (warp % 4) * 16, hf = warp / 4;
  if constexpr (LowRank) {
    warpGemm<4, false, false>(dLA, Ys + r0 * LV, LV, Us + hf * 32 * LV, LV, 0, NV);
    warpGemm<4, false, false>(dLK, Ys + r0 * LV, LV, Vs + hf * 32 * LV, LV, 0, NV);
    warpGemm<4, false, false>(dMA, dOs + r0 * LV, LV, Us + hf * 32 * LV, LV, 0, NV);
  }
  warpGemm<4, false, false>(dMK, dOs + r0 * LV, LV, Vs + hf * 32 * LV, LV, 0, NV);
}

template <int K, int V> struct DeltaGradChunkLayout {
  static constexpr int C = 64, LK = K + 8, LV = V + 8, LC = C + 8, LF = C + 4;
  static constexpr int rowsK = C * LK * 2, rowsV = C * LV * 2, tileC = C * LC * 2, fC = C * LF * 4;
  static constexpr int q = 0, k = q + rowsK, a = k + rowsK, b = a + rowsK;
  static constexpr int dO = b + rowsK, x = dO + rowsV, u = x + rowsV, v = u + rowsV;
  static constexpr int la = v + rowsV, lk = la + tileC, mqa = lk + tileC, mqk = mqa + tileC, t = mqk + tileC;
  static constexpr int laf = t + tileC, tf = laf + fC; // fp32 L_A and T for the inverse; then D over L_A
  // bc: 4 floats, then the C cumulative log-decays (the one before them, 0: b_{i-1} without a branch)
  static constexpr int pt = tf + fC, bc = pt + 3 * 16 * 24 * 4, red = bc + (C + 4) * 4, db = red + 3 * 2 * C * 4;
  static constexpr int sum = db + C * 4, scl = sum + 8 * 4, bytes = scl + 2 * 2 * C * 4;
  // The states, [K][LV] bf16 each, land where the first terms' buffers were:
  // S0 over the fp32 L_A and T, dS_C over dO and Y.
  static constexpr int s0 = laf, ds = dO, state = K * LV * 2;
  static_assert(state <= 2 * fC && state <= 2 * rowsV, "the states over the first terms' buffers");
};

// A CTA of 8 warps per (chunk, head, batch); warp (rw, hf) takes rows 16 rw..
// of each product, in the column half hf. First the terms without the
// states (Grams, inverse, dU, Y, dV's, the masked gradients G_A, G_K, H_A,
// H_K); then S0 lands and dq, db are written (their local products beside
// the state's), then dS_C and da, dk; dv (written first) gets (e K) dS_C;
// last the per-token log-decays' gradient (the chunk's cumulative ones',
// summed from its end). The scaled low-rank form's sums back to the plain
// rows (DeltaGradRows) are taken as da and dk are given out.
// gradform::ssd (no low-rank term): A = B = 0, so L_A, L_K, T, U, Y and every
// product with them drop out: dQ = H_K K + c Gamma dO S0^T, dK = H_K^T Q + e V
// dS_C^T, dV = c M_QK^T dO + e K dS_C, and the log-decays' terms of M_QK and
// the states.
template <int K, int V, bool Decay, unsigned Form>
__global__ void __launch_bounds__(256, 1) deltaGradChunk(const ScanParams call, const DeltaGradRows r) {
  constexpr bool AScaled = Form & gradform::aScaled, KScaled = Form & gradform::kScaled,
                 IntoDk = Form & gradform::dbIntoDk, DqOut = Form & gradform::dqOut, DkOut = Form & gradform::dkOut,
                 DvOut = Form & gradform::dvOut, DbOut = Form & gradform::dbOut, KIsB = Form & gradform::kIsB,
                 LowRank = !(Form & gradform::ssd);
  static_assert(LowRank || !(AScaled || KScaled || IntoDk || DbOut || KIsB), "the SSD form has no low-rank term");
  using tile::bf16;
  using L = DeltaGradChunkLayout<K, V>;
  constexpr int C = L::C, LK = L::LK, LV = L::LV, LC = L::LC, LF = L::LF, NK = K / 16, NV = V / 16;
  static_assert(K % 64 == 0 && V % 64 == 0, "chunked tiles");
  MIXC_DYNAMIC_SHARED(smem);
  bf16 *Qs = (bf16 *)(smem + L::q), *Ks = (bf16 *)(smem + L::k), *As = (bf16 *)(smem + L::a),
       *Bs = (bf16 *)(smem + L::b), *dOs = (bf16 *)(smem + L::dO), *Xs = (bf16 *)(smem + L::x),
       *Us = (bf16 *)(smem + L::u), *Vs = (bf16 *)(smem + L::v), *LAb = (bf16 *)(smem + L::la),
       *LKb = (bf16 *)(smem + L::lk), *MQA = (bf16 *)(smem + L::mqa), *MQK = (bf16 *)(smem + L::mqk),
       *Ts = (bf16 *)(smem + L::t), *Ss = (bf16 *)(smem + L::s0), *dSs = (bf16 *)(smem + L::ds);
  float *LAf = (float *)(smem + L::laf), *TF = (float *)(smem + L::tf), *PT = (float *)(smem + L::pt),
        *Bc = (float *)(smem + L::bc) + 4, *D = LAf, *red = (float *)(smem + L::red), *DB = (float *)(smem + L::db),
        *sum = (float *)(smem + L::sum), *scl = (float *)(smem + L::scl);
  const ChunkItem it = chunkItem(call);
  const int64_t slots = it.slots, c = it.c, h = it.h, b = it.b;
  const SeqRows sr = it.sr;
  const ScanParams p = forSequence(call, b);
  const int64_t T = p.T, H = p.H;
  if (c * C >= T) return; // past a packed sequence's end
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, t4 = lane % 4, rw = warp % 4, hf = warp / 4,
            r0 = rw * 16;
  const float cs = p.scale;
  // b_{i-1} (0 before the chunk's first token: Bc[-1], set here; a branch per
  // element, as `i == 0 ? 0 : ...` was, took a tenth of the kernel's code)
  if (tid == 0) Bc[-1] = 0.f;
  auto bprev = [&](int i) { return Bc[i - 1]; };
  chunk::copyRows<K, 256>(Qs, LK, p.q, b, h, c, T, 0, K);
  chunk::copyRows<K, 256>(Ks, LK, p.k, b, h, c, T, 0, K);
  if constexpr (LowRank) {
    chunk::copyRows<K, 256>(As, LK, p.a, b, h, c, T, 0, K);
    chunk::copyRows<K, 256>(Bs, LK, p.b, b, h, c, T, 0, K);
  }
  landChunk<V, Decay, LowRank>(p, r, seqView(r.dO, call, b), r.x, dOs, Xs, Us, Vs, LV, b, h, c, Bc, slots);
  if (LowRank || hf == 1) { // Gram matrices, masked and decayed: L_A (fp32 and bf16), L_K, M . Q A^T, M . Q K^T.
    float X[8][4] = {}, Y[8][4] = {};
    if constexpr (LowRank) warpGemm<8, false, false>(X, (hf == 0 ? Bs : Qs) + r0 * LK, LK, As, LK, 0, NK);
    warpGemm<8, false, false>(Y, (hf == 0 ? Bs : Qs) + r0 * LK, LK, Ks, LK, 0, NK);
    const bool strict = hf == 0;
    // the masks and decay factors first, once for both: between stores to
    // shared memory each read of Bc would be done again (they may alias)
    float F[8][4];
    forTile<8>(X, r0, 0, [&](int i, int j, float, int nt, int e) {
      const bool keep = strict ? j < i : j <= i;
      F[nt][e] = Decay ? maskedExp(keep, (strict ? bprev(i) : Bc[i]) - Bc[j]) : keep ? 1.f : 0.f;
    });
    auto put = [&](float (&Z)[8][4], bf16 *dst, bool alsoF) {
      forTile<8>(Z, r0, 0, [&](int i, int j, float x, int nt, int e) {
        dst[i * LC + j] = __float2bfloat16(x * F[nt][e]);
        if (alsoF) LAf[i * LF + j] = x * F[nt][e];
      });
    };
    if constexpr (LowRank) put(X, strict ? LAb : MQA, strict);
    put(Y, strict ? LKb : MQK, false);
  }
  __syncthreads();
  if constexpr (LowRank) invertUnitLower<LF, LC>(LAf, TF, Ts, PT, [] {});
  if constexpr (LowRank) { // Y = T^T dU over X's rows
    utGradY<V, LV, LC>(Xs, MQA, Ts, dOs, cs);
    __syncthreads();
  }
  bf16 *Ys = Xs;
  auto tokenRow = [&](int i) { return it.tokenRow(i, r.Ttok, H); };
  { // dV = c M_QK^T dO + L_K^T Y (+ (e K) dS_C at the end)
    float acc[NV][4] = {};
    utGradDvLocal<V, LV, LC, LowRank>(acc, MQK, LKb, dOs, Ys, cs);
    forTile<NV>(acc, r0, hf * (V / 2), [&](int i, int j, float x, int, int) {
      if (c * C + i < T) r.dv[tokenRow(i) * V + j] = x;
    });
  }
  __syncthreads(); // L_K and M_QK are read: their space takes G_K and H_K
  { // dL_A = Y U^T, dL_K = Y V^T, dM_QA = c dO U^T, dM_QK = c dO V^T on this warp's 16 x 32
    float dLA[4][4] = {}, dLK[4][4] = {}, dMA[4][4] = {}, dMK[4][4] = {}, eL[4][4];
    utGramGrads<V, LV, LowRank>(dLA, dLK, dMA, dMK, Ys, dOs, Us, Vs);
    float FL[4][4], FM[4][4]; // (before the stores: see F above)
    forTile<4>(dLA, r0, hf * 32, [&](int i, int j, float, int nt, int e) {
      FL[nt][e] = Decay ? maskedExp(j < i, bprev(i) - Bc[j]) : j < i ? 1.f : 0.f;
      FM[nt][e] = Decay ? maskedExp(j <= i, Bc[i] - Bc[j]) : j <= i ? 1.f : 0.f;
    });
    forTile<4>(dLA, r0, hf * 32, [&](int i, int j, float, int nt, int e) {
      const int at = i * LC + j;
      const float mk = bf(MQK[at]), fM = FM[nt][e], gmk = cs * dMK[nt][e];
      MQK[at] = __float2bfloat16(gmk * fM);
      if constexpr (LowRank) {
        const float la = bf(LAb[at]), lk = bf(LKb[at]), ma = bf(MQA[at]);
        const float fL = FL[nt][e];
        const float gla = dLA[nt][e], glk = dLK[nt][e], gma = cs * dMA[nt][e];
        LAb[at] = __float2bfloat16(gla * fL), LKb[at] = __float2bfloat16(glk * fL);
        MQA[at] = __float2bfloat16(gma * fM);
        eL[nt][e] = gla * la + glk * lk;
        if constexpr (Decay) D[i * LF + j] = gma * ma + gmk * mk;
      } else if constexpr (Decay) {
        D[i * LF + j] = gmk * mk;
      }
    });
    if constexpr (Decay && LowRank) {
      __syncthreads();
      // exp(b_{i-1} - b_j): row i's entries count for b_{i-1}
      forTile<4>(eL, r0, hf * 32, [&](int i, int j, float x, int, int) {
        if (i >= 1) D[(i - 1) * LF + j] += x;
      });
    }
  }
  __syncthreads();
  if constexpr (Decay) {
    { // d b_r = sum_s D[r][s] - sum_i D[i][r], the cumulative log-decays' local gradient: a quarter per thread
      const int rr = tid % C, part = tid / C;
      float s = 0.f;
      for (int j = part * (C / 4); j < (part + 1) * (C / 4); ++j) s += D[rr * LF + j] - D[j * LF + rr];
      red[part * C + rr] = s;
    }
    __syncthreads();
    if (tid < C) DB[tid] = ((red[tid] + red[C + tid]) + red[2 * C + tid]) + red[3 * C + tid];
    __syncthreads();
    for (int i = tid; i < 3 * 2 * C; i += 256) red[i] = 0.f;
    __syncthreads(); // D is read: S0 takes its place
  }
  auto landState = [&](bf16 *dst, const bf16 *src) { // [K][V] -> [K][LV], asynchronously
    copyChunkState<K, V, LV>(dst, src, it, H);
    tile::commit();
  };
  const float bL = Decay ? Bc[C - 1] : 0.f;
  auto gamma = [&](int i) { return Decay ? __expf(Bc[i]) : 1.f; };
  auto gammaPrev = [&](int i) { return Decay ? __expf(Bc[i - 1]) : 1.f; };
  auto decayTo = [&](int i) { return Decay ? __expf(bL - Bc[i]) : 1.f; };
  // One gradient of C x K: `local` (the products with G_A, G_K, H_A, H_K)
  // plus f(i) (A S^T), given once to sink(i, j, value, n) (rows of the
  // sequence only; n = 4 nt + e, the element's place in a thread's tile,
  // n % 4 >= 2 its second row); that state part's rows dotted with X's (the
  // decays' terms) into red[slot][hf][row].
  auto emit = [&](const float *local, const bf16 *A, const bf16 *S, const bf16 *X, int slot, auto f, auto sink) {
    float acc[NK][4] = {};
    warpGemm<NK, false, false>(acc, A + r0 * LV, LV, S + (hf * (K / 2)) * LV, LV, 0, NV);
    [[maybe_unused]] float dot[2] = {0.f, 0.f};
    const float f0 = f(r0 + lane / 4), f8 = f(r0 + lane / 4 + 8); // this lane's two rows (e < 2, e >= 2)
    forTile<NK>(acc, r0, hf * (K / 2), [&](int i, int j, float x, int nt, int e) {
      const float y = (e >= 2 ? f8 : f0) * x;
      if (c * C + i < T) sink(i, j, local[nt * 4 + e] + y, nt * 4 + e);
      if constexpr (Decay) dot[e >= 2] += bf(X[i * LK + j]) * y;
    });
    if constexpr (Decay) {
#pragma unroll
      for (int o = 1; o < 4; o *= 2)
        dot[0] += __shfl_xor_sync(0xffffffffu, dot[0], o), dot[1] += __shfl_xor_sync(0xffffffffu, dot[1], o);
      if (t4 == 0) {
        const int gr = lane / 4;
        red[(slot * 2 + hf) * C + r0 + gr] += dot[0];
        red[(slot * 2 + hf) * C + r0 + gr + 8] += dot[1];
      }
    }
  };
  // this thread's two rows of a gradient of width W (rows past the sequence: not written)
  const int rowOf[2] = {r0 + lane / 4, r0 + lane / 4 + 8};
  auto fpRows = [&](float *rows, int W) { return it.rowPair<false>(rowOf[0], Bf16Rows{}, rows, W, r.Ttok, H); };
  // a gradient's rows: its output's where Out, else its fp32 rows
  auto rowsOf = [&](auto out, float *rows, const Bf16Rows &to, int W) {
    return it.rowPair<decltype(out)::value>(rowOf[0], to, rows, W, r.Ttok, H);
  };
  // This thread's elements of a gradient of C x K (emit's places), all
  // loaded before any is used: a load after a store the compiler cannot tell
  // apart waits out the memory's latency, once per element.
  auto gather = [&](float *dst, auto load) {
    const float none[NK][4] = {};
    forTile<NK>(none, r0, hf * (K / 2), [&](int i, int j, float, int nt, int e) {
      dst[nt * 4 + e] = c * C + i < T ? load(e >= 2, j) : 0.f;
    });
  };
  // this lane's two rows' scales (rows past the sequence: 0)
  auto scaleAt = [&](const View &s, int i) {
    return s.p && c * C + i < T ? s.at(sr.bt, sr.t0 + c * C + i, h, 0) : 0.f;
  };
  const float s0 = scaleAt(r.aScale, r0 + lane / 4), s8 = scaleAt(r.aScale, r0 + lane / 4 + 8);
  const float k0 = scaleAt(r.kScale, r0 + lane / 4), k8 = scaleAt(r.kScale, r0 + lane / 4 + 8);
  // a lane's two row partial sums over its quad, then scl[which][hf][row]
  auto rowSums = [&](float (&dot)[2], int which) {
#pragma unroll
    for (int o = 1; o < 4; o *= 2)
      dot[0] += __shfl_xor_sync(0xffffffffu, dot[0], o), dot[1] += __shfl_xor_sync(0xffffffffu, dot[1], o);
    if (t4 == 0) {
      scl[(which * 2 + hf) * C + r0 + lane / 4] = dot[0];
      scl[(which * 2 + hf) * C + r0 + lane / 4 + 8] = dot[1];
    }
  };
  landState(Ss, r.states);
  { // dQ = H_A A + H_K K + c Gamma dO S0^T,  dB = G_A A + G_K K + Gamma' Y S0^T
    float lq[NK][4] = {}, lb[NK][4] = {};
    if constexpr (LowRank) warpGemm<NK, false, true>(lq, MQA + r0 * LC, LC, As + hf * (K / 2), LK, 0, rw + 1);
    warpGemm<NK, false, true>(lq, MQK + r0 * LC, LC, Ks + hf * (K / 2), LK, 0, rw + 1);
    if constexpr (LowRank) {
      warpGemm<NK, false, true>(lb, LAb + r0 * LC, LC, As + hf * (K / 2), LK, 0, rw + 1);
      warpGemm<NK, false, true>(lb, LKb + r0 * LC, LC, Ks + hf * (K / 2), LK, 0, rw + 1);
    }
    tile::waitGroups<0>();
    __syncthreads();
    const auto dq = rowsOf(std::bool_constant<DqOut>{}, r.dq, r.dqTo, K);
    emit(&lq[0][0], dOs, Ss, Qs, 0, [&](int i) { return cs * gamma(i); },
         [&](int, int j, float x, int n) { dq.put(n % 4 >= 2, j, x); });
    // (db's fp32 rows where a_scale da or dk adds to it below)
    if constexpr (LowRank) {
      const auto db = rowsOf(std::bool_constant<DbOut && !AScaled && !IntoDk>{}, r.db, r.dbTo, K);
      emit(&lb[0][0], Ys, Ss, Bs, 1, gammaPrev, [&](int, int j, float x, int n) { db.put(n % 4 >= 2, j, x); });
    }
  }
  __syncthreads(); // dO and Y are read: dS_C takes their place
  landState(dSs, r.dStates);
  { // dA = G_A^T B + H_A^T Q + e U dS_C^T,  dK = G_K^T B + H_K^T Q + e V dS_C^T
    float la[NK][4] = {}, lk[NK][4] = {};
    if constexpr (LowRank) {
      warpGemm<NK, true, true>(la, LAb + r0, LC, Bs + hf * (K / 2), LK, rw, 4);
      warpGemm<NK, true, true>(la, MQA + r0, LC, Qs + hf * (K / 2), LK, rw, 4);
      warpGemm<NK, true, true>(lk, LKb + r0, LC, Bs + hf * (K / 2), LK, rw, 4);
    }
    warpGemm<NK, true, true>(lk, MQK + r0, LC, Qs + hf * (K / 2), LK, rw, 4);
    tile::waitGroups<0>();
    __syncthreads();
    // db's elements this thread wrote above, where a_scale da or dk adds to them
    [[maybe_unused]] float dbs[NK * 4];
    if constexpr (AScaled || IntoDk) {
      const auto dbIn = fpRows(r.db, K);
      gather(dbs, [&](int u, int j) { return dbIn.p[u][j]; });
    }
    // da, or in the scaled form db += a_scale da and da_scale = <da, b> (one
    // emit, the form a uniform branch per element: each emit is the whole
    // unrolled product, and two made the code outgrow the instruction cache)
    [[maybe_unused]] float dot0[2] = {0.f, 0.f};
    if constexpr (AScaled) {
      const auto dbOut = rowsOf(std::bool_constant<DbOut>{}, r.db, r.dbTo, K);
      emit(&la[0][0], Us, dSs, As, 2, decayTo, [&](int i, int j, float x, int n) {
        dbs[n] += (n % 4 >= 2 ? s8 : s0) * x;
        if constexpr (!IntoDk) dbOut.put(n % 4 >= 2, j, dbs[n]);
        dot0[n % 4 >= 2] += bf(Bs[i * LK + j]) * x;
      });
      rowSums(dot0, 0);
    } else if constexpr (LowRank) {
      const auto da = fpRows(r.da, K);
      emit(&la[0][0], Us, dSs, As, 2, decayTo, [&](int, int j, float x, int n) { da.put(n % 4 >= 2, j, x); });
    }
    __syncwarp(); // slot 2's sums of this warp's rows before its second gradient adds to them
    // dk (k_scale times the scaled key's, dk_scale = <that, k>; plus db)
    [[maybe_unused]] float ks[NK * 4], dot[2] = {0.f, 0.f};
    if constexpr (KScaled && !KIsB) { // (k's rows are bf16 or fp32: deltaGradChunkedApplies)
      const View &kp = r.kPlain;
      const int64_t kr0 = sr.bt * kp.s0 + (sr.t0 + c * C + rowOf[0]) * kp.s1 + kp.head(h), kr8 = kr0 + 8 * kp.s1;
      if (kp.dtype == MIXC_BF16)
        gather(ks, [&](int u, int j) { return bf(((const bf16 *)kp.p)[(u ? kr8 : kr0) + j * kp.s3]); });
      else
        gather(ks, [&](int u, int j) { return ((const float *)kp.p)[(u ? kr8 : kr0) + j * kp.s3]; });
    }
    const auto dk = rowsOf(std::bool_constant<DkOut>{}, r.dk, r.dkTo, K);
    emit(&lk[0][0], Vs, dSs, Ks, 2, decayTo, [&](int i, int j, float x, int n) {
      if constexpr (KScaled) dot[n % 4 >= 2] += (KIsB ? bf(Bs[i * LK + j]) : ks[n]) * x, x *= n % 4 >= 2 ? k8 : k0;
      if constexpr (IntoDk) x += dbs[n];
      dk.put(n % 4 >= 2, j, x);
    });
    if constexpr (KScaled) rowSums(dot, 1);
  }
  if constexpr (AScaled || KScaled) { // the two halves' row sums, in order
    __syncthreads();
    if (tid < C && c * C + tid < T) {
      if (AScaled && r.daScale) r.daScale[tokenRow(tid)] = scl[tid] + scl[C + tid];
      if (KScaled && r.dkScale) r.dkScale[tokenRow(tid)] = scl[2 * C + tid] + scl[3 * C + tid];
    }
  }
  { // dv += e K dS_C (the elements this thread wrote above)
    float acc[NV][4] = {};
    warpGemm<NV, false, true>(acc, Ks + r0 * LK, LK, dSs + hf * (V / 2), LV, 0, NK);
    const float e0 = decayTo(r0 + lane / 4), e8 = decayTo(r0 + lane / 4 + 8);
    const auto dvIn = fpRows(r.dv, V);
    const auto dv = rowsOf(std::bool_constant<DvOut>{}, r.dv, r.dvTo, V);
    float dvs[NV][4]; // (all loaded first: see gather)
    forTile<NV>(acc, r0, hf * (V / 2), [&](int i, int j, float, int nt, int e) {
      dvs[nt][e] = c * C + i < T ? dvIn.p[e >= 2][j] : 0.f;
    });
    forTile<NV>(acc, r0, hf * (V / 2), [&](int i, int j, float x, int nt, int e) {
      if (c * C + i < T) dv.put(e >= 2, j, dvs[nt][e] + (e >= 2 ? e8 : e0) * x);
    });
  }
  if constexpr (Decay) {
    float s = 0.f; // gamma_C sum(S0 . dS_C)
    for (int e = tid; e < K * V; e += 256) s += bf(Ss[(e / V) * LV + e % V]) * bf(dSs[(e / V) * LV + e % V]);
    s = warpSum(s);
    if (lane == 0) sum[warp] = s;
    __syncthreads();
    if (tid < C) {
      const int i = tid;
      const float tq = red[0 * C + i] + red[1 * C + i];
      const float tb = i + 1 < C ? red[2 * C + i + 1] + red[3 * C + i + 1] : 0.f; // Gamma'_{i+1} = exp(b_i)
      const float tak = red[4 * C + i] + red[5 * C + i];
      DB[i] += tq + tb - tak;
    }
    __syncthreads();
    if (warp == 0) { // lane l: tokens l and l + 32
      float all = 0.f;
      for (int w = 0; w < 8; ++w) all += sum[w];
      const float ak = warpSum((red[4 * C + lane] + red[5 * C + lane]) + (red[4 * C + lane + 32] + red[5 * C + lane + 32]));
      float lo = DB[lane], hi = DB[lane + 32];
      if (lane == 31) hi += ak + __expf(bL) * all; // b_C's terms
      // d g_t = sum of d b_i over i >= t in the chunk: suffix sums of hi, then of lo plus all of hi
#pragma unroll
      for (int o = 1; o < 32; o *= 2) {
        const float yh = __shfl_down_sync(0xffffffffu, hi, o), yl = __shfl_down_sync(0xffffffffu, lo, o);
        if (lane + o < 32) hi += yh, lo += yl;
      }
      lo += __shfl_sync(0xffffffffu, hi, 0);
      float *dd = r.ddecay + (sr.bt * r.Ttok + sr.t0) * H + h;
      if (c * C + lane < T) dd[(c * C + lane) * H] = lo;
      if (c * C + lane + 32 < T) dd[(c * C + lane + 32) * H] = hi;
    }
  }
}

} // namespace mixc::cuda

#endif
