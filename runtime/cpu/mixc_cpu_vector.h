// Part of the CPU tile library (mixc_cpu.h): vectors of the ISA's width,
// register groups, one key row of a recurrent sweep, and exp/log that
// vectorize.
#ifndef MIXC_CPU_VECTOR_H
#define MIXC_CPU_VECTOR_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace mixc::cpu {

// L floats as one vector value: one register of the ISA the kernel is tiled
// for (mixer-tile's vector_lanes: 8 on AVX2, 16 on AVX-512, 4 on NEON). The
// helpers have internal linkage: mixc itself includes this header without
// those flags, where passing the type by value has another ABI (-Wpsabi), and
// no call crosses from one build to the other.
template <int L> struct VecOf { typedef float type __attribute__((vector_size(4 * L))); };
template <int L> using vec = typename VecOf<L>::type;
// The widest vector the build flags allow: row copies and reductions outside
// the tiled sweeps use it (a 64-byte GCC vector on AVX2 is copied as four
// 16-byte moves, and a sweep's load spanning several stores is not forwarded).
#if defined(__AVX512F__)
constexpr int kBuildLanes = 16;
#elif defined(__AVX__)
constexpr int kBuildLanes = 8;
#else
constexpr int kBuildLanes = 4;
#endif
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
template <int L = kBuildLanes> static inline vec<L> loadV(const float *p) {
  vec<L> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <int L = kBuildLanes> static inline void storeV(float *p, vec<L> v) { std::memcpy(p, &v, sizeof v); }
#pragma GCC diagnostic pop

// Register blocking: a block of the state is NV vectors wide, more than the
// ISA has registers for the values, read-outs and partial sums a sweep keeps
// live per vector. The sweep over the key rows therefore runs once per group
// of RB vectors (mixer-tile's reg_block), with the group's operands in
// registers; f(Int<G>{}, v0) is called for the vectors [v0, v0 + G), the last
// group taking the remainder.
template <int N> using Int = std::integral_constant<int, N>;
template <int NV, int RB, typename F> inline void forRegisterGroups(F f) {
  constexpr int R = RB < NV ? (RB > 0 ? RB : 1) : NV;
  for (int v0 = 0; v0 + R <= NV; v0 += R) f(Int<R>{}, v0);
  if constexpr (NV % R != 0) f(Int<NV % R>{}, NV - NV % R);
}
// Loads G vectors of a row (from float v0 * L).
template <int L, int G> inline void loadGroup(vec<L> (&x)[G], const float *row, int v0) {
  for (int n = 0; n < G; ++n) x[n] = loadV<L>(row + L * (v0 + n));
}
template <int L, int G> inline void storeGroup(float *row, int v0, const vec<L> (&x)[G]) {
  for (int n = 0; n < G; ++n) storeV<L>(row + L * (v0 + n), x[n]);
}

// One key row of a recurrent sweep over a group of G vectors: st <- d st +
// ki v (no multiply when !Decay), and with Read the read-out gains qi st.
template <int L, int G, bool Decay, bool Read>
inline void sweepRowV(float *st, float d, float ki, float qi, const vec<L> *vx, vec<L> *va) {
  for (int n = 0; n < G; ++n) {
    const vec<L> old = loadV<L>(st + L * n), x = (Decay ? d * old : old) + ki * vx[n];
    storeV<L>(st + L * n, x);
    if constexpr (Read) va[n] += qi * x;
  }
}
// Two tokens in one pass over a key row (deferred vector decays, no fold):
// x1 = st + k1 v1 is read out by q1, x2 = x1 + k2 v2 by q2 and stored; the
// row is loaded and stored once for both tokens.
template <int L, int G>
inline void sweepRow2V(float *st, float k1, float q1, float k2, float q2, const vec<L> *v1, const vec<L> *v2,
                       vec<L> *a1, vec<L> *a2) {
  for (int n = 0; n < G; ++n) {
    const vec<L> x1 = loadV<L>(st + L * n) + k1 * v1[n], x2 = x1 + k2 * v2[n];
    a1[n] += q1 * x1;
    a2[n] += q2 * x2;
    storeV<L>(st + L * n, x2);
  }
}
template <int VB, bool Decay, bool Read>
inline void sweepRow(float *st, float d, float ki, float qi, const float *vv, float *acc) {
  for (int j = 0; j < VB; ++j) {
    const float x = (Decay ? d * st[j] : st[j]) + ki * vv[j];
    st[j] = x;
    if constexpr (Read) acc[j] += qi * x;
  }
}
// ---- math that vectorizes ------------------------------------------------------
// Cephes-style exp and log in plain arithmetic, so that the host compiler
// vectorizes the loops that call them (libm's are scalar calls). Relative
// error about 2e-7 over the range used here.
inline float fastExp(float x) {
  x = std::min(std::max(x, -87.3f), 88.7f);
  float n = std::floor(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float e = p * r * r + r + 1.0f;
  int32_t bits = ((int32_t)n + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return e * scale;
}

inline float fastLog(float x) { // x > 0, normal
  int32_t bits;
  std::memcpy(&bits, &x, 4);
  float e = (float)(((bits >> 23) & 0xff) - 126);
  bits = (bits & 0x807fffff) | 0x3f000000;
  float m;
  std::memcpy(&m, &bits, 4);
  bool small = m < 0.707106781186547524f;
  e = small ? e - 1.f : e;
  m = small ? m + m - 1.f : m - 1.f;
  float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  y += -2.12194440e-4f * e;
  y += -0.5f * z;
  return m + y + 0.693359375f * e;
}

// log with libm's edge cases (0 -> -inf, negative or NaN -> NaN, inf -> inf)
// as selects, so that it vectorizes too.
inline float safeLog(float x) {
  float l = fastLog(std::min(std::max(x, 1.17549435e-38f), 3.40282347e+38f));
  l = x == 0.f ? -INFINITY : l;
  l = x > 3.40282347e+38f ? INFINITY : l;
  return x >= 0.f ? l : NAN;
}

} // namespace mixc::cpu

#endif
