// Part of the CPU tile library (mixc_cpu.h): the chunked forms (SSD for
// identity and scalar decays, GLA for vector decays) and their register-tiled
// products.
#ifndef MIXC_CPU_CHUNKED_H
#define MIXC_CPU_CHUNKED_H

#include "mixc_cpu.h"

namespace mixc::cpu {

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

// Writes the R output rows from chunk row i0 (those before L), scaled, into
// o at the tokens of chunk c0 (in scan order: reversed for a reverse scan).
template <int R, int VB>
inline void storeChunkRows(const ScanArgs &p, const float (*acc)[VB], int64_t c0, int i0, int L, int64_t b,
                           int64_t h, int64_t j0, int64_t width) {
  for (int r = 0; r < R && i0 + r < L; ++r) {
    const int64_t step = c0 + i0 + r, t = p.reverse ? p.T - 1 - step : step;
    float *out = p.o + ((b * p.T + t) * p.H + h) * p.Vs + j0;
    for (int j = 0; j < width; ++j) out[j] = p.scale * acc[r][j];
  }
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

// The chunked schedule for identity and scalar decays (the SSD form,
// docs/cpu-backend.md): per chunk of C tokens, with b the cumulative log-decay,
//   O = ((Q K^T) . M . exp(b_i - b_j)) V + Diag(exp(b)) Q S,
//   S <- exp(b_C) S + (Diag(exp(b_C - b)) K)^T V.
// Differences of cumulative sums keep every exponent <= 0. The products are
// ordered so that a row of the state (or of the output) stays in registers
// while the other operand streams from L1.
template <Structure S, int K, int VIN, int VB, int LN, int NV, int C, bool LogDecay, typename RowFn>
void scanChunkedSSD(const ScanArgs &p, int threads, RowFn rowOf) {
  static_assert(S == Structure::identity || S == Structure::const_scalar || S == Structure::scalar,
                "the SSD form covers identity and scalar decays");
  const int64_t B = p.B, T = p.T, H = p.H, V = p.Vs;
  const int64_t blocks = (V + VB - 1) / VB;
  parallelFor(B * H * blocks, threads, [&](int64_t task) {
    const int64_t blk = task % blocks, bh = task / blocks, b = bh / H, h = bh % H;
    const int64_t j0 = blk * VB, width = std::min<int64_t>(VB, V - j0);
    // The state block, Q and Kt grow with K (Based's feature map gives K in
    // the thousands): they live on the heap, the C x C and C x VB tiles on the
    // stack. Kt is K transposed, so that Q K^T accumulates rows of A (a float
    // sum is not reassociated, so a dot product along K would not vectorize).
    std::vector<float> heap((size_t)K * VB + (size_t)C * K + (size_t)K * C);
    auto *st = reinterpret_cast<float(*)[VB]>(heap.data());
    auto *Q = reinterpret_cast<float(*)[K]>(heap.data() + (size_t)K * VB);
    auto *Kt = reinterpret_cast<float(*)[C]>(heap.data() + (size_t)K * VB + (size_t)C * K);
    alignas(64) float Vc[C][VB], A[C][C];
    float cum[C], g[C];
    for (int i = 0; i < K; ++i) {
      for (int j = 0; j < VB; ++j)
        st[i][j] = (p.init && j < width) ? p.init[((b * H + h) * K + i) * p.Vs + j0 + j] : 0.f;
      for (int u = 0; u < C; ++u) Kt[i][u] = 0.f; // columns past a short last chunk are computed, never read
    }
    TokenRow<K, VIN> r;
    for (int64_t c0 = 0; c0 < T; c0 += C) {
      const int L = (int)std::min<int64_t>(C, T - c0);
      for (int u = 0; u < L; ++u) {
        const int64_t step = c0 + u, t = p.reverse ? T - 1 - step : step;
        rowOf(b, t, h, r);
        for (int i = 0; i < K; ++i) Q[u][i] = r.q[i], Kt[i][u] = r.k[i];
        for (int j = 0; j < VB; ++j) Vc[u][j] = j < width ? r.v[j0 + j] : 0.f;
        g[u] = S == Structure::identity ? 0.f : LogDecay ? r.decay[0] : safeLog(r.decay[0]);
      }
      float acc = 0.f;
      for (int u = 0; u < L; ++u) cum[u] = acc += g[u];
      const float bL = cum[L - 1];
      // The three products below are register-blocked over R rows (see
      // blockRowsTimes).
      constexpr int R = 4;
      // A = (Q K^T) . M . exp(b_i - b_j), masked to j <= i: only the columns up
      // to the block's diagonal (rounded up to 16) are computed.
      for (int i0 = 0; i0 < L; i0 += R) {
        const int jMax = std::min(C, (i0 + R + 15) / 16 * 16);
        alignas(64) float acc[R][C];
        blockRowsTimes<R, K, C, LN, NV>(Q, i0, L, Kt, jMax, acc);
        for (int r2 = 0; r2 < R && i0 + r2 < L; ++r2) {
          const int i = i0 + r2;
          for (int j = 0; j < jMax; ++j) {
            float e = S == Structure::identity ? 1.f : fastExp(std::min(cum[i] - cum[std::min(j, L - 1)], 0.f));
            A[i][j] = j <= i ? acc[r2][j] * e : 0.f;
          }
        }
      }
      // O = Diag(exp(b)) Q S + A V, R rows at a time.
      for (int i0 = 0; i0 < L; i0 += R) {
        alignas(64) float acc[R][VB];
        blockRowsTimes<R, K, VB, LN, NV>(Q, i0, L, st, VB, acc);
        for (int r2 = 0; r2 < R; ++r2) {
          const float e = S == Structure::identity || i0 + r2 >= L ? 1.f : fastExp(cum[i0 + r2]);
          for (int j = 0; j < VB; ++j) acc[r2][j] *= e;
        }
        addMaskedTimesV<R, C, VB, LN, NV>(A, Vc, i0, L, acc);
        storeChunkRows<R, VB>(p, acc, c0, i0, L, b, h, j0, width);
      }
      // S <- exp(b_L) S + (Diag(exp(b_L - b)) K)^T V: the key columns scaled in
      // place (the chunk's A is done with them).
      if (S != Structure::identity)
        for (int u = 0; u < L; ++u) {
          const float gu = fastExp(bL - cum[u]);
          for (int i = 0; i < K; ++i) Kt[i][u] *= gu;
        }
      const float eL = S == Structure::identity ? 1.f : fastExp(bL);
      chunkStateUpdate<R, K, C, VB, LN, NV>(st, [&](int) { return eL; }, Kt, Vc, L);
    }
    for (int i = 0; i < K; ++i)
      for (int j = 0; j < width; ++j) p.state[((b * H + h) * K + i) * p.Vs + j0 + j] = st[i][j];
  });
}

// The chunked schedule for vector decays (the GLA form, docs/cpu-backend.md): per
// chunk of C tokens, with B[u][i] the cumulative log-decay of key i up to
// token u,
//   O = A V + (Q . exp(B)) S,  A[u][j] = sum_i Q[u][i] K[j][i] exp(B[u][i] - B[j][i]) (j <= u),
//   S <- Diag(exp(B[L-1])) S + (K . exp(B[L-1] - B))^T V.
// Factoring A as (Q . exp(B)) (K . exp(-B))^T would overflow, so A is built
// by sub-blocks of 16 rows: against the earlier rows through the reference
// point r = B[r0 - 1] of the sub-block (Q . exp(B - r) and K . exp(r - B):
// both exponents <= 0), and within the sub-block element by element in log
// space. Every exponent is <= 0.
template <Structure S, int K, int VIN, int VB, int LN, int NV, int C, bool LogDecay, typename RowFn>
void scanChunkedGLA(const ScanArgs &p, int threads, RowFn rowOf) {
  static_assert(S == Structure::vector, "the GLA form covers vector decays");
  static_assert(C % 16 == 0, "sub-blocks of 16");
  constexpr int SB = 16;
  const int64_t B = p.B, T = p.T, H = p.H, V = p.Vs;
  const int64_t blocks = (V + VB - 1) / VB;
  parallelFor(B * H * blocks, threads, [&](int64_t task) {
    const int64_t blk = task % blocks, bh = task / blocks, b = bh / H, h = bh % H;
    const int64_t j0 = blk * VB, width = std::min<int64_t>(VB, V - j0);
    // Rows of q, k and the cumulative log-decays; Qe = Q . exp(B - ref) (per
    // sub-block) or Q . exp(B); Kt = the keys transposed and scaled.
    std::vector<float> heap((size_t)K * VB + 4 * (size_t)C * K + (size_t)K * C);
    auto *st = reinterpret_cast<float(*)[VB]>(heap.data());
    auto *Qr = reinterpret_cast<float(*)[K]>(heap.data() + (size_t)K * VB);
    auto *Kr = Qr + C, *Bc = Kr + C, *Qe = Bc + C;
    auto *Kt = reinterpret_cast<float(*)[C]>(heap.data() + (size_t)K * VB + 4 * (size_t)C * K);
    alignas(64) float Vc[C][VB], A[C][C];
    for (int i = 0; i < K; ++i) {
      for (int j = 0; j < VB; ++j)
        st[i][j] = (p.init && j < width) ? p.init[((b * H + h) * K + i) * p.Vs + j0 + j] : 0.f;
      for (int u = 0; u < C; ++u) Kt[i][u] = 0.f;
    }
    TokenRow<K, VIN> r;
    constexpr int R = 4;
    alignas(64) float tmp[K];
    // Column j of Kt = row j of K . exp(ref - B[j]) (elementwise in a row
    // buffer, so that the exponentials vectorize).
    auto scaledKeyColumn = [&](int j, const float *ref) {
      for (int i = 0; i < K; ++i) tmp[i] = Kr[j][i] * fastExp(ref[i] - Bc[j][i]);
      for (int i = 0; i < K; ++i) Kt[i][j] = tmp[i];
    };
    for (int64_t c0 = 0; c0 < T; c0 += C) {
      const int L = (int)std::min<int64_t>(C, T - c0);
      for (int u = 0; u < L; ++u) {
        const int64_t step = c0 + u, t = p.reverse ? T - 1 - step : step;
        rowOf(b, t, h, r);
        for (int i = 0; i < K; ++i) {
          const float g = LogDecay ? r.decay[i] : safeLog(r.decay[i]);
          Qr[u][i] = r.q[i], Kr[u][i] = r.k[i], Bc[u][i] = (u ? Bc[u - 1][i] : 0.f) + g;
        }
        for (int j = 0; j < VB; ++j) Vc[u][j] = j < width ? r.v[j0 + j] : 0.f;
      }
      // A, one sub-block of rows at a time.
      for (int r0 = 0; r0 < L; r0 += SB) {
        const int r1 = std::min(L, r0 + SB);
        for (int u = r0; u < r1; ++u) std::fill_n(A[u], C, 0.f);
        if (r0 > 0) { // the earlier rows, through the reference point B[r0 - 1]
          const float *ref = Bc[r0 - 1];
          for (int j = 0; j < r0; ++j) scaledKeyColumn(j, ref);
          for (int u = r0; u < r1; ++u)
            for (int i = 0; i < K; ++i) Qe[u][i] = Qr[u][i] * fastExp(Bc[u][i] - ref[i]);
          for (int i0 = r0; i0 < r1; i0 += R) {
            alignas(64) float acc[R][C];
            blockRowsTimes<R, K, C, LN, NV>(Qe, i0, r1, Kt, (r0 + 15) / 16 * 16, acc);
            for (int r2 = 0; r2 < R && i0 + r2 < r1; ++r2)
              for (int j = 0; j < r0; ++j) A[i0 + r2][j] = acc[r2][j];
          }
        }
        for (int u = r0; u < r1; ++u) // within the sub-block: log space, element by element
          for (int j = r0; j <= u; ++j) {
            for (int i = 0; i < K; ++i) tmp[i] = Qr[u][i] * Kr[j][i] * fastExp(Bc[u][i] - Bc[j][i]);
            // The sum in vector lanes (a float sum is not reassociated, so
            // the loop above keeps the exponentials vectorized and this adds).
            vec<kBuildLanes> accv{};
            int i = 0;
            for (; i + kBuildLanes <= K; i += kBuildLanes) accv += loadV(tmp + i);
            float sum = 0.f;
            for (int l = 0; l < kBuildLanes; ++l) sum += accv[l];
            for (; i < K; ++i) sum += tmp[i];
            A[u][j] = sum;
          }
      }
      // O = (Q . exp(B)) S + A V, R rows at a time.
      for (int u = 0; u < L; ++u)
        for (int i = 0; i < K; ++i) Qe[u][i] = Qr[u][i] * fastExp(Bc[u][i]);
      for (int i0 = 0; i0 < L; i0 += R) {
        alignas(64) float acc[R][VB];
        blockRowsTimes<R, K, VB, LN, NV>(Qe, i0, L, st, VB, acc);
        addMaskedTimesV<R, C, VB, LN, NV>(A, Vc, i0, L, acc);
        storeChunkRows<R, VB>(p, acc, c0, i0, L, b, h, j0, width);
      }
      // S <- Diag(exp(B[L-1])) S + (K . exp(B[L-1] - B))^T V.
      const float *bL = Bc[L - 1];
      for (int u = 0; u < L; ++u) scaledKeyColumn(u, bL);
      chunkStateUpdate<R, K, C, VB, LN, NV>(st, [&](int k) { return fastExp(bL[k]); }, Kt, Vc, L);
    }
    for (int i = 0; i < K; ++i)
      for (int j = 0; j < width; ++j) p.state[((b * H + h) * K + i) * p.Vs + j0 + j] = st[i][j];
  });
}

} // namespace mixc::cpu

#endif
