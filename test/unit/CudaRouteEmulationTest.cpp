// A mixture of memories' CUDA route kernels (mixc_cuda_route.cuh) run on host
// threads through test/unit/CudaEmulation.h against their definitions
// (docs/dialect.md, the route ops): the plan (each choice's position in its
// memory's sequence, by warp ballots), gathers of token rows and of slot rows
// (weighted: the backward's), the readouts mixed back per token (weighted or
// summed) and per slot, and the router weights' gradient. Rows narrower than
// a warp (the plane as one run) and wider ones (a row at a time) both, and
// the vector path (runs of 8 elements a lane) for contiguous planes.
#include "test/unit/CudaEmulation.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

using namespace mixc;

namespace {

constexpr int64_t B = 2, T = 9, k = 2, M = 3, H = 2;

cuda::View rowsView(std::vector<float> &x, int64_t rowsT, int64_t w) {
  cuda::View v;
  v.p = x.data();
  v.s3 = 1, v.s2 = w, v.s1 = H * w, v.s0 = rowsT * H * w;
  return v;
}

void checkWidth(int64_t w, bool vec) {
  std::mt19937_64 rng(3 + w);
  std::normal_distribution<float> n;
  // Each token picks k distinct memories.
  std::vector<int64_t> route(B * T * k);
  for (int64_t bt = 0; bt < B * T; ++bt) {
    std::vector<int64_t> m = {0, 1, 2};
    std::shuffle(m.begin(), m.end(), rng);
    for (int64_t j = 0; j < k; ++j) route[bt * k + j] = m[j];
  }
  // The plan.
  cuda::RoutePlan p;
  p.route = route.data(), p.rs0 = T * k, p.rs1 = k, p.rs2 = 1;
  p.B = B, p.T = T, p.k = k, p.M = M;
  std::vector<int32_t> pos(B * T * k, -1), count(B * M, 0);
  int bad = 0;
  p.pos = pos.data(), p.count = count.data();
  // (a block per (row, memory); 64 threads: the row split between two warps)
  emu::launch(Dim3{(unsigned)(B * M), 1, 1}, 64, [&] { cuda::routePositionsKernel<>(p, count.data(), &bad); });
  REQUIRE(bad == 0);
  // Positions in token order (slot order within a token), per (row, memory).
  std::vector<int64_t> want(B * T * k), seen(B * M, 0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < T * k; ++i) want[b * T * k + i] = seen[b * M + route[b * T * k + i]]++;
  for (int64_t i = 0; i < B * T * k; ++i) CHECK(pos[i] == want[i]);
  for (int64_t i = 0; i < B * M; ++i) CHECK(count[i] == seen[i]);
  p.L = *std::max_element(count.begin(), count.end());
  const int64_t L = p.L;
  auto blocks = [&](int64_t items) { return Dim3{cuda::warpBlocks(items), 1, 1}; };
  // Gathers: token rows, and slot rows weighted.
  std::vector<float> tokens(B * T * H * w), slots(B * T * k * H * w), weight(B * T * k);
  for (float &x : tokens) x = n(rng);
  for (float &x : slots) x = n(rng);
  for (float &x : weight) x = n(rng);
  cuda::View wv;
  wv.p = weight.data(), wv.s0 = T * k, wv.s1 = k, wv.s2 = 1;
  for (bool fromSlots : {false, true}) {
    std::vector<float> dst(B * M * L * H * w, -7.f); // the padding rows must come out zero
    cuda::View src = fromSlots ? rowsView(slots, T * k, w) : rowsView(tokens, T, w), d = rowsView(dst, L, w);
    emu::launch(blocks(B * M * L), 256, [&] { cuda::routePadKernel<>(d, p, H, w, vec); });
    emu::launch(blocks(B * T * k), 256,
                [&] { cuda::routeGatherKernel<>(src, fromSlots, d, p, H, w, fromSlots ? wv : cuda::View{}, vec); });
    std::vector<float> ref(dst.size(), 0.f);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t j = 0; j < k; ++j) {
          const int64_t i = b * T * k + t * k + j, m = b * M + route[i];
          const float f = fromSlots ? weight[i] : 1.f;
          for (int64_t e = 0; e < H * w; ++e)
            ref[(m * L + want[i]) * H * w + e] = f * (fromSlots ? slots[i * H * w + e] : tokens[(b * T + t) * H * w + e]);
        }
    CHECK(dst == ref);
  }
  // The memories' readouts y [B * M, L, H, w] mixed back: per token (weighted,
  // summed) and per slot; and the weights' gradient <do, y> per slot.
  std::vector<float> y(B * M * L * H * w), dO(B * T * H * w);
  for (float &x : y) x = n(rng);
  for (float &x : dO) x = n(rng);
  cuda::View yv = rowsView(y, L, w);
  for (int mode = 0; mode < 3; ++mode) { // weighted, summed, per slot
    const bool perSlot = mode == 2;
    std::vector<float> out(B * T * (perSlot ? k : 1) * H * w, -1.f);
    cuda::View o = rowsView(out, T * (perSlot ? k : 1), w), wt = mode == 0 ? wv : cuda::View{};
    emu::launch(blocks(B * T * (perSlot ? k : 1)), 256, [&] { cuda::routeScatterKernel<>(yv, wt, o, p, H, w, perSlot, vec); });
    std::vector<double> ref(out.size(), 0.0);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t j = 0; j < k; ++j) {
          const int64_t i = b * T * k + t * k + j, m = b * M + route[i];
          const int64_t row = perSlot ? i : b * T + t;
          for (int64_t e = 0; e < H * w; ++e)
            ref[row * H * w + e] += (mode == 0 ? weight[i] : 1.f) * y[(m * L + want[i]) * H * w + e];
        }
    for (size_t e = 0; e < out.size(); ++e) CHECK(std::fabs(out[e] - ref[e]) < 1e-5 * (1 + std::fabs(ref[e])));
  }
  std::vector<float> dw(B * T * k, 0.f);
  cuda::View dwv;
  dwv.p = dw.data(), dwv.s0 = T * k, dwv.s1 = k, dwv.s2 = 1;
  cuda::View dov = rowsView(dO, T, w);
  emu::launch(blocks(B * T * k), 256, [&] { cuda::routeWeightGradKernel<>(yv, dov, dwv, p, H, w, vec); });
  for (int64_t i = 0; i < B * T * k; ++i) {
    const int64_t b = i / (T * k), t = (i % (T * k)) / k, m = b * M + route[i];
    double s = 0;
    for (int64_t e = 0; e < H * w; ++e) s += (double)dO[(b * T + t) * H * w + e] * y[(m * L + want[i]) * H * w + e];
    CHECK(std::fabs(dw[i] - s) < 1e-4 * (1 + std::fabs(s)));
  }
}

} // namespace

TEST_CASE("CUDA route kernels (emulated): rows narrower than a warp", "[cuda-emulation]") { checkWidth(5, false); }

TEST_CASE("CUDA route kernels (emulated): rows a warp wide or more", "[cuda-emulation]") { checkWidth(40, false); }

// Contiguous planes whose size is a multiple of 8: runs of 8 elements a lane,
// a plane shorter than a warp's 256 (H x 4) and one longer (H x 136).
TEST_CASE("CUDA route kernels (emulated): planes moved in runs of 8", "[cuda-emulation]") {
  checkWidth(4, true);
  checkWidth(136, true);
}
