// Part of the CUDA tile library (mixc_cuda.cuh, which includes it): the recurrent schedule (a CTA per value block, head and batch sweeps the
// tokens with its block of the state in registers).
#ifndef MIXC_CUDA_RECURRENT_CUH
#define MIXC_CUDA_RECURRENT_CUH

#ifndef MIXC_CUDA_EMULATION
#include "mixc_cuda.cuh"
#include "mixc_cuda_scan_params.cuh" // ScanParams
#endif

namespace mixc::cuda {

// ---- the scans -------------------------------------------------------------------

// Sum over the KG lanes of a column group (consecutive, aligned lanes).
template <int KG> __device__ __forceinline__ float groupSum(float x) {
#pragma unroll
  for (int off = KG / 2; off > 0; off /= 2) x += __shfl_xor_sync(0xffffffffu, x, off);
  return x;
}

// The recurrent schedule: one CTA per (value block, head, batch), the K x VB
// block of the state in registers for the whole sequence. In a warp, CPW
// columns of KG = 32 / CPW lanes each; lane kg of a column holds the key rows
// kg, kg + KG, ... (interleaved, so that the lanes read distinct shared-memory
// banks). Tokens are staged through shared memory TC at a time, coalesced;
// every readout is a sum over the KG lanes by shuffles, and o leaves through
// shared memory in coalesced rows. mLSTM keeps its normalizer column n (column
// Vs - 1) in every column group, because every readout divides by it.
template <Structure S, int K, int CPW, int WARPS, int TC, DiagKind Diag, bool Bonus, bool Mlstm, bool HasDt,
          bool LogDecay, typename DecayMap = NoMap, typename Scalars = StoredScalars>
__global__ void __launch_bounds__(WARPS * 32) scanRecurrent(const ScanParams p) {
  constexpr int KG = 32 / CPW, KR = (K + KG - 1) / KG, KP = KR * KG, VB = WARPS * CPW;
  constexpr bool VecDecay = S == Structure::vector || (S == Structure::dplr && Diag == DiagKind::vector);
  constexpr bool ScalarDecay = S == Structure::scalar || S == Structure::const_scalar ||
                               (S == Structure::dplr && Diag == DiagKind::scalar);
  constexpr bool Dplr = S == Structure::dplr;
  __shared__ float sq[TC][KP], sk[TC][KP], sv[TC][VB], so[TC][VB];
  __shared__ float sdec[VecDecay ? TC : 1][VecDecay ? KP : 1], sa[Dplr ? TC : 1][Dplr ? KP : 1],
      sb[Dplr ? TC : 1][Dplr ? KP : 1], sdt[HasDt ? TC : 1][HasDt ? VB : 1], sg[TC], sig[TC],
      ssa[Dplr ? TC : 1], ssk[Dplr ? TC : 1];
  const int64_t B = p.B, Vs = p.Vs;
  const int64_t V = Mlstm ? Vs - 1 : Vs;
  const int64_t h = blockIdx.y, sb0 = blockIdx.z, j0 = (int64_t)blockIdx.x * VB;
  (void)B;
  // This CTA's sequence: its state's batch row sb0, its tokens' batch row b
  // and first token t0, and its length T.
  const int64_t b = p.seqStart ? 0 : sb0, t0 = p.seqStart ? p.seqStart[sb0] : 0;
  const int64_t T = p.seqStart ? p.seqStart[sb0 + 1] - t0 : p.T;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, c = lane / KG, kg = lane % KG;
  const int wc = warp * CPW + c;       // column within the block
  const int64_t j = j0 + wc;           // column of the state
  const bool live = j < V;
  float st[KR], nv[KR], rate[KR], bonus[KR];
  // The state block passes between memory and the lanes through shared
  // memory (sq's space, SROWS rows of VB columns at a time, padded against
  // bank conflicts), so that a warp reads and writes whole rows: read
  // directly, a warp's load touched 16 bytes of each of 8 rows, half of
  // every 32-byte sector (decoding is this traffic and little else).
  constexpr int LDB = VB + 1, SROWS = (TC * KP) / LDB;
  auto stateThroughShared = [&](bool load) {
    float *buf = &sq[0][0];
    for (int r0 = 0; r0 < K; r0 += SROWS) {
      const int n = K - r0 < SROWS ? K - r0 : SROWS;
      if (load) {
        for (int e = threadIdx.x; e < n * VB; e += WARPS * 32) {
          const int r = e / VB, jj = e % VB;
          buf[r * LDB + jj] = p.init.p && j0 + jj < V ? p.init.at(sb0, h, r0 + r, j0 + jj) : 0.f;
        }
      } else {
#pragma unroll
        for (int i = 0; i < KR; ++i) {
          const int row = i * KG + kg;
          if (row >= r0 && row < r0 + n) buf[(row - r0) * LDB + wc] = st[i];
        }
      }
      __syncthreads();
      if (load) {
#pragma unroll
        for (int i = 0; i < KR; ++i) {
          const int row = i * KG + kg;
          if (row >= r0 && row < r0 + n) st[i] = live ? buf[(row - r0) * LDB + wc] : 0.f;
        }
      } else {
        for (int e = threadIdx.x; e < n * VB; e += WARPS * 32) {
          const int r = e / VB, jj = e % VB;
          if (j0 + jj < V) p.state.set(sb0, h, r0 + r, j0 + jj, buf[r * LDB + jj]);
        }
      }
      __syncthreads();
    }
  };
  if constexpr (SROWS >= 1) stateThroughShared(true);
#pragma unroll
  for (int i = 0; i < KR; ++i) {
    const int row = i * KG + kg;
    const bool in = row < K;
    if constexpr (SROWS < 1) st[i] = in && live && p.init.p ? p.init.at(sb0, h, row, j) : 0.f;
    else if (!in) st[i] = 0.f;
    nv[i] = Mlstm && in && p.init.p ? p.init.at(sb0, h, row, V) : 0.f;
    rate[i] = S == Structure::elementwise && in && live ? p.rate.at(0, h, row, j) : 0.f;
    bonus[i] = Bonus && in ? p.bonus.at(0, 0, h, row) : 0.f;
  }
  float m = Mlstm && p.initM.p ? p.initM.at(sb0, h, 0, 0) : 0.f;
  for (int64_t s0 = 0; s0 < T; s0 += TC) {
    const int n = (int)(T - s0 < TC ? T - s0 : TC);
    // Stage n tokens: first the per-token scalars (computed from their inputs
    // with scalars_in_loads), then the rows, the scales applied as they land;
    // rows past K are zeros and leave the state untouched.
    for (int u = threadIdx.x; u < n; u += WARPS * 32) {
      const int64_t t = t0 + (p.reverse ? T - 1 - (s0 + u) : s0 + u);
      if constexpr (ScalarDecay) sg[u] = Scalars::decay(p, b, t, h);
      if constexpr (Mlstm) sig[u] = p.igate.at(b, t, h, 0);
      if constexpr (Dplr) ssa[u] = Scalars::aScale(p, b, t, h), ssk[u] = Scalars::kScale(p, b, t, h);
    }
    __syncthreads();
    for (int e = threadIdx.x; e < n * KP; e += WARPS * 32) {
      const int u = e / KP, i = e % KP;
      const int64_t t = t0 + (p.reverse ? T - 1 - (s0 + u) : s0 + u);
      const bool in = i < K;
      sq[u][i] = in ? p.q.at(b, t, h, i) : 0.f;
      sk[u][i] = in ? p.k.at(b, t, h, i) * (Dplr ? ssk[u] : 1.f) : 0.f;
      const float dec = VecDecay && in ? DecayMap::apply(p.decay.at(b, t, h, i), DecayMap::load(p, h, i)) : 0.f;
      if constexpr (VecDecay) sdec[u][i] = dec;
      if constexpr (Dplr) {
        sa[u][i] = in ? p.a.at(b, t, h, i) * ssa[u] : 0.f;
        sb[u][i] = in ? p.b.at(b, t, h, i) * (VecDecay && p.bDecayed ? __expf(dec) : 1.f) : 0.f;
      }
    }
    for (int e = threadIdx.x; e < n * VB; e += WARPS * 32) {
      const int u = e / VB, jj = e % VB;
      const int64_t t = t0 + (p.reverse ? T - 1 - (s0 + u) : s0 + u);
      const bool in = j0 + jj < V;
      sv[u][jj] = in ? p.v.at(b, t, h, j0 + jj) : 0.f;
      if constexpr (HasDt) sdt[u][jj] = in ? p.dt.at(b, t, h, j0 + jj) : 0.f;
    }
    __syncthreads();
    if constexpr (Dplr) {
      if (p.l2normQ || p.l2normB) { // the staged rows normalized, a warp per token
        for (int u = warp; u < n; u += WARPS) {
          const int64_t t = t0 + (p.reverse ? T - 1 - (s0 + u) : s0 + u);
          float qq = 0.f, bb = 0.f;
          for (int i = lane; i < K; i += 32) { // b's row as stored: sb, or with decayed_b from memory again
            const float x = !p.l2normB ? 0.f : p.bDecayed ? p.b.at(b, t, h, i) : sb[u][i];
            qq += sq[u][i] * sq[u][i], bb += x * x;
          }
          const float nq = p.l2normQ ? rsqrtf(warpSum(qq) + 1e-12f) : 1.f;
          const float nb = p.l2normB ? rsqrtf(warpSum(bb) + 1e-12f) : 1.f;
          for (int i = lane; i < K; i += 32) sq[u][i] *= nq, sk[u][i] *= nb, sa[u][i] *= nb, sb[u][i] *= nb;
        }
        __syncthreads();
      }
    }
    for (int u = 0; u < n; ++u) {
      float q[KR], k[KR];
#pragma unroll
      for (int i = 0; i < KR; ++i) q[i] = sq[u][i * KG + kg], k[i] = sk[u][i * KG + kg];
      const float v = sv[u][wc];
      float o = 0.f;
      if constexpr (Bonus) {
        float qu = 0.f, qs = 0.f;
#pragma unroll
        for (int i = 0; i < KR; ++i) qu += q[i] * bonus[i] * k[i], qs += q[i] * st[i];
        o = p.scale * (groupSum<KG>(qs) + groupSum<KG>(qu) * v);
      }
      float ws = 1.f; // the write's scale (mLSTM's stabilized input gate)
      if constexpr (ScalarDecay && !Dplr) {
        float g = sg[u], f;
        if constexpr (Mlstm) {
          const float ig = sig[u], mNew = fmaxf(g + m, ig);
          f = __expf(g + m - mNew);
          ws = __expf(ig - mNew);
          m = mNew;
        } else {
          f = LogDecay ? __expf(g) : g;
        }
#pragma unroll
        for (int i = 0; i < KR; ++i) st[i] *= f, nv[i] *= f;
      } else if constexpr (S == Structure::vector) {
#pragma unroll
        for (int i = 0; i < KR; ++i) {
          const float g = sdec[u][i * KG + kg];
          st[i] *= LogDecay ? __expf(g) : g;
        }
      } else if constexpr (S == Structure::elementwise) {
        const float dt = HasDt ? sdt[u][wc] : 1.f;
#pragma unroll
        for (int i = 0; i < KR; ++i) st[i] *= __expf(rate[i] * dt);
      } else if constexpr (Dplr) {
        float w = 0.f;
#pragma unroll
        for (int i = 0; i < KR; ++i) w += sb[u][i * KG + kg] * st[i];
        w = groupSum<KG>(w);
        const float ds = Diag == DiagKind::scalar ? (LogDecay ? __expf(sg[u]) : sg[u]) : 1.f;
#pragma unroll
        for (int i = 0; i < KR; ++i) {
          float d = ds;
          if constexpr (Diag == DiagKind::vector) {
            const float g = sdec[u][i * KG + kg];
            d = LogDecay ? __expf(g) : g;
          }
          st[i] = d * st[i] + sa[u][i * KG + kg] * w;
        }
      }
#pragma unroll
      for (int i = 0; i < KR; ++i) st[i] += ws * k[i] * v;
      if constexpr (Mlstm) {
#pragma unroll
        for (int i = 0; i < KR; ++i) nv[i] += ws * k[i];
      }
      if constexpr (!Bonus) {
        float qs = 0.f;
#pragma unroll
        for (int i = 0; i < KR; ++i) qs += q[i] * st[i];
        o = groupSum<KG>(qs);
        float div = 1.f;
        if constexpr (Mlstm) {
          float den = 0.f;
#pragma unroll
          for (int i = 0; i < KR; ++i) den += q[i] * nv[i];
          div = fmaxf(fabsf(groupSum<KG>(den)), __expf(-m));
        }
        o *= p.scale / div;
      }
      if (kg == 0) so[u][wc] = o;
    }
    __syncthreads();
    for (int e = threadIdx.x; e < n * VB; e += WARPS * 32) {
      const int u = e / VB, jj = e % VB;
      const int64_t t = t0 + (p.reverse ? T - 1 - (s0 + u) : s0 + u);
      if (j0 + jj < V) p.o.set(b, t, h, j0 + jj, so[u][jj]);
    }
  }
  if (p.state.p) {
    if constexpr (SROWS >= 1) stateThroughShared(false);
#pragma unroll
    for (int i = 0; i < KR; ++i) {
      const int row = i * KG + kg;
      if (SROWS < 1 && row < K && live) p.state.set(sb0, h, row, j, st[i]);
      if (Mlstm && row < K && j0 == 0 && wc == 0) p.state.set(sb0, h, row, V, nv[i]);
    }
  }
  if (Mlstm && p.m.p && threadIdx.x == 0 && j0 == 0) p.m.set(sb0, h, 0, 0, m);
}

} // namespace mixc::cuda

#endif
