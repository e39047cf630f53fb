// The tensor programs' row maps, their gradients and the broadcast operands'
// reductions (mixc_cuda_rows.cuh), a warp per row, run on host threads
// through test/unit/CudaEmulation.h against their definitions in double
// precision: rows narrower than a warp, wider and not a multiple of 32, more
// rows than the grid has warps (the grid-stride loop); each kind of
// reduction that reducePlan picks.
#include "test/unit/CudaEmulation.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <random>

using namespace mixc;

namespace {

std::vector<float> randomVector(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d;
  std::vector<float> x(n);
  for (float &v : x) v = d(rng);
  return x;
}


// The largest |got - want| over max(1, |want|).
double worst(const std::vector<float> &got, const std::vector<double> &want) {
  REQUIRE(got.size() == want.size());
  double w = 0;
  for (size_t i = 0; i < got.size(); ++i) w = std::max(w, std::abs(got[i] - want[i]) / std::max(1.0, std::abs(want[i])));
  return w;
}

constexpr int64_t kRows = 7; // more rows than the grid's 4 warps
const Dim3 kGrid{2, 1, 1};   // two CTAs of two warps

template <typename F> std::vector<float> runRows(std::vector<float> &x, int64_t din, int64_t dout, F f) {
  std::vector<float> out(kRows * dout, -7.f);
  const cuda::Tensor in = cuda::tensorOver(x, {kRows, din}), o = cuda::tensorOver(out, {kRows, dout});
  emu::launch(kGrid, 64, [&] { cuda::rowsKernel(in, o, din, dout, f); });
  return out;
}
template <typename F>
std::vector<float> runRows2(std::vector<float> &a, std::vector<float> &b, int64_t da, int64_t db, int64_t dout, F f) {
  std::vector<float> out(kRows * dout, -7.f);
  const cuda::Tensor ta = cuda::tensorOver(a, {kRows, da}), tb = cuda::tensorOver(b, {kRows, db}), o = cuda::tensorOver(out, {kRows, dout});
  emu::launch(kGrid, 64, [&] { cuda::rows2Kernel(ta, tb, o, da, db, dout, f); });
  return out;
}

void checkRowMaps(int64_t D) {
  std::vector<float> x = randomVector(kRows * D, 11 + D), g = randomVector(kRows * D, 23 + D);
  std::vector<double> want(kRows * D);
  // l2norm and its gradient
  for (int64_t r = 0; r < kRows; ++r) {
    double n = 0;
    for (int64_t i = 0; i < D; ++i) n += double(x[r * D + i]) * x[r * D + i];
    for (int64_t i = 0; i < D; ++i) want[r * D + i] = x[r * D + i] / std::sqrt(n + 1e-12);
  }
  CHECK(worst(runRows(x, D, D, cuda::L2normRow{}), want) < 1e-6);
  for (int64_t r = 0; r < kRows; ++r) {
    double n = 0, xg = 0;
    for (int64_t i = 0; i < D; ++i) n += double(x[r * D + i]) * x[r * D + i], xg += double(x[r * D + i]) * g[r * D + i];
    const double inv = 1 / std::sqrt(n + 1e-12);
    for (int64_t i = 0; i < D; ++i) want[r * D + i] = g[r * D + i] * inv - x[r * D + i] * xg * inv * inv * inv;
  }
  CHECK(worst(runRows2(x, g, D, D, D, cuda::L2normVjpRow{}), want) < 1e-5);
  // softmax and its gradient (from the result y)
  std::vector<double> y(kRows * D);
  for (int64_t r = 0; r < kRows; ++r) {
    double m = -1e300, z = 0;
    for (int64_t i = 0; i < D; ++i) m = std::max(m, double(x[r * D + i]));
    for (int64_t i = 0; i < D; ++i) z += std::exp(x[r * D + i] - m);
    for (int64_t i = 0; i < D; ++i) y[r * D + i] = std::exp(x[r * D + i] - m) / z;
  }
  CHECK(worst(runRows(x, D, D, cuda::SoftmaxRow{}), y) < 1e-6);
  std::vector<float> yf(y.begin(), y.end());
  for (int64_t r = 0; r < kRows; ++r) {
    double gy = 0;
    for (int64_t i = 0; i < D; ++i) gy += double(g[r * D + i]) * yf[r * D + i];
    for (int64_t i = 0; i < D; ++i) want[r * D + i] = yf[r * D + i] * (g[r * D + i] - gy);
  }
  CHECK(worst(runRows2(yf, g, D, D, D, cuda::SoftmaxVjpRow{}), want) < 1e-5);
  // sum, its gradient (every feature gets the row's g), dot
  std::vector<double> sums(kRows), dots(kRows);
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t i = 0; i < D; ++i) sums[r] += x[r * D + i], dots[r] += double(x[r * D + i]) * g[r * D + i];
  CHECK(worst(runRows(x, D, 1, cuda::SumRow{}), sums) < 1e-5);
  CHECK(worst(runRows2(x, g, D, D, 1, cuda::DotRows{}), dots) < 1e-5);
  std::vector<float> g1(g.begin(), g.begin() + kRows);
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t i = 0; i < D; ++i) want[r * D + i] = g1[r];
  CHECK(worst(runRows2(x, g1, D, 1, D, cuda::SumVjpRow{}), want) < 1e-7);
  // append a one, its gradient, concat, ones
  std::vector<double> app(kRows * (D + 1)), cat(kRows * 2 * D);
  for (int64_t r = 0; r < kRows; ++r) {
    for (int64_t i = 0; i < D; ++i) app[r * (D + 1) + i] = x[r * D + i], cat[r * 2 * D + i] = x[r * D + i];
    for (int64_t i = 0; i < D; ++i) cat[r * 2 * D + D + i] = g[r * D + i];
    app[r * (D + 1) + D] = 1;
  }
  CHECK(worst(runRows(x, D, D + 1, cuda::AppendOneRow{}), app) == 0);
  CHECK(worst(runRows2(x, g, D, D, 2 * D, cuda::ConcatRows{}), cat) == 0);
  std::vector<float> gApp = randomVector(kRows * (D + 1), 5);
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t i = 0; i < D; ++i) want[r * D + i] = gApp[r * (D + 1) + i];
  CHECK(worst(runRows2(x, gApp, D, D + 1, D, cuda::AppendOneVjpRow{}), want) == 0);
  CHECK(worst(runRows(x, D, 1, cuda::OnesRow{}), std::vector<double>(kRows, 1.0)) == 0);
  // normalize by the last feature (D - 1 values and their denominator) and its gradient
  for (bool maxAbs : {false, true}) {
    const float eps = 1e-3f, scale = 0.5f;
    std::vector<double> norm(kRows * (D - 1)), dnorm(kRows * D);
    for (int64_t r = 0; r < kRows; ++r) {
      const double den = x[r * D + D - 1], n = maxAbs ? std::max(std::abs(den), double(eps)) : den + eps;
      const double dn = maxAbs ? (std::abs(den) > eps ? (den > 0 ? 1 : -1) : 0) : 1;
      double acc = 0;
      for (int64_t j = 0; j + 1 < D; ++j) {
        norm[r * (D - 1) + j] = scale * x[r * D + j] / n;
        dnorm[r * D + j] = scale * g[r * D + j] / n;
        acc += double(g[r * D + j]) * scale * x[r * D + j];
      }
      dnorm[r * D + D - 1] = -acc / (n * n) * dn;
    }
    // relative to the row's largest value: a denominator near zero makes single entries large
    CHECK(worst(runRows(x, D, D - 1, cuda::NormalizeRow{maxAbs, eps, scale}), norm) < 1e-4);
    CHECK(worst(runRows2(x, g, D, D, D, cuda::NormalizeVjpRow{maxAbs, eps, scale}), dnorm) < 1e-4);
  }
}

void checkTaylor(int64_t D) {
  const int64_t F = 1 + D + D * D;
  std::vector<float> x = randomVector(kRows * D, 3 + D), g = randomVector(kRows * F, 4 + D);
  std::vector<double> want(kRows * F), dx(kRows * D);
  const double c = std::sqrt(0.5);
  for (int64_t r = 0; r < kRows; ++r) {
    const float *xr = &x[r * D], *gr = &g[r * F];
    want[r * F] = 1;
    for (int64_t i = 0; i < D; ++i) {
      want[r * F + 1 + i] = xr[i];
      double s = gr[1 + i];
      for (int64_t j = 0; j < D; ++j) {
        want[r * F + 1 + D + i * D + j] = double(xr[i]) * xr[j] * c;
        s += (double(gr[1 + D + i * D + j]) + gr[1 + D + j * D + i]) * xr[j] * c;
      }
      dx[r * D + i] = s;
    }
  }
  CHECK(worst(runRows(x, D, F, cuda::Taylor2Row{}), want) < 1e-6);
  CHECK(worst(runRows2(x, g, D, F, D, cuda::Taylor2VjpRow{}), dx) < 1e-5);
}

// The delta rules' fused l2norm over token rows (l2normTokenRowsKernel and its
// gradient, launchDeltaGrad's): x a bf16 input in head-first layout [B, H, T,
// D] read through its View, times a per-token scale, into packed bf16 and fp32
// rows; the gradient into an fp32 output View of that layout and in place.
void checkTokenRowNorms(int64_t D) {
  const int64_t B = 2, T = 3, H = 2, rows = B * T * H;
  std::vector<float> xf = randomVector(rows * D, 31 + D), sf = randomVector(rows, 37), g = randomVector(rows * D, 41 + D);
  std::vector<__nv_bfloat16> xb(xf.size());
  for (size_t i = 0; i < xf.size(); ++i) xb[i] = __float2bfloat16(xf[i]), xf[i] = __bfloat162float(xb[i]);
  auto headFirst = [&](void *p, int dtype) { // [B, H, T, D] read as (b, t, h, j)
    cuda::View v;
    v.p = p, v.dtype = dtype, v.s0 = H * T * D, v.s1 = D, v.s2 = T * D, v.s3 = 1;
    return v;
  };
  const cuda::View x = headFirst(xb.data(), MIXC_BF16);
  cuda::View s; // [B, T, H]
  s.p = sf.data(), s.s0 = T * H, s.s1 = H, s.s2 = 1, s.s3 = 0;
  // packed row r = (b T + t) H + h; the input's element of (r, j)
  auto xAt = [&](int64_t r, int64_t j) {
    const int64_t h = r % H, t = r / H % T, b = r / H / T;
    return double(xf[b * H * T * D + h * T * D + t * D + j]);
  };
  std::vector<double> y(rows * D), ys(rows * D), dx(rows * D);
  for (int64_t r = 0; r < rows; ++r) {
    double n = 0, xg = 0;
    for (int64_t j = 0; j < D; ++j) n += xAt(r, j) * xAt(r, j), xg += xAt(r, j) * g[r * D + j];
    const double inv = 1 / std::sqrt(n + 1e-12);
    for (int64_t j = 0; j < D; ++j) {
      y[r * D + j] = xAt(r, j) * inv, ys[r * D + j] = y[r * D + j] * sf[r];
      dx[r * D + j] = g[r * D + j] * inv - xAt(r, j) * xg * inv * inv * inv;
    }
  }
  std::vector<float> yf(rows * D, -7.f);
  emu::launch(kGrid, 64, [&] { cuda::l2normTokenRowsKernel<float>(x, cuda::View{}, yf.data(), T, H, D, rows); });
  CHECK(worst(yf, y) < 1e-6);
  std::vector<__nv_bfloat16> yb(rows * D);
  emu::launch(kGrid, 64, [&] { cuda::l2normTokenRowsKernel<__nv_bfloat16>(x, s, yb.data(), T, H, D, rows); });
  std::vector<float> ybf(rows * D);
  for (size_t i = 0; i < yb.size(); ++i) ybf[i] = __bfloat162float(yb[i]);
  CHECK(worst(ybf, ys) < 1e-2); // bf16 rounding
  std::vector<float> inPlace = g, toRows(rows * D, -7.f);
  emu::launch(kGrid, 64, [&] { cuda::l2normTokenRowsVjpKernel<>(x, inPlace.data(), cuda::View{}, T, H, D, rows); });
  CHECK(worst(inPlace, dx) < 1e-5);
  std::vector<float> gCopy = g;
  emu::launch(kGrid, 64, [&] {
    cuda::l2normTokenRowsVjpKernel<>(x, gCopy.data(), headFirst(toRows.data(), MIXC_F32), T, H, D, rows);
  });
  std::vector<double> dxHeadFirst(rows * D);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < D; ++j) {
      const int64_t h = r % H, t = r / H % T, b = r / H / T;
      dxHeadFirst[b * H * T * D + h * T * D + t * D + j] = dx[r * D + j];
    }
  CHECK(worst(toRows, dxHeadFirst) < 1e-5);
  CHECK(gCopy == g); // read only where an output View is given
}

// full [dims...] summed to out's shape; the plan's kind and the sums against double.
void checkReduce(std::initializer_list<int64_t> fullDims, std::initializer_list<int64_t> outDims,
                 cuda::ReducePlan::Kind kind) {
  int64_t n = 1, m = 1;
  for (int64_t d : fullDims) n *= d;
  for (int64_t d : outDims) m *= d;
  std::vector<float> x = randomVector(n, n + m), out(m, -7.f);
  const cuda::Tensor full = cuda::tensorOver(x, fullDims), o = cuda::tensorOver(out, outDims);
  const cuda::ReducePlan plan = cuda::reducePlan(full, o);
  REQUIRE(plan.kind == kind);
  if (kind == cuda::ReducePlan::general) return; // reduceToKernel's: not this header's
  REQUIRE(plan.R * plan.N * plan.W == n);
  REQUIRE(plan.N == m);
  // The sums by their definition: each element of full adds to out at its index with
  // out's size-1 (and missing) dimensions read as 0.
  std::vector<double> want(m, 0.0);
  std::vector<int64_t> fd(fullDims), od(outDims);
  for (int64_t e = 0; e < n; ++e) {
    int64_t rest = e, off = 0, stride = 1;
    std::vector<int64_t> idx(fd.size());
    for (int i = (int)fd.size() - 1; i >= 0; --i) idx[i] = rest % fd[i], rest /= fd[i];
    for (int i = (int)od.size() - 1; i >= 0; --i) off += (od[i] == 1 ? 0 : idx[i]) * stride, stride *= od[i];
    want[off] += x[e];
  }
  switch (plan.kind) {
  case cuda::ReducePlan::rows:
    emu::launch(Dim3{3, 1, 1}, 64, [&] { cuda::reduceRowsKernel(cuda::TensorElements{full.p}, o, plan.R, plan.N, plan.W); });
    break;
  case cuda::ReducePlan::columns:
    emu::launch(Dim3{2, 1, 1}, 1024, [&] { cuda::reduceColumnsKernel(cuda::TensorElements{full.p}, o, plan.R, plan.N); });
    break;
  case cuda::ReducePlan::block:
    emu::launch(Dim3{2, 1, 1}, 1024, [&] { cuda::reduceBlockKernel(cuda::TensorElements{full.p}, o, plan.R, plan.N, plan.W); });
    break;
  default: return; // copy, general: not this header's kernels
  }
  CHECK(worst(out, want) < 1e-5);
}

} // namespace

TEST_CASE("CUDA row maps (emulated): rows narrower than a warp", "[cuda-emulation]") {
  checkRowMaps(7);
  checkTaylor(3);
}

TEST_CASE("CUDA row maps (emulated): rows wider than a warp", "[cuda-emulation]") {
  checkRowMaps(77);
  checkTaylor(6);
}

TEST_CASE("CUDA token rows' l2norm and its gradient (emulated): launchDeltaGrad's fused norms", "[cuda-emulation]") {
  checkTokenRowNorms(7);
  checkTokenRowNorms(77);
}

TEST_CASE("CUDA reductions (emulated): each plan", "[cuda-emulation]") {
  using K = cuda::ReducePlan;
  checkReduce({1200, 5}, {1200, 1}, K::rows);                // trailing features: [B, T, H, K] -> [B, T, H]
  checkReduce({3, 5, 4, 7}, {3, 5, 4, 1}, K::block);         // ... with few outputs
  checkReduce({3, 5, 4, 7}, {1, 1, 4, 7}, K::columns);       // a per-head parameter's [H, K]
  checkReduce({3, 5, 70, 1}, {1, 1, 70, 1}, K::columns);     // more columns than a CTA's 32, size-1 dims skipped
  checkReduce({3, 5, 4, 7}, {1, 1, 4, 1}, K::block);         // a per-head scalar from [B, T, H, K]
  checkReduce({3, 5, 4, 7}, {1, 5, 4}, K::block);            // out of lower rank (left-aligned)
  checkReduce({2, 1100, 3}, {1, 1100, 1}, K::rows);          // many outputs, each a sum over R and W
  checkReduce({3, 5, 4, 7}, {3, 1, 4, 1}, K::general);       // kept dimensions not contiguous
  checkReduce({3, 5, 4, 7}, {3, 5, 4, 7}, K::copy);
}
