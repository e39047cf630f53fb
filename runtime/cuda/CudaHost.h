// The host side of mixc's CUDA kernels for the command line (`mixc run` and
// `mixc bench --target=cuda`): the CUDA runtime loaded at run time (mixc
// itself runs without it), nvcc of emitted sources into a cached shared
// object, and the kernel's entry point. MLIR-free.
#ifndef MIXC_RUNTIME_CUDA_CUDAHOST_H
#define MIXC_RUNTIME_CUDA_CUDAHOST_H

#include "runtime/mixc_tensor.h"

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace mixc::cuda {

// An emitted kernel's C entry point (runtime/cuda/mixc_cuda.cuh): device
// tensors, a cudaStream_t (nullptr: the legacy default stream).
using KernelFn = int (*)(const mixc_tensor *, int, mixc_tensor *, int, void *, char *, int);

// The CUDA runtime API calls the driver needs, resolved from libcudart with
// dlopen; every call reports its error as text.
class Runtime {
public:
  /// Loads libcudart and checks that a device is usable: "" or why not.
  std::string open();
  /// The device's compute capability as nvcc's arch ("90a" on Hopper, "80", ...).
  std::string arch() const { return arch_; }
  std::string deviceName() const { return name_; }
  /// Its multiprocessors (what mixer-tile fills with the chunked walks' CTAs).
  int sms() const { return sms_; }
  /// Peak memory bandwidth in bytes per second (memory clock x bus width, DDR).
  double peakBytesPerSecond() const { return peakBps_; }

  std::string alloc(void **p, size_t bytes);
  std::string free(void *p);
  std::string toDevice(void *dst, const void *src, size_t bytes);
  std::string toHost(void *dst, const void *src, size_t bytes);
  std::string synchronize();
  /// Times `calls` runs of f on the default stream with CUDA events; ms per run.
  template <typename F> std::string time(int calls, F f, double &ms) {
    void *start = nullptr, *stop = nullptr;
    if (auto e = check(eventCreate_(&start), "cudaEventCreate"); !e.empty()) return e;
    if (auto e = check(eventCreate_(&stop), "cudaEventCreate"); !e.empty()) return e;
    check(eventRecord_(start, nullptr), "cudaEventRecord");
    for (int i = 0; i < calls; ++i)
      if (std::string e = f(); !e.empty()) return e;
    check(eventRecord_(stop, nullptr), "cudaEventRecord");
    if (auto e = check(eventSynchronize_(stop), "cudaEventSynchronize"); !e.empty()) return e;
    float total = 0;
    check(eventElapsed_(&total, start, stop), "cudaEventElapsedTime");
    eventDestroy_(start), eventDestroy_(stop);
    ms = total / calls;
    return "";
  }

private:
  std::string check(int status, const char *what);
  void *lib_ = nullptr;
  std::string arch_, name_;
  int sms_ = 0;
  double peakBps_ = 0;
  int (*getDeviceCount_)(int *) = nullptr;
  int (*deviceGetAttribute_)(int *, int, int) = nullptr;
  int (*malloc_)(void **, size_t) = nullptr;
  int (*free_)(void *) = nullptr;
  int (*memcpy_)(void *, const void *, size_t, int) = nullptr;
  int (*deviceSynchronize_)() = nullptr;
  int (*eventCreate_)(void **) = nullptr;
  int (*eventRecord_)(void *, void *) = nullptr;
  int (*eventSynchronize_)(void *) = nullptr;
  int (*eventElapsed_)(float *, void *, void *) = nullptr;
  int (*eventDestroy_)(void *) = nullptr;
  const char *(*errorString_)(int) = nullptr;
};

/// nvcc (found as $NVCC, on PATH, or /usr/local/cuda/bin/nvcc) of the kernel
/// `source` (`name`.cu) with `headers` beside it for `arch`, cached by a hash
/// of all of them under cacheDirectory(); loads `symbol`. "" or why not
/// (with nvcc's output). `cached` says whether the cache had it.
std::string compileAndLoad(const std::string &source, const std::vector<std::pair<std::string, std::string>> &headers,
                           const std::string &name, const std::string &symbol, const std::string &arch, KernelFn &fn,
                           std::string &path, bool &cached);

} // namespace mixc::cuda

#endif
