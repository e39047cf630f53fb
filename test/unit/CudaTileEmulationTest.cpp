// The emulated tensor-core primitives (test/unit/CudaEmulationTile.h) used
// the way the chunked kernels use mixc_cuda_tile.cuh's: a warp loads a 16 x 16
// A tile (row-major: loadA; stored transposed: loadAT) and the B operands of
// two 8-column tiles (n-major: loadBN; k-major: loadBK) from shared memory by
// ldmatrix, multiplies them with mma.sync and writes its accumulator elements
// by PTX's layout; the product must be A B of the bf16-rounded operands. Each
// load's address formula, the fragment layouts and the exchange between lanes
// must agree for that, so a wrong one fails. Also the tf32 product and bf16's
// round-to-nearest-even; and mixc_cuda_tile_ops.cuh's device functions over
// them as the chunked kernels call them: warpGemm over several k-tiles in
// each operand layout, and the UT form's inverse T = (I - L)^{-1} of a chunk
// (invertUnitLower, 8 warps) against float64.
#include "test/unit/CudaEmulation.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <limits>
#include <random>

using namespace mixc;
using cuda::tile::bf16;

namespace {

constexpr int LD = 24; // a row pitch wider than the tile

// C (16 x 16) = A (16 x 16) B (16 x 16) through the tile primitives.
void checkProduct(bool aTransposed, bool bKMajor) {
  std::mt19937_64 rng(11 + 2 * aTransposed + bKMajor);
  std::normal_distribution<float> nd;
  float A[16][16], Bm[16][16]; // A[m][k], Bm[k][n], bf16-rounded
  for (auto &row : A)
    for (float &x : row) x = __bfloat162float(__float2bfloat16(nd(rng)));
  for (auto &row : Bm)
    for (float &x : row) x = __bfloat162float(__float2bfloat16(nd(rng)));
  static bf16 sa[16 * LD], sb[16 * LD]; // "shared memory"
  for (int m = 0; m < 16; ++m)
    for (int k = 0; k < 16; ++k) (aTransposed ? sa[k * LD + m] : sa[m * LD + k]) = __float2bfloat16(A[m][k]);
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 16; ++n) (bKMajor ? sb[k * LD + n] : sb[n * LD + k]) = __float2bfloat16(Bm[k][n]);
  float C[16][16] = {};
  emu::launch(Dim3{1, 1, 1}, 32, [&] {
    uint32_t a[4], b[4];
    if (aTransposed) cuda::tile::loadAT(a, sa, LD);
    else cuda::tile::loadA(a, sa, LD);
    if (bKMajor) cuda::tile::loadBK(b, sb, LD);
    else cuda::tile::loadBN(b, sb, LD);
    float c0[4] = {}, c1[4] = {};
    cuda::tile::mma(c0, a, b[0], b[1]); // columns 0..7
    cuda::tile::mma(c1, a, b[2], b[3]); // columns 8..15
    const int g = (int)threadIdx.x / 4, t = (int)threadIdx.x % 4;
    for (int e = 0; e < 4; ++e) {
      const int m = g + 8 * (e / 2), n = 2 * t + e % 2;
      C[m][n] = c0[e], C[m][n + 8] = c1[e];
    }
  });
  double num = 0, den = 0;
  for (int m = 0; m < 16; ++m)
    for (int n = 0; n < 16; ++n) {
      double want = 0;
      for (int k = 0; k < 16; ++k) want += (double)A[m][k] * Bm[k][n];
      num += (C[m][n] - want) * (C[m][n] - want), den += want * want;
    }
  CHECK(std::sqrt(num / den) < 1e-6);
}

} // namespace

TEST_CASE("CUDA tiles (emulated): ldmatrix + mma.sync give A B for every operand layout", "[cuda-emulation]") {
  for (bool at : {false, true})
    for (bool bk : {false, true}) {
      INFO("A " << (at ? "transposed" : "row-major") << ", B " << (bk ? "k-major" : "n-major"));
      checkProduct(at, bk);
    }
}

TEST_CASE("CUDA tiles (emulated): the tf32 product and the accumulator", "[cuda-emulation]") {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<float> ud(-1.f, 1.f);
  static float a[16 * 12], b[8 * 10]; // A 16 x 8 (ld 12), B 8 x 8 (ld 10)
  for (float &x : a) x = ud(rng);
  for (float &x : b) x = ud(rng);
  float C[16][8];
  emu::launch(Dim3{1, 1, 1}, 32, [&] {
    const int g = (int)threadIdx.x / 4, t = (int)threadIdx.x % 4;
    float c[4] = {1.f, 1.f, 1.f, 1.f}; // accumulates onto what is there
    cuda::tile::mmaTf32(c, a, 12, b, 10);
    for (int e = 0; e < 4; ++e) C[g + 8 * (e / 2)][2 * t + e % 2] = c[e];
  });
  double num = 0, den = 0;
  for (int m = 0; m < 16; ++m)
    for (int n = 0; n < 8; ++n) {
      double want = 1;
      for (int k = 0; k < 8; ++k) want += (double)a[m * 12 + k] * b[k * 10 + n];
      num += (C[m][n] - want) * (C[m][n] - want), den += want * want;
    }
  CHECK(std::sqrt(num / den) < 2e-3); // tf32: 10 mantissa bits
  CHECK(std::sqrt(num / den) > 0);    // and not fp32: the operands' low bits are dropped
}

TEST_CASE("CUDA tiles (emulated): bf16 rounds to nearest, ties to even", "[cuda-emulation]") {
  CHECK(__bfloat162float(__float2bfloat16(1.0f + 1.0f / 256)) == 1.0f);               // tie, even below
  CHECK(__bfloat162float(__float2bfloat16(1.0f + 3.0f / 256)) == 1.0f + 4.0f / 256);  // tie, even above
  CHECK(__bfloat162float(__float2bfloat16(1.0f + 1.5f / 256)) == 1.0f + 2.0f / 256);  // above the tie
  CHECK(std::isnan(__bfloat162float(__float2bfloat16(std::nanf("")))));
  const uint32_t p = cuda::tile::pack(0.5f, -3.0f);
  CHECK(cuda::tile::detail::half(p, 0) == 0.5f);
  CHECK(cuda::tile::detail::half(p, 1) == -3.0f);
  const uint32_t s = cuda::tile::scalePair(p, 2.0f, 0.25f);
  CHECK(cuda::tile::detail::half(s, 0) == 1.0f);
  CHECK(cuda::tile::detail::half(s, 1) == -0.75f);
}

namespace {
// acc (16 x 32) = A (16 x 64) B (64 x 32) by warpGemm<4, AT, BK> over 4 k-tiles.
template <bool AT, bool BK> void checkWarpGemm() {
  constexpr int M = 16, KD = 64, N = 32, LA = 72, LB = 40;
  std::mt19937_64 rng(17 + 2 * AT + BK);
  std::normal_distribution<float> nd;
  static float A[M][KD], Bm[KD][N];
  for (auto &row : A)
    for (float &x : row) x = __bfloat162float(__float2bfloat16(nd(rng)));
  for (auto &row : Bm)
    for (float &x : row) x = __bfloat162float(__float2bfloat16(nd(rng)));
  static bf16 sa[KD * LA], sb[KD * LA];
  for (int m = 0; m < M; ++m)
    for (int k = 0; k < KD; ++k) (AT ? sa[k * LA + m] : sa[m * LA + k]) = __float2bfloat16(A[m][k]);
  for (int k = 0; k < KD; ++k)
    for (int n = 0; n < N; ++n) (BK ? sb[k * LB + n] : sb[n * LA + k]) = __float2bfloat16(Bm[k][n]);
  static float C[M][N];
  emu::launch(Dim3{1, 1, 1}, 32, [&] {
    float acc[4][4] = {};
    cuda::warpGemm<4, AT, BK>(acc, sa, LA, sb, BK ? LB : LA, 0, KD / 16);
    cuda::forTile<4>(acc, 0, 0, [&](int i, int j, float x, int, int) { C[i][j] = x; });
  });
  double num = 0, den = 0;
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double want = 0;
      for (int k = 0; k < KD; ++k) want += (double)A[m][k] * Bm[k][n];
      num += (C[m][n] - want) * (C[m][n] - want), den += want * want;
    }
  CHECK(std::sqrt(num / den) < 1e-6);
}
} // namespace

TEST_CASE("CUDA tile ops (emulated): warpGemm over k-tiles in each operand layout", "[cuda-emulation]") {
  checkWarpGemm<false, false>();
  checkWarpGemm<false, true>();
  checkWarpGemm<true, false>();
  checkWarpGemm<true, true>();
}

// L as the delta rule's chunk has it: L_ij = -beta_i <k_i, k_j> for j < i,
// unit keys, beta in (0.1, 1); T = (I - L)^{-1} in fp32 (tf32 products off
// the diagonal blocks) and bf16, every entry of the lower block triangle
// written (both start as NaN), against float64 forward substitution.
TEST_CASE("CUDA tile ops (emulated): the UT inverse of a chunk (invertUnitLower)", "[cuda-emulation]") {
  constexpr int C = cuda::chunk::C, LF = C + 4, LC = C + 8, KD = 32;
  std::mt19937_64 rng(29);
  std::normal_distribution<double> nd;
  std::uniform_real_distribution<double> ud(0.1, 1.0);
  std::vector<std::vector<double>> k(C, std::vector<double>(KD));
  std::vector<double> beta(C);
  for (int i = 0; i < C; ++i) {
    double n = 0;
    for (double &x : k[i]) x = nd(rng), n += x * x;
    for (double &x : k[i]) x /= std::sqrt(n);
    beta[i] = ud(rng);
  }
  static float LA[C * LF], TF[C * LF], PT[3 * 16 * 24];
  static bf16 Ts[C * LC];
  std::vector<std::vector<double>> L(C, std::vector<double>(C, 0.0));
  for (int i = 0; i < C; ++i)
    for (int j = 0; j < C; ++j) {
      if (j < i)
        for (int d = 0; d < KD; ++d) L[i][j] -= beta[i] * k[i][d] * k[j][d];
      LA[i * LF + j] = (float)L[i][j];
    }
  std::fill(std::begin(TF), std::end(TF), std::numeric_limits<float>::quiet_NaN());
  std::fill(std::begin(Ts), std::end(Ts), __float2bfloat16(std::numeric_limits<float>::quiet_NaN()));
  std::atomic<int> others{0};
  emu::launch(Dim3{1, 1, 1}, 256, [&] { cuda::invertUnitLower<LF, LC>(LA, TF, Ts, PT, [&] { ++others; }); });
  CHECK(others == 256 - C); // `meanwhile` on the threads the substitution leaves
  // T by forward substitution in float64: (I - L) T = I.
  std::vector<std::vector<double>> Tw(C, std::vector<double>(C, 0.0));
  for (int col = 0; col < C; ++col)
    for (int i = 0; i < C; ++i) {
      double s = i == col ? 1.0 : 0.0;
      for (int j = 0; j < i; ++j) s += L[i][j] * Tw[j][col];
      Tw[i][col] = s;
    }
  double num = 0, den = 0, numB = 0;
  bool written = true;
  for (int i = 0; i < C; ++i)
    for (int j = 0; j < C; ++j) {
      if (j / 16 > i / 16) continue; // the upper blocks are not the function's
      const double got = TF[i * LF + j], gotB = __bfloat162float(Ts[i * LC + j]);
      written = written && !std::isnan(got) && !std::isnan(gotB);
      num += (got - Tw[i][j]) * (got - Tw[i][j]), den += Tw[i][j] * Tw[i][j];
      numB += (gotB - Tw[i][j]) * (gotB - Tw[i][j]);
    }
  CHECK(written);
  INFO("relative L2: fp32 " << std::sqrt(num / den) << ", bf16 " << std::sqrt(numB / den));
  CHECK(std::sqrt(num / den) < 2e-3);  // tf32 products
  CHECK(std::sqrt(numB / den) < 1e-2); // and rounded to bf16
}
