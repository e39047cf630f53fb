// Part of the CUDA tile library (mixc_cuda_tensor.cuh): the tensor programs'
// maps over a row of features (l2norm, softmax, the Taylor map, sums, ...),
// their gradients, and the reductions that sum a broadcast operand's gradient
// over the dimensions it was broadcast along.
//
// A warp per row: lane l takes features l, l + 32, ..., so a warp's loads are
// coalesced (a thread per row read 32 rows 512 bytes apart: KDA's l2norm
// gradient took 19 ms over [4, 4096, 64, 128] fp32 on an H100), and a row's
// sums are each lane's partial in feature order, then a fixed shuffle tree.
// The reductions also run in an order fixed by the shapes alone: the same
// inputs give bitwise-identical results on every call and every GPU.
// test/unit/CudaEmulation.h runs these kernels on host threads (the launches,
// host code, stay out of the emulation).
#ifndef MIXC_CUDA_ROWS_CUH
#define MIXC_CUDA_ROWS_CUH

namespace mixc::cuda {

// ---- row maps: f(lane, in row, width, out row), every lane of the warp calling ----
template <typename F> __global__ void rowsKernel(const Tensor in, Tensor out, int64_t din, int64_t dout, F f) {
  const int lane = threadIdx.x % 32;
  const int64_t rows = in.size() / din, warps = (int64_t)gridDim.x * (blockDim.x / 32);
  for (int64_t r = blockIdx.x * (int64_t)(blockDim.x / 32) + threadIdx.x / 32; r < rows; r += warps)
    f(lane, in.p + r * din, din, out.p + r * dout);
}
// f(lane, a row, width, b row, width, out row) per row of `out`, a and b of one row count.
template <typename F>
__global__ void rows2Kernel(const Tensor a, const Tensor b, Tensor out, int64_t da, int64_t db, int64_t dout, F f) {
  const int lane = threadIdx.x % 32;
  const int64_t rows = out.size() / dout, warps = (int64_t)gridDim.x * (blockDim.x / 32);
  for (int64_t r = blockIdx.x * (int64_t)(blockDim.x / 32) + threadIdx.x / 32; r < rows; r += warps)
    f(lane, a.p + r * da, da, b.p + r * db, db, out.p + r * dout);
}

struct L2normRow {
  __device__ void operator()(int lane, const float *x, int64_t D, float *o) const {
    float n = 0.f;
    for (int64_t i = lane; i < D; i += 32) n += x[i] * x[i];
    const float inv = rsqrtf(warpSum(n) + 1e-12f);
    for (int64_t i = lane; i < D; i += 32) o[i] = x[i] * inv;
  }
};
// Shifted by the row's maximum: exp never overflows.
struct SoftmaxRow {
  __device__ void operator()(int lane, const float *x, int64_t D, float *o) const {
    float m = -3.402823466e38f, z = 0.f;
    for (int64_t i = lane; i < D; i += 32) m = fmaxf(m, x[i]);
    m = warpMax(m);
    for (int64_t i = lane; i < D; i += 32) z += o[i] = __expf(x[i] - m);
    const float inv = 1.f / warpSum(z);
    for (int64_t i = lane; i < D; i += 32) o[i] *= inv;
  }
};
// [1, x, x (x) x / sqrt(2)]: 1 + D + D^2 features.
struct Taylor2Row {
  __device__ void operator()(int lane, const float *x, int64_t D, float *o) const {
    const int64_t n = 1 + D + D * D;
    for (int64_t e = lane; e < n; e += 32) {
      if (e == 0) o[e] = 1.f;
      else if (e <= D) o[e] = x[e - 1];
      else {
        const int64_t i = (e - 1 - D) / D, j = (e - 1 - D) - i * D;
        o[e] = x[i] * x[j] * 0.70710678118654752f;
      }
    }
  }
};
struct SumRow {
  __device__ void operator()(int lane, const float *x, int64_t D, float *o) const {
    float s = 0.f;
    for (int64_t i = lane; i < D; i += 32) s += x[i];
    s = warpSum(s);
    if (lane == 0) o[0] = s;
  }
};
struct AppendOneRow {
  __device__ void operator()(int lane, const float *x, int64_t D, float *o) const {
    for (int64_t i = lane; i < D; i += 32) o[i] = x[i];
    if (lane == 0) o[D] = 1.f;
  }
};
struct OnesRow {
  __device__ void operator()(int lane, const float *, int64_t, float *o) const {
    if (lane == 0) o[0] = 1.f;
  }
};
struct NormalizeRow { // o = scale x[:V] / (x[V] + eps), or / max(|x[V]|, eps)
  bool maxAbs;
  float eps, scale;
  __device__ void operator()(int lane, const float *x, int64_t Vs, float *o) const {
    const float den = x[Vs - 1], inv = scale / (maxAbs ? fmaxf(fabsf(den), eps) : den + eps);
    for (int64_t j = lane; j + 1 < Vs; j += 32) o[j] = x[j] * inv;
  }
};
struct DotRows {
  __device__ void operator()(int lane, const float *a, int64_t D, const float *b, int64_t, float *o) const {
    float s = 0.f;
    for (int64_t i = lane; i < D; i += 32) s += a[i] * b[i];
    s = warpSum(s);
    if (lane == 0) o[0] = s;
  }
};
struct ConcatRows {
  __device__ void operator()(int lane, const float *a, int64_t A, const float *b, int64_t C, float *o) const {
    for (int64_t i = lane; i < A; i += 32) o[i] = a[i];
    for (int64_t i = lane; i < C; i += 32) o[A + i] = b[i];
  }
};

// Gradients, row by row: (the map's input, or the softmax's result; g) -> dx.
struct L2normVjpRow {
  __device__ void operator()(int lane, const float *x, int64_t D, const float *g, int64_t, float *o) const {
    float n = 0.f, xg = 0.f;
    for (int64_t i = lane; i < D; i += 32) n += x[i] * x[i], xg += x[i] * g[i];
    n = warpSum(n), xg = warpSum(xg);
    const float inv = rsqrtf(n + 1e-12f), inv3 = inv * inv * inv;
    for (int64_t i = lane; i < D; i += 32) o[i] = g[i] * inv - x[i] * xg * inv3;
  }
};
struct SoftmaxVjpRow {
  __device__ void operator()(int lane, const float *y, int64_t D, const float *g, int64_t, float *o) const {
    float gy = 0.f;
    for (int64_t i = lane; i < D; i += 32) gy += g[i] * y[i];
    gy = warpSum(gy);
    for (int64_t i = lane; i < D; i += 32) o[i] = y[i] * (g[i] - gy);
  }
};
struct Taylor2VjpRow {
  __device__ void operator()(int lane, const float *x, int64_t D, const float *g, int64_t, float *o) const {
    for (int64_t i = lane; i < D; i += 32) {
      float s = g[1 + i];
      for (int64_t j = 0; j < D; ++j) s += (g[1 + D + i * D + j] + g[1 + D + j * D + i]) * x[j] * 0.70710678118654752f;
      o[i] = s;
    }
  }
};
struct SumVjpRow { // every feature gets the row's g
  __device__ void operator()(int lane, const float *, int64_t D, const float *g, int64_t, float *o) const {
    for (int64_t i = lane; i < D; i += 32) o[i] = g[0];
  }
};
struct AppendOneVjpRow {
  __device__ void operator()(int lane, const float *, int64_t D, const float *g, int64_t, float *o) const {
    for (int64_t i = lane; i < D; i += 32) o[i] = g[i];
  }
};
struct NormalizeVjpRow {
  bool maxAbs;
  float eps, scale;
  __device__ void operator()(int lane, const float *x, int64_t Vs, const float *g, int64_t, float *o) const {
    const int64_t V = Vs - 1;
    const float den = x[V], n = maxAbs ? fmaxf(fabsf(den), eps) : den + eps;
    const float dn = maxAbs ? (fabsf(den) > eps ? (den > 0 ? 1.f : -1.f) : 0.f) : 1.f;
    float acc = 0.f;
    for (int64_t j = lane; j < V; j += 32) {
      o[j] = scale * g[j] / n;
      acc += g[j] * scale * x[j];
    }
    acc = warpSum(acc);
    if (lane == 0) o[V] = -acc / (n * n) * dn;
  }
};

// ---- the delta rules' fused l2norm (l2norm_q, l2norm_b: launchDeltaGrad) ----
// Token rows [tokB, tokT, H, D] of a View (an input as given, any dtype and
// layout), row r = (b tokT + t) H + h, a warp each like the maps above.
// y = s x / ||x|| into packed rows: bf16 for the chunked kernels, fp32 for
// the sweeps; s, the per-token scale, where given (the scaled form's a and k).
template <typename Out>
__global__ void l2normTokenRowsKernel(const View x, const View s, Out *y, int64_t tokT, int64_t H, int64_t D,
                                      int64_t rows) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = (int64_t)gridDim.x * (blockDim.x / 32);
  for (int64_t r = blockIdx.x * (int64_t)(blockDim.x / 32) + threadIdx.x / 32; r < rows; r += warps) {
    const int64_t h = r % H, t = r / H % tokT, b = r / H / tokT;
    float n = 0.f;
    for (int64_t j = lane; j < D; j += 32) {
      const float v = x.at(b, t, h, j);
      n += v * v;
    }
    const float f = rsqrtf(warpSum(n) + 1e-12f) * (s.p ? s.at(b, t, h, 0) : 1.f);
    for (int64_t j = lane; j < D; j += 32) {
      const float v = x.at(b, t, h, j) * f;
      if constexpr (std::is_same_v<Out, float>) y[r * D + j] = v;
      else y[r * D + j] = __float2bfloat16(v);
    }
  }
}
// The gradient through that norm from g, the packed fp32 rows of the
// normalized rows' gradient: (g - y (y . g)) / ||x||, into `to` (an output
// View) where given, else in place.
template <typename = void>
__global__ void l2normTokenRowsVjpKernel(const View x, float *g, const View to, int64_t tokT, int64_t H, int64_t D,
                                         int64_t rows) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = (int64_t)gridDim.x * (blockDim.x / 32);
  for (int64_t r = blockIdx.x * (int64_t)(blockDim.x / 32) + threadIdx.x / 32; r < rows; r += warps) {
    const int64_t h = r % H, t = r / H % tokT, b = r / H / tokT;
    float *gr = g + r * D;
    float n = 0.f, xg = 0.f;
    for (int64_t j = lane; j < D; j += 32) {
      const float v = x.at(b, t, h, j);
      n += v * v, xg += v * gr[j];
    }
    n = warpSum(n), xg = warpSum(xg);
    const float inv = rsqrtf(n + 1e-12f), inv3 = inv * inv * inv;
    for (int64_t j = lane; j < D; j += 32) {
      const float d = gr[j] * inv - x.at(b, t, h, j) * xg * inv3;
      if (to.p) to.set(b, t, h, j, d);
      else gr[j] = d;
    }
  }
}

// ---- reductions: a broadcast operand's gradient ----------------------------------
// Where the dimensions kept are one contiguous run, `full` is [R, N, W] and
// `out` its N sums over R and W. kind: copy (R = W = 1), rows (a warp per
// output, lanes along W: R = 1 is the trailing sum, [B, T, H, K] -> [B, T, H]),
// columns (W = 1: lanes along N), block (a CTA per output: few outputs, each a
// long sum), or general (kept dimensions not contiguous: reduceToKernel).
constexpr int64_t kReduceBlockOutputs = 1024; // at most this many long sums: a CTA each
struct ReducePlan {
  enum Kind { copy, rows, columns, block, general } kind = general;
  int64_t R = 1, N = 1, W = 1;
};
inline ReducePlan reducePlan(const Tensor &full, const Tensor &out) {
  ReducePlan plan;
  if (full.size() == out.size()) {
    plan.kind = ReducePlan::copy, plan.N = out.size();
    return plan;
  }
  int state = 0; // 0: leading reduced dimensions, 1: kept ones, 2: trailing reduced ones
  for (int i = 0; i < full.rank; ++i) {
    if (full.d[i] == 1) continue;
    const bool kept = i < out.rank && out.d[i] == full.d[i];
    if (kept && state == 2) return ReducePlan{}; // a reduced dimension between kept ones
    if (kept) state = 1, plan.N *= full.d[i];
    else if (state == 0) plan.R *= full.d[i];
    else state = 2, plan.W *= full.d[i];
  }
  if (plan.W == 1) plan.kind = ReducePlan::columns;
  else if (plan.N <= kReduceBlockOutputs) plan.kind = ReducePlan::block;
  else plan.kind = ReducePlan::rows;
  return plan;
}

// The reductions read `full`'s element e as full(e): a Tensor's (TensorElements)
// or a fused chain's computed where it is summed (ChainElements,
// mixc_cuda_tensor.cuh: never written out).
struct TensorElements {
  const float *p;
  __device__ float operator()(int64_t e) const { return p[e]; }
};

// kind rows: a warp per output, lane l summing its W-run's elements l, l + 32,
// ... over r in order, then the shuffle tree.
template <typename Src> __global__ void reduceRowsKernel(const Src full, Tensor out, int64_t R, int64_t N, int64_t W) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = (int64_t)gridDim.x * (blockDim.x / 32);
  for (int64_t o = blockIdx.x * (int64_t)(blockDim.x / 32) + threadIdx.x / 32; o < N; o += warps) {
    float acc = 0.f;
    for (int64_t r = 0; r < R; ++r)
      for (int64_t i = lane; i < W; i += 32) acc += full((r * N + o) * W + i);
    acc = warpSum(acc);
    if (lane == 0) out.p[o] = acc;
  }
}
// kind columns: a CTA of 32 warps per 32 outputs (lane = column), warp w
// summing rows w, w + 32, ... in order; the 32 warps' sums added in warp order.
template <typename Src> __global__ void reduceColumnsKernel(const Src full, Tensor out, int64_t R, int64_t N) {
  __shared__ float part[32][33];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int64_t c0 = blockIdx.x * (int64_t)32; c0 < N; c0 += (int64_t)gridDim.x * 32) {
    const int64_t c = c0 + lane;
    float acc = 0.f;
    if (c < N)
      for (int64_t r = warp; r < R; r += 32) acc += full(r * N + c);
    part[warp][lane] = acc;
    __syncthreads();
    if (warp == 0) {
      float s = 0.f;
      for (int w = 0; w < 32; ++w) s += part[w][lane];
      if (c < N) out.p[c] = s;
    }
    __syncthreads();
  }
}
// kind block: a CTA of 32 warps per output, warp w taking its rows w, w + 32,
// ... (lanes along W), then the 32 warps' sums by one more shuffle tree.
template <typename Src> __global__ void reduceBlockKernel(const Src full, Tensor out, int64_t R, int64_t N, int64_t W) {
  __shared__ float part[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int64_t o = blockIdx.x; o < N; o += gridDim.x) {
    float acc = 0.f;
    for (int64_t r = warp; r < R; r += 32)
      for (int64_t i = lane; i < W; i += 32) acc += full((r * N + o) * W + i);
    acc = warpSum(acc);
    if (lane == 0) part[warp] = acc;
    __syncthreads();
    if (warp == 0) {
      const float s = warpSum(part[lane]);
      if (lane == 0) out.p[o] = s;
    }
    __syncthreads();
  }
}

#ifndef MIXC_CUDA_EMULATION
// Rows of `din` features in, `dout` out (rows = in.size() / din): a warp each.
template <typename F> inline void rows(const Tensor &in, Tensor out, int64_t din, int64_t dout, F f, cudaStream_t s) {
  rowsKernel<<<gridFor(in.size() / std::max<int64_t>(din, 1) * 32), 256, 0, s>>>(in, out, din, dout, f);
}
// Two operands of one row count, rows of da, db and dout.
template <typename F>
inline void rows2(const Tensor &a, const Tensor &b, Tensor out, int64_t da, int64_t db, int64_t dout, F f, cudaStream_t s) {
  rows2Kernel<<<gridFor(out.size() / std::max<int64_t>(dout, 1) * 32), 256, 0, s>>>(a, b, out, da, db, dout, f);
}
// The token rows' l2norm (times s where given) into packed rows y, and its gradient.
template <typename Out>
inline void l2normTokenRows(const View &x, const View &s, Out *y, int64_t tokB, int64_t tokT, int64_t H, int64_t D,
                            cudaStream_t st) {
  const int64_t rows = tokB * tokT * H;
  l2normTokenRowsKernel<Out><<<gridFor(rows * 32), 256, 0, st>>>(x, s, y, tokT, H, D, rows);
}
inline void l2normTokenRowsVjp(const View &x, float *g, const View &to, int64_t tokB, int64_t tokT, int64_t H,
                               int64_t D, cudaStream_t st) {
  const int64_t rows = tokB * tokT * H;
  l2normTokenRowsVjpKernel<><<<gridFor(rows * 32), 256, 0, st>>>(x, g, to, tokT, H, D, rows);
}
inline unsigned reduceCtas(int64_t n) { return (unsigned)std::min<int64_t>(std::max<int64_t>(n, 1), 65535); }
// The planned kinds' launches (rows, columns, block) over `full`'s elements.
template <typename Src> inline void reducePlanned(const ReducePlan &plan, const Src &full, Tensor out, cudaStream_t s) {
  switch (plan.kind) {
  case ReducePlan::rows: reduceRowsKernel<<<gridFor(plan.N * 32), 256, 0, s>>>(full, out, plan.R, plan.N, plan.W); return;
  case ReducePlan::columns:
    reduceColumnsKernel<<<reduceCtas((plan.N + 31) / 32), 1024, 0, s>>>(full, out, plan.R, plan.N);
    return;
  case ReducePlan::block: reduceBlockKernel<<<reduceCtas(plan.N), 1024, 0, s>>>(full, out, plan.R, plan.N, plan.W); return;
  default: return;
  }
}
// `full` summed to `out`'s shape (left-aligned broadcasting), by reducePlan's kind.
inline void reduceTo(const Tensor &full, Tensor out, cudaStream_t s) {
  const ReducePlan plan = reducePlan(full, out);
  switch (plan.kind) {
  case ReducePlan::copy:
    cudaMemcpyAsync(out.p, full.p, out.size() * sizeof(float), cudaMemcpyDeviceToDevice, s);
    return;
  case ReducePlan::general: reduceToKernel<><<<reduceCtas(out.size()), 256, 0, s>>>(full, out); return;
  default: reducePlanned(plan, TensorElements{full.p}, out, s);
  }
}
// A fused chain at `shape` (its extents) summed to `out`'s shape: computed where
// it is summed, or, for the kinds that need a Tensor (copy, general) and a
// chain read at the index per dimension, written to scratch first.
template <typename F> inline bool reduceChainTo(const Tensor &shape, const F &f, Tensor out, Scratch &scratch,
                                               cudaStream_t s) {
  const ReducePlan plan = reducePlan(shape, out);
  if (!F::indexed && plan.kind != ReducePlan::copy && plan.kind != ReducePlan::general) {
    reducePlanned(plan, ChainElements<F>{shape, f}, out, s);
    return true;
  }
  Tensor full = shape;
  if (!(full.p = scratch.alloc(std::max<int64_t>(full.size(), 1)))) return false;
  fusedKernel<<<gridFor(full.size()), 256, 0, s>>>(full, f);
  reduceTo(full, out, s);
  scratch.release(full.p);
  return true;
}
#endif // MIXC_CUDA_EMULATION

} // namespace mixc::cuda

#endif
