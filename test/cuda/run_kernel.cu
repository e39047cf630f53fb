// Runs one generated CUDA kernel on .npy inputs and writes its outputs, on a
// machine with a GPU and no MLIR. Built together with the generated source:
//   nvcc -DMIXC_ENTRY=mixc_gla_cuda run_kernel.cu gla.cu runtime/Npy.cpp -I...
// Usage: run_kernel IN_DIR REF_DIR OUT_DIR DTYPE [REPEATS]
//   IN_DIR   NAME.npy per input (init.npy, init_m.npy optional)
//   REF_DIR  the reference outputs: only their shapes are read here
//   DTYPE    f32, bf16 or f16: the element type the inputs and o are passed in
// Outputs are poisoned with NaN before the call, so an element the kernel
// never writes fails the comparison. With REPEATS, prints the median time.
// MIXC_LAYOUT=head-first: per-token tensors ([B, T, H, ...], o included) are
// laid out [B, H, T, ...] in memory and passed with the matching strides.
#include "runtime/Npy.h"
#include "mixc_tensor.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <vector>

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
extern "C" {
extern const char *CAT(MIXC_ENTRY, _args);
int MIXC_ENTRY(const mixc_tensor *, int, mixc_tensor *, int, void *, char *, int);
}

namespace {

#define CHECK_CUDA(x)                                                                                                  \
  do {                                                                                                                 \
    cudaError_t e_ = (x);                                                                                              \
    if (e_ != cudaSuccess) {                                                                                           \
      std::fprintf(stderr, "run_kernel: %s: %s\n", #x, cudaGetErrorString(e_));                                        \
      std::exit(2);                                                                                                    \
    }                                                                                                                  \
  } while (0)

std::vector<std::string> split(const std::string &s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, sep);) out.push_back(x);
  return out;
}

bool exists(const std::string &p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

int elemSize(int dtype) { return dtype == MIXC_F32 ? 4 : 2; }

// The layout of a tensor of `shape`: row-major, or with headFirst and a
// per-token shape [B, T, H, ...] (T = the sequence length), [B, H, T, ...].
mixc_tensor describe(void *d, int dtype, const std::vector<int64_t> &shape, bool headFirst, int64_t T) {
  mixc_tensor t = mixc_contiguous(d, dtype, (int32_t)shape.size(), shape.data());
  if (headFirst && shape.size() >= 3 && shape[1] == T) {
    int64_t inner = 1;
    for (size_t i = 3; i < shape.size(); ++i) inner *= shape[i];
    t.strides[2] = T * inner, t.strides[1] = inner, t.strides[0] = shape[2] * T * inner;
  }
  return t;
}

// The element of `t` at row-major position i of its shape.
int64_t offsetOf(const mixc_tensor &t, size_t i) {
  int64_t off = 0;
  for (int d = t.ndim - 1; d >= 0; --d) {
    off += (int64_t)(i % t.shape[d]) * t.strides[d];
    i /= t.shape[d];
  }
  return off;
}

bool headFirstLayout() {
  const char *l = std::getenv("MIXC_LAYOUT");
  return l && std::string(l) == "head-first";
}
int64_t seqLen = -1; // T, from the reference o

// Uploads `a` as `dtype` in the layout describe() gives it.
mixc_tensor upload(const mixc::NpyArray &a, int dtype) {
  size_t n = a.data.size();
  std::vector<char> host(n * elemSize(dtype));
  mixc_tensor t = describe(nullptr, dtype, a.shape, headFirstLayout(), seqLen);
  for (size_t i = 0; i < n; ++i) {
    float x = (float)a.data[i];
    int64_t j = offsetOf(t, i);
    if (dtype == MIXC_F32) ((float *)host.data())[j] = x;
    else if (dtype == MIXC_BF16) ((__nv_bfloat16 *)host.data())[j] = __float2bfloat16(x);
    else ((__half *)host.data())[j] = __float2half(x);
  }
  void *d = nullptr;
  CHECK_CUDA(cudaMalloc(&d, std::max<size_t>(host.size(), 16)));
  CHECK_CUDA(cudaMemcpy(d, host.data(), host.size(), cudaMemcpyHostToDevice));
  t.data = d;
  return t;
}

std::vector<double> download(const mixc_tensor &t) {
  size_t n = 1;
  for (int d = 0; d < t.ndim; ++d) n *= t.shape[d];
  std::vector<char> host(n * elemSize(t.dtype));
  CHECK_CUDA(cudaMemcpy(host.data(), t.data, host.size(), cudaMemcpyDeviceToHost));
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t j = offsetOf(t, i);
    if (t.dtype == MIXC_F32) out[i] = ((float *)host.data())[j];
    else if (t.dtype == MIXC_BF16) out[i] = __bfloat162float(((__nv_bfloat16 *)host.data())[j]);
    else out[i] = __half2float(((__half *)host.data())[j]);
  }
  return out;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s IN_DIR REF_DIR OUT_DIR f32|bf16|f16 [REPEATS]\n", argv[0]);
    return 2;
  }
  std::string in = argv[1], ref = argv[2], out = argv[3], dt = argv[4];
  int repeats = argc > 5 ? std::atoi(argv[5]) : 0;
  int dtype = dt == "bf16" ? MIXC_BF16 : dt == "f16" ? MIXC_F16 : MIXC_F32;
  {
    mixc::NpyArray o;
    if (std::string e = mixc::readNpy(ref + "/o.npy", o); !e.empty() || o.shape.size() < 2) {
      std::fprintf(stderr, "run_kernel: %s\n", e.empty() ? "o.npy: no time dimension" : e.c_str());
      return 2;
    }
    seqLen = o.shape[1];
  }
  auto lists = split(CAT(MIXC_ENTRY, _args), ';');
  auto inNames = split(lists[0], ','), outNames = split(lists.size() > 1 ? lists[1] : "", ',');
  std::vector<mixc_tensor> inputs, outputs;
  for (const std::string &n : inNames) {
    std::string path = in + "/" + n + ".npy";
    if (!exists(path)) {
      if (n != "init" && n != "init_m") {
        std::fprintf(stderr, "run_kernel: missing %s\n", path.c_str());
        return 2;
      }
      mixc_tensor t = {};
      t.ndim = 0;
      inputs.push_back(t); // absent optional state: NULL data
      continue;
    }
    mixc::NpyArray a;
    if (std::string e = mixc::readNpy(path, a); !e.empty()) {
      std::fprintf(stderr, "run_kernel: %s\n", e.c_str());
      return 2;
    }
    inputs.push_back(upload(a, dtype));
  }
  for (const std::string &n : outNames) {
    mixc::NpyArray a;
    if (std::string e = mixc::readNpy(ref + "/" + n + ".npy", a); !e.empty()) {
      std::fprintf(stderr, "run_kernel: %s\n", e.c_str());
      return 2;
    }
    int odt = n == "o" ? dtype : MIXC_F32;
    size_t bytes = a.data.size() * elemSize(odt);
    void *d = nullptr;
    CHECK_CUDA(cudaMalloc(&d, std::max<size_t>(bytes, 16)));
    CHECK_CUDA(cudaMemset(d, 0xff, bytes)); // NaN in every float format
    outputs.push_back(describe(d, odt, a.shape, headFirstLayout(), seqLen));
  }
  char err[512] = "";
  if (MIXC_ENTRY(inputs.data(), (int)inputs.size(), outputs.data(), (int)outputs.size(), nullptr, err, sizeof err)) {
    std::fprintf(stderr, "run_kernel: the kernel refused its arguments: %s\n", err);
    return 1;
  }
  CHECK_CUDA(cudaDeviceSynchronize());
  CHECK_CUDA(cudaGetLastError());
  mkdir(out.c_str(), 0755);
  for (size_t i = 0; i < outputs.size(); ++i) {
    std::vector<int64_t> shape(outputs[i].shape, outputs[i].shape + outputs[i].ndim);
    if (std::string e = mixc::writeNpy(out + "/" + outNames[i] + ".npy", shape, download(outputs[i]), "f4"); !e.empty()) {
      std::fprintf(stderr, "run_kernel: %s\n", e.c_str());
      return 2;
    }
  }
  if (repeats > 0) {
    cudaEvent_t a, b;
    CHECK_CUDA(cudaEventCreate(&a));
    CHECK_CUDA(cudaEventCreate(&b));
    std::vector<float> ms;
    for (int r = 0; r < repeats; ++r) {
      CHECK_CUDA(cudaEventRecord(a));
      MIXC_ENTRY(inputs.data(), (int)inputs.size(), outputs.data(), (int)outputs.size(), nullptr, err, sizeof err);
      CHECK_CUDA(cudaEventRecord(b));
      CHECK_CUDA(cudaEventSynchronize(b));
      float t = 0;
      CHECK_CUDA(cudaEventElapsedTime(&t, a, b));
      ms.push_back(t);
    }
    std::sort(ms.begin(), ms.end());
    std::printf("median %.4f ms over %d runs\n", ms[ms.size() / 2], repeats);
  }
  return 0;
}
