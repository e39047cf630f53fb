#include "runtime/cpu/HostCompiler.h"
#include "runtime/DiskCache.h"

#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
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

} // namespace

std::string cacheDirectory() { return mixc::cacheDirectory(); }

std::string compileAndLoad(const std::string &source, const std::vector<std::pair<std::string, std::string>> &headers,
                           const std::string &symbol, const CpuIsa &isa, LoadedKernel &out) {
  if (std::string why = cannotRunHere(isa); !why.empty()) return why;
  std::string cxx = compilerCommand();
  const std::string kFlags = kernelFlags(isa) + " -shared -fPIC";
  uint64_t h = fnv1a(source);
  for (const auto &[name, text] : headers) h = fnv1a(text, fnv1a(name, h));
  h = fnv1a(cxx + kFlags, h);
  std::string dir = cacheDirectory() + "/" + hexKey(h);
  std::string so = dir + "/kernel.so";
  out.path = so;
  out.cached = fileExists(so);
  if (!out.cached) {
    makeDirs(dir);
    for (const auto &[name, text] : headers) std::ofstream(dir + "/" + name) << text;
    std::ofstream(dir + "/kernel.cpp") << source;
    // Build under a private name, then rename: concurrent users never load a
    // half-written object.
    std::string tmp = so + ".tmp" + std::to_string(getpid());
    std::string cmd = cxx + " " + kFlags + " -I" + dir + " " + dir + "/kernel.cpp -o " + tmp;
    if (std::string e = runLogged(cmd, dir + "/compile.log"); !e.empty() || !fileExists(tmp))
      return "the host compiler failed " + (e.empty() ? "(" + cmd + ")" : e);
    if (std::rename(tmp.c_str(), so.c_str()) != 0) return "cannot move the kernel into the cache at " + so;
  }
  void *handle = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return std::string("cannot load ") + so + ": " + dlerror();
  out.fn = reinterpret_cast<mixc_kernel_fn>(dlsym(handle, symbol.c_str()));
  out.plain = reinterpret_cast<mixc_kernel_fn>(dlsym(handle, (symbol + "_plain").c_str()));
  if (!out.fn || !out.plain) return "symbol " + symbol + " not found in " + so;
  return "";
}

} // namespace mixc::cpu
