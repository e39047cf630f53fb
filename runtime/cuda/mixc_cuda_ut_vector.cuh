// Part of the CUDA tile library (mixc_cuda.cuh, which includes it): the UT
// form of diagonal-plus-low-rank transitions with a vector diagonal (KDA,
// RWKV-7): the state-independent work of every chunk (dplrVectorPrepare) and
// its launch; the state walk is deltaStates in its vector-decay form.
#ifndef MIXC_CUDA_UT_VECTOR_CUH
#define MIXC_CUDA_UT_VECTOR_CUH

#ifndef MIXC_CUDA_EMULATION
#include "mixc_cuda.cuh"
#endif

namespace mixc::cuda {

// S_t = Diag(exp(g_t)) S_{t-1} + a_t (b_t^T S_{t-1}) + k_t v_t^T. With G the
// cumulative log-decays per key channel within the chunk (G_{-1} = 0) and
// X_t = Diag(exp(-G_t)) S_t, the chunk is an identity-diagonal delta rule in
// X with a^_t = a_t exp(-G_t), b^_t = b_t exp(G_{t-1}), k^_t = k_t exp(-G_t),
// q^_t = q_t exp(G_t); its Gram matrices pair tokens j <= i through
// exp(G_i - G_j) (or G_{i-1} - G_j) per channel, never a growing factor:
//   L_A[i, j] = sum_c b_ic a_jc exp(G_{i-1,c} - G_jc)   (j < i), L_K likewise with k,
//   M.QA[i, j] = sum_c q_ic a_jc exp(G_ic - G_jc)       (j <= i), M.QK likewise,
// computed by 16 x 16 sub-block pairs as in GLA: rows of sub-block I
// relative to its reference token r = 16 I - 1 (left operands scaled by
// exp(G_i - G_r) <= 1, right ones by exp(G_r - G_j)), the pairs J < I
// multiplied by exp(G_r(I) - G_r(J)) per channel. Then, as in the scalar UT
// form: T = (I - L_A)^{-1}, W = T B^, R = T L_K, Q' = Q^ + (M.QA) W,
// P = (M.QA) R + M.QK, and for the walk A' = a . exp(G_C - G_j),
// K' = k . exp(G_C - G_j) and G_C: O = Q' S + P V, U = W S + R V,
// S = Diag(exp(G_C)) S + A'^T U + K'^T V. Within a 16-token sub-block the
// log-decays must sum above -80 (the right operands' factor is clamped at
// e^80): log-decays above -5 per token (KDA's lower-bound gate).
//
// Scaled (the op's `decayed_b` form, KDA): A = (I + a r^T) Diag(e^g) with
// a = s_a r and the key s_k r, r one row per token (k): b^_t = r_t exp(G_t),
// a^ and k^ per-token multiples of r_t exp(-G_t), so the four Gram matrices
// are two (R R^T and Q R^T, decayed as above) with their columns scaled by
// s_a and s_k, and the walk reads one row, R' = r . exp(G_C - G), with the
// scales: S = Diag(exp(G_C)) S + R'^T (s_a U + s_k V).
template <int K> struct DplrVectorLayout {
  static constexpr int C = 64, LK = K + 8, LC = C + 8, LF = C + 4, LB = K + 8;
  static constexpr int rowsK = C * LK * 2, rowsC = C * LC * 2, la = C * LF * 4;
  // Q, B (then relative to their sub-block), A, K (likewise; A then W), Q^ (then Q'), B^
  static constexpr int q = 0, bb = q + rowsK, a = bb + rowsK, k = a + rowsK, qh = k + rowsK, bh = qh + rowsK;
  static constexpr int gc = bh + rowsK;                                   // G, fp32 [C][LB]
  static constexpr int raw = gc + C * LB * 4;                             // the gates as loaded, then L_A and T (fp32)
  static constexpr int rawBytes = C * K * 4 > 2 * la ? C * K * 4 : 2 * la;
  static constexpr int lk = raw + rawBytes, mqa = lk + rowsC, mqk = mqa + rowsC, ts = mqk + rowsC; // L_K (then R), P
  static constexpr int df = ts + rowsC, pt = df + 6 * K * 4, sc = pt + 3 * 16 * 24 * 4, bytes = sc + 2 * C * 4;
};

// The four Gram matrices of a chunk by 16 x 16 sub-block pairs (I, J <= I),
// from the rows relative to their sub-block's reference (in shared memory,
// ld LK: the left operands Q and B, the right ones A and K) and the pairs'
// factors Df (J < I): B against A and K (strictly lower: L_A in fp32, ld LF;
// L_K), Q against A and K (causal: M.QA, M.QK), bf16 with ld LC. Scaled: one
// product against B's right rows (in A's place), its columns scaled by s_a
// (Sa) and s_k (Sk). Blocks above the diagonal are not written.
// dplrVectorPrepare's and dplrVectorGradQB's; a CTA of 8 warps.
template <int K, int LK, int LC, int LF, bool Scaled>
__device__ __forceinline__ void dplrVectorGrams(const tile::bf16 *Qs, const tile::bf16 *Bs, const tile::bf16 *As,
                                                const tile::bf16 *Ks, const float *Df, const float *Sa,
                                                const float *Sk, float *LA, tile::bf16 *LKs, tile::bf16 *MQA,
                                                tile::bf16 *MQK) {
  using tile::bf16;
  constexpr int KT = K / 16;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t4 = lane % 4;
  for (int it = warp; it < 20; it += 8) {
    const int left = it / 10, pi = it % 10, I = pi < 1 ? 0 : pi < 3 ? 1 : pi < 6 ? 2 : 3, J = pi - (I * (I + 1)) / 2;
    const bf16 *X = (left ? Qs : Bs) + I * 16 * LK;
    const float *dp = J < I ? Df + ((I * (I - 1)) / 2 + J) * K : nullptr;
    float YA[2][4] = {}, YK[2][4] = {};
#pragma unroll
    for (int kk = 0; kk < KT; ++kk) {
      uint32_t xa[4], ba[4], bk[4];
      tile::loadA(xa, X + kk * 16, LK);
      tile::loadBN(ba, As + J * 16 * LK + kk * 16, LK);
      if constexpr (!Scaled) tile::loadBN(bk, Ks + J * 16 * LK + kk * 16, LK);
      if (dp) {
        const float *f = dp + kk * 16 + 2 * t4;
        ba[0] = tile::scalePair(ba[0], f[0], f[1]), ba[1] = tile::scalePair(ba[1], f[8], f[9]);
        ba[2] = tile::scalePair(ba[2], f[0], f[1]), ba[3] = tile::scalePair(ba[3], f[8], f[9]);
        if constexpr (!Scaled) {
          bk[0] = tile::scalePair(bk[0], f[0], f[1]), bk[1] = tile::scalePair(bk[1], f[8], f[9]);
          bk[2] = tile::scalePair(bk[2], f[0], f[1]), bk[3] = tile::scalePair(bk[3], f[8], f[9]);
        }
      }
      tile::mma(YA[0], xa, ba[0], ba[1]);
      tile::mma(YA[1], xa, ba[2], ba[3]);
      if constexpr (!Scaled) {
        tile::mma(YK[0], xa, bk[0], bk[1]);
        tile::mma(YK[1], xa, bk[2], bk[3]);
      }
    }
    if constexpr (Scaled) { // one product, its columns scaled by s_a (A) and s_k (K)
#pragma unroll
      for (int n = 0; n < 2; ++n) {
        const int j = J * 16 + n * 8 + 2 * t4;
        YK[n][0] = YA[n][0] * Sk[j], YK[n][1] = YA[n][1] * Sk[j + 1];
        YK[n][2] = YA[n][2] * Sk[j], YK[n][3] = YA[n][3] * Sk[j + 1];
        YA[n][0] *= Sa[j], YA[n][1] *= Sa[j + 1], YA[n][2] *= Sa[j], YA[n][3] *= Sa[j + 1];
      }
    }
#pragma unroll
    for (int n = 0; n < 2; ++n) {
      const int j = J * 16 + n * 8 + 2 * t4, i0 = I * 16 + g, i1 = i0 + 8;
      auto keep = [&](int i, int jj) { return left ? jj <= i : jj < i; };
      const float a00 = keep(i0, j) ? YA[n][0] : 0.f, a01 = keep(i0, j + 1) ? YA[n][1] : 0.f;
      const float a10 = keep(i1, j) ? YA[n][2] : 0.f, a11 = keep(i1, j + 1) ? YA[n][3] : 0.f;
      const float k00 = keep(i0, j) ? YK[n][0] : 0.f, k01 = keep(i0, j + 1) ? YK[n][1] : 0.f;
      const float k10 = keep(i1, j) ? YK[n][2] : 0.f, k11 = keep(i1, j + 1) ? YK[n][3] : 0.f;
      if (left) {
        *(uint32_t *)&MQA[i0 * LC + j] = tile::pack(a00, a01), *(uint32_t *)&MQA[i1 * LC + j] = tile::pack(a10, a11);
        *(uint32_t *)&MQK[i0 * LC + j] = tile::pack(k00, k01), *(uint32_t *)&MQK[i1 * LC + j] = tile::pack(k10, k11);
      } else {
        *(float2 *)&LA[i0 * LF + j] = make_float2(a00, a01), *(float2 *)&LA[i1 * LF + j] = make_float2(a10, a11);
        *(uint32_t *)&LKs[i0 * LC + j] = tile::pack(k00, k01), *(uint32_t *)&LKs[i1 * LC + j] = tile::pack(k10, k11);
      }
    }
  }
}

// One CTA of 8 warps per (chunk, head, batch) item.
template <int K, bool LogDecay, bool Scaled, typename DecayMap, typename Scalars = StoredScalars>
__global__ void __launch_bounds__(256, 1) dplrVectorPrepare(const ScanParams call, const DeltaChunks d) {
  using tile::bf16;
  using L = DplrVectorLayout<K>;
  constexpr int C = L::C, LK = L::LK, LC = L::LC, LF = L::LF, LB = L::LB;
  static_assert(K % 64 == 0 && K <= 128, "chunked tiles");
  MIXC_DYNAMIC_SHARED(smem);
  bf16 *Qs = (bf16 *)(smem + L::q), *Bs = (bf16 *)(smem + L::bb), *As = (bf16 *)(smem + L::a),
       *Ks = (bf16 *)(smem + L::k), *Qh = (bf16 *)(smem + L::qh), *Bh = (bf16 *)(smem + L::bh);
  bf16 *LKs = (bf16 *)(smem + L::lk), *MQA = (bf16 *)(smem + L::mqa), *MQK = (bf16 *)(smem + L::mqk),
       *Ts = (bf16 *)(smem + L::ts);
  float *Gc = (float *)(smem + L::gc), *LA = (float *)(smem + L::raw), *TF = LA + C * LF;
  float *Df = (float *)(smem + L::df), *PT = (float *)(smem + L::pt), *Sa = (float *)(smem + L::sc), *Sk = Sa + C;
  unsigned char *Raw = smem + L::raw;
  const int64_t slots = (call.T + C - 1) / C; // chunk slots of the longest sequence
  const int tid = threadIdx.x, warp = tid / 32;
  const int rw = warp % 4, hf = warp / 4, r0 = rw * 16;
  const int64_t item = blockIdx.x, c = item % slots, h = (item / slots) % call.H, b = item / (slots * call.H);
  const ScanParams p = forSequence(call, b);
  const int64_t T = p.T;
  if (c * C >= T) return; // past a packed sequence's end
  chunk::copyRows<K, 256>(Qs, LK, p.q, b, h, c, T, 0, K);
  chunk::copyRows<K, 256>(Bs, LK, p.b, b, h, c, T, 0, K);
  if constexpr (Scaled) {
    chunk::loadScales<256, Scalars>(p, b, h, c, Sa, Sk);
  } else {
    chunk::copyRows<K, 256>(As, LK, p.a, b, h, c, T, 0, K);
    chunk::copyRows<K, 256>(Ks, LK, p.k, b, h, c, T, 0, K);
  }
  chunk::copyKeyDecays<K, 256>(p, b, h, c, Raw);
  tile::commit();
  tile::waitGroups<0>();
  __syncthreads();
  if (Scalars::fused && Scaled && d.scalars) { // the walk's copy of the scales (scalars_in_loads)
    float *out = d.scalars + ((b * slots + c) * p.H + h) * 3 * C;
    for (int i = tid; i < 2 * C; i += 256) out[C + i] = Sa[i]; // Sa, then Sk = Sa + C
  }
  if (p.l2normQ || p.l2normB) { // l2norm_q / l2norm_b: the rows normalized as they arrive
    if (p.l2normQ) l2normRows<K, 256>(Qs, LK);
    if (p.l2normB) l2normRows<K, 256>(Bs, LK);
    __syncthreads();
  }
  // 1. G per key.
  chunk::cumulativeKeyDecays<K, LB, LogDecay, 256, DecayMap>(p, h, c, Raw, Gc);
  // 2. Per element: A' and K' (to memory), Q^ and B^, and the Gram operands in place.
  const float *GC = Gc + (C - 1) * LB;
  for (int i = tid; i < K; i += 256) d.chunkDecay[((b * slots + c) * p.H + h) * K + i] = GC[i];
  if constexpr (Scaled) {
    // r's rows: R' to memory, B^ = r exp(G), and in place the left (r exp(G - G_r)) and,
    // in A's space, the right (r exp(G_r - G)) Gram operands.
    bf16 *ro = (bf16 *)d.ap.p + b * d.ap.s0 + d.ap.head(h) + c * C * d.ap.s1;
    for (int e = tid; e < C * K / 2; e += 256) {
      const int r = e / (K / 2), kc = (e % (K / 2)) * 2, ref = (r / 16) * 16 - 1;
      float G[2], Gr[2];
#pragma unroll
      for (int x = 0; x < 2; ++x) G[x] = Gc[r * LB + kc + x], Gr[x] = ref < 0 ? 0.f : Gc[ref * LB + kc + x];
      uint32_t *qp = (uint32_t *)&Qs[r * LK + kc], *bp = (uint32_t *)&Bs[r * LK + kc];
      const uint32_t qv = *qp, rv = *bp;
      *(uint32_t *)(ro + r * d.ap.s1 + kc) = tile::scalePair(rv, __expf(GC[kc] - G[0]), __expf(GC[kc + 1] - G[1]));
      const float e0 = __expf(G[0]), e1 = __expf(G[1]);
      *(uint32_t *)&Qh[r * LK + kc] = tile::scalePair(qv, e0, e1);
      *(uint32_t *)&Bh[r * LK + kc] = tile::scalePair(rv, e0, e1);
      const float l0 = __expf(G[0] - Gr[0]), l1 = __expf(G[1] - Gr[1]);
      *qp = tile::scalePair(qv, l0, l1);
      *bp = tile::scalePair(rv, l0, l1);
      *(uint32_t *)&As[r * LK + kc] =
          tile::scalePair(rv, __expf(fminf(Gr[0] - G[0], 80.f)), __expf(fminf(Gr[1] - G[1], 80.f)));
    }
  } else {
    bf16 *ao = (bf16 *)d.ap.p + b * d.ap.s0 + d.ap.head(h) + c * C * d.ap.s1;
    bf16 *ko = (bf16 *)d.kp.p + b * d.kp.s0 + d.kp.head(h) + c * C * d.kp.s1;
    for (int e = tid; e < C * K / 2; e += 256) {
      const int r = e / (K / 2), kc = (e % (K / 2)) * 2, ref = (r / 16) * 16 - 1;
      float G[2], Gp[2], Gr[2];
#pragma unroll
      for (int x = 0; x < 2; ++x) {
        G[x] = Gc[r * LB + kc + x];
        Gp[x] = p.bDecayed ? G[x] : r ? Gc[(r - 1) * LB + kc + x] : 0.f; // (b^T Diag(exp(g_t)) S: its own token's)
        Gr[x] = ref < 0 ? 0.f : Gc[ref * LB + kc + x];
      }
      uint32_t *qp = (uint32_t *)&Qs[r * LK + kc], *bp = (uint32_t *)&Bs[r * LK + kc],
               *ap = (uint32_t *)&As[r * LK + kc], *kp = (uint32_t *)&Ks[r * LK + kc];
      const uint32_t qv = *qp, bv = *bp, av = *ap, kv = *kp;
      const float e0 = __expf(GC[kc] - G[0]), e1 = __expf(GC[kc + 1] - G[1]);
      *(uint32_t *)(ao + r * d.ap.s1 + kc) = tile::scalePair(av, e0, e1);
      *(uint32_t *)(ko + r * d.kp.s1 + kc) = tile::scalePair(kv, e0, e1);
      *(uint32_t *)&Qh[r * LK + kc] = tile::scalePair(qv, __expf(G[0]), __expf(G[1]));
      *(uint32_t *)&Bh[r * LK + kc] = tile::scalePair(bv, __expf(Gp[0]), __expf(Gp[1]));
      *qp = tile::scalePair(qv, __expf(G[0] - Gr[0]), __expf(G[1] - Gr[1]));
      *bp = tile::scalePair(bv, __expf(Gp[0] - Gr[0]), __expf(Gp[1] - Gr[1]));
      const float u0 = __expf(fminf(Gr[0] - G[0], 80.f)), u1 = __expf(fminf(Gr[1] - G[1], 80.f));
      *ap = tile::scalePair(av, u0, u1);
      *kp = tile::scalePair(kv, u0, u1);
    }
  }
  chunk::subBlockPairDecays<K, LB, 256>(Gc, Df); // Dp[I, J], J < I
  // Blocks above the diagonal of L_K, M.QA and M.QK are zeros (the products below read whole rows).
  for (int e = tid; e < C * C / 2; e += 256) {
    const int r = e / (C / 2), cc = (e % (C / 2)) * 2;
    if (cc / 16 > r / 16) {
      *(uint32_t *)&LKs[r * LC + cc] = 0u;
      *(uint32_t *)&MQA[r * LC + cc] = 0u;
      *(uint32_t *)&MQK[r * LC + cc] = 0u;
    }
  }
  __syncthreads();
  // 3. The Gram matrices by sub-block pairs.
  dplrVectorGrams<K, LK, LC, LF, Scaled>(Qs, Bs, As, Ks, Df, Sa, Sk, LA, LKs, MQA, MQK);
  __syncthreads();
  // 4. T = (I - L_A)^{-1}.
  invertUnitLower<LF, LC>(LA, TF, Ts, PT, [] {});
  // 5. W = T B^ (over A's rows, read by now) and R = T L_K (over L_K, once every warp has read it).
  bf16 *Ws = As;
  {
    float Wt[K / 16][4] = {};
    warpMma<K / 16, true>(Wt, Ts + r0 * LC, LC, Bh + hf * (K / 2), LK, rw + 1);
    storeTile<K / 16>(Ws, LK, r0, hf * (K / 2), Wt, [](int, int, float x) { return x; });
  }
  float Rt[4][4] = {};
  warpMma<4, true>(Rt, Ts + r0 * LC, LC, LKs + hf * 32, LC, rw + 1);
  __syncthreads();
  storeTile<4>(LKs, LC, r0, hf * 32, Rt, [](int, int, float x) { return x; });
  __syncthreads();
  // 6. Q' = Q^ + (M.QA) W over Q^, P = (M.QA) R + M.QK over M.QK.
  {
    float Qt[K / 16][4] = {};
    warpMma<K / 16, true>(Qt, MQA + r0 * LC, LC, Ws + hf * (K / 2), LK, rw + 1);
    addIntoTile<K / 16>(Qh, LK, r0, hf * (K / 2), Qt, [](int) { return 1.f; });
    float Pt[4][4] = {};
    warpMma<4, true>(Pt, MQA + r0 * LC, LC, LKs + hf * 32, LC, rw + 1);
    addIntoTile<4>(MQK, LC, r0, hf * 32, Pt, [](int) { return 1.f; });
  }
  __syncthreads();
  storeRows<K, 256>(d.w, b, h, c, Ws, LK);
  storeRows<K, 256>(d.qp, b, h, c, Qh, LK);
  storeRows<C, 256>(d.r, b, h, c, LKs, LC);
  storeRows<C, 256>(d.pv, b, h, c, MQK, LC);
}

#ifndef MIXC_CUDA_EMULATION
// Whether copyKeyDecays can stream these log-decays: f32 or bf16 rows of K
// on 16-byte boundaries.
inline bool streamableKeyDecays(const View &g) {
  const int64_t align = g.dtype == MIXC_F32 ? 4 : 8;
  return g.p && (g.dtype == MIXC_F32 || g.dtype == MIXC_BF16) && g.s3 == 1 && g.s0 % align == 0 &&
         g.s1 % align == 0 && g.s2 % align == 0 && ((uintptr_t)g.p % 16) == 0;
}

// Whether the chunked kernels can stream these operands: bf16 rows of q, k,
// v, a, b (16-byte aligned) and f32 or bf16 log-decays per key.
inline bool chunkedDplrVectorApplies(const ScanParams &p) {
  return chunkedDeltaApplies(p) && streamableKeyDecays(p.decay);
}

// dplrVectorPrepare over every chunk, its rows (W, Q', A', K', R, P) and
// the chunks' log-decays per key in scratch, given to d. The forward's and
// the chunked backward's (Scaled: the decayed_b form; d.kp unused).
template <int K, bool LogDecay, bool Scaled, typename DecayMap, typename Scalars = StoredScalars>
cudaError_t launchDplrVectorPrepare(const ScanParams &p, DeltaChunks &d, Scratch &scratch, cudaStream_t stream) {
  constexpr int C = chunk::C;
  const int64_t chunks = (p.T + C - 1) / C, rows = p.B * chunks * C * p.H;
  // W, Q', A', K' (K bf16 per row each), R and P (C each), G_C per chunk (K fp32).
  __nv_bfloat16 *base = (__nv_bfloat16 *)scratch.alloc(rows * (2 * K + C) + p.B * chunks * p.H * K);
  if (!base) return cudaErrorMemoryAllocation;
  d.w = chunkRows(p, base, K), d.qp = chunkRows(p, base + rows * K, K);
  d.ap = chunkRows(p, base + 2 * rows * K, K), d.kp = chunkRows(p, base + 3 * rows * K, K);
  d.r = chunkRows(p, base + 4 * rows * K, C), d.pv = chunkRows(p, base + 4 * rows * K + rows * C, C);
  d.chunkDecay = (float *)(base + 4 * rows * K + 2 * rows * C);
  if (Scalars::fused && Scaled && !(d.scalars = scratch.alloc(p.B * chunks * p.H * 3 * C)))
    return cudaErrorMemoryAllocation;
  constexpr int bytes = DplrVectorLayout<K>::bytes;
  auto prepare = dplrVectorPrepare<K, LogDecay, Scaled, DecayMap, Scalars>;
  if (cudaError_t e = cudaFuncSetAttribute(prepare, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes)) return e;
  prepare<<<(unsigned)(chunks * p.H * p.B), 256, bytes, stream>>>(p, d);
  return cudaSuccess;
}

// dplrVectorPrepare, then deltaStates in its vector-decay form (Scaled: the
// decayed_b form, k's rows with the scales; d.kp unused).
template <int K, bool LogDecay, bool Scaled, typename DecayMap = NoMap, typename Scalars = StoredScalars>
cudaError_t launchChunkedDplrVector(const ScanParams &p, const StatePass &pass, Scratch &scratch, cudaStream_t stream) {
  DeltaChunks d;
  if (p.B * p.T * p.H > 0)
    if (cudaError_t e = launchDplrVectorPrepare<K, LogDecay, Scaled, DecayMap, Scalars>(p, d, scratch, stream))
      return e;
  if (pass.wgmma || pass.segments != 1) return cudaErrorInvalidValue; // neither exists for a vector diagonal
  return launchStates<K, false, LogDecay, Scaled, false, true>(p, d, pass, stream);
}

#endif // MIXC_CUDA_EMULATION

} // namespace mixc::cuda

#endif
