// Part of the CUDA tile library (mixc_cuda.cuh, which includes it): the chunked SSD and GLA forms (scanChunked for K = 256), the pieces the
// chunked kernels share, their scratch and launches.
#ifndef MIXC_CUDA_CHUNKED_CUH
#define MIXC_CUDA_CHUNKED_CUH

#include "mixc_cuda.cuh"

#include <mutex>

namespace mixc::cuda {

// The chunked schedules (docs/cuda-backend.md) for
// identity, scalar and vector decays with bf16 q, k, v. With b the cumulative
// log-decay inside the chunk (a vector per token for GLA), every exponent
// stays bounded:
//   O = (Q . exp(b)) S + P V,   S = exp(b_C) . S + (K . exp(b_C - b))^T V,
//   P_ij = sum_k Q_ik K_jk exp(b_ik - b_jk) for j <= i.
// Scalar decays scale P by exp(b_i - b_j) <= 0. Vector decays (GLA) use the
// secondary chunking: for the rows of sub-block I (16 tokens) the reference
// is the token before it, r = 16 I - 1, and
//   P_ij = sum_k (Q_ik exp(b_ik - b_rk)) (K_jk exp(b_rk - b_jk)),
// both factors <= 1 for j <= r; on the diagonal sub-block the second factor
// grows at most over 16 tokens (clamped at e^80: decays beyond 5 nats per
// token within a sub-block are outside this kernel's range). Q and K are
// rescaled once per chunk relative to their own sub-block's reference, so the
// pairs of sub-blocks only multiply by per-channel factors (no exp per element).
// scanChunked (identity and scalar decays with K = 256): one CTA of 8 warps
// per (value block, head, batch) walks the chunks in order with its K x VB
// block of the state in registers (fp32 mma accumulators); the next chunk's
// q, k, v arrive by cp.async while this one computes. Warp w owns rows
// 16 (w % 4) .. of the chunk's output and the state rows K/4 (w % 4) .., in
// the column half w / 4. K up to 128 takes the state walk of deltaStates
// instead (below), for GLA after glaPrepare.
enum class ChunkDecay { none, scalar, vector };

// Pieces shared by the chunked kernels (chunks of 64 tokens, 256 threads):
// C (mixc_cuda_tile_ops.cuh), the chunk's loads and stores
// (mixc_cuda_chunk_io.cuh), and here the launches.
namespace chunk {
__device__ const int kBuiltWithWgmma = MIXC_WGMMA;
// Whether the current device runs this build's wgmma kernels (an sm_90a
// build on a Hopper GPU). Read once per process and device.
inline bool hasWgmma() {
  static int cached[16] = {};
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 16) return false;
  if (cached[dev] == 0) {
    int major = 0, built = 0;
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    const bool ok = major == 9 && cudaMemcpyFromSymbol(&built, kBuiltWithWgmma, sizeof built) == cudaSuccess;
    cached[dev] = ok && built ? 1 : 2;
  }
  return cached[dev] == 1;
}
// Launches a chunked kernel of 256 threads on (value blocks of vb, heads, batch).
template <typename Kernel>
cudaError_t launch(Kernel kernel, int vb, int bytes, const ScanParams &p, cudaStream_t stream) {
  cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  if (e != cudaSuccess) return e;
  dim3 grid((unsigned)((p.Vs + vb - 1) / vb), (unsigned)p.H, (unsigned)p.B);
  kernel<<<grid, 256, bytes, stream>>>(p);
  return cudaGetLastError();
}
} // namespace chunk

template <int K, int VB, ChunkDecay D> struct ChunkedLayout {
  static constexpr int C = 64, LK = K + 8, LV = VB + 8;
  static constexpr int q = 0, k = q + 2 * C * LK * 2, v = k + 2 * C * LK * 2, s = v + 2 * C * LV * 2;
  static constexpr int b = s + K * LV * 2; // cumulative log-decays (fp32)
  static constexpr int bytes = b + C * 4;
};

template <int K, int VB, ChunkDecay D, bool LogDecay>
__global__ void __launch_bounds__(256, 2) scanChunked(const ScanParams call) {
  using tile::bf16;
  using L = ChunkedLayout<K, VB, D>;
  constexpr int C = L::C, LK = L::LK, LV = L::LV;
  constexpr int MT = K / 64, NT = VB / 16, KT = K / 16, VH = VB / 2; // per warp: MT x NT tiles of 16 x 8
  constexpr bool Scalar = D == ChunkDecay::scalar;
  static_assert(D != ChunkDecay::vector, "vector decays: glaPrepare and the GLA state walk");
  static_assert(K % 64 == 0 && VB % 32 == 0, "chunked tiles");
  MIXC_DYNAMIC_SHARED(smem);
  bf16 *Qs = (bf16 *)(smem + L::q), *Ks = (bf16 *)(smem + L::k), *Vs = (bf16 *)(smem + L::v),
       *Ss = (bf16 *)(smem + L::s);
  float *Bc = (float *)(smem + L::b); // [C]
  const ScanParams p = forSequence(call, blockIdx.z); // (a packed call: sequence blockIdx.z)
  const int64_t T = p.T, V = p.Vs, h = blockIdx.y, b = blockIdx.z, j0 = (int64_t)blockIdx.x * VB;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4;
  const int rw = warp % 4, c0 = (warp / 4) * VH; // row tile, first column of the warp's half
  auto load = [&](int64_t chunkIndex, int buf) {
    chunk::copyRows<K, 256>(Qs + buf * C * LK, LK, p.q, b, h, chunkIndex, T, 0, K);
    chunk::copyRows<K, 256>(Ks + buf * C * LK, LK, p.k, b, h, chunkIndex, T, 0, K);
    chunk::copyRows<VB, 256>(Vs + buf * C * LV, LV, p.v, b, h, chunkIndex, T, j0, V);
    tile::commit();
  };
  const int sr = rw * (K / 4);
  float S[MT][NT][4];
  chunk::loadState<false>(S, p, b, h, sr, j0 + c0);
  chunk::copyState(Ss, LV, S, sr, c0);
  const int64_t chunks = (T + C - 1) / C;
  float gc0 = 0.f, gc1 = 0.f, gn0 = 0.f, gn1 = 0.f;
  if (Scalar && warp == 0) chunk::scalarGates<LogDecay>(p, b, h, 0, gc0, gc1);
  load(0, 0);
  for (int64_t c = 0; c < chunks; ++c) {
    const int buf = c & 1;
    __syncthreads(); // the other buffers are free, the state copy complete
    if (c + 1 < chunks) {
      load(c + 1, buf ^ 1);
      if (Scalar && warp == 0) chunk::scalarGates<LogDecay>(p, b, h, c + 1, gn0, gn1);
      tile::waitGroups<1>();
    } else {
      tile::waitGroups<0>();
    }
    if constexpr (Scalar) {
      if (warp == 0) {
        chunk::cumulativeGates(gc0, gc1, Bc);
        gc0 = gn0, gc1 = gn1;
      }
    }
    __syncthreads(); // this chunk's tiles (and the scalar cumsum) are visible
    bf16 *Qb = Qs + buf * C * LK, *Kb = Ks + buf * C * LK;
    const bf16 *Vb = Vs + buf * C * LV;
    const int r0 = rw * 16;
    uint32_t qa[KT][4]; // Q (vector decays: Q^) for the intra-chunk product
#pragma unroll
    for (int kk = 0; kk < KT; ++kk) tile::loadA(qa[kk], Qb + r0 * LK + kk * 16, LK);
    // Inter-chunk: O = (Q . exp(b)) S; vector decays: Q^ . F[I].
    float O[NT][4] = {};
#pragma unroll
    for (int kk = 0; kk < KT; ++kk) {
      uint32_t qi[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) qi[e] = qa[kk][e];
#pragma unroll
      for (int np = 0; np < NT / 2; ++np) {
        uint32_t bb[4];
        tile::loadBK(bb, Ss + kk * 16 * LV + c0 + np * 16, LV);
        tile::mma(O[2 * np], qi, bb[0], bb[1]);
        tile::mma(O[2 * np + 1], qi, bb[2], bb[3]);
      }
    }
    const float bi0 = Scalar ? Bc[r0 + g] : 0.f, bi1 = Scalar ? Bc[r0 + g + 8] : 0.f;
    if constexpr (Scalar) {
      const float e0 = __expf(bi0), e1 = __expf(bi1);
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) O[nt][0] *= e0, O[nt][1] *= e0, O[nt][2] *= e1, O[nt][3] *= e1;
    }
    // Intra-chunk, one key sub-block J at a time up to the diagonal:
    // P = (Q K^T) . M (. decays), then O += P V.
#pragma unroll
    for (int J = 0; J < C / 16; ++J)
      if (J <= rw) {
        float P[2][4] = {};
#pragma unroll
        for (int kk = 0; kk < KT; ++kk) {
          uint32_t bb[4];
          tile::loadBN(bb, Kb + J * 16 * LK + kk * 16, LK);
          tile::mma(P[0], qa[kk], bb[0], bb[1]);
          tile::mma(P[1], qa[kk], bb[2], bb[3]);
        }
#pragma unroll
        for (int n = 0; n < 2; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int i = r0 + g + (e >= 2 ? 8 : 0), j = J * 16 + n * 8 + 2 * t4 + (e & 1);
            const float f = Scalar ? __expf(fminf((e >= 2 ? bi1 : bi0) - Bc[j], 0.f)) : 1.f;
            P[n][e] = j <= i ? P[n][e] * f : 0.f;
          }
        const uint32_t a[4] = {tile::pack(P[0][0], P[0][1]), tile::pack(P[0][2], P[0][3]),
                               tile::pack(P[1][0], P[1][1]), tile::pack(P[1][2], P[1][3])};
#pragma unroll
        for (int np = 0; np < NT / 2; ++np) {
          uint32_t bb[4];
          tile::loadBK(bb, Vb + J * 16 * LV + c0 + np * 16, LV);
          tile::mma(O[2 * np], a, bb[0], bb[1]);
          tile::mma(O[2 * np + 1], a, bb[2], bb[3]);
        }
      }
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t t = c * C + r0 + g + (e >= 2 ? 8 : 0), col = j0 + c0 + nt * 8 + 2 * t4 + (e & 1);
        if (t < T && col < V) p.o.set(b, t, h, col, O[nt][e] * p.scale);
      }
    __syncthreads(); // every warp is done reading the state copy
    // State: S = exp(b_C) . S + (K . exp(b_C - b))^T V; vector decays: K^ . G[J].
    const int last = C - 1;
    if constexpr (Scalar) {
      const float eL = __expf(Bc[last]);
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) S[mt][nt][e] *= eL;
    }
#pragma unroll
    for (int kt = 0; kt < C / 16; ++kt) {
      uint32_t vb[NT / 2][4];
#pragma unroll
      for (int np = 0; np < NT / 2; ++np) tile::loadBK(vb[np], Vb + kt * 16 * LV + c0 + np * 16, LV);
      const int j = kt * 16 + 2 * t4;
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        uint32_t a[4];
        tile::loadAT(a, Kb + kt * 16 * LK + sr + mt * 16, LK);
        if constexpr (Scalar) {
          const float bL = Bc[last];
          const float f0 = __expf(bL - Bc[j]), f1 = __expf(bL - Bc[j + 1]), f2 = __expf(bL - Bc[j + 8]),
                      f3 = __expf(bL - Bc[j + 9]);
          a[0] = tile::scalePair(a[0], f0, f1), a[1] = tile::scalePair(a[1], f0, f1);
          a[2] = tile::scalePair(a[2], f2, f3), a[3] = tile::scalePair(a[3], f2, f3);
        }
#pragma unroll
        for (int np = 0; np < NT / 2; ++np) {
          tile::mma(S[mt][2 * np], a, vb[np][0], vb[np][1]);
          tile::mma(S[mt][2 * np + 1], a, vb[np][2], vb[np][3]);
        }
      }
    }
    chunk::copyState(Ss, LV, S, sr, c0);
  }
  chunk::storeState<false>(S, p, b, h, sr, j0 + c0);
}

// Whether the chunked kernel can stream these operands: bf16 q, k, v (and
// vector gates in f32 or bf16) with packed feature rows on 16-byte
// boundaries, a forward scan.
inline bool chunkedApplies(const ScanParams &p, bool vectorDecay) {
  auto ok = [](const View &v, bool anyFloat) {
    const int64_t align = v.dtype == MIXC_F32 ? 4 : 8;
    return v.p && (v.dtype == MIXC_BF16 || (anyFloat && v.dtype == MIXC_F32)) && v.s3 == 1 && v.s0 % align == 0 &&
           v.s1 % align == 0 && v.s2 % align == 0 && ((uintptr_t)v.p % 16) == 0;
  };
  return !p.reverse && p.Vs % 8 == 0 && ok(p.q, false) && ok(p.k, false) && ok(p.v, false) &&
         (!vectorDecay || ok(p.decay, true));
}
// Whether copyRows can stream v as it is: bf16 feature rows on 16-byte boundaries.
inline bool streamableBf16Rows(const View &v) {
  return v.p && v.dtype == MIXC_BF16 && v.s3 == 1 && v.s0 % 8 == 0 && v.s1 % 8 == 0 && v.s2 % 8 == 0 &&
         ((uintptr_t)v.p % 16) == 0;
}
// The same for the delta-rule kernel, which streams a and b too.
inline bool chunkedDeltaApplies(const ScanParams &p) {
  auto ok = streamableBf16Rows;
  return !p.reverse && p.Vs % 8 == 0 && ok(p.q) && ok(p.k) && ok(p.v) && ok(p.a) && ok(p.b);
}

// The tiling of one call's state pass (the walk over the chunks), as the glue
// printed it from the schedule's rules (#mixer.cuda_tile: state_blocks,
// key_split, seq_split, wgmma_walk) and the call's batch and length: the
// launches follow it and decide nothing themselves.
struct StatePass {
  int vBlock = 128;       // value columns per CTA: 128, 64 or 32
  int keySplit = 1;       // 2: two warps per 16 columns, K / 2 key rows each (vBlock 32)
  int segments = 1;       // > 1: the sequence split (SSD, GLA), segChunks chunks per segment
  int64_t segChunks = 0;
  bool wgmma = false;     // the delta rules' walk on wgmma (the device runs the sm_90a build)
};

// The memory pool scratch comes from, one per device per kernel library. The
// device's default pool releases what is freed at every synchronization
// (release threshold 0), so each call mapped its scratch again: on an H200
// about 0.4 ms per large allocation, more than the kernels of a small call.
// This pool keeps what was freed for the next call, as PyTorch's caching
// allocator does (the memory stays with the process: its peak scratch).
inline cudaMemPool_t scratchPool() {
  constexpr int kDevices = 64;
  static std::mutex lock;
  static cudaMemPool_t pools[kDevices] = {};
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= kDevices) return nullptr;
  std::lock_guard<std::mutex> guard(lock);
  if (!pools[dev]) {
    cudaMemPoolProps props = {};
    props.allocType = cudaMemAllocationTypePinned;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = dev;
    cudaMemPool_t pool = nullptr;
    if (cudaMemPoolCreate(&pool, &props) != cudaSuccess) return nullptr;
    uint64_t keep = UINT64_MAX;
    cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
    pools[dev] = pool;
  }
  return pools[dev];
}

// Scratch for pre-processed operands and intermediate results, freed on scope exit.
struct Scratch {
  cudaStream_t stream;
  cudaMemPool_t pool;
  float *ptrs[256] = {}; // a tensor program (a derived backward) holds one per value
  int n = 0;
  explicit Scratch(cudaStream_t s) : stream(s), pool(scratchPool()) {}
  float *alloc(int64_t count) {
    if (n == 256) return nullptr;
    void *p = nullptr;
    const size_t bytes = (size_t)count * sizeof(float) + 16;
    const cudaError_t e = pool ? cudaMallocFromPoolAsync(&p, bytes, pool, stream) : cudaMallocAsync(&p, bytes, stream);
    if (e != cudaSuccess) return nullptr;
    return ptrs[n++] = (float *)p;
  }
  // Frees p now, stream-ordered (after the kernels queued before it read it):
  // the pool reuses its memory for later allocations, so a tensor program's
  // peak is its live values', not all of them.
  void release(float *p) {
    for (int i = 0; i < n; ++i)
      if (ptrs[i] == p) {
        cudaFreeAsync(p, stream);
        for (--n; i < n; ++i) ptrs[i] = ptrs[i + 1]; // in allocation order (releaseFrom's marks)
        return;
      }
  }
  // What a launch allocates for itself (its bf16 copies, kept states, working
  // rows) is dead once its kernels are queued: freed after it, from a mark.
  int mark() const { return n; }
  void releaseFrom(int m) {
    while (n > m) cudaFreeAsync(ptrs[--n], stream);
  }
  ~Scratch() {
    for (int i = 0; i < n; ++i) cudaFreeAsync(ptrs[i], stream);
  }
};

// Decoding passes the final state in the initial state's memory. The
// recurrent sweep reads each element of its block before writing it back; a
// chunked kernel (and mLSTM's side column, read by every value block and
// written by the first) may read a block after another CTA wrote it: there
// the kernel reads a packed fp32 copy of the initial state instead.
template <typename = void>
__global__ void copyStateKernel(const View src, View dst, int64_t n1, int64_t n2, int64_t n3, int64_t total) {
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i3 = e % n3, r3 = e / n3, i2 = r3 % n2, r2 = r3 / n2, i1 = r2 % n1, i0 = r2 / n1;
    dst.set(i0, i1, i2, i3, src.at(i0, i1, i2, i3));
  }
}
// v (extents n0 x n1 x n2 x n3) replaced by its copy in scratch.
inline cudaError_t readFromCopy(View &v, int64_t n0, int64_t n1, int64_t n2, int64_t n3, Scratch &scratch,
                                cudaStream_t stream) {
  const int64_t total = n0 * n1 * n2 * n3;
  float *copy = scratch.alloc(total);
  if (!copy) return cudaErrorMemoryAllocation;
  View d;
  d.p = copy, d.dtype = MIXC_F32, d.s3 = 1, d.s2 = n3, d.s1 = n2 * n3, d.s0 = n1 * n2 * n3;
  if (total > 0) {
    const int64_t blocks = (total + 255) / 256 < 65535 ? (total + 255) / 256 : 65535;
    copyStateKernel<<<(unsigned)blocks, 256, 0, stream>>>(v, d, n1, n2, n3, total);
  }
  v = d;
  return cudaGetLastError();
}

template <int K, bool Decay, bool LogDecay>
cudaError_t launchChunkedSsd(const ScanParams &p, const StatePass &pass, Scratch &scratch, cudaStream_t stream);
template <int K, bool LogDecay, typename DecayMap>
cudaError_t launchChunkedGla(const ScanParams &p, const StatePass &pass, Scratch &scratch, cudaStream_t stream);

// K up to 128: the state walk of the delta rules (deltaStates, below) in its
// SSD form (identity and scalar decays) or after glaPrepare (vector decays).
// Identity and scalar decays with K = 256 take scanChunked (value blocks of 32
// columns: the tiles of 64 outgrow shared memory).
template <int K, ChunkDecay D, bool LogDecay, typename DecayMap = NoMap>
cudaError_t launchChunked(const ScanParams &p, const StatePass &pass, Scratch &scratch, cudaStream_t stream) {
  if constexpr (K <= 128) {
    if constexpr (D == ChunkDecay::vector) return launchChunkedGla<K, LogDecay, DecayMap>(p, pass, scratch, stream);
    else return launchChunkedSsd<K, D == ChunkDecay::scalar, LogDecay>(p, pass, scratch, stream);
  } else {
    static_assert(D != ChunkDecay::vector, "GLA's chunked form takes K <= 128");
    if (pass.vBlock != 32 || pass.keySplit != 1 || pass.segments != 1) return cudaErrorInvalidValue;
    return chunk::launch(scanChunked<K, 32, D, LogDecay>, 32, ChunkedLayout<K, 32, D>::bytes, p, stream);
  }
}

} // namespace mixc::cuda

#endif
