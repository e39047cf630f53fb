// Part of the CPU tile library (mixc_cpu.h): the chunk-level ops' primitives
// (the SSD form for identity and scalar decays, GLA's for per-key decays) on a
// task's tiles, their register-tiled products, and the task grid they run in.
// CpuTarget prints each kernel's body from the chunk-level IR.
#ifndef MIXC_CPU_CHUNKED_H
#define MIXC_CPU_CHUNKED_H

#include "mixc_cpu.h"

namespace mixc::cpu {

// The chunk-level primitives are inlined into the printed chunk loop: as
// calls, the compiler reloaded the task's tile pointers and scalars around
// them (RetNet at K = 128 on AVX2 ran 14% slower than inlined). The GLA
// form's scores stay a call: inlined they cost GLA at K = 256 on AVX2 17%.
#define MIXC_TILE_OP __attribute__((always_inline)) inline

// Column tiles of the chunked forms' products: f(Int<LW>{}, Int<NV>{}, j0)
// for the columns [j0, j0 + NV * LW) of [0, n): tiles of NV vectors of LN
// lanes (R rows x NV accumulators fit the registers: mixer-tile's reg_block),
// then single vectors, then single columns.
template <int LN, int NV, typename F> inline void forColumnTiles(int n, F f) {
  int j0 = 0;
  for (; j0 + NV * LN <= n; j0 += NV * LN) f(Int<LN>{}, Int<NV>{}, j0);
  for (; j0 + LN <= n; j0 += LN) f(Int<LN>{}, Int<1>{}, j0);
  for (; j0 < n; ++j0) f(Int<1>{}, Int<1>{}, j0);
}

// The register tile every product of the chunked forms accumulates:
// a[r][0..g) += sum_{u < n} coef(r, u) * row(u)[0 .. g lw), R rows of g
// vectors, each row(u) loaded once for all R rows.
template <int R, int lw, int g, typename Coef, typename Row>
inline void accumulateTile(vec<lw> (&a)[R][g], int n, Coef coef, Row row) {
  for (int u = 0; u < n; ++u) {
    const float *bu = row(u);
    vec<lw> x[g];
    for (int v = 0; v < g; ++v) x[v] = loadV<lw>(bu + v * lw);
    for (int r = 0; r < R; ++r) {
      const float c = coef(r, u);
      for (int v = 0; v < g; ++v) a[r][v] += c * x[v];
    }
  }
}
template <int R, int lw, int g, int N> inline void storeTile(float (*acc)[N], int j0, const vec<lw> (&a)[R][g]) {
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < g; ++v) storeV<lw>(acc[r] + j0 + v * lw, a[r][v]);
}

// acc[r][0..n) = sum_k Q[i0 + r][k] * M[k][0..n) for the R rows from i0 (rows
// at or past L count as zero): per column tile, R rows accumulate together in
// registers, so each row of M is loaded once per R rows and R x NV
// independent FMA chains hide the FMA latency.
template <int R, int K, int N, int LN, int NV>
inline void blockRowsTimes(const float (*Q)[K], int i0, int L, const float (*M)[N], int n, float (*acc)[N]) {
  forColumnTiles<LN, NV>(n, [&](auto LW, auto G, int j0) {
    constexpr int lw = decltype(LW)::value, g = decltype(G)::value;
    vec<lw> a[R][g] = {};
    accumulateTile<R, lw, g>(
        a, K, [&](int r, int k) { return i0 + r < L ? Q[i0 + r][k] : 0.f; }, [&](int k) { return M[k] + j0; });
    storeTile<R, lw, g>(acc, j0, a);
  });
}

// acc[r] += sum_j A[i0 + r][j] V[j] over the chunk's columns j up to the R
// rows' diagonal (A is zero above it; rows at or past L take nothing).
template <int R, int C, int VB, int LN, int NV>
inline void addMaskedTimesV(const float (*A)[C], const float (*Vc)[VB], int i0, int L, float (*acc)[VB]) {
  const int jEnd = std::min(i0 + R, L);
  forColumnTiles<LN, NV>(VB, [&](auto LW, auto G, int j0) {
    constexpr int lw = decltype(LW)::value, g = decltype(G)::value;
    vec<lw> a[R][g];
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < g; ++v) a[r][v] = loadV<lw>(acc[r] + j0 + v * lw);
    accumulateTile<R, lw, g>(
        a, jEnd, [&](int r, int jj) { return i0 + r < L ? A[i0 + r][jj] : 0.f; }, [&](int jj) { return Vc[jj] + j0; });
    storeTile<R, lw, g>(acc, j0, a);
  });
}

// S <- Diag(d) S + W^T V over the chunk's L tokens (Wt = W^T, K x C), R rows
// of the state at a time (per column tile, in registers) so that each row of
// V is loaded once per R rows.
template <int R, int K, int C, int VB, int LN, int NV, typename RowDecay>
inline void chunkStateUpdate(float (*st)[VB], RowDecay d, const float (*Wt)[C], const float (*Vc)[VB], int L) {
  for (int k0 = 0; k0 < K; k0 += R) {
    float e[R];
    for (int r = 0; r < R; ++r) e[r] = k0 + r < K ? d(k0 + r) : 0.f;
    forColumnTiles<LN, NV>(VB, [&](auto LW, auto G, int j0) {
      constexpr int lw = decltype(LW)::value, g = decltype(G)::value;
      vec<lw> a[R][g];
      for (int r = 0; r < R; ++r)
        for (int v = 0; v < g; ++v) a[r][v] = k0 + r < K ? e[r] * loadV<lw>(st[k0 + r] + j0 + v * lw) : vec<lw>{};
      accumulateTile<R, lw, g>(
          a, L, [&](int r, int u) { return k0 + r < K ? Wt[k0 + r][u] : 0.f; }, [&](int u) { return Vc[u] + j0; });
      for (int r = 0; r < R && k0 + r < K; ++r)
        for (int v = 0; v < g; ++v) storeV<lw>(st[k0 + r] + j0 + v * lw, a[r][v]);
    });
  }
}

// Where a chunked kernel's task is (ChunkTile's and UtChunkTile's): sequence
// b, head h, value columns [j0, j0 + width), the sequence's length, and the
// current chunk, L tokens from step c0 (in scan order).
template <int K, int C, int DW> struct ChunkTask {
  static_assert(C % 16 == 0, "chunks of whole 16-row sub-blocks");
  static_assert(DW == 0 || DW == 1 || DW == K, "a decay row is empty, scalar or per key");
  static constexpr int kKeys = K, kDecayWidth = DW;
  const ScanArgs *p = nullptr;
  int64_t b = 0, h = 0, j0 = 0, width = 0, len = 0, c0 = 0;
  int L = 0;
  // Output row of chunk token u (the token's place in o, in either direction).
  float *outRow(int u) const {
    const int64_t step = c0 + u, t = p->reverse ? len - 1 - step : step;
    return p->o + (p->token(b, t) * p->H + h) * p->Vs + j0;
  }
};

// One task of the SSD / GLA forms (CpuTarget prints them from mixer.chunk_cumsum,
// chunk_scores, chunk_output, chunk_local_states + chunk_walk): the state
// block (the state entering the current chunk until the walk advances it)
// and the current chunk's rows. DW is the width of a token's log-decay row:
// 0 (identity), 1 (scalar) or K (per key).
template <int K, int VB, int C, int DW> struct ChunkTile : ChunkTask<K, C, DW> {
  // The state block, the rows (q, k, log-decays G: cumulative after
  // chunkCumsum; column 0 for a scalar decay), q scaled by the decays
  // and the keys transposed (Kt, K x C: Q K^T then accumulates rows).
  // They grow with K (Based's feature map gives K in the thousands): heap.
  std::vector<float> heap;
  float (*st)[VB], (*Q)[K], (*Kr)[K], (*G)[K], (*Qe)[K], (*Kt)[C];
  alignas(64) float Vc[C][VB], A[C][C];
  float gs[C]; // a scalar decay's log-decays (cumulative after chunkCumsum): contiguous, unlike G's column 0
  ChunkTile()
      : heap((size_t)K * VB + 4 * (size_t)C * K + (size_t)K * C), st(reinterpret_cast<float(*)[VB]>(heap.data())),
        Q(reinterpret_cast<float(*)[K]>(heap.data() + (size_t)K * VB)), Kr(Q + C), G(Kr + C), Qe(G + C),
        Kt(reinterpret_cast<float(*)[C]>(heap.data() + (size_t)K * VB + 4 * (size_t)C * K)) {}
};

// The task grid of the chunked kernels: one task per (sequence, head, value
// block), chunks in scan order. Each chunk's tokens come from the row
// function (the pre-processing, printed per spec) and `load(tile, u, row)`
// puts token u of the chunk into the tile; `body(tile)` is the chunk's ops.
// Packed sequences (cu_seqlens) chunk each sequence from its own start. Tile:
// ChunkTile or UtChunkTile (its state block `st`, where the task is, L).
template <typename Tile, int K, int VIN, int VB, int C, typename RowFn, typename Load, typename Body>
void forEachChunkTask(const ScanArgs &p, int threads, RowFn rowOf, Load load, Body body) {
  const int64_t B = p.B, H = p.H, V = p.Vs;
  const int64_t blocks = (V + VB - 1) / VB;
  parallelFor(B * H * blocks, threads, [&](int64_t task) {
    Tile c; // its tiles start zeroed: columns past a short last chunk are computed, never read
    const int64_t blk = task % blocks, bh = task / blocks;
    c.p = &p, c.b = bh / H, c.h = bh % H, c.j0 = blk * VB, c.width = std::min<int64_t>(VB, V - c.j0);
    c.len = p.len(c.b);
    const float *init = p.init ? p.init + (c.b * H + c.h) * K * V + c.j0 : nullptr;
    for (int i = 0; i < K; ++i)
      for (int j = 0; j < VB; ++j) c.st[i][j] = init && j < c.width ? init[i * V + j] : 0.f;
    TokenRow<K, VIN> r;
    // (No row prefetch as in the sweep: a chunk's products hide the rows'
    // latency, and the prefetches cost linear attention 4% on AVX2.)
    auto timeOf = [&](int64_t step) { return p.reverse ? c.len - 1 - step : step; };
    for (c.c0 = 0; c.c0 < c.len; c.c0 += C) {
      c.L = (int)std::min<int64_t>(C, c.len - c.c0);
      for (int u = 0; u < c.L; ++u) {
        rowOf(p.inB(c.b), p.inT(c.b, timeOf(c.c0 + u)), c.h, r);
        load(c, u, r);
      }
      body(c);
    }
    for (int i = 0; i < K; ++i)
      for (int j = 0; j < c.width; ++j) p.state[((c.b * H + c.h) * K + i) * V + c.j0 + j] = c.st[i][j];
  });
}

// The SSD / GLA forms' task grid. KeyColumns: the keys go into Kt as
// columns (K^T, what the SSD form's scores and walk read) instead of rows;
// transposing them later from rows cost Based (K = 273) 20% in L2 traffic.
template <int K, int VIN, int VB, int C, int DW, bool KeyColumns, typename RowFn, typename Body>
void forEachChunk(const ScanArgs &p, int threads, RowFn rowOf, Body body) {
  using Tile = ChunkTile<K, VB, C, DW>;
  forEachChunkTask<Tile, K, VIN, VB, C>(
      p, threads, rowOf,
      [](Tile &c, int u, const TokenRow<K, VIN> &r) {
        for (int i = 0; i < K; ++i) c.Q[u][i] = r.q[i];
        for (int i = 0; i < K; ++i) (KeyColumns ? c.Kt[i][u] : c.Kr[u][i]) = r.k[i];
        if constexpr (DW == K)
          for (int i = 0; i < K; ++i) c.G[u][i] = r.decay[i];
        else if constexpr (DW == 1)
          c.gs[u] = r.decay[0];
        for (int j = 0; j < VB; ++j) c.Vc[u][j] = j < c.width ? r.v[c.j0 + j] : 0.f;
      },
      body);
}

// mixer.chunk_cumsum: the log-decays summed from the chunk's first token
// (ChunkTile or UtChunkTile: a decay row of kDecayWidth values, per key in
// G when that is kKeys, else a scalar in gs).
template <typename Tile> MIXC_TILE_OP void chunkCumsum(Tile &c) {
  constexpr int K = Tile::kKeys, DW = Tile::kDecayWidth;
  for (int u = 1; u < c.L; ++u)
    if constexpr (DW == K)
      for (int i = 0; i < K; ++i) c.G[u][i] += c.G[u - 1][i];
    else if constexpr (DW == 1)
      c.gs[u] += c.gs[u - 1];
}

// mixer.chunk_scores with no decay or a scalar one (the SSD form), from the
// key columns Kt = K^T (loaded so: forEachChunk's KeyColumns):
// A = (Q K^T) . M . exp(G_i - G_j), masked to j <= i; only the columns up to
// each row block's diagonal (rounded up to 16) are computed. Register-blocked
// over R rows (blockRowsTimes). Differences of cumulative sums keep every
// exponent <= 0.
template <int LN, int NV, int K, int VB, int C, int DW> MIXC_TILE_OP void chunkScoresScalar(ChunkTile<K, VB, C, DW> &c) {
  static_assert(DW <= 1, "per-key decays take chunkScoresKeys");
  // (the keys are Kt's columns: forEachChunk<..., KeyColumns = true>)
  // The decays in a local array: read beside the stores to the tile's A,
  // the compiler could not tell them apart (RetNet 8% slower).
  constexpr int R = 4;
  const int L = c.L;
  alignas(64) float g[C];
  if constexpr (DW == 1)
    for (int u = 0; u < C; ++u) g[u] = u < L ? c.gs[u] : 0.f;
  for (int i0 = 0; i0 < L; i0 += R) {
    const int jMax = std::min(C, (i0 + R + 15) / 16 * 16);
    alignas(64) float acc[R][C];
    blockRowsTimes<R, K, C, LN, NV>(c.Q, i0, L, c.Kt, jMax, acc);
    for (int r2 = 0; r2 < R && i0 + r2 < L; ++r2) {
      const int i = i0 + r2;
      for (int j = 0; j < jMax; ++j) {
        float e = 1.f;
        if constexpr (DW == 1) e = fastExp(std::min(g[i] - g[std::min(j, L - 1)], 0.f));
        c.A[i][j] = j <= i ? acc[r2][j] * e : 0.f;
      }
    }
  }
}

// mixer.chunk_scores with per-key decays (the GLA form):
// A[u][j] = sum_i Q[u][i] K[j][i] exp(G[u][i] - G[j][i]) (j <= u). Factoring
// it as (Q . exp(G)) (K . exp(-G))^T would overflow, so A is built by
// sub-blocks of 16 rows: against the earlier rows through the reference point
// r = G[r0 - 1] of the sub-block (Q . exp(G - r) and K . exp(r - G): both
// exponents <= 0), and within the sub-block element by element in log space.
template <int LN, int NV, int K, int VB, int C, int DW> inline void chunkScoresKeys(ChunkTile<K, VB, C, DW> &c) {
  static_assert(DW == K, "scalar decays take chunkScoresScalar");
  constexpr int SB = 16, R = 4;
  const int L = c.L;
  // A row buffer of this function's own: as a member of the tile the
  // compiler had to assume it aliased the rows (GLA at K = 64 ran 8% slower).
  alignas(64) float tmp[K];
  for (int r0 = 0; r0 < L; r0 += SB) {
    const int r1 = std::min(L, r0 + SB);
    for (int u = r0; u < r1; ++u) std::fill_n(c.A[u], C, 0.f);
    if (r0 > 0) { // the earlier rows, through the reference point G[r0 - 1]
      const float *ref = c.G[r0 - 1];
      for (int j = 0; j < r0; ++j) {
        // Column j of Kt = row j of K . exp(ref - G[j]) (elementwise in a row
        // buffer, so that the exponentials vectorize).
        for (int i = 0; i < K; ++i) tmp[i] = c.Kr[j][i] * fastExp(ref[i] - c.G[j][i]);
        for (int i = 0; i < K; ++i) c.Kt[i][j] = tmp[i];
      }
      for (int u = r0; u < r1; ++u)
        for (int i = 0; i < K; ++i) c.Qe[u][i] = c.Q[u][i] * fastExp(c.G[u][i] - ref[i]);
      for (int i0 = r0; i0 < r1; i0 += R) {
        alignas(64) float acc[R][C];
        blockRowsTimes<R, K, C, LN, NV>(c.Qe, i0, r1, c.Kt, (r0 + 15) / 16 * 16, acc);
        for (int r2 = 0; r2 < R && i0 + r2 < r1; ++r2)
          for (int j = 0; j < r0; ++j) c.A[i0 + r2][j] = acc[r2][j];
      }
    }
    for (int u = r0; u < r1; ++u) // within the sub-block: log space, element by element
      for (int j = r0; j <= u; ++j) {
        for (int i = 0; i < K; ++i) tmp[i] = c.Q[u][i] * c.Kr[j][i] * fastExp(c.G[u][i] - c.G[j][i]);
        // The sum in vector lanes (a float sum is not reassociated, so the
        // loop above keeps the exponentials vectorized and this adds).
        vec<kBuildLanes> accv{};
        int i = 0;
        for (; i + kBuildLanes <= K; i += kBuildLanes) accv += loadV(tmp + i);
        float sum = 0.f;
        for (int l = 0; l < kBuildLanes; ++l) sum += accv[l];
        for (; i < K; ++i) sum += tmp[i];
        c.A[u][j] = sum;
      }
  }
}

// The R output rows from the chunk's token i0 (those before its end), scaled,
// into o (ChunkTile or UtChunkTile: its outRow).
template <int R, typename Tile, int VB>
MIXC_TILE_OP void storeOutputRows(const Tile &c, int i0, const float (&acc)[R][VB], float scale) {
  for (int r2 = 0; r2 < R && i0 + r2 < c.L; ++r2) {
    float *out = c.outRow(i0 + r2);
    for (int j = 0; j < c.width; ++j) out[j] = scale * acc[r2][j];
  }
}

// mixer.chunk_output: O = scale (A V + Diag(exp(G)) Q S) with S the state
// entering the chunk (per key: (Q . exp(G)) S), R rows at a time, written to
// the chunk's output rows.
template <int LN, int NV, int K, int VB, int C, int DW>
MIXC_TILE_OP void chunkOutput(ChunkTile<K, VB, C, DW> &c, float scale) {
  constexpr int R = 4;
  const int L = c.L;
  float(*Qs)[K] = c.Q;
  // A scalar decay (gs); a decay row of K = 1 keys is per key (G), as loaded.
  constexpr bool scalarDecay = DW == 1 && DW != K;
  alignas(64) float eg[C]; // exp of a scalar decay, a local array (see chunkScoresScalar)
  if constexpr (scalarDecay)
    for (int u = 0; u < L; ++u) eg[u] = fastExp(c.gs[u]);
  if constexpr (DW == K) {
    for (int u = 0; u < L; ++u)
      for (int i = 0; i < K; ++i) c.Qe[u][i] = c.Q[u][i] * fastExp(c.G[u][i]);
    Qs = c.Qe;
  }
  for (int i0 = 0; i0 < L; i0 += R) {
    alignas(64) float acc[R][VB];
    blockRowsTimes<R, K, VB, LN, NV>(Qs, i0, L, c.st, VB, acc);
    if constexpr (scalarDecay)
      for (int r2 = 0; r2 < R; ++r2) {
        const float e = i0 + r2 < L ? eg[i0 + r2] : 1.f;
        for (int j = 0; j < VB; ++j) acc[r2][j] *= e;
      }
    addMaskedTimesV<R, C, VB, LN, NV>(c.A, c.Vc, i0, L, acc);
    storeOutputRows<R>(c, i0, acc, scale);
  }
}

// mixer.chunk_local_states and chunk_walk, fused: the walk's step for this
// chunk, S <- Diag(exp(G_last)) S + (K . exp(G_last - G))^T V. The SSD form
// reads the key columns Kt, the GLA form the key rows.
template <int LN, int NV, int K, int VB, int C, int DW> MIXC_TILE_OP void chunkWalk(ChunkTile<K, VB, C, DW> &c) {
  constexpr int R = 4;
  const int L = c.L;
  const float *gL = c.G[L - 1];
  // Kt's columns scaled by the decay to the chunk's end: per key from the
  // rows (the GLA scores left Kt scaled otherwise), in place for a scalar
  // decay (the SSD form loads Kt = K^T), as they are without one.
  if constexpr (DW == K)
    for (int u = 0; u < L; ++u) {
      alignas(64) float tmp[K];
      for (int i = 0; i < K; ++i) tmp[i] = c.Kr[u][i] * fastExp(gL[i] - c.G[u][i]);
      for (int i = 0; i < K; ++i) c.Kt[i][u] = tmp[i];
    }
  else if constexpr (DW == 1) {
    alignas(64) float w[C];
    for (int u = 0; u < L; ++u) w[u] = fastExp(c.gs[L - 1] - c.gs[u]);
    for (int i = 0; i < K; ++i) // along Kt's rows: contiguous, vectorized
      for (int u = 0; u < L; ++u) c.Kt[i][u] *= w[u];
  }
  if constexpr (DW == K)
    chunkStateUpdate<R, K, C, VB, LN, NV>(c.st, [&](int k) { return fastExp(gL[k]); }, c.Kt, c.Vc, L);
  else {
    const float eL = DW == 1 ? fastExp(c.gs[L - 1]) : 1.f;
    chunkStateUpdate<R, K, C, VB, LN, NV>(c.st, [&](int) { return eL; }, c.Kt, c.Vc, L);
  }
}

} // namespace mixc::cpu

#endif
