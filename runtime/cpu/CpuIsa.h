// The instruction set a CPU kernel is built for: what the tiling pass blocks
// for (fp32 lanes per vector register, vector registers) and the host
// compiler flags that select it. MLIR-free: the driver, the printer and the
// compile cache share it.
#ifndef MIXC_RUNTIME_CPU_CPUISA_H
#define MIXC_RUNTIME_CPU_CPUISA_H

#include <string>
#include <vector>

namespace mixc::cpu {

struct CpuIsa {
  std::string name;     // x86-64-v3, x86-64-v4, armv8-a, ... (never "native": resolved)
  std::string describe; // for `mixc check`: "AVX2 + FMA, 16 x 256-bit registers"
  int lanes = 8;        // fp32 lanes of one vector register
  int registers = 16;   // architectural vector registers
  std::string flags;    // -march=... and the vector-width preference
  bool aarch64 = false; // built by an aarch64 compiler
  bool native = false;  // --cpu-arch=native: this host's best level, -march/-mcpu=native
};

/// The ISA levels `--cpu-arch` accepts besides "native".
std::vector<std::string> cpuIsaNames();

/// The ISA of `name` ("native": the best level this host runs, with
/// -march=native so that the compiler also tunes for it). Returns false and
/// sets `error` for an unknown name.
bool cpuIsaNamed(const std::string &name, CpuIsa &isa, std::string &error);

/// Why this host cannot run kernels built for `isa` ("" when it can).
std::string cannotRunHere(const CpuIsa &isa);

} // namespace mixc::cpu

#endif
