#include "runtime/cuda/CudaHost.h"
#include "runtime/DiskCache.h"

#include <cstdlib>
#include <dlfcn.h>

namespace mixc::cuda {

namespace {
// cudaMemcpyKind and cudaDeviceAttr values (driver_types.h): mixc does not
// include CUDA's headers, so that it builds and runs without them.
constexpr int kHostToDevice = 1, kDeviceToHost = 2;
constexpr int kAttrMultiprocessors = 16, kAttrMemoryClockKHz = 36, kAttrBusWidthBits = 37, kAttrMajor = 75,
              kAttrMinor = 76;

template <typename F> bool resolve(void *lib, const char *name, F &f) {
  f = reinterpret_cast<F>(dlsym(lib, name));
  return f != nullptr;
}
} // namespace

std::string Runtime::check(int status, const char *what) {
  if (status == 0) return "";
  return std::string(what) + ": " + (errorString_ ? errorString_(status) : "error " + std::to_string(status));
}

std::string Runtime::open() {
  // The toolkit's runtime first (what nvcc links against), then the loader's.
  for (const char *name : {"/usr/local/cuda/lib64/libcudart.so", "libcudart.so", "libcudart.so.13", "libcudart.so.12"})
    if ((lib_ = dlopen(name, RTLD_NOW | RTLD_LOCAL))) break;
  if (!lib_) return "cannot load the CUDA runtime (libcudart.so: " + std::string(dlerror()) + ")";
  bool ok = resolve(lib_, "cudaGetDeviceCount", getDeviceCount_) &&
            resolve(lib_, "cudaDeviceGetAttribute", deviceGetAttribute_) && resolve(lib_, "cudaMalloc", malloc_) &&
            resolve(lib_, "cudaFree", free_) && resolve(lib_, "cudaMemcpy", memcpy_) &&
            resolve(lib_, "cudaDeviceSynchronize", deviceSynchronize_) &&
            resolve(lib_, "cudaEventCreate", eventCreate_) && resolve(lib_, "cudaEventRecord", eventRecord_) &&
            resolve(lib_, "cudaEventSynchronize", eventSynchronize_) &&
            resolve(lib_, "cudaEventElapsedTime", eventElapsed_) && resolve(lib_, "cudaEventDestroy", eventDestroy_) &&
            resolve(lib_, "cudaGetErrorString", errorString_);
  if (!ok) return "the CUDA runtime lacks a function mixc calls";
  int count = 0;
  if (std::string e = check(getDeviceCount_(&count), "cudaGetDeviceCount"); !e.empty())
    return "no usable CUDA device (" + e + ")";
  if (count == 0) return "no usable CUDA device (cudaGetDeviceCount found none)";
  int major = 0, minor = 0, clockKHz = 0, busBits = 0;
  if (std::string e = check(deviceGetAttribute_(&major, kAttrMajor, 0), "cudaDeviceGetAttribute"); !e.empty())
    return e;
  deviceGetAttribute_(&minor, kAttrMinor, 0);
  deviceGetAttribute_(&clockKHz, kAttrMemoryClockKHz, 0);
  deviceGetAttribute_(&busBits, kAttrBusWidthBits, 0);
  deviceGetAttribute_(&sms_, kAttrMultiprocessors, 0);
  // Hopper's kernels use wgmma: sm_90a, not the portable sm_90.
  arch_ = std::to_string(major) + std::to_string(minor) + (major == 9 && minor == 0 ? "a" : "");
  name_ = "sm_" + arch_;
  peakBps_ = 2.0 * clockKHz * 1e3 * busBits / 8;
  return "";
}

std::string Runtime::alloc(void **p, size_t bytes) { return check(malloc_(p, bytes), "cudaMalloc"); }
std::string Runtime::free(void *p) { return check(free_(p), "cudaFree"); }
std::string Runtime::toDevice(void *dst, const void *src, size_t bytes) {
  return check(memcpy_(dst, src, bytes, kHostToDevice), "cudaMemcpy");
}
std::string Runtime::toHost(void *dst, const void *src, size_t bytes) {
  return check(memcpy_(dst, src, bytes, kDeviceToHost), "cudaMemcpy");
}
std::string Runtime::synchronize() { return check(deviceSynchronize_(), "cudaDeviceSynchronize"); }

std::string compileAndLoad(const std::string &source, const std::vector<std::pair<std::string, std::string>> &headers,
                           const std::string &name, const std::string &symbol, const std::string &arch, KernelFn &fn,
                           std::string &path, bool &cached) {
  std::string nvcc = "/usr/local/cuda/bin/nvcc";
  if (const char *e = std::getenv("NVCC"); e && *e) nvcc = e;
  else if (std::system("command -v nvcc > /dev/null 2>&1") == 0) nvcc = "nvcc";
  const std::string flags = "-O3 -std=c++17 -gencode=arch=compute_" + arch + ",code=sm_" + arch +
                            " -shared -Xcompiler -fPIC";
  const std::string dir = cacheDirectory() + "/cuda-" + name + "-" + hexKey(cacheKey(source, headers, nvcc + flags));
  path = dir + "/libmixc_" + name + "_cuda.so";
  auto files = headers;
  files.push_back({name + ".cu", source});
  if (std::string e = buildCached(dir, path, files, nvcc + " " + flags + " -I" + dir + " " + dir + "/" + name + ".cu",
                                  "nvcc", cached);
      !e.empty())
    return e;
  void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return "cannot load " + path + ": " + dlerror();
  fn = reinterpret_cast<KernelFn>(dlsym(handle, symbol.c_str()));
  if (!fn) return "symbol " + symbol + " not found in " + path;
  return "";
}

} // namespace mixc::cuda
