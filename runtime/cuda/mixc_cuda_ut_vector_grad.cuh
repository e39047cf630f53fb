// Part of the CUDA tile library (mixc_cuda.cuh, which includes it): the
// two chunk kernels of the chunked backward of the delta rules with a vector
// diagonal (RWKV-7; KDA): S_t = Diag(exp(g_t)) S_{t-1} + a_t (b_t^T S_{t-1})
// + k_t v_t^T, o_t = c S_t^T q_t. Per chunk, with G the cumulative
// log-decays per key (G_{-1} = 0, G_C the chunk's last) and X_t =
// Diag(exp(-G_t)) S_t, the chunk is an undecayed delta rule in X with
// q^ = q exp(G_i), b^ = b exp(G_{i-1}), a^ = a exp(-G_j), k^ = k exp(-G_j)
// (dplrVectorPrepare's notation, mixc_cuda_ut_vector.cuh): with the Gram
// matrices L_A = B^ A^T, L_K = B^ K^T (j < i), M_QA = Q^ A^T, M_QK = Q^ K^T
// (j <= i), T = (I - L_A)^{-1}, the forward is
//   U = T (B^ S0 + L_K V),  O = c (Q^ S0 + M_QA U + M_QK V),
//   S_C = Diag(exp(G_C)) S0 + A'^T U + K'^T V   (A' = a . exp(G_C - G_j), K' likewise),
// and, given dO and dS_C, as in the scalar form (mixc_cuda_ut_grad.cuh) with
// the decays inside the Grams:
//   dU = A' dS_C + c M_QA^T dO (X from the reverse walk),  Y = T^T dU,
//   dV = c M_QK^T dO + L_K^T Y + K' dS_C,
//   dL_A = Y U^T, dL_K = Y V^T, dM_QA = c dO U^T, dM_QK = c dO V^T (masked),
//   dq_ik = sum_j (dM_QA_ij a_jk + dM_QK_ij k_jk) exp(G_ik - G_jk) + c exp(G_ik) (dO S0^T)_ik,
//   db_ik = sum_j (dL_A_ij a_jk + dL_K_ij k_jk) exp(G_i-1,k - G_jk) + exp(G_i-1,k) (Y S0^T)_ik,
//   da_jk = sum_i (dL_A_ij b_ik exp(G_i-1,k) + dM_QA_ij q_ik exp(G_ik)) exp(-G_jk) + exp(G_Ck - G_jk) (U dS_C^T)_jk,
//   dk_jk likewise with dL_K, dM_QK and (V dS_C^T),
// the products by 16-token sub-block pairs as the forward's Grams
// (dplrVectorGrams). Every q_i, b_i, a_j, k_j appears times exp(G_i),
// exp(G_{i-1}), exp(-G_j), exp(-G_j), so the cumulative log-decays' gradient
// is q . dq - a . da - k . dk at each token plus b . db at the token before,
// and at the chunk's end the state terms (a . da and k . dk of A' and K',
// exp(G_C) rowsum(S0 . dS_C)); the per-token log-decays' gradient is its sum
// from the chunk's end. gradform::bDecayed (KDA's decayed_b, b^T Diag(exp(g_t))
// S_{t-1}): b^ = b exp(G_i), and b . db counts at its own token. The scaled
// form (a = a_scale b, the key k_scale b: the launch's scaled bf16 copies in
// p.a and p.k) is summed back as the UT form's chunk kernel sums it: db +=
// a_scale da, da_scale = <da, b>, dk = k_scale dk', dk_scale = <dk', b>, with
// dbIntoDk db added to dk. The walks around it: dplrVectorPrepare, deltaStates'
// vector form keeping S0 and U, deltaGradWalk's vector form; the launches:
// mixc_cuda_ut_grad_launch.cuh (gradform::vector).
// Two kernels per chunk, not one: dplrVectorGradQB (the Grams, the inverse, dU,
// Y, dV's first terms, the masked Gram gradients, dq, db) and
// dplrVectorGradAK (da, dk, dv's state term, the decays' gradient), the Gram
// gradients and the decays' per-token terms passed through global memory.
// One kernel was 9600-10200 SASS instructions (nvcc 13, sm_90a, K = V = 128):
// a CTA runs its code once, so past the SM's instruction cache every CTA
// fetches all of it (the UT form's chunk kernel at 12560 instructions ran 4x
// slower than at 5088: docs/cuda-backend.md).
// Every sum runs in a fixed order (no atomics): the same inputs give the same bits.
#ifndef MIXC_CUDA_UT_VECTOR_GRAD_CUH
#define MIXC_CUDA_UT_VECTOR_GRAD_CUH

#ifndef MIXC_CUDA_EMULATION
#include "mixc_cuda.cuh"
#endif

namespace mixc::cuda {

// The first kernel's shared memory.
template <int K, int V> struct DplrVectorGradQBLayout {
  static constexpr int C = 64, LK = K + 8, LV = V + 8, LC = C + 8, LF = C + 4, LB = K + 4;
  static constexpr int rowsK = C * LK * 2, rowsV = C * LV * 2, tileC = C * LC * 2, fC = C * LF * 4;
  // Q, B, A, K relative to their sub-block (in place)
  static constexpr int q = 0, bb = q + rowsK, a = bb + rowsK, k = a + rowsK;
  // G fp32 [C][LB], then in place F = exp(G_i - G_r) (r: the row's sub-block reference); the pair factors [6][K]
  static constexpr int gc = k + rowsK, df = gc + C * LB * 4;
  // L_K, M_QA, M_QK, T (bf16); then dL_K, dM_QA, dM_QK, dL_A
  static constexpr int lk = df + 6 * K * 4, mqa = lk + tileC, mqk = mqa + tileC, t = mqk + tileC;
  // the raw gates, then L_A and T in fp32 for the inverse; then U and V; then S0
  static constexpr int work = t + tileC, laf = work, tf = laf + fC, pt = tf + fC;
  static constexpr int first = C * K * 4 > 2 * fC + 3 * 16 * 24 * 4 ? C * K * 4 : 2 * fC + 3 * 16 * 24 * 4;
  static constexpr int u = work, v = u + rowsV, s0 = work;
  static constexpr int dO = work + first, x = dO + rowsV, ds = dO; // X, then dU and Y; dS_C over dO and Y
  static constexpr int yedge = x + rowsV;           // b . db of each row block's first row [4][K]
  static constexpr int rowsum = yedge + 4 * K * 4;  // exp(G_C) rowsum(S0 . dS_C) [K]
  // per sub-block and key: G_r and G_C as computed, then exp(G_r), exp(G_C - G_r), exp(G_C)
  static constexpr int fe = rowsum + K * 4, bytes = fe + 14 * K * 4;
  static constexpr int state = K * LV * 2;
  static_assert(2 * rowsV <= first && state <= first && state <= 2 * rowsV, "U, V and the states over spent buffers");
};

// The second kernel's: Q and B relative (A and K are read as given), the
// Gram gradients, U, V, dS_C; K' over Q and B, the decays' terms over U and V.
template <int K, int V> struct DplrVectorGradAKLayout {
  static constexpr int C = 64, LK = K + 8, LV = V + 8, LC = C + 8, LB = K + 4, LD = K + 4;
  static constexpr int rowsK = C * LK * 2, rowsV = C * LV * 2, tileC = C * LC * 2;
  static constexpr int q = 0, bb = q + rowsK, kp = q, gc = bb + rowsK, df = gc + C * LB * 4;
  static constexpr int grads = df + 6 * K * 4;      // dL_A, dL_K, dM_QA, dM_QK (bf16 [C][LC] each)
  static constexpr int u = grads + 4 * tileC, v = u + rowsV, dg = u;
  static constexpr int ds = v + rowsV, raw = ds;     // the raw gates, then dS_C
  static constexpr int state = K * LV * 2 > C * K * 4 ? K * LV * 2 : C * K * 4;
  static constexpr int red = ds + state;             // [4][K]: the row blocks' state terms
  static constexpr int scl = red + 4 * K * 4;        // the scales' row sums [2][2][C]
  static constexpr int fe = scl + 2 * 2 * C * 4, bytes = fe + 14 * K * 4;
  static_assert(C * LD * 4 <= 2 * rowsV, "the decays' terms over U and V");
};

// The factors of a chunk's operands relative to their 16-token sub-block's
// reference r = 16 I - 1, one expression each so that every use of one gets
// the same bits: F = exp(G_i - G_r) (<= 1; q's, and b's with decayed_b;
// b's otherwise the row before's, 1 on a sub-block's first row), and a's and
// k's 1 / F, at most e^80.
__device__ __forceinline__ float dplrRightFactor(float f) { return fminf(__fdividef(1.f, f), 5.54062238e34f); }

// Gc (the cumulative log-decays, fp32 [C][LB]) into F in place, after which
// E holds per sub-block I and key: exp(G_r(I)) ([4][K] at 5 K), exp(G_C -
// G_r(I)) (at 9 K) and exp(G_C) (at 13 K); E's first 5 K take the G_r and G_C
// read before. For CTAs of 256 threads; every thread ends past a barrier.
template <int K, int LB> __device__ __forceinline__ void dplrRelativeFactors(float *Gc, float *E) {
  constexpr int C = chunk::C;
  for (int e = threadIdx.x; e < 5 * K; e += 256) { // G_r(I) (0 for I = 0), then G_C
    const int I = e / K, k = e % K;
    E[e] = I == 0 ? 0.f : Gc[(I < 4 ? 16 * I - 1 : C - 1) * LB + k];
  }
  __syncthreads();
  for (int e = threadIdx.x; e < C * K; e += 256) {
    const int i = e / K, k = e % K;
    Gc[i * LB + k] = __expf(Gc[i * LB + k] - E[(i / 16) * K + k]);
  }
  for (int e = threadIdx.x; e < 4 * K; e += 256) {
    const int k = e % K;
    E[5 * K + e] = __expf(E[e]), E[9 * K + e] = __expf(E[4 * K + k] - E[e]);
    if (e < K) E[13 * K + k] = __expf(E[4 * K + k]);
  }
  __syncthreads();
}

// Q, B (left operands) and A, K (right ones; Right) in place relative to
// each row's sub-block reference, from the factors F (dplrRelativeFactors):
// q . F_i, b . F_i-1 (BDecayed: F_i), a . 1 / F_j, k . 1 / F_j, as
// dplrVectorPrepare forms its Gram operands (there with exp(G_r - G_j) itself).
template <int K, int LK, int LB, bool BDecayed, bool Right = true>
__device__ __forceinline__ void dplrRelativeRows(tile::bf16 *Qs, tile::bf16 *Bs, tile::bf16 *As, tile::bf16 *Ks,
                                                 const float *F) {
  constexpr int C = chunk::C;
  for (int e = threadIdx.x; e < C * K / 2; e += 256) {
    const int r = e / (K / 2), kc = (e % (K / 2)) * 2;
    const float f0 = F[r * LB + kc], f1 = F[r * LB + kc + 1];
    const bool first = r % 16 == 0;
    const float p0 = BDecayed ? f0 : first ? 1.f : F[(r - 1) * LB + kc],
                p1 = BDecayed ? f1 : first ? 1.f : F[(r - 1) * LB + kc + 1];
    uint32_t *qp = (uint32_t *)&Qs[r * LK + kc], *bp = (uint32_t *)&Bs[r * LK + kc],
             *ap = Right ? (uint32_t *)&As[r * LK + kc] : nullptr, *kp = Right ? (uint32_t *)&Ks[r * LK + kc] : nullptr;
    *qp = tile::scalePair(*qp, f0, f1);
    *bp = tile::scalePair(*bp, p0, p1);
    if constexpr (Right) {
      const float u0 = dplrRightFactor(f0), u1 = dplrRightFactor(f1);
      *ap = tile::scalePair(*ap, u0, u1);
      *kp = tile::scalePair(*kp, u0, u1);
    }
  }
}

// Both kernels' start: this chunk's rows of q and b (and with Right a and k)
// relative to their sub-block (in place at Qs, the tiles consecutive, ld LK),
// the gates' cumulative sums turned into the factors F (dplrRelativeFactors)
// and the sub-blocks' pair factors Df; `raw` stages the gates. Started copies
// of the caller (committed with these) land too. Ends past a barrier.
template <int K, int LK, int LB, bool BDecayed, bool Right, typename DecayMap>
__device__ __forceinline__ void dplrVectorGradStart(const ScanParams &p, int64_t b, int64_t h, int64_t c,
                                                    tile::bf16 *Qs, unsigned char *raw, float *F, float *E,
                                                    float *Df) {
  constexpr int C = chunk::C;
  { // the rows in one copy loop: inlined copies each were a tenth of the code
    const View rowsOf[4] = {p.q, p.b, p.a, p.k};
#pragma unroll 1
    for (int t = 0; t < (Right ? 4 : 2); ++t) chunk::copyRows<K, 256>(Qs + t * C * LK, LK, rowsOf[t], b, h, c, p.T, 0, K);
  }
  chunk::copyKeyDecays<K, 256>(p, b, h, c, raw);
  tile::commit();
  tile::waitGroups<0>();
  __syncthreads();
  chunk::cumulativeKeyDecays<K, LB, true, 256, DecayMap>(p, h, c, raw, F); // (ends past a barrier)
  chunk::subBlockPairDecays<K, LB, 256>(F, Df); // Dp[I, J] = exp(G_r(I) - G_r(J)), J < I
  dplrRelativeFactors<K, LB>(F, E);             // G -> F = exp(G_i - G_r) (ends past a barrier)
  dplrRelativeRows<K, LK, LB, BDecayed, Right>(Qs, Qs + C * LK, Qs + 2 * C * LK, Qs + 3 * C * LK, F);
  __syncthreads();
}

// This thread's two rows (r0 + g, + 8) of an input (bf16 rows:
// launchDeltaGradChunked's toBf16), found once (null past T: zeros);
// per-element address arithmetic (64-bit, the head's group) was most of the
// epilogues' code.
struct InRows {
  const tile::bf16 *p[2];
  __device__ __forceinline__ float at(int u, int k) const { return p[u] ? __bfloat162float(p[u][k]) : 0.f; }
};
__device__ __forceinline__ InRows inRows(const View &x, int64_t b, int64_t h, int64_t c, int row, int64_t T) {
  InRows rr;
#pragma unroll
  for (int u = 0; u < 2; ++u) {
    const int64_t t = c * chunk::C + row + 8 * u;
    rr.p[u] = t < T ? (const tile::bf16 *)x.p + b * x.s0 + t * x.s1 + x.head(h) : nullptr;
  }
  return rr;
}
// An operand's element relative to its sub-block, rounded as dplrRelativeRows
// rounded it (the same factor, the same expression): the Gram terms of the
// log-decays' gradient pair each entry's two operands as the products did, so
// that a pair (i, j) adds to token i exactly what it takes from token j (with
// the exact inputs instead, the two sides' roundings differ and their sums
// from the chunk's end drift by the sum of them).
__device__ __forceinline__ float dplrRounded(float x, float f) { return __bfloat162float(__float2bfloat16(x * f)); }
// The Gram gradients' scratch of chunk slot c: dL_A, dL_K, dM_QA, dM_QK, [C][C] bf16 each.
__device__ __forceinline__ tile::bf16 *dplrGramGrads(const DeltaGradRows &r, int64_t b, int64_t c, int64_t h,
                                                     int64_t slots, int64_t H) {
  return r.gramGrads + ((b * slots + c) * H + h) * 4 * chunk::C * chunk::C;
}

// The form bits both kernels read (gradform), and what they imply.
template <unsigned Form> struct DplrVectorGradForm {
  static constexpr bool dqOut = Form & gradform::dqOut, dkOut = Form & gradform::dkOut,
                        dvOut = Form & gradform::dvOut, dbOut = Form & gradform::dbOut,
                        scaled = Form & gradform::aScaled, intoDk = Form & gradform::dbIntoDk,
                        bDecayed = Form & gradform::bDecayed;
  static_assert(!(Form & gradform::ssd) && ((Form & gradform::aScaled) != 0) == ((Form & gradform::kScaled) != 0) &&
                    ((Form & gradform::kScaled) != 0) == ((Form & gradform::kIsB) != 0) && (!intoDk || scaled),
                "the vector diagonal's chunked backward: the plain low-rank form, or the scaled one with k = b");
  // db's fp32 rows, read back by the second kernel where a_scale da (and dk) add to it
  static constexpr bool dbKept = scaled;
};

// The first kernel, a CTA of 8 warps per (chunk, head, batch); warp (rw, hf)
// takes rows 16 rw.. of each product, in the column half hf. The Grams, T,
// dU, Y, dV's first terms (to dv's fp32 rows), the four masked Gram gradients
// (to r.gramGrads for the second kernel), dq and db (their Gram products over
// A and K by sub-block pairs, S0 landed over U and V, the state's terms), and
// the decays' per-token terms of q . dq and b . db (to r.ddecay's rows, the
// chunk end's exp(G_C) rowsum(S0 . dS_C) at its last token).
template <int K, int V, unsigned Form, typename DecayMap = NoMap>
__global__ void __launch_bounds__(256, 1) dplrVectorGradQB(const ScanParams call, const DeltaGradRows r) {
  using Fm = DplrVectorGradForm<Form>;
  constexpr bool BDecayed = Fm::bDecayed;
  using tile::bf16;
  using L = DplrVectorGradQBLayout<K, V>;
  constexpr int C = L::C, LK = L::LK, LV = L::LV, LC = L::LC, LF = L::LF, LB = L::LB, NK = K / 16, NV = V / 16;
  static_assert(K % 64 == 0 && K <= 128 && V % 64 == 0 && V <= 128, "chunked tiles");
  MIXC_DYNAMIC_SHARED(smem);
  bf16 *Qs = (bf16 *)(smem + L::q), *As = (bf16 *)(smem + L::a), *Ks = (bf16 *)(smem + L::k),
       *LKs = (bf16 *)(smem + L::lk), *MQA = (bf16 *)(smem + L::mqa), *MQK = (bf16 *)(smem + L::mqk),
       *Ts = (bf16 *)(smem + L::t), *Us = (bf16 *)(smem + L::u), *Vs = (bf16 *)(smem + L::v),
       *dOs = (bf16 *)(smem + L::dO), *Xs = (bf16 *)(smem + L::x), *S0s = (bf16 *)(smem + L::s0),
       *dSs = (bf16 *)(smem + L::ds), *Bs = (bf16 *)(smem + L::bb);
  float *F = (float *)(smem + L::gc), *E = (float *)(smem + L::fe), *Df = (float *)(smem + L::df),
        *LAf = (float *)(smem + L::laf), *TF = (float *)(smem + L::tf), *PT = (float *)(smem + L::pt),
        *yEdge = (float *)(smem + L::yedge), *rowsum = (float *)(smem + L::rowsum);
  const ChunkItem it = chunkItem(call);
  const int64_t slots = it.slots, c = it.c, h = it.h, b = it.b, rows = slots * C;
  const ScanParams p = forSequence(call, b);
  const int64_t T = p.T, H = p.H;
  if (c * C >= T) return; // past a packed sequence's end
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4, rw = warp % 4,
            hf = warp / 4, r0 = rw * 16, k0 = hf * (K / 2);
  const float cs = p.scale;
  chunk::copyRows<V, 256>(dOs, LV, seqView(r.dO, call, b), b, h, c, T, 0, V);
  chunk::copyRows<V, 256>(Xs, LV, r.x, b, h, c, rows, 0, V);
  dplrVectorGradStart<K, LK, LB, BDecayed, true, DecayMap>(p, b, h, c, Qs, smem + L::work, F, E, Df);
  // Blocks above the diagonal of L_K, M_QA and M_QK are zeros (the products below read whole rows).
  for (int e = tid; e < C * C / 2; e += 256) {
    const int i = e / (C / 2), j = (e % (C / 2)) * 2;
    if (j / 16 > i / 16) *(uint32_t *)&LKs[i * LC + j] = *(uint32_t *)&MQA[i * LC + j] = *(uint32_t *)&MQK[i * LC + j] = 0u;
  }
  __syncthreads();
  dplrVectorGrams<K, LK, LC, LF, false>(Qs, Bs, As, Ks, Df, nullptr, nullptr, LAf, LKs, MQA, MQK);
  __syncthreads();
  invertUnitLower<LF, LC>(LAf, TF, Ts, PT, [] {}); // T = (I - L_A)^{-1} (ends past a barrier)
  chunk::copyRows<V, 256>(Us, LV, r.u, b, h, c, rows, 0, V); // U and V over the inverse's buffers
  chunk::copyRows<V, 256>(Vs, LV, p.v, b, h, c, T, 0, V);
  tile::commit();
  utGradY<V, LV, LC>(Xs, MQA, Ts, dOs, cs); // Y = T^T dU over X's rows
  tile::waitGroups<0>();
  __syncthreads(); // Y, U and V are in place
  bf16 *Ys = Xs;
  const bool live0 = c * C + r0 + g < T, live8 = c * C + r0 + g + 8 < T; // rows past the sequence: not written
  auto rowsOf = [&](auto out, const Bf16Rows &to, float *rowsF, int D) {
    return it.rowPair<decltype(out)::value>(r0 + g, to, rowsF, D, r.Ttok, H);
  };
  { // dV = c M_QK^T dO + L_K^T Y to dv's fp32 rows (K' dS_C added by the second kernel)
    float acc[NV][4] = {};
    utGradDvLocal<V, LV, LC, true>(acc, MQK, LKs, dOs, Ys, cs);
    const auto dv = it.rowPair<false>(r0 + g, Bf16Rows{}, r.dv, V, r.Ttok, H);
    forTile<NV>(acc, r0, hf * (V / 2), [&](int, int j, float x, int, int e) {
      if (e >= 2 ? live8 : live0) dv.put(e >= 2, j, x);
    });
  }
  __syncthreads(); // L_K, M_QK and T are read: their space takes the Gram gradients
  { // dL_A = Y U^T, dL_K = Y V^T (j < i), dM_QA = c dO U^T, dM_QK = c dO V^T (j <= i), this warp's 16 x 32
    float dLA[4][4] = {}, dLK[4][4] = {}, dMA[4][4] = {}, dMK[4][4] = {};
    utGramGrads<V, LV, true>(dLA, dLK, dMA, dMK, Ys, dOs, Us, Vs);
    storeTile<4>(Ts, LC, r0, hf * 32, dLA, [](int i, int j, float x) { return j < i ? x : 0.f; });
    storeTile<4>(LKs, LC, r0, hf * 32, dLK, [](int i, int j, float x) { return j < i ? x : 0.f; });
    storeTile<4>(MQA, LC, r0, hf * 32, dMA, [&](int i, int j, float x) { return j <= i ? cs * x : 0.f; });
    storeTile<4>(MQK, LC, r0, hf * 32, dMK, [&](int i, int j, float x) { return j <= i ? cs * x : 0.f; });
  }
  __syncthreads();
  bf16 *dLA = Ts, *dLK = LKs, *dMA = MQA, *dMK = MQK;
  { // the Gram gradients to the second kernel: dL_A, dL_K, dM_QA, dM_QK, 16-byte rows
    bf16 *to = dplrGramGrads(r, b, c, h, slots, H);
    const bf16 *from[4] = {dLA, dLK, dMA, dMK};
    for (int e = tid; e < 4 * C * C / 8; e += 256) {
      const int m = e / (C * C / 8), row = (e / (C / 8)) % C, seg = e % (C / 8);
      *(uint4 *)(to + (m * C + row) * C + seg * 8) = *(const uint4 *)(from[m] + row * LC + seg * 8);
    }
  }
  // this warp's row block's exp(G_r) per key
  const float *eRef = E + 5 * K + rw * K, *eC = E + 13 * K;
  // b_i's relative factor (decayed_b: its own token's; else the row before's, 1 on the block's first)
  auto fOfB = [&](int i, int k) { return BDecayed ? F[i * LB + k] : i % 16 ? F[(i - 1) * LB + k] : 1.f; };
  auto addPair = [&](float (&acc)[NK][4], const float (&t)[NK][4], int I, int J) {
    addPairProduct<K, NK>(acc, t, Df, I, J, k0);
  };
  float zq[NK][4]; // q . dq + b . db (the token after's; with decayed_b its own), per element
  { // dq and db: the Gram products over A and K, then the state's
    float aq[NK][4] = {}, ab[NK][4] = {};
    for (int J = 0; J <= rw; ++J) {
      float tq[NK][4] = {}, tb[NK][4] = {};
      warpGemm<NK, false, true>(tq, dMA + r0 * LC, LC, As + k0, LK, J, J + 1);
      warpGemm<NK, false, true>(tq, dMK + r0 * LC, LC, Ks + k0, LK, J, J + 1);
      warpGemm<NK, false, true>(tb, dLA + r0 * LC, LC, As + k0, LK, J, J + 1);
      warpGemm<NK, false, true>(tb, dLK + r0 * LC, LC, Ks + k0, LK, J, J + 1);
      addPair(aq, tq, rw, J);
      addPair(ab, tb, rw, J);
    }
    copyChunkState<K, V, LV>(S0s, r.states, it, H); // S0 over U and V (read by the Gram gradients, past the barrier above)
    tile::commit();
    tile::waitGroups<0>();
    __syncthreads();
    float sq[NK][4] = {}, sb[NK][4] = {};
    warpGemm<NK, false, false>(sq, dOs + r0 * LV, LV, S0s + k0 * LV, LV, 0, NV);
    warpGemm<NK, false, false>(sb, Ys + r0 * LV, LV, S0s + k0 * LV, LV, 0, NV);
    const auto dqRows = rowsOf(std::bool_constant<Fm::dqOut>{}, r.dqTo, r.dq, K);
    const auto dbRows = rowsOf(std::bool_constant<Fm::dbOut && !Fm::dbKept>{}, r.dbTo, r.db, K);
    const InRows qIn = inRows(p.q, b, h, c, r0 + g, T), bIn = inRows(p.b, b, h, c, r0 + g, T);
    [[maybe_unused]] float yb[BDecayed ? 1 : NK][4]; // b . db, for the token before
    forTile<NK>(aq, r0, k0, [&](int i, int k, float x, int nt, int e) {
      const float fq = F[i * LB + k], fb = fOfB(i, k), er = eRef[k]; // exp(G_i) = fq exp(G_r), ...
      const float stQ = cs * (fq * er) * sq[nt][e], stB = (fb * er) * sb[nt][e];
      const float dq = x * fq + stQ, db = ab[nt][e] * fb + stB;
      if (e >= 2 ? live8 : live0) dqRows.put(e >= 2, k, dq), dbRows.put(e >= 2, k, db);
      const float qv = qIn.at(e >= 2, k), bv = bIn.at(e >= 2, k);
      zq[nt][e] = dplrRounded(qv, fq) * x + qv * stQ;
      const float yv = dplrRounded(bv, fb) * ab[nt][e] + bv * stB;
      if constexpr (BDecayed) zq[nt][e] += yv;
      else yb[nt][e] = yv;
    });
    if constexpr (!BDecayed) { // each b . db to the row before: within the warp by shuffles, a row
                               // block's first row to the block before through yEdge
#pragma unroll
      for (int nt = 0; nt < NK; ++nt)
#pragma unroll
        for (int w = 0; w < 2; ++w) {
          const float y0 = yb[nt][w], y8 = yb[nt][w + 2];
          const float next0 = __shfl_down_sync(0xffffffffu, y0, 4), next8 = __shfl_down_sync(0xffffffffu, y8, 4);
          const float top8 = __shfl_sync(0xffffffffu, y8, t4); // row r0 + 8, g = 0's second
          zq[nt][w] += g < 7 ? next0 : top8;
          if (g < 7) zq[nt][w + 2] += next8;
          if (g == 0) yEdge[rw * K + k0 + nt * 8 + 2 * t4 + w] = y0;
        }
    }
  }
  __syncthreads(); // dO and Y are read: dS_C takes their place
  copyChunkState<K, V, LV>(dSs, r.dStates, it, H);
  tile::commit();
  tile::waitGroups<0>();
  __syncthreads();
  for (int k = tid; k < K; k += 256) { // exp(G_C) rowsum(S0 . dS_C), a key per thread
    float s = 0.f;
    for (int j = 0; j < V; j += 2) {
      const float2 x = __bfloat1622float2(*(const __nv_bfloat162 *)&S0s[k * LV + j]),
                   y = __bfloat1622float2(*(const __nv_bfloat162 *)&dSs[k * LV + j]);
      s += x.x * y.x + x.y * y.y;
    }
    rowsum[k] = eC[k] * s;
  }
  __syncthreads();
  // The per-token terms to r.ddecay's rows (the next row block's first b . db added; the chunk
  // end's term at its last token, which every suffix sum of the chunk includes).
  const int last = (int)(T - c * C < C ? T - c * C : C) - 1;
  forTile<NK>(zq, r0, k0, [&](int i, int k, float x, int, int e) {
    if (!BDecayed && e >= 2 && g == 7 && rw < 3) x += yEdge[(rw + 1) * K + k];
    if (i == last) x += rowsum[k];
    if (i <= last) r.ddecay[it.tokenRow(i, r.Ttok, H) * K + k] = x;
  });
}

// The second kernel, laid out as the first: da and dk (the transposed Gram
// products over B and Q by sub-block pairs, the state's terms with dS_C; the
// scaled form summed back with db from the first kernel's fp32 rows), dv's
// K' dS_C (K', the prepare's, over Q and B), and the log-decays' gradient: the
// first kernel's per-token terms plus - a . da - k . dk and the chunk end's
// state terms, summed from the chunk's end.
template <int K, int V, unsigned Form, typename DecayMap = NoMap>
__global__ void __launch_bounds__(256, 1) dplrVectorGradAK(const ScanParams call, const DeltaGradRows r) {
  using Fm = DplrVectorGradForm<Form>;
  constexpr bool Scaled = Fm::scaled, IntoDk = Fm::intoDk;
  using tile::bf16;
  using L = DplrVectorGradAKLayout<K, V>;
  constexpr int C = L::C, LK = L::LK, LV = L::LV, LC = L::LC, LB = L::LB, LD = L::LD, NK = K / 16, NV = V / 16;
  static_assert(K % 64 == 0 && K <= 128 && V % 64 == 0 && V <= 128, "chunked tiles");
  MIXC_DYNAMIC_SHARED(smem);
  bf16 *Qs = (bf16 *)(smem + L::q), *Bs = (bf16 *)(smem + L::bb), *Kp = (bf16 *)(smem + L::kp),
       *Gr = (bf16 *)(smem + L::grads), *Us = (bf16 *)(smem + L::u), *Vs = (bf16 *)(smem + L::v),
       *dSs = (bf16 *)(smem + L::ds);
  bf16 *dLA = Gr, *dLK = Gr + C * LC, *dMA = Gr + 2 * C * LC, *dMK = Gr + 3 * C * LC;
  float *F = (float *)(smem + L::gc), *E = (float *)(smem + L::fe), *Df = (float *)(smem + L::df),
        *red = (float *)(smem + L::red), *DG = (float *)(smem + L::dg), *scl = (float *)(smem + L::scl);
  const ChunkItem it = chunkItem(call);
  const int64_t slots = it.slots, c = it.c, h = it.h, b = it.b, rows = slots * C;
  const ScanParams p = forSequence(call, b);
  const int64_t T = p.T, H = p.H;
  if (c * C >= T) return; // past a packed sequence's end
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4, rw = warp % 4,
            hf = warp / 4, r0 = rw * 16, k0 = hf * (K / 2);
  { // the first kernel's Gram gradients, U and V
    const bf16 *from = dplrGramGrads(r, b, c, h, slots, H);
    for (int e = tid; e < 4 * C * C / 8; e += 256) {
      const int m = e / (C * C / 8), row = (e / (C / 8)) % C, seg = e % (C / 8);
      tile::copy16(Gr + (m * C + row) * LC + seg * 8, from + (m * C + row) * C + seg * 8);
    }
  }
  chunk::copyRows<V, 256>(Us, LV, r.u, b, h, c, rows, 0, V);
  chunk::copyRows<V, 256>(Vs, LV, p.v, b, h, c, T, 0, V);
  dplrVectorGradStart<K, LK, LB, Fm::bDecayed, false, DecayMap>(p, b, h, c, Qs, smem + L::raw, F, E, Df);
  copyChunkState<K, V, LV>(dSs, r.dStates, it, H); // dS_C over the raw gates
  tile::commit();
  const bool live0 = c * C + r0 + g < T, live8 = c * C + r0 + g + 8 < T; // rows past the sequence: not written
  auto rowsOf = [&](auto out, const Bf16Rows &to, float *rowsF, int D) {
    return it.rowPair<decltype(out)::value>(r0 + g, to, rowsF, D, r.Ttok, H);
  };
  const float *eEnd = E + 9 * K + rw * K; // this warp's row block's exp(G_C - G_r) per key
  auto addPair = [&](float (&acc)[NK][4], const float (&t)[NK][4], int I, int J) {
    addPairProduct<K, NK>(acc, t, Df, I, J, k0);
  };
  float zq[NK][4]; // - a . da - k . dk, per element
  { // da and dk: the Gram products over B and Q (transposed), then the state's
    float aa[NK][4] = {}, ak[NK][4] = {};
    for (int I = rw; I < 4; ++I) {
      float ta[NK][4] = {}, tk[NK][4] = {};
      warpGemm<NK, true, true>(ta, dLA + r0, LC, Bs + k0, LK, I, I + 1);
      warpGemm<NK, true, true>(ta, dMA + r0, LC, Qs + k0, LK, I, I + 1);
      warpGemm<NK, true, true>(tk, dLK + r0, LC, Bs + k0, LK, I, I + 1);
      warpGemm<NK, true, true>(tk, dMK + r0, LC, Qs + k0, LK, I, I + 1);
      addPair(aa, ta, I, rw);
      addPair(ak, tk, I, rw);
    }
    tile::waitGroups<0>();
    __syncthreads(); // dS_C has landed; Q and B are read: K' (the prepare's) takes their place
    chunk::copyRows<K, 256>(Kp, LK, r.kp, b, h, c, rows, 0, K);
    tile::commit();
    float sa[NK][4] = {}, sk[NK][4] = {};
    warpGemm<NK, false, false>(sa, Us + r0 * LV, LV, dSs + k0 * LV, LV, 0, NV);
    warpGemm<NK, false, false>(sk, Vs + r0 * LV, LV, dSs + k0 * LV, LV, 0, NV);
    float part[NK][2] = {}; // a . da_state + k . dk_state over this thread's two rows, per key column
    const auto daRows = it.rowPair<false>(r0 + g, Bf16Rows{}, r.da, K, r.Ttok, H);
    const auto dkRows = rowsOf(std::bool_constant<Fm::dkOut>{}, r.dkTo, r.dk, K);
    // the scaled form: db's elements (the first kernel's fp32 rows, all loaded before any store),
    // this thread's two rows' scales, the scales' row dots
    [[maybe_unused]] float dbs[NK][4];
    if constexpr (Fm::dbKept) {
      const auto dbIn = it.rowPair<false>(r0 + g, Bf16Rows{}, r.db, K, r.Ttok, H);
      forTile<NK>(aa, r0, k0, [&](int, int k, float, int nt, int e) {
        dbs[nt][e] = (e >= 2 ? live8 : live0) ? dbIn.p[e >= 2][k] : 0.f;
      });
    }
    auto scaleAt = [&](const View &sv, int i) {
      return sv.p && c * C + i < T ? sv.at(it.sr.bt, it.sr.t0 + c * C + i, h, 0) : 0.f;
    };
    [[maybe_unused]] const float sa0 = Scaled ? scaleAt(r.aScale, r0 + g) : 0.f,
                                 sa8 = Scaled ? scaleAt(r.aScale, r0 + g + 8) : 0.f,
                                 sk0 = Scaled ? scaleAt(r.kScale, r0 + g) : 0.f,
                                 sk8 = Scaled ? scaleAt(r.kScale, r0 + g + 8) : 0.f;
    [[maybe_unused]] float aDot[2] = {0.f, 0.f}, kDot[2] = {0.f, 0.f};
    const auto dbRows = rowsOf(std::bool_constant<Fm::dbOut>{}, r.dbTo, r.db, K);
    const InRows aIn = inRows(p.a, b, h, c, r0 + g, T), kIn = inRows(p.k, b, h, c, r0 + g, T),
                 bIn = inRows(p.b, b, h, c, r0 + g, T);
    forTile<NK>(aa, r0, k0, [&](int j, int k, float x, int nt, int e) {
      const float up = dplrRightFactor(F[j * LB + k]), end = eEnd[k] * up; // exp(G_C - G_j)
      const float stA = end * sa[nt][e], stK = end * sk[nt][e];
      const float da = x * up + stA, dk = ak[nt][e] * up + stK;
      const float av = aIn.at(e >= 2, k), kv = kIn.at(e >= 2, k);
      zq[nt][e] = -((dplrRounded(av, up) * x + av * stA) + (dplrRounded(kv, up) * ak[nt][e] + kv * stK));
      part[nt][e & 1] += av * stA + kv * stK;
      const bool live = e >= 2 ? live8 : live0;
      if constexpr (Scaled) { // (k = b: b's own rows are the plain key's)
        const float bv = bIn.at(e >= 2, k);
        dbs[nt][e] += (e >= 2 ? sa8 : sa0) * da, aDot[e >= 2] += bv * da;
        kDot[e >= 2] += bv * dk;
        float dkOut = dk * (e >= 2 ? sk8 : sk0);
        if constexpr (IntoDk) dkOut += dbs[nt][e];
        if (live) {
          dkRows.put(e >= 2, k, dkOut);
          if constexpr (!IntoDk) dbRows.put(e >= 2, k, dbs[nt][e]);
        }
      } else if (live) {
        daRows.put(e >= 2, k, da), dkRows.put(e >= 2, k, dk);
      }
    });
    if constexpr (Scaled) { // a lane's two rows' dots over its quad, then scl[which][hf][row]
#pragma unroll
      for (int o = 1; o < 4; o *= 2)
#pragma unroll
        for (int u = 0; u < 2; ++u)
          aDot[u] += __shfl_xor_sync(0xffffffffu, aDot[u], o), kDot[u] += __shfl_xor_sync(0xffffffffu, kDot[u], o);
      if (t4 == 0)
#pragma unroll
        for (int u = 0; u < 2; ++u)
          scl[(0 * 2 + hf) * C + r0 + g + 8 * u] = aDot[u], scl[(1 * 2 + hf) * C + r0 + g + 8 * u] = kDot[u];
    }
    // the state terms' sums over the warp's 16 rows (lanes of one t4), one per column
#pragma unroll
    for (int nt = 0; nt < NK; ++nt)
#pragma unroll
      for (int w = 0; w < 2; ++w) {
        float s = part[nt][w];
        s += __shfl_xor_sync(0xffffffffu, s, 4);
        s += __shfl_xor_sync(0xffffffffu, s, 8);
        s += __shfl_xor_sync(0xffffffffu, s, 16);
        if (g == 0) red[rw * K + k0 + nt * 8 + 2 * t4 + w] = s;
      }
  }
  tile::waitGroups<0>();
  __syncthreads(); // K' has landed; U and V are read: the decays' terms take their place
  if constexpr (Scaled) { // the two halves' row sums, in order
    if (tid < C && c * C + tid < T) {
      if (r.daScale) r.daScale[it.tokenRow(tid, r.Ttok, H)] = scl[tid] + scl[C + tid];
      if (r.dkScale) r.dkScale[it.tokenRow(tid, r.Ttok, H)] = scl[2 * C + tid] + scl[3 * C + tid];
    }
  }
  { // dv += K' dS_C (the first kernel's fp32 rows)
    float acc[NV][4] = {};
    warpGemm<NV, false, true>(acc, Kp + r0 * LK, LK, dSs + hf * (V / 2), LV, 0, NK);
    const auto dvIn = it.rowPair<false>(r0 + g, Bf16Rows{}, r.dv, V, r.Ttok, H);
    const auto dv = rowsOf(std::bool_constant<Fm::dvOut>{}, r.dvTo, r.dv, V);
    float dvs[NV][4]; // (all loaded before any is stored: the compiler cannot tell them apart)
    forTile<NV>(acc, r0, hf * (V / 2), [&](int, int j, float, int nt, int e) {
      dvs[nt][e] = (e >= 2 ? live8 : live0) ? dvIn.p[e >= 2][j] : 0.f;
    });
    forTile<NV>(acc, r0, hf * (V / 2), [&](int, int j, float x, int nt, int e) {
      if (e >= 2 ? live8 : live0) dv.put(e >= 2, j, dvs[nt][e] + x);
    });
  }
  { // the first kernel's per-token terms plus this one's (rows past T: zeros)
    const float *dd = r.ddecay + it.tokenRow(r0 + g, r.Ttok, H) * K;
    const int64_t step = 8 * H * K;
    forTile<NK>(zq, r0, k0, [&](int i, int k, float x, int, int e) {
      DG[i * LD + k] = (e >= 2 ? live8 : live0) ? x + dd[(e >= 2 ? step : 0) + k] : 0.f;
    });
  }
  __syncthreads();
  // dg_t = sum_{s >= t} (the tokens' terms) + the chunk end's state terms, a key per thread
  for (int k = tid; k < K; k += 256) {
    float s = red[k] + red[K + k] + red[2 * K + k] + red[3 * K + k];
    for (int i = C - 1; i >= 0; --i) {
      s += DG[i * LD + k];
      if (c * C + i < T) r.ddecay[it.tokenRow(i, r.Ttok, H) * K + k] = s;
    }
  }
}

} // namespace mixc::cuda

#endif
