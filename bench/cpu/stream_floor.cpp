// The memory floor of an elementwise scan's traffic on this host: two inputs
// read and one output written, as HGRN at B=1, T=4096, H=8, V=64 moves them
// (c, f in, o out: 24 MB in fp32), over `threads` threads, repeated on the
// same buffers as `mixc bench` repeats its kernel (so the data may stay in the
// last-level cache, as it does for the kernel). Prints min and median ms.
//   c++ -O3 -march=native -pthread bench/cpu/stream_floor.cpp -o stream_floor && ./stream_floor 2
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

int main(int argc, char **argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const size_t n = size_t(4096) * 8 * 64;
  std::vector<float> a(n, 1.f), b(n, 0.5f), o(n);
  std::vector<double> ms;
  for (int r = 0; r < 31; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int w = 0; w < threads; ++w)
      pool.emplace_back([&, w] {
        for (size_t i = w * n / threads, end = (w + 1) * n / threads; i < end; ++i) o[i] = a[i] * b[i] + 1.f;
      });
    for (auto &t : pool) t.join();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("stream floor (2 reads + 1 write of %zu floats, %d threads): min %.3f ms, median %.3f ms (o[7] = %g)\n", n,
              threads, ms[0], ms[ms.size() / 2], o[7]);
}
