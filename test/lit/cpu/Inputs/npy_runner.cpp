// Runs an emitted CPU kernel on .npy files, for kernels built for another
// ISA and run under an emulator (qemu-user), where mixc cannot load them.
// Built with the kernel source and -DKERNEL=mixc_<name>.
// Usage: npy_runner IN.npy|- ... -- NAME=D0,D1,... ... OUTDIR
//   IN: the inputs in the kernel header's order ("-": an absent optional one);
//   NAME=shape: the outputs in order; each is written as OUTDIR/NAME.npy.
#include "Npy.h"
#include "mixc_tensor.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

extern "C" int KERNEL(const mixc_tensor *inputs, int num_inputs, mixc_tensor *outputs, int num_outputs,
                      int num_threads, char *error, int error_len);

int main(int argc, char **argv) {
  int i = 1;
  std::vector<std::vector<float>> inData;
  std::vector<std::vector<int64_t>> inShapes;
  for (; i < argc && std::string(argv[i]) != "--"; ++i) {
    mixc::NpyArray a;
    if (std::string(argv[i]) != "-") {
      if (std::string e = mixc::readNpy(argv[i], a); !e.empty()) {
        std::fprintf(stderr, "%s: %s\n", argv[i], e.c_str());
        return 2;
      }
    }
    inData.emplace_back(a.data.begin(), a.data.end());
    inShapes.push_back(a.shape);
  }
  if (i + 2 > argc) {
    std::fprintf(stderr, "usage: npy_runner IN... -- NAME=SHAPE... OUTDIR\n");
    return 2;
  }
  std::string outDir = argv[argc - 1];
  std::vector<std::string> outNames;
  std::vector<std::vector<int64_t>> outShapes;
  for (++i; i < argc - 1; ++i) {
    std::string s = argv[i];
    size_t eq = s.find('=');
    outNames.push_back(s.substr(0, eq));
    std::vector<int64_t> shape;
    for (size_t p = eq + 1; p < s.size();) {
      size_t c = s.find(',', p);
      shape.push_back(std::atoll(s.substr(p, c - p).c_str()));
      p = c == std::string::npos ? s.size() : c + 1;
    }
    outShapes.push_back(shape);
  }
  std::vector<mixc_tensor> in, out;
  for (size_t k = 0; k < inData.size(); ++k)
    in.push_back(inData[k].empty() ? mixc_tensor{}
                                   : mixc_contiguous(inData[k].data(), MIXC_F32, (int32_t)inShapes[k].size(),
                                                     inShapes[k].data()));
  std::vector<std::vector<float>> outData(outShapes.size());
  for (size_t k = 0; k < outShapes.size(); ++k) {
    int64_t n = 1;
    for (int64_t d : outShapes[k]) n *= d;
    outData[k].assign(n, 0.f);
    out.push_back(mixc_contiguous(outData[k].data(), MIXC_F32, (int32_t)outShapes[k].size(), outShapes[k].data()));
  }
  char error[512] = "";
  if (KERNEL(in.data(), (int)in.size(), out.data(), (int)out.size(), 2, error, sizeof error) != 0) {
    std::fprintf(stderr, "kernel: %s\n", error);
    return 1;
  }
  for (size_t k = 0; k < out.size(); ++k) {
    std::vector<double> d(outData[k].begin(), outData[k].end());
    if (std::string e = mixc::writeNpy(outDir + "/" + outNames[k] + ".npy", outShapes[k], d, "f4"); !e.empty()) {
      std::fprintf(stderr, "%s\n", e.c_str());
      return 2;
    }
  }
  return 0;
}
