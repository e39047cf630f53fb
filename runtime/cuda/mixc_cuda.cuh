// The CUDA tile library that generated kernels call (include this header
// only): here, strided loads and stores of any element type, the math of the
// pre-processing, rows, and the host side's argument checks; the schedules in
// headers of their own by scope (recurrent, tiles, chunked SSD/GLA, UT
// prepare, state walks, GLA prepare). What differs between families is
// generated (mixc emit --target=cuda); what is the same for all lives here
// once. Needs only the CUDA toolkit: no MLIR.
#ifndef MIXC_CUDA_CUH
#define MIXC_CUDA_CUH

#include "mixc_check.h"
#include "mixc_enums.h"
#include "mixc_tensor.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <cstdint>
#include <type_traits>
#include <vector>

namespace mixc::cuda {

using rt::DiagKind; // the dialect's enums (mixc_enums.h, generated from the ODS)
using rt::Structure;

// ---- elements ------------------------------------------------------------------
__device__ __forceinline__ float loadElem(const void *p, int dtype, int64_t off) {
  if (dtype == MIXC_BF16) return __bfloat162float(((const __nv_bfloat16 *)p)[off]);
  if (dtype == MIXC_F16) return __half2float(((const __half *)p)[off]);
  return ((const float *)p)[off];
}
__device__ __forceinline__ void storeElem(void *p, int dtype, int64_t off, float x) {
  if (dtype == MIXC_BF16) ((__nv_bfloat16 *)p)[off] = __float2bfloat16(x);
  else if (dtype == MIXC_F16) ((__half *)p)[off] = __float2half(x);
  else ((float *)p)[off] = x;
}
// 8 consecutive elements from element offset `off` in 16-byte accesses: the
// address must be 16-byte aligned (the callers check on the host).
__device__ __forceinline__ void load8(const void *p, int dtype, int64_t off, float *x) {
  if (dtype == MIXC_F32) {
    const float4 a = *(const float4 *)((const float *)p + off), b = *(const float4 *)((const float *)p + off + 4);
    x[0] = a.x, x[1] = a.y, x[2] = a.z, x[3] = a.w, x[4] = b.x, x[5] = b.y, x[6] = b.z, x[7] = b.w;
    return;
  }
  const uint4 u = *(const uint4 *)((const uint16_t *)p + off);
  const uint32_t w[4] = {u.x, u.y, u.z, u.w};
  for (int i = 0; i < 4; ++i) {
    if (dtype == MIXC_BF16) {
      const float2 f = __bfloat1622float2(*(const __nv_bfloat162 *)&w[i]);
      x[2 * i] = f.x, x[2 * i + 1] = f.y;
    } else {
      const float2 f = __half22float2(*(const __half2 *)&w[i]);
      x[2 * i] = f.x, x[2 * i + 1] = f.y;
    }
  }
}
__device__ __forceinline__ void store8(void *p, int dtype, int64_t off, const float *x) {
  if (dtype == MIXC_F32) {
    *(float4 *)((float *)p + off) = make_float4(x[0], x[1], x[2], x[3]);
    *(float4 *)((float *)p + off + 4) = make_float4(x[4], x[5], x[6], x[7]);
    return;
  }
  uint32_t w[4];
  for (int i = 0; i < 4; ++i) {
    if (dtype == MIXC_BF16) {
      const __nv_bfloat162 h = __floats2bfloat162_rn(x[2 * i], x[2 * i + 1]);
      w[i] = *(const uint32_t *)&h;
    } else {
      const __half2 h = __floats2half2_rn(x[2 * i], x[2 * i + 1]);
      w[i] = *(const uint32_t *)&h;
    }
  }
  *(uint4 *)((uint16_t *)p + off) = make_uint4(w[0], w[1], w[2], w[3]);
}

// A 4-D strided view: element (i0, i1, i2, i3) at i0*s0 + i1*s1 + i2*s2 + i3*s3.
// Per-token operands are (b, t, h, d); states (b, h, k, v). A zero stride
// broadcasts (per-head values over b and t). Null data: absent (zeros).
// A grouped input (`grouped` in the spec: H / hg heads) is read at head h / hg.
struct View {
  void *p = nullptr;
  int dtype = MIXC_F32;
  int64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t hg = 1; // heads per group: head h reads row h / hg
  __host__ __device__ __forceinline__ int64_t head(int64_t h) const { // (a 32-bit division: heads are few)
    return (hg == 1 ? h : (int64_t)((uint32_t)h / (uint32_t)hg)) * s2;
  }
  __device__ __forceinline__ float at(int64_t i0, int64_t i1, int64_t i2, int64_t i3) const {
    return loadElem(p, dtype, i0 * s0 + i1 * s1 + head(i2) + i3 * s3);
  }
  __device__ __forceinline__ void set(int64_t i0, int64_t i1, int64_t i2, int64_t i3, float x) const {
    storeElem(p, dtype, i0 * s0 + i1 * s1 + head(i2) + i3 * s3, x);
  }
};
// Whether v holds [n0, n1, n2, w] packed in that order (a size-1 dimension's stride is any).
__host__ __device__ inline bool packedAs(const View &v, int64_t n0, int64_t n1, int64_t n2, int64_t w) {
  return v.hg == 1 && (w == 1 || v.s3 == 1) && (n2 == 1 || v.s2 == w) && (n1 == 1 || v.s1 == n2 * w) &&
         (n0 == 1 || v.s0 == n1 * n2 * w);
}

// (b, t) of the flat token index bt = b T + t, in 32-bit arithmetic where it
// fits: a 64-bit division by a run-time value is a long software routine.
__device__ __forceinline__ void tokenOf(int64_t bt, int64_t T, int64_t &b, int64_t &t) {
  if (bt <= 0xffffffffll && T <= 0xffffffffll) {
    const uint32_t x = (uint32_t)bt, n = (uint32_t)T, q = x / n;
    b = q, t = x - q * n;
  } else {
    b = bt / T, t = bt % T;
  }
}
// Token rows known to be bf16 (Bf16) are read and written without the dtype switch.
template <bool Bf16>
__device__ __forceinline__ float tokenAt(const View &v, int64_t b, int64_t t, int64_t h, int64_t j) {
  if constexpr (Bf16) return __bfloat162float(((const __nv_bfloat16 *)v.p)[b * v.s0 + t * v.s1 + v.head(h) + j * v.s3]);
  else return v.at(b, t, h, j);
}
template <bool Bf16>
__device__ __forceinline__ void tokenSet(const View &v, int64_t b, int64_t t, int64_t h, int64_t j, float x) {
  if constexpr (Bf16) ((__nv_bfloat16 *)v.p)[b * v.s0 + t * v.s1 + v.head(h) + j * v.s3] = __float2bfloat16(x);
  else v.set(b, t, h, j, x);
}

// A view of a user tensor of rank `lead` + one feature dimension (or none);
// per-head tensors given as [H, ...] instead of [1, 1, H, ...] are accepted.
inline View viewOf(const mixc_tensor &t, int fullRank) {
  View v;
  v.p = t.data;
  v.dtype = t.dtype;
  int lead = fullRank - t.ndim; // 2 when the leading [1, 1] is left out
  int64_t s[6] = {0, 0, 0, 0, 0, 0};
  for (int d = 0; d < t.ndim && d + lead < 6; ++d) s[d + lead] = t.shape[d] == 1 ? 0 : t.strides[d];
  // Rows of several feature dimensions are flat (checkPackedRow): step by the last.
  v.s0 = s[0], v.s1 = s[1], v.s2 = s[2], v.s3 = fullRank > 3 ? s[fullRank - 1] : 0;
  return v;
}
// A view of a state-like tensor ([B, H, K, V] or [B, H]) as (b, h, k, v).
inline View stateView(const mixc_tensor &t) {
  View v;
  v.p = t.data;
  v.dtype = t.dtype;
  int64_t s[4] = {0, 0, 0, 0};
  for (int d = 0; d < t.ndim && d < 4; ++d) s[d] = t.strides[d];
  v.s0 = s[0], v.s1 = s[1], v.s2 = s[2], v.s3 = s[3];
  return v;
}
// A contiguous float scratch array [n0, n1, n2, n3].
inline View scratchView(float *p, int64_t n1, int64_t n2, int64_t n3) {
  View v;
  v.p = p;
  v.dtype = MIXC_F32;
  v.s3 = n3 == 1 ? 0 : 1, v.s2 = n3, v.s1 = n2 * n3, v.s0 = n1 * n2 * n3; // a row of one broadcasts
  return v;
}

// ---- math (the spellings the row printer uses) ------------------------------------
__device__ __forceinline__ float fastExp(float x) { return __expf(x); }
__device__ __forceinline__ float safeLog(float x) { return logf(x); }
__device__ __forceinline__ float mxAbs(float x) { return fabsf(x); }
__device__ __forceinline__ float mxSqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ float mxTanh(float x) { return tanhf(x); }
__device__ __forceinline__ float mxMax(float a, float b) { return fmaxf(a, b); }
__device__ __forceinline__ float mxMin(float a, float b) { return fminf(a, b); }
__device__ __forceinline__ float mxPow(float a, float b) { return powf(a, b); }
__device__ __forceinline__ float softplus(float x) { return fmaxf(x, 0.f) + log1pf(__expf(-fabsf(x))); }
__device__ __forceinline__ float logsigmoid(float x) { return fminf(x, 0.f) - log1pf(__expf(-fabsf(x))); }
__device__ __forceinline__ float sigmoid(float x) { return 1.f / (1.f + __expf(-x)); }
__device__ __forceinline__ float silu(float x) { return x / (1.f + __expf(-x)); }
__device__ __forceinline__ float elu(float x) { return x > 0.f ? x : __expf(x) - 1.f; }
__device__ __forceinline__ float relu(float x) { return fmaxf(x, 0.f); }

// ---- rows (pre-processing) -----------------------------------------------------------
// Reductions across the 32 lanes of a warp that computes one row (every lane gets the result).
__device__ __forceinline__ float warpSum(float x) {
  for (int o = 16; o; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}
__device__ __forceinline__ float warpMax(float x) {
  for (int o = 16; o; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
// One thread per row (whole-row maps the warp form does not cover):
__device__ __forceinline__ void copyRow(const float *x, int64_t n, float *o) {
  for (int64_t i = 0; i < n; ++i) o[i] = x[i];
}
__device__ __forceinline__ float rowSum(const float *x, int64_t n) {
  float s = 0.f;
  for (int64_t i = 0; i < n; ++i) s += x[i];
  return s;
}
__device__ __forceinline__ float rowDot(const float *x, const float *y, int64_t n) {
  float s = 0.f;
  for (int64_t i = 0; i < n; ++i) s += x[i] * y[i];
  return s;
}
__device__ __forceinline__ void l2normRow(const float *x, int64_t D, float *o) {
  float n = 0;
  for (int64_t i = 0; i < D; ++i) n += x[i] * x[i];
  float inv = rsqrtf(n + 1e-12f);
  for (int64_t i = 0; i < D; ++i) o[i] = x[i] * inv;
}
// The softmax over a row, shifted by its maximum (exp never overflows).
__device__ __forceinline__ void softmaxRow(const float *x, int64_t D, float *o) {
  float m = x[0], z = 0;
  for (int64_t i = 1; i < D; ++i) m = fmaxf(m, x[i]);
  for (int64_t i = 0; i < D; ++i) z += o[i] = __expf(x[i] - m);
  const float inv = 1.f / z;
  for (int64_t i = 0; i < D; ++i) o[i] *= inv;
}
// x^T W for a row x [D] and a head's matrix W [D, F]: in place through the
// parameter's View (HeadMatrix), or a constant's pointer.
struct HeadMatrix {
  const View &v;
  int64_t h;
  __device__ __forceinline__ float operator[](int64_t i) const { return v.at(0, 0, h, i); }
};
template <typename Matrix>
__device__ __forceinline__ void vecmatRow(const float *x, int64_t D, int64_t F, const Matrix &W, float *o) {
  for (int64_t f = 0; f < F; ++f) o[f] = 0.f;
  for (int64_t d = 0; d < D; ++d)
    for (int64_t f = 0; f < F; ++f) o[f] += x[d] * W[d * F + f];
}
__device__ __forceinline__ void taylor2Row(const float *x, int64_t D, float *o) {
  o[0] = 1;
  for (int64_t i = 0; i < D; ++i) o[1 + i] = x[i];
  for (int64_t i = 0; i < D; ++i)
    for (int64_t j = 0; j < D; ++j) o[1 + D + i * D + j] = x[i] * x[j] * 0.70710678118654752f;
}
__device__ __forceinline__ void readRow(const View &v, int64_t b, int64_t t, int64_t h, float *o, int64_t D) {
  for (int64_t i = 0; i < D; ++i) o[i] = v.at(b, t, h, i);
}
__device__ __forceinline__ void writeRow(const View &v, int64_t b, int64_t t, int64_t h, const float *x, int64_t D) {
  for (int64_t i = 0; i < D; ++i) v.set(b, t, h, i, x[i]);
}

} // namespace mixc::cuda

// A kernel's dynamic shared memory (the launch's bytes), 16-byte aligned
// (test/unit/CudaEmulation.h gives it the emulated CTA's buffer).
#define MIXC_DYNAMIC_SHARED(name) extern __shared__ __align__(16) unsigned char name[]

// The schedules and their pieces, each in a header of its own (in this order:
// each builds on the ones before).
#include "mixc_cuda_recurrent.cuh"
#include "mixc_cuda_tile.cuh"
#include "mixc_cuda_tile_ops.cuh"
#include "mixc_cuda_chunk_io.cuh"
#include "mixc_cuda_chunked.cuh"
#include "mixc_cuda_ut.cuh"
#include "mixc_cuda_walk.cuh"
#include "mixc_cuda_gla.cuh"
#include "mixc_cuda_ut_vector.cuh"
#include "mixc_cuda_tensor.cuh"
#include "mixc_cuda_route.cuh"
#include "mixc_cuda_sweep_grad.cuh"
#include "mixc_cuda_ut_grad.cuh"
#include "mixc_cuda_gla_grad.cuh"
#include "mixc_cuda_ut_vector_grad.cuh"
#include "mixc_cuda_checkpoint_grad.cuh"
#include "mixc_cuda_ut_grad_launch.cuh" // (the SSD form's falls back to the checkpointed sweep)

namespace mixc::cuda {

// ---- host side -------------------------------------------------------------------
// Refuses host memory for a tensor that the kernel reads or writes on the device.
inline bool checkDevicePointer(Checker &chk, const mixc_tensor &t, const char *role, const char *name) {
  if (!t.data) return true;
  cudaPointerAttributes attr;
  cudaError_t e = cudaPointerGetAttributes(&attr, t.data);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return !chk.fail("%s '%s': cannot query the pointer (%s)", role, name, cudaGetErrorString(e));
  }
  if (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged)
    return !chk.fail("%s '%s': not device memory (pass a CUDA device pointer)", role, name);
  return true;
}

// A row of several feature dimensions (from dimension `first` on) is read as
// one flat row: those dimensions must be packed.
inline bool checkPackedRow(Checker &chk, const mixc_tensor &t, int first, const char *role, const char *name) {
  if (!t.data) return true;
  int lead = t.ndim >= first + 2 ? 0 : 2; // per-head tensors may leave out [1, 1]
  for (int d = first - lead; d + 1 < t.ndim; ++d)
    if (d >= 0 && t.shape[d] > 1 && t.strides[d] != t.strides[d + 1] * t.shape[d + 1])
      return !chk.fail("%s '%s': unsupported stride %lld in dimension %d (the feature dimensions must be packed)",
                       role, name, (long long)t.strides[d], d);
  return true;
}

// cu_seqlens on the device, read back for the checks and the launch's grid:
// `host` receives the starts and `view` describes them (the same tensor in
// host memory), after the stream's work so far (one synchronization per
// packed call, as the host-side planning of other varlen kernels needs).
inline bool seqlensToHost(Checker &chk, const mixc_tensor &cu, void *stream, std::vector<int64_t> &host,
                          mixc_tensor &view) {
  if (!chk.seqlensLayout(&cu) || !checkDevicePointer(chk, cu, "input", "cu_seqlens")) return false;
  host.resize(cu.shape[0]);
  cudaStream_t s = (cudaStream_t)stream;
  cudaError_t e = cudaMemcpyAsync(host.data(), cu.data, host.size() * sizeof(int64_t), cudaMemcpyDeviceToHost, s);
  if (e == cudaSuccess) e = cudaStreamSynchronize(s);
  if (e != cudaSuccess) return !chk.fail("input 'cu_seqlens': cannot read it (%s)", cudaGetErrorString(e));
  view = cu;
  view.data = host.data();
  return true;
}

} // namespace mixc::cuda

#endif
