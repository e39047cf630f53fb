// Part of the CUDA tile library (mixc_cuda.cuh, which includes it): a
// chunk's operands between global memory and the CTA, for the chunked
// kernels (chunks of chunk::C tokens, 256 threads): token rows into shared
// memory by cp.async, a chunk's gates and their cumulative sums, per-token
// scales, and a warp's block of the state loaded, stored or copied. Device
// code only, so that the unit tests run it on host threads
// (test/unit/CudaEmulation.h).
#ifndef MIXC_CUDA_CHUNK_IO_CUH
#define MIXC_CUDA_CHUNK_IO_CUH

#ifndef MIXC_CUDA_EMULATION
#include "mixc_cuda.cuh"
#endif

namespace mixc::cuda {
namespace chunk {
// A warp's block of the state in mma accumulator layout, tile rows 16 mt +
// {g, g + 8}, tile columns 8 nt + 2 t4 + {0, 1}: state rows sr + tile row and
// columns col0 + tile column (the chunked SSD/GLA kernels), or Transposed
// (deltaStates: tile rows are value columns from col0, tile columns key rows).
// From `from` (a state-shaped view; null reads as zeros); Add: S = f S + from.
// rowLog (Add): per state row (key) log-factors instead of f.
// f(element, row, col) for each of this lane's accumulators of the block.
template <bool Transposed, typename Elem, int MT, int NT, typename F>
__device__ __forceinline__ void forStateElements(Elem (&S)[MT][NT][4], int sr, int64_t col0, F f) {
  const int g = (threadIdx.x % 32) / 4, t4 = threadIdx.x % 4;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int row = Transposed ? sr + nt * 8 + 2 * t4 + (e & 1) : sr + mt * 16 + g + (e >= 2 ? 8 : 0);
        const int64_t col = Transposed ? col0 + mt * 16 + g + (e >= 2 ? 8 : 0) : col0 + nt * 8 + 2 * t4 + (e & 1);
        f(S[mt][nt][e], row, col);
      }
}
template <bool Transposed, bool Add = false, int MT, int NT>
__device__ __forceinline__ void loadState(float (&S)[MT][NT][4], const View &from, int64_t Vs, int64_t b, int64_t h,
                                          int sr, int64_t col0, float f = 0.f, const float *rowLog = nullptr) {
  forStateElements<Transposed>(S, sr, col0, [&](float &s, int row, int64_t col) {
    const float x = from.p && col < Vs ? from.at(b, h, row, col) : 0.f;
    if constexpr (Add) s = (rowLog ? __expf(rowLog[row]) : f) * s + x;
    else s = x;
  });
}
template <bool Transposed, int MT, int NT>
__device__ __forceinline__ void loadState(float (&S)[MT][NT][4], const ScanParams &p, int64_t b, int64_t h, int sr,
                                          int64_t col0) {
  loadState<Transposed>(S, p.init, p.Vs, b, h, sr, col0);
}
template <bool Transposed, int MT, int NT>
__device__ __forceinline__ void storeState(const float (&S)[MT][NT][4], const View &to, int64_t Vs, int64_t b,
                                           int64_t h, int sr, int64_t col0) {
  if (!to.p) return;
  forStateElements<Transposed>(S, sr, col0, [&](const float &s, int row, int64_t col) {
    if (col < Vs) to.set(b, h, row, col, s);
  });
}
template <bool Transposed, int MT, int NT>
__device__ __forceinline__ void storeState(const float (&S)[MT][NT][4], const ScanParams &p, int64_t b, int64_t h,
                                           int sr, int64_t col0) {
  storeState<Transposed>(S, p.state, p.Vs, b, h, sr, col0);
}
// The bf16 copy of the block in shared memory (the B operand of Q S), from column c0 of the tile.
template <int MT, int NT>
__device__ __forceinline__ void copyState(__nv_bfloat16 *Ss, int ld, const float (&S)[MT][NT][4], int sr, int c0) {
  const int g = (threadIdx.x % 32) / 4, t4 = threadIdx.x % 4;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      const int row = sr + mt * 16 + g, col = c0 + nt * 8 + 2 * t4;
      *(uint32_t *)&Ss[row * ld + col] = tile::pack(S[mt][nt][0], S[mt][nt][1]);
      *(uint32_t *)&Ss[(row + 8) * ld + col] = tile::pack(S[mt][nt][2], S[mt][nt][3]);
    }
}
// Starts copying a chunk's rows of a bf16 operand, WIDTH features from
// column col0, into dst (ld elements per row), with THREADS threads; rows past
// T and columns at or past `limit` read as zeros. Each thread keeps one
// 16-byte column segment and steps a row pointer.
// seg: elements between its 16-byte column segments in dst (8: row-major
// rows; tile::tileGroup<C> / 2: a wgmma operand tile, tile::tileAt<C>).
template <int WIDTH, int THREADS>
__device__ __forceinline__ void copyRows(__nv_bfloat16 *dst, int ld, const View &v, int64_t b, int64_t h,
                                         int64_t chunkIndex, int64_t T, int64_t col0, int64_t limit, int seg = 8) {
  constexpr int SEG = WIDTH / 8, STEP = THREADS / SEG, ROWS = (C + STEP - 1) / STEP;
  static_assert(WIDTH % 8 == 0 && THREADS % SEG == 0, "rows of 16-byte segments");
  const int s = threadIdx.x % SEG, r0 = threadIdx.x / SEG;
  const bool colOk = col0 + s * 8 < limit;
  const int64_t t0 = chunkIndex * C;
  const __nv_bfloat16 *src = (const __nv_bfloat16 *)v.p + b * v.s0 + v.head(h) + (colOk ? col0 + s * 8 : 0);
  __nv_bfloat16 *d = dst + r0 * ld + s * seg;
  if (colOk && t0 + C <= T) {
    // A whole chunk (all but the last): the rows of this thread's segment at
    // one pointer step apart, without per-row tests. Per-row 64-bit address
    // arithmetic and validity selects made up half the state walk's
    // instructions.
    const __nv_bfloat16 *at = src + (t0 + r0) * v.s1;
    const int64_t step = (int64_t)STEP * v.s1;
#pragma unroll
    for (int i = 0; i < ROWS; ++i) {
      if (C % STEP == 0 || i * STEP + r0 < C) tile::copy16(d + i * STEP * ld, at);
      at += step;
    }
    return;
  }
#pragma unroll
  for (int i = 0; i < ROWS; ++i) {
    const int r = i * STEP + r0;
    if (C % STEP != 0 && r >= C) break;
    const bool ok = colOk && t0 + r < T;
    tile::copy16(d + i * STEP * ld, ok ? src + (t0 + r) * v.s1 : src, ok);
  }
}
// A chunk's scalar log-decays for tokens 2 lane and 2 lane + 1 (zero past T).
template <bool LogDecay, typename Scalars = StoredScalars>
__device__ __forceinline__ void scalarGates(const ScanParams &p, int64_t b, int64_t h, int64_t chunkIndex, float &g0,
                                            float &g1) {
  const int64_t t = chunkIndex * C + 2 * (threadIdx.x % 32);
  g0 = g1 = 0.f;
  if (t < p.T) g0 = LogDecay ? Scalars::decay(p, b, t, h) : __logf(Scalars::decay(p, b, t, h));
  if (t + 1 < p.T) g1 = LogDecay ? Scalars::decay(p, b, t + 1, h) : __logf(Scalars::decay(p, b, t + 1, h));
}
// The same from the chunk's values that the prepare kernel wrote
// (DeltaChunks::scalars: log-decays, zero past T).
__device__ __forceinline__ void preparedGates(const float *chunkScalars, float &g0, float &g1) {
  const int i = 2 * (threadIdx.x % 32);
  g0 = chunkScalars[i], g1 = chunkScalars[i + 1];
}
// One warp: Bc[i] = g_0 + ... + g_i from two gates per lane.
__device__ __forceinline__ void cumulativeGates(float g0, float g1, float *Bc) {
  const int lane = threadIdx.x % 32;
  float s = g0 + g1;
#pragma unroll
  for (int o = 1; o < 32; o *= 2) {
    const float y = __shfl_up_sync(0xffffffffu, s, o);
    if (lane >= o) s += y;
  }
  Bc[2 * lane] = s - g1;
  Bc[2 * lane + 1] = s;
}
// Starts copying a chunk's decays per key (f32 or bf16 rows of K; zeros past T)
// into `raw`, K * 4 bytes a row, by cp.async.
template <int K, int THREADS>
__device__ __forceinline__ void copyKeyDecays(const ScanParams &p, int64_t b, int64_t h, int64_t chunkIndex,
                                              unsigned char *raw) {
  const int gsize = p.decay.dtype == MIXC_F32 ? 4 : 2, segs = K * gsize / 16;
  for (int e = threadIdx.x; e < C * segs; e += THREADS) {
    const int r = e / segs, sgm = e % segs;
    const int64_t t = chunkIndex * C + r, tt = t < p.T ? t : 0;
    const unsigned char *src =
        (const unsigned char *)p.decay.p + (b * p.decay.s0 + tt * p.decay.s1 + p.decay.head(h)) * gsize + sgm * 16;
    tile::copy16(raw + (size_t)r * K * 4 + sgm * 16, src, t < p.T);
  }
}
// The chunk's cumulative log-decays per key, G[r * LB + k], from the rows
// copyKeyDecays brought in (a factor's log when !LogDecay): two threads per
// key, 32 rows each, then the second half offset. Every thread ends past a barrier.
template <int K, int LB, bool LogDecay, int THREADS, typename DecayMap = NoMap>
__device__ __forceinline__ void cumulativeKeyDecays(const ScanParams &p, int64_t h, int64_t chunkIndex,
                                                    const unsigned char *raw, float *G) {
  const int gsize = p.decay.dtype == MIXC_F32 ? 4 : 2;
  for (int kk = threadIdx.x; kk < 2 * K; kk += THREADS) {
    const int ch = kk % K, half = kk / K;
    const auto m = DecayMap::load(p, h, ch); // the channel's parameters, once
    float acc = 0.f;
    for (int r = half * 32; r < half * 32 + 32; ++r) {
      float x = gsize == 4 ? ((const float *)(raw + (size_t)r * K * 4))[ch]
                           : __bfloat162float(((const __nv_bfloat16 *)(raw + (size_t)r * K * 4))[ch]);
      if constexpr (DecayMap::fused) x = chunkIndex * C + r < p.T ? DecayMap::apply(x, m) : 0.f;
      if constexpr (!LogDecay) x = chunkIndex * C + r < p.T ? __logf(x) : 0.f;
      acc += x;
      G[r * LB + ch] = acc;
    }
  }
  __syncthreads();
  for (int kk = threadIdx.x; kk < K; kk += THREADS) {
    const float base = G[31 * LB + kk];
    for (int r = 32; r < 64; ++r) G[r * LB + kk] += base;
  }
  __syncthreads();
}
// The factors between the chunk's 16-token sub-blocks, per key:
// D[pi * K + k] = exp(G_r(I) - G_r(J)) for the pairs J < I in the order
// (1,0) (2,0) (2,1) (3,0) (3,1) (3,2), r(X) = 16 X - 1 the token before
// sub-block X (G_r(0) = 0). Each <= 1.
template <int K, int LB, int THREADS> __device__ __forceinline__ void subBlockPairDecays(const float *G, float *D) {
  for (int e = threadIdx.x; e < 6 * K; e += THREADS) {
    const int pi = e / K, kc = e % K, I = pi < 1 ? 1 : pi < 3 ? 2 : 3, J = pi - (I * (I - 1)) / 2;
    auto ref = [&](int X) { return X == 0 ? 0.f : G[(16 * X - 1) * LB + kc]; };
    D[pi * K + kc] = __expf(ref(I) - ref(J));
  }
}
// Starts copying a chunk's per-token scales of a and k (fp32 scratch) into Sa
// and Sk, 4 bytes per token by cp.async (zeros past T).
template <int THREADS>
__device__ __forceinline__ void copyScales(const ScanParams &p, int64_t b, int64_t h, int64_t chunkIndex, float *Sa,
                                           float *Sk) {
  for (int i = threadIdx.x; i < 2 * C; i += THREADS) {
    // (the fields selected, not the views: a selected reference would keep p in local memory)
    const bool first = i < C;
    const float *base = (const float *)(first ? p.aScale.p : p.kScale.p);
    const int64_t s0 = first ? p.aScale.s0 : p.kScale.s0, s1 = first ? p.aScale.s1 : p.kScale.s1;
    const int64_t head = first ? p.aScale.head(h) : p.kScale.head(h);
    const int r = i % C;
    const int64_t t = chunkIndex * C + r;
    const bool ok = t < p.T;
    tile::copy4((first ? Sa : Sk) + r, base + b * s0 + (ok ? t : 0) * s1 + head, ok);
  }
}
// The same computed from their inputs (scalars_in_loads): plain stores.
template <int THREADS, typename Scalars>
__device__ __forceinline__ void computeScales(const ScanParams &p, int64_t b, int64_t h, int64_t chunkIndex,
                                              float *Sa, float *Sk) {
  for (int i = threadIdx.x; i < 2 * C; i += THREADS) {
    const int r = i % C;
    const int64_t t = chunkIndex * C + r;
    if (i < C) Sa[r] = t < p.T ? Scalars::aScale(p, b, t, h) : 0.f;
    else Sk[r] = t < p.T ? Scalars::kScale(p, b, t, h) : 0.f;
  }
}
// A chunk's scales into Sa and Sk, either way; a barrier (after the cp.async
// wait) before they are read.
template <int THREADS, typename Scalars = StoredScalars>
__device__ __forceinline__ void loadScales(const ScanParams &p, int64_t b, int64_t h, int64_t chunkIndex, float *Sa,
                                           float *Sk) {
  if constexpr (Scalars::fused) computeScales<THREADS, Scalars>(p, b, h, chunkIndex, Sa, Sk);
  else copyScales<THREADS>(p, b, h, chunkIndex, Sa, Sk);
}
} // namespace chunk
} // namespace mixc::cuda

#endif
