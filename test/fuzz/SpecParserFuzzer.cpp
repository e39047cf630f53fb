// libFuzzer target: any bytes given to the spec frontend end in a description
// or an error, never a crash, a hang or a sanitizer report.
#include "frontend/spec/Analysis.h"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mixc::spec::SourceFile src{"fuzz.mixer", std::string(reinterpret_cast<const char *>(data), size)};
  mixc::spec::AnalysisResult r = mixc::spec::analyze(src);
  if (r.desc) {
    // Exercise the consumers of a successful analysis too.
    (void)mixc::spec::describe(*r.desc);
    mixc::spec::Sizes sizes;
    for (int n : {r.desc->scale, r.desc->eps})
      if (n >= 0) (void)mixc::spec::evalConst(*r.desc, n, sizes);
  } else if (r.error.rfind("fuzz.mixer:", 0) != 0) {
    __builtin_trap(); // every error names the file and position
  }
  return 0;
}
