// `mixc run` and `mixc bench` with --target=cuda: the spec tiled for CUDA,
// printed, compiled by nvcc for the device found (cached like the Python
// package's kernels) and called on device copies of the problem's inputs.
#include "codegen/CudaTarget.h"
#include "frontend/mixc/Driver.h"
#include "passes/Passes.h"
#include "runtime/cuda/CudaHost.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

namespace mixc::driver {

namespace {
using llvm::format;
using llvm::outs;

size_t bytesOf(const mixc_tensor &t) {
  if (!t.data) return 0;
  size_t n = t.dtype == MIXC_F32 ? 4 : t.dtype == MIXC_I64 ? 8 : 2;
  for (int d = 0; d < t.ndim; ++d) n *= t.shape[d];
  return n;
}

// Device copies of a call's tensors (contiguous, as makeCall lays them out).
struct DeviceCall {
  mixc::cuda::Runtime &rt;
  std::vector<mixc_tensor> in, out;
  std::vector<void *> owned;
  explicit DeviceCall(mixc::cuda::Runtime &r) : rt(r) {}
  ~DeviceCall() {
    for (void *p : owned) rt.free(p);
  }
  void mirror(const std::vector<mixc_tensor> &host, std::vector<mixc_tensor> &dev, bool upload) {
    for (const mixc_tensor &t : host) {
      dev.push_back(t);
      if (!t.data) continue;
      void *p = nullptr;
      if (std::string e = rt.alloc(&p, bytesOf(t)); !e.empty()) die(e);
      owned.push_back(p);
      if (upload)
        if (std::string e = rt.toDevice(p, t.data, bytesOf(t)); !e.empty()) die(e);
      dev.back().data = p;
    }
  }
  std::string call(mixc::cuda::KernelFn fn) {
    char err[512] = "";
    if (fn(in.data(), (int)in.size(), out.data(), (int)out.size(), nullptr, err, sizeof err) != 0)
      return std::string("the kernel refused its arguments: ") + err;
    return "";
  }
};
} // namespace

int runCuda(Problem &p, bool bench, unsigned repeats) {
  mixc::cuda::Runtime rt;
  if (std::string e = rt.open(); !e.empty()) die("--target=cuda: " + e);
  printHeader(p, "cuda (" + rt.deviceName() + ")");
  Clock::time_point t0 = Clock::now();
  auto tiled = tileForCuda(*p.module, rt.sms());
  mlir::func::FuncOp func = theFunc(*tiled);
  auto forward = cudaForwardModule(*tiled);
  std::string why;
  mlir::Location where = mlir::UnknownLoc::get(p.ctx.get());
  auto kernel = firstError(p.ctx.get(), where, why, [&] { return mixc::emitCudaKernel(theFunc(*forward)); });
  if (failed(kernel)) dieAt(where, why.empty() ? "cannot generate the CUDA kernel" : why);
  mixc::cuda::KernelFn fn = nullptr;
  std::string path;
  bool cached = false;
  auto headers = mixc::cudaRuntimeHeaders();
  headers.push_back({p.desc.name + ".h", kernel->header});
  if (std::string e = mixc::cuda::compileAndLoad(kernel->source, headers, p.desc.name,
                                                 "mixc_" + p.desc.name + "_cuda", rt.arch(), fn, path, cached);
      !e.empty())
    die(e);
  outs() << format("  kernel %s (%s, %.0f ms)\n", path.c_str(), cached ? "cached" : "compiled", msSince(t0));

  KernelInterface iface = interfaceOf(func);
  KernelCall host = makeCall(iface, p);
  DeviceCall dev(rt);
  dev.mirror(host.in, dev.in, true);
  dev.mirror(host.out, dev.out, false);
  if (std::string e = dev.call(fn); !e.empty()) die(e);
  if (std::string e = rt.synchronize(); !e.empty()) die("the kernel failed: " + e);

  if (bench) {
    // Every input read once and every output written once is the floor.
    size_t bytes = 0;
    for (const mixc_tensor &t : host.in) bytes += bytesOf(t);
    for (const mixc_tensor &t : host.out) bytes += bytesOf(t);
    double ms = 0;
    const int calls = (int)std::max(1u, repeats) * 4;
    if (std::string e = rt.time(calls, [&] { return dev.call(fn); }, ms); !e.empty()) die(e);
    const double gbps = bytes / (ms * 1e-3) / 1e9, floorMs = bytes / rt.peakBytesPerSecond() * 1e3;
    outs() << format("  mixc cuda kernel %10.3f ms  %8.1f GB/s  %5.1f%% of the memory floor (%.3f ms for %.1f MB at "
                     "%.0f GB/s peak), mean of %d calls\n",
                     ms, gbps, 100 * floorMs / ms, floorMs, bytes / 1e6, rt.peakBytesPerSecond() / 1e9, calls);
    return 0;
  }

  for (size_t i = 0; i < host.out.size(); ++i)
    if (std::string e = rt.toHost(host.out[i].data, dev.out[i].data, bytesOf(host.out[i])); !e.empty()) die(e);
  mixc::NamedArrays outputs = widenOutputs(host);
  printOutputs(outputs);
  int status = noCheck ? 0 : checkAgainstReference(p, outputs);
  writeOutputs(outputs);
  return status;
}

int checkCudaGrads(Problem &p, const mixc::NamedArrays &upstream, const mixc::NamedArrays &want,
                   mixc::NamedArrays &got) {
  Clock::time_point t0 = Clock::now();
  // The backward tiled for `sms` multiprocessors (0: the default GPU's),
  // printed. A spec without a CUDA backward is refused at its line before
  // mixc looks for a device; then it is printed again where the device's SM
  // count tiles it differently.
  mlir::OwningOpRef<mlir::ModuleOp> tiled;
  mlir::func::FuncOp func;
  auto print = [&](int sms) {
    tiled = tileForCuda(*p.module, sms);
    std::string why;
    auto derived = deriveCudaBackward(*tiled, why, sms);
    if (failed(derived)) die("no CUDA backward for " + p.desc.name + ": " + why);
    func = *derived;
    mlir::Location where = mlir::UnknownLoc::get(p.ctx.get());
    auto kernel = firstError(p.ctx.get(), where, why, [&] { return mixc::emitCudaKernel(func); });
    if (failed(kernel)) dieAt(where, why.empty() ? "cannot generate the CUDA backward kernel" : why);
    return *kernel;
  };
  auto kernel = print(0);
  mixc::cuda::Runtime rt;
  if (std::string e = rt.open(); !e.empty()) die("--target=cuda: " + e);
  if (rt.sms() != mixc::kDefaultCudaSms) kernel = print(rt.sms());
  const std::string name = func.getName().str();
  mixc::cuda::KernelFn fn = nullptr;
  std::string path;
  bool cached = false;
  auto headers = mixc::cudaRuntimeHeaders();
  headers.push_back({name + ".h", kernel.header});
  if (std::string e = mixc::cuda::compileAndLoad(kernel.source, headers, name, "mixc_" + name + "_cuda", rt.arch(),
                                                 fn, path, cached);
      !e.empty())
    die(e);
  outs() << format("  backward kernel %s (%s, %.0f ms) on %s\n", path.c_str(), cached ? "cached" : "compiled",
                   msSince(t0), rt.deviceName().c_str());
  mixc::NamedArrays in = p.inputs;
  for (auto &[n, g] : upstream) in["d" + n] = g;
  KernelCall host = makeCall(interfaceOf(func), in, p.shape.B, p.shape.T);
  DeviceCall dev(rt);
  dev.mirror(host.in, dev.in, true);
  dev.mirror(host.out, dev.out, false);
  if (std::string e = dev.call(fn); !e.empty()) die(e);
  if (std::string e = rt.synchronize(); !e.empty()) die("the backward kernel failed: " + e);
  for (size_t i = 0; i < host.out.size(); ++i)
    if (std::string e = rt.toHost(host.out[i].data, dev.out[i].data, bytesOf(host.out[i])); !e.empty()) die(e);
  return compareGrads(want, widenOutputs(host), got);
}

} // namespace mixc::driver
