// Part of the CUDA tile library (mixc_cuda.cuh, which includes it): the delta rules' UT form: the state-independent work of every chunk
// (deltaPrepare).
#ifndef MIXC_CUDA_UT_CUH
#define MIXC_CUDA_UT_CUH

#ifndef MIXC_CUDA_EMULATION
#include "mixc_cuda.cuh"
#endif

namespace mixc::cuda {

// The chunked schedule of diagonal-plus-low-rank transitions with an identity
// or scalar diagonal (DeltaNet, Gated DeltaNet; the WY/UT form),
// for bf16 q, k, v, a, b: S_t = alpha_t S_{t-1} + a_t (b_t^T S_{t-1}) + k_t v_t^T.
// With b the cumulative log-decay in the chunk (gamma = exp(b), gamma' =
// exp(b - g) the decay before the token), e_j = exp(b_C - b_j),
//   L_A = StrictLower(exp(b_{i-1} - b_j) . B A^T),  L_K likewise with K,
//   M . X = Causal(exp(b_i - b_j) . X),  T = (I - L_A)^{-1},
// the chunk's pseudo-values are U = W S_0 + R V and
//   O = Q' S_0 + P V,   S = gamma_C S_0 + (A . e)^T U + (K . e)^T V,
// with W = T Gamma' B, R = T L_K, Q' = Gamma Q + (M . Q A^T) W and
// P = (M . Q A^T) R + M . Q K^T. None of W, R, Q', P depends on the state, so
// a first kernel computes them for every chunk at once (deltaPrepare: the
// triangular solve in fp32, the products on tensor cores) and writes them as
// bf16; the second (deltaStates) walks the chunks in order with the state in
// registers while the next chunk's operands arrive by cp.async. The serial
// part is then five tensor-core products per chunk and no solve.
template <int K> struct DeltaPrepareLayout {
  static constexpr int C = 64, LK = K + 8, LC = C + 8, LF = C + 4;
  static constexpr int rowsK = C * LK * 2, rowsC = C * LC * 2, la = C * LF * 4;
  // The item's rows, each space reused as the item proceeds:
  static constexpr int q = 0, bb = q + rowsK;                            // Q (then Q'), B (then Gamma' B)
  static constexpr int a = bb + rowsK;                                   // A, then L_A (fp32), then W
  static constexpr int k = a + (rowsK > la ? rowsK : la);                // K, then M . Q A^T and T
  static constexpr int stage = k + (rowsK > 2 * rowsC ? rowsK : 2 * rowsC);
  static constexpr int lk = stage;                                       // L_K, then R
  static constexpr int mqk = lk + rowsC;                                 // M . Q K^T, then P
  static constexpr int bc = mqk + rowsC;                                 // b, then exp(b_{i-1})
  static constexpr int sc = bc + 2 * C * 4;                              // scales of a and k
  static constexpr int tf = sc + 2 * C * 4;                              // T in fp32
  static constexpr int pt = tf + la, bytes = pt + 3 * 16 * 24 * 4;       // 16 x 16 partial products
};

// Scratch rows [B, chunks * C, H, D] of bf16 at `at`: what the prepare kernels write.
inline View chunkRows(const ScanParams &p, __nv_bfloat16 *at, int D) {
  const int64_t chunks = (p.T + chunk::C - 1) / chunk::C;
  View v;
  v.p = at, v.dtype = MIXC_BF16, v.s3 = 1, v.s2 = D, v.s1 = p.H * D, v.s0 = chunks * chunk::C * p.H * D;
  return v;
}

// The state-independent operands of every chunk, as rows [B, chunks * C, H, D] of bf16.
struct DeltaChunks {
  View w, qp, r, pv;
  View ap, kp; // vector decays: a and k decayed to the chunk's end (dplrVectorPrepare)
  View bn;     // l2norm_b (the walk of deltaStates): b's rows normalized by deltaPrepare
  // scalars_in_loads (the walk of deltaStates): each item's per-token scalars
  // as the prepare kernel computed them, [B, slots, H, 3, C] fp32: the
  // log-decays, the scales of a, the scales of k (zeros past T).
  float *scalars = nullptr;
  // Instead (the wgmma walk): every item's W, Q', R, P as one block of wgmma
  // tiles (DeltaTiles), item (b, c, h) at tiles + ((b chunks + c) H + h) bytes.
  unsigned char *tiles = nullptr;
  bool oRows = false; // o is bf16 rows that 16-byte stores (the wgmma walk: 4-byte stores) can write
  // The SSD form split along the sequence (few batch x head pairs): segments
  // of segChunks chunks, blockIdx.x = value block + blocks * segment. The
  // local pass writes each segment's own final state (from a zero state) and
  // total log-decay; the full pass starts each segment from the initial
  // state folded with the segments before it.
  int64_t segChunks = 0; // 0: one segment
  int segments = 1;
  bool localPass = false;
  View segState; // [B * segments, H, K, Vs] fp32 (state-shaped: at(b * segments + g, h, row, col))
  float *segDecay = nullptr; // [B, H, segments] (GLA: [B, H, segments, K])
  float *chunkDecay = nullptr; // GLA: each chunk's total log-decay per key, [B, chunks, H, K]
  // The chunked backward's recomputing walk (deltaStates of the delta rules,
  // one warp per 16 value columns): instead of o, every chunk's starting
  // state as bf16 [B, chunks, H, K, V] and its pseudo-values U as rows.
  __nv_bfloat16 *chunkStates = nullptr;
  View uRows;
};

// Copies a chunk's rows (C x WIDTH bf16, ld elements apart in shared memory) to rows of dst.
template <int WIDTH, int THREADS>
__device__ __forceinline__ void storeRows(const View &dst, int64_t b, int64_t h, int64_t chunkIndex,
                                          const __nv_bfloat16 *src, int ld) {
  constexpr int SEG = WIDTH / 8, STEP = THREADS / SEG;
  static_assert(WIDTH % 8 == 0 && THREADS % SEG == 0, "rows of 16-byte segments");
  const int s = threadIdx.x % SEG;
  __nv_bfloat16 *out = (__nv_bfloat16 *)dst.p + b * dst.s0 + dst.head(h) + chunkIndex * chunk::C * dst.s1 + s * 8;
#pragma unroll
  for (int r = threadIdx.x / SEG; r < chunk::C; r += STEP)
    *(uint4 *)(out + r * dst.s1) = *(const uint4 *)(src + r * ld + s * 8);
}

// A chunk's rows (C x K bf16, ld elements apart in shared memory) scaled to
// unit L2 norm in place, x / sqrt(x^T x + 1e-12) rounded to bf16 as a
// normalized copy in memory would be: a warp per row.
template <int K, int THREADS>
__device__ __forceinline__ void l2normRows(__nv_bfloat16 *rows, int ld) {
  static_assert(K % 64 == 0, "pairs of columns over the warp");
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int r = warp; r < chunk::C; r += THREADS / 32) {
    __nv_bfloat16 *x = rows + r * ld;
    float ss = 0.f;
#pragma unroll
    for (int i = 2 * lane; i < K; i += 64) {
      const float2 f = __bfloat1622float2(*(const __nv_bfloat162 *)&x[i]);
      ss += f.x * f.x + f.y * f.y;
    }
    const float s = rsqrtf(warpSum(ss) + 1e-12f);
#pragma unroll
    for (int i = 2 * lane; i < K; i += 64) {
      const float2 f = __bfloat1622float2(*(const __nv_bfloat162 *)&x[i]);
      *(uint32_t *)&x[i] = tile::pack(f.x * s, f.y * s);
    }
  }
}

// A chunk's operands of the wgmma walk that all its value blocks share, as
// one block of tiles (tile::tileAt<C>): W, Q', R, P, the rows of a (scaled:
// of b) and k (not scaled), the cumulative log-decays b and the scales of a
// and k (fp32), so that one bulk copy brings them in.
template <int K, bool Scaled> struct DeltaTiles {
  static constexpr int C = 64, rowsK = tile::tileBytes<C, K>, rowsC = tile::tileBytes<C, C>;
  static constexpr int w = 0, qp = w + rowsK, r = qp + rowsK, pv = r + rowsC, a = pv + rowsC;
  static constexpr int k = a + rowsK, gates = k + (Scaled ? 0 : rowsK);
  static constexpr int scales = gates + C * 4, bytes = scales + 2 * C * 4;
};
// Copies a chunk's rows (C x WIDTH bf16, ld elements apart in shared memory)
// into a tile in global memory: consecutive threads write consecutive 16 bytes.
template <int WIDTH, int THREADS>
__device__ __forceinline__ void storeChunkTile(unsigned char *dst, const __nv_bfloat16 *src, int ld) {
  constexpr int SEGS = chunk::C * WIDTH / 8;
#pragma unroll
  for (int e = threadIdx.x; e < SEGS; e += THREADS) {
    const int r = e % chunk::C, cg = e / chunk::C;
    *(uint4 *)(dst + tile::tileAt<chunk::C>(r, cg * 8)) = *(const uint4 *)(src + r * ld + cg * 8);
  }
}

// One CTA's item of the UT form's prepare (chunk c of sequence b, head h; 8
// warps, two CTAs per SM) and its tiles in shared memory (DeltaPrepareLayout,
// regions reused as the steps go: A's and K's rows become L_A, M . Q A^T and
// T). The steps below are the chunk-level ops' state-independent work, in
// order: deltaLoadChunk, deltaChunkCumsum (mixer.chunk_cumsum),
// deltaChunkLanded, deltaChunkSystem (chunk_ut's L and chunk_ut_output's
// masked scores), deltaChunkSolve (chunk_ut's p and u: W, R),
// deltaChunkOutputRows (chunk_ut_output's Q', P), deltaStoreChunk. Warp
// (rw, hf) takes rows 16 rw.. of each product, in the column half hf.
template <int K> struct DeltaChunk {
  using L = DeltaPrepareLayout<K>;
  static_assert(K % 64 == 0, "chunked tiles");
  static constexpr int C = L::C, LK = L::LK, LC = L::LC, LF = L::LF;
  unsigned char *smem;
  tile::bf16 *Qs, *Bs, *As, *Ks, *Ws, *MQA, *Ts, *LKs, *MQK;
  float *LA, *Bc, *Ep, *Sa, *Sk;
  ScanParams p; // the item's sequence (forSequence)
  int64_t slots, c = 0, h = 0, b = 0;
  bool inGrid;
  float *scalarsOut = nullptr;   // the walk's copy of the per-token scalars (scalars_in_loads)
  unsigned char *tiles = nullptr; // the wgmma walk's block of the item
  __device__ DeltaChunk(const ScanParams &call, unsigned char *smem_)
      : smem(smem_), Qs((tile::bf16 *)(smem_ + L::q)), Bs((tile::bf16 *)(smem_ + L::bb)),
        As((tile::bf16 *)(smem_ + L::a)), Ks((tile::bf16 *)(smem_ + L::k)), Ws(As), MQA(Ks), Ts(Ks + C * LC),
        LKs((tile::bf16 *)(smem_ + L::lk)), MQK((tile::bf16 *)(smem_ + L::mqk)), LA((float *)As),
        Bc((float *)(smem_ + L::bc)), Ep(Bc + C), Sa((float *)(smem_ + L::sc)), Sk(Sa + C),
        slots((call.T + C - 1) / C), inGrid((int64_t)blockIdx.x < slots * call.H * call.B) {
    // Items (sequence b, chunk c, head h) in chunk slots of the longest sequence.
    if (!inGrid) return;
    const int64_t item = blockIdx.x;
    c = item % slots, h = (item / slots) % call.H, b = item / (slots * call.H);
    p = forSequence(call, b);
  }
  __device__ bool live() const { return inGrid && c * C < p.T; } // not past a packed sequence's end
  __device__ float bprev(int i) const { return i == 0 ? 0.f : Bc[i - 1]; }
};

// The item's rows by cp.async (scaled: a and k are multiples of b's rows,
// whose per-token scales load instead).
template <bool Scaled, typename Scalars, int K> __device__ __forceinline__ void deltaLoadChunk(DeltaChunk<K> &x) {
  const ScanParams &p = x.p;
  chunk::copyRows<K, 256>(x.Qs, x.LK, p.q, x.b, x.h, x.c, p.T, 0, K);
  if constexpr (!Scaled) {
    chunk::copyRows<K, 256>(x.Ks, x.LK, p.k, x.b, x.h, x.c, p.T, 0, K);
    chunk::copyRows<K, 256>(x.As, x.LK, p.a, x.b, x.h, x.c, p.T, 0, K);
  } else {
    chunk::loadScales<256, Scalars>(p, x.b, x.h, x.c, x.Sa, x.Sk);
  }
  chunk::copyRows<K, 256>(x.Bs, x.LK, p.b, x.b, x.h, x.c, p.T, 0, K);
  tile::commit();
}

// mixer.chunk_cumsum (warp 0, while the rows arrive): the cumulative
// log-decays b and exp(b) before and at each token (Ep), and the walk's copy
// of the decays where the kernels compute them (scalars_in_loads).
template <bool Decay, bool LogDecay, typename Scalars, int K>
__device__ __forceinline__ void deltaChunkCumsum(DeltaChunk<K> &x, const DeltaChunks &d) {
  constexpr int C = DeltaChunk<K>::C;
  x.scalarsOut = Scalars::fused && d.scalars ? d.scalars + ((x.b * x.slots + x.c) * x.p.H + x.h) * 3 * C : nullptr;
  if (threadIdx.x / 32 != 0) return;
  const int lane = threadIdx.x % 32;
  float g0 = 0.f, g1 = 0.f;
  if constexpr (Decay) chunk::scalarGates<LogDecay, Scalars>(x.p, x.b, x.h, x.c, g0, g1);
  if (x.scalarsOut) x.scalarsOut[2 * lane] = g0, x.scalarsOut[2 * lane + 1] = g1;
  chunk::cumulativeGates(g0, g1, x.Bc);
  __syncwarp();
  x.Ep[2 * lane] = __expf(x.bprev(2 * lane)), x.Ep[2 * lane + 1] = __expf(x.Bc[2 * lane]);
}

// The rows have landed: the scales' copy for the walk, q and b normalized in
// place (l2norm_q / l2norm_b; b's rows stored for deltaStates), and the wgmma
// walk's copy of the rows of a (or b) and k before they are overwritten.
template <bool Scaled, int K> __device__ __forceinline__ void deltaChunkLanded(DeltaChunk<K> &x, const DeltaChunks &d) {
  constexpr int C = DeltaChunk<K>::C, LK = DeltaChunk<K>::LK;
  tile::waitGroups<0>();
  __syncthreads();
  if (Scaled && x.scalarsOut)
    for (int i = threadIdx.x; i < 2 * C; i += 256) x.scalarsOut[C + i] = x.Sa[i]; // Sa, then Sk = Sa + C
  if (x.p.l2normQ || x.p.l2normB) {
    if (x.p.l2normQ) l2normRows<K, 256>(x.Qs, LK);
    if (x.p.l2normB) l2normRows<K, 256>(x.Bs, LK);
    __syncthreads();
    if (d.bn.p) storeRows<K, 256>(d.bn, x.b, x.h, x.c, x.Bs, LK);
  }
  using DT = DeltaTiles<K, Scaled>;
  x.tiles = d.tiles ? d.tiles + ((x.b * x.slots + x.c) * x.p.H + x.h) * DT::bytes : nullptr;
  if (x.tiles) {
    storeChunkTile<K, 256>(x.tiles + DT::a, Scaled ? x.Bs : x.As, LK);
    if constexpr (!Scaled) storeChunkTile<K, 256>(x.tiles + DT::k, x.Ks, LK);
  }
}

// chunk_ut's system and chunk_ut_output's scores: the Gram matrices (the
// first half of the warps B A^T and B K^T, the second Q A^T and Q K^T;
// scaled: one product with B, its columns scaled by a's and k's scales),
// masked and decayed: L_A (fp32) and L_K strictly lower with
// exp(b_{i-1} - b_j), M . Q A^T and M . Q K^T causal with exp(b_i - b_j).
template <bool Decay, bool Scaled, int K> __device__ __forceinline__ void deltaChunkSystem(DeltaChunk<K> &x) {
  constexpr int LK = DeltaChunk<K>::LK, LC = DeltaChunk<K>::LC, LF = DeltaChunk<K>::LF;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t4 = lane % 4;
  const int rw = warp % 4, hf = warp / 4, r0 = rw * 16;
  float X[8][4] = {}, Y[8][4] = {};
  warpMma<8, false>(X, (hf == 0 ? x.Bs : x.Qs) + r0 * LK, LK, Scaled ? x.Bs : x.As, LK, K / 16);
  if constexpr (!Scaled) warpMma<8, false>(Y, (hf == 0 ? x.Bs : x.Qs) + r0 * LK, LK, x.Ks, LK, K / 16);
  __syncthreads(); // A and K are read: their space takes L_A, M . Q A^T and T
  const bool strict = hf == 0;
  float bi[2] = {0.f, 0.f};
  if constexpr (Decay)
    bi[0] = strict ? x.bprev(r0 + g) : x.Bc[r0 + g], bi[1] = strict ? x.bprev(r0 + g + 8) : x.Bc[r0 + g + 8];
#pragma unroll
  for (int nt = 0; nt < 8; ++nt) {
    const int j = nt * 8 + 2 * t4;
    const float bj[2] = {Decay ? x.Bc[j] : 0.f, Decay ? x.Bc[j + 1] : 0.f};
    float f[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int i = r0 + g + (e >= 2 ? 8 : 0), jj = j + (e & 1);
      const bool keep = strict ? jj < i : jj <= i;
      f[e] = keep ? (Decay ? __expf(bi[e / 2] - bj[e & 1]) : 1.f) : 0.f;
    }
    const int i0 = r0 + g, i1 = r0 + g + 8;
    float fy[4] = {f[0], f[1], f[2], f[3]};
    if constexpr (Scaled) {
#pragma unroll
      for (int e = 0; e < 4; ++e) fy[e] = f[e] * x.Sk[j + (e & 1)], f[e] *= x.Sa[j + (e & 1)];
#pragma unroll
      for (int e = 0; e < 4; ++e) Y[nt][e] = X[nt][e];
    }
    if (strict) {
      *(float2 *)&x.LA[i0 * LF + j] = make_float2(X[nt][0] * f[0], X[nt][1] * f[1]);
      *(float2 *)&x.LA[i1 * LF + j] = make_float2(X[nt][2] * f[2], X[nt][3] * f[3]);
      *(uint32_t *)&x.LKs[i0 * LC + j] = tile::pack(Y[nt][0] * fy[0], Y[nt][1] * fy[1]);
      *(uint32_t *)&x.LKs[i1 * LC + j] = tile::pack(Y[nt][2] * fy[2], Y[nt][3] * fy[3]);
    } else {
      *(uint32_t *)&x.MQA[i0 * LC + j] = tile::pack(X[nt][0] * f[0], X[nt][1] * f[1]);
      *(uint32_t *)&x.MQA[i1 * LC + j] = tile::pack(X[nt][2] * f[2], X[nt][3] * f[3]);
      *(uint32_t *)&x.MQK[i0 * LC + j] = tile::pack(Y[nt][0] * fy[0], Y[nt][1] * fy[1]);
      *(uint32_t *)&x.MQK[i1 * LC + j] = tile::pack(Y[nt][2] * fy[2], Y[nt][3] * fy[3]);
    }
  }
  __syncthreads();
}

// chunk_ut's p and u: T = (I - L_A)^{-1} (meanwhile warps 2-7 scale B's rows
// by gamma'), W = T Gamma' B (over L_A) and R = T L_K (over L_K, once every
// warp has read it).
template <bool Decay, int K> __device__ __forceinline__ void deltaChunkSolve(DeltaChunk<K> &x) {
  constexpr int C = DeltaChunk<K>::C, LK = DeltaChunk<K>::LK, LC = DeltaChunk<K>::LC, LF = DeltaChunk<K>::LF;
  using L = DeltaPrepareLayout<K>;
  const int tid = threadIdx.x, warp = tid / 32, rw = warp % 4, hf = warp / 4, r0 = rw * 16;
  float *TF = (float *)(x.smem + L::tf), *PT = (float *)(x.smem + L::pt);
  invertUnitLower<LF, LC>(x.LA, TF, x.Ts, PT, [&] {
    if constexpr (Decay) {
      for (int e = tid - C; e < C * K / 8; e += 256 - C) { // 8 elements at a time
        const int r = e / (K / 8), kc = (e % (K / 8)) * 8;
        const float f = x.Ep[r];
        uint4 *bp = (uint4 *)&x.Bs[r * LK + kc];
        uint4 v = *bp;
        v.x = tile::scalePair(v.x, f, f), v.y = tile::scalePair(v.y, f, f);
        v.z = tile::scalePair(v.z, f, f), v.w = tile::scalePair(v.w, f, f);
        *bp = v;
      }
    }
  });
  {
    float Wt[K / 16][4] = {};
    warpMma<K / 16, true>(Wt, x.Ts + r0 * LC, LC, x.Bs + hf * (K / 2), LK, rw + 1);
    storeTile<K / 16>(x.Ws, LK, r0, hf * (K / 2), Wt, [](int, int, float v) { return v; });
  }
  float Rt[4][4] = {};
  warpMma<4, true>(Rt, x.Ts + r0 * LC, LC, x.LKs + hf * 32, LC, rw + 1);
  __syncthreads();
  storeTile<4>(x.LKs, LC, r0, hf * 32, Rt, [](int, int, float v) { return v; });
  __syncthreads();
}

// chunk_ut_output's state-independent rows: Q' = Gamma Q + (M . Q A^T) W
// over Q, P = (M . Q A^T) R + M . Q K^T over M . Q K^T.
template <bool Decay, int K> __device__ __forceinline__ void deltaChunkOutputRows(DeltaChunk<K> &x) {
  constexpr int LK = DeltaChunk<K>::LK, LC = DeltaChunk<K>::LC;
  const int warp = threadIdx.x / 32, rw = warp % 4, hf = warp / 4, r0 = rw * 16;
  float Qt[K / 16][4] = {};
  warpMma<K / 16, true>(Qt, x.MQA + r0 * LC, LC, x.Ws + hf * (K / 2), LK, rw + 1);
  addIntoTile<K / 16>(x.Qs, LK, r0, hf * (K / 2), Qt, [&](int i) { return Decay ? __expf(x.Bc[i]) : 1.f; });
  float Pt[4][4] = {};
  warpMma<4, true>(Pt, x.MQA + r0 * LC, LC, x.LKs + hf * 32, LC, rw + 1);
  addIntoTile<4>(x.MQK, LC, r0, hf * 32, Pt, [](int) { return 1.f; });
  __syncthreads();
}

// W, Q', R and P to the walk: as rows (d.w, d.qp, d.r, d.pv), or for the
// wgmma walk into the item's block of tiles with the decays and scales.
template <bool Scaled, int K> __device__ __forceinline__ void deltaStoreChunk(DeltaChunk<K> &x, const DeltaChunks &d) {
  constexpr int C = DeltaChunk<K>::C, LK = DeltaChunk<K>::LK, LC = DeltaChunk<K>::LC;
  const int tid = threadIdx.x;
  if (x.tiles) {
    using DT = DeltaTiles<K, Scaled>;
    storeChunkTile<K, 256>(x.tiles + DT::w, x.Ws, LK);
    storeChunkTile<K, 256>(x.tiles + DT::qp, x.Qs, LK);
    storeChunkTile<C, 256>(x.tiles + DT::r, x.LKs, LC);
    storeChunkTile<C, 256>(x.tiles + DT::pv, x.MQK, LC);
    if (tid < C) ((float *)(x.tiles + DT::gates))[tid] = x.Bc[tid];
    if (Scaled && tid >= C && tid < 3 * C) ((float *)(x.tiles + DT::scales))[tid - C] = x.Sa[tid - C]; // Sa, then Sk
    return;
  }
  storeRows<K, 256>(d.w, x.b, x.h, x.c, x.Ws, LK);
  storeRows<K, 256>(d.qp, x.b, x.h, x.c, x.Qs, LK);
  storeRows<C, 256>(d.r, x.b, x.h, x.c, x.LKs, LC);
  storeRows<C, 256>(d.pv, x.b, x.h, x.c, x.MQK, LC);
}

// The UT form's prepare: every item's state-independent operands (the steps above).
template <int K, bool Decay, bool LogDecay, bool Scaled, typename Scalars = StoredScalars>
__global__ void __launch_bounds__(256, 2) deltaPrepare(const ScanParams call, const DeltaChunks d) {
  MIXC_DYNAMIC_SHARED(smem);
  DeltaChunk<K> x(call, smem);
  if (!x.live()) return;
  deltaLoadChunk<Scaled, Scalars>(x);
  deltaChunkCumsum<Decay, LogDecay, Scalars>(x, d);
  deltaChunkLanded<Scaled>(x, d);
  deltaChunkSystem<Decay, Scaled>(x);
  deltaChunkSolve<Decay>(x);
  deltaChunkOutputRows<Decay>(x);
  deltaStoreChunk<Scaled>(x, d);
}

} // namespace mixc::cuda

#endif
