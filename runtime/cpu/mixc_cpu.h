// The CPU tile library that generated kernels call: tensors in and out,
// pre-processing on per-token buffers, and the state scan. What differs
// between families is generated; what is the same for all lives here once.
#ifndef MIXC_CPU_H
#define MIXC_CPU_H

#include "mixc_check.h"
#include "mixc_tensor.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace mixc::cpu {
using mixc::Checker;

// ---- element types ---------------------------------------------------------
inline float bf16ToFloat(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint16_t floatToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); // NaN stays NaN
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// ---- threads -------------------------------------------------------------------
// The calling thread's kernel sets how many threads its helpers may use.
inline int &kernelThreads() {
  thread_local int n = 1;
  return n;
}

// Flushes denormals to zero while in scope (x86, aarch64): products of decayed values
// reach the denormal range, where every operation is many times slower; a
// value below 1e-38 is zero for every purpose here.
struct FlushDenormals {
#if defined(__x86_64__) || defined(__i386__)
  unsigned saved = __builtin_ia32_stmxcsr();
  FlushDenormals() { __builtin_ia32_ldmxcsr(saved | 0x8040); }
  ~FlushDenormals() { __builtin_ia32_ldmxcsr(saved); }
#elif defined(__aarch64__)
  uint64_t saved;
  FlushDenormals() { // FPCR.FZ (bit 24)
    asm volatile("mrs %0, fpcr" : "=r"(saved));
    asm volatile("msr fpcr, %0" : : "r"(saved | (uint64_t(1) << 24)));
  }
  ~FlushDenormals() { asm volatile("msr fpcr, %0" : : "r"(saved)); }
#endif
};

template <typename F> void parallelFor(int64_t n, int threads, F f) {
  threads = (int)std::max<int64_t>(1, std::min<int64_t>(threads, n));
  if (threads == 1) {
    FlushDenormals ftz;
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
  std::atomic<int64_t> next{0};
  std::vector<std::thread> pool;
  for (int w = 0; w < threads; ++w)
    pool.emplace_back([&] {
      FlushDenormals ftz;
      for (int64_t i; (i = next.fetch_add(1)) < n;) f(i);
    });
  for (auto &t : pool) t.join();
}

// Runs f(begin, end) over [0, n) in pieces of about `grain`, in parallel.
template <typename F> void parallelRange(int64_t n, int64_t grain, F f) {
  int64_t pieces = std::max<int64_t>(1, n / std::max<int64_t>(grain, 1));
  int threads = pieces == 1 ? 1 : kernelThreads();
  parallelFor(pieces, threads, [&](int64_t p) { f(p * n / pieces, (p + 1) * n / pieces); });
}

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

// ---- buffers -----------------------------------------------------------------
// A contiguous float array with a left-aligned broadcasting shape.
// An allocator whose resize() leaves floats uninitialized (scan outputs are
// written in full: zeroing them first cost a pass over memory per call).
template <typename T> struct UninitAlloc : std::allocator<T> {
  template <typename U> struct rebind { using other = UninitAlloc<U>; };
  UninitAlloc() = default;
  template <typename U> UninitAlloc(const UninitAlloc<U> &) {}
  template <typename U> void construct(U *p) { ::new ((void *)p) U; }
  template <typename U, typename... A> void construct(U *p, A &&...a) { ::new ((void *)p) U(std::forward<A>(a)...); }
};
struct Uninit {};
struct Buffer {
  std::vector<int64_t> shape;
  std::vector<float, UninitAlloc<float>> data;
  Buffer() = default;
  explicit Buffer(std::vector<int64_t> s, float fill = 0.f) : shape(std::move(s)) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    data.assign(n, fill);
  }
  Buffer(std::vector<int64_t> s, Uninit) : shape(std::move(s)) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    data.resize(n);
  }
  int64_t size() const { return (int64_t)data.size(); }
  float *ptr() { return ext ? ext : data.data(); }
  const float *ptr() const { return ext ? ext : data.data(); }
  float *ext = nullptr; // set by outputBuffer: the caller's tensor, written in place
};

// Element offset of a row-major index under the tensor's strides.
inline int64_t offsetOf(const mixc_tensor &t, const int64_t *idx) {
  int64_t off = 0;
  for (int d = 0; d < t.ndim; ++d) off += idx[d] * t.strides[d];
  return off;
}

// Calls f(row, offset) for every row (all dimensions but the last) of the
// tensor, in parallel; `offset` is the row's first element under the strides.
template <typename F> void forEachRow(const mixc_tensor &t, F f) {
  int64_t rows = 1;
  for (int d = 0; d + 1 < t.ndim; ++d) rows *= t.shape[d];
  int64_t inner = t.ndim ? t.shape[t.ndim - 1] : 1;
  parallelRange(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t off = 0, rest = r;
      for (int d = t.ndim - 2; d >= 0; --d) {
        off += (rest % t.shape[d]) * t.strides[d];
        rest /= t.shape[d];
      }
      f(r, off);
    }
  });
}

// Reads a tensor into a buffer of `shape` (a per-head [H, ...] tensor lands in
// [1, 1, H, ...]); an absent optional tensor reads as zeros.
inline Buffer load(const mixc_tensor &t, std::vector<int64_t> shape) {
  Buffer buf(shape);
  if (!t.data) return buf;
  const int64_t inner = t.ndim ? t.shape[t.ndim - 1] : 1, is = t.ndim ? t.strides[t.ndim - 1] : 1;
  forEachRow(t, [&](int64_t r, int64_t off) {
    float *dst = &buf.data[r * inner];
    if (t.dtype == MIXC_F32) {
      const float *src = (const float *)t.data + off;
      if (is == 1) std::memcpy(dst, src, inner * sizeof(float));
      else for (int64_t i = 0; i < inner; ++i) dst[i] = src[i * is];
    } else {
      const uint16_t *src = (const uint16_t *)t.data + off;
      for (int64_t i = 0; i < inner; ++i) dst[i] = bf16ToFloat(src[i * is]);
    }
  });
  return buf;
}

// A scan result that the kernel returns as it is: written straight into the
// caller's tensor when that is contiguous f32 of the same shape (no copy and
// no fresh pages to fault in), else into a buffer that store() copies out.
inline Buffer outputBuffer(const mixc_tensor &t, std::vector<int64_t> shape) {
  bool direct = t.data && t.dtype == MIXC_F32 && t.ndim == (int)shape.size();
  int64_t stride = 1;
  for (int d = (int)shape.size() - 1; direct && d >= 0; --d) {
    direct = t.shape[d] == shape[d] && (shape[d] == 1 || t.strides[d] == stride);
    stride *= shape[d];
  }
  if (!direct) return Buffer(std::move(shape), Uninit{});
  Buffer b;
  b.shape = std::move(shape);
  b.ext = (float *)t.data;
  return b;
}

inline void store(const Buffer &buf, mixc_tensor &t) {
  if (buf.ext && buf.ext == t.data) return; // written in place
  const int64_t inner = t.ndim ? t.shape[t.ndim - 1] : 1, is = t.ndim ? t.strides[t.ndim - 1] : 1;
  forEachRow(t, [&](int64_t r, int64_t off) {
    const float *src = buf.ptr() + r * inner;
    if (t.dtype == MIXC_F32) {
      float *dst = (float *)t.data + off;
      if (is == 1) std::memcpy(dst, src, inner * sizeof(float));
      else for (int64_t i = 0; i < inner; ++i) dst[i * is] = src[i];
    } else {
      uint16_t *dst = (uint16_t *)t.data + off;
      for (int64_t i = 0; i < inner; ++i) dst[i * is] = floatToBf16(src[i]);
    }
  });
}

// ---- pre-processing ---------------------------------------------------------
inline float softplus(float x) { return std::max(x, 0.f) + fastLog(1.f + fastExp(-std::fabs(x))); }
inline float logsigmoid(float x) { return std::min(x, 0.f) - fastLog(1.f + fastExp(-std::fabs(x))); }
// Spellings shared with the CUDA library, so that generated row code is the same text for both.
inline float mxAbs(float x) { return std::fabs(x); }
inline float mxSqrt(float x) { return std::sqrt(x); }
inline float mxTanh(float x) { return std::tanh(x); }
inline float mxMax(float a, float b) { return std::max(a, b); }
inline float mxMin(float a, float b) { return std::min(a, b); }
inline float mxPow(float a, float b) { return std::pow(a, b); }
inline void copyRow(const float *x, int64_t n, float *o) { std::copy_n(x, n, o); }
inline float sigmoid(float x) { return 1.f / (1.f + fastExp(-x)); }
inline float silu(float x) { return x / (1.f + fastExp(-x)); }
inline float elu(float x) { return x > 0.f ? x : fastExp(x) - 1.f; }
inline float relu(float x) { return x > 0.f ? x : 0.f; }

template <typename F> Buffer map(const Buffer &in, F f) {
  Buffer out(in.shape);
  const float *x = in.ptr();
  float *o = out.ptr();
  parallelRange(in.size(), 16384, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) o[i] = f(x[i]);
  });
  return out;
}

// Left-aligned broadcasting, as mixer.binary.
template <typename F> Buffer binary(const Buffer &a, const Buffer &b, F f) {
  if (a.shape == b.shape || b.size() == 1 || a.size() == 1) {
    // Same shape, or one side a single value: a flat loop.
    Buffer out(a.size() >= b.size() ? a.shape : b.shape);
    const float *x = a.ptr(), *y = b.ptr();
    float *o = out.ptr();
    const bool sa = a.size() == 1 && out.size() > 1, sb = b.size() == 1 && out.size() > 1;
    parallelRange(out.size(), 16384, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) o[i] = f(x[sa ? 0 : i], y[sb ? 0 : i]);
    });
    return out;
  }
  size_t rank = std::max(a.shape.size(), b.shape.size());
  std::vector<int64_t> s(rank), sa(rank, 0), sb(rank, 0);
  int64_t ma = 1, mb = 1;
  for (int64_t i = (int64_t)rank - 1; i >= 0; --i) {
    int64_t da = i < (int64_t)a.shape.size() ? a.shape[i] : 1, db = i < (int64_t)b.shape.size() ? b.shape[i] : 1;
    s[i] = da == 1 ? db : da;
    if (i < (int64_t)a.shape.size()) { sa[i] = da == 1 ? 0 : ma; ma *= da; }
    if (i < (int64_t)b.shape.size()) { sb[i] = db == 1 ? 0 : mb; mb *= db; }
  }
  // Rows of the last dimension: offsets per row, then a strided inner loop.
  Buffer out(s);
  const int64_t inner = s.back(), ia = sa.back(), ib = sb.back(), rows = out.size() / std::max<int64_t>(inner, 1);
  parallelRange(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t oa = 0, ob = 0, rest = r;
      for (int64_t d = (int64_t)rank - 2; d >= 0; --d) {
        int64_t i = rest % s[d];
        rest /= s[d];
        oa += i * sa[d], ob += i * sb[d];
      }
      const float *x = a.ptr() + oa, *y = b.ptr() + ob;
      float *o = out.ptr() + r * inner;
      for (int64_t j = 0; j < inner; ++j) o[j] = f(x[j * ia], y[j * ib]);
    }
  });
  return out;
}

// Maps over the last (feature) dimension: out row = f(in row).
template <typename F> Buffer rows(const Buffer &in, int64_t outWidth, F f) {
  std::vector<int64_t> s = in.shape;
  int64_t D = s.back(), n = in.size() / std::max<int64_t>(D, 1);
  s.back() = outWidth;
  Buffer out(s);
  parallelRange(n, std::max<int64_t>(1, 16384 / std::max<int64_t>(D, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) f(&in.data[r * D], D, &out.data[r * outWidth]);
  });
  return out;
}

// Row forms of the feature maps, for pre-processing fused into the scan.
inline void l2normRow(const float *x, int64_t D, float *o) {
  float n = 0;
  for (int64_t i = 0; i < D; ++i) n += x[i] * x[i];
  float inv = 1.f / std::sqrt(n + 1e-12f);
  for (int64_t i = 0; i < D; ++i) o[i] = x[i] * inv;
}
inline void taylor2Row(const float *x, int64_t D, float *o) {
  o[0] = 1;
  for (int64_t i = 0; i < D; ++i) o[1 + i] = x[i];
  for (int64_t i = 0; i < D; ++i)
    for (int64_t j = 0; j < D; ++j) o[1 + D + i * D + j] = x[i] * x[j] * 0.70710678118654752f;
}

// Reads row (b, t, h) of a per-token input ([B, T, H, D], or [B, T, H] with D = 1).
inline void readRow(const mixc_tensor &t, int64_t b, int64_t tt, int64_t h, float *o, int64_t D) {
  int64_t off = b * t.strides[0] + tt * t.strides[1] + h * t.strides[2];
  int64_t is = t.ndim > 3 ? t.strides[3] : 1;
  // Forward scans read the rows of a head a token apart (H rows): fetch the
  // row 4 tokens ahead now, so that the sweeps do not wait on memory.
  if (tt + 4 < t.shape[1] && is == 1) {
    const char *ahead = (const char *)t.data + (off + 4 * t.strides[1]) * (t.dtype == MIXC_F32 ? 4 : 2);
    for (int64_t byte = 0; byte < D * (t.dtype == MIXC_F32 ? 4 : 2); byte += 64) __builtin_prefetch(ahead + byte);
  }
  if (t.dtype == MIXC_F32) {
    const float *src = (const float *)t.data + off;
    int64_t i = 0;
    // Whole-vector copies: the sweeps load these rows as 64-byte vectors, and a
    // load that spans two narrower stores cannot be forwarded from them.
    if (is == 1)
      for (; i + kBuildLanes <= D; i += kBuildLanes) storeV(o + i, loadV(src + i));
    for (; i < D; ++i) o[i] = src[i * is];
  } else {
    const uint16_t *src = (const uint16_t *)t.data + off;
    for (int64_t i = 0; i < D; ++i) o[i] = bf16ToFloat(src[i * is]);
  }
}

inline Buffer l2norm(const Buffer &in) {
  return rows(in, in.shape.back(), [](const float *x, int64_t D, float *o) {
    float n = 0;
    for (int64_t i = 0; i < D; ++i) n += x[i] * x[i];
    float inv = 1.f / std::sqrt(n + 1e-12f);
    for (int64_t i = 0; i < D; ++i) o[i] = x[i] * inv;
  });
}
inline Buffer taylor2(const Buffer &in) {
  int64_t D = in.shape.back();
  return rows(in, 1 + D + D * D, [](const float *x, int64_t D, float *o) {
    o[0] = 1;
    for (int64_t i = 0; i < D; ++i) o[1 + i] = x[i];
    for (int64_t i = 0; i < D; ++i)
      for (int64_t j = 0; j < D; ++j) o[1 + D + i * D + j] = x[i] * x[j] * 0.70710678118654752f;
  });
}
inline Buffer ones(const Buffer &in) {
  return rows(in, 1, [](const float *, int64_t, float *o) { o[0] = 1; });
}
inline Buffer appendOne(const Buffer &in) {
  return rows(in, in.shape.back() + 1, [](const float *x, int64_t D, float *o) {
    std::copy_n(x, D, o);
    o[D] = 1;
  });
}
inline Buffer dot(const Buffer &a, const Buffer &b) {
  std::vector<int64_t> s = a.shape;
  int64_t D = s.back(), n = a.size() / std::max<int64_t>(D, 1);
  s.pop_back();
  Buffer out(s);
  for (int64_t r = 0; r < n; ++r) {
    float acc = 0;
    for (int64_t i = 0; i < D; ++i) acc += a.data[r * D + i] * b.data[r * D + i];
    out.data[r] = acc;
  }
  return out;
}
inline Buffer headIndex(int64_t H) {
  Buffer b({1, 1, H});
  for (int64_t h = 0; h < H; ++h) b.data[h] = (float)h;
  return b;
}
// Materializes a broadcast: `in` read at every index of `shape`.
inline Buffer broadcastTo(const Buffer &in, std::vector<int64_t> shape) {
  return binary(Buffer(shape), in, [](float, float x) { return x; });
}

// ---- the scan --------------------------------------------------------------------
enum class Structure { identity, const_scalar, scalar, vector, elementwise, dplr };
enum class DiagKind { none, scalar, vector }; // the diagonal of a dplr transition

// One token's operands, computed by the generated pre-processing right before
// the scan uses them (inputs are read once, no per-token buffers): q, k, a, b
// and a vector decay have K entries, v and dt VIN, a scalar decay decay[0].
template <int K, int VIN> struct TokenRow {
  alignas(64) float q[K], k[K], decay[K], a[K], b[K];
  alignas(64) float v[VIN], dt[VIN];
  float igate = 0.f;
};

// Per-head and whole-problem operands: the elementwise decay rate [H, K, Vs],
// the bonus [H, K], init/state [B, H, K, Vs], m [B, H], and o [B, T, H, V]
// (V = Vs, or Vs - 1 under mLSTM whose last state column is n).
struct ScanArgs {
  int64_t B = 0, T = 0, H = 0, Vs = 0;
  const float *rate = nullptr, *bonus = nullptr, *init = nullptr, *initM = nullptr;
  float *o = nullptr, *state = nullptr, *m = nullptr;
  float scale = 1.f;
  bool reverse = false;
  // Segments of the chunked scan (scanChunkedElementwise). With segLen > 0 the
  // steps split into segments of segLen, and segments segFirst.. are tasks of
  // their own: each starts from segInit[seg] (without segInit: segment 0 from
  // init, the others from zero), ends in segState[seg] instead of state, and
  // with a dt sums it over its steps into segDt[seg]. Each is a [B, H, ...]
  // array of the same layout as state (segDt: [B, H, Vs]).
  int64_t segLen = 0, segFirst = 0;
  const float *segInit = nullptr;
  float *segState = nullptr, *segDt = nullptr;
};

// What a task of the recurrent schedule carries from token to token: its
// block of the state and the scalars that go with it.
template <int K, int VIN, int VB> struct RecurrentTaskState {
  alignas(64) float st[K][VB];
  alignas(64) float nvec[K];     // mLSTM's n or the ones column (kept apart)
  alignas(64) float w[VB];       // DPLR: b^T S of the next token
  alignas(64) float dtSum[VB];   // chunked scan: the segment's summed dt
  alignas(64) float gv[K];       // deferred vector decays
  TokenRow<K, VIN> rowBuf[2];    // this token's row and the next one's
  float m = 0.f, gam = 1.f;      // mLSTM's stabilizer, deferred scalar decay
  bool pairedPrev = false;       // deferred vector decays: this token went with the last
};

// Runs `tasks` tasks of `steps` steps each over the threads, each thread a
// contiguous range of them, and advances a thread's tasks together, a chunk
// of kInterleave steps at a time: the tasks of neighbouring heads read rows
// that lie side by side in [B, T, H, D] inputs, so one chunk's pages (and TLB
// entries) serve them all instead of each task walking the whole sequence
// alone. States of a group stay within kGroupBytes (L2). run(task, state,
// from, to) advances one task.
constexpr int64_t kInterleave = 32, kGroupBytes = 256 * 1024;
template <typename State, typename Run> void runInterleaved(int64_t tasks, int64_t steps, int threads, Run run) {
  const int nt = (int)std::max<int64_t>(1, std::min<int64_t>(threads, tasks));
  const int64_t group = std::max<int64_t>(1, kGroupBytes / (int64_t)sizeof(State));
  parallelFor(nt, nt, [&](int64_t thread) {
    const int64_t t0 = thread * tasks / nt, t1 = (thread + 1) * tasks / nt;
    for (int64_t g0 = t0; g0 < t1; g0 += group) {
      const int64_t g1 = std::min(t1, g0 + group);
      std::unique_ptr<State[]> states(new State[g1 - g0]);
      for (int64_t from = 0; from == 0 || from < steps; from += kInterleave)
        for (int64_t t = g0; t < g1; ++t) run(t, states[t - g0], from, from + kInterleave);
    }
  });
}

// The recurrent schedule: one task per (batch, head, block of VB value
// columns); the K x VB block of the state stays in L1 and every token updates
// it with vector FMAs, reading the output in the same sweep. mLSTM keeps its
// normalizer column n (column Vs - 1) apart, in every task, because each
// block's output divides by it.
// LogDecay: the token row carries log-decays (exponentiated here); false when
// the spec gave the multiplicative decay itself, which is then used as is.
// OnesColumn: the last value column is all ones (a sum normalizer turned into
// a column); like mLSTM's n it is kept apart as a K-vector instead of widening
// every block, and block 0 writes its readout.
template <Structure S, int K, int VIN, int VB, int L, int RB, DiagKind Diag, bool Bonus, bool Mlstm, bool HasDt,
          bool LogDecay, bool OnesColumn, typename RowFn>
void scanRecurrent(const ScanArgs &p, int threads, RowFn rowOf) {
  static_assert(LogDecay || !Mlstm, "the mLSTM stabilizer needs the log-decay");
  static_assert(!(OnesColumn && (Mlstm || S == Structure::elementwise)), "no ones column here");
  constexpr bool Side = Mlstm || OnesColumn; // the last state column lives in nvec
  const int64_t B = p.B, T = p.T, H = p.H, Vs = p.Vs;
  const int64_t V = Side ? Vs - 1 : Vs; // columns that are blocked
  const int64_t oStride = OnesColumn ? Vs : V;
  const int64_t blocks = (V + VB - 1) / VB;
  const int64_t segLen = p.segLen > 0 ? p.segLen : std::max<int64_t>(T, 1);
  const int64_t lastSeg = std::max<int64_t>(1, (T + segLen - 1) / segLen) - 1, segs = lastSeg + 1 - p.segFirst;
  using State = RecurrentTaskState<K, VIN, VB>;
  // Runs the steps [from, to) of task's segment (relative to its start):
  // the first call (from == 0) loads the initial state, the call that
  // reaches the segment's end writes the final one.
  auto runTask = [&](int64_t task, State &ts, int64_t from, int64_t to) {
    const int64_t seg = p.segFirst + task % segs, blk = task / segs % blocks, bh = task / segs / blocks;
    const int64_t b = bh / H, h = bh % H;
    const int64_t j0 = blk * VB, width = std::min<int64_t>(VB, V - j0);
    const int64_t s0 = seg * segLen, s1 = std::min(T, s0 + segLen);
    const bool first = from == 0, last = s0 + from <= s1 && s1 <= s0 + to && (s0 + from < s1 || first);
    const int64_t stepBegin = std::min(s1, s0 + from), stepEnd = std::min(s1, s0 + to);
    const float *init = p.segInit ? p.segInit + seg * B * H * K * Vs : seg == 0 ? p.init : nullptr;
    float *stateOut = p.segState ? p.segState + seg * B * H * K * Vs : p.state;
    auto &st = ts.st;
    auto &nvec = ts.nvec;
    // Independent accumulators per key row modulo kLanes: enough to cover the
    // FMA latency when a block is only one or two vectors wide.
    constexpr int kLanes = VB >= 64 ? 1 : VB >= 32 ? 2 : 4;
    alignas(64) float vv[VB], oo[VB], acc[kLanes][VB];
    auto &w = ts.w;
    auto &m = ts.m;
    auto &dtSum = ts.dtSum;
    auto &gam = ts.gam;
    auto &gv = ts.gv;
    auto &rowBuf = ts.rowBuf;
    auto &pairedPrev = ts.pairedPrev;
    // Scalar decays are deferred: the block holds S / gam, with gam the product
    // of the decays since the last fold, so a token costs two FMAs per element
    // (write k / gam, read out gam q . S) instead of a multiply and two FMAs.
    // The scale is folded back into the block before |gam| drops below 1e-18,
    // keeping k / gam finite (a negative decay simply folds every token).
    constexpr bool Deferred =
        (S == Structure::scalar || S == Structure::const_scalar) && !Mlstm && !Bonus && !OnesColumn;
    // Vector decays (GLA) are deferred per key row the same way: row i holds
    // S_i / gv_i, the token writes k_i / gv_i and reads out with q_i gv_i; a row
    // folds its scale back (one multiply per element, that token only) before
    // gv_i leaves [1e-18, 1e18].
    constexpr bool DeferredVec = S == Structure::vector && !Mlstm && !Bonus && !OnesColumn;
    auto timeOf = [&](int64_t step) { return p.reverse ? T - 1 - step : step; };
    constexpr int wLanes = 2 * kLanes;
    alignas(64) float wacc[wLanes][VB];
    if (first) {
    for (int i = 0; i < K; ++i) {
      for (int j = 0; j < VB; ++j)
        st[i][j] = (init && j < width) ? init[((b * H + h) * K + i) * Vs + j0 + j] : 0.f;
      if (Side) nvec[i] = init ? init[((b * H + h) * K + i) * Vs + V] : 0.f;
    }
    m = Mlstm && p.initM && seg == 0 ? p.initM[b * H + h] : 0.f;
    for (int j = 0; j < VB; ++j) dtSum[j] = 0.f;
    gam = 1.f;
    for (int i = 0; i < K; ++i) gv[i] = 1.f;
    pairedPrev = false;
    // The next token's row is computed before this token's sweep, so that a
    // diagonal-plus-low-rank transition can gather the next w = b^T S while it
    // writes S: one sweep over the state per token instead of two.
    if (s0 < s1) rowOf(b, timeOf(s0), h, rowBuf[s0 & 1]);
    if constexpr (S == Structure::dplr) {
      for (int u = 0; u < wLanes; ++u)
        for (int j = 0; j < VB; ++j) wacc[u][j] = 0.f;
      for (int i = 0; i < K; ++i)
        for (int j = 0; j < VB; ++j) wacc[i % wLanes][j] += rowBuf[s0 & 1].b[i] * st[i][j];
      for (int j = 0; j < VB; ++j) {
        float sum = 0.f;
        for (int u = 0; u < wLanes; ++u) sum += wacc[u][j];
        w[j] = sum;
      }
    }
    }
    for (int64_t step = stepBegin; step < stepEnd; ++step) {
      const int64_t t = timeOf(step);
      const int64_t row = (b * T + t) * H + h;
      TokenRow<K, VIN> &r = rowBuf[step & 1], &rn = rowBuf[(step + 1) & 1];
      const bool hasNext = step + 1 < s1;
      if (hasNext) rowOf(b, timeOf(step + 1), h, rn);
      if (pairedPrev) { // swept and written with the previous token
        pairedPrev = false;
        continue;
      }
      const float *q = r.q, *k = r.k, *vin = r.v + j0;
      for (int j = 0; j < VB; ++j) vv[j] = j < width ? vin[j] : 0.f;
      for (int j = 0; j < VB; ++j) oo[j] = 0.f;
      // The vector form (VB a multiple of L, as mixer-tile chooses it): v and
      // the read-out of a register group live in registers; see
      // forRegisterGroups.
      constexpr bool Vec = VB % L == 0;
      constexpr int NV = Vec ? VB / L : 1;
      using vl = vec<L>;
      bool readOutDone = false; // the read-out went straight to oo
      float writeScale = 1.f, decayScalar = 1.f;
      if constexpr (S == Structure::scalar || S == Structure::const_scalar) {
        float g = r.decay[0];
        if constexpr (Mlstm) {
          float ig = r.igate, mNew = std::max(g + m, ig);
          decayScalar = fastExp(g + m - mNew);
          writeScale = fastExp(ig - mNew);
          m = mNew;
        } else {
          decayScalar = LogDecay ? fastExp(g) : g;
        }
      }
      float qu = 0.f, denPrev = 0.f, bn = 0.f;
      if constexpr (OnesColumn) {
        // The ones column before the update: what the bonus reads, and b^T n.
        for (int i = 0; i < K; ++i) denPrev += q[i] * nvec[i];
        if constexpr (S == Structure::dplr)
          for (int i = 0; i < K; ++i) bn += r.b[i] * nvec[i];
      }
      // With identity, scalar or vector decays the bonus read-out of S_{t-1}
      // goes in the update's sweep: each row is read out, then updated, one
      // pass over the state instead of two.
      constexpr bool FusedBonus = Bonus && S != Structure::dplr && S != Structure::elementwise;
      if constexpr (Bonus) {
        // o_t reads S_{t-1} plus the current write weighted by u.
        for (int i = 0; i < K; ++i) qu += q[i] * p.bonus[h * K + i] * k[i];
        if constexpr (Vec && FusedBonus) {
          // read out in the update's sweep below (before each row's update)
        } else if constexpr (Vec) {
          forRegisterGroups<NV, RB>([&](auto G, int v0) {
            vl a[G];
            loadGroup<L>(a, vv, v0);
            for (int n = 0; n < G; ++n) a[n] *= qu;
            for (int i = 0; i < K; ++i)
              for (int n = 0; n < G; ++n) a[n] += q[i] * loadV<L>(&st[i][L * (v0 + n)]);
            storeGroup<L>(oo, v0, a);
          });
        } else {
          for (int u = 0; u < kLanes; ++u)
            for (int j = 0; j < VB; ++j) acc[u][j] = 0.f;
          for (int i = 0; i < K; ++i)
            for (int j = 0; j < VB; ++j) acc[i % kLanes][j] += q[i] * st[i][j];
          for (int j = 0; j < VB; ++j) {
            float sum = qu * vv[j];
            for (int u = 0; u < kLanes; ++u) sum += acc[u][j];
            oo[j] = sum;
          }
        }
      }
      alignas(64) float dvec[K];
      if constexpr (S == Structure::vector || (S == Structure::dplr && Diag == DiagKind::vector))
        for (int i = 0; i < K; ++i) dvec[i] = LogDecay ? fastExp(r.decay[i]) : r.decay[i];
      if constexpr (S == Structure::dplr) {
        const float *av = r.a;
        const float dScalar = Diag == DiagKind::scalar ? (LogDecay ? fastExp(r.decay[0]) : r.decay[0]) : 1.f;
        // w = b^T S with kLanes independent partial sums (an FMA chain per
        // vector would wait on its own latency), then the update.
        // w = b^T S of this token was gathered by the previous sweep.
        if constexpr (Vec && !Bonus) {
          // v, w, the read-out and the next w of a register group as vectors.
          forRegisterGroups<NV, RB>([&](auto G, int v0) {
            vl vx[G], vw[G], va[G] = {}, vn[G] = {};
            loadGroup<L>(vx, vv, v0);
            loadGroup<L>(vw, w, v0);
            for (int i = 0; i < K; ++i) {
              const float d = Diag == DiagKind::vector ? dvec[i] : dScalar;
              const float ai = av[i], ki = k[i], qi = q[i], bn = hasNext ? rn.b[i] : 0.f;
              float *row = &st[i][L * v0];
              for (int n = 0; n < G; ++n) {
                const vl x = d * loadV<L>(row + L * n) + ai * vw[n] + ki * vx[n];
                storeV<L>(row + L * n, x);
                va[n] += qi * x;
                vn[n] += bn * x;
              }
            }
            storeGroup<L>(oo, v0, va);
            storeGroup<L>(w, v0, vn);
          });
          readOutDone = true;
        } else {
          for (int u = 0; u < kLanes; ++u)
            for (int j = 0; j < VB; ++j) acc[u][j] = 0.f;
          for (int u = 0; u < wLanes; ++u)
            for (int j = 0; j < VB; ++j) wacc[u][j] = 0.f;
          for (int i = 0; i < K; ++i) {
            const float d = Diag == DiagKind::vector ? dvec[i] : dScalar;
            const float ai = av[i], ki = k[i], qi = q[i], bn = hasNext ? rn.b[i] : 0.f;
            for (int j = 0; j < VB; ++j) {
              float s = d * st[i][j] + ai * w[j] + ki * vv[j];
              st[i][j] = s;
              if constexpr (!Bonus) acc[i % kLanes][j] += qi * s;
              wacc[i % wLanes][j] += bn * s;
            }
          }
          for (int j = 0; j < VB; ++j) {
            float sum = 0.f;
            for (int u = 0; u < wLanes; ++u) sum += wacc[u][j];
            w[j] = sum;
          }
        }
      } else if constexpr (S == Structure::elementwise) {
        const float *A = p.rate + (h * K) * Vs + j0;
        const float *dt = r.dt + j0;
        if (HasDt && p.segDt)
          for (int j = 0; j < VB; ++j) dtSum[j] += j < width ? dt[j] : 0.f;
        for (int u = 0; u < kLanes; ++u)
          for (int j = 0; j < VB; ++j) acc[u][j] = 0.f;
        for (int i = 0; i < K; ++i) {
          const float ki = k[i], qi = q[i];
          for (int j = 0; j < VB; ++j) {
            // LogDecay: exp(rate * dt); else dt is the factor itself (rate 1).
            float f;
            if constexpr (LogDecay) f = fastExp(j < width ? A[i * Vs + j] * (HasDt ? dt[j] : 1.f) : 0.f);
            else f = j < width ? dt[j] : 0.f;
            float s = f * st[i][j] + ki * vv[j];
            st[i][j] = s;
            if constexpr (!Bonus) acc[i % kLanes][j] += qi * s;
          }
        }
      } else if constexpr (DeferredVec) {
        if constexpr (!Vec)
          for (int u = 0; u < kLanes; ++u)
            for (int j = 0; j < VB; ++j) acc[u][j] = 0.f;
        // A token's row scales g = gPrev . d and its write and read factors
        // k / g and q . g, in vector loops; nonzero when a row must fold.
        auto rowScales = [](const float *gPrev, const float *d, const float *kt, const float *qt, float *g, float *kwt,
                            float *qwt) {
          int fold = 0;
          for (int i = 0; i < K; ++i) {
            g[i] = gPrev[i] * d[i];
            fold |= (g[i] < 1e-18f) | (g[i] > 1e18f);
          }
          for (int i = 0; i < K; ++i) kwt[i] = kt[i] / g[i], qwt[i] = qt[i] * g[i];
          return fold;
        };
        alignas(64) float g2s[K], kw[K], qw[K];
        const int fold = rowScales(gv, dvec, k, q, g2s, kw, qw);
        // Most tokens fold no row: then the sweep has no test per row, and
        // when the next token folds none either both go in one pass over the
        // state (half the state loads and stores per token).
        bool pair = false;
        alignas(64) float g3s[K], kw2[K], qw2[K];
        if constexpr (Vec)
          if (!fold && hasNext) {
            alignas(64) float dn[K];
            for (int i = 0; i < K; ++i) dn[i] = LogDecay ? fastExp(rn.decay[i]) : rn.decay[i];
            pair = !rowScales(g2s, dn, rn.k, rn.q, g3s, kw2, qw2);
          }
        if (pair) {
          if constexpr (Vec) {
            alignas(64) float v2[VB], o2[VB];
            for (int j = 0; j < VB; ++j) v2[j] = j < width ? rn.v[j0 + j] : 0.f;
            for (int i = 0; i < K; ++i) gv[i] = g3s[i];
            forRegisterGroups<NV, RB>([&](auto G, int v0) {
              vl vx[G], vx2[G], va[G] = {}, va2[G] = {};
              loadGroup<L>(vx, vv, v0);
              loadGroup<L>(vx2, v2, v0);
              for (int i = 0; i < K; ++i)
                sweepRow2V<L, G>(&st[i][L * v0], kw[i], qw[i], kw2[i], qw2[i], vx, vx2, va, va2);
              storeGroup<L>(oo, v0, va);
              storeGroup<L>(o2, v0, va2);
            });
            float *out2 = p.o + ((b * T + timeOf(step + 1)) * H + h) * oStride + j0;
            for (int j = 0; j < width; ++j) out2[j] = p.scale * o2[j];
            pairedPrev = true;
          }
        } else if (!fold) {
          for (int i = 0; i < K; ++i) gv[i] = g2s[i];
          if constexpr (Vec)
            forRegisterGroups<NV, RB>([&](auto G, int v0) {
              vl vx[G], va[G] = {};
              loadGroup<L>(vx, vv, v0);
              for (int i = 0; i < K; ++i) sweepRowV<L, G, false, true>(&st[i][L * v0], 1.f, kw[i], qw[i], vx, va);
              storeGroup<L>(oo, v0, va);
            });
          else
            for (int i = 0; i < K; ++i) sweepRow<VB, false, true>(st[i], 1.f, kw[i], qw[i], vv, acc[i % kLanes]);
        } else {
          // Rows that fold take S_i = g2 st_i + k_i v, the others the deferred
          // write: as a decay of 1 for those (a rare token; one sweep form).
          alignas(64) float dr[K], kr[K], qr[K];
          for (int i = 0; i < K; ++i) {
            const float g2 = g2s[i];
            const bool keep = g2 >= 1e-18f && g2 <= 1e18f;
            gv[i] = keep ? g2 : 1.f;
            dr[i] = keep ? 1.f : g2, kr[i] = keep ? kw[i] : k[i], qr[i] = keep ? qw[i] : q[i];
          }
          if constexpr (Vec)
            forRegisterGroups<NV, RB>([&](auto G, int v0) {
              vl vx[G], va[G] = {};
              loadGroup<L>(vx, vv, v0);
              for (int i = 0; i < K; ++i) sweepRowV<L, G, true, true>(&st[i][L * v0], dr[i], kr[i], qr[i], vx, va);
              storeGroup<L>(oo, v0, va);
            });
          else
            for (int i = 0; i < K; ++i) sweepRow<VB, true, true>(st[i], dr[i], kr[i], qr[i], vv, acc[i % kLanes]);
        }
      } else if (Deferred && gam * decayScalar >= 1e-18f) {
        gam *= decayScalar;
        const float inv = 1.f / gam;
        if constexpr (!Vec)
          for (int u = 0; u < kLanes; ++u)
            for (int j = 0; j < VB; ++j) acc[u][j] = 0.f;
        if constexpr (Vec)
          forRegisterGroups<NV, RB>([&](auto G, int v0) {
            vl vx[G], va[G] = {};
            loadGroup<L>(vx, vv, v0);
            for (int i = 0; i < K; ++i) sweepRowV<L, G, false, true>(&st[i][L * v0], 1.f, k[i] * inv, q[i], vx, va);
            storeGroup<L>(oo, v0, va);
          });
        else
          for (int i = 0; i < K; ++i) sweepRow<VB, false, true>(st[i], 1.f, k[i] * inv, q[i], vv, acc[i % kLanes]);
      } else {
        if constexpr (Deferred) { // fold the deferred scale into this token's decay
          decayScalar *= gam;
          gam = 1.f;
        }
        if constexpr (!Bonus && !Vec)
          for (int u = 0; u < kLanes; ++u)
            for (int j = 0; j < VB; ++j) acc[u][j] = 0.f;
        constexpr bool Decay = S != Structure::identity;
        if constexpr (Vec)
          forRegisterGroups<NV, RB>([&](auto G, int v0) {
            vl vx[G], va[G] = {};
            loadGroup<L>(vx, vv, v0);
            if constexpr (FusedBonus)
              for (int n = 0; n < G; ++n) va[n] = qu * vx[n];
            for (int i = 0; i < K; ++i) {
              const float d = S == Structure::vector ? dvec[i] : decayScalar;
              float *row = &st[i][L * v0];
              if constexpr (FusedBonus) // read out S_{t-1}, then update
                for (int n = 0; n < G; ++n) {
                  const vl old = loadV<L>(row + L * n);
                  va[n] += q[i] * old;
                  storeV<L>(row + L * n, (Decay ? d * old : old) + writeScale * k[i] * vx[n]);
                }
              else
                sweepRowV<L, G, Decay, !Bonus>(row, d, writeScale * k[i], q[i], vx, va);
            }
            storeGroup<L>(oo, v0, va);
          });
        else
          for (int i = 0; i < K; ++i) {
            const float d = S == Structure::vector ? dvec[i] : decayScalar, ki = writeScale * k[i];
            sweepRow<VB, Decay, !Bonus>(st[i], d, ki, q[i], vv, acc[i % kLanes]);
          }
      }
      // The vector sweeps wrote their read-out to oo group by group.
      if constexpr (Vec && !Bonus && S != Structure::dplr && S != Structure::elementwise) readOutDone = true;
      if (!Bonus && !readOutDone)
        for (int j = 0; j < VB; ++j) {
          float sum = 0.f;
          for (int u = 0; u < kLanes; ++u) sum += acc[u][j];
          oo[j] = sum;
        }
      float outScale = Deferred ? p.scale * gam : p.scale;
      if constexpr (Mlstm) {
        float den = 0.f;
        for (int i = 0; i < K; ++i) {
          nvec[i] = decayScalar * nvec[i] + writeScale * k[i];
          den += q[i] * nvec[i];
        }
        outScale /= std::max(std::fabs(den), fastExp(-m));
      }
      if constexpr (OnesColumn) {
        // n <- A_t n + k, the same transition as every state column.
        float den = 0.f;
        for (int i = 0; i < K; ++i) {
          float d = 1.f;
          if constexpr (S == Structure::scalar || S == Structure::const_scalar) d = decayScalar;
          if constexpr (S == Structure::vector || (S == Structure::dplr && Diag == DiagKind::vector)) d = dvec[i];
          if constexpr (S == Structure::dplr && Diag == DiagKind::scalar)
            d = LogDecay ? fastExp(r.decay[0]) : r.decay[0];
          float n = d * nvec[i] + k[i];
          if constexpr (S == Structure::dplr) n += r.a[i] * bn;
          nvec[i] = n;
          den += q[i] * n;
        }
        if (blk == 0) p.o[row * oStride + V] = p.scale * (Bonus ? denPrev + qu : den);
      }
      float *out = p.o + row * oStride + j0;
      for (int j = 0; j < width; ++j) out[j] = outScale * oo[j];
    }
    if (!last) return;
    for (int i = 0; i < K; ++i) {
      for (int j = 0; j < width; ++j)
        stateOut[((b * H + h) * K + i) * Vs + j0 + j] = (DeferredVec ? gv[i] : gam) * st[i][j];
      if (Side && blk == 0) stateOut[((b * H + h) * K + i) * Vs + V] = nvec[i];
    }
    if (HasDt && p.segDt)
      for (int j = 0; j < width; ++j) p.segDt[(seg * B * H + b * H + h) * Vs + j0 + j] = dtSum[j];
    if (Mlstm && blk == 0 && seg == lastSeg) p.m[b * H + h] = m;
  };
  runInterleaved<State>(B * H * blocks * segs, segLen, threads, runTask);
}

// The chunked scan of elementwise decays (mixers.md: "a chunked parallel scan
// over time"), for when the (batch, head, value block) tasks leave threads
// idle: the sequence splits into segments of whole chunks, about two per idle
// thread. Pass 1 scans every segment at once, each from a zero state (segment
// 0 from the initial state). Pass 2 walks the segments in order per state
// element: a segment's transition is elementwise, exp(rate * sum of dt), so
// S_end[s] = exp(G_s) . S_end[s-1] + S_local[s], and S_end[last] is the final
// state. Pass 3 scans segments 1.. again from their true entering states and
// writes their outputs (segment 0's are already right). Twice the sweep's
// work, spread over every thread; with tasks for half the threads or more it
// is the sweep itself.
template <Structure S, int K, int VIN, int VB, int L, int RB, DiagKind Diag, bool Bonus, bool Mlstm, bool HasDt,
          bool LogDecay, bool OnesColumn, typename RowFn>
void scanChunkedElementwise(const ScanArgs &p, int threads, int64_t chunk, RowFn rowOf) {
  static_assert(S == Structure::elementwise && !Bonus && !Mlstm && !OnesColumn, "the chunked scan is elementwise");
  static_assert(LogDecay, "the chunked scan sums log-decays over segments");
  auto sweep = [&](const ScanArgs &a) {
    scanRecurrent<S, K, VIN, VB, L, RB, Diag, Bonus, Mlstm, HasDt, LogDecay, OnesColumn>(a, threads, rowOf);
  };
  const int64_t B = p.B, T = p.T, H = p.H, Vs = p.Vs;
  const int64_t tasks = B * H * ((Vs + VB - 1) / VB), chunks = (T + chunk - 1) / chunk;
  // Twice the work over all threads beats the sweep over `tasks` of them only
  // when fewer than half the threads have a task.
  if (2 * tasks >= threads || chunks < 2) return sweep(p);
  const int64_t want = (2 * threads + tasks - 1) / tasks; // segments per task
  const int64_t segLen = chunk * ((chunks + want - 1) / want), nseg = (T + segLen - 1) / segLen;
  if (nseg < 2) return sweep(p);
  const int64_t n = B * H * K * Vs;
  std::vector<float> local(nseg * n), entering(nseg * n), dtSum(HasDt ? nseg * B * H * Vs : 0);
  ScanArgs a = p;
  a.segLen = segLen, a.segState = local.data(), a.segDt = HasDt ? dtSum.data() : nullptr;
  sweep(a);
  parallelFor(B * H * K, threads, [&](int64_t row) { // row (b, h, i) of the state
    const int64_t bh = row / K, h = bh % H, i = row % K;
    const float *rate = p.rate + (h * K + i) * Vs;
    std::vector<float> s(local.begin() + row * Vs, local.begin() + (row + 1) * Vs);
    for (int64_t seg = 1; seg < nseg; ++seg) {
      std::copy(s.begin(), s.end(), entering.begin() + seg * n + row * Vs);
      const float len = (float)(std::min(T, (seg + 1) * segLen) - seg * segLen);
      const float *sl = local.data() + seg * n + row * Vs;
      for (int64_t j = 0; j < Vs; ++j)
        s[j] = std::exp(rate[j] * (HasDt ? dtSum[(seg * B * H + bh) * Vs + j] : len)) * s[j] + sl[j];
    }
    std::copy(s.begin(), s.end(), p.state + row * Vs);
  });
  ScanArgs c = p;
  c.segLen = segLen, c.segFirst = 1, c.segInit = entering.data(), c.segState = local.data();
  sweep(c);
}

// Column tiles of the chunked forms' products: f(Int<LW>{}, Int<NV>{}, j0)
// for the columns [j0, j0 + NV * LW) of [0, n): tiles of NV vectors of LN
// lanes (R rows x NV accumulators fit the registers: mixer-tile's reg_block),
// then single vectors, then single columns.
template <int LN, int NV, typename F> inline void forColumnTiles(int n, F f) {
  int j0 = 0;
  for (; j0 + NV * LN <= n; j0 += NV * LN) f(Int<LN>{}, Int<NV>{}, j0);
  for (; j0 + LN <= n; j0 += LN) f(Int<LN>{}, Int<1>{}, j0);
  for (; j0 < n; ++j0) f(Int<1>{}, Int<1>{}, j0);
}

// The register tile every product of the chunked forms accumulates:
// a[r][0..g) += sum_{u < n} coef(r, u) * row(u)[0 .. g lw), R rows of g
// vectors, each row(u) loaded once for all R rows.
template <int R, int lw, int g, typename Coef, typename Row>
inline void accumulateTile(vec<lw> (&a)[R][g], int n, Coef coef, Row row) {
  for (int u = 0; u < n; ++u) {
    const float *bu = row(u);
    vec<lw> x[g];
    for (int v = 0; v < g; ++v) x[v] = loadV<lw>(bu + v * lw);
    for (int r = 0; r < R; ++r) {
      const float c = coef(r, u);
      for (int v = 0; v < g; ++v) a[r][v] += c * x[v];
    }
  }
}
template <int R, int lw, int g, int N> inline void storeTile(float (*acc)[N], int j0, const vec<lw> (&a)[R][g]) {
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < g; ++v) storeV<lw>(acc[r] + j0 + v * lw, a[r][v]);
}

// acc[r][0..n) = sum_k Q[i0 + r][k] * M[k][0..n) for the R rows from i0 (rows
// at or past L count as zero): per column tile, R rows accumulate together in
// registers, so each row of M is loaded once per R rows and R x NV
// independent FMA chains hide the FMA latency.
template <int R, int K, int N, int LN, int NV>
inline void blockRowsTimes(const float (*Q)[K], int i0, int L, const float (*M)[N], int n, float (*acc)[N]) {
  forColumnTiles<LN, NV>(n, [&](auto LW, auto G, int j0) {
    constexpr int lw = decltype(LW)::value, g = decltype(G)::value;
    vec<lw> a[R][g] = {};
    accumulateTile<R, lw, g>(
        a, K, [&](int r, int k) { return i0 + r < L ? Q[i0 + r][k] : 0.f; }, [&](int k) { return M[k] + j0; });
    storeTile<R, lw, g>(acc, j0, a);
  });
}

// acc[r] += sum_j A[i0 + r][j] V[j] over the chunk's columns j up to the R
// rows' diagonal (A is zero above it; rows at or past L take nothing).
template <int R, int C, int VB, int LN, int NV>
inline void addMaskedTimesV(const float (*A)[C], const float (*Vc)[VB], int i0, int L, float (*acc)[VB]) {
  const int jEnd = std::min(i0 + R, L);
  forColumnTiles<LN, NV>(VB, [&](auto LW, auto G, int j0) {
    constexpr int lw = decltype(LW)::value, g = decltype(G)::value;
    vec<lw> a[R][g];
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < g; ++v) a[r][v] = loadV<lw>(acc[r] + j0 + v * lw);
    accumulateTile<R, lw, g>(
        a, jEnd, [&](int r, int jj) { return i0 + r < L ? A[i0 + r][jj] : 0.f; }, [&](int jj) { return Vc[jj] + j0; });
    storeTile<R, lw, g>(acc, j0, a);
  });
}

// Writes the R output rows from chunk row i0 (those before L), scaled, into
// o at the tokens of chunk c0 (in scan order: reversed for a reverse scan).
template <int R, int VB>
inline void storeChunkRows(const ScanArgs &p, const float (*acc)[VB], int64_t c0, int i0, int L, int64_t b,
                           int64_t h, int64_t j0, int64_t width) {
  for (int r = 0; r < R && i0 + r < L; ++r) {
    const int64_t step = c0 + i0 + r, t = p.reverse ? p.T - 1 - step : step;
    float *out = p.o + ((b * p.T + t) * p.H + h) * p.Vs + j0;
    for (int j = 0; j < width; ++j) out[j] = p.scale * acc[r][j];
  }
}

// S <- Diag(d) S + W^T V over the chunk's L tokens (Wt = W^T, K x C), R rows
// of the state at a time (per column tile, in registers) so that each row of
// V is loaded once per R rows.
template <int R, int K, int C, int VB, int LN, int NV, typename RowDecay>
inline void chunkStateUpdate(float (*st)[VB], RowDecay d, const float (*Wt)[C], const float (*Vc)[VB], int L) {
  for (int k0 = 0; k0 < K; k0 += R) {
    float e[R];
    for (int r = 0; r < R; ++r) e[r] = k0 + r < K ? d(k0 + r) : 0.f;
    forColumnTiles<LN, NV>(VB, [&](auto LW, auto G, int j0) {
      constexpr int lw = decltype(LW)::value, g = decltype(G)::value;
      vec<lw> a[R][g];
      for (int r = 0; r < R; ++r)
        for (int v = 0; v < g; ++v) a[r][v] = k0 + r < K ? e[r] * loadV<lw>(st[k0 + r] + j0 + v * lw) : vec<lw>{};
      accumulateTile<R, lw, g>(
          a, L, [&](int r, int u) { return k0 + r < K ? Wt[k0 + r][u] : 0.f; }, [&](int u) { return Vc[u] + j0; });
      for (int r = 0; r < R && k0 + r < K; ++r)
        for (int v = 0; v < g; ++v) storeV<lw>(st[k0 + r] + j0 + v * lw, a[r][v]);
    });
  }
}

// The chunked schedule for identity and scalar decays (the SSD form of
// mixers.md): per chunk of C tokens, with b the cumulative log-decay,
//   O = ((Q K^T) . M . exp(b_i - b_j)) V + Diag(exp(b)) Q S,
//   S <- exp(b_C) S + (Diag(exp(b_C - b)) K)^T V.
// Differences of cumulative sums keep every exponent <= 0. The products are
// ordered so that a row of the state (or of the output) stays in registers
// while the other operand streams from L1.
template <Structure S, int K, int VIN, int VB, int LN, int NV, int C, bool LogDecay, typename RowFn>
void scanChunkedSSD(const ScanArgs &p, int threads, RowFn rowOf) {
  static_assert(S == Structure::identity || S == Structure::const_scalar || S == Structure::scalar,
                "the SSD form covers identity and scalar decays");
  const int64_t B = p.B, T = p.T, H = p.H, V = p.Vs;
  const int64_t blocks = (V + VB - 1) / VB;
  parallelFor(B * H * blocks, threads, [&](int64_t task) {
    const int64_t blk = task % blocks, bh = task / blocks, b = bh / H, h = bh % H;
    const int64_t j0 = blk * VB, width = std::min<int64_t>(VB, V - j0);
    // The state block, Q and Kt grow with K (Based's feature map gives K in
    // the thousands): they live on the heap, the C x C and C x VB tiles on the
    // stack. Kt is K transposed, so that Q K^T accumulates rows of A (a float
    // sum is not reassociated, so a dot product along K would not vectorize).
    std::vector<float> heap((size_t)K * VB + (size_t)C * K + (size_t)K * C);
    auto *st = reinterpret_cast<float(*)[VB]>(heap.data());
    auto *Q = reinterpret_cast<float(*)[K]>(heap.data() + (size_t)K * VB);
    auto *Kt = reinterpret_cast<float(*)[C]>(heap.data() + (size_t)K * VB + (size_t)C * K);
    alignas(64) float Vc[C][VB], A[C][C];
    float cum[C], g[C];
    for (int i = 0; i < K; ++i) {
      for (int j = 0; j < VB; ++j)
        st[i][j] = (p.init && j < width) ? p.init[((b * H + h) * K + i) * p.Vs + j0 + j] : 0.f;
      for (int u = 0; u < C; ++u) Kt[i][u] = 0.f; // columns past a short last chunk are computed, never read
    }
    TokenRow<K, VIN> r;
    for (int64_t c0 = 0; c0 < T; c0 += C) {
      const int L = (int)std::min<int64_t>(C, T - c0);
      for (int u = 0; u < L; ++u) {
        const int64_t step = c0 + u, t = p.reverse ? T - 1 - step : step;
        rowOf(b, t, h, r);
        for (int i = 0; i < K; ++i) Q[u][i] = r.q[i], Kt[i][u] = r.k[i];
        for (int j = 0; j < VB; ++j) Vc[u][j] = j < width ? r.v[j0 + j] : 0.f;
        g[u] = S == Structure::identity ? 0.f : LogDecay ? r.decay[0] : safeLog(r.decay[0]);
      }
      float acc = 0.f;
      for (int u = 0; u < L; ++u) cum[u] = acc += g[u];
      const float bL = cum[L - 1];
      // The three products below are register-blocked over R rows (see
      // blockRowsTimes).
      constexpr int R = 4;
      // A = (Q K^T) . M . exp(b_i - b_j), masked to j <= i: only the columns up
      // to the block's diagonal (rounded up to 16) are computed.
      for (int i0 = 0; i0 < L; i0 += R) {
        const int jMax = std::min(C, (i0 + R + 15) / 16 * 16);
        alignas(64) float acc[R][C];
        blockRowsTimes<R, K, C, LN, NV>(Q, i0, L, Kt, jMax, acc);
        for (int r2 = 0; r2 < R && i0 + r2 < L; ++r2) {
          const int i = i0 + r2;
          for (int j = 0; j < jMax; ++j) {
            float e = S == Structure::identity ? 1.f : fastExp(std::min(cum[i] - cum[std::min(j, L - 1)], 0.f));
            A[i][j] = j <= i ? acc[r2][j] * e : 0.f;
          }
        }
      }
      // O = Diag(exp(b)) Q S + A V, R rows at a time.
      for (int i0 = 0; i0 < L; i0 += R) {
        alignas(64) float acc[R][VB];
        blockRowsTimes<R, K, VB, LN, NV>(Q, i0, L, st, VB, acc);
        for (int r2 = 0; r2 < R; ++r2) {
          const float e = S == Structure::identity || i0 + r2 >= L ? 1.f : fastExp(cum[i0 + r2]);
          for (int j = 0; j < VB; ++j) acc[r2][j] *= e;
        }
        addMaskedTimesV<R, C, VB, LN, NV>(A, Vc, i0, L, acc);
        storeChunkRows<R, VB>(p, acc, c0, i0, L, b, h, j0, width);
      }
      // S <- exp(b_L) S + (Diag(exp(b_L - b)) K)^T V: the key columns scaled in
      // place (the chunk's A is done with them).
      if (S != Structure::identity)
        for (int u = 0; u < L; ++u) {
          const float gu = fastExp(bL - cum[u]);
          for (int i = 0; i < K; ++i) Kt[i][u] *= gu;
        }
      const float eL = S == Structure::identity ? 1.f : fastExp(bL);
      chunkStateUpdate<R, K, C, VB, LN, NV>(st, [&](int) { return eL; }, Kt, Vc, L);
    }
    for (int i = 0; i < K; ++i)
      for (int j = 0; j < width; ++j) p.state[((b * H + h) * K + i) * p.Vs + j0 + j] = st[i][j];
  });
}

// The chunked schedule for vector decays (the GLA form of mixers.md): per
// chunk of C tokens, with B[u][i] the cumulative log-decay of key i up to
// token u,
//   O = A V + (Q . exp(B)) S,  A[u][j] = sum_i Q[u][i] K[j][i] exp(B[u][i] - B[j][i]) (j <= u),
//   S <- Diag(exp(B[L-1])) S + (K . exp(B[L-1] - B))^T V.
// Factoring A as (Q . exp(B)) (K . exp(-B))^T would overflow, so A is built
// by sub-blocks of 16 rows: against the earlier rows through the reference
// point r = B[r0 - 1] of the sub-block (Q . exp(B - r) and K . exp(r - B):
// both exponents <= 0), and within the sub-block element by element in log
// space. Every exponent is <= 0.
template <Structure S, int K, int VIN, int VB, int LN, int NV, int C, bool LogDecay, typename RowFn>
void scanChunkedGLA(const ScanArgs &p, int threads, RowFn rowOf) {
  static_assert(S == Structure::vector, "the GLA form covers vector decays");
  static_assert(C % 16 == 0, "sub-blocks of 16");
  constexpr int SB = 16;
  const int64_t B = p.B, T = p.T, H = p.H, V = p.Vs;
  const int64_t blocks = (V + VB - 1) / VB;
  parallelFor(B * H * blocks, threads, [&](int64_t task) {
    const int64_t blk = task % blocks, bh = task / blocks, b = bh / H, h = bh % H;
    const int64_t j0 = blk * VB, width = std::min<int64_t>(VB, V - j0);
    // Rows of q, k and the cumulative log-decays; Qe = Q . exp(B - ref) (per
    // sub-block) or Q . exp(B); Kt = the keys transposed and scaled.
    std::vector<float> heap((size_t)K * VB + 4 * (size_t)C * K + (size_t)K * C);
    auto *st = reinterpret_cast<float(*)[VB]>(heap.data());
    auto *Qr = reinterpret_cast<float(*)[K]>(heap.data() + (size_t)K * VB);
    auto *Kr = Qr + C, *Bc = Kr + C, *Qe = Bc + C;
    auto *Kt = reinterpret_cast<float(*)[C]>(heap.data() + (size_t)K * VB + 4 * (size_t)C * K);
    alignas(64) float Vc[C][VB], A[C][C];
    for (int i = 0; i < K; ++i) {
      for (int j = 0; j < VB; ++j)
        st[i][j] = (p.init && j < width) ? p.init[((b * H + h) * K + i) * p.Vs + j0 + j] : 0.f;
      for (int u = 0; u < C; ++u) Kt[i][u] = 0.f;
    }
    TokenRow<K, VIN> r;
    constexpr int R = 4;
    alignas(64) float tmp[K];
    // Column j of Kt = row j of K . exp(ref - B[j]) (elementwise in a row
    // buffer, so that the exponentials vectorize).
    auto scaledKeyColumn = [&](int j, const float *ref) {
      for (int i = 0; i < K; ++i) tmp[i] = Kr[j][i] * fastExp(ref[i] - Bc[j][i]);
      for (int i = 0; i < K; ++i) Kt[i][j] = tmp[i];
    };
    for (int64_t c0 = 0; c0 < T; c0 += C) {
      const int L = (int)std::min<int64_t>(C, T - c0);
      for (int u = 0; u < L; ++u) {
        const int64_t step = c0 + u, t = p.reverse ? T - 1 - step : step;
        rowOf(b, t, h, r);
        for (int i = 0; i < K; ++i) {
          const float g = LogDecay ? r.decay[i] : safeLog(r.decay[i]);
          Qr[u][i] = r.q[i], Kr[u][i] = r.k[i], Bc[u][i] = (u ? Bc[u - 1][i] : 0.f) + g;
        }
        for (int j = 0; j < VB; ++j) Vc[u][j] = j < width ? r.v[j0 + j] : 0.f;
      }
      // A, one sub-block of rows at a time.
      for (int r0 = 0; r0 < L; r0 += SB) {
        const int r1 = std::min(L, r0 + SB);
        for (int u = r0; u < r1; ++u) std::fill_n(A[u], C, 0.f);
        if (r0 > 0) { // the earlier rows, through the reference point B[r0 - 1]
          const float *ref = Bc[r0 - 1];
          for (int j = 0; j < r0; ++j) scaledKeyColumn(j, ref);
          for (int u = r0; u < r1; ++u)
            for (int i = 0; i < K; ++i) Qe[u][i] = Qr[u][i] * fastExp(Bc[u][i] - ref[i]);
          for (int i0 = r0; i0 < r1; i0 += R) {
            alignas(64) float acc[R][C];
            blockRowsTimes<R, K, C, LN, NV>(Qe, i0, r1, Kt, (r0 + 15) / 16 * 16, acc);
            for (int r2 = 0; r2 < R && i0 + r2 < r1; ++r2)
              for (int j = 0; j < r0; ++j) A[i0 + r2][j] = acc[r2][j];
          }
        }
        for (int u = r0; u < r1; ++u) // within the sub-block: log space, element by element
          for (int j = r0; j <= u; ++j) {
            for (int i = 0; i < K; ++i) tmp[i] = Qr[u][i] * Kr[j][i] * fastExp(Bc[u][i] - Bc[j][i]);
            // The sum in vector lanes (a float sum is not reassociated, so
            // the loop above keeps the exponentials vectorized and this adds).
            vec<kBuildLanes> accv{};
            int i = 0;
            for (; i + kBuildLanes <= K; i += kBuildLanes) accv += loadV(tmp + i);
            float sum = 0.f;
            for (int l = 0; l < kBuildLanes; ++l) sum += accv[l];
            for (; i < K; ++i) sum += tmp[i];
            A[u][j] = sum;
          }
      }
      // O = (Q . exp(B)) S + A V, R rows at a time.
      for (int u = 0; u < L; ++u)
        for (int i = 0; i < K; ++i) Qe[u][i] = Qr[u][i] * fastExp(Bc[u][i]);
      for (int i0 = 0; i0 < L; i0 += R) {
        alignas(64) float acc[R][VB];
        blockRowsTimes<R, K, VB, LN, NV>(Qe, i0, L, st, VB, acc);
        addMaskedTimesV<R, C, VB, LN, NV>(A, Vc, i0, L, acc);
        storeChunkRows<R, VB>(p, acc, c0, i0, L, b, h, j0, width);
      }
      // S <- Diag(exp(B[L-1])) S + (K . exp(B[L-1] - B))^T V.
      const float *bL = Bc[L - 1];
      for (int u = 0; u < L; ++u) scaledKeyColumn(u, bL);
      chunkStateUpdate<R, K, C, VB, LN, NV>(st, [&](int k) { return fastExp(bL[k]); }, Kt, Vc, L);
    }
    for (int i = 0; i < K; ++i)
      for (int j = 0; j < width; ++j) p.state[((b * H + h) * K + i) * p.Vs + j0 + j] = st[i][j];
  });
}

// The baseline the benchmarks compare against: the textbook recurrence, one
// (batch, head) per task, the whole K x Vs state updated and read token by
// token, sizes known only at run time; compiled with the same -O3 -march=native.
template <int KC, int VIN, typename RowFn>
void scanPlain(const ScanArgs &p, Structure S, DiagKind diag, bool bonus, bool mlstm, bool hasDt, bool logDecay,
               int threads, RowFn rowOf) {
  int64_t K = KC, Vs = p.Vs;
  // The baseline must not specialize on the sizes: hide them from the optimizer.
  asm volatile("" : "+r"(K), "+r"(Vs));
  const int64_t B = p.B, T = p.T, H = p.H, V = mlstm ? Vs - 1 : Vs;
  parallelFor(B * H, threads, [&](int64_t bh) {
    const int64_t b = bh / H, h = bh % H;
    std::vector<float> st(K * Vs, 0.f), w(Vs), vv(Vs);
    if (p.init) std::copy_n(p.init + bh * K * Vs, K * Vs, st.data());
    float m = mlstm && p.initM ? p.initM[bh] : 0.f;
    for (int64_t step = 0; step < T; ++step) {
      const int64_t t = p.reverse ? T - 1 - step : step, row = (b * T + t) * H + h;
      TokenRow<KC, VIN> r;
      rowOf(b, t, h, r);
      const float *q = r.q, *k = r.k;
      for (int64_t j = 0; j < V; ++j) vv[j] = r.v[j];
      if (mlstm) vv[V] = 1.f;
      float *o = p.o + row * V;
      if (bonus) {
        float qu = 0.f;
        for (int64_t i = 0; i < K; ++i) qu += q[i] * p.bonus[h * K + i] * k[i];
        for (int64_t j = 0; j < V; ++j) o[j] = qu * vv[j];
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < V; ++j) o[j] += q[i] * st[i * Vs + j];
        for (int64_t j = 0; j < V; ++j) o[j] *= p.scale;
      }
      float ws = 1.f;
      switch (S) {
      case Structure::identity: break;
      case Structure::const_scalar:
      case Structure::scalar: {
        float g = r.decay[0], f;
        if (mlstm) {
          float ig = r.igate, mNew = std::max(g + m, ig);
          f = std::exp(g + m - mNew);
          ws = std::exp(ig - mNew);
          m = mNew;
        } else {
          f = logDecay ? std::exp(g) : g;
        }
        for (float &x : st) x *= f;
        break;
      }
      case Structure::vector:
        for (int64_t i = 0; i < K; ++i) {
          float f = logDecay ? std::exp(r.decay[i]) : r.decay[i];
          for (int64_t j = 0; j < Vs; ++j) st[i * Vs + j] *= f;
        }
        break;
      case Structure::elementwise:
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < Vs; ++j)
            st[i * Vs + j] *= logDecay ? std::exp(p.rate[(h * K + i) * Vs + j] * (hasDt ? r.dt[j] : 1.f)) : r.dt[j];
        break;
      case Structure::dplr:
        std::fill(w.begin(), w.end(), 0.f);
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < Vs; ++j) w[j] += r.b[i] * st[i * Vs + j];
        for (int64_t i = 0; i < K; ++i) {
          float g = diag == DiagKind::scalar ? r.decay[0] : r.decay[i];
          float d = diag == DiagKind::none ? 1.f : logDecay ? std::exp(g) : g;
          for (int64_t j = 0; j < Vs; ++j) st[i * Vs + j] = d * st[i * Vs + j] + r.a[i] * w[j];
        }
        break;
      }
      for (int64_t i = 0; i < K; ++i)
        for (int64_t j = 0; j < Vs; ++j) st[i * Vs + j] += ws * k[i] * vv[j];
      if (!bonus) {
        float div = 1.f;
        if (mlstm) {
          float den = 0.f;
          for (int64_t i = 0; i < K; ++i) den += q[i] * st[i * Vs + V];
          div = std::max(std::fabs(den), std::exp(-m));
        }
        for (int64_t j = 0; j < V; ++j) o[j] = 0.f;
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < V; ++j) o[j] += q[i] * st[i * Vs + j];
        for (int64_t j = 0; j < V; ++j) o[j] *= p.scale / div;
      }
    }
    std::copy_n(st.data(), K * Vs, p.state + bh * K * Vs);
    if (mlstm) p.m[bh] = m;
  });
}

} // namespace mixc::cpu

#endif
