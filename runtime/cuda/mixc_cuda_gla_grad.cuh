// Part of the CUDA tile library (mixc_cuda.cuh, which includes it): the chunk
// kernel of GLA's chunked backward (vector log-decays per key, no low-rank
// term: S_t = Diag(exp(g_t)) S_{t-1} + k_t v_t^T, o_t = c S_t^T q_t). Per
// chunk, with b the cumulative log-decays per key (b_C the chunk's last), S0
// the state it starts from, Q' = Q . exp(b), K' = K . exp(b_C - b) and
// P_ij = sum_k q_ik k_jk exp(b_ik - b_jk) (j <= i), the forward is
//   O = c (Q' S0 + P V),  S_C = Diag(exp(b_C)) S0 + K'^T V,
// and, given dO and dS_C (the gradient of the state after the chunk):
//   dV = c P^T dO + K' dS_C,   dP = c dO V^T (j <= i),
//   dQ_ik = sum_j dP_ij k_jk exp(b_ik - b_jk) + c exp(b_ik) (dO S0^T)_ik,
//   dK_jk = sum_i dP_ij q_ik exp(b_ik - b_jk) + exp(b_Ck - b_jk) (V dS_C^T)_jk,
// and, as every q_ik appears times exp(b_ik) and every k_jk times exp(-b_jk),
// the cumulative log-decays' gradient is q . dq - k . dk per token, plus at
// the chunk's end the rows of S_C . dS_C summed over the values; the
// per-token log-decays' gradient is its sum from the chunk's end:
//   dg_t = sum_{s >= t} (q_s . dq_s - k_s . dk_s) + rowsum(S_C . dS_C).
// The intra-chunk factors exp(b_ik - b_jk) are split at 16-token sub-blocks
// as glaPrepare splits them (each factor of a product bounded).
// The walks around it are the forward's (glaPrepare, then deltaStates keeping
// S0 per chunk) and deltaGradWalk's GLA form (dS = Diag(exp(b_C)) dS +
// c Q'^T dO); the launches: mixc_cuda_ut_grad_launch.cuh (gradform::gla).
// Every sum runs in a fixed order (no atomics): the same inputs give the same bits.
#ifndef MIXC_CUDA_GLA_GRAD_CUH
#define MIXC_CUDA_GLA_GRAD_CUH

#ifndef MIXC_CUDA_EMULATION
#include "mixc_cuda.cuh"
#endif

namespace mixc::cuda {

template <int K, int V> struct GlaGradChunkLayout {
  static constexpr int C = 64, LK = K + 8, LV = V + 8, LC = C + 8, LB = K + 8, LD = K + 4;
  static constexpr int rowsK = C * LK * 2, rowsV = C * LV * 2, tileC = C * LC * 2;
  static constexpr int q = 0, k = q + rowsK, kp = k + rowsK, dO = kp + rowsK, v = dO + rowsV;
  static constexpr int p = v + rowsV, dp = p + tileC, bc = dp + tileC, df = bc + C * LB * 4;
  static constexpr int red = df + 6 * K * 4; // [5][K] floats: four row blocks' k . dk_state, exp(b_C) rowsum(S0 . dS_C)
  static constexpr int s0 = red + 5 * K * 4, ds = s0 + K * LV * 2, bytes = ds + K * LV * 2;
  // The raw gates land where S0 and dS_C will (before those are copied);
  // q . dq - k . dk, fp32 [C][LD], over them at the end.
  static constexpr int gs = s0, db = s0;
  static_assert(C * K * 4 <= 2 * K * LV * 2 && C * LD * 4 <= 2 * K * LV * 2, "the states' space reused");
};

// One CTA of 8 warps per (chunk, head, batch); warp (rw, hf) takes rows
// 16 rw.. of each product, in the column half hf. Form: gradform's dqOut,
// dkOut, dvOut (the caller's bf16 rows; else r.dq, r.dk, r.dv fp32 rows).
// q, k, v and dO: bf16 rows with unit stride in their last dimension.
template <int K, int V, unsigned Form, typename DecayMap = NoMap>
__global__ void __launch_bounds__(256, 1) glaGradChunk(const ScanParams call, const DeltaGradRows r) {
  constexpr bool DqOut = Form & gradform::dqOut, DkOut = Form & gradform::dkOut, DvOut = Form & gradform::dvOut;
  using tile::bf16;
  using L = GlaGradChunkLayout<K, V>;
  constexpr int C = L::C, LK = L::LK, LV = L::LV, LC = L::LC, LB = L::LB, LD = L::LD, NK = K / 16, NV = V / 16;
  static_assert(K % 64 == 0 && K <= 128 && V % 64 == 0 && V <= 128, "chunked tiles");
  MIXC_DYNAMIC_SHARED(smem);
  bf16 *Qs = (bf16 *)(smem + L::q), *Ks = (bf16 *)(smem + L::k), *Kp = (bf16 *)(smem + L::kp),
       *dOs = (bf16 *)(smem + L::dO), *Vs = (bf16 *)(smem + L::v), *Ps = (bf16 *)(smem + L::p),
       *dPs = (bf16 *)(smem + L::dp), *S0s = (bf16 *)(smem + L::s0), *dSs = (bf16 *)(smem + L::ds);
  float *Bc = (float *)(smem + L::bc), *Df = (float *)(smem + L::df), *red = (float *)(smem + L::red),
        *DB = (float *)(smem + L::db);
  const ChunkItem it = chunkItem(call);
  const int64_t slots = it.slots, c = it.c, h = it.h, b = it.b;
  const ScanParams p = forSequence(call, b);
  const int64_t T = p.T, H = p.H;
  if (c * C >= T) return; // past a packed sequence's end
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4, rw = warp % 4,
            hf = warp / 4, r0 = rw * 16;
  const float cs = p.scale;
  chunk::copyRows<K, 256>(Qs, LK, p.q, b, h, c, T, 0, K);
  chunk::copyRows<K, 256>(Ks, LK, p.k, b, h, c, T, 0, K);
  chunk::copyRows<V, 256>(dOs, LV, seqView(r.dO, call, b), b, h, c, T, 0, V);
  chunk::copyRows<V, 256>(Vs, LV, p.v, b, h, c, T, 0, V);
  chunk::copyKeyDecays<K, 256>(p, b, h, c, smem + L::gs);
  tile::commit();
  tile::waitGroups<0>();
  __syncthreads();
  chunk::cumulativeKeyDecays<K, LB, true, 256, DecayMap>(p, h, c, smem + L::gs, Bc); // (ends past a barrier)
  { // S0 and dS_C, [K][V] bf16 per (b, c, h), over the raw gates; awaited before the state products
    const bf16 *s0 = r.states + ((b * slots + c) * H + h) * K * V, *ds = r.dStates + ((b * slots + c) * H + h) * K * V;
    for (int e = tid; e < K * V / 8; e += 256) {
      const int row = e / (V / 8), col = (e % (V / 8)) * 8;
      tile::copy16(S0s + row * LV + col, s0 + row * V + col);
      tile::copy16(dSs + row * LV + col, ds + row * V + col);
    }
    tile::commit();
  }
  // K' = K . exp(b_C - b) to its tile; Q^ and K^ in place (glaPrepare's)
  glaRelativeRows<K, LK, LB, 256, true>(Qs, Ks, Bc, Kp);
  const float *bC = Bc + (C - 1) * LB;
  chunk::subBlockPairDecays<K, LB, 256>(Bc, Df); // Dp[I, J] = exp(b_r(I) - b_r(J)), J < I
  __syncthreads();
  // P (as glaPrepare forms it) and dP = c dO V^T, both masked (j <= i), by
  // 16 x 16 blocks (I, J); blocks above the diagonal are never read.
  for (int blk = warp; blk < 16; blk += 8) {
    const int I = blk / 4, J = blk % 4;
    if (J > I) continue;
    float P[2][4] = {}, dP[2][4] = {};
    glaPairBlock<K, LK>(P, Qs, Ks, Df, I, J);
    warpGemm<2, false, false>(dP, dOs + I * 16 * LV, LV, Vs + J * 16 * LV, LV, 0, NV);
    auto masked = [&](int i, int j, float x) { return j <= i ? x : 0.f; };
    storeTile<2>(Ps, LC, I * 16, J * 16, P, masked);
    storeTile<2>(dPs, LC, I * 16, J * 16, dP, [&](int i, int j, float x) { return masked(i, j, cs * x); });
  }
  tile::waitGroups<0>();
  __syncthreads();
  // q's and k's own elements (bf16 rows: launchDeltaGradChunked's toBf16), zero past T
  auto rowAt = [&](const View &x, int i, int k) {
    return c * C + i < T ? bf(((const bf16 *)x.p)[b * x.s0 + (c * C + i) * x.s1 + x.head(h) + k]) : 0.f;
  };
  // this thread's two rows (r0 + g, + 8) of a gradient: its output's bf16 rows (Out) or its
  // fp32 rows, found once (per-element address arithmetic bloats the unrolled stores)
  auto rowsOf = [&](auto out, const Bf16Rows &to, float *rows, int D) {
    return it.rowPair<decltype(out)::value>(r0 + g, to, rows, D, r.Ttok, H);
  };
  const bool live0 = c * C + r0 + g < T, live8 = c * C + r0 + g + 8 < T; // rows past the sequence: not written
  { // dV = c P^T dO + K' dS_C
    float acc[NV][4] = {};
    warpGemm<NV, true, true>(acc, Ps + r0, LC, dOs + hf * (V / 2), LV, rw, 4);
#pragma unroll
    for (int nt = 0; nt < NV; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[nt][e] *= cs;
    warpGemm<NV, false, true>(acc, Kp + r0 * LK, LK, dSs + hf * (V / 2), LV, 0, NK);
    const auto dv = rowsOf(std::bool_constant<DvOut>{}, r.dvTo, r.dv, V);
    forTile<NV>(acc, r0, hf * (V / 2), [&](int, int j, float x, int, int e) {
      if (e >= 2 ? live8 : live0) dv.put(e >= 2, j, x);
    });
  }
  const int k0 = hf * (K / 2);
  // b at the reference of this warp's row block (the token before it; 0 for the first)
  const float *refRow = Bc + (rw > 0 ? rw * 16 - 1 : 0) * LB, refOn = rw > 0 ? 1.f : 0.f;
  auto refB = [&](int k) { return refOn * refRow[k]; };
  // The intra-chunk products by sub-block pairs: acc += Dp[I, J] . (the pair's product).
  auto addPair = [&](float (&acc)[NK][4], const float (&t)[NK][4], int I, int J) {
    addPairProduct<K, NK>(acc, t, Df, I, J, k0);
  };
  // An element of Q^ or K^ as glaRelativeRows rounded it: the decays' terms of P pair each entry's
  // two operands as its products did, so that an entry (i, j) adds to token i what it takes from
  // token j, and the sums from the chunk's end cancel it (mixc_cuda_ut_vector_grad.cuh says more).
  auto rel = [](float x, float f) { return bf(__float2bfloat16(x * f)); };
  float qdq[NK][4]; // q . dq, then q . dq - k . dk
  { // dQ = Q-side factors of sum_J dP_IJ K^_J, + c exp(b) . (dO S0^T)
    float acc[NK][4] = {}, st[NK][4] = {};
    for (int J = 0; J <= rw; ++J) {
      float t[NK][4] = {};
      warpGemm<NK, false, true>(t, dPs + r0 * LC, LC, Ks + k0, LK, J, J + 1);
      addPair(acc, t, rw, J);
    }
    warpGemm<NK, false, false>(st, dOs + r0 * LV, LV, S0s + k0 * LV, LV, 0, NV);
    const auto dqRows = rowsOf(std::bool_constant<DqOut>{}, r.dqTo, r.dq, K);
    forTile<NK>(acc, r0, k0, [&](int i, int k, float x, int nt, int e) {
      const float bi = Bc[i * LB + k], f = __expf(bi - refB(k)), state = cs * __expf(bi) * st[nt][e];
      const float dq = x * f + state;
      if (e >= 2 ? live8 : live0) dqRows.put(e >= 2, k, dq);
      const float qv = rowAt(p.q, i, k);
      qdq[nt][e] = rel(qv, f) * x + qv * state;
    });
  }
  { // dK = K-side factors of sum_I dP_IJ^T Q^_I, + exp(b_C - b) . (V dS_C^T)
    float acc[NK][4] = {}, st[NK][4] = {};
    for (int I = rw; I < 4; ++I) {
      float t[NK][4] = {};
      warpGemm<NK, true, true>(t, dPs + r0, LC, Qs + k0, LK, I, I + 1);
      addPair(acc, t, I, rw);
    }
    warpGemm<NK, false, false>(st, Vs + r0 * LV, LV, dSs + k0 * LV, LV, 0, NV);
    float part[NK][2] = {}; // k . dk_state over this thread's two rows, per key column
    const auto dkRows = rowsOf(std::bool_constant<DkOut>{}, r.dkTo, r.dk, K);
    forTile<NK>(acc, r0, k0, [&](int j, int k, float x, int nt, int e) {
      const float bj = Bc[j * LB + k], f = __expf(fminf(refB(k) - bj, 80.f));
      const float state = __expf(bC[k] - bj) * st[nt][e];
      const float dk = x * f + state;
      if (e >= 2 ? live8 : live0) dkRows.put(e >= 2, k, dk);
      const float kv = rowAt(p.k, j, k);
      qdq[nt][e] -= rel(kv, f) * x + kv * state;
      part[nt][e & 1] += kv * state;
    });
    // the sums over the warp's 16 rows (lanes of one t4), one per column
#pragma unroll
    for (int nt = 0; nt < NK; ++nt)
#pragma unroll
      for (int u = 0; u < 2; ++u) {
        float s = part[nt][u];
        s += __shfl_xor_sync(0xffffffffu, s, 4);
        s += __shfl_xor_sync(0xffffffffu, s, 8);
        s += __shfl_xor_sync(0xffffffffu, s, 16);
        if (g == 0) red[rw * K + k0 + nt * 8 + 2 * t4 + u] = s;
      }
  }
  // exp(b_C) rowsum(S0 . dS_C), a key per thread
  for (int k = tid; k < K; k += 256) {
    float s = 0.f;
    for (int j = 0; j < V; j += 2) {
      const float2 x = __bfloat1622float2(*(const __nv_bfloat162 *)&S0s[k * LV + j]),
                   y = __bfloat1622float2(*(const __nv_bfloat162 *)&dSs[k * LV + j]);
      s += x.x * y.x + x.y * y.y;
    }
    red[4 * K + k] = __expf(bC[k]) * s;
  }
  __syncthreads(); // the states are read: q . dq - k . dk over them
  forTile<NK>(qdq, r0, k0, [&](int i, int k, float x, int, int) { DB[i * LD + k] = x; });
  __syncthreads();
  // dg_t = sum_{s >= t} (q_s . dq_s - k_s . dk_s) + rowsum(S_C . dS_C), a key per thread
  for (int k = tid; k < K; k += 256) {
    float s = red[k] + red[K + k] + red[2 * K + k] + red[3 * K + k] + red[4 * K + k];
    for (int i = C - 1; i >= 0; --i) {
      s += DB[i * LD + k];
      if (c * C + i < T) r.ddecay[it.tokenRow(i, r.Ttok, H) * K + k] = s;
    }
  }
}

} // namespace mixc::cuda

#endif
