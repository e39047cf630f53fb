#include "runtime/cpu/CpuIsa.h"

namespace mixc::cpu {

namespace {
// Named levels. AVX2 and SSE have 16 vector registers, AVX-512 and NEON 32;
// x86-64-v4 asks the compiler for 512-bit vectors (by default it keeps 256).
CpuIsa level(const std::string &name) {
  if (name == "x86-64-v2") return {name, "SSE4.2, 16 x 128-bit registers", 4, 16, "-march=x86-64-v2", false};
  if (name == "x86-64-v3") return {name, "AVX2 + FMA, 16 x 256-bit registers", 8, 16, "-march=x86-64-v3", false};
  if (name == "x86-64-v4")
    return {name, "AVX-512, 32 x 512-bit registers", 16, 32, "-march=x86-64-v4 -mprefer-vector-width=512", false};
  if (name == "armv8-a" || name == "aarch64")
    return {"armv8-a", "aarch64 NEON, 32 x 128-bit registers", 4, 32, "-march=armv8-a", true};
  return {};
}

bool hostIsAarch64() {
#if defined(__aarch64__)
  return true;
#else
  return false;
#endif
}

// Whether this (x86-64) host runs code of `level`.
bool hostRuns(const std::string &name) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  bool v2 = __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("popcnt");
  bool v3 = v2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2");
  bool v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  if (name == "x86-64-v2") return v2;
  if (name == "x86-64-v3") return v3;
  if (name == "x86-64-v4") return v4;
  return false;
#else
  (void)name;
  return false;
#endif
}
} // namespace

std::vector<std::string> cpuIsaNames() { return {"x86-64-v2", "x86-64-v3", "x86-64-v4", "armv8-a"}; }

bool cpuIsaNamed(const std::string &name, CpuIsa &isa, std::string &error) {
  if (name == "native") {
    // The best level this host runs, built with -march/-mcpu=native so that
    // the compiler also uses (and tunes for) whatever the host has beyond it.
    if (hostIsAarch64()) {
      isa = level("armv8-a");
      isa.flags = "-mcpu=native";
    } else if (hostRuns("x86-64-v4")) {
      isa = level("x86-64-v4");
      isa.flags = "-march=native -mprefer-vector-width=512";
    } else if (hostRuns("x86-64-v3")) {
      isa = level("x86-64-v3");
      isa.flags = "-march=native";
    } else {
      isa = level("x86-64-v2");
      isa.flags = "-march=native";
    }
    isa.native = true;
    isa.describe += ", native";
    return true;
  }
  isa = level(name);
  if (!isa.name.empty()) return true;
  error = "unknown CPU architecture '" + name + "' (expected native";
  for (const std::string &n : cpuIsaNames()) error += ", " + n;
  error += ")";
  return false;
}

std::string cannotRunHere(const CpuIsa &isa) {
  if (isa.aarch64 != hostIsAarch64())
    return std::string("this host is ") + (hostIsAarch64() ? "aarch64" : "x86-64") + ": kernels for " + isa.name +
           " can be emitted (mixc emit --target=cpu) but not run here";
  if (!isa.aarch64 && !isa.native && !hostRuns(isa.name))
    return "this host's CPU does not support " + isa.name + " (" + isa.describe + ")";
  return "";
}

} // namespace mixc::cpu
