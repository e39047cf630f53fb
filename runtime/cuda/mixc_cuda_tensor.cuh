// Part of the CUDA tile library (mixc_cuda.cuh): whole-tensor operations for
// tensor programs, the form the CUDA target prints a derived backward in.
// Every value is a contiguous fp32 Tensor in scratch; each op is one kernel
// over it (the forward-shaped scans read Tensors through Views). Reductions
// (a broadcast operand's gradient, cumulative sums over tokens) run in a
// fixed order: the same inputs give bitwise-identical gradients.
#ifndef MIXC_CUDA_TENSOR_CUH
#define MIXC_CUDA_TENSOR_CUH

#include "mixc_cuda.cuh"

#include <initializer_list>

namespace mixc::cuda {

// A contiguous fp32 tensor [d0, ..., d{rank-1}] in device memory.
struct Tensor {
  float *p = nullptr;
  int rank = 0;
  int64_t d[6] = {1, 1, 1, 1, 1, 1};
  __host__ __device__ int64_t size() const {
    int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= d[i];
    return n;
  }
  // The elements after the first `lead` dimensions (a row's width).
  __host__ __device__ int64_t width(int lead) const {
    int64_t n = 1;
    for (int i = lead; i < rank; ++i) n *= d[i];
    return n;
  }
};

// A Tensor's extents without memory (a fused chain stored straight to an output).
inline Tensor shapeTensor(std::initializer_list<int64_t> dims) {
  Tensor t;
  for (int64_t x : dims) t.d[t.rank++] = x;
  return t;
}
inline Tensor newTensor(Scratch &scratch, std::initializer_list<int64_t> dims) {
  Tensor t;
  for (int64_t x : dims) t.d[t.rank++] = x;
  t.p = scratch.alloc(std::max<int64_t>(t.size(), 1));
  return t;
}

// A Tensor read as the scans read their operands: rows (b, t, h, j) of a
// per-token [B, T, H, ...] or per-head [1, 1, H, ...] tensor (size-1 and
// missing dimensions broadcast), or a state [B, H, K, V] as (b, h, k, v).
inline View rowView(const Tensor &t) {
  View v;
  v.p = t.p;
  v.dtype = MIXC_F32;
  const int64_t w = t.width(3);
  const int64_t d0 = t.rank > 0 ? t.d[0] : 1, d1 = t.rank > 1 ? t.d[1] : 1, d2 = t.rank > 2 ? t.d[2] : 1;
  v.s3 = w == 1 ? 0 : 1;
  v.s2 = d2 == 1 ? 0 : w;
  v.s1 = d1 == 1 ? 0 : d2 * w;
  v.s0 = d0 == 1 ? 0 : d1 * d2 * w;
  return v;
}
inline View stateTensorView(const Tensor &t) {
  View v;
  v.p = t.p;
  v.dtype = MIXC_F32;
  v.s3 = 1, v.s2 = t.d[3], v.s1 = t.d[2] * t.d[3], v.s0 = t.d[1] * t.d[2] * t.d[3];
  return v;
}

#define MIXC_GRID_STRIDE(e, n)                                                                                      \
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < (n); e += (int64_t)gridDim.x * blockDim.x)
inline unsigned gridFor(int64_t n) { return (unsigned)std::min<int64_t>(std::max<int64_t>((n + 255) / 256, 1), 65535); }

// The offset in `t` of the element at index `idx` of a larger shape, under
// left-aligned broadcasting (size-1 and missing dimensions read index 0).
__device__ __forceinline__ int64_t broadcastAt(const Tensor &t, const int64_t *idx) {
  int64_t off = 0;
  for (int i = 0; i < t.rank; ++i) off = off * t.d[i] + (t.d[i] == 1 ? 0 : idx[i]);
  return off;
}
// Indices in 32-bit arithmetic where the tensor's elements fit: a 64-bit
// division is a long software routine, and these kernels did little else
// (a pointwise op over [4, 4096, 64, 128] took 2.2 ms on an H100).
__device__ __forceinline__ void indexOf(const Tensor &t, int64_t e, int64_t *idx) {
  if (e <= 0x7fffffffll && t.size() <= 0x7fffffffll) {
    uint32_t x = (uint32_t)e;
    for (int i = t.rank - 1; i >= 0; --i) {
      const uint32_t n = (uint32_t)t.d[i], q = x / n;
      idx[i] = x - q * n, x = q;
    }
    return;
  }
  for (int i = t.rank - 1; i >= 0; --i) idx[i] = e % t.d[i], e /= t.d[i];
}
// Quotient and remainder of non-negative indices, in 32-bit arithmetic where both fit.
__device__ __forceinline__ int64_t idiv(int64_t a, int64_t b) {
  return ((uint64_t)a | (uint64_t)b) <= 0x7fffffffull ? (int64_t)((uint32_t)a / (uint32_t)b) : a / b;
}
__device__ __forceinline__ int64_t imod(int64_t a, int64_t b) {
  return ((uint64_t)a | (uint64_t)b) <= 0x7fffffffull ? (int64_t)((uint32_t)a % (uint32_t)b) : a % b;
}
// (i0, i1, i2, j) of element e of rows [n0, n1, n2, w] (32-bit where it fits).
__device__ __forceinline__ void rowIndex(int64_t e, int64_t w, int64_t n2, int64_t n1, int64_t total, int64_t &i0,
                                         int64_t &i1, int64_t &i2, int64_t &j) {
  if (total <= 0x7fffffffll) {
    const uint32_t x = (uint32_t)e, r = x / (uint32_t)w, r2 = r / (uint32_t)n2;
    j = x - r * (uint32_t)w, i2 = r - r2 * (uint32_t)n2, i1 = r2 % (uint32_t)n1, i0 = r2 / (uint32_t)n1;
    return;
  }
  const int64_t r = e / w, r2 = r / n2;
  j = e % w, i2 = r % n2, i1 = r2 % n1, i0 = r2 / n1;
}

// ---- inputs and outputs ------------------------------------------------------------
// rows: a user tensor as (b, t, h, j) through viewOf; state: as (b, h, k, v).
template <bool State> __global__ void loadKernel(const View v, Tensor out) {
  const int64_t w = State ? out.d[3] : out.width(3), n2 = State ? out.d[2] : (out.rank > 2 ? out.d[2] : 1),
                n1 = out.rank > 1 ? out.d[1] : 1;
  const int64_t n = out.size();
  MIXC_GRID_STRIDE(e, n) {
    int64_t i0, i1, i2, j;
    rowIndex(e, w, n2, n1, n, i0, i1, i2, j);
    out.p[e] = v.at(i0, i1, i2, j);
  }
}
// `shape`'s elements, each src(e), stored through v as rows (b, t, h, j) or,
// with State, as a state (b, h, k, v); where v is packed in that order (fp32 or
// bf16) and the source gives aligned quads, four elements a thread.
template <bool State, typename Src>
__device__ __forceinline__ void storeElements(const Tensor &shape, const View &v, const Src &src) {
  const int64_t w = State ? shape.d[3] : shape.width(3),
                n2 = State ? shape.d[2] : (shape.rank > 2 ? shape.d[2] : 1), n1 = shape.rank > 1 ? shape.d[1] : 1;
  const int64_t n = shape.size(), n0 = n ? n / (n1 * n2 * w) : 0;
  const bool packed = packedAs(v, n0, n1, n2, w) && n % 4 == 0 && src.quads();
  if (packed && v.dtype == MIXC_BF16 && (uintptr_t)v.p % 8 == 0) {
    MIXC_GRID_STRIDE(q, n / 4) {
      const float4 f = src.quad(q);
      uint2 o;
      o.x = tile::pack(f.x, f.y), o.y = tile::pack(f.z, f.w);
      ((uint2 *)v.p)[q] = o;
    }
    return;
  }
  if (packed && v.dtype == MIXC_F32 && (uintptr_t)v.p % 16 == 0) {
    MIXC_GRID_STRIDE(q, n / 4)((float4 *)v.p)[q] = src.quad(q);
    return;
  }
  MIXC_GRID_STRIDE(e, n) {
    int64_t i0, i1, i2, j;
    rowIndex(e, w, n2, n1, n, i0, i1, i2, j);
    v.set(i0, i1, i2, j, src(e));
  }
}
// A Tensor's elements for storeElements: four at a time where 16-byte aligned.
struct TensorQuads {
  const float *p;
  __device__ float operator()(int64_t e) const { return p[e]; }
  __device__ bool quads() const { return (uintptr_t)p % 16 == 0; }
  __device__ float4 quad(int64_t q) const { return ((const float4 *)p)[q]; }
};
template <bool State> __global__ void storeKernel(const Tensor in, View v) { storeElements<State>(in, v, TensorQuads{in.p}); }
// A state tensor [B, H, K, V] is a row tensor of rank 4 read as (b, h, k, v).
inline void loadTensor(const View &v, Tensor out, bool state, cudaStream_t s) {
  if (state) loadKernel<true><<<gridFor(out.size()), 256, 0, s>>>(v, out);
  else loadKernel<false><<<gridFor(out.size()), 256, 0, s>>>(v, out);
}
inline void storeTensor(const Tensor &in, const View &v, bool state, cudaStream_t s) {
  if (state) storeKernel<true><<<gridFor(in.size()), 256, 0, s>>>(in, v);
  else storeKernel<false><<<gridFor(in.size()), 256, 0, s>>>(in, v);
}

// An input's token rows ([B, T, H, D] or [B, T, H]) read by fused chains where
// the caller put them (its dtype and layout), not through an fp32 copy: the
// element at a flat offset of `shape` (the chains' index arithmetic is a
// Tensor's), directly where the rows are packed.
struct InputRows {
  View v;
  Tensor shape; // the extents (no data): broadcastAt and the offsets read it
  bool packed = false;
  __device__ __forceinline__ float at(int64_t off) const {
    if (packed) return loadElem(v.p, v.dtype, off);
    int64_t idx[6];
    indexOf(shape, off, idx);
    return v.at(idx[0], idx[1], idx[2], shape.rank > 3 ? idx[3] : 0);
  }
};
inline InputRows inputRows(const View &v, const Tensor &shape) {
  InputRows r;
  r.v = v, r.shape = shape;
  const int64_t B = shape.d[0], T = shape.d[1], H = shape.d[2], D = shape.rank > 3 ? shape.d[3] : 1;
  r.packed = v.hg == 1 && (D == 1 || v.s3 == 1) && (H == 1 || v.s2 == D) && (T == 1 || v.s1 == H * D) &&
             (B == 1 || v.s0 == T * H * D);
  return r;
}

// ---- pointwise ---------------------------------------------------------------------
// A chain of pointwise ops in one pass: f(idx, e) reads its Tensors at the
// result's index (left-aligned broadcasting; F::indexed) or flat index e
// (those of the result's shape) and computes the chain inline.
template <typename F> __global__ void fusedKernel(Tensor out, F f) {
  MIXC_GRID_STRIDE(e, out.size()) {
    if constexpr (F::indexed) {
      int64_t idx[6];
      indexOf(out, e, idx);
      out.p[e] = f(idx, e);
    } else {
      out.p[e] = f(nullptr, e);
    }
  }
}
// Element e of a fused chain at `shape` (its extents), computed where it is
// used: by a store (fusedStoreKernel) or a reduction (reduceChainTo).
template <typename F> __device__ __forceinline__ float chainAt(const Tensor &shape, const F &f, int64_t e) {
  if constexpr (F::indexed) {
    int64_t idx[6];
    indexOf(shape, e, idx);
    return f(idx, e);
  } else {
    return f(nullptr, e);
  }
}
template <typename F> struct ChainElements {
  Tensor shape;
  F f;
  __device__ float operator()(int64_t e) const { return chainAt(shape, f, e); }
  __device__ bool quads() const { return true; }
  __device__ float4 quad(int64_t q) const {
    return make_float4(chainAt(shape, f, 4 * q), chainAt(shape, f, 4 * q + 1), chainAt(shape, f, 4 * q + 2),
                       chainAt(shape, f, 4 * q + 3));
  }
};
// A chain whose value is only an output: computed and stored through the
// output's View in the same pass (no fp32 Tensor, no store pass).
template <typename F> __global__ void fusedStoreKernel(const Tensor shape, View v, F f) {
  storeElements<false>(shape, v, ChainElements<F>{shape, f});
}
template <typename F> __global__ void binaryKernel(const Tensor a, const Tensor b, Tensor out, F f) {
  MIXC_GRID_STRIDE(e, out.size()) {
    int64_t idx[6];
    indexOf(out, e, idx);
    out.p[e] = f(a.p[broadcastAt(a, idx)], b.p[broadcastAt(b, idx)]);
  }
}
// `full` summed over the dimensions that `out` broadcasts over (left-aligned),
// where the kept ones are not one contiguous run (reduceTo, mixc_cuda_rows.cuh,
// takes the others): a block per element of `out`, its threads over the summed elements in a
// fixed order, then a tree in shared memory (no atomics: deterministic).
template <typename = void> __global__ void reduceToKernel(const Tensor full, Tensor out) {
  __shared__ float part[256];
  int64_t reduced = 1;
  for (int i = 0; i < full.rank; ++i)
    if (i >= out.rank || out.d[i] == 1) reduced *= full.d[i];
  for (int64_t o = blockIdx.x; o < out.size(); o += gridDim.x) {
    int64_t oidx[6];
    indexOf(out, o, oidx);
    float acc = 0.f;
    for (int64_t r = threadIdx.x; r < reduced; r += blockDim.x) {
      int64_t rr = r, off = 0, idx[6];
      for (int i = full.rank - 1; i >= 0; --i) {
        if (i >= out.rank || out.d[i] == 1) idx[i] = rr % full.d[i], rr /= full.d[i];
        else idx[i] = oidx[i];
      }
      for (int i = 0; i < full.rank; ++i) off = off * full.d[i] + idx[i];
      acc += full.p[off];
    }
    part[threadIdx.x] = acc;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
      if ((int)threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
      __syncthreads();
    }
    if (threadIdx.x == 0) out.p[o] = part[0];
    __syncthreads();
  }
}
// x^T W per row: x [.., H, D] (rows of H heads in turn), W [1, 1, H, D, F].
template <typename = void> __global__ void vecmatKernel(const Tensor x, const Tensor w, Tensor out, int64_t H, int64_t D, int64_t F) {
  MIXC_GRID_STRIDE(e, out.size()) {
    const int64_t f = imod(e, F), r = idiv(e, F), h = H == 1 ? 0 : imod(r, H);
    float acc = 0.f;
    for (int64_t d = 0; d < D; ++d) acc += x.p[r * D + d] * w.p[(h * D + d) * F + f];
    out.p[e] = acc;
  }
}
// ... its gradient by the row: W g.
template <typename = void> __global__ void vecmatVjpRowKernel(const Tensor w, const Tensor g, Tensor out, int64_t H, int64_t D, int64_t F) {
  MIXC_GRID_STRIDE(e, out.size()) {
    const int64_t d = imod(e, D), r = idiv(e, D), h = H == 1 ? 0 : imod(r, H);
    float acc = 0.f;
    for (int64_t f = 0; f < F; ++f) acc += w.p[(h * D + d) * F + f] * g.p[r * F + f];
    out.p[e] = acc;
  }
}
// ... and by the matrix: the sum over head h's rows of x g^T, in token order.
template <typename = void> __global__ void vecmatVjpMatrixKernel(const Tensor x, const Tensor g, Tensor out, int64_t H, int64_t D, int64_t F,
                                      int64_t rows) {
  MIXC_GRID_STRIDE(e, out.size()) {
    const int64_t f = e % F, d = e / F % D, h = e / F / D;
    float acc = 0.f;
    for (int64_t r = h; r < rows; r += H) acc += x.p[r * D + d] * g.p[r * F + f];
    out.p[e] = acc;
  }
}
// One operand's columns [off, off + n) of g (concat's gradient, before reduceTo).
template <typename = void> __global__ void columnsKernel(const Tensor g, Tensor out, int64_t W, int64_t off, int64_t n) {
  MIXC_GRID_STRIDE(e, out.size()) out.p[e] = g.p[idiv(e, n) * W + off + imod(e, n)];
}
// dot's gradient: the other operand times the row's g.
template <typename = void> __global__ void dotVjpKernel(const Tensor other, const Tensor g, Tensor out, int64_t D) {
  MIXC_GRID_STRIDE(e, out.size()) out.p[e] = g.p[idiv(e, D)] * other.p[e];
}

// ---- tokens and states ------------------------------------------------------------------
// Packed sequences (cu_seqlens): seqStart [NS + 1] in device memory, the
// sequences' spans of batch row 0's T tokens; nullptr: B rows of T tokens.
// The span [first, end) of the sequence that holds token t of batch row b.
__device__ __forceinline__ void sequenceOf(const int64_t *seqStart, int64_t NS, int64_t b, int64_t t, int64_t T,
                                           int64_t &first, int64_t &end) {
  if (!seqStart) {
    first = 0, end = T;
    return;
  }
  int64_t lo = 0, hi = NS; // the last n with seqStart[n] <= t (empty sequences skipped)
  while (hi - lo > 1) {
    const int64_t mid = (lo + hi) / 2;
    (seqStart[mid] <= t ? lo : hi) = mid;
  }
  first = seqStart[lo], end = seqStart[lo + 1];
  (void)b;
}
// y_t = x_{t + by}, zero past the sequence's end; x [B, T, rest].
template <typename = void>
__global__ void shiftTokensKernel(const Tensor x, Tensor out, int64_t by, const int64_t *seqStart, int64_t NS) {
  const int64_t T = x.d[1], w = x.width(2);
  MIXC_GRID_STRIDE(e, out.size()) {
    const int64_t r = idiv(e, w), j = e - r * w, t = imod(r, T), b = idiv(r, T), s = t + by;
    int64_t first, end;
    sequenceOf(seqStart, NS, b, t, T, first, end);
    out.p[e] = s >= first && s < end ? x.p[(b * T + s) * w + j] : 0.f;
  }
}
// The tokens of each sequence in reverse order: a reverse scan is the forward
// one over its tokens flipped.
template <typename = void>
__global__ void flipTokensKernel(const Tensor x, Tensor out, const int64_t *seqStart, int64_t NS) {
  const int64_t T = x.d[1], w = x.width(2);
  MIXC_GRID_STRIDE(e, out.size()) {
    const int64_t r = idiv(e, w), j = e - r * w, t = imod(r, T), b = idiv(r, T);
    int64_t first, end;
    sequenceOf(seqStart, NS, b, t, T, first, end);
    out.p[e] = x.p[(b * T + (first + end - 1 - t)) * w + j];
  }
}
template <typename = void> __global__ void toBf16Kernel(const float *x, __nv_bfloat16 *y, int64_t n) {
  MIXC_GRID_STRIDE(e, n) y[e] = __float2bfloat16(x[e]);
}
// A scan operand as the chunked kernels stream it: a bf16 copy where the
// call's token inputs are bf16 (`sdt`), else the Tensor itself.
inline View streamedView(const Tensor &t, int sdt, Scratch &scratch, cudaStream_t s) {
  View v = rowView(t);
  if (sdt != MIXC_BF16) return v;
  auto *p = (__nv_bfloat16 *)scratch.alloc((t.size() + 1) / 2);
  if (!p) return v; // out of scratch: the fp32 operand (the recurrent sweep reads it)
  toBf16Kernel<><<<gridFor(t.size()), 256, 0, s>>>(t.p, p, t.size());
  v.p = p;
  v.dtype = MIXC_BF16;
  return v;
}

// Cumulative sums over the tokens, from init [B, rest] (or zero): a block per
// (b, column), each thread a contiguous segment of tokens summed in order, the
// segments' sums scanned by a fixed tree in shared memory, then each segment
// rescanned from its prefix (deterministic: the same order every call).
// Packed: a block per (sequence, column), init [NS, rest].
template <typename = void>
__global__ void tokenCumsumKernel(const Tensor x, const float *init, Tensor out, bool reverse, const int64_t *seqStart,
                                  int64_t NS) {
  __shared__ float part[256];
  const int64_t w = x.width(2), rows = seqStart ? NS : x.d[0];
  for (int64_t c = blockIdx.x; c < rows * w; c += gridDim.x) {
    const int64_t n = c / w, j = c % w;
    // The sequence's tokens: first + [0, T) of batch row b.
    const int64_t b = seqStart ? 0 : n, first = seqStart ? seqStart[n] : 0;
    const int64_t T = seqStart ? seqStart[n + 1] - first : x.d[1], L = (T + blockDim.x - 1) / blockDim.x;
    const int64_t u0 = threadIdx.x * L, u1 = u0 + L < T ? u0 + L : T;
    auto at = [&](int64_t u) { return (b * x.d[1] + first + (reverse ? T - 1 - u : u)) * w + j; };
    float seg = 0.f;
    for (int64_t u = u0; u < u1; ++u) seg += x.p[at(u)];
    part[threadIdx.x] = seg;
    __syncthreads();
    for (unsigned o = 1; o < blockDim.x; o <<= 1) { // inclusive scan of the segments' sums
      const float add = threadIdx.x >= o ? part[threadIdx.x - o] : 0.f;
      __syncthreads();
      part[threadIdx.x] += add;
      __syncthreads();
    }
    float acc = (init ? init[c] : 0.f) + (threadIdx.x ? part[threadIdx.x - 1] : 0.f);
    for (int64_t u = u0; u < u1; ++u) {
      acc += x.p[at(u)];
      out.p[at(u)] = acc;
    }
    __syncthreads();
  }
}
// The first (or last) token of each sequence: [B, T, rest] -> [B, rest]
// (packed: [NS, rest]; an input of one token per batch row, a per-head value,
// is the same for every sequence).
template <typename = void>
__global__ void edgeTokenKernel(const Tensor x, Tensor out, bool last, const int64_t *seqStart) {
  const int64_t T = x.d[1], w = x.width(2);
  MIXC_GRID_STRIDE(e, out.size()) {
    const int64_t n = idiv(e, w), j = e - n * w;
    if (seqStart && T > 1) {
      const int64_t first = seqStart[n], end = seqStart[n + 1];
      out.p[e] = end > first ? x.p[(last ? end - 1 : first) * w + j] : 0.f;
    } else {
      const int64_t b = seqStart ? 0 : n;
      out.p[e] = T > 0 ? x.p[(b * T + (last ? T - 1 : 0)) * w + j] : 0.f;
    }
  }
}
// [B, H, K, V] -> [B, H, V, K].
template <typename = void> __global__ void transposeStateKernel(const Tensor x, Tensor out) {
  const int64_t K = x.d[2], V = x.d[3];
  MIXC_GRID_STRIDE(e, out.size()) {
    const int64_t r = idiv(e, K), k = e - r * K, v = imod(r, V), bh = idiv(r, V);
    out.p[e] = x.p[(bh * K + k) * V + v];
  }
}
// Grouped heads: [.., H / G, w] spread over [.., H, w], and each group's sum back.
template <typename = void> __global__ void repeatHeadsKernel(const Tensor x, Tensor out, int64_t H, int64_t G, int64_t w) {
  MIXC_GRID_STRIDE(e, out.size()) {
    const int64_t q = idiv(e, w), j = e - q * w, h = imod(q, H), r = idiv(q, H);
    out.p[e] = x.p[(r * (H / G) + h / G) * w + j];
  }
}
template <typename = void> __global__ void sumHeadsKernel(const Tensor x, Tensor out, int64_t H, int64_t G, int64_t w) {
  MIXC_GRID_STRIDE(e, out.size()) {
    const int64_t q = idiv(e, w), j = e - q * w, hg = imod(q, H / G), r = idiv(q, H / G);
    float acc = 0.f;
    for (int64_t u = 0; u < G; ++u) acc += x.p[(r * H + hg * G + u) * w + j];
    out.p[e] = acc;
  }
}

} // namespace mixc::cuda

#include "mixc_cuda_rows.cuh" // the row maps, their gradients, the reductions that reduceTo picks

#endif
