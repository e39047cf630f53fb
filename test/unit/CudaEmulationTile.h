// The tensor-core primitives of runtime/cuda/mixc_cuda_tile.cuh (namespace
// mixc::cuda::tile) and the bf16 types they move, for kernels run on host
// threads by test/unit/CudaEmulation.h (which includes this). PTX's warp-wide
// instructions are exchanges through the warp's word buffer between two warp
// barriers: ldmatrix (.x4, plain and .trans) hands each lane the fragment
// elements of the rows other lanes address; mma.sync m16n8k16 (bf16) and
// m16n8k8 (tf32) rebuild the operands from every lane's fragments and give
// each lane its accumulator elements, in PTX's fragment layouts (g = lane / 4,
// t = lane % 4; an accumulator tile's rows g and g + 8, columns 2t and 2t + 1).
// cp.async copies at once (its groups complete immediately). The products of
// bf16 (tf32) operands are exact in fp32; the 16 (8) of an element are added in
// k order, then to the accumulator (the hardware's order is unspecified, so a
// test allows fp32 rounding, never an exact sum).
#ifndef MIXC_TEST_UNIT_CUDAEMULATIONTILE_H
#define MIXC_TEST_UNIT_CUDAEMULATIONTILE_H

#include <cstdint>
#include <cstring>

// ---- bf16 as the device stores it: the high 16 bits of an fp32, rounded to nearest even.
struct __nv_bfloat16 {
  uint16_t x;
};
struct __nv_bfloat162 {
  __nv_bfloat16 x, y;
};
struct float2 {
  float x, y;
};
inline float2 make_float2(float x, float y) { return {x, y}; }
struct alignas(16) uint4 {
  uint32_t x, y, z, w;
};
inline uint32_t __float_as_uint(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float __uint_as_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// The CPU runtime's conversions (runtime/cpu/mixc_cpu.h, included by CudaEmulation.h).
inline __nv_bfloat16 __float2bfloat16(float f) { return {mixc::cpu::floatToBf16(f)}; }
inline float __bfloat162float(__nv_bfloat16 b) { return mixc::cpu::bf16ToFloat(b.x); }
inline __nv_bfloat162 __floats2bfloat162_rn(float lo, float hi) { return {__float2bfloat16(lo), __float2bfloat16(hi)}; }
inline float __low2float(__nv_bfloat162 v) { return __bfloat162float(v.x); }
inline float __high2float(__nv_bfloat162 v) { return __bfloat162float(v.y); }
inline float2 __bfloat1622float2(__nv_bfloat162 v) { return {__low2float(v), __high2float(v)}; }

namespace mixc::emu {
// Lane `lane` of the calling thread's warp: its published word i.
inline uint64_t &laneWord(unsigned lane, int i) {
  return current->words[(threadIdx.x / 32 * 32 + lane) * Cta::kWords + i];
}
inline void warpBarrier() { current->warps[threadIdx.x / 32]->arrive_and_wait(); }
} // namespace mixc::emu

namespace mixc::cuda::tile {
using bf16 = __nv_bfloat16;

namespace detail {
inline uint32_t bits(bf16 lo, bf16 hi) { return uint32_t(lo.x) | uint32_t(hi.x) << 16; }
inline float half(uint32_t r, int i) { return __bfloat162float(bf16{uint16_t(i ? r >> 16 : r & 0xffffu)}); }
// ldmatrix.sync.aligned.m8n8.x4[.trans].b16: lane l gives the address of row
// l % 8 of matrix l / 8; r[i] gets matrix i's (row l / 4, columns 2 (l % 4)
// and + 1), or with trans its (rows 2 (l % 4) and + 1, column l / 4).
inline void ldmatrix4(uint32_t r[4], const bf16 *row, bool trans) {
  const unsigned l = threadIdx.x % 32;
  emu::laneWord(l, 0) = (uint64_t)(uintptr_t)row;
  emu::warpBarrier();
  auto rowOf = [](unsigned lane) { return (const bf16 *)(uintptr_t)emu::laneWord(lane, 0); };
  for (unsigned i = 0; i < 4; ++i) {
    if (trans) r[i] = bits(rowOf(8 * i + 2 * (l % 4))[l / 4], rowOf(8 * i + 2 * (l % 4) + 1)[l / 4]);
    else {
      const bf16 *p = rowOf(8 * i + l / 4);
      r[i] = bits(p[2 * (l % 4)], p[2 * (l % 4) + 1]);
    }
  }
  emu::warpBarrier();
}
// After the warp's fragments are published (and a warp barrier): c += A B
// for this lane's accumulator elements (rows g, g + 8; columns 2t, 2t + 1),
// A(m, k) and B(k, n) read from the fragments, the KD products added in k
// order; then the barrier after which the fragments may be overwritten.
template <int KD, typename FA, typename FB> inline void accumulate(float c[4], FA A, FB B) {
  const int l = (int)threadIdx.x % 32;
  float out[4];
  for (int e = 0; e < 4; ++e) {
    const int m = l / 4 + 8 * (e / 2), n = 2 * (l % 4) + e % 2;
    float s = 0.f;
    for (int k = 0; k < KD; ++k) s += A(m, k) * B(k, n);
    out[e] = c[e] + s;
  }
  emu::warpBarrier();
  for (int e = 0; e < 4; ++e) c[e] = out[e];
}
} // namespace detail

inline void loadA(uint32_t a[4], const bf16 *base, int ld) {
  const int l = threadIdx.x % 32;
  detail::ldmatrix4(a, base + (l % 16) * ld + (l / 16) * 8, false);
}
inline void loadAT(uint32_t a[4], const bf16 *base, int ld) {
  const int l = threadIdx.x % 32;
  detail::ldmatrix4(a, base + ((l % 8) + (l / 16) * 8) * ld + ((l / 8) % 2) * 8, true);
}
inline void loadBN(uint32_t b[4], const bf16 *base, int ld) {
  const int l = threadIdx.x % 32;
  detail::ldmatrix4(b, base + ((l % 8) + (l / 16) * 8) * ld + ((l / 8) % 2) * 8, false);
}
inline void loadBK(uint32_t b[4], const bf16 *base, int ld) {
  const int l = threadIdx.x % 32;
  detail::ldmatrix4(b, base + ((l % 8) + ((l / 8) % 2) * 8) * ld + (l / 16) * 8, true);
}

// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32: a[0..3] hold A's (g,
// 2t..), (g + 8, 2t..), (g, 2t + 8..), (g + 8, 2t + 8..); b0, b1 B's (k 2t..,
// column g) and (k 2t + 8.., column g).
inline void mma(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  const unsigned l = threadIdx.x % 32;
  for (int i = 0; i < 4; ++i) emu::laneWord(l, i) = a[i];
  emu::laneWord(l, 4) = b0, emu::laneWord(l, 5) = b1;
  emu::warpBarrier();
  detail::accumulate<16>(c, [](int m, int k) {
    return detail::half((uint32_t)emu::laneWord((m % 8) * 4 + (k % 8) / 2, (m >= 8) + 2 * (k >= 8)), k % 2);
  }, [](int k, int n) { return detail::half((uint32_t)emu::laneWord(n * 4 + (k % 8) / 2, 4 + (k >= 8)), k % 2); });
}

// mma.sync.aligned.m16n8k8 in tf32 (the operands' low 13 mantissa bits
// dropped), the operands read from shared memory as mixc_cuda_tile.cuh does.
inline void mmaTf32(float c[4], const float *a, int lda, const float *b, int ldb) {
  const unsigned l = threadIdx.x % 32;
  const int g = (int)l / 4, t = (int)l % 4;
  const float frag[6] = {a[g * lda + t], a[(g + 8) * lda + t], a[g * lda + t + 4], a[(g + 8) * lda + t + 4],
                         b[t * ldb + g], b[(t + 4) * ldb + g]};
  for (int i = 0; i < 6; ++i) emu::laneWord(l, i) = __float_as_uint(frag[i]) & ~0x1fffu;
  emu::warpBarrier();
  auto word = [](unsigned lane, int i) { return __uint_as_float((uint32_t)emu::laneWord(lane, i)); };
  detail::accumulate<8>(c, [&](int m, int k) { return word((m % 8) * 4 + k % 4, (m >= 8) + 2 * (k >= 4)); },
                        [&](int k, int n) { return word(n * 4 + k % 4, 4 + (k >= 4)); });
}

inline uint32_t pack(float lo, float hi) { return detail::bits(__float2bfloat16(lo), __float2bfloat16(hi)); }
inline uint32_t scalePair(uint32_t x, float f0, float f1) {
  return pack(detail::half(x, 0) * f0, detail::half(x, 1) * f1);
}
inline void copy16(void *dst, const void *src, bool valid) {
  if (valid) std::memcpy(dst, src, 16);
  else std::memset(dst, 0, 16);
}
inline void copy16(void *dst, const void *src) { std::memcpy(dst, src, 16); }
inline void copy4(void *dst, const void *src, bool valid) {
  if (valid) std::memcpy(dst, src, 4);
  else std::memset(dst, 0, 4);
}
inline void commit() {}
template <int N> inline void waitGroups() {}

// The wgmma tiles' layout (mixc_cuda_tile.cuh; the products themselves are
// sm_90a's and not emulated): an R-row tile keeps each 8 columns as a block of
// R rows x 16 bytes, the blocks 16 R + 16 bytes apart.
template <int R> constexpr int tileGroup = 16 * R + 16;
template <int R, int W> constexpr int tileBytes = (W / 8) * tileGroup<R>;
template <int R> inline int tileAt(int r, int c) { return (c / 8) * tileGroup<R> + r * 16 + (c % 8) * 2; }
} // namespace mixc::cuda::tile

#endif
