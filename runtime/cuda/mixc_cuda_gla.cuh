// Part of the CUDA tile library (mixc_cuda.cuh, which includes it): GLA's state-independent work per chunk (glaPrepare) and its launch.
#ifndef MIXC_CUDA_GLA_CUH
#define MIXC_CUDA_GLA_CUH

#ifndef MIXC_CUDA_EMULATION
#include "mixc_cuda.cuh"
#endif

namespace mixc::cuda {

// GLA's state-independent work for every chunk at once (vector decays, the
// secondary chunking above): one CTA per (chunk, head, batch) loads
// Q, K and the gates, forms the cumulative log-decays b, and writes
// Q' = Q . exp(b), K' = K . exp(b_C - b) (both <= |Q|, |K|), the chunk's
// log-decay b_C per key, and P_ij = sum_k Q_ik K_jk exp(b_ik - b_jk) (j <= i)
// by 16 x 16 sub-block pairs: rows of sub-block I relative to the token
// before it, r = 16 I - 1, Q^ = Q . exp(b - b_r), K^ = K . exp(b_r - b) per
// row's own sub-block, and Dp[I, J] = exp(b_r(I) - b_r(J)) on the pairs J < I.
template <int K> struct GlaPrepareLayout {
  static constexpr int C = 64, LK = K + 8, LC = C + 8, LB = K + 8;
  static constexpr int q = 0, k = q + C * LK * 2, g = k + C * LK * 2, bc = g + C * K * 4;
  static constexpr int df = bc + C * LB * 4, ps = df + 6 * K * 4, bytes = ps + C * LC * 2;
};

// Q and K (C x K bf16 in shared memory, ld LK) in place relative to each
// row's sub-block reference r = 16 I - 1 (b_r = 0 for the first):
// Q^ = Q . exp(b - b_r) (<= |Q|), K^ = K . exp(b_r - b) (its exponent at most
// 80), from the cumulative log-decays Bc (ld LB). Kp (glaGradChunk's): K' =
// K . exp(b_C - b) written there first.
template <int K, int LK, int LB, int THREADS, bool WithKp = false>
__device__ __forceinline__ void glaRelativeRows(tile::bf16 *Qs, tile::bf16 *Ks, const float *Bc,
                                                tile::bf16 *Kp = nullptr) {
  constexpr int C = chunk::C;
  const float *bC = Bc + (C - 1) * LB;
  for (int e = threadIdx.x; e < C * K / 2; e += THREADS) {
    const int r = e / (K / 2), kc = (e % (K / 2)) * 2, ref = (r / 16) * 16 - 1;
    const float r0 = ref < 0 ? 0.f : Bc[ref * LB + kc], r1 = ref < 0 ? 0.f : Bc[ref * LB + kc + 1];
    const float b0 = Bc[r * LB + kc], b1 = Bc[r * LB + kc + 1];
    uint32_t *qp = (uint32_t *)&Qs[r * LK + kc], *kp = (uint32_t *)&Ks[r * LK + kc];
    if constexpr (WithKp)
      *(uint32_t *)&Kp[r * LK + kc] = tile::scalePair(*kp, __expf(bC[kc] - b0), __expf(bC[kc + 1] - b1));
    *qp = tile::scalePair(*qp, __expf(b0 - r0), __expf(b1 - r1));
    *kp = tile::scalePair(*kp, __expf(fminf(r0 - b0, 80.f)), __expf(fminf(r1 - b1, 80.f)));
  }
}

// P's 16 x 16 block (I, J), J <= I, into P (two 16 x 8 accumulators): Q^'s
// rows of sub-block I times K^'s of sub-block J (both in place in shared
// memory, ld LK, relative to their sub-block's reference), K^'s keys scaled by
// the pair's factors Dp[I, J] (Df, J < I). glaPrepare's and glaGradChunk's.
template <int K, int LK>
__device__ __forceinline__ void glaPairBlock(float (&P)[2][4], const tile::bf16 *Qs, const tile::bf16 *Ks,
                                             const float *Df, int I, int J) {
  const int t4 = threadIdx.x % 4;
  const float *dp = Df + ((I * (I - 1)) / 2 + J) * K;
#pragma unroll
  for (int kk = 0; kk < K / 16; ++kk) {
    uint32_t qa[4], bb[4];
    tile::loadA(qa, Qs + I * 16 * LK + kk * 16, LK);
    tile::loadBN(bb, Ks + J * 16 * LK + kk * 16, LK);
    if (J < I) {
      const float *f = dp + kk * 16 + 2 * t4;
      bb[0] = tile::scalePair(bb[0], f[0], f[1]), bb[1] = tile::scalePair(bb[1], f[8], f[9]);
      bb[2] = tile::scalePair(bb[2], f[0], f[1]), bb[3] = tile::scalePair(bb[3], f[8], f[9]);
    }
    tile::mma(P[0], qa, bb[0], bb[1]);
    tile::mma(P[1], qa, bb[2], bb[3]);
  }
}

// One CTA's chunk of the GLA form: chunk c of sequence b, head h, and its
// tiles in shared memory (GlaPrepareLayout). The state-independent work of the
// chunk-level ops is the device functions below, one per op (glaChunkCumsum:
// mixer.chunk_cumsum; glaChunkScores: mixer.chunk_scores; glaChunkDecayedRows:
// the rows chunk_output and chunk_local_states read), which the prepare
// kernels printed from the IR call in the ops' order. d: where they write.
template <int K> struct GlaChunk {
  using L = GlaPrepareLayout<K>;
  static_assert(K % 64 == 0 && K <= 128, "GLA tiles");
  static constexpr int C = L::C, LK = L::LK, LC = L::LC, LB = L::LB, THREADS = 256;
  tile::bf16 *Qs, *Ks, *Ps;
  unsigned char *Gs;
  float *Bc, *Df;
  ScanParams p; // the chunk's sequence (forSequence)
  int64_t slots, c, h, b;
  __device__ GlaChunk(const ScanParams &call, unsigned char *smem)
      : Qs((tile::bf16 *)(smem + L::q)), Ks((tile::bf16 *)(smem + L::k)), Ps((tile::bf16 *)(smem + L::ps)),
        Gs(smem + L::g), Bc((float *)(smem + L::bc)), Df((float *)(smem + L::df)),
        slots((call.T + C - 1) / C), c(blockIdx.x % slots), h((blockIdx.x / slots) % call.H),
        b(blockIdx.x / (slots * call.H)) {
    p = forSequence(call, b);
  }
  __device__ bool live() const { return c * C < p.T; } // not past a packed sequence's end
};

// The chunk's rows of q and k and the decays' input, by cp.async.
template <int K> __device__ __forceinline__ void glaLoadChunk(GlaChunk<K> &x) {
  chunk::copyRows<K, 256>(x.Qs, x.LK, x.p.q, x.b, x.h, x.c, x.p.T, 0, K);
  chunk::copyRows<K, 256>(x.Ks, x.LK, x.p.k, x.b, x.h, x.c, x.p.T, 0, K);
  chunk::copyKeyDecays<K, 256>(x.p, x.b, x.h, x.c, x.Gs);
  tile::commit();
  tile::waitGroups<0>();
  __syncthreads();
}

// mixer.chunk_cumsum: the cumulative log-decays b per key (DecayMap applied
// to the input as it is read), and the chunk's total b_C to d.chunkDecay.
template <bool LogDecay, typename DecayMap, int K>
__device__ __forceinline__ void glaChunkCumsum(GlaChunk<K> &x, const DeltaChunks &d) {
  chunk::cumulativeKeyDecays<K, GlaChunk<K>::LB, LogDecay, 256, DecayMap>(x.p, x.h, x.c, x.Gs, x.Bc);
  const float *bC = x.Bc + (x.C - 1) * x.LB;
  for (int i = threadIdx.x; i < K; i += 256) d.chunkDecay[((x.b * x.slots + x.c) * x.p.H + x.h) * K + i] = bC[i];
}

// The rows the walk reads (chunk_output's Q' = Q . exp(b), chunk_local_states'
// K' = K . exp(b_C - b)), to d.qp and d.w, a pair of features per thread.
template <int K> __device__ __forceinline__ void glaChunkDecayedRows(GlaChunk<K> &x, const DeltaChunks &d) {
  constexpr int C = GlaChunk<K>::C, LK = GlaChunk<K>::LK, LB = GlaChunk<K>::LB;
  const float *bC = x.Bc + (C - 1) * LB;
  tile::bf16 *qo = (tile::bf16 *)d.qp.p + x.b * d.qp.s0 + d.qp.head(x.h) + x.c * C * d.qp.s1;
  tile::bf16 *ko = (tile::bf16 *)d.w.p + x.b * d.w.s0 + d.w.head(x.h) + x.c * C * d.w.s1;
  for (int e = threadIdx.x; e < C * K / 2; e += 256) {
    const int r = e / (K / 2), kc = (e % (K / 2)) * 2;
    const float b0 = x.Bc[r * LB + kc], b1 = x.Bc[r * LB + kc + 1];
    const uint32_t qv = *(const uint32_t *)&x.Qs[r * LK + kc], kv = *(const uint32_t *)&x.Ks[r * LK + kc];
    *(uint32_t *)(qo + r * d.qp.s1 + kc) = tile::scalePair(qv, __expf(b0), __expf(b1));
    *(uint32_t *)(ko + r * d.w.s1 + kc) = tile::scalePair(kv, __expf(bC[kc] - b0), __expf(bC[kc + 1] - b1));
  }
  __syncthreads();
}

// mixer.chunk_scores: P_ij = sum_k Q_ik K_jk exp(b_ik - b_jk), j <= i, by
// 16 x 16 sub-block pairs (Q and K made relative to their sub-blocks in
// place: after glaChunkDecayedRows, which reads them as loaded), to d.pv.
template <int K> __device__ __forceinline__ void glaChunkScores(GlaChunk<K> &x, const DeltaChunks &d) {
  constexpr int LK = GlaChunk<K>::LK, LC = GlaChunk<K>::LC, LB = GlaChunk<K>::LB;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t4 = lane % 4;
  glaRelativeRows<K, LK, LB, 256>(x.Qs, x.Ks, x.Bc);
  chunk::subBlockPairDecays<K, LB, 256>(x.Bc, x.Df); // Dp[I, J], J < I
  __syncthreads();
  // P by 16 x 16 blocks (I, J), J <= I; blocks above the diagonal are zeros.
  for (int blk = warp; blk < 16; blk += 8) {
    const int I = blk / 4, J = blk % 4, r0 = I * 16;
    float P[2][4] = {};
    if (J <= I) glaPairBlock<K, LK>(P, x.Qs, x.Ks, x.Df, I, J);
#pragma unroll
    for (int n = 0; n < 2; ++n) {
      const int j = J * 16 + n * 8 + 2 * t4, i0 = r0 + g, i1 = r0 + g + 8;
      *(uint32_t *)&x.Ps[i0 * LC + j] = tile::pack(j <= i0 ? P[n][0] : 0.f, j + 1 <= i0 ? P[n][1] : 0.f);
      *(uint32_t *)&x.Ps[i1 * LC + j] = tile::pack(j <= i1 ? P[n][2] : 0.f, j + 1 <= i1 ? P[n][3] : 0.f);
    }
  }
  __syncthreads();
  storeRows<GlaChunk<K>::C, 256>(d.pv, x.b, x.h, x.c, x.Ps, LC);
}

// The GLA form's prepare for the backward's launches (the forward's is
// printed from the chunk-level ops as the same calls).
template <int K, bool LogDecay, typename DecayMap>
__global__ void __launch_bounds__(256, 2) glaPrepare(const ScanParams call, const DeltaChunks d) {
  MIXC_DYNAMIC_SHARED(smem);
  GlaChunk<K> x(call, smem);
  if (!x.live()) return;
  glaLoadChunk(x);
  glaChunkCumsum<LogDecay, DecayMap>(x, d);
  glaChunkDecayedRows(x, d);
  glaChunkScores(x, d);
}

#ifndef MIXC_CUDA_EMULATION
// A GLA prepare kernel (glaPrepare, or one printed from the chunk-level ops)
// over every chunk: its rows (Q', K', P) and the chunks' log-decays per key
// in scratch, given to d. Nothing to launch for an empty call.
template <int K, typename Kernel>
cudaError_t launchGlaPrepareKernel(Kernel kernel, const ScanParams &p, DeltaChunks &d, Scratch &scratch,
                                   cudaStream_t stream) {
  constexpr int C = chunk::C;
  if (p.B * p.T * p.H == 0) return cudaSuccess;
  const int64_t chunks = (p.T + C - 1) / C, rows = p.B * chunks * C * p.H;
  __nv_bfloat16 *base = (__nv_bfloat16 *)scratch.alloc(rows * (2 * K + C) / 2 + p.B * chunks * p.H * K);
  if (!base) return cudaErrorMemoryAllocation;
  d.qp = chunkRows(p, base, K), d.w = chunkRows(p, base + rows * K, K), d.pv = chunkRows(p, base + 2 * rows * K, C);
  d.chunkDecay = (float *)(base + rows * (2 * K + C));
  constexpr int bytes = GlaPrepareLayout<K>::bytes;
  if (cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes)) return e;
  kernel<<<(unsigned)(chunks * p.H * p.B), 256, bytes, stream>>>(p, d);
  return cudaSuccess;
}

// glaPrepare over every chunk: the forward's and the chunked backward's
// (which reads Q' in its reverse walk and K' in its forward one).
template <int K, bool LogDecay, typename DecayMap>
cudaError_t launchGlaPrepare(const ScanParams &p, DeltaChunks &d, Scratch &scratch, cudaStream_t stream) {
  return launchGlaPrepareKernel<K>(glaPrepare<K, LogDecay, DecayMap>, p, d, scratch, stream);
}

// GLA: glaPrepare, then the state walk in its GLA form (split along the
// sequence where the pass says so).
template <int K, bool LogDecay, typename DecayMap>
cudaError_t launchChunkedGla(const ScanParams &p, const StatePass &pass, Scratch &scratch, cudaStream_t stream) {
  DeltaChunks d;
  if (cudaError_t e = launchGlaPrepare<K, LogDecay, DecayMap>(p, d, scratch, stream)) return e;
  return launchWalk<K, false, LogDecay, true>(p, d, pass, scratch, stream);
}
#endif // MIXC_CUDA_EMULATION

} // namespace mixc::cuda

#endif
