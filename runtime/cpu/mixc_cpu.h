// The CPU tile library that generated kernels call: tensors in and out,
// pre-processing on per-token buffers, and the state scan. What differs
// between families is generated; what is the same for all lives here once.
// This header: element types, threads, buffers, pre-processing and the scan's
// operands; mixc_cpu_vector.h (vectors, register groups, exp/log), and one
// header per schedule: mixc_cpu_recurrent.h, mixc_cpu_chunked.h (SSD, GLA),
// mixc_cpu_chunked_ut.h (the delta rules' UT form), and the benchmarks'
// baseline mixc_cpu_plain.h.
#ifndef MIXC_CPU_H
#define MIXC_CPU_H

#include "mixc_check.h"
#include "mixc_enums.h"
#include "mixc_tensor.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <type_traits>
#include <unistd.h>
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

// Worker threads kept for the life of the process: a decoding step spent
// more time spawning threads than scanning (bench/results/cpu-decode.md). One
// job at a time: a call that finds the pool busy (another thread's kernel),
// that runs inside a pool job, or that runs in a forked child, gets false and
// spawns threads of its own.
class ThreadPool {
public:
  static ThreadPool &instance() {
    static ThreadPool pool;
    return pool;
  }
  // body(w) for w in [0, n): w = 0 on the calling thread, the others on the
  // pool's threads; returns when all are done.
  template <typename F> bool run(int n, F &body) {
    std::unique_lock<std::mutex> busy(jobMutex, std::try_to_lock);
    if (!busy.owns_lock() || inJob() || owner != getpid()) return false;
    {
      std::lock_guard<std::mutex> lock(m);
      while ((int)workers->size() < n - 1) {
        const int id = (int)workers->size() + 1;
        workers->emplace_back([this, id] { loop(id); });
      }
      fn = [](void *ctx, int w) { (*(F *)ctx)(w); };
      ctx = &body;
      wanted = n - 1, pending = n - 1;
      ++generation;
    }
    wake.notify_all();
    body(0);
    std::unique_lock<std::mutex> lock(m);
    done.wait(lock, [&] { return pending == 0; });
    return true;
  }
  ~ThreadPool() {
    if (owner != getpid()) return; // a forked child has none of these threads: leave them be
    {
      std::lock_guard<std::mutex> lock(m);
      stop = true;
    }
    wake.notify_all();
    for (auto &t : *workers) t.join();
    delete workers;
  }

private:
  static bool &inJob() {
    thread_local bool b = false;
    return b;
  }
  void loop(int id) {
    inJob() = true;
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(m);
    for (;;) {
      wake.wait(lock, [&] { return stop || generation != seen; });
      if (stop) return;
      seen = generation;
      if (id > wanted) continue; // a smaller job: this thread sits it out
      void (*f)(void *, int) = fn;
      void *c = ctx;
      lock.unlock();
      f(c, id);
      lock.lock();
      if (--pending == 0) done.notify_one();
    }
  }
  std::mutex jobMutex, m;
  std::condition_variable wake, done;
  std::vector<std::thread> *workers = new std::vector<std::thread>();
  void (*fn)(void *, int) = nullptr;
  void *ctx = nullptr;
  int wanted = 0, pending = 0;
  uint64_t generation = 0;
  bool stop = false;
  const pid_t owner = getpid();
};

template <typename F> void parallelFor(int64_t n, int threads, F f) {
  threads = (int)std::max<int64_t>(1, std::min<int64_t>(threads, n));
  if (threads == 1) {
    FlushDenormals ftz;
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
  std::atomic<int64_t> next{0};
  auto work = [&](int) {
    FlushDenormals ftz;
    for (int64_t i; (i = next.fetch_add(1)) < n;) f(i);
  };
  if (ThreadPool::instance().run(threads, work)) return;
  std::vector<std::thread> pool;
  for (int w = 0; w < threads; ++w) pool.emplace_back([&work, w] { work(w); });
  for (auto &t : pool) t.join();
}

// The threads worth waking for `work` state-element updates: handing a job
// to the pool's threads and joining them costs tens of microseconds, the
// time of about 2^18 updates; a decoding step of a few heads (16 K updates at
// 4 x 64 x 64) ran 2.5x slower on two threads than on one.
inline int threadsForWork(int threads, int64_t work) {
  constexpr int64_t kMinWorkPerThread = int64_t(1) << 18;
  return (int)std::max<int64_t>(1, std::min<int64_t>(threads, work / kMinWorkPerThread));
}

// Runs f(begin, end) over [0, n) in pieces of about `grain`, in parallel.
template <typename F> void parallelRange(int64_t n, int64_t grain, F f) {
  int64_t pieces = std::max<int64_t>(1, n / std::max<int64_t>(grain, 1));
  int threads = pieces == 1 ? 1 : kernelThreads();
  parallelFor(pieces, threads, [&](int64_t p) { f(p * n / pieces, (p + 1) * n / pieces); });
}

} // namespace mixc::cpu

#include "mixc_cpu_vector.h"

namespace mixc::cpu {

// ---- buffers -----------------------------------------------------------------
// A contiguous float array with a left-aligned broadcasting shape.
// An allocator whose resize() leaves floats uninitialized (scan outputs are
// written in full: zeroing them first cost a pass over memory per call).
//
// Large arrays are recycled through BufferPool: a backward allocates a dozen
// whole-tensor temporaries per call, and fresh ones came from the kernel as
// zeroed pages (page faults and clearing were 30% of GLA's backward).
class BufferPool {
public:
  static constexpr size_t kMinBytes = 1 << 20;   // smaller ones go straight to operator new
  static constexpr size_t kMaxCached = 512u << 20; // bytes held while unused, at most
  static BufferPool &get() {
    static BufferPool pool;
    return pool;
  }
  void *take(size_t bytes) {
    if (bytes >= kMinBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      for (size_t i = 0; i < free_.size(); ++i)
        if (free_[i].bytes == bytes) {
          void *p = free_[i].ptr;
          cached_ -= bytes;
          free_[i] = free_.back();
          free_.pop_back();
          return p;
        }
    }
    return ::operator new(bytes);
  }
  void give(void *p, size_t bytes) {
    if (bytes >= kMinBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cached_ + bytes <= kMaxCached) {
        free_.push_back({p, bytes});
        cached_ += bytes;
        return;
      }
    }
    ::operator delete(p);
  }
  ~BufferPool() {
    for (auto &b : free_) ::operator delete(b.ptr);
  }

private:
  struct Block {
    void *ptr;
    size_t bytes;
  };
  std::mutex mutex_;
  std::vector<Block> free_;
  size_t cached_ = 0;
};
template <typename T> struct UninitAlloc : std::allocator<T> {
  template <typename U> struct rebind { using other = UninitAlloc<U>; };
  UninitAlloc() = default;
  template <typename U> UninitAlloc(const UninitAlloc<U> &) {}
  T *allocate(size_t n) { return static_cast<T *>(BufferPool::get().take(n * sizeof(T))); }
  void deallocate(T *p, size_t n) { BufferPool::get().give(p, n * sizeof(T)); }
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
  int64_t size() const {
    if (!ext) return (int64_t)data.size();
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  float *ptr() { return ext ? ext : data.data(); }
  const float *ptr() const { return ext ? ext : data.data(); }
  float *ext = nullptr; // set by outputBuffer (the caller's tensor, written in place) and view (read only)
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
Buffer load(const mixc_tensor &t, std::vector<int64_t> shape);

// Whether `t` is contiguous f32 of exactly `shape`: then it is used where it
// lies, without a copy.
bool isDirectF32(const mixc_tensor &t, const std::vector<int64_t> &shape);

Buffer external(const mixc_tensor &t, std::vector<int64_t> shape);

// An input read where it lies when it is contiguous f32 of `shape` (the
// initial state: a decoding step would otherwise copy the whole state, twice
// its own traffic), else loaded.
Buffer view(const mixc_tensor &t, std::vector<int64_t> shape);

// A scan result that the kernel returns as it is: written straight into the
// caller's tensor when that is contiguous f32 of the same shape (no copy and
// no fresh pages to fault in), else into a buffer that store() copies out.
Buffer outputBuffer(const mixc_tensor &t, std::vector<int64_t> shape);

void store(const Buffer &buf, mixc_tensor &t);

// ---- pre-processing ---------------------------------------------------------
// log(1 + e) for e in [0, 1] (softplus and logsigmoid take e = exp(-|x|)):
// e p(e), p a degree-8 least-squares fit of log1p(e) / e on Chebyshev nodes
// (relative error below 2e-7 in float). No division (the atanh series needed
// one: a sixth of GLA's AVX2 kernel went to logsigmoid) and no rounding of
// 1 + e: logsigmoid of a large x keeps its tiny value.
inline float log1pUnit(float e) {
  float p = 5.105825799e-03f;
  p = p * e - 2.899195639e-02f;
  p = p * e + 7.738073838e-02f;
  p = p * e - 1.359060024e-01f;
  p = p * e + 1.907130958e-01f;
  p = p * e - 2.483394546e-01f;
  p = p * e + 3.331793432e-01f;
  p = p * e - 4.999943569e-01f;
  p = p * e + 9.999999652e-01f;
  return e * p;
}
inline float softplus(float x) { return std::max(x, 0.f) + log1pUnit(fastExp(-std::fabs(x))); }
inline float logsigmoid(float x) { return std::min(x, 0.f) - log1pUnit(fastExp(-std::fabs(x))); }
// Spellings shared with the CUDA library, so that generated row code is the same text for both.
inline float mxAbs(float x) { return std::fabs(x); }
inline float mxSqrt(float x) { return std::sqrt(x); }
inline float mxTanh(float x) { return std::tanh(x); }
inline float mxMax(float a, float b) { return std::max(a, b); }
inline float mxMin(float a, float b) { return std::min(a, b); }
inline float mxPow(float a, float b) { return std::pow(a, b); }
// Whole vectors, inline: std::copy_n of a row was a call to memmove per row
// (a twentieth of Hedgehog's token, five rows a token).
inline void copyRow(const float *x, int64_t n, float *o) {
  int64_t i = 0;
  for (; i + kBuildLanes <= n; i += kBuildLanes) storeV(o + i, loadV(x + i));
  for (; i < n; ++i) o[i] = x[i];
}
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

// Left-aligned broadcasting of two operands, as mixer.binary: the result's
// shape s, and per row of its last dimension the operands' offsets; ia, ib
// are their inner strides (0: broadcast along the row, 1: contiguous).
struct Broadcast2 {
  std::vector<int64_t> s, sa, sb;
  int64_t inner = 1, ia = 0, ib = 0, rows = 0;
  Broadcast2(const std::vector<int64_t> &a, const std::vector<int64_t> &b) {
    const size_t rank = std::max(a.size(), b.size());
    s.assign(rank, 1), sa.assign(rank, 0), sb.assign(rank, 0);
    int64_t ma = 1, mb = 1;
    for (int64_t i = (int64_t)rank - 1; i >= 0; --i) {
      int64_t da = i < (int64_t)a.size() ? a[i] : 1, db = i < (int64_t)b.size() ? b[i] : 1;
      s[i] = da == 1 ? db : da;
      if (i < (int64_t)a.size()) { sa[i] = da == 1 ? 0 : ma; ma *= da; }
      if (i < (int64_t)b.size()) { sb[i] = db == 1 ? 0 : mb; mb *= db; }
    }
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    inner = rank ? s.back() : 1, ia = rank ? sa.back() : 0, ib = rank ? sb.back() : 0;
    rows = n / std::max<int64_t>(inner, 1);
  }
  void offsets(int64_t r, int64_t &oa, int64_t &ob) const {
    oa = 0, ob = 0;
    for (int64_t d = (int64_t)s.size() - 2; d >= 0; --d) {
      const int64_t i = r % s[d];
      r /= s[d];
      oa += i * sa[d], ob += i * sb[d];
    }
  }
};

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
  // Rows of the last dimension: offsets per row, then a strided inner loop.
  const Broadcast2 bc(a.shape, b.shape);
  Buffer out(bc.s);
  const int64_t inner = bc.inner, ia = bc.ia, ib = bc.ib;
  parallelRange(bc.rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t oa, ob;
      bc.offsets(r, oa, ob);
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
    for (int64_t r = r0; r < r1; ++r) f(in.ptr() + r * D, D, &out.data[r * outWidth]);
  });
  return out;
}

// Row forms of the feature maps, for pre-processing fused into the scan.
// Sums over a row (of x[i] * y[i], or of x[i]) in 16 lanes of partial sums
// folded by a fixed tree: the host compiler vectorizes it without
// reassociating (a plain `s += ...` stays one serial chain of scalar adds
// under strict floating point: a 64-wide row about 250 cycles, more than the
// delta rules' l2norm rows' share of their token). The order is the same on
// every ISA and every run. Rows under 16 are summed in order.
template <bool Product> inline float laneSum(const float *x, const float *y, int64_t n) {
  constexpr int L = 16;
  if (n < L) {
    float s = 0.f;
    for (int64_t j = 0; j < n; ++j) s += Product ? x[j] * y[j] : x[j];
    return s;
  }
  alignas(64) float acc[L] = {};
  int64_t j = 0;
  for (; j + L <= n; j += L)
    for (int l = 0; l < L; ++l) acc[l] += Product ? x[j + l] * y[j + l] : x[j + l];
  for (int l = 0; j + l < n; ++l) acc[l] += Product ? x[j + l] * y[j + l] : x[j + l];
  for (int w = L / 2; w > 0; w /= 2)
    for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
  return acc[0];
}
inline float rowDot(const float *x, const float *y, int64_t n) { return laneSum<true>(x, y, n); }
inline float rowSum(const float *x, int64_t n) { return laneSum<false>(x, nullptr, n); }
inline float rowMax(const float *x, int64_t n) { // n >= 1
  constexpr int L = kBuildLanes;
  int64_t i = 1;
  float m = x[0];
  if (n >= L) {
    vec<L> acc = loadV<L>(x);
    for (i = L; i + L <= n; i += L) {
      const vec<L> v = loadV<L>(x + i);
      acc = v > acc ? v : acc;
    }
    for (int l = 0; l < L; ++l) m = std::max(m, acc[l]);
  }
  for (; i < n; ++i) m = std::max(m, x[i]);
  return m;
}
inline void l2normRow(const float *x, int64_t D, float *o) {
  const float inv = 1.f / std::sqrt(rowDot(x, x, D) + 1e-12f);
  for (int64_t i = 0; i < D; ++i) o[i] = x[i] * inv;
}
// The softmax over a row, shifted by its maximum (exp never overflows).
inline void softmaxRow(const float *x, int64_t D, float *o) {
  const float m = rowMax(x, D);
  for (int64_t i = 0; i < D; ++i) o[i] = fastExp(x[i] - m);
  const float inv = 1.f / rowSum(o, D);
  for (int64_t i = 0; i < D; ++i) o[i] *= inv;
}
// x^T W for a row x [D] and a head's matrix W [D, F] (row-major): a row of F.
// Columns in blocks of 8 vectors whose sums stay in registers over the whole
// row of x (the plain loop loaded and stored o at every d: three memory
// operations per FMA, and Hedgehog's feature maps were most of its token);
// 8 independent chains cover the FMA's latency. Each column still sums its
// terms in the order of d.
inline void vecmatRow(const float *x, int64_t D, int64_t F, const float *__restrict W, float *__restrict o) {
  constexpr int L = kBuildLanes, R = 8;
  int64_t f0 = 0;
  for (; f0 + R * L <= F; f0 += R * L) {
    vec<L> acc[R] = {};
    for (int64_t d = 0; d < D; ++d) {
      const float xd = x[d];
      for (int r = 0; r < R; ++r) acc[r] += xd * loadV<L>(W + d * F + f0 + r * L);
    }
    for (int r = 0; r < R; ++r) storeV<L>(o + f0 + r * L, acc[r]);
  }
  for (int64_t f = f0; f < F; ++f) o[f] = 0.f;
  for (int64_t d = 0; f0 < F && d < D; ++d) {
    const float xd = x[d];
    for (int64_t f = f0; f < F; ++f) o[f] += xd * W[d * F + f];
  }
}
inline void taylor2Row(const float *x, int64_t D, float *o) {
  o[0] = 1;
  for (int64_t i = 0; i < D; ++i) o[1 + i] = x[i];
  for (int64_t i = 0; i < D; ++i)
    for (int64_t j = 0; j < D; ++j) o[1 + D + i * D + j] = x[i] * x[j] * 0.70710678118654752f;
}

// Forward scans read the rows of a head a token apart (H rows): fetch the row
// 4 tokens ahead of (b, tt, h) now, so that the sweeps do not wait on memory.
inline void prefetchRowAhead(const mixc_tensor &t, int64_t off, int64_t tt, int64_t D) {
  if (tt + 4 < t.shape[1] && (t.ndim <= 3 || t.strides[3] == 1)) {
    const char *ahead = (const char *)t.data + (off + 4 * t.strides[1]) * (t.dtype == MIXC_F32 ? 4 : 2);
    for (int64_t byte = 0; byte < D * (t.dtype == MIXC_F32 ? 4 : 2); byte += 64) __builtin_prefetch(ahead + byte);
  }
}

// Reads row (b, t, h) of a per-token input ([B, T, H, D], or [B, T, H] with D = 1).
inline void readRow(const mixc_tensor &t, int64_t b, int64_t tt, int64_t h, float *o, int64_t D) {
  int64_t off = b * t.strides[0] + tt * t.strides[1] + h * t.strides[2];
  int64_t is = t.ndim > 3 ? t.strides[3] : 1;
  prefetchRowAhead(t, off, tt, D);
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

// Row (b, t, h) of a per-token input for reading only: the tensor's own
// memory when it is fp32 and contiguous along D (no copy), else read into tmp.
inline const float *rowView(const mixc_tensor &t, int64_t b, int64_t tt, int64_t h, float *tmp, int64_t D) {
  if (t.dtype == MIXC_F32 && (t.ndim <= 3 || t.strides[3] == 1)) {
    int64_t off = b * t.strides[0] + tt * t.strides[1] + h * t.strides[2];
    prefetchRowAhead(t, off, tt, D);
    return (const float *)t.data + off;
  }
  readRow(t, b, tt, h, tmp, D);
  return tmp;
}

Buffer softmax(const Buffer &in);

Buffer l2norm(const Buffer &in);
Buffer taylor2(const Buffer &in);
Buffer ones(const Buffer &in);
Buffer appendOne(const Buffer &in);
// Reduces the feature (last) dimension, which goes: out[r] = sum_i term(r D + i).
template <typename F> inline Buffer reduceLast(const std::vector<int64_t> &shape, F term) {
  std::vector<int64_t> s = shape;
  const int64_t D = s.back();
  s.pop_back();
  Buffer out(s);
  for (int64_t r = 0; r < out.size(); ++r) {
    float acc = 0;
    for (int64_t i = 0; i < D; ++i) acc += term(r * D + i);
    out.data[r] = acc;
  }
  return out;
}
Buffer dot(const Buffer &a, const Buffer &b);
Buffer sumLast(const Buffer &in);
// Rows of x [.., H, D] times their head's W [1, 1, H, D, F]: [.., H, F].
Buffer vecmat(const Buffer &x, const Buffer &w);
Buffer headIndex(int64_t H);
// Materializes a broadcast: `in` read at every index of `shape`.
Buffer broadcastTo(const Buffer &in, std::vector<int64_t> shape);
// Two rows side by side: [.., A] and [.., C] (one leading shape after
// broadcasting) -> [.., A + C].
Buffer concat(const Buffer &a, const Buffer &b);

// ---- the scan --------------------------------------------------------------------
using rt::DiagKind; // the dialect's enums (mixc_enums.h, generated from the ODS)
using rt::Structure;

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
// Where the tokens of a scan lie. Variable-length batches (cu_seqlens):
// sequence b is the tokens [seqStart[b], seqStart[b + 1]) of row 0 of the
// per-token inputs ([1, T, H, ...], T the packed length) and B is the number
// of sequences; states are [B, H, ...], one per sequence. seqStart nullptr:
// B rows of T tokens.
struct TokenLayout {
  int64_t B = 0, T = 0;
  const int64_t *seqStart = nullptr;
  int64_t len(int64_t b) const { return seqStart ? seqStart[b + 1] - seqStart[b] : T; }
  int64_t maxLen() const { return seqStart ? longestSequence(seqStart, B) : T; }
  // Token t of sequence b: its (batch, time) in the inputs, and its row of
  // the flattened [B, T] token axis (the outputs and per-token gradients).
  int64_t inB(int64_t b) const { return seqStart ? 0 : b; }
  int64_t inT(int64_t b, int64_t t) const { return seqStart ? seqStart[b] + t : t; }
  int64_t token(int64_t b, int64_t t) const { return seqStart ? seqStart[b] + t : b * T + t; }
};

// A per-token operand the row function reads: rows (b, t, h) of bytes bytes
// at base + b sB + t sT + h sH. The recurrent scan prefetches the rows of its
// next window of tokens into L2 while it sweeps this one: rows a token apart
// are H rows apart, too far for the hardware prefetchers to follow (an
// input-bound scan waited on them for a quarter of its time).
struct RowStream {
  const char *base = nullptr;
  int64_t sB = 0, sT = 0, sH = 0, bytes = 0;
  int64_t group = 1; // grouped heads: head h reads row h / group
};
constexpr int kMaxStreams = 8;

struct ScanArgs : TokenLayout {
  int64_t H = 0, Vs = 0;
  RowStream streams[kMaxStreams];
  int numStreams = 0;
  // An input [B, T, H(, D)] (absent, broadcast over tokens or strided rows:
  // none); a grouped one has H / group heads.
  void stream(const mixc_tensor &t, int64_t group = 1) {
    if (!t.data || numStreams == kMaxStreams || t.ndim < 3 || t.strides[1] == 0 || (t.ndim > 3 && t.strides[3] != 1))
      return;
    const int64_t es = t.dtype == MIXC_F32 ? 4 : 2;
    streams[numStreams++] = {(const char *)t.data, t.strides[0] * es, t.strides[1] * es, t.strides[2] * es,
                             (t.ndim > 3 ? t.shape[3] : 1) * es, group};
  }
  // A token Buffer [B, T, H, D].
  void stream(const Buffer &x) {
    if (numStreams == kMaxStreams || x.shape.size() != 4) return;
    const int64_t D = x.shape[3], Hx = x.shape[2], Tx = x.shape[1];
    streams[numStreams++] = {(const char *)x.ptr(), Tx * Hx * D * 4, Hx * D * 4, D * 4, D * 4};
  }
  void prefetchRows(int64_t b, int64_t t, int64_t h) const {
    for (int i = 0; i < numStreams; ++i) {
      const RowStream &s = streams[i];
      const char *row = s.base + inB(b) * s.sB + inT(b, t) * s.sT + h / s.group * s.sH;
      for (int64_t byte = 0; byte < s.bytes; byte += 64) __builtin_prefetch(row + byte, 0, 1);
    }
  }
  const float *rate = nullptr, *bonus = nullptr, *init = nullptr, *initM = nullptr;
  float *o = nullptr, *state = nullptr, *m = nullptr;
  float scale = 1.f;
  bool reverse = false;
  // Segments of the chunked scan (scanChunkedElementwise). With segLen > 0 the
  // steps split into segments of segLen, and segments segFirst.. are tasks of
  // their own: each starts from segInit[seg] (without segInit: segment 0 from
  // init, the others from zero), ends in segState[seg] instead of state, and
  // with a dt sums it over its steps into segDt[seg]. Each is a [B, H, ...]
  // array of the same layout as state (segDt: [B, H, Vs]). Not with seqStart.
  int64_t segLen = 0, segFirst = 0;
  const float *segInit = nullptr;
  float *segState = nullptr, *segDt = nullptr;
};

} // namespace mixc::cpu

// The schedules, each in a header of its own.
#include "mixc_cpu_recurrent.h"
#include "mixc_cpu_chunked.h"
#include "mixc_cpu_chunked_ut.h"
#include "mixc_cpu_plain.h"
#include "mixc_cpu_backward.h"
#include "mixc_cpu_route.h"

#endif
