// Part of the CUDA tile library (mixc_cuda.cuh, which includes it): tensor-core tiles (mma.sync and, on sm_90a, wgmma), shared-memory
// layouts and asynchronous copies.
#ifndef MIXC_CUDA_TILE_CUH
#define MIXC_CUDA_TILE_CUH

#include "mixc_cuda.cuh"

namespace mixc::cuda {

// ---- tensor-core tiles (mma.sync m16n8k16, bf16 in, fp32 accumulate) -----------
// Fragment layouts are PTX's: in a warp, g = lane / 4 and t = lane % 4; an
// accumulator tile (16 x 8) holds rows g and g + 8, columns 2t and 2t + 1.
namespace tile {
using bf16 = __nv_bfloat16;
__device__ __forceinline__ uint32_t smemAddr(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }
// A 16 x 16 A operand from row-major shared memory (ld elements per row).
__device__ __forceinline__ void loadA(uint32_t a[4], const bf16 *base, int ld) {
  const int l = threadIdx.x % 32;
  uint32_t addr = smemAddr(base + (l % 16) * ld + (l / 16) * 8);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(a[0]), "=r"(a[1]), "=r"(a[2]), "=r"(a[3]) : "r"(addr));
}
// A 16 x 16 A operand stored transposed (base[k][m], row-major).
__device__ __forceinline__ void loadAT(uint32_t a[4], const bf16 *base, int ld) {
  const int l = threadIdx.x % 32;
  uint32_t addr = smemAddr(base + ((l % 8) + (l / 16) * 8) * ld + ((l / 8) % 2) * 8);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(a[0]), "=r"(a[1]), "=r"(a[2]), "=r"(a[3]) : "r"(addr));
}
// B operands of two adjacent n-tiles (k16 x n16) from n-major storage base[n][k].
__device__ __forceinline__ void loadBN(uint32_t b[4], const bf16 *base, int ld) {
  const int l = threadIdx.x % 32;
  uint32_t addr = smemAddr(base + ((l % 8) + (l / 16) * 8) * ld + ((l / 8) % 2) * 8);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(b[0]), "=r"(b[1]), "=r"(b[2]), "=r"(b[3]) : "r"(addr));
}
// The same from k-major storage base[k][n].
__device__ __forceinline__ void loadBK(uint32_t b[4], const bf16 *base, int ld) {
  const int l = threadIdx.x % 32;
  uint32_t addr = smemAddr(base + ((l % 8) + ((l / 8) % 2) * 8) * ld + (l / 16) * 8);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(b[0]), "=r"(b[1]), "=r"(b[2]), "=r"(b[3]) : "r"(addr));
}
// c += a * b (one 16 x 8 tile).
__device__ __forceinline__ void mma(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
               "{%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
// c += a * b for one 16 x 8 tile with k = 8 in tf32 (fp32 operands read from
// shared memory, A rows ld elements apart from a, B rows from b).
__device__ __forceinline__ void mmaTf32(float c[4], const float *a, int lda, const float *b, int ldb) {
  const int g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
  const uint32_t a0 = __float_as_uint(a[g * lda + t]), a1 = __float_as_uint(a[(g + 8) * lda + t]),
                 a2 = __float_as_uint(a[g * lda + t + 4]), a3 = __float_as_uint(a[(g + 8) * lda + t + 4]),
                 b0 = __float_as_uint(b[t * ldb + g]), b1 = __float_as_uint(b[(t + 4) * ldb + g]);
  asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
__device__ __forceinline__ uint32_t pack(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *(uint32_t *)&v;
}
__device__ __forceinline__ uint32_t scalePair(uint32_t x, float f0, float f1) {
  __nv_bfloat162 v = *(__nv_bfloat162 *)&x;
  return pack(__low2float(v) * f0, __high2float(v) * f1);
}
// 16 bytes global -> shared, asynchronously; zeros when !valid.
__device__ __forceinline__ void copy16(void *dst, const void *src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smemAddr(dst)), "l"(src),
               "r"(valid ? 16 : 0));
}
// 16 bytes global -> shared, asynchronously (always valid: no source size).
__device__ __forceinline__ void copy16(void *dst, const void *src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smemAddr(dst)), "l"(src));
}
// 4 bytes global -> shared, asynchronously; zero when !valid.
__device__ __forceinline__ void copy4(void *dst, const void *src, bool valid) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smemAddr(dst)), "l"(src), "r"(valid ? 4 : 0));
}
__device__ __forceinline__ void commit() { asm volatile("cp.async.commit_group;\n"); }
template <int N> __device__ __forceinline__ void waitGroups() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

// ---- warpgroup products (wgmma, sm_90a) ----
// Operand tiles in shared memory in the core-matrix layout without swizzle:
// a tile of R rows x W bf16 columns keeps each group of 8 columns as a block
// of R rows x 16 bytes, the blocks 16 R + 16 bytes apart, so element (r, c)
// is at byte (c / 8) (16 R + 16) + 16 r + 2 (c % 8). Read with the rows as M
// or N and the columns as the reduction (K-major), or with the rows as the
// reduction (MN-major, transposed). A row's 16-byte segment is one cp.async
// from a token row; the 16 bytes between blocks put the 8 segments of a
// 128-byte row in distinct banks, so whole rows copy without conflicts.
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define MIXC_WGMMA 1
#else
#define MIXC_WGMMA 0
#endif
__device__ __forceinline__ uint64_t wgDesc(const void *p, uint32_t lbo, uint32_t sbo) {
  const uint64_t a = smemAddr(p);
  return ((a & 0x3FFFF) >> 4) | ((uint64_t)(lbo >> 4) << 16) | ((uint64_t)(sbo >> 4) << 32);
}
template <int R> constexpr int tileGroup = 16 * R + 16;                   // bytes per 8 columns
template <int R, int W> constexpr int tileBytes = (W / 8) * tileGroup<R>; // an R x W tile
// The k-step ks (16 reduction columns) of an R-row tile read K-major, from row m0.
template <int R> __device__ __forceinline__ uint64_t wgKMajor(const unsigned char *tile, int ks, int m0 = 0) {
  return wgDesc(tile + ks * 2 * tileGroup<R> + m0 * 16, tileGroup<R>, 128);
}
// The k-step ks (16 reduction rows) of an R-row tile read MN-major, from column n0.
template <int R> __device__ __forceinline__ uint64_t wgMnMajor(const unsigned char *tile, int ks, int n0 = 0) {
  return wgDesc(tile + (n0 / 8) * tileGroup<R> + ks * 16 * 16, 128, tileGroup<R>);
}
// Byte offset of element (r, c) of an R-row tile.
template <int R> __device__ __forceinline__ int tileAt(int r, int c) {
  return (c / 8) * tileGroup<R> + r * 16 + (c % 8) * 2;
}
// d (64 x 32, fp32) += A B for one k-step of 16; TA, TB: the operand is MN-major. Accumulator element e of thread t: row
// 16 (t / 32) + (t % 32) / 4 + 8 ((e / 2) % 2), column 8 (e / 4) + 2 (t % 4) + e % 2.
// clang-format off
template <int TA, int TB> __device__ __forceinline__ void wgmma(float (&d)[16], uint64_t a, uint64_t b) {
#if MIXC_WGMMA
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, %16, %17, p, 1, 1, %19, %20;\n}\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
               : "l"(a), "l"(b), "r"(1), "n"(TA), "n"(TB));
#endif
}
// clang-format on
// Keeps the compiler from moving accumulator reads or writes across the asynchronous products.
template <int R> __device__ __forceinline__ void wgFence(float (&d)[R]) {
#pragma unroll
  for (int i = 0; i < R; ++i) asm volatile("" : "+f"(d[i])::"memory");
}
__device__ __forceinline__ void wgArrive() {
#if MIXC_WGMMA
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void wgCommit() {
#if MIXC_WGMMA
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
template <int N> __device__ __forceinline__ void wgWait() {
#if MIXC_WGMMA
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
#endif
}
// Shared memory written by ordinary stores (or cp.async), read next by wgmma.
__device__ __forceinline__ void asyncProxyFence() {
#if MIXC_WGMMA
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}
// The bulk copy engine (sm_90): contiguous bytes global -> shared, counted
// on an mbarrier of the CTA.
__device__ __forceinline__ void mbarInit(uint64_t *bar, int count) {
#if __CUDA_ARCH__ >= 900
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smemAddr(bar)), "r"(count) : "memory");
#endif
}
// One arrival that also announces `bytes` of bulk copies to come.
__device__ __forceinline__ void mbarExpect(uint64_t *bar, uint32_t bytes) {
#if __CUDA_ARCH__ >= 900
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smemAddr(bar)), "r"(bytes) : "memory");
#endif
}
__device__ __forceinline__ void mbarWait(uint64_t *bar, int parity) {
#if __CUDA_ARCH__ >= 900
  asm volatile("{\n.reg .pred p;\nWAIT_%=:\nmbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n@!p bra WAIT_%=;\n}\n" ::"r"(
                   smemAddr(bar)),
               "r"(parity)
               : "memory");
#endif
}
__device__ __forceinline__ void bulkCopy(void *dst, const void *src, uint32_t bytes, uint64_t *bar) {
#if __CUDA_ARCH__ >= 900
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
                   smemAddr(dst)),
               "l"(src), "r"(bytes), "r"(smemAddr(bar))
               : "memory");
#endif
}
} // namespace tile

} // namespace mixc::cuda

#endif
