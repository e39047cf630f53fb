// Part of the CUDA tile library (mixc_cuda.cuh): the backward of a recurrence
// with a low-rank term, S_t = D_t S_{t-1} + a_t (b_t^T S_{t-1}) + k_t v_t^T,
// o_t = c S_t^T q_t (the delta rules, KDA, RWKV-7), whose adjoint is not
// forward-shaped scans. Three sweeps over the tokens, each a CTA per (value
// block, head, sequence) with its K x VB block of the state (or of dS) in
// registers, laid out as scanRecurrent's; no state is stored per token or chunk:
//   1. forward:  w_t = S_{t-1}^T b_t (a V-row per token: all the reverse sweep
//                needs of S_{t-1}), and rowsum(dF . S_T);
//   2. reverse:  dS_t = (the next token's A^T dS) + c q_t do_t^T, then
//                dv_t = dS_t^T k_t, dw_t = dS_t^T a_t (column sums, exact per
//                block), dk_t = dS_t v_t, da_t = dS_t w_t (row sums over the
//                block's columns: partial), and dS_{t-1} = D_t dS_t + b_t dw_t^T;
//   3. forward:  dq_t = c S_t do_t, db_t = S_{t-1} dw_t (partial).
// The partial row sums of the value blocks are added in block order by
// another kernel (no atomics: the same inputs give the same bits).
// The decays' gradient needs dS_t . S_{t-1}, which no sweep holds both of. From
// S_t = D_t S_{t-1} + a_t w_t^T + k_t v_t^T and the adjoint's recurrence, the
// row sums X_t = rowsum(dS_t . S_t) satisfy
//   rowsum(dS_t . D_t S_{t-1}) = X_t - a_t da_t - k_t dk_t,
//   X_{t-1} = rowsum(dS_t . D_t S_{t-1}) + b_t db_t + q_{t-1} dq_{t-1},
// so the log-decay's gradient (per key; a scalar decay sums the keys) is
//   dd_t = rowsum(dF . S_T) + sum_{s >= t} e_s - b_t db_t,
//   e_s = q_s dq_s + b_s db_s - a_s da_s - k_s dk_s,
// a cumulative sum from the sequence's end (tokenCumsumKernel).
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
  float *w = nullptr, *dw = nullptr; // [tokens, H, V]: S_{t-1}^T b_t; dS_t^T a_t
  float *part = nullptr;             // [2][blocks][tokens, H, K]: two row sums per value block
  float *cpart = nullptr;            // [blocks][NS, H, K]: rowsum(dF . S_T) per value block
  float *dv = nullptr, *dinit = nullptr; // [tokens, H, V]; [NS, H, K, V] (null: not wanted)
  int64_t Ttok = 0;                  // the token tensors' T (a token's row: b Ttok + t)
  int64_t slab = 0;                  // tokens x H x K
  int64_t blocks = 0;
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

// Sums x and y over the CTA's value columns for every key row (a lane holds
// rows kg, kg + KG, ... of one column): the warp's column groups by
// shuffles, then the warps through shared memory in warp order; sink(i, x, y)
// gets row i's sums. Every thread of the CTA must call it.
template <int KG, int KR, int WARPS, typename Sink>
__device__ __forceinline__ void columnSums(float (&x)[KR], float (&y)[KR], float *red, Sink sink) {
  constexpr int KP = KR * KG;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll
  for (int i = 0; i < KR; ++i)
#pragma unroll
    for (int off = KG; off < 32; off *= 2) {
      x[i] += __shfl_xor_sync(0xffffffffu, x[i], off);
      y[i] += __shfl_xor_sync(0xffffffffu, y[i], off);
    }
  if (lane < KG)
#pragma unroll
    for (int i = 0; i < KR; ++i) red[warp * KP + i * KG + lane] = x[i], red[(WARPS + warp) * KP + i * KG + lane] = y[i];
  __syncthreads();
  for (int i = threadIdx.x; i < KP; i += WARPS * 32) {
    float sx = 0.f, sy = 0.f;
    for (int w = 0; w < WARPS; ++w) sx += red[w * KP + i], sy += red[(WARPS + w) * KP + i];
    sink(i, sx, sy);
  }
  __syncthreads();
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
  // The diagonal at key row i of staged token u (ds: a scalar diagonal's, read once).
  template <DiagKind Diag, bool LogDecay> __device__ float scalarDiag(int u) const {
    return Diag == DiagKind::scalar ? (LogDecay ? __expf(g[u]) : g[u]) : 1.f;
  }
  template <bool LogDecay> __device__ float diag(int u, int i, float ds) const {
    if constexpr (Vec) return LogDecay ? __expf(dec[u][i]) : dec[u][i];
    else return ds;
  }
};

// Sweeps 1 (Readouts = false) and 3 (true): the forward recurrence again.
template <int K, int CPW, int WARPS, DiagKind Diag, bool LogDecay, bool Readouts>
__global__ void __launch_bounds__(WARPS * 32) sweepGradForward(const ScanParams p, const SweepGrad g) {
  using Lane = SweepLane<K, CPW, WARPS>;
  constexpr int KG = Lane::KG, KR = Lane::KR, KP = Lane::KP, VB = Lane::VB;
  constexpr int TC = sweepStage(KP, VB, WARPS);
  // x, y: sweep 3's scaled do_t and dw_t
  __shared__ SweepStage<TC, KP, VB, Diag == DiagKind::vector, false, Readouts> sm;
  __shared__ float red[2 * WARPS * KP];
  const SweepSeq seq(p, blockIdx.z);
  const Lane l(p.Vs);
  const int64_t h = l.h, V = p.Vs, H = p.H, T = seq.T;
  const int kg = l.kg, wc = l.wc;
  float st[KR];
  l.loadState(p.init, seq.n, st);
  for (int64_t s0 = 0; s0 < T; s0 += TC) {
    const int cnt = (int)(T - s0 < TC ? T - s0 : TC);
    sm.template load<K, WARPS, Diag>(
        p, seq, h, l.j0, g.Ttok, cnt, [&](int u) { return seq.time(p, s0 + u); },
        [&](int, int64_t t, int64_t row, int jj, float &x, float &y) {
          x = g.dO.p ? p.scale * g.dO.at(seq.b, t, h, l.j0 + jj) : 0.f;
          y = g.dw[(row * H + h) * V + l.j0 + jj];
        });
    __syncthreads();
    for (int u = 0; u < cnt; ++u) {
      const int64_t row = seq.b * g.Ttok + seq.time(p, s0 + u);
      float w = 0.f;
#pragma unroll
      for (int i = 0; i < KR; ++i) w += sm.b[u][i * KG + kg] * st[i];
      w = groupSum<KG>(w);
      float x[KR], y[KR]; // sweep 3's row sums
      (void)x, (void)y;
      if constexpr (Readouts) {
        const float dw = sm.y[u][wc];
#pragma unroll
        for (int i = 0; i < KR; ++i) x[i] = st[i] * dw; // db_t = S_{t-1} dw_t
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
        for (int i = 0; i < KR; ++i) y[i] = st[i] * go; // dq_t = c S_t do_t
        float *pdq = g.part + (blockIdx.x * g.slab) + (row * H + h) * K;
        float *pdb = g.part + ((g.blocks + blockIdx.x) * g.slab) + (row * H + h) * K;
        columnSums<KG, KR, WARPS>(x, y, red, [&](int i, float sx, float sy) {
          if (i < K) pdb[i] = sx, pdq[i] = sy;
        });
      }
    }
    __syncthreads();
  }
  if constexpr (!Readouts) { // rowsum(dF . S_T)
    float x[KR], y[KR];
#pragma unroll
    for (int i = 0; i < KR; ++i) {
      const int row = i * KG + kg;
      x[i] = row < K && l.live && g.dFinal.p ? g.dFinal.at(seq.n, h, row, l.j) * st[i] : 0.f;
      y[i] = 0.f;
    }
    float *c = g.cpart + ((blockIdx.x * (int64_t)gridDim.z + seq.n) * H + h) * K;
    columnSums<KG, KR, WARPS>(x, y, red, [&](int i, float sx, float) {
      if (i < K) c[i] = sx;
    });
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
    sm.template load<K, WARPS, Diag>(
        p, seq, h, l.j0, g.Ttok, cnt, [&](int u) { return seq.time(p, T - 1 - (r0 + u)); },
        [&](int, int64_t t, int64_t row, int jj, float &x, float &y) {
          x = g.dO.p ? p.scale * g.dO.at(seq.b, t, h, l.j0 + jj) : 0.f;
          y = g.w[(row * H + h) * V + l.j0 + jj];
        });
    __syncthreads();
    for (int u = 0; u < cnt; ++u) {
      const int64_t row = seq.b * g.Ttok + seq.time(p, T - 1 - (r0 + u));
      const float go = sm.x[u][wc];
      float dv = 0.f, dw = 0.f;
#pragma unroll
      for (int i = 0; i < KR; ++i) {
        dS[i] += sm.q[u][i * KG + kg] * go;
        dv += dS[i] * sm.k[u][i * KG + kg];
        dw += dS[i] * sm.a[u][i * KG + kg];
      }
      dv = groupSum<KG>(dv), dw = groupSum<KG>(dw);
      if (kg == 0 && l.live) {
        if (g.dv) g.dv[(row * H + h) * V + l.j] = dv;
        g.dw[(row * H + h) * V + l.j] = dw;
      }
      float x[KR], y[KR];
      const float v = sm.v[u][wc], w = sm.y[u][wc];
#pragma unroll
      for (int i = 0; i < KR; ++i) x[i] = dS[i] * v, y[i] = dS[i] * w; // dk_t, da_t
      float *pdk = g.part + (blockIdx.x * g.slab) + (row * H + h) * K;
      float *pda = g.part + ((g.blocks + blockIdx.x) * g.slab) + (row * H + h) * K;
      columnSums<KG, KR, WARPS>(x, y, red, [&](int i, float sx, float sy) {
        if (i < K) pdk[i] = sx, pda[i] = sy;
      });
      const float ds = sm.template scalarDiag<Diag, LogDecay>(u);
#pragma unroll
      for (int i = 0; i < KR; ++i)
        dS[i] = sm.template diag<LogDecay>(u, i * KG + kg, ds) * dS[i] + sm.b[u][i * KG + kg] * dw;
    }
    __syncthreads();
  }
  if (g.dinit)
#pragma unroll
    for (int i = 0; i < KR; ++i) {
      const int row = i * KG + kg;
      if (row < K && l.live) g.dinit[((seq.n * H + h) * K + row) * V + l.j] = dS[i];
    }
}

// The value blocks' partial row sums added in block order into x and y.
template <typename = void>
__global__ void sweepGradSumBlocks(const SweepGrad g, Tensor x, Tensor y) {
  MIXC_GRID_STRIDE(e, g.slab) {
    float sx = 0.f, sy = 0.f;
    for (int64_t blk = 0; blk < g.blocks; ++blk) sx += g.part[blk * g.slab + e], sy += g.part[(g.blocks + blk) * g.slab + e];
    if (x.p) x.p[e] = sx;
    if (y.p) y.p[e] = sy;
  }
}

// e_t = q dq + b db - a da - k dk per (token, head, key), and rowsum(dF . S_T)
// summed over the blocks into c [NS, H, K].
template <typename = void>
__global__ void sweepGradTerms(const ScanParams p, const SweepGrad g, const Tensor dq, const Tensor dk,
                               const Tensor da, const Tensor db, Tensor e, Tensor c, int64_t NS) {
  const int64_t H = p.H, K = e.d[3];
  MIXC_GRID_STRIDE(x, g.slab) {
    const int64_t i = x % K, h = (x / K) % H, row = x / (K * H);
    int64_t b, t;
    tokenOf(row, g.Ttok, b, t);
    e.p[x] = p.q.at(b, t, h, i) * dq.p[x] + p.b.at(b, t, h, i) * db.p[x] - p.a.at(b, t, h, i) * da.p[x] -
             p.k.at(b, t, h, i) * dk.p[x];
  }
  MIXC_GRID_STRIDE(x, NS * H * K) {
    float s = 0.f;
    for (int64_t blk = 0; blk < g.blocks; ++blk) s += g.cpart[blk * NS * H * K + x];
    c.p[x] = s;
  }
}

// dd = (the cumulative sum from the end) - b db; a scalar decay sums the keys.
template <bool ScalarDecay>
__global__ void sweepGradDecay(const ScanParams p, const SweepGrad g, const Tensor r, const Tensor db, Tensor out) {
  const int64_t H = p.H, K = r.d[3];
  if constexpr (ScalarDecay) {
    MIXC_GRID_STRIDE(x, g.slab / K) {
      const int64_t h = x % H, row = x / H;
      int64_t b, t;
      tokenOf(row, g.Ttok, b, t);
      float s = 0.f;
      for (int64_t i = 0; i < K; ++i) s += r.p[x * K + i] - p.b.at(b, t, h, i) * db.p[x * K + i];
      out.p[x] = s;
    }
  } else {
    MIXC_GRID_STRIDE(x, g.slab) {
      const int64_t i = x % K, h = (x / K) % H, row = x / (K * H);
      int64_t b, t;
      tokenOf(row, g.Ttok, b, t);
      out.p[x] = r.p[x] - p.b.at(b, t, h, i) * db.p[x];
    }
  }
}

// The scaled low-rank form (a = a_scale b, the key k_scale k: DeltaNet's
// -beta k and beta k) reaches the backward as b's rows and two per-token
// scales. The kernels take plain rows: scaledRowsKernel writes s x (fp32
// [tokB, tokT, H, K]); after them scaledLowRankGradKernel turns the plain
// rows' gradients into the operands', in place, a warp per (token, head):
//   dk_scale = <dk, k>, dk <- k_scale dk;  da_scale = <da, b>, db <- db + a_scale da.
template <typename = void> __global__ void scaledRowsKernel(const View x, const View s, Tensor y) {
  const int64_t H = y.d[2], K = y.d[3];
  MIXC_GRID_STRIDE(e, y.size()) {
    const int64_t j = e % K, h = (e / K) % H, row = e / (K * H);
    int64_t b, t;
    tokenOf(row, y.d[1], b, t);
    y.p[e] = s.at(b, t, h, 0) * x.at(b, t, h, j);
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
// The three sweeps and the sums after them. p: the forward's operands as fp32
// Views (q, k, v, a, b, decay, init), B/T the sequences (packed: NS and the
// longest); tokB x tokT the token tensors' rows. dv and dinit go to g.dv and
// g.dinit; the rest to `out`.
template <int K, int CPW, int WARPS, DiagKind Diag, bool LogDecay>
cudaError_t launchSweepGrad(const ScanParams &p, SweepGrad g, const SweepGradOut &out, int64_t tokB, int64_t tokT,
                            Scratch &scratch, cudaStream_t stream) {
  constexpr int VB = WARPS * CPW;
  const int64_t NS = p.B, H = p.H, V = p.Vs, tokens = tokB * tokT;
  g.Ttok = tokT, g.slab = tokens * H * K, g.blocks = (V + VB - 1) / VB;
  if (tokens == 0 || NS == 0) return cudaSuccess;
  g.w = scratch.alloc(tokens * H * V), g.dw = scratch.alloc(tokens * H * V);
  g.part = scratch.alloc(2 * g.blocks * g.slab), g.cpart = scratch.alloc(g.blocks * NS * H * K);
  Tensor dk = out.dk, da = out.da, dq = out.dq, db = out.db; // the sums the decays' gradient needs, kept
  const bool decayGrad = Diag != DiagKind::none && out.ddecay.p;
  auto need = [&](Tensor &t) {
    if (!t.p) t = newTensor(scratch, {tokB, tokT, H, K});
    return t.p != nullptr;
  };
  if (!g.w || !g.dw || !g.part || !g.cpart) return cudaErrorMemoryAllocation;
  if (decayGrad && (!need(dk) || !need(da) || !need(dq) || !need(db))) return cudaErrorMemoryAllocation;
  const dim3 grid((unsigned)g.blocks, (unsigned)H, (unsigned)NS);
  cudaMemsetAsync(g.part, 0, 2 * g.blocks * g.slab * sizeof(float), stream); // tokens of no sequence: zero
  sweepGradForward<K, CPW, WARPS, Diag, LogDecay, false><<<grid, WARPS * 32, 0, stream>>>(p, g);
  sweepGradReverse<K, CPW, WARPS, Diag, LogDecay><<<grid, WARPS * 32, 0, stream>>>(p, g);
  sweepGradSumBlocks<><<<gridFor(g.slab), 256, 0, stream>>>(g, dk, da);
  cudaMemsetAsync(g.part, 0, 2 * g.blocks * g.slab * sizeof(float), stream);
  sweepGradForward<K, CPW, WARPS, Diag, LogDecay, true><<<grid, WARPS * 32, 0, stream>>>(p, g);
  sweepGradSumBlocks<><<<gridFor(g.slab), 256, 0, stream>>>(g, dq, db);
  if (decayGrad) {
    Tensor e = newTensor(scratch, {tokB, tokT, H, K}), c = newTensor(scratch, {NS, H, K});
    if (!e.p || !c.p) return cudaErrorMemoryAllocation;
    sweepGradTerms<><<<gridFor(g.slab), 256, 0, stream>>>(p, g, dq, dk, da, db, e, c, NS);
    // in place: each thread reads its tokens before writing them
    tokenCumsumKernel<><<<(unsigned)std::min<int64_t>(NS * H * K, 65535), 256, 0, stream>>>(e, c.p, e, !p.reverse,
                                                                                           p.seqStart, NS);
    sweepGradDecay<Diag == DiagKind::scalar><<<gridFor(g.slab), 256, 0, stream>>>(p, g, e, db, out.ddecay);
  }
  return cudaGetLastError();
}

#endif // MIXC_CUDA_EMULATION

} // namespace mixc::cuda

#endif
