// Part of the CPU tile library (mixc_cpu.h): the UT chunk form of the delta
// rules (mixer.chunk_ut, chunk_ut_states, chunk_walk with a transition,
// chunk_ut_output) on a task's tiles, for S_t = D_t S_{t-1} + a_t (b_t^T
// S_{t-1}) + k_t v_t^T with no diagonal (DeltaNet), a scalar one (Gated
// DeltaNet) or one per key (KDA, RWKV-7). CpuTarget prints each kernel's body
// from the chunk-level IR.
//
// Within a chunk entered with S_0, with Γ_t the decays' product from the
// chunk's start (Γ_{-1} = 1) and w_t = S_{t-1}^T b_t the vector token t
// writes through a:
//   w_t = (Γ_{t-1} b_t)^T S_0 + sum_{s<t} (L_ts w_s + M_ts v_s),
//   o_t = (Γ_t q_t)^T S_0 + sum_{s<=t} (Aqa_ts w_s + Aqk_ts v_s),
//   S_L = Diag(Γ_L) S_0 + sum_s Diag(Γ_L / Γ_s) (a_s w_s^T + k_s v_s^T),
// L_ts = sum_i (Γ_{t-1} / Γ_s)_i b_t,i a_s,i, M_ts the same with k_s, Aqa and
// Aqk with Γ_t and q_t: chunk_ut's p and u are the rows that give
// w = P S_0 + U, which the kernel forms directly as W = (I - L)^{-1}
// ((Γ_{t-1} . B) S_0 + M V) once S_0 is known (one triangular solve per chunk
// over the value block instead of one over the keys and one over the values).
#ifndef MIXC_CPU_CHUNKED_UT_H
#define MIXC_CPU_CHUNKED_UT_H

#include "mixc_cpu_chunked.h"

namespace mixc::cpu {

// One task of the UT form: sequence b, head h, the value columns
// [j0, j0 + width); the state block and the chunk's rows (q, a, b, k, the
// log-decays G: cumulative after chunkCumsum; DW = 0, 1 or K as in ChunkTile).
template <int K, int VB, int C, int DW> struct UtChunkTile : ChunkTask<K, C, DW> {
  // Rows of K (heap: they grow with K), the transposes At, Kt (K x C) of a
  // and k that the products read as columns, and Xe, a scaled copy of a row
  // operand.
  std::vector<float> heap;
  float (*st)[VB], (*Q)[K], (*Ar)[K], (*Br)[K], (*Kr)[K], (*G)[K], (*Xe)[K], (*At)[C], (*Kt)[C];
  // The value rows, the write vectors w, and the four C x C matrices: L and
  // M (strictly lower), Aqa and Aqk (causal).
  alignas(64) float Vc[C][VB], W[C][VB], Lm[C][C], Mm[C][C], Aqa[C][C], Aqk[C][C];
  float gs[C]; // a scalar decay's log-decays (cumulative after chunkCumsum)
  UtChunkTile()
      : heap((size_t)K * VB + 6 * (size_t)C * K + 2 * (size_t)K * C), st(reinterpret_cast<float(*)[VB]>(heap.data())),
        Q(reinterpret_cast<float(*)[K]>(heap.data() + (size_t)K * VB)), Ar(Q + C), Br(Ar + C), Kr(Br + C), G(Kr + C),
        Xe(G + C), At(reinterpret_cast<float(*)[C]>(heap.data() + (size_t)K * VB + 6 * (size_t)C * K)), Kt(At + K) {}
  // The log-decay row of token u - 1 (zeros before the chunk's first).
  const float *prevG(int u) const {
    static const float zeros[K] = {};
    return u == 0 ? zeros : G[u - 1];
  }
  float prevGs(int u) const { return u == 0 ? 0.f : gs[u - 1]; }
};

// The UT form's task grid (forEachChunkTask): the rows of q, a, b, k, the
// decays and the value block. With no or a scalar decay a and k also go in
// as columns (At, Kt: the Gram products read them so).
template <int K, int VIN, int VB, int C, int DW, typename RowFn, typename Body>
void forEachUtChunk(const ScanArgs &p, int threads, RowFn rowOf, Body body) {
  using Tile = UtChunkTile<K, VB, C, DW>;
  forEachChunkTask<Tile, K, VIN, VB, C>(
      p, threads, rowOf,
      [](Tile &c, int u, const TokenRow<K, VIN> &r) {
        for (int i = 0; i < K; ++i) c.Q[u][i] = r.q[i];
        for (int i = 0; i < K; ++i) c.Ar[u][i] = r.a[i];
        for (int i = 0; i < K; ++i) c.Br[u][i] = r.b[i];
        for (int i = 0; i < K; ++i) c.Kr[u][i] = r.k[i];
        if constexpr (DW != K)
          for (int i = 0; i < K; ++i) c.At[i][u] = r.a[i], c.Kt[i][u] = r.k[i];
        if constexpr (DW == K)
          for (int i = 0; i < K; ++i) c.G[u][i] = r.decay[i];
        else if constexpr (DW == 1)
          c.gs[u] = r.decay[0];
        for (int j = 0; j < VB; ++j) c.Vc[u][j] = j < c.width ? r.v[c.j0 + j] : 0.f;
      },
      body);
}

// Sum of a row buffer of K products in vector lanes (a float sum is not
// reassociated: the products' loop stays vectorized and this adds).
template <int K> inline float laneSum(const float *tmp) {
  vec<kBuildLanes> accv{};
  int i = 0;
  for (; i + kBuildLanes <= K; i += kBuildLanes) accv += loadV(tmp + i);
  float sum = 0.f;
  for (int l = 0; l < kBuildLanes; ++l) sum += accv[l];
  for (; i < K; ++i) sum += tmp[i];
  return sum;
}

// Per-key decays: out1 and out2 from the rows X1 (log-decays Gx1 of row t)
// and X2 (Gx2) against the rows Y: out[t][s] = sum_i X[t][i] Y[s][i]
// exp(Gx[t][i] - G[s][i]) for s < t (Strict) or s <= t. By sub-blocks of 16
// rows, each against the columns before it through a reference point, the
// cumulative decay G[m] of its middle token: X . exp(Gx - G[m]) times
// (Y . exp(G[m] - G))^T, the columns' scaling shared by X1 and X2. The
// sub-block's own pairs are in the same product where every factor stays
// within e^80 (kMaxFactorLog; the products then neither overflow nor lose
// what matters to underflow), else element by element in log space (decays
// stronger than about -10 per token: strong-decay.test).
template <bool Strict, int LN, int NV, int K, int VB, int C, int DW, typename Gx1, typename Gx2>
inline void decayedGramKeys(UtChunkTile<K, VB, C, DW> &c, const float (*X1)[K], Gx1 gx1, float (*out1)[C],
                            const float (*X2)[K], Gx2 gx2, float (*out2)[C], const float (*Y)[K], float (*Yt)[C]) {
  constexpr int SB = 16, R = 4;
  constexpr float kMaxFactorLog = 80.f;
  const int L = c.L;
  alignas(64) float tmp[K];
  for (int r0 = 0; r0 < L; r0 += SB) {
    const int r1 = std::min(L, r0 + SB);
    const float *mid = c.G[(r0 + r1 - 1) / 2];
    float widest = 0.f; // the largest exponent the sub-block's own pairs would factor into
    for (int u = r0; u < r1; ++u) {
      const float *g1 = gx1(u), *g2 = gx2(u);
      for (int i = 0; i < K; ++i)
        tmp[i] = std::max(std::max(g1[i] - mid[i], g2[i] - mid[i]), mid[i] - c.G[u][i]);
      for (int i = 0; i < K; ++i) widest = std::max(widest, tmp[i]);
    }
    const bool factored = widest <= kMaxFactorLog;
    // Otherwise the earlier columns through the token before the sub-block
    // (every exponent <= 0; the first sub-block has none).
    const int jEnd = factored ? r1 : r0;
    const float *ref = factored || r0 == 0 ? mid : c.G[r0 - 1];
    for (int j = 0; j < jEnd; ++j) {
      for (int i = 0; i < K; ++i) tmp[i] = Y[j][i] * fastExp(ref[i] - c.G[j][i]);
      for (int i = 0; i < K; ++i) Yt[i][j] = tmp[i];
    }
    for (int x = 0; x < 2; ++x) {
      const float(*X)[K] = x == 0 ? X1 : X2;
      float(*out)[C] = x == 0 ? out1 : out2;
      if (jEnd > 0)
        for (int u = r0; u < r1; ++u) {
          const float *g = x == 0 ? gx1(u) : gx2(u);
          for (int i = 0; i < K; ++i) c.Xe[u][i] = X[u][i] * fastExp(g[i] - ref[i]);
        }
      for (int i0 = r0; i0 < r1; i0 += R) {
        alignas(64) float acc[R][C];
        if (jEnd > 0) blockRowsTimes<R, K, C, LN, NV>(c.Xe, i0, r1, Yt, (jEnd + 15) / 16 * 16, acc);
        for (int r2 = 0; r2 < R && i0 + r2 < r1; ++r2) {
          const int u = i0 + r2, last = std::min(jEnd, Strict ? u : u + 1);
          for (int j = 0; j < C; ++j) out[u][j] = j < last ? acc[r2][j] : 0.f;
        }
      }
    }
    if (!factored)
      for (int u = r0; u < r1; ++u) {
        const float *g1 = gx1(u), *g2 = gx2(u);
        for (int j = r0; j < u + (Strict ? 0 : 1); ++j) {
          for (int i = 0; i < K; ++i) tmp[i] = X1[u][i] * Y[j][i] * fastExp(g1[i] - c.G[j][i]);
          out1[u][j] = laneSum<K>(tmp);
          for (int i = 0; i < K; ++i) tmp[i] = X2[u][i] * Y[j][i] * fastExp(g2[i] - c.G[j][i]);
          out2[u][j] = laneSum<K>(tmp);
        }
      }
  }
}

// No or a scalar decay: out[t][s] = (X[t] . Y[s]) exp(gx(t) - g_s) for s < t
// (Strict) or s <= t, from Y's columns Yt, R rows at a time (blockRowsTimes).
template <bool Strict, int LN, int NV, int K, int VB, int C, int DW, typename Gx>
inline void decayedGramScalar(UtChunkTile<K, VB, C, DW> &c, const float (*X)[K], Gx gx, const float (*Yt)[C],
                              float (*out)[C]) {
  constexpr int R = 4;
  const int L = c.L;
  alignas(64) float g[C];
  for (int u = 0; u < C; ++u) g[u] = DW == 1 && u < L ? c.gs[u] : 0.f;
  for (int i0 = 0; i0 < L; i0 += R) {
    const int jMax = std::min(C, (i0 + R + 15) / 16 * 16);
    alignas(64) float acc[R][C];
    blockRowsTimes<R, K, C, LN, NV>(X, i0, L, Yt, jMax, acc);
    for (int r2 = 0; r2 < R && i0 + r2 < L; ++r2) {
      const int i = i0 + r2;
      const float gi = DW == 1 ? gx(i) : 0.f;
      for (int j = 0; j < C; ++j) {
        const bool in = Strict ? j < i : j <= i;
        float e = 1.f;
        if constexpr (DW == 1) e = fastExp(std::min(gi - g[std::min(j, L - 1)], 0.f));
        out[i][j] = in && j < jMax ? acc[r2][j] * e : 0.f;
      }
    }
  }
}

// mixer.chunk_ut's triangular system: L and M (b_t against a_s and k_s,
// s < t, decayed from s to t - 1), and chunk_ut_output's Aqa and Aqk (q_t
// against a_s and k_s, s <= t, decayed from s to t).
template <int LN, int NV, int K, int VB, int C, int DW> inline void chunkUtSystem(UtChunkTile<K, VB, C, DW> &c) {
  if constexpr (DW == K) {
    auto prev = [&](int u) { return c.prevG(u); };
    auto cur = [&](int u) { return (const float *)c.G[u]; };
    decayedGramKeys<true, LN, NV>(c, c.Br, prev, c.Lm, c.Q, cur, c.Aqa, c.Ar, c.At);
    // (Aqa is causal: its diagonal added below.)
    decayedGramKeys<true, LN, NV>(c, c.Br, prev, c.Mm, c.Q, cur, c.Aqk, c.Kr, c.Kt);
    alignas(64) float tmp[K];
    for (int u = 0; u < c.L; ++u) {
      for (int i = 0; i < K; ++i) tmp[i] = c.Q[u][i] * c.Ar[u][i];
      c.Aqa[u][u] = laneSum<K>(tmp);
      for (int i = 0; i < K; ++i) tmp[i] = c.Q[u][i] * c.Kr[u][i];
      c.Aqk[u][u] = laneSum<K>(tmp);
    }
  } else {
    auto prev = [&](int u) { return c.prevGs(u); };
    auto cur = [&](int u) { return c.gs[u]; };
    decayedGramScalar<true, LN, NV>(c, c.Br, prev, c.At, c.Lm);
    decayedGramScalar<true, LN, NV>(c, c.Br, prev, c.Kt, c.Mm);
    decayedGramScalar<false, LN, NV>(c, c.Q, cur, c.At, c.Aqa);
    decayedGramScalar<false, LN, NV>(c, c.Q, cur, c.Kt, c.Aqk);
  }
}

// Rows of X weighted by their decays Γ_x (exp of the log-decay rows gx(u)),
// for the state products: per key, written into the tile's Xe (returned);
// a scalar decay weighs the product's rows instead (rowsTimesState).
template <int K, int VB, int C, int DW, typename Gx>
MIXC_TILE_OP const float (*decayedRows(UtChunkTile<K, VB, C, DW> &c, const float (*X)[K], Gx gx))[K] {
  if constexpr (DW != K) return X;
  for (int u = 0; u < c.L; ++u) {
    const float *g = gx(u);
    for (int i = 0; i < K; ++i) c.Xe[u][i] = X[u][i] * fastExp(g[i]);
  }
  return c.Xe;
}

// acc = (Γ_x . X) S for the R rows from i0 (Xs from decayedRows; a scalar
// decay's exp(gs(u)) weighs each row here).
template <int R, int LN, int NV, int K, int VB, int C, int DW, typename Gs>
MIXC_TILE_OP void rowsTimesState(const UtChunkTile<K, VB, C, DW> &c, const float (*Xs)[K], int i0, Gs gs,
                                 float (*acc)[VB]) {
  blockRowsTimes<R, K, VB, LN, NV>(Xs, i0, c.L, c.st, VB, acc);
  if constexpr (DW == 1 && DW != K)
    for (int r2 = 0; r2 < R; ++r2) {
      const float e = i0 + r2 < c.L ? fastExp(gs(i0 + r2)) : 1.f;
      for (int j = 0; j < VB; ++j) acc[r2][j] *= e;
    }
}

// mixer.chunk_ut applied to the entering state: the write vectors
// W = (I - L)^{-1} ((Γ_{t-1} . B) S_0 + M V), R rows of the right-hand side
// at a time, then forward substitution row by row over the value block.
template <int LN, int NV, int K, int VB, int C, int DW> MIXC_TILE_OP void chunkUtSolve(UtChunkTile<K, VB, C, DW> &c) {
  constexpr int R = 4;
  const int L = c.L;
  const float(*Bs)[K] = decayedRows(c, c.Br, [&](int u) { return c.prevG(u); });
  for (int i0 = 0; i0 < L; i0 += R) {
    alignas(64) float acc[R][VB];
    rowsTimesState<R, LN, NV>(c, Bs, i0, [&](int u) { return c.prevGs(u); }, acc);
    addMaskedTimesV<R, C, VB, LN, NV>(c.Mm, c.Vc, i0, L, acc);
    for (int r2 = 0; r2 < R && i0 + r2 < L; ++r2) std::copy_n(acc[r2], VB, c.W[i0 + r2]);
  }
  for (int t = 1; t < L; ++t)
    forColumnTiles<LN, NV>(VB, [&](auto LW, auto G, int j0) {
      constexpr int lw = decltype(LW)::value, g = decltype(G)::value;
      vec<lw> a[1][g];
      for (int v = 0; v < g; ++v) a[0][v] = loadV<lw>(c.W[t] + j0 + v * lw);
      accumulateTile<1, lw, g>(a, t, [&](int, int s) { return c.Lm[t][s]; }, [&](int s) { return c.W[s] + j0; });
      for (int v = 0; v < g; ++v) storeV<lw>(c.W[t] + j0 + v * lw, a[0][v]);
    });
}

// mixer.chunk_ut_output: O = scale ((Γ . Q) S_0 + Aqa W + Aqk V), written to
// the chunk's output rows.
template <int LN, int NV, int K, int VB, int C, int DW>
MIXC_TILE_OP void chunkUtOutput(UtChunkTile<K, VB, C, DW> &c, float scale) {
  constexpr int R = 4;
  const int L = c.L;
  const float(*Qs)[K] = decayedRows(c, c.Q, [&](int u) { return (const float *)c.G[u]; });
  for (int i0 = 0; i0 < L; i0 += R) {
    alignas(64) float acc[R][VB];
    rowsTimesState<R, LN, NV>(c, Qs, i0, [&](int u) { return c.gs[u]; }, acc);
    addMaskedTimesV<R, C, VB, LN, NV>(c.Aqa, c.W, i0, L, acc);
    addMaskedTimesV<R, C, VB, LN, NV>(c.Aqk, c.Vc, i0, L, acc);
    storeOutputRows<R>(c, i0, acc, scale);
  }
}

// mixer.chunk_ut_states and chunk_walk, fused: the walk's step for this
// chunk, S <- Diag(Γ_L) S + (A . Γ_L / Γ)^T W + (K . Γ_L / Γ)^T V (the chunk
// transition A_c never formed: it is Γ_L I plus a rank-L term through W).
template <int LN, int NV, int K, int VB, int C, int DW> MIXC_TILE_OP void chunkUtWalk(UtChunkTile<K, VB, C, DW> &c) {
  constexpr int R = 4;
  const int L = c.L;
  if constexpr (DW == K) {
    const float *gL = c.G[L - 1];
    alignas(64) float tmp[K];
    for (int u = 0; u < L; ++u) {
      for (int i = 0; i < K; ++i) tmp[i] = fastExp(gL[i] - c.G[u][i]);
      for (int i = 0; i < K; ++i) c.At[i][u] = c.Ar[u][i] * tmp[i];
      for (int i = 0; i < K; ++i) c.Kt[i][u] = c.Kr[u][i] * tmp[i];
    }
    chunkStateUpdate<R, K, C, VB, LN, NV>(c.st, [&](int k) { return fastExp(gL[k]); }, c.At, c.W, L);
  } else {
    float eL = 1.f;
    if constexpr (DW == 1) {
      alignas(64) float w[C];
      for (int u = 0; u < L; ++u) w[u] = fastExp(c.gs[L - 1] - c.gs[u]);
      for (int i = 0; i < K; ++i) // along the transposes' rows: contiguous, vectorized
        for (int u = 0; u < L; ++u) c.At[i][u] *= w[u], c.Kt[i][u] *= w[u];
      eL = fastExp(c.gs[L - 1]);
    }
    chunkStateUpdate<R, K, C, VB, LN, NV>(c.st, [&](int) { return eL; }, c.At, c.W, L);
  }
  chunkStateUpdate<R, K, C, VB, LN, NV>(c.st, [&](int) { return 1.f; }, c.Kt, c.Vc, L);
}

} // namespace mixc::cpu

#endif
