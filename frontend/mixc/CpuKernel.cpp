// The driver's compiled CPU kernels: a spec's forward (or its derived
// backward) tiled, printed, compiled and loaded, and called on named arrays.
#include "codegen/CpuTarget.h"
#include "frontend/mixc/Driver.h"
#include "passes/Passes.h"
#include "runtime/cpu/mixc_cpu.h"

#include "mlir/Pass/PassManager.h"

namespace mixc::driver {

CpuKernel buildCpuKernel(mlir::ModuleOp module, int threads, bool backward) {
  CpuKernel k;
  Clock::time_point t0 = Clock::now();
  auto tiled = tileForCpu(module, threads, /*honour=*/true, /*lowerChunks=*/!backward);
  auto func = theFunc(*tiled);
  if (backward) func = deriveCpuBackward(*tiled, threads); // from the tiled forward: the adjoint keeps its tiling
  static_cast<KernelInterface &>(k) = interfaceOf(func);
  std::string message;
  mlir::Location where = mlir::UnknownLoc::get(module.getContext());
  auto source = firstError(module.getContext(), where, message, [&] { return mixc::emitCpuKernel(func); });
  if (failed(source)) dieAt(where, message.empty() ? "cannot generate the CPU kernel" : message);
  if (std::string e = mixc::cpu::compileAndLoad(source->source, mixc::cpuRuntimeHeaders(), source->name, cpuIsa(), k.loaded);
      !e.empty())
    die(e);
  k.compileMs = msSince(t0);
  return k;
}

KernelInterface interfaceOf(mlir::func::FuncOp func) {
  KernelInterface k;
  for (unsigned i = 0; i < func.getNumResults(); ++i) {
    auto name = func.getResultAttrOfType<mlir::StringAttr>(i, "mixer.name");
    static const char *names[] = {"o", "final_state", "final_m"};
    k.outNames.push_back(name ? name.str() : names[std::min<unsigned>(i, 2)]);
  }
  k.args = mixc::argumentSpecs(func);
  for (mlir::Type t : func.getFunctionType().getResults()) {
    std::vector<int64_t> s;
    for (int64_t d : mlir::cast<mlir::RankedTensorType>(t).getShape()) s.push_back(mlir::ShapedType::isDynamic(d) ? -1 : d);
    k.outShapes.push_back(s);
  }
  return k;
}

KernelCall makeCall(const KernelInterface &k, const Problem &p) { return makeCall(k, p.inputs, p.shape.B, p.shape.T); }

KernelCall makeCall(const KernelInterface &k, const mixc::NamedArrays &inputs, int64_t B, int64_t T) {
  KernelCall c;
  c.names = k.outNames;
  bool bf16 = dtypeOpt == "bf16";
  auto describe = [&](const std::vector<int64_t> &shape, void *data) {
    return mixc_contiguous(data, bf16 ? MIXC_BF16 : MIXC_F32, (int32_t)shape.size(), shape.data());
  };
  auto storage = [&](const std::vector<double> *values, int64_t n) -> void * {
    if (bf16) {
      c.bf16.emplace_back(n);
      if (values)
        for (int64_t i = 0; i < n; ++i) c.bf16.back()[i] = mixc::cpu::floatToBf16((float)(*values)[i]);
      return c.bf16.back().data();
    }
    c.f32.emplace_back(n);
    if (values)
      for (int64_t i = 0; i < n; ++i) c.f32.back()[i] = (float)(*values)[i];
    return c.f32.back().data();
  };
  c.f32.reserve(32);
  c.bf16.reserve(32);
  c.i64.reserve(8);
  for (const mixc::ArgumentSpec &a : k.args) {
    auto it = inputs.find(a.name);
    if (it == inputs.end()) {
      c.in.push_back(describe(a.shape, nullptr));
      c.in.back().ndim = 0;
      continue;
    }
    if (a.isIndex) {
      c.i64.emplace_back(it->second.data.begin(), it->second.data.end());
      c.in.push_back(mixc_contiguous(c.i64.back().data(), MIXC_I64, (int32_t)it->second.shape.size(),
                                     it->second.shape.data()));
      continue;
    }
    c.in.push_back(describe(it->second.shape, storage(&it->second.data, it->second.size())));
  }
  for (std::vector<int64_t> s : k.outShapes) {
    if (s[0] < 0) s[0] = B;
    if (s.size() > 2 && s[1] < 0) s[1] = T;
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    c.out.push_back(describe(s, storage(nullptr, n)));
  }
  return c;
}

void invokeKernel(mixc_kernel_fn fn, KernelCall &c, int threads) {
  char err[512] = "";
  if (fn(c.in.data(), (int)c.in.size(), c.out.data(), (int)c.out.size(), threads, err, sizeof err) != 0)
    die(std::string("the kernel refused its arguments: ") + err);
}

mixc::NamedArrays callKernel(mixc_kernel_fn fn, KernelCall &c, int threads) {
  invokeKernel(fn, c, threads);
  return widenOutputs(c);
}

mixc::NamedArrays widenOutputs(const KernelCall &c) {
  mixc::NamedArrays out;
  for (size_t i = 0; i < c.out.size(); ++i) {
    const mixc_tensor &t = c.out[i];
    mixc::ref::Array a(std::vector<int64_t>(t.shape, t.shape + t.ndim));
    for (int64_t e = 0; e < a.size(); ++e)
      a.data[e] = t.dtype == MIXC_F32 ? ((const float *)t.data)[e]
                                      : mixc::cpu::bf16ToFloat(((const uint16_t *)t.data)[e]);
    out[c.names[i]] = std::move(a);
  }
  return out;
}

} // namespace mixc::driver
