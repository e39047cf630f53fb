// `mixc run --grad`: the gradient of every input of a spec on the float64
// reference (codegen/ReferenceGrad.h), for an upstream gradient read from
// --inputs or generated, checked against central finite differences where
// the shape is small enough for 2 forward runs per input element; with
// --target=cpu, by the CPU kernel printed from the derived backward, checked
// against the reference's gradients.
#include "codegen/ReferenceGrad.h"
#include "frontend/mixc/Driver.h"
#include "runtime/Npy.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <random>

using namespace llvm;

namespace mixc::driver {

namespace {
// Upstream gradients named after the outputs they weigh: do, dfinal_state.
const char *const kUpstream[] = {"o", "final_state"};

// Finite differences cost 2 forward runs per input element; beyond this many
// elements the check is skipped (and says so).
constexpr int64_t kMaxCheckedElements = 6000;
// Central differences in float64 at this step agree with the exact gradient
// to about 1e-9 relative; a wrong term is off by far more. Below an absolute
// floor they resolve nothing: each loss carries a rounding error of about
// 1e-16 of its terms' magnitude, which the step turns into ~1e-11 of it per
// element, so a gradient that is itself that small (a decay of exp(-20), a
// readout that its own normalizer cancels at T = 1) is held to a floor 10
// times above that instead.
constexpr double kStep = 1e-5, kTolerance = 1e-6, kFloorPerTerm = 1e-10;
} // namespace

double roundTo(double x, const std::string &dtype);

int compareGrads(const mixc::NamedArrays &want, const mixc::NamedArrays &out, mixc::NamedArrays &got) {
  const double tol = dtypeOpt == "bf16" ? 2e-2 : 1e-4;
  double sum = 0, count = 0;
  for (auto &[name, ref] : want)
    for (double x : ref.data) sum += x * x, ++count;
  const double rms = std::sqrt(sum / std::max(count, 1.0));
  int status = 0;
  for (auto &[name, ref] : want) {
    auto it = out.find("d" + name);
    if (it == out.end()) die("the backward kernel has no output 'd" + name + "'");
    mixc::ref::Array g = it->second;
    g.shape = ref.shape; // per-head gradients in the caller's shape
    const double err = relL2(g.data, ref.data, ref.data.size());
    double abs = 0;
    for (size_t i = 0; i < ref.data.size(); ++i) abs += (g.data[i] - ref.data[i]) * (g.data[i] - ref.data[i]);
    abs = std::sqrt(abs);
    const double floor = tol * std::sqrt((double)ref.data.size()) * rms;
    const bool ok = err < tol || abs < floor;
    outs() << format("  check: d%s against the float64 reference: relative L2 error %.2e (< %.0e", name.c_str(), err,
                     tol);
    if (err >= tol) outs() << format(", or absolute %.1e < %.1e where the gradient cancels", abs, floor);
    outs() << ")  " << (ok ? "OK" : "FAILED") << "\n";
    if (!ok) status = 1;
    got["d" + name] = std::move(g);
  }
  return status;
}

namespace {
// The CPU backward kernel on the same inputs and upstream gradients (rounded
// to --dtype, as the reference sees them): each gradient against the
// reference's, fp32 relative L2 < 1e-4, bf16 inputs < 2e-2.
int checkCpuGrads(Problem &p, const mixc::NamedArrays &upstream, const mixc::NamedArrays &want,
                  mixc::NamedArrays &got) {
  const int threads = threadCount();
  CpuKernel k = buildCpuKernel(*p.module, threads, /*backward=*/true);
  outs() << format("  backward kernel %s (%s, %.0f ms)\n", k.loaded.path.c_str(), k.loaded.cached ? "cached" : "compiled",
                   k.compileMs);
  mixc::NamedArrays in = p.inputs;
  for (auto &[name, g] : upstream) in["d" + name] = g;
  KernelCall call = makeCall(k, in, p.shape.B, p.shape.T);
  Clock::time_point t0 = Clock::now();
  mixc::NamedArrays out = callKernel(k.loaded.fn, call, threads);
  outs() << format("  backward ran in %.2f ms\n", msSince(t0));
  return compareGrads(want, out, got);
}
} // namespace

int runGrad(Problem &p) {
  mlir::func::FuncOp func = theFunc(*p.module);
  const bool cpu = targetOpt == "cpu", cuda = targetOpt == "cuda";
  printHeader(p, cpu    ? "cpu (" + std::to_string(threadCount()) + " threads), gradients by the derived backward kernel"
                 : cuda ? "cuda, gradients by the derived backward kernel"
                        : "reference (float64, token by token), gradients by reverse mode");
  mixc::NamedArrays outputs, upstream, grads;
  if (std::string e = mixc::runReference(func, p.inputs, outputs); !e.empty()) die(e);
  std::mt19937_64 rng(seedOpt + 1);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (const char *name : kUpstream) {
    auto out = outputs.find(name);
    if (out == outputs.end()) continue;
    mixc::ref::Array g(out->second.shape);
    std::string file = std::string("d") + name;
    if (!inputsDir.empty()) {
      std::string path = inputsDir + "/" + file + ".npy";
      if (!sys::fs::exists(path)) {
        if (std::string(name) == "o") die("missing upstream gradient '" + path + "' (--grad with --inputs reads it)");
        continue; // no dfinal_state: the final state is not in the loss
      }
      mixc::NpyArray a;
      if (std::string e = mixc::readNpy(path, a); !e.empty()) die(e);
      if (a.shape != g.shape)
        die("upstream gradient '" + path + "' has shape " + mixc::ref::Array(a.shape).shapeString() + ", expected " +
            g.shapeString() + " (the shape of " + name + ")");
      g.data = std::move(a.data);
    } else {
      for (double &x : g.data) x = roundTo(normal(rng), dtypeOpt);
    }
    upstream[file.substr(1)] = std::move(g);
  }
  if (inputsDir.empty()) {
    outs() << "  upstream gradients generated (seed " << seedOpt + 1 << "):";
    for (auto &[name, g] : upstream) outs() << " d" << name << " " << g.shapeString();
    outs() << "\n";
    mixc::NamedArrays named;
    for (auto &[name, g] : upstream) named["d" + name] = g;
    writeArrays(named, saveInputsDir, "f8");
  }
  outputs.clear();
  // The oracle of a kernel's gradients is the adjoint recurrence itself; the
  // reference target interprets what --adjoint asks (scans: the lowered form).
  const std::string adjoint = cpu || cuda ? "sweep" : adjointChoice();
  if (std::string e = mixc::runReferenceGrad(func, p.inputs, upstream, outputs, grads, adjoint); !e.empty()) die(e);
  printOutputs(outputs);
  mixc::NamedArrays named;
  for (auto &[name, g] : grads) named["d" + name] = g;
  if (cpu || cuda) {
    mixc::NamedArrays got;
    int status = cpu ? checkCpuGrads(p, upstream, grads, got) : checkCudaGrads(p, upstream, grads, got);
    printOutputs(got);
    writeArrays(got, outDir, "f4");
    return status;
  }
  printOutputs(named);
  int status = 0;
  if (!noCheck) {
    int64_t elements = 0;
    for (auto &[name, a] : p.inputs) elements += a.size();
    if (elements > kMaxCheckedElements) {
      outs() << "  check: skipped, " << elements << " input elements take 2 forward runs each (at most "
             << kMaxCheckedElements << "; use a smaller shape)\n";
    } else {
      mixc::NamedArrays fd;
      if (std::string e = mixc::finiteDifferenceGrad(func, p.inputs, upstream, kStep, fd); !e.empty()) die(e);
      double terms = 0; // the loss's magnitude, sum of |upstream * output|
      for (auto &[name, g] : upstream)
        for (int64_t i = 0; i < g.size(); ++i) terms += std::fabs(g.data[i] * outputs.at(name).data[i]);
      for (auto &[name, want] : fd) {
        const std::vector<double> &got = grads.at(name).data;
        double err = relL2(got, want.data, want.data.size()), abs = 0;
        for (size_t i = 0; i < got.size(); ++i) abs += (got[i] - want.data[i]) * (got[i] - want.data[i]);
        abs = std::sqrt(abs);
        const double floor = kFloorPerTerm * std::sqrt((double)got.size()) * std::max(1.0, terms);
        bool ok = err < kTolerance || abs < floor;
        outs() << format("  check: d%s against central finite differences: relative L2 error %.2e (< %.0e", name.c_str(),
                         err, kTolerance);
        if (err >= kTolerance) outs() << format(", or absolute %.1e < %.1e where differences resolve no finer", abs, floor);
        outs() << ")  " << (ok ? "OK" : "FAILED") << "\n";
        if (!ok) status = 1;
      }
    }
  }
  writeArrays(named, outDir, dtypeOpt == "f64" ? "f8" : "f4");
  return status;
}

} // namespace mixc::driver
