// Times one emitted Mamba-1 CPU kernel (examples/mamba.mixer) at B = 1, one
// head of V channels: few (head, value block) tasks for many threads, where
// the compiler picks the chunked scan. Built once per schedule by
// mamba_threads.sh; prints the kernel's and the plain recurrence's time and
// how far the kernel's output is from the plain recurrence's.
#include "mamba.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

namespace {
double medianMs(const std::function<void()> &f, int repeats) {
  f(); // warm up
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}
} // namespace

int main(int argc, char **argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s T K V THREADS\n", argv[0]);
    return 2;
  }
  const int64_t T = std::atoll(argv[1]), K = std::atoll(argv[2]), V = std::atoll(argv[3]);
  const int threads = std::atoi(argv[4]);
  std::mt19937 rng(7);
  std::normal_distribution<float> n01(0.f, 1.f);
  std::uniform_real_distribution<float> dtRaw(-4.f, -1.f), aLog(0.f, 2.7f);
  std::vector<float> x(T * V), B(T * K), C(T * K), dt(T * V), A(K * V), bias(V, 0.f), D(V), o(T * V), o2(T * V),
      st(K * V), st2(K * V);
  for (float &e : x) e = n01(rng);
  for (float &e : B) e = n01(rng);
  for (float &e : C) e = n01(rng);
  for (float &e : dt) e = dtRaw(rng);
  for (float &e : A) e = aLog(rng);
  for (float &e : D) e = n01(rng);
  auto view = [](void *p, std::vector<int64_t> shape) {
    return mixc_contiguous(p, MIXC_F32, (int32_t)shape.size(), shape.data());
  };
  mixc_tensor ins[8] = {view(x.data(), {1, T, 1, V}),  view(B.data(), {1, T, 1, K}), view(C.data(), {1, T, 1, K}),
                        view(dt.data(), {1, T, 1, V}), view(A.data(), {1, 1, 1, K, V}), view(bias.data(), {1, 1, 1, V}),
                        view(D.data(), {1, 1, 1, V}),  view(nullptr, {1, 1, K, V})};
  mixc_tensor outs[2] = {view(o.data(), {1, T, 1, V}), view(st.data(), {1, 1, K, V})};
  mixc_tensor outs2[2] = {view(o2.data(), {1, T, 1, V}), view(st2.data(), {1, 1, K, V})};
  char err[256];
  auto check = [&](int rc) {
    if (rc) std::fprintf(stderr, "error: %s\n", err), std::exit(1);
  };
  double tk = medianMs([&] { check(mixc_mamba(ins, 8, outs, 2, threads, err, sizeof err)); }, 7);
  double tp = medianMs([&] { check(mixc_mamba_plain(ins, 8, outs2, 2, threads, err, sizeof err)); }, 7);
  double num = 0, den = 0;
  for (int64_t i = 0; i < T * V; ++i) num += (o[i] - o2[i]) * (double)(o[i] - o2[i]), den += o2[i] * (double)o2[i];
  std::printf("T=%lld K=%lld V=%lld threads=%d: kernel %.3f ms, plain %.3f ms (%.2fx), rel. diff of o %.1e\n",
              (long long)T, (long long)K, (long long)V, threads, tk, tp, tp / tk, std::sqrt(num / den));
  return 0;
}
