#include "runtime/cpu/HostCompiler.h"
#include "runtime/DiskCache.h"

#include <cstdlib>
#include <dlfcn.h>
#include <unistd.h>

namespace mixc::cpu {

// No trapping math and no errno: the comparisons and exp/log polynomials of
// the tile library then vectorize; results and NaN/Inf semantics are unchanged.
std::string kernelFlags(const CpuIsa &isa) {
  return "-O3 " + isa.flags + " -fno-trapping-math -fno-math-errno -std=c++17 -pthread";
}

namespace {

std::string compilerCommand() {
  const char *cxx = std::getenv("CXX");
  return cxx && *cxx ? cxx : "c++";
}

// The tile library's whole-tensor ops (kTensorOpsSource among the runtime
// files), compiled once per compiler, flags and library text into an object
// that every kernel built with them links.
std::string tensorOpsObject(const std::vector<std::pair<std::string, std::string>> &files, const std::string &cxx,
                            const std::string &flags, std::string &object) {
  bool found = false;
  for (const auto &f : files) found |= f.first == kTensorOpsSource;
  if (!found) return std::string("the CPU runtime files lack ") + kTensorOpsSource;
  const std::string dir = cacheDirectory() + "/tensor-ops-" + hexKey(cacheKey("", files, cxx + flags));
  object = dir + "/mixc_cpu_tensor_ops.o";
  bool cached;
  return buildCached(dir, object, files, cxx + " " + flags + " -c -I" + dir + " " + dir + "/" + kTensorOpsSource,
                     "the host compiler (the tile library's tensor ops)", cached);
}

} // namespace

std::string compileAndLoad(const std::string &source, const std::vector<std::pair<std::string, std::string>> &headers,
                           const std::string &symbol, const CpuIsa &isa, LoadedKernel &out) {
  if (std::string why = cannotRunHere(isa); !why.empty()) return why;
  std::string cxx = compilerCommand();
  const std::string kFlags = kernelFlags(isa) + " -shared -fPIC";
  const std::string dir = cacheDirectory() + "/" + hexKey(cacheKey(source, headers, cxx + kFlags));
  const std::string so = dir + "/kernel.so";
  out.path = so;
  // The tensor ops' object only where the kernel must be linked (a cached
  // kernel has it in already).
  std::string ops;
  if (access(so.c_str(), F_OK) != 0)
    if (std::string e = tensorOpsObject(headers, cxx, kernelFlags(isa) + " -fPIC", ops); !e.empty()) return e;
  auto files = headers;
  files.push_back({"kernel.cpp", source});
  if (std::string e = buildCached(dir, so, files, cxx + " " + kFlags + " -I" + dir + " " + dir + "/kernel.cpp " + ops,
                                  "the host compiler", out.cached);
      !e.empty())
    return e;
  void *handle = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return std::string("cannot load ") + so + ": " + dlerror();
  out.fn = reinterpret_cast<mixc_kernel_fn>(dlsym(handle, symbol.c_str()));
  out.plain = reinterpret_cast<mixc_kernel_fn>(dlsym(handle, (symbol + "_plain").c_str()));
  if (!out.fn || !out.plain) return "symbol " + symbol + " not found in " + so;
  return "";
}

} // namespace mixc::cpu
