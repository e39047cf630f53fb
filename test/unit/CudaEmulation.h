// Runs CUDA tile-library kernels on host threads, so that the unit tests can
// check kernels that CI (no GPU) can only compile: a CTA's threads are
// std::threads, __syncthreads a barrier, a warp's shuffles an exchange
// through a per-warp buffer between two barriers, __shared__ memory a static
// local (one CTA runs at a time); the tensor-core tiles' warp-wide
// instructions likewise (CudaEmulationTile.h). Only what the emulated headers use
// (mixc_cuda_recurrent.cuh, mixc_cuda_tile_ops.cuh, mixc_cuda_route.cuh, mixc_cuda_rows.cuh, mixc_cuda_sweep_grad.cuh and
// mixc_cuda_checkpoint_grad.cuh, the UT forward's mixc_cuda_chunk_io.cuh,
// mixc_cuda_ut.cuh and mixc_cuda_walk.cuh, and its backward's
// mixc_cuda_ut_grad.cuh, whose includes and host code
// MIXC_CUDA_EMULATION leaves out) is defined: fp32 and bf16 Views, the
// Tensors, the warp sums, dynamic shared memory (the scan parameters are the
// library's own header).
#ifndef MIXC_TEST_UNIT_CUDAEMULATION_H
#define MIXC_TEST_UNIT_CUDAEMULATION_H

#define MIXC_CUDA_EMULATION 1

#include "runtime/cpu/mixc_cpu.h" // bf16 rounding (before the CUDA keywords below become macros)
#include "runtime/mixc_enums.h"
#include "runtime/mixc_tensor.h" // the dtype codes

#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct Dim3 {
  unsigned x = 0, y = 0, z = 0;
};
inline thread_local Dim3 threadIdx, blockIdx;
inline Dim3 gridDim, blockDim;

namespace mixc::emu {
// A reusable barrier of n threads (C++17 has no std::barrier).
class Barrier {
public:
  explicit Barrier(unsigned n) : n_(n) {}
  void arrive_and_wait() {
    std::unique_lock<std::mutex> lock(m_);
    const uint64_t gen = gen_;
    if (++count_ == n_) {
      count_ = 0, ++gen_;
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [&] { return gen_ != gen; });
  }

private:
  std::mutex m_;
  std::condition_variable cv_;
  unsigned n_, count_ = 0;
  uint64_t gen_ = 0;
};

// The CTA being run: its barrier and each warp's shuffle buffer and barrier;
// `words`: kWords per thread for the warp-wide tile instructions
// (CudaEmulationTile.h).
struct Cta {
  static constexpr int kWords = 8;
  Cta(unsigned threads, size_t sharedBytes) : all(threads), shared((sharedBytes + 15) / 16) {
    for (unsigned w = 0; w < threads / 32; ++w) warps.push_back(std::make_unique<Barrier>(32));
    shuffle.resize(threads);
    words.resize(threads * kWords);
  }
  Barrier all;
  std::vector<std::unique_ptr<Barrier>> warps;
  std::vector<float> shuffle;
  std::vector<uint64_t> words;
  struct alignas(16) Chunk16 {
    unsigned char b[16];
  };
  std::vector<Chunk16> shared; // the launch's dynamic shared memory (MIXC_DYNAMIC_SHARED)
};
inline Cta *current = nullptr;

// kernel() on every thread of a grid of CTAs of `threads` threads (a multiple
// of 32), one CTA at a time, each with sharedBytes of dynamic shared memory.
inline void launch(Dim3 grid, unsigned threads, const std::function<void()> &kernel, size_t sharedBytes = 0) {
  gridDim = grid, blockDim = Dim3{threads, 1, 1};
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        Cta cta(threads, sharedBytes);
        current = &cta;
        std::vector<std::thread> pool;
        for (unsigned t = 0; t < threads; ++t)
          pool.emplace_back([&, t, x, y, z] {
            threadIdx = Dim3{t, 0, 0}, blockIdx = Dim3{x, y, z};
            kernel();
          });
        for (auto &th : pool) th.join();
        current = nullptr;
      }
}
} // namespace mixc::emu

#define MIXC_DYNAMIC_SHARED(name) unsigned char *name = mixc::emu::current->shared[0].b
#define __align__(n) alignas(n)

inline void __syncthreads() { mixc::emu::current->all.arrive_and_wait(); }
inline void __syncwarp(unsigned = 0xffffffffu) { mixc::emu::current->warps[threadIdx.x / 32]->arrive_and_wait(); }
namespace mixc::emu {
// A warp-wide exchange: each lane publishes x; between two warp barriers
// read(lanes) sees the warp's 32 values (lanes[l]: lane l's) and gives the result.
template <typename Read> inline auto warpExchange(float x, Read read) {
  Cta &c = *current;
  const unsigned t = threadIdx.x;
  c.shuffle[t] = x;
  c.warps[t / 32]->arrive_and_wait();
  const auto y = read(&c.shuffle[t / 32 * 32]);
  c.warps[t / 32]->arrive_and_wait();
  return y;
}
} // namespace mixc::emu
inline float __shfl_xor_sync(unsigned, float x, int off) {
  return mixc::emu::warpExchange(x, [&](const float *lanes) { return lanes[(threadIdx.x % 32) ^ (unsigned)off]; });
}
inline float __shfl_up_sync(unsigned, float x, int off) {
  const unsigned lane = threadIdx.x % 32;
  return mixc::emu::warpExchange(x, [&](const float *lanes) { return lane >= (unsigned)off ? lanes[lane - off] : x; });
}
inline float __shfl_down_sync(unsigned, float x, int off) {
  const unsigned lane = threadIdx.x % 32;
  return mixc::emu::warpExchange(x, [&](const float *lanes) { return lane + off < 32 ? lanes[lane + off] : x; });
}
inline float __shfl_sync(unsigned, float x, int src) {
  return mixc::emu::warpExchange(x, [&](const float *lanes) { return lanes[src % 32]; });
}
inline unsigned __ballot_sync(unsigned, bool pred) {
  return mixc::emu::warpExchange(pred ? 1.f : 0.f, [](const float *lanes) {
    unsigned mask = 0;
    for (unsigned l = 0; l < 32; ++l) mask |= (lanes[l] != 0.f ? 1u : 0u) << l;
    return mask;
  });
}
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __logf(float x) { return std::log(x); }
[[noreturn]] inline void __trap() { std::abort(); }
inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }

#include "test/unit/CudaEmulationTile.h" // bf16, ldmatrix, mma.sync, cp.async

namespace mixc::cuda {
using rt::DiagKind;
using rt::Structure;

// fp32 or bf16 elements (the chunked kernels copy bf16 rows as they are).
struct View {
  void *p = nullptr;
  int dtype = MIXC_F32;
  int64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t hg = 1;
  int64_t head(int64_t h) const { return (hg == 1 ? h : h / hg) * s2; }
  float at(int64_t i0, int64_t i1, int64_t i2, int64_t i3) const {
    const int64_t e = i0 * s0 + i1 * s1 + head(i2) + i3 * s3;
    return dtype == MIXC_BF16 ? __bfloat162float(((const __nv_bfloat16 *)p)[e]) : ((const float *)p)[e];
  }
  void set(int64_t i0, int64_t i1, int64_t i2, int64_t i3, float x) const {
    const int64_t e = i0 * s0 + i1 * s1 + head(i2) + i3 * s3;
    if (dtype == MIXC_BF16) ((__nv_bfloat16 *)p)[e] = __float2bfloat16(x);
    else ((float *)p)[e] = x;
  }
};


// mixc_cuda.cuh's 16-byte runs of 8 elements (fp32 here, as the Views).
inline void load8(const void *p, int, int64_t off, float *x) {
  for (int i = 0; i < 8; ++i) x[i] = ((const float *)p)[off + i];
}
inline void store8(void *p, int, int64_t off, const float *x) {
  for (int i = 0; i < 8; ++i) ((float *)p)[off + i] = x[i];
}

// mixc_cuda_tensor.cuh's Tensor.
struct Tensor {
  float *p = nullptr;
  int rank = 0;
  int64_t d[6] = {1, 1, 1, 1, 1, 1};
  int64_t size() const {
    int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= d[i];
    return n;
  }
};

// A Tensor over a host vector (the tests' data).
inline Tensor tensorOver(std::vector<float> &x, std::initializer_list<int64_t> dims) {
  Tensor t;
  t.p = x.data();
  for (int64_t d : dims) t.d[t.rank++] = d;
  return t;
}

inline void tokenOf(int64_t bt, int64_t T, int64_t &b, int64_t &t) { b = bt / T, t = bt % T; }
inline float warpSum(float x) {
  for (int o = 16; o; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}
inline float warpMax(float x) {
  for (int o = 16; o; o >>= 1) x = std::fmax(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
} // namespace mixc::cuda

#include "runtime/cuda/mixc_cuda_scan_params.cuh" // the library's own ScanParams, over the View above

#define MIXC_GRID_STRIDE(e, n)                                                                                      \
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < (n); e += (int64_t)gridDim.x * blockDim.x)

#include "runtime/cuda/mixc_cuda_recurrent.cuh" // the recurrent sweep (groupSum)
#include "runtime/cuda/mixc_cuda_tile_ops.cuh"
#include "runtime/cuda/mixc_cuda_chunk_io.cuh"
#include "runtime/cuda/mixc_cuda_ut.cuh"
#include "runtime/cuda/mixc_cuda_walk.cuh"
#include "runtime/cuda/mixc_cuda_gla.cuh"
#include "runtime/cuda/mixc_cuda_ut_vector.cuh"
#include "runtime/cuda/mixc_cuda_ut_grad.cuh"
#include "runtime/cuda/mixc_cuda_gla_grad.cuh"
#include "runtime/cuda/mixc_cuda_ut_vector_grad.cuh"
#include "runtime/cuda/mixc_cuda_route.cuh"
#include "runtime/cuda/mixc_cuda_rows.cuh"
#include "runtime/cuda/mixc_cuda_sweep_grad.cuh"
#include "runtime/cuda/mixc_cuda_checkpoint_grad.cuh"

#endif
