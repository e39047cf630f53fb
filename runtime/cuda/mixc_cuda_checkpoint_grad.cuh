// Part of the CUDA tile library (mixc_cuda.cuh): the backward of a recurrence
// whose adjoint is neither forward-shaped scans nor the three sweeps of
// mixc_cuda_sweep_grad.cuh: elementwise decays exp(rate . dt) (Mamba-1),
// decays given as factors that may be negative or zero (a log-decay's
// gradient divided by the factor would be undefined there), with or without
// a skip term D . x, and mLSTM's stabilized normalizer (below). The checkpointed reverse sweep, the GPU form of the
// CPU's scanRecurrentGrad: a CTA per (value block, head, sequence) with its
// K x VB block of the state laid out as scanRecurrent's (SweepLane),
//   1. runs the recurrence forward and keeps the state at the start of every
//      stretch of C tokens (global scratch, [NS, H, stretches, K, V] fp32);
//   2. walks the stretches backwards: from a stretch's checkpoint it runs
//      forward again keeping the state every SUB tokens (local memory), then
//      per run of SUB tokens, from the last, recomputes their SUB + 1 states
//      into registers and takes the adjoint step of each token:
//        dS += c q_t do_t^T,  dq_t = c S_t do_t,  dk_t = dS v_t,  dv_t = dS^T k_t,
//        d diag = dS . S_{t-1} (times the diagonal for a log-decay),
//        dS_{t-1} = A_t dS.
// Row sums over the value columns (dq, dk, a key decay's gradient) are
// partial per value block and added in block order by another kernel;
// per-head parameters (the rate, the skip's D) get one sum per sequence,
// added over the sequences in order. No atomics: the same inputs give the
// same bits.
#ifndef MIXC_CUDA_CHECKPOINT_GRAD_CUH
#define MIXC_CUDA_CHECKPOINT_GRAD_CUH

// test/unit/CudaEmulation.h defines MIXC_CUDA_EMULATION and the device
// helpers this file uses, and runs its kernels on host threads (the unit tests).
#ifndef MIXC_CUDA_EMULATION
#include "mixc_cuda.cuh"
#endif

namespace mixc::cuda {

// What the checkpointed sweep reads beside ScanParams (q, k, v, decay, dt,
// rate, init), its scratch and the gradients it writes in place.
struct CheckpointGrad {
  View dO, dFinal;                    // (b, t, h, j); (n, h, k, v). A null view is zero.
  View skipW, skipX;                  // o += D . x: D (0, 0, h, j), x rows (b, t, h, j); null: no skip
  float *ckpt = nullptr;              // [NS, H, stretches, K, V]
  float *part = nullptr;              // [sums][blocks][tokens, H, K]: dq, dk, the key decay's row sums
  float *dv = nullptr, *ddt = nullptr, *dskipX = nullptr; // [tokens, H, V] (null: not wanted)
  float *drate = nullptr;             // [NS, H, K, V]: the rate's gradient per sequence
  float *dskipW = nullptr;            // [NS, H, V]: D's per sequence
  float *dinit = nullptr;             // [NS, H, K, V]
  int64_t Ttok = 0, slab = 0, blocks = 0, stretches = 0;
};

struct CheckpointGradOut {
  Tensor dq, dk, ddecay, drate, dskipW; // full shapes; ddecay [B, T, H] for a scalar diagonal
  // Outputs launchSsdGrad stores itself (the caller's views; their Tensors may be null).
  View dqTo, dkTo, dvTo;
};

template <Structure S> __host__ __device__ constexpr bool ckptScalar() { return S == Structure::scalar || S == Structure::const_scalar; }
// Row sums per token: dq, dk, and the decay's for a scalar or vector diagonal.
template <Structure S> __host__ __device__ constexpr int ckptSums() { return ckptScalar<S>() || S == Structure::vector ? 3 : 2; }

template <Structure S, int K, int CPW, int WARPS, bool LogDecay, bool HasDt, bool Skip, int C>
__global__ void __launch_bounds__(WARPS * 32) checkpointGradKernel(const ScanParams p, const CheckpointGrad g) {
  using Lane = SweepLane<K, CPW, WARPS>;
  constexpr int KG = Lane::KG, KR = Lane::KR, KP = Lane::KP, VB = Lane::VB;
  constexpr int SUB = checkpointSub(KR) < C ? checkpointSub(KR) : C, NS = ckptSums<S>();
  constexpr bool Scalar = ckptScalar<S>(), Vec = S == Structure::vector, Elem = S == Structure::elementwise;
  static_assert(!Elem || LogDecay, "elementwise decays come as log-rates (elementwiseDecayAsLog)");
  __shared__ float sq[SUB][KP], sk[SUB][KP], sdec[Vec ? SUB : 1][Vec ? KP : 1], sv[SUB][VB], sgo[SUB][VB];
  __shared__ float sdt[HasDt ? SUB : 1][HasDt ? VB : 1], sx[Skip ? SUB : 1][Skip ? VB : 1], sg[SUB];
  __shared__ float red[NS * WARPS * KP];
  const SweepSeq seq(p, blockIdx.z);
  const Lane l(p.Vs);
  const int64_t h = l.h, V = p.Vs, H = p.H, T = seq.T;
  const int kg = l.kg, wc = l.wc;
  float rate[KR];
#pragma unroll
  for (int i = 0; i < KR; ++i) {
    const int row = i * KG + kg;
    rate[i] = Elem && row < K && l.live ? p.rate.at(0, h, row, l.j) : 0.f;
  }
  // Stages the tokens s0 .. s0 + cnt - 1 of the recurrence's order.
  auto stage = [&](int64_t s0, int cnt) {
    __syncthreads(); // the previous run's reads are done
    for (int e = threadIdx.x; e < cnt * KP; e += WARPS * 32) {
      const int u = e / KP, i = e % KP;
      const int64_t t = seq.time(p, s0 + u);
      const bool in = i < K;
      sq[u][i] = in ? p.q.at(seq.b, t, h, i) : 0.f;
      sk[u][i] = in ? p.k.at(seq.b, t, h, i) : 0.f;
      if constexpr (Vec) sdec[u][i] = in ? p.decay.at(seq.b, t, h, i) : 0.f;
    }
    for (int e = threadIdx.x; e < cnt * VB; e += WARPS * 32) {
      const int u = e / VB, jj = e % VB;
      const int64_t t = seq.time(p, s0 + u), j = l.j0 + jj;
      const bool in = j < V;
      sv[u][jj] = in ? p.v.at(seq.b, t, h, j) : 0.f;
      sgo[u][jj] = in && g.dO.p ? g.dO.at(seq.b, t, h, j) : 0.f;
      if constexpr (HasDt) sdt[u][jj] = in ? p.dt.at(seq.b, t, h, j) : 0.f;
      if constexpr (Skip) sx[u][jj] = in ? g.skipX.at(seq.b, t, h, j) : 0.f;
    }
    if constexpr (Scalar)
      for (int u = threadIdx.x; u < cnt; u += WARPS * 32) sg[u] = p.decay.at(seq.b, seq.time(p, s0 + u), h, 0);
    __syncthreads();
  };
  // The diagonal of A at this thread's key row i for staged token u.
  auto diag = [&](int u, int i) -> float {
    if constexpr (Scalar) return LogDecay ? __expf(sg[u]) : sg[u];
    else if constexpr (Vec) return LogDecay ? __expf(sdec[u][i * KG + kg]) : sdec[u][i * KG + kg];
    else if constexpr (Elem) return __expf(rate[i] * (HasDt ? sdt[u][wc] : 1.f));
    else return 1.f;
  };
  auto step = [&](const float (&P)[KR], float (&N)[KR], int u) {
    const float v = sv[u][wc];
#pragma unroll
    for (int i = 0; i < KR; ++i) N[i] = diag(u, i) * P[i] + sk[u][i * KG + kg] * v;
  };
  const int64_t stretches = (T + C - 1) / C, KV = (int64_t)K * V;
  float *ck = g.ckpt + (seq.n * H + h) * g.stretches * KV;
  auto rowOk = [&](int i) { return i * KG + kg < K && l.live; };
  // 1. Forward: a checkpoint at every stretch's start.
  float st[KR];
  l.loadState(p.init, seq.n, st);
  for (int64_t c = 0; c < stretches; ++c) {
    l.storeBlock(ck + c * KV, V, st);
    const int64_t end = T < (c + 1) * C ? T : (c + 1) * C;
    for (int64_t s0 = c * C; s0 < end; s0 += SUB) {
      const int cnt = (int)(end - s0 < SUB ? end - s0 : SUB);
      stage(s0, cnt);
      for (int u = 0; u < cnt; ++u) step(st, st, u);
    }
  }
  // 2. Reverse, stretch by stretch (walkStretchesBack, mixc_cuda_sweep_grad.cuh).
  float dS[KR], drate[KR];
  l.loadState(g.dFinal, seq.n, dS);
#pragma unroll
  for (int i = 0; i < KR; ++i) drate[i] = 0.f;
  float dskip = 0.f;
  const float scale = p.scale;
  auto load = [&](int64_t c, float (&X)[KR]) { l.loadBlock(ck + c * KV, V, X); };
  auto token = [&](int u, int64_t r0, const float (&prev)[KR], const float (&cur)[KR]) {
    const int64_t row = seq.b * g.Ttok + seq.time(p, r0 + u);
    const float goRaw = sgo[u][wc], go = scale * goRaw, v = sv[u][wc];
    float sums[NS][KR];
    float dv = 0.f, ddt = 0.f;
#pragma unroll
    for (int i = 0; i < KR; ++i) {
      const float q = sq[u][i * KG + kg], k = sk[u][i * KG + kg], f = diag(u, i);
      dS[i] += q * go;
      sums[0][i] = cur[i] * go; // dq_t = c S_t do_t
      sums[1][i] = dS[i] * v;   // dk_t = dS v_t
      dv += dS[i] * k;
      const float x = dS[i] * prev[i]; // dS . S_{t-1}
      if constexpr (Elem) {
        const float dl = x * f; // the log-decay rate . dt's gradient
        drate[i] += dl * (HasDt ? sdt[u][wc] : 1.f);
        ddt += dl * rate[i];
      } else if constexpr (NS == 3) {
        sums[NS - 1][i] = LogDecay ? x * f : x;
      }
      dS[i] *= f;
    }
    dv = groupSum<KG>(dv);
    if constexpr (HasDt) ddt = groupSum<KG>(ddt);
    if (kg == 0 && l.live) {
      const int64_t at = (row * H + h) * V + l.j;
      if (g.dv) g.dv[at] = dv;
      if (HasDt && g.ddt) g.ddt[at] = ddt;
      if constexpr (Skip) {
        if (g.dskipX) g.dskipX[at] = g.skipW.at(0, 0, h, l.j) * goRaw;
        dskip += sx[u][wc] * goRaw;
      }
    }
    rowSumsToParts<KG, KR, WARPS, NS>(sums, red, g.part, g.blocks, g.slab, (row * H + h) * K, K);
  };
  walkStretchesBack<KR, SUB, C>(T, load, stage, step, token);
  const int64_t state = (seq.n * H + h) * KV;
#pragma unroll
  for (int i = 0; i < KR; ++i) {
    if (!rowOk(i)) continue;
    const int64_t e = state + (int64_t)(i * KG + kg) * V + l.j;
    if (g.dinit) g.dinit[e] = dS[i];
    if (Elem && g.drate) g.drate[e] = drate[i];
  }
  if (Skip && g.dskipW && kg == 0 && l.live) g.dskipW[(seq.n * H + h) * V + l.j] = dskip;
}

// out[e] = the sum, in order, of parts[i][e] over the `count` parts of n
// values each (per sequence, per value block).
template <typename = void> __global__ void sumParts(const float *parts, int64_t count, int64_t n, float *out) {
  MIXC_GRID_STRIDE(e, n) {
    float s = 0.f;
    for (int64_t i = 0; i < count; ++i) s += parts[i * n + e];
    out[e] = s;
  }
}

#ifndef MIXC_CUDA_EMULATION
// The sweep and the sums after it. p: the forward's operands as fp32 Views
// (q, k, v, decay, dt, rate, init); B/T the sequences (packed: NS and the
// longest); tokB x tokT the token tensors' rows. dv, ddt, dskipX and dinit go
// to g's pointers (null: not wanted); the rest to `out`.
template <Structure S, int K, int CPW, int WARPS, bool LogDecay, bool HasDt, bool Skip, int C>
cudaError_t launchCheckpointGrad(const ScanParams &p, CheckpointGrad g, const CheckpointGradOut &out, int64_t tokB,
                                 int64_t tokT, Scratch &scratch, cudaStream_t stream) {
  constexpr int VB = WARPS * CPW, NSUMS = ckptSums<S>();
  const int64_t NS = p.B, H = p.H, V = p.Vs, tokens = tokB * tokT;
  g.Ttok = tokT, g.slab = tokens * H * K, g.blocks = (V + VB - 1) / VB, g.stretches = (p.T + C - 1) / C;
  if (tokens == 0 || NS == 0) return cudaSuccess;
  g.ckpt = scratch.alloc(std::max<int64_t>(NS * H * g.stretches * K * V, 1));
  g.part = scratch.alloc(NSUMS * g.blocks * g.slab);
  if (S == Structure::elementwise && out.drate.p) g.drate = scratch.alloc(NS * H * K * V);
  if (Skip && out.dskipW.p) g.dskipW = scratch.alloc(NS * H * V);
  if (!g.ckpt || !g.part || (S == Structure::elementwise && out.drate.p && !g.drate) || (Skip && out.dskipW.p && !g.dskipW))
    return cudaErrorMemoryAllocation;
  cudaMemsetAsync(g.part, 0, NSUMS * g.blocks * g.slab * sizeof(float), stream); // tokens of no sequence: zero
  const dim3 grid((unsigned)g.blocks, (unsigned)H, (unsigned)NS);
  checkpointGradKernel<S, K, CPW, WARPS, LogDecay, HasDt, Skip, C><<<grid, WARPS * 32, 0, stream>>>(p, g);
  RowSumOuts<NSUMS> sums; // dq, dk, and the decay's
  sums.t[0] = out.dq, sums.t[1] = out.dk;
  if constexpr (NSUMS == 3) sums.t[2] = out.ddecay;
  blockRowSums<NSUMS, ckptScalar<S>()><<<gridFor(g.slab), 256, 0, stream>>>(g.part, g.blocks, g.slab, K, sums);
  if (g.drate) sumParts<><<<gridFor(H * K * V), 256, 0, stream>>>(g.drate, NS, H * K * V, out.drate.p);
  if (g.dskipW) sumParts<><<<gridFor(H * V), 256, 0, stream>>>(g.dskipW, NS, H * V, out.dskipW.p);
  return cudaGetLastError();
}
#endif // MIXC_CUDA_EMULATION

// ---- mLSTM: the stabilizer and the normalizer column ---------------------------
// S_t = f S_{t-1} + w k [v, 1]^T with m_t = max(g_t + m_{t-1}, i_t),
// f = exp(g_t + m_{t-1} - m_t), w = exp(i_t - m_t), o_t = c num / max(|den|,
// exp(-m_t)), num = C_t^T q_t, den = n_t^T q_t (the CPU's scanMlstmGrad). A
// CTA holds its value block of C and, as the forward's sweep does, the whole
// normalizer column n in every column group. What crosses value blocks is
// sums: the readout's normalization needs sum_j do_j num_j over every column,
// so a first kernel (with the checkpoints) writes it per token and block; the
// reverse kernel writes row sums per block (dq, dk, and the gates' terms
// sum dS . S_{t-1} and sum k . dk); the stabilizer's gradient dm, which no
// state gradient reads, is a scalar chain over the tokens run afterwards
// from those sums, one thread per (sequence, head).
struct MlstmGrad {
  View dO, dFinal;          // (b, t, h, j); (n, h, k, v) with column V: n's
  float *ckpt = nullptr;    // [NS, H, stretches, K, V + 1]
  float *ckptM = nullptr;   // [NS, H, stretches]
  float *mrow = nullptr;    // [tokens, H]: m_t
  float *gonum = nullptr;   // [blocks][tokens, H]: sum over the block's columns of do_j num_j
  float *gonumAll = nullptr; // [tokens, H]: ... over every column
  float *floorTerm = nullptr; // [tokens, H]: dn n where the floor exp(-m_t) divides, else 0
  float *part = nullptr;    // [4][blocks][tokens, H, K]: dq, dk before w, dS . S_{t-1} and k . dk rows
  float *dv = nullptr, *dinit = nullptr; // [tokens, H, V]; [NS, H, K, V + 1]
  int64_t Ttok = 0, slab = 0, blocks = 0, stretches = 0;
};

struct MlstmGradOut {
  Tensor dq, dk, ddecay, digate, dinitM; // dinitM [NS, H]
};

// Sums x over the whole CTA (in warp order): every thread gets it.
template <int WARPS> __device__ __forceinline__ float ctaSum(float x, float *red) {
  x = warpSum(x);
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = x;
  __syncthreads();
  float s = 0.f;
  for (int w = 0; w < WARPS; ++w) s += red[w];
  __syncthreads();
  return s;
}

// The tokens of a run staged for the mLSTM kernels.
template <int TC, int KP, int VB> struct MlstmStage {
  float q[TC][KP], k[TC][KP], v[TC][VB], go[TC][VB], g[TC], ig[TC];
  template <int K, int WARPS>
  __device__ void load(const ScanParams &p, const View &dO, const SweepSeq &seq, int64_t h, int64_t j0, int64_t V,
                       int64_t s0, int cnt) {
    __syncthreads();
    for (int e = threadIdx.x; e < cnt * KP; e += WARPS * 32) {
      const int u = e / KP, i = e % KP;
      const int64_t t = seq.time(p, s0 + u);
      q[u][i] = i < K ? p.q.at(seq.b, t, h, i) : 0.f;
      k[u][i] = i < K ? p.k.at(seq.b, t, h, i) : 0.f;
    }
    for (int e = threadIdx.x; e < cnt * VB; e += WARPS * 32) {
      const int u = e / VB, jj = e % VB;
      const int64_t t = seq.time(p, s0 + u), j = j0 + jj;
      v[u][jj] = j < V ? p.v.at(seq.b, t, h, j) : 0.f;
      go[u][jj] = j < V && dO.p ? dO.at(seq.b, t, h, j) : 0.f;
    }
    for (int u = threadIdx.x; u < cnt; u += WARPS * 32) {
      const int64_t t = seq.time(p, s0 + u);
      g[u] = p.decay.at(seq.b, t, h, 0), ig[u] = p.igate.at(seq.b, t, h, 0);
    }
    __syncthreads();
  }
};

// One token of the stabilized recurrence on this thread's rows of C (st) and n (nv).
template <int KR, int KG> struct MlstmStep {
  __device__ static float apply(const float (&P)[KR], const float (&Pn)[KR], float (&N)[KR], float (&Nn)[KR],
                                float mPrev, float g, float ig, const float *k, float v, int kg) {
    const float m = fmaxf(g + mPrev, ig), f = __expf(g + mPrev - m), w = __expf(ig - m);
#pragma unroll
    for (int i = 0; i < KR; ++i) {
      const float wk = w * k[i * KG + kg];
      N[i] = f * P[i] + wk * v, Nn[i] = f * Pn[i] + wk;
    }
    return m;
  }
};

// 1. Forward: the checkpoints (block 0 also n's column and m), m_t per token,
//    and sum_j do_j num_j per token over the block's columns.
template <int K, int CPW, int WARPS, int C>
__global__ void __launch_bounds__(WARPS * 32) mlstmGradForward(const ScanParams p, const MlstmGrad g) {
  using Lane = SweepLane<K, CPW, WARPS>;
  constexpr int KG = Lane::KG, KR = Lane::KR, KP = Lane::KP, VB = Lane::VB, TC = 16;
  __shared__ MlstmStage<TC, KP, VB> sm;
  __shared__ float red[WARPS];
  const SweepSeq seq(p, blockIdx.z);
  const int64_t V = p.Vs - 1;
  const Lane l(V);
  const int64_t h = l.h, H = p.H, T = seq.T, VS = V + 1, KV = (int64_t)K * VS;
  const int kg = l.kg;
  const bool first = blockIdx.x == 0 && l.wc == 0; // writes n's column
  float st[KR], nv[KR];
#pragma unroll
  for (int i = 0; i < KR; ++i) {
    const int row = i * KG + kg;
    st[i] = row < K && l.live && p.init.p ? p.init.at(seq.n, h, row, l.j) : 0.f;
    nv[i] = row < K && p.init.p ? p.init.at(seq.n, h, row, V) : 0.f;
  }
  float m = p.initM.p ? p.initM.at(seq.n, h, 0, 0) : 0.f;
  float *ck = g.ckpt + (seq.n * H + h) * g.stretches * KV;
  for (int64_t s0 = 0; s0 < T; s0 += TC) {
    const int cnt = (int)(T - s0 < TC ? T - s0 : TC);
    sm.template load<K, WARPS>(p, g.dO, seq, h, l.j0, V, s0, cnt);
    for (int u = 0; u < cnt; ++u) {
      const int64_t s = s0 + u, row = seq.b * g.Ttok + seq.time(p, s);
      if (s % C == 0) { // the state before token s
        const int64_t c = s / C;
#pragma unroll
        for (int i = 0; i < KR; ++i) {
          const int r = i * KG + kg;
          if (r < K && l.live) ck[c * KV + (int64_t)r * VS + l.j] = st[i];
          if (r < K && first) ck[c * KV + (int64_t)r * VS + V] = nv[i];
        }
        if (threadIdx.x == 0 && blockIdx.x == 0) g.ckptM[(seq.n * H + h) * g.stretches + c] = m;
      }
      m = MlstmStep<KR, KG>::apply(st, nv, st, nv, m, sm.g[u], sm.ig[u], sm.k[u], sm.v[u][l.wc], kg);
      float num = 0.f;
#pragma unroll
      for (int i = 0; i < KR; ++i) num += sm.q[u][i * KG + kg] * st[i];
      num = groupSum<KG>(num);
      const float x = ctaSum<WARPS>(kg == 0 && l.live ? sm.go[u][l.wc] * num : 0.f, red);
      if (threadIdx.x == 0) {
        g.gonum[blockIdx.x * (g.slab / K) + row * H + h] = x;
        if (blockIdx.x == 0) g.mrow[row * H + h] = m;
      }
    }
  }
}

// 2. Reverse, stretch by stretch, as checkpointGradKernel; the stabilizer
//    recomputed beside the state.
template <int K, int CPW, int WARPS, int C>
__global__ void __launch_bounds__(WARPS * 32) mlstmGradReverse(const ScanParams p, const MlstmGrad g) {
  using Lane = SweepLane<K, CPW, WARPS>;
  constexpr int KG = Lane::KG, KR = Lane::KR, KP = Lane::KP, VB = Lane::VB;
  constexpr int SUB = checkpointSub(2 * KR) < C ? checkpointSub(2 * KR) : C, NSUB = C / SUB;
  __shared__ MlstmStage<SUB, KP, VB> sm;
  __shared__ float red[4 * WARPS * KP];
  const SweepSeq seq(p, blockIdx.z);
  const int64_t V = p.Vs - 1;
  const Lane l(V);
  const int64_t h = l.h, H = p.H, T = seq.T, VS = V + 1, KV = (int64_t)K * VS;
  const int kg = l.kg;
  const bool first = blockIdx.x == 0 && l.wc == 0; // adds n's column to the row sums
  const float *ck = g.ckpt + (seq.n * H + h) * g.stretches * KV;
  auto rowOk = [&](int i) { return i * KG + kg < K; };
  float dS[KR], dN[KR];
#pragma unroll
  for (int i = 0; i < KR; ++i) {
    const int r = i * KG + kg;
    dS[i] = rowOk(i) && l.live && g.dFinal.p ? g.dFinal.at(seq.n, h, r, l.j) : 0.f;
    dN[i] = rowOk(i) && g.dFinal.p ? g.dFinal.at(seq.n, h, r, V) : 0.f;
  }
  const int64_t stretches = (T + C - 1) / C;
  for (int64_t c = stretches - 1; c >= 0; --c) {
    const int64_t s0 = c * C, len = (T < s0 + C ? T : s0 + C) - s0;
    const int runs = (int)((len + SUB - 1) / SUB);
    float runS[NSUB][KR], runN[NSUB][KR], runM[NSUB];
    float st[KR], nv[KR];
#pragma unroll
    for (int i = 0; i < KR; ++i) {
      const int r = i * KG + kg;
      st[i] = rowOk(i) && l.live ? ck[c * KV + (int64_t)r * VS + l.j] : 0.f;
      nv[i] = rowOk(i) ? ck[c * KV + (int64_t)r * VS + V] : 0.f;
    }
    float m = g.ckptM[(seq.n * H + h) * g.stretches + c];
    for (int r = 0; r < runs; ++r) {
#pragma unroll
      for (int i = 0; i < KR; ++i) runS[r][i] = st[i], runN[r][i] = nv[i];
      runM[r] = m;
      if (r + 1 == runs) break;
      sm.template load<K, WARPS>(p, g.dO, seq, h, l.j0, V, s0 + (int64_t)r * SUB, SUB);
      for (int u = 0; u < SUB; ++u)
        m = MlstmStep<KR, KG>::apply(st, nv, st, nv, m, sm.g[u], sm.ig[u], sm.k[u], sm.v[u][l.wc], kg);
    }
    for (int r = runs - 1; r >= 0; --r) {
      const int64_t r0 = s0 + (int64_t)r * SUB;
      const int cnt = (int)(len - (int64_t)r * SUB < SUB ? len - (int64_t)r * SUB : SUB);
      sm.template load<K, WARPS>(p, g.dO, seq, h, l.j0, V, r0, cnt);
      float hs[SUB + 1][KR], hn[SUB + 1][KR], hm[SUB + 1];
#pragma unroll
      for (int i = 0; i < KR; ++i) hs[0][i] = runS[r][i], hn[0][i] = runN[r][i];
      hm[0] = runM[r];
#pragma unroll
      for (int u = 0; u < SUB; ++u)
        if (u < cnt)
          hm[u + 1] = MlstmStep<KR, KG>::apply(hs[u], hn[u], hs[u + 1], hn[u + 1], hm[u], sm.g[u], sm.ig[u], sm.k[u],
                                               sm.v[u][l.wc], kg);
#pragma unroll
      for (int u = SUB - 1; u >= 0; --u) {
        if (u >= cnt) continue;
        const int64_t row = seq.b * g.Ttok + seq.time(p, r0 + u), th = row * H + h;
        const float mPrev = hm[u], mt = hm[u + 1], gg = sm.g[u], ig = sm.ig[u];
        const float f = __expf(gg + mPrev - mt), w = __expf(ig - mt);
        float den = 0.f; // n_t^T q (num's sum over the columns came from the first kernel)
#pragma unroll
        for (int i = 0; i < KR; ++i) den += sm.q[u][i * KG + kg] * hn[u + 1][i];
        den = groupSum<KG>(den);
        const float floorV = __expf(-mt);
        const bool floored = floorV > fabsf(den);
        const float n = floored ? floorV : fabsf(den);
        const float dn = -p.scale * g.gonumAll[th] / (n * n);
        const float dRead = p.scale * sm.go[u][l.wc] / n, dReadV = floored ? 0.f : dn * (den > 0.f ? 1.f : -1.f);
        if (threadIdx.x == 0 && blockIdx.x == 0) g.floorTerm[th] = floored ? dn * n : 0.f;
        const float v = sm.v[u][l.wc];
        float sums[4][KR];
        float dv = 0.f;
#pragma unroll
        for (int i = 0; i < KR; ++i) {
          const float q = sm.q[u][i * KG + kg], k = sm.k[u][i * KG + kg];
          dS[i] += q * dRead, dN[i] += q * dReadV;
          const float dk = dS[i] * v + (first ? dN[i] : 0.f);
          sums[0][i] = hs[u + 1][i] * dRead + (first ? hn[u + 1][i] * dReadV : 0.f); // dq
          sums[1][i] = dk;                                                           // dk / w
          sums[2][i] = dS[i] * hs[u][i] + (first ? dN[i] * hn[u][i] : 0.f);          // dS . S_{t-1}
          sums[3][i] = k * dk;                                                       // k . dk
          dv += dS[i] * k;
          dS[i] *= f, dN[i] *= f;
        }
        dv = groupSum<KG>(dv);
        if (kg == 0 && l.live && g.dv) g.dv[th * V + l.j] = w * dv;
        float *base = g.part + th * K;
        rowSums<KG, KR, WARPS, 4>(sums, red, [&](int i, const float (&s)[4]) {
          if (i < K)
#pragma unroll
            for (int n4 = 0; n4 < 4; ++n4) base[(n4 * g.blocks + blockIdx.x) * g.slab + i] = s[n4];
        });
      }
    }
  }
  if (g.dinit)
#pragma unroll
    for (int i = 0; i < KR; ++i) {
      if (!rowOk(i)) continue;
      const int64_t e = (seq.n * H + h) * KV + (int64_t)(i * KG + kg) * VS;
      if (l.live) g.dinit[e + l.j] = dS[i];
      if (first) g.dinit[e + V] = dN[i];
    }
}

// 3. The blocks' row sums added: dq, dk (times w_t), and per token the gates'
//    sums over the keys, sums[0] = sum dS . S_{t-1}, sums[1] = sum k . dk.
template <typename = void>
__global__ void mlstmGradSumBlocks(const ScanParams p, const MlstmGrad g, Tensor dq, Tensor dk, float *gates, int64_t K) {
  const int64_t H = p.H;
  MIXC_GRID_STRIDE(e, g.slab) {
    float sq = 0.f, sk = 0.f;
    for (int64_t blk = 0; blk < g.blocks; ++blk) sq += g.part[blk * g.slab + e], sk += g.part[(g.blocks + blk) * g.slab + e];
    const int64_t th = e / K, h = th % H;
    int64_t b, t;
    tokenOf(th / H, g.Ttok, b, t);
    if (dq.p) dq.p[e] = sq;
    if (dk.p) dk.p[e] = __expf(p.igate.at(b, t, h, 0) - g.mrow[th]) * sk;
  }
  MIXC_GRID_STRIDE(th, g.slab / K) {
    float sf = 0.f, sw = 0.f;
    for (int64_t i = 0; i < K; ++i)
      for (int64_t blk = 0; blk < g.blocks; ++blk)
        sf += g.part[(2 * g.blocks + blk) * g.slab + th * K + i], sw += g.part[(3 * g.blocks + blk) * g.slab + th * K + i];
    gates[2 * th] = sf, gates[2 * th + 1] = sw;
  }
}

// 4. The stabilizer's gradient dm backwards over each sequence (a max passes
//    it to the larger argument; the final m gets none), and the gates' gradients.
template <typename = void>
__global__ void mlstmGradGates(const ScanParams p, const MlstmGrad g, const float *gates, Tensor ddecay, Tensor digate,
                               Tensor dinitM, int64_t NS) {
  const int64_t H = p.H;
  MIXC_GRID_STRIDE(x, NS * H) {
    const int64_t h = x % H;
    const SweepSeq seq(p, x / H);
    const float m0 = p.initM.p ? p.initM.at(seq.n, h, 0, 0) : 0.f;
    float dm = 0.f;
    for (int64_t s = seq.T - 1; s >= 0; --s) {
      const int64_t t = seq.time(p, s), th = (seq.b * g.Ttok + t) * H + h;
      const float mt = g.mrow[th];
      const float mPrev = s > 0 ? g.mrow[(seq.b * g.Ttok + seq.time(p, s - 1)) * H + h] : m0;
      const float gg = p.decay.at(seq.b, t, h, 0), ig = p.igate.at(seq.b, t, h, 0);
      const float f = __expf(gg + mPrev - mt), w = __expf(ig - mt);
      const float df = gates[2 * th], dw = gates[2 * th + 1];
      dm -= g.floorTerm[th];
      float dg = df * f, dmPrev = df * f, di = dw * w;
      dm -= df * f + dw * w;
      if (gg + mPrev >= ig) dg += dm, dmPrev += dm;
      else di += dm;
      if (ddecay.p) ddecay.p[th] = dg;
      if (digate.p) digate.p[th] = di;
      dm = dmPrev;
    }
    if (dinitM.p) dinitM.p[seq.n * H + h] = dm;
  }
}

#ifndef MIXC_CUDA_EMULATION
// mLSTM's backward: p as the forward's (q, k, v, decay, igate, init [NS, H, K,
// V + 1], initM; p.Vs = V + 1). dv and dinit go to g's pointers.
template <int K, int CPW, int WARPS, int C>
cudaError_t launchMlstmGrad(const ScanParams &p, MlstmGrad g, const MlstmGradOut &out, int64_t tokB, int64_t tokT,
                            Scratch &scratch, cudaStream_t stream) {
  constexpr int VB = WARPS * CPW;
  const int64_t NS = p.B, H = p.H, V = p.Vs - 1, tokens = tokB * tokT;
  g.Ttok = tokT, g.slab = tokens * H * K, g.blocks = (V + VB - 1) / VB, g.stretches = (p.T + C - 1) / C;
  if (tokens == 0 || NS == 0) return cudaSuccess;
  const int64_t rows = tokens * H;
  g.ckpt = scratch.alloc(std::max<int64_t>(NS * H * g.stretches * K * (V + 1), 1));
  g.ckptM = scratch.alloc(std::max<int64_t>(NS * H * g.stretches, 1));
  g.mrow = scratch.alloc(rows), g.gonum = scratch.alloc(g.blocks * rows), g.gonumAll = scratch.alloc(rows);
  g.floorTerm = scratch.alloc(rows), g.part = scratch.alloc(4 * g.blocks * g.slab);
  float *gates = scratch.alloc(2 * rows);
  if (!g.ckpt || !g.ckptM || !g.mrow || !g.gonum || !g.gonumAll || !g.floorTerm || !g.part || !gates)
    return cudaErrorMemoryAllocation;
  // tokens of no sequence: zero
  cudaMemsetAsync(g.part, 0, 4 * g.blocks * g.slab * sizeof(float), stream);
  cudaMemsetAsync(g.gonum, 0, g.blocks * rows * sizeof(float), stream);
  cudaMemsetAsync(g.mrow, 0, rows * sizeof(float), stream);
  cudaMemsetAsync(g.floorTerm, 0, rows * sizeof(float), stream);
  const dim3 grid((unsigned)g.blocks, (unsigned)H, (unsigned)NS);
  mlstmGradForward<K, CPW, WARPS, C><<<grid, WARPS * 32, 0, stream>>>(p, g);
  sumParts<><<<gridFor(rows), 256, 0, stream>>>(g.gonum, g.blocks, rows, g.gonumAll); // sum_j do_j num_j
  mlstmGradReverse<K, CPW, WARPS, C><<<grid, WARPS * 32, 0, stream>>>(p, g);
  mlstmGradSumBlocks<><<<gridFor(g.slab), 256, 0, stream>>>(p, g, out.dq, out.dk, gates, K);
  mlstmGradGates<><<<gridFor(NS * H), 256, 0, stream>>>(p, g, gates, out.ddecay, out.digate, out.dinitM, NS);
  return cudaGetLastError();
}
#endif // MIXC_CUDA_EMULATION

} // namespace mixc::cuda

#endif
