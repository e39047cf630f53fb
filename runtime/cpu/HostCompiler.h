// Compiles generated C++ with the host compiler into a shared object, caches
// it on disk by a hash of the source, the headers and the flags, and loads it.
#ifndef MIXC_RUNTIME_CPU_HOSTCOMPILER_H
#define MIXC_RUNTIME_CPU_HOSTCOMPILER_H

#include "runtime/cpu/CpuIsa.h"
#include "runtime/mixc_tensor.h"

#include <string>
#include <utility>
#include <vector>

namespace mixc::cpu {

struct LoadedKernel {
  mixc_kernel_fn fn = nullptr;    // the scheduled kernel
  mixc_kernel_fn plain = nullptr; // the plain-recurrence baseline
  std::string path;               // the cached shared object
  bool cached = false;            // found in the cache, not compiled now
};

/// The host compiler flags generated kernels need (besides -shared -fPIC for
/// a shared object): without -fno-trapping-math and -fno-math-errno the tile
/// library's selects, comparisons and exp/log polynomials do not vectorize;
/// kernels built with -O3 -march=native alone ran 5x-10x slower
/// (bench/results/cpu-threads.md). The ISA's -march/-mcpu selects the
/// vector width the kernel was tiled for.
std::string kernelFlags(const CpuIsa &isa);

/// The tile library's source among the runtime files: the whole-tensor ops
/// that do not depend on a spec or its sizes, compiled once per ISA and flags
/// and linked into every kernel (its headers only declare them).
constexpr const char *kTensorOpsSource = "mixc_cpu_tensor_ops.cpp";

/// Compiles (or finds in the cache) `source` with `headers` beside it and loads
/// the symbols `symbol` and `symbol`_plain, built for `isa` (which this host
/// must run), linked with the tensor ops built from `headers` (once per
/// flags). Returns "" or why it failed, including the compiler's output.
std::string compileAndLoad(const std::string &source,
                           const std::vector<std::pair<std::string, std::string>> &headers,
                           const std::string &symbol, const CpuIsa &isa, LoadedKernel &out);

} // namespace mixc::cpu

#endif
