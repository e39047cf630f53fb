// Same-process A/B of two builds of one emitted CPU kernel (GLA at
// B=1, T=4096, H=8, K=V=64): each argument is a shared object built from an
// emitted directory (`mixc emit examples/gla.mixer --target=cpu --cpu-arch=...
// --shape H=8,K=64,V=64 -o DIR`, then `c++ <the printed flags> -fPIC -shared
// DIR/gla.cpp -o X.so`, the .cpp inside DIR so that its quoted includes
// resolve there); their calls alternate 21 times on the same inputs and the
// median and minimum are printed. Cross-run comparisons on a shared VM move by
// up to 25%; alternating calls in one process do not.
// Build: c++ -O2 -I runtime bench/cpu/ab_kernels.cpp -o ab -ldl.
#include "mixc_tensor.h"
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>
#include <algorithm>
#include <cstdlib>
#include <dlfcn.h>
typedef int (*Fn)(const mixc_tensor *, int, mixc_tensor *, int, int, char *, int);
int main(int argc, char **argv) {
  int64_t B = 1, T = 4096, H = 8, D = 64;
  int stagger = getenv("STAGGER") ? atoi(getenv("STAGGER")) : 0;
  std::mt19937 rng(1); std::normal_distribution<float> nd;
  size_t n = B * T * H * D;
  auto alloc = [&](size_t n, int i) { char *p = (char *)aligned_alloc(1 << 21, n * 4 + (1 << 16)); return (float *)(p + i * stagger); };
  float *q = alloc(n, 0), *k = alloc(n, 1), *v = alloc(n, 2), *g = alloc(n, 3), *o = alloc(n, 4), *st = alloc(B * H * D * D, 5);
  for (size_t i = 0; i < n; ++i) q[i] = nd(rng), k[i] = nd(rng), v[i] = nd(rng), g[i] = nd(rng);
  int64_t sh[4] = {B, T, H, D}, ss[4] = {B, H, D, D};
  mixc_tensor in[5] = {mixc_contiguous(q, 0, 4, sh), mixc_contiguous(k, 0, 4, sh), mixc_contiguous(v, 0, 4, sh), mixc_contiguous(g, 0, 4, sh), mixc_contiguous(nullptr, 0, 4, ss)};
  mixc_tensor out[2] = {mixc_contiguous(o, 0, 4, sh), mixc_contiguous(st, 0, 4, ss)};
  char err[256];
  std::vector<Fn> fns; std::vector<std::vector<double>> t(argc);
  for (int i = 1; i < argc; ++i) { void *h = dlopen(argv[i], RTLD_NOW | RTLD_LOCAL); fns.push_back((Fn)dlsym(h, "mixc_gla")); }
  for (int r = 0; r < 21; ++r)
    for (size_t f = 0; f < fns.size(); ++f) {
      auto t0 = std::chrono::steady_clock::now();
      if (fns[f](in, 5, out, 2, 2, err, 256)) { printf("%s\n", err); return 1; }
      t[f].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
  for (size_t f = 0; f < fns.size(); ++f) { std::sort(t[f].begin(), t[f].end()); printf("%-16s median %.3f ms  min %.3f\n", argv[f + 1], t[f][10], t[f][0]); }
}
