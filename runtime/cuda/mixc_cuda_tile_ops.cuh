// Part of the CUDA tile library (mixc_cuda.cuh, which includes it): what the
// chunked kernels do on a warp's tiles in shared memory and registers, over
// the primitives of mixc_cuda_tile.cuh: products of bf16 tiles on tensor
// cores (warpGemm), the accumulator's elements visited or stored
// (forTile, storeTile, addIntoTile), and the UT form's triangular inverse
// (invertUnitLower). Nothing here reads global memory, so the unit tests run
// it on host threads (test/unit/CudaEmulation.h).
#ifndef MIXC_CUDA_TILE_OPS_CUH
#define MIXC_CUDA_TILE_OPS_CUH

#ifndef MIXC_CUDA_EMULATION
#include "mixc_cuda.cuh"
#endif

namespace mixc::cuda {

// The chunked kernels' chunk: 64 tokens (256 threads a CTA).
namespace chunk {
constexpr int C = 64;
} // namespace chunk

// acc (16 x 8 NT) += A B over k-tiles [k0, k1) of 16. A: 16 rows of row-major
// storage (AT: 16 columns of it, A[k][m], from m = 0 at A); B k-major (BK:
// B[k][n]) or n-major (B[n][k]).
template <int NT, bool AT, bool BK>
__device__ __forceinline__ void warpGemm(float (&acc)[NT][4], const __nv_bfloat16 *A, int lda, const __nv_bfloat16 *B,
                                         int ldb, int k0, int k1) {
  for (int kk = k0; kk < k1; ++kk) {
    uint32_t a[4], bb[NT / 2][4];
    if constexpr (AT) tile::loadAT(a, A + kk * 16 * lda, lda);
    else tile::loadA(a, A + kk * 16, lda);
#pragma unroll
    for (int np = 0; np < NT / 2; ++np) {
      if constexpr (BK) tile::loadBK(bb[np], B + kk * 16 * ldb + np * 16, ldb);
      else tile::loadBN(bb[np], B + np * 16 * ldb + kk * 16, ldb);
    }
#pragma unroll
    for (int np = 0; np < NT / 2; ++np) {
      tile::mma(acc[2 * np], a, bb[np][0], bb[np][1]);
      tile::mma(acc[2 * np + 1], a, bb[np][2], bb[np][3]);
    }
  }
}
// f(row, col, x) for each of a warp's accumulators (16 x 8 NT from r0, c0).
template <int NT, typename F>
__device__ __forceinline__ void forTile(const float (&acc)[NT][4], int r0, int c0, F f) {
  const int g = (threadIdx.x % 32) / 4, t4 = threadIdx.x % 4;
#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) f(r0 + g + (e >= 2 ? 8 : 0), c0 + nt * 8 + 2 * t4 + (e & 1), acc[nt][e], nt, e);
}
// acc (16 x 8 NT) += A (16 rows of row-major smem) x B over kTiles k-tiles of
// 16; B stored k-major (BK: base[k][n]) or n-major (base[n][k]).
template <int NT, bool BK>
__device__ __forceinline__ void warpMma(float (&acc)[NT][4], const __nv_bfloat16 *A, int lda, const __nv_bfloat16 *B,
                                        int ldb, int kTiles) {
  warpGemm<NT, false, BK>(acc, A, lda, B, ldb, 0, kTiles);
}
// Writes a warp's 16 x 8 NT accumulator tile (rows r0.., columns c0..) as
// bf16, each element through f(row, col, x).
template <int NT, typename F>
__device__ __forceinline__ void storeTile(__nv_bfloat16 *dst, int ld, int r0, int c0, const float (&acc)[NT][4], F f) {
  const int g = (threadIdx.x % 32) / 4, t4 = threadIdx.x % 4;
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    const int r = r0 + g, c = c0 + nt * 8 + 2 * t4;
    *(uint32_t *)&dst[r * ld + c] = tile::pack(f(r, c, acc[nt][0]), f(r, c + 1, acc[nt][1]));
    *(uint32_t *)&dst[(r + 8) * ld + c] = tile::pack(f(r + 8, c, acc[nt][2]), f(r + 8, c + 1, acc[nt][3]));
  }
}
// dst (bf16 in shared memory) = acc + f(row) * dst, element by element: each
// element is read and written by the thread that holds its accumulator.
template <int NT, typename F>
__device__ __forceinline__ void addIntoTile(__nv_bfloat16 *dst, int ld, int r0, int c0, const float (&acc)[NT][4], F f) {
  const int g = (threadIdx.x % 32) / 4, t4 = threadIdx.x % 4;
  const float f0 = f(r0 + g), f1 = f(r0 + g + 8);
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    const int c = c0 + nt * 8 + 2 * t4;
    uint32_t *p0 = (uint32_t *)&dst[(r0 + g) * ld + c], *p1 = (uint32_t *)&dst[(r0 + g + 8) * ld + c];
    const float2 x0 = __bfloat1622float2(*(__nv_bfloat162 *)p0), x1 = __bfloat1622float2(*(__nv_bfloat162 *)p1);
    *p0 = tile::pack(acc[nt][0] + f0 * x0.x, acc[nt][1] + f0 * x0.y);
    *p1 = tile::pack(acc[nt][2] + f1 * x1.x, acc[nt][3] + f1 * x1.y);
  }
}
// T = (I - L)^{-1} for a chunk's strictly lower L (fp32, C x C, LF floats a
// row) into TF (fp32, ld LF) and Ts (bf16, ld LC), by 16 x 16 blocks: the
// diagonal blocks D_I by substitution in fp32 (a column per thread of warps
// 0-1, while the other threads run `meanwhile`), then, a block diagonal at a
// time, T_IJ = D_I sum_{K=J}^{I-1} L_IK T_KJ on tensor cores in tf32 (finer
// than the bf16 that T is used in), a warp per 8 columns of a block, PT
// (3 x 16 x 24 floats) holding the partial products. The serial chain is 16
// rows, not 64. For CTAs of 8 warps; every thread ends past a barrier.
template <int LF, int LC, typename F>
__device__ __forceinline__ void invertUnitLower(const float *LA, float *TF, __nv_bfloat16 *Ts, float *PT, F meanwhile) {
  constexpr int C = chunk::C;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4;
  if (tid < C) {
    const int o = (tid / 16) * 16, col = tid % 16;
    float x[16];
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      float s0 = i == col ? 1.f : 0.f, s1 = 0.f;
#pragma unroll
      for (int j = 0; j < i; ++j) (j % 2 ? s1 : s0) += LA[(o + i) * LF + o + j] * x[j];
      x[i] = s0 + s1;
    }
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      TF[(o + i) * LF + o + col] = x[i];
      Ts[(o + i) * LC + o + col] = __float2bfloat16(x[i]);
    }
  } else {
    meanwhile();
  }
  __syncthreads();
#pragma unroll 1
  for (int dg = 1; dg < 4; ++dg) {
    const int I = dg + warp / 2, J = I - dg, nh = warp % 2, slot = warp / 2;
    const bool active = warp < 2 * (4 - dg);
    if (active) { // P = sum_K L_IK T_KJ, columns 8 nh.. of the block
      float acc[4] = {0.f, 0.f, 0.f, 0.f};
      for (int Kb = J; Kb < I; ++Kb)
#pragma unroll
        for (int ks = 0; ks < 2; ++ks)
          tile::mmaTf32(acc, LA + 16 * I * LF + 16 * Kb + 8 * ks, LF, TF + (16 * Kb + 8 * ks) * LF + 16 * J + 8 * nh, LF);
      float *P = PT + slot * 16 * 24 + 8 * nh + 2 * t4;
      P[g * 24] = acc[0], P[g * 24 + 1] = acc[1], P[(g + 8) * 24] = acc[2], P[(g + 8) * 24 + 1] = acc[3];
    }
    __syncthreads();
    if (active) { // T_IJ = D_I P
      float acc[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
      for (int ks = 0; ks < 2; ++ks)
        tile::mmaTf32(acc, TF + 16 * I * LF + 16 * I + 8 * ks, LF, PT + slot * 16 * 24 + 8 * ks * 24 + 8 * nh, 24);
      const int r = 16 * I + g, cc = 16 * J + 8 * nh + 2 * t4;
      TF[r * LF + cc] = acc[0], TF[r * LF + cc + 1] = acc[1];
      TF[(r + 8) * LF + cc] = acc[2], TF[(r + 8) * LF + cc + 1] = acc[3];
      *(uint32_t *)&Ts[r * LC + cc] = tile::pack(acc[0], acc[1]);
      *(uint32_t *)&Ts[(r + 8) * LC + cc] = tile::pack(acc[2], acc[3]);
    }
    __syncthreads();
  }
}

} // namespace mixc::cuda

#endif
