// Same-process A/B of builds of one emitted CPU kernel: each argument is a
// shared object built from an emitted directory (`mixc emit SPEC --target=cpu
// --cpu-arch=... --shape H=..,K=..,V=.. -o DIR`, then `c++ <the printed flags>
// -fPIC -shared DIR/NAME.cpp DIR/mixc_cpu_tensor_ops.cpp -o X.so`, the .cpp inside DIR so that its quoted
// includes resolve there); their calls alternate 21 times on the same inputs
// and the median and minimum are printed. Cross-run comparisons on a shared VM
// move by up to 25%; alternating calls in one process do not.
// The problem (environment, defaults: GLA at B=1, T=4096, H=8, K=V=64):
// FN (the entry point, mixc_gla), B, T, H, K, V, and INPUTS, the inputs in
// order: per-token rows of K, V or 1 values (letters K, V, 1; KKVK: q, k, v,
// g) and per-head parameters [H] or [H, V] (P, W), followed by the initial
// state (absent) of KS x VS per head (default K x V: a feature map or a
// normalizer column makes it larger). PLAIN=1 times every other argument's
// FN_plain (the plain recurrence) instead.
// Build: c++ -O2 -I runtime bench/cpu/ab_kernels.cpp -o ab -ldl.
#include "mixc_tensor.h"
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <random>
#include <string>
#include <vector>
typedef int (*Fn)(const mixc_tensor *, int, mixc_tensor *, int, int, char *, int);
static int64_t env(const char *n, int64_t d) { return getenv(n) ? atoll(getenv(n)) : d; }
int main(int argc, char **argv) {
  const int64_t B = env("B", 1), T = env("T", 4096), H = env("H", 8), K = env("K", 64), V = env("V", 64);
  const int64_t KS = env("KS", K), VS = env("VS", V);
  const std::string fn = getenv("FN") ? getenv("FN") : "mixc_gla", widths = getenv("INPUTS") ? getenv("INPUTS") : "KKVK";
  const int stagger = (int)env("STAGGER", 0);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  auto alloc = [&](size_t n, int i) {
    char *p = (char *)aligned_alloc(1 << 21, ((n * 4 + (1 << 16)) + (1 << 21) - 1) / (1 << 21) * (1 << 21));
    return (float *)(p + i * stagger);
  };
  std::vector<mixc_tensor> in;
  std::vector<std::vector<int64_t>> shapes;
  shapes.reserve(widths.size() + 3);
  int i = 0;
  for (char w : widths) {
    const int64_t D = w == 'K' ? K : w == 'V' || w == 'W' ? V : 1;
    if (w == 'P' || w == 'W') shapes.push_back(w == 'P' ? std::vector<int64_t>{H} : std::vector<int64_t>{H, V});
    else shapes.push_back(w == '1' ? std::vector<int64_t>{B, T, H} : std::vector<int64_t>{B, T, H, D});
    int64_t n = 1;
    for (int64_t d : shapes.back()) n *= d;
    float *x = alloc(n, i++);
    for (int64_t e = 0; e < n; ++e) x[e] = nd(rng);
    in.push_back(mixc_contiguous(x, 0, (int)shapes.back().size(), shapes.back().data()));
  }
  shapes.push_back({B, H, KS, VS});
  in.push_back(mixc_contiguous(nullptr, 0, 4, shapes.back().data()));
  shapes.push_back({B, T, H, V});
  mixc_tensor out[2] = {mixc_contiguous(alloc(B * T * H * V, i++), 0, 4, shapes.back().data()),
                        mixc_contiguous(alloc(B * H * KS * VS, i++), 0, 4, shapes[shapes.size() - 2].data())};
  char err[256];
  std::vector<Fn> fns;
  std::vector<std::vector<double>> t(argc);
  for (int a = 1; a < argc; ++a) {
    void *h = dlopen(argv[a], RTLD_NOW | RTLD_LOCAL);
    if (!h) { printf("%s\n", dlerror()); return 1; }
    const std::string sym = a % 2 == 0 && getenv("PLAIN") ? fn + "_plain" : fn;
    fns.push_back((Fn)dlsym(h, sym.c_str()));
    if (!fns.back()) { printf("%s: no %s\n", argv[a], sym.c_str()); return 1; }
  }
  for (int r = 0; r < 21; ++r)
    for (size_t f = 0; f < fns.size(); ++f) {
      auto t0 = std::chrono::steady_clock::now();
      if (fns[f](in.data(), (int)in.size(), out, 2, 2, err, 256)) { printf("%s\n", err); return 1; }
      t[f].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
  for (size_t f = 0; f < fns.size(); ++f) {
    std::sort(t[f].begin(), t[f].end());
    printf("%-24s median %.3f ms  min %.3f\n", argv[f + 1], t[f][10], t[f][0]);
  }
}
