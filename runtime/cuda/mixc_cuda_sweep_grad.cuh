// Part of the CUDA tile library (mixc_cuda.cuh): the backward of a recurrence
// with a low-rank term, S_t = D_t S_{t-1} + a_t (b_t^T S_{t-1}) + k_t v_t^T,
// o_t = c S_t^T q_t (the delta rules, KDA, RWKV-7), whose adjoint is not
// forward-shaped scans. Each kernel is a CTA per (value block, head,
// sequence) with its K x VB block of the state (or of dS) in registers, laid
// out as scanRecurrent's. Without a decay, three sweeps that store no state:
//   1. forward:  w_t = S_{t-1}^T b_t (a V-row per token: all the reverse sweep
//                needs of S_{t-1});
//   2. reverse:  dS_t = (the next token's A^T dS) + c q_t do_t^T, then
//                dv_t = dS_t^T k_t, dw_t = dS_t^T a_t (column sums, exact per
//                block), dk_t = dS_t v_t, da_t = dS_t w_t (row sums over the
//                block's columns: partial), and dS_{t-1} = D_t dS_t + b_t dw_t^T;
//   3. forward:  dq_t = c S_t do_t, db_t = S_{t-1} dw_t (partial).
// With a decay, whose gradient is rowsum(dS_t . D_t S_{t-1}) per token (times
// the decay for a log-decay's), the schedule's grad_checkpoint C: sweep 1
// also keeps the state at every C-th token, and the reverse sweep recomputes
// each stretch's states from its checkpoint (with sweep 1's w_t: no sums
// across lanes), so every token's step sees S_{t-1} and S_t beside dS_t and
// writes every gradient itself (no third sweep). A telescoped form that needs
// no states (a cumulative sum over the sequence of q dq + b db - a da - k dk)
// was used before: its terms cancel, and at T = 1000, K = V = 128 the decay
// parameters' gradient was off by 3e-4 in fp32; the direct product is not.
// The partial row sums of the value blocks are added in block order by
// another kernel (no atomics: the same inputs give the same bits).
#ifndef MIXC_CUDA_SWEEP_GRAD_CUH
#define MIXC_CUDA_SWEEP_GRAD_CUH

// test/unit/CudaEmulation.h defines MIXC_CUDA_EMULATION and the device
// helpers this file uses, and runs its kernels on host threads (the unit tests).
#ifndef MIXC_CUDA_EMULATION
#include "mixc_cuda.cuh"
#endif

namespace mixc::cuda {

// What the sweeps read beside the forward's ScanParams, and their scratch.
struct SweepGrad {
  View dO, dFinal;                   // (b, t, h, j); (n, h, k, v). A null view is zero.
  float *w = nullptr, *dw = nullptr; // [tokens, H, V]: S_{t-1}^T b_t; dS_t^T a_t (three sweeps only)
  float *part = nullptr;             // [sums][blocks][tokens, H, K]: row sums per value block
  float *ckpt = nullptr;             // [NS, H, stretches, K, V]: the state before every C-th token
  float *dv = nullptr, *dinit = nullptr; // [tokens, H, V]; [NS, H, K, V] (null: not wanted)
  int64_t Ttok = 0;                  // the token tensors' T (a token's row: b Ttok + t)
  int64_t slab = 0;                  // tokens x H x K
  int64_t blocks = 0, stretches = 0;
};

// The gradients, fp32 Tensors of the full per-token (per-sequence) shapes; a
// null one is not wanted. ddecay is [B, T, H] for a scalar diagonal.
// With the scaled low-rank form (ScanParams' aScale, kScale) dk and db are
// the k and b operands' gradients, daScale and dkScale [B, T, H] the scales'
// (launchDeltaGrad; da is not read).
struct SweepGradOut {
  Tensor dq, dk, da, db, ddecay;
  Tensor daScale, dkScale;
  // Outputs launchDeltaGrad stores itself (the caller's views; their
  // Tensors may be null): q's, k's, v's and b's gradients; dbIntoDk: b's
  // summed into k's output, not given apart.
  View dqTo, dkTo, dvTo, dbTo;
  bool dbIntoDk = false;
};
// x + y, elementwise (a fusedKernel functor)
struct SumOf {
  Tensor x, y;
  static constexpr bool indexed = false;
  __device__ float operator()(const int64_t *, int64_t e) const { return x.p[e] + y.p[e]; }
};

// Tokens staged per sweep through shared memory: up to 16, as many as fit
// beside the buffer of the row sums (static shared memory, 48 KiB).
__host__ __device__ constexpr int sweepStage(int kp, int vb, int warps) {
  int tc = 16;
  while (tc > 1 && tc * 4 * (5 * kp + 3 * vb + 1) + 4 * 2 * warps * kp > 46 * 1024) tc /= 2;
  return tc;
}

// Sums each of the N arrays over the CTA's value columns for every key row (a
// lane holds rows kg, kg + KG, ... of one column): the warp's column groups by
// shuffles, then the warps through shared memory in warp order; sink(i, sums)
// gets row i's sums. Every thread of the CTA must call it.
template <int KG, int KR, int WARPS, int N, typename Sink>
__device__ __forceinline__ void rowSums(float (&x)[N][KR], float *red, Sink sink) {
  constexpr int KP = KR * KG;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll
  for (int n = 0; n < N; ++n)
#pragma unroll
    for (int i = 0; i < KR; ++i)
#pragma unroll
      for (int off = KG; off < 32; off *= 2) x[n][i] += __shfl_xor_sync(0xffffffffu, x[n][i], off);
  if (lane < KG)
#pragma unroll
    for (int n = 0; n < N; ++n)
#pragma unroll
      for (int i = 0; i < KR; ++i) red[(n * WARPS + warp) * KP + i * KG + lane] = x[n][i];
  __syncthreads();
  for (int i = threadIdx.x; i < KP; i += WARPS * 32) {
    float s[N];
#pragma unroll
    for (int n = 0; n < N; ++n) {
      s[n] = 0.f;
      for (int w = 0; w < WARPS; ++w) s[n] += red[(n * WARPS + w) * KP + i];
    }
    sink(i, s);
  }
  __syncthreads();
}

// rowSums of the N arrays into this value block's partial row sums of the
// token at row offset `at`: part[(n blocks + block) slab + at + i].
template <int KG, int KR, int WARPS, int N>
__device__ __forceinline__ void rowSumsToParts(float (&x)[N][KR], float *red, float *part, int64_t blocks,
                                               int64_t slab, int64_t at, int K) {
  rowSums<KG, KR, WARPS, N>(x, red, [&](int i, const float (&s)[N]) {
    if (i < K)
#pragma unroll
      for (int n = 0; n < N; ++n) part[(n * blocks + blockIdx.x) * slab + at + i] = s[n];
  });
}

// Tokens whose states a thread recomputes into registers at a time (the
// checkpointed sweeps): SUB + 1 states of KR floats, about 64 registers.
__host__ __device__ constexpr int checkpointSub(int kr) { return kr >= 32 ? 2 : kr >= 16 ? 4 : kr >= 8 ? 8 : 16; }

// The checkpointed sweeps' reverse walk over a sequence of T tokens: its
// stretches of C tokens from the last, each from its checkpoint (load(c, S):
// the state before token c C), keeping the state before each run of SUB
// tokens; then the runs from the last, each with its SUB + 1 states
// recomputed into registers (step(S_{t-1}, S_t, u) for staged token u, after
// stage(s0, cnt) brought tokens s0.. in), and token(u, r0, S_{t-1}, S_t) for
// its tokens from the last. Every thread of the CTA must call it.
template <int KR, int SUB, int C, typename Load, typename Stage, typename Step, typename Token>
__device__ __forceinline__ void walkStretchesBack(int64_t T, Load load, Stage stage, Step step, Token token) {
  static_assert(C % SUB == 0, "the checkpoint interval is a multiple of the register runs");
  constexpr int NSUB = C / SUB;
  float st[KR];
  for (int64_t c = (T + C - 1) / C - 1; c >= 0; --c) {
    const int64_t s0 = c * C, len = (T < s0 + C ? T : s0 + C) - s0;
    const int runs = (int)((len + SUB - 1) / SUB);
    float runStart[NSUB][KR]; // the state before each run of the stretch
    load(c, st);
    for (int r = 0; r < runs; ++r) {
#pragma unroll
      for (int i = 0; i < KR; ++i) runStart[r][i] = st[i];
      if (r + 1 == runs) break;
      stage(s0 + (int64_t)r * SUB, SUB);
      for (int u = 0; u < SUB; ++u) step(st, st, u);
    }
    for (int r = runs - 1; r >= 0; --r) {
      const int64_t r0 = s0 + (int64_t)r * SUB;
      const int cnt = (int)(len - (int64_t)r * SUB < SUB ? len - (int64_t)r * SUB : SUB);
      stage(r0, cnt);
      float hist[SUB + 1][KR];
#pragma unroll
      for (int i = 0; i < KR; ++i) hist[0][i] = runStart[r][i];
#pragma unroll
      for (int u = 0; u < SUB; ++u)
        if (u < cnt) step(hist[u], hist[u + 1], u);
#pragma unroll
      for (int u = SUB - 1; u >= 0; --u)
        if (u < cnt) token(u, r0, hist[u], hist[u + 1]);
    }
  }
}

// The N partial row sums of the value blocks (part: [N][blocks][slab]) added
// in block order into out.t[n] (null: not wanted); with ScalarLast the last
// one is also summed over the K keys (a scalar decay's gradient, [tokens, H]).
template <int N> struct RowSumOuts {
  Tensor t[N];
};
template <int N, bool ScalarLast>
__global__ void blockRowSums(const float *part, int64_t blocks, int64_t slab, int64_t K, RowSumOuts<N> out) {
  MIXC_GRID_STRIDE(e, slab) {
#pragma unroll
    for (int n = 0; n < (ScalarLast ? N - 1 : N); ++n) {
      if (!out.t[n].p) continue;
      float s = 0.f;
      for (int64_t blk = 0; blk < blocks; ++blk) s += part[(n * blocks + blk) * slab + e];
      out.t[n].p[e] = s;
    }
  }
  if constexpr (ScalarLast)
    if (out.t[N - 1].p) MIXC_GRID_STRIDE(x, slab / K) {
        float s = 0.f;
        for (int64_t i = 0; i < K; ++i)
          for (int64_t blk = 0; blk < blocks; ++blk) s += part[((N - 1) * blocks + blk) * slab + x * K + i];
        out.t[N - 1].p[x] = s;
      }
}

// The CTA's sequence (scanRecurrent's convention): the token rows' batch
// index b and first token t0, and the length T.
struct SweepSeq {
  int64_t n, b, t0, T;
  __device__ SweepSeq(const ScanParams &p, int64_t seq) : n(seq) {
    b = p.seqStart ? 0 : seq, t0 = p.seqStart ? p.seqStart[seq] : 0;
    T = p.seqStart ? p.seqStart[seq + 1] - t0 : p.T;
  }
  // The time of the s-th token in the recurrence's order.
  __device__ int64_t time(const ScanParams &p, int64_t s) const { return t0 + (p.reverse ? T - 1 - s : s); }
};

// A thread's place in its CTA (scanRecurrent's layout): the head, the
// block's first column j0, its column j (live: j < V), and kg, the lane
// within the column's KG lanes (it holds key rows kg, kg + KG, ...).
template <int K, int CPW, int WARPS> struct SweepLane {
  static constexpr int KG = 32 / CPW, KR = (K + KG - 1) / KG, KP = KR * KG, VB = WARPS * CPW;
  int kg, wc;
  int64_t h, j0, j;
  bool live;
  __device__ explicit SweepLane(int64_t V) {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    kg = lane % KG, wc = warp * CPW + lane / KG;
    h = blockIdx.y, j0 = (int64_t)blockIdx.x * VB, j = j0 + wc;
    live = j < V;
  }
  // This thread's elements of block (n, h) of a state [N, H, K, V] (zero where null).
  __device__ void loadState(const View &s, int64_t n, float (&x)[KR]) const {
#pragma unroll
    for (int i = 0; i < KR; ++i) {
      const int row = i * KG + kg;
      x[i] = row < K && live && s.p ? s.at(n, h, row, j) : 0.f;
    }
  }
  // The same of a K x V fp32 block at `block` (checkpoints, the initial state's gradient).
  __device__ void loadBlock(const float *block, int64_t V, float (&x)[KR]) const {
#pragma unroll
    for (int i = 0; i < KR; ++i) x[i] = i * KG + kg < K && live ? block[(int64_t)(i * KG + kg) * V + j] : 0.f;
  }
  __device__ void storeBlock(float *block, int64_t V, const float (&x)[KR]) const {
#pragma unroll
    for (int i = 0; i < KR; ++i)
      if (i * KG + kg < K && live) block[(int64_t)(i * KG + kg) * V + j] = x[i];
  }
};

// The tokens a sweep stages through shared memory, TC at a time: key rows (q
// for the reverse sweep only), the decays, v and two more value rows (x, y).
template <int TC, int KP, int VB, bool Vec, bool WithQ, bool WithXY> struct SweepStage {
  float q[WithQ ? TC : 1][WithQ ? KP : 1], k[TC][KP], a[TC][KP], b[TC][KP], dec[Vec ? TC : 1][Vec ? KP : 1];
  float v[TC][VB], x[WithXY ? TC : 1][VB], y[WithXY ? TC : 1][VB], g[TC];
  // Stages cnt tokens, staged token u at time timeOf(u); xy(u, t, row, jj,
  // x, y) fills x and y of value column j0 + jj < V (row: the token's row).
  template <int K, int WARPS, DiagKind Diag, typename TimeOf, typename XY>
  __device__ void load(const ScanParams &p, const SweepSeq &seq, int64_t h, int64_t j0, int64_t Ttok, int cnt,
                       TimeOf timeOf, XY xy) {
    for (int e = threadIdx.x; e < cnt * KP; e += WARPS * 32) {
      const int u = e / KP, i = e % KP;
      const int64_t t = timeOf(u);
      const bool in = i < K;
      if constexpr (WithQ) q[u][i] = in ? p.q.at(seq.b, t, h, i) : 0.f;
      k[u][i] = in ? p.k.at(seq.b, t, h, i) : 0.f;
      a[u][i] = in ? p.a.at(seq.b, t, h, i) : 0.f;
      b[u][i] = in ? p.b.at(seq.b, t, h, i) : 0.f;
      if constexpr (Vec) dec[u][i] = in ? p.decay.at(seq.b, t, h, i) : 0.f;
    }
    for (int e = threadIdx.x; e < cnt * VB; e += WARPS * 32) {
      const int u = e / VB, jj = e % VB;
      const int64_t t = timeOf(u), row = seq.b * Ttok + t;
      const bool in = j0 + jj < p.Vs;
      v[u][jj] = in ? p.v.at(seq.b, t, h, j0 + jj) : 0.f;
      if constexpr (WithXY) {
        float xv = 0.f, yv = 0.f;
        if (in) xy(u, t, row, jj, xv, yv);
        x[u][jj] = xv, y[u][jj] = yv;
      }
    }
    if constexpr (Diag == DiagKind::scalar)
      for (int u = threadIdx.x; u < cnt; u += WARPS * 32) g[u] = p.decay.at(seq.b, timeOf(u), h, 0);
  }
  // load with x = c do and y the V-row ys (w or dw: [tokens, H, V]) of each token.
  template <int K, int WARPS, DiagKind Diag, typename TimeOf>
  __device__ void loadWithDo(const ScanParams &p, const SweepGrad &g, const SweepSeq &seq, int64_t h, int64_t j0,
                             int cnt, TimeOf timeOf, const float *ys) {
    load<K, WARPS, Diag>(p, seq, h, j0, g.Ttok, cnt, timeOf,
                         [&](int, int64_t t, int64_t row, int jj, float &x, float &y) {
                           x = g.dO.p ? p.scale * g.dO.at(seq.b, t, h, j0 + jj) : 0.f;
                           y = ys[(row * p.H + h) * p.Vs + j0 + jj];
                         });
  }
  // The diagonal at key row i of staged token u (ds: a scalar diagonal's, read once).
  template <DiagKind Diag, bool LogDecay> __device__ float scalarDiag(int u) const {
    return Diag == DiagKind::scalar ? (LogDecay ? __expf(g[u]) : g[u]) : 1.f;
  }
  template <bool LogDecay> __device__ float diag(int u, int i, float ds) const {
    if constexpr (Vec) return LogDecay ? __expf(dec[u][i]) : dec[u][i];
    else return ds;
  }
};

// The adjoint's step into staged token u (sm: a SweepStage with q and x,
// the scaled do): dS += q_u do_u^T, then the column's dv = dS^T k_u and
// dw = dS^T a_u, summed over its KG lanes.
template <int KG, int KR, typename Stage>
__device__ __forceinline__ void adjointIn(const Stage &sm, int u, int kg, int wc, float (&dS)[KR], float &dv,
                                          float &dw) {
  const float go = sm.x[u][wc];
  dv = 0.f, dw = 0.f;
#pragma unroll
  for (int i = 0; i < KR; ++i) {
    dS[i] += sm.q[u][i * KG + kg] * go;
    dv += dS[i] * sm.k[u][i * KG + kg];
    dw += dS[i] * sm.a[u][i * KG + kg];
  }
  dv = groupSum<KG>(dv), dw = groupSum<KG>(dw);
}

// Sweeps 1 (Readouts = false) and 3 (true): the forward recurrence again;
// with C > 0 sweep 1 keeps the state before every C-th token in g.ckpt.
template <int K, int CPW, int WARPS, DiagKind Diag, bool LogDecay, bool Readouts, int C = 0>
__global__ void __launch_bounds__(WARPS * 32) sweepGradForward(const ScanParams p, const SweepGrad g) {
  static_assert(!(Readouts && C), "the checkpointed reverse sweep takes the readouts");
  using Lane = SweepLane<K, CPW, WARPS>;
  constexpr int KG = Lane::KG, KR = Lane::KR, KP = Lane::KP, VB = Lane::VB;
  constexpr int TC = sweepStage(KP, VB, WARPS);
  // x, y: sweep 3's scaled do_t and dw_t
  __shared__ SweepStage<TC, KP, VB, Diag == DiagKind::vector, false, Readouts> sm;
  __shared__ float red[Readouts ? 2 * WARPS * KP : 1]; // sweep 3's row sums
  const SweepSeq seq(p, blockIdx.z);
  const Lane l(p.Vs);
  const int64_t h = l.h, V = p.Vs, H = p.H, T = seq.T;
  const int kg = l.kg, wc = l.wc;
  float st[KR];
  l.loadState(p.init, seq.n, st);
  float *ck = C ? g.ckpt + (seq.n * H + h) * g.stretches * K * V : nullptr;
  for (int64_t s0 = 0; s0 < T; s0 += TC) {
    const int cnt = (int)(T - s0 < TC ? T - s0 : TC);
    sm.template loadWithDo<K, WARPS, Diag>(p, g, seq, h, l.j0, cnt, [&](int u) { return seq.time(p, s0 + u); }, g.dw);
    __syncthreads();
    for (int u = 0; u < cnt; ++u) {
      const int64_t row = seq.b * g.Ttok + seq.time(p, s0 + u);
      if (C && (s0 + u) % C == 0) l.storeBlock(ck + (s0 + u) / C * K * V, V, st);
      float w = 0.f;
#pragma unroll
      for (int i = 0; i < KR; ++i) w += sm.b[u][i * KG + kg] * st[i];
      w = groupSum<KG>(w);
      float sums[2][KR]; // sweep 3's row sums: dq_t, db_t
      (void)sums;
      if constexpr (Readouts) {
        const float dw = sm.y[u][wc];
#pragma unroll
        for (int i = 0; i < KR; ++i) sums[1][i] = st[i] * dw; // db_t = S_{t-1} dw_t
      } else if (kg == 0 && l.live) {
        g.w[(row * H + h) * V + l.j] = w;
      }
      const float ds = sm.template scalarDiag<Diag, LogDecay>(u), v = sm.v[u][wc];
#pragma unroll
      for (int i = 0; i < KR; ++i)
        st[i] = sm.template diag<LogDecay>(u, i * KG + kg, ds) * st[i] + sm.a[u][i * KG + kg] * w +
                sm.k[u][i * KG + kg] * v;
      if constexpr (Readouts) {
        const float go = sm.x[u][wc];
#pragma unroll
        for (int i = 0; i < KR; ++i) sums[0][i] = st[i] * go; // dq_t = c S_t do_t
        rowSumsToParts<KG, KR, WARPS, 2>(sums, red, g.part, g.blocks, g.slab, (row * H + h) * K, K);
      }
    }
    __syncthreads();
  }
}

// Sweep 2: the adjoint state dS from the last token to the first.
template <int K, int CPW, int WARPS, DiagKind Diag, bool LogDecay>
__global__ void __launch_bounds__(WARPS * 32) sweepGradReverse(const ScanParams p, const SweepGrad g) {
  using Lane = SweepLane<K, CPW, WARPS>;
  constexpr int KG = Lane::KG, KR = Lane::KR, KP = Lane::KP, VB = Lane::VB;
  constexpr int TC = sweepStage(KP, VB, WARPS);
  // x, y: the scaled do_t and w_t
  __shared__ SweepStage<TC, KP, VB, Diag == DiagKind::vector, true, true> sm;
  __shared__ float red[2 * WARPS * KP];
  const SweepSeq seq(p, blockIdx.z);
  const Lane l(p.Vs);
  const int64_t h = l.h, V = p.Vs, H = p.H, T = seq.T;
  const int kg = l.kg, wc = l.wc;
  float dS[KR];
  l.loadState(g.dFinal, seq.n, dS);
  for (int64_t r0 = 0; r0 < T; r0 += TC) { // staged u: the token T - 1 - (r0 + u) of the recurrence's order
    const int cnt = (int)(T - r0 < TC ? T - r0 : TC);
    sm.template loadWithDo<K, WARPS, Diag>(p, g, seq, h, l.j0, cnt,
                                           [&](int u) { return seq.time(p, T - 1 - (r0 + u)); }, g.w);
    __syncthreads();
    for (int u = 0; u < cnt; ++u) {
      const int64_t row = seq.b * g.Ttok + seq.time(p, T - 1 - (r0 + u));
      float dv, dw;
      adjointIn<KG>(sm, u, kg, wc, dS, dv, dw);
      if (kg == 0 && l.live) {
        if (g.dv) g.dv[(row * H + h) * V + l.j] = dv;
        g.dw[(row * H + h) * V + l.j] = dw;
      }
      float sums[2][KR];
      const float v = sm.v[u][wc], w = sm.y[u][wc];
#pragma unroll
      for (int i = 0; i < KR; ++i) sums[0][i] = dS[i] * v, sums[1][i] = dS[i] * w; // dk_t, da_t
      rowSumsToParts<KG, KR, WARPS, 2>(sums, red, g.part, g.blocks, g.slab, (row * H + h) * K, K);
      const float ds = sm.template scalarDiag<Diag, LogDecay>(u);
#pragma unroll
      for (int i = 0; i < KR; ++i)
        dS[i] = sm.template diag<LogDecay>(u, i * KG + kg, ds) * dS[i] + sm.b[u][i * KG + kg] * dw;
    }
    __syncthreads();
  }
  if (g.dinit) l.storeBlock(g.dinit + (seq.n * H + h) * K * V, V, dS);
}

// Sweep 2 with a decay (C: the schedule's grad_checkpoint): the stretches of
// C tokens from the last, each recomputed from sweep 1's checkpoint in runs of
// SUB tokens (the state before each run in runStart, a run's SUB + 1 states in
// registers), so that token t's step has S_{t-1}, S_t and dS_t and writes its
// five row sums (partial per value block): dk = dS v, da = dS w, dq = c S_t
// do, db = S_{t-1} dw, and the decay's dS . D S_{t-1} (dS . S_{t-1} for a
// factor).
template <int K, int CPW, int WARPS, DiagKind Diag, bool LogDecay, int C>
__global__ void __launch_bounds__(WARPS * 32) sweepGradReverseCheckpointed(const ScanParams p, const SweepGrad g) {
  using Lane = SweepLane<K, CPW, WARPS>;
  constexpr int KG = Lane::KG, KR = Lane::KR, KP = Lane::KP, VB = Lane::VB;
  // five sums per row beside the run's states: a run is half checkpointGradKernel's
  constexpr int SUB = checkpointSub(2 * KR) < C ? checkpointSub(2 * KR) : C, NS = 5;
  // x, y: the scaled do_t and w_t
  __shared__ SweepStage<SUB, KP, VB, Diag == DiagKind::vector, true, true> sm;
  __shared__ float red[NS * WARPS * KP];
  const SweepSeq seq(p, blockIdx.z);
  const Lane l(p.Vs);
  const int64_t h = l.h, V = p.Vs, H = p.H, T = seq.T, KV = (int64_t)K * V;
  const int kg = l.kg, wc = l.wc;
  const float *ck = g.ckpt + (seq.n * H + h) * g.stretches * KV;
  auto stage = [&](int64_t s0, int cnt) { // tokens s0 .. s0 + cnt - 1 of the recurrence's order
    __syncthreads(); // the previous run's reads are done
    sm.template loadWithDo<K, WARPS, Diag>(p, g, seq, h, l.j0, cnt, [&](int u) { return seq.time(p, s0 + u); }, g.w);
    __syncthreads();
  };
  auto step = [&](const float (&P)[KR], float (&N)[KR], int u) { // S_t from S_{t-1}
    const float ds = sm.template scalarDiag<Diag, LogDecay>(u), v = sm.v[u][wc], w = sm.y[u][wc];
#pragma unroll
    for (int i = 0; i < KR; ++i)
      N[i] = sm.template diag<LogDecay>(u, i * KG + kg, ds) * P[i] + sm.a[u][i * KG + kg] * w + sm.k[u][i * KG + kg] * v;
  };
  float dS[KR];
  l.loadState(g.dFinal, seq.n, dS);
  auto load = [&](int64_t c, float (&X)[KR]) { l.loadBlock(ck + c * KV, V, X); };
  auto token = [&](int u, int64_t r0, const float (&prev)[KR], const float (&cur)[KR]) {
    const int64_t row = seq.b * g.Ttok + seq.time(p, r0 + u);
    const float go = sm.x[u][wc], v = sm.v[u][wc], w = sm.y[u][wc], ds = sm.template scalarDiag<Diag, LogDecay>(u);
    float dv, dw;
    adjointIn<KG>(sm, u, kg, wc, dS, dv, dw);
    if (kg == 0 && l.live && g.dv) g.dv[(row * H + h) * V + l.j] = dv;
    float sums[NS][KR];
#pragma unroll
    for (int i = 0; i < KR; ++i) {
      const float f = sm.template diag<LogDecay>(u, i * KG + kg, ds);
      sums[0][i] = dS[i] * v;                                 // dk_t
      sums[1][i] = dS[i] * w;                                 // da_t
      sums[2][i] = cur[i] * go;                               // dq_t
      sums[3][i] = prev[i] * dw;                              // db_t
      sums[4][i] = dS[i] * prev[i] * (LogDecay ? f : 1.f);    // the decay's
      dS[i] = f * dS[i] + sm.b[u][i * KG + kg] * dw;
    }
    rowSumsToParts<KG, KR, WARPS, NS>(sums, red, g.part, g.blocks, g.slab, (row * H + h) * K, K);
  };
  walkStretchesBack<KR, SUB, C>(T, load, stage, step, token);
  if (g.dinit) l.storeBlock(g.dinit + (seq.n * H + h) * KV, V, dS);
}

// The scaled low-rank form (a = a_scale b, the key k_scale k: DeltaNet's
// -beta k and beta k) reaches the backward as b's rows and two per-token
// scales. The kernels take plain rows: scaledRowsKernel writes s x (fp32
// [tokB, tokT, H, K]); after them scaledLowRankGradKernel turns the plain
// rows' gradients into the operands', in place, a warp per (token, head):
//   dk_scale = <dk, k>, dk <- k_scale dk;  da_scale = <da, b>, db <- db + a_scale da.
// Element e of fp32 rows y [tokB, tokT, H, K]: its token (b, t), head h and feature j.
__device__ __forceinline__ void rowElementOf(const Tensor &y, int64_t e, int64_t &b, int64_t &t, int64_t &h,
                                             int64_t &j) {
  const int64_t H = y.d[2], K = y.d[3];
  j = e % K, h = (e / K) % H;
  tokenOf(e / (K * H), y.d[1], b, t);
}
template <typename = void> __global__ void scaledRowsKernel(const View x, const View s, Tensor y) {
  MIXC_GRID_STRIDE(e, y.size()) {
    int64_t b, t, h, j;
    rowElementOf(y, e, b, t, h, j);
    y.p[e] = s.at(b, t, h, 0) * x.at(b, t, h, j);
  }
}

// decayed_b for the sweeps, which read plain rows: b . exp(decay) into y
// (fp32 [tokB, tokT, H, K]).
template <typename = void> __global__ void decayedRowsKernel(const View b, const View decay, Tensor y) {
  MIXC_GRID_STRIDE(e, y.size()) {
    int64_t bi, t, h, j;
    rowElementOf(y, e, bi, t, h, j);
    y.p[e] = b.at(bi, t, h, j) * __expf(decay.at(bi, t, h, j));
  }
}
// ... and back: given db, the gradient of those rows y, the decay's gradient
// gets db . y and db becomes b's own (db . exp(decay) = db . y / b, formed
// as the product).
template <typename = void> __global__ void decayedRowsGradKernel(const View decay, const Tensor y, Tensor db,
                                                                 Tensor ddecay) {
  MIXC_GRID_STRIDE(e, y.size()) {
    int64_t bi, t, h, j;
    rowElementOf(y, e, bi, t, h, j);
    ddecay.p[e] += db.p[e] * y.p[e];
    db.p[e] *= __expf(decay.at(bi, t, h, j));
  }
}

template <typename = void>
__global__ void scaledLowRankGradKernel(const ScanParams p, Tensor dk, const Tensor da, Tensor db, Tensor dkScale,
                                        Tensor daScale, int64_t tokB, int64_t tokT, int64_t K) {
  const int64_t H = p.H, rows = tokB * tokT * H, warps = (int64_t)gridDim.x * blockDim.x / 32;
  const int lane = (int)(threadIdx.x % 32);
  for (int64_t r = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32; r < rows; r += warps) {
    const int64_t h = r % H;
    int64_t b, t;
    tokenOf(r / H, tokT, b, t);
    if (p.kScale.p) {
      float *gk = dk.p + r * K;
      const float s = p.kScale.at(b, t, h, 0);
      float dot = 0.f;
      for (int64_t j = lane; j < K; j += 32) dot += gk[j] * p.k.at(b, t, h, j), gk[j] *= s;
      dot = warpSum(dot);
      if (lane == 0 && dkScale.p) dkScale.p[r] = dot;
    }
    if (p.aScale.p) {
      float *gb = db.p + r * K;
      const float *ga = da.p + r * K;
      const float s = p.aScale.at(b, t, h, 0);
      float dot = 0.f;
      for (int64_t j = lane; j < K; j += 32) dot += ga[j] * p.b.at(b, t, h, j), gb[j] += s * ga[j];
      dot = warpSum(dot);
      if (lane == 0 && daScale.p) daScale.p[r] = dot;
    }
  }
}

#ifndef MIXC_CUDA_EMULATION
// The sweeps and the sums after them. p: the forward's operands as fp32
// Views (q, k, v, a, b, decay, init), B/T the sequences (packed: NS and the
// longest); tokB x tokT the token tensors' rows. dv and dinit go to g.dv and
// g.dinit; the rest to `out`. C: the schedule's grad_checkpoint, 0 (the three
// sweeps) only without a decay.
template <int K, int CPW, int WARPS, DiagKind Diag, bool LogDecay, int C>
cudaError_t launchSweepGrad(const ScanParams &p, SweepGrad g, const SweepGradOut &out, int64_t tokB, int64_t tokT,
                            Scratch &scratch, cudaStream_t stream) {
  static_assert(Diag == DiagKind::none || C > 0, "a decay's gradient takes the checkpointed reverse sweep");
  constexpr int VB = WARPS * CPW, NSUMS = C ? 5 : 2;
  const int64_t NS = p.B, H = p.H, V = p.Vs, tokens = tokB * tokT;
  g.Ttok = tokT, g.slab = tokens * H * K, g.blocks = (V + VB - 1) / VB, g.stretches = C ? (p.T + C - 1) / C : 0;
  if (tokens == 0 || NS == 0) return cudaSuccess;
  g.w = scratch.alloc(tokens * H * V), g.part = scratch.alloc(NSUMS * g.blocks * g.slab);
  if (C) g.ckpt = scratch.alloc(std::max<int64_t>(NS * H * g.stretches * K * V, 1));
  else g.dw = scratch.alloc(tokens * H * V);
  if (!g.w || !g.part || !(C ? g.ckpt : g.dw)) return cudaErrorMemoryAllocation;
  const dim3 grid((unsigned)g.blocks, (unsigned)H, (unsigned)NS);
  cudaMemsetAsync(g.part, 0, NSUMS * g.blocks * g.slab * sizeof(float), stream); // tokens of no sequence: zero
  sweepGradForward<K, CPW, WARPS, Diag, LogDecay, false, C><<<grid, WARPS * 32, 0, stream>>>(p, g);
  if constexpr (C > 0) {
    sweepGradReverseCheckpointed<K, CPW, WARPS, Diag, LogDecay, C><<<grid, WARPS * 32, 0, stream>>>(p, g);
    blockRowSums<5, Diag == DiagKind::scalar><<<gridFor(g.slab), 256, 0, stream>>>(
        g.part, g.blocks, g.slab, K, RowSumOuts<5>{{out.dk, out.da, out.dq, out.db, out.ddecay}});
  } else {
    sweepGradReverse<K, CPW, WARPS, Diag, LogDecay><<<grid, WARPS * 32, 0, stream>>>(p, g);
    blockRowSums<2, false><<<gridFor(g.slab), 256, 0, stream>>>(g.part, g.blocks, g.slab, K,
                                                                 RowSumOuts<2>{{out.dk, out.da}});
    cudaMemsetAsync(g.part, 0, 2 * g.blocks * g.slab * sizeof(float), stream);
    sweepGradForward<K, CPW, WARPS, Diag, LogDecay, true><<<grid, WARPS * 32, 0, stream>>>(p, g);
    blockRowSums<2, false><<<gridFor(g.slab), 256, 0, stream>>>(g.part, g.blocks, g.slab, K,
                                                                 RowSumOuts<2>{{out.dq, out.db}});
  }
  return cudaGetLastError();
}

#endif // MIXC_CUDA_EMULATION

} // namespace mixc::cuda

#endif
