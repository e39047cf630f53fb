// The CUDA tile library that generated kernels call: strided loads and stores
// of any element type, the math of the pre-processing, and the scans. What
// differs between families is generated (mixc emit --target=cuda); what is the
// same for all lives here once. Needs only the CUDA toolkit: no MLIR.
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

// A 4-D strided view: element (i0, i1, i2, i3) at i0*s0 + i1*s1 + i2*s2 + i3*s3.
// Per-token operands are (b, t, h, d); states (b, h, k, v). A zero stride
// broadcasts (per-head values over b and t). Null data: absent (zeros).
struct View {
  void *p = nullptr;
  int dtype = MIXC_F32;
  int64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  __device__ __forceinline__ float at(int64_t i0, int64_t i1, int64_t i2, int64_t i3) const {
    return loadElem(p, dtype, i0 * s0 + i1 * s1 + i2 * s2 + i3 * s3);
  }
  __device__ __forceinline__ void set(int64_t i0, int64_t i1, int64_t i2, int64_t i3, float x) const {
    storeElem(p, dtype, i0 * s0 + i1 * s1 + i2 * s2 + i3 * s3, x);
  }
};

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
  if constexpr (Bf16) return __bfloat162float(((const __nv_bfloat16 *)v.p)[b * v.s0 + t * v.s1 + h * v.s2 + j * v.s3]);
  else return v.at(b, t, h, j);
}
template <bool Bf16>
__device__ __forceinline__ void tokenSet(const View &v, int64_t b, int64_t t, int64_t h, int64_t j, float x) {
  if constexpr (Bf16) ((__nv_bfloat16 *)v.p)[b * v.s0 + t * v.s1 + h * v.s2 + j * v.s3] = __float2bfloat16(x);
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

// ---- rows (pre-processing, one thread per row) -----------------------------------
__device__ __forceinline__ void copyRow(const float *x, int64_t n, float *o) {
  for (int64_t i = 0; i < n; ++i) o[i] = x[i];
}
__device__ __forceinline__ void l2normRow(const float *x, int64_t D, float *o) {
  float n = 0;
  for (int64_t i = 0; i < D; ++i) n += x[i] * x[i];
  float inv = rsqrtf(n + 1e-12f);
  for (int64_t i = 0; i < D; ++i) o[i] = x[i] * inv;
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

// ---- the scans -------------------------------------------------------------------
// Operands of one recurrence. Token operands are (b, t, h, d) views of the
// user's tensors or of pre-processed scratch; rate (elementwise decay) is
// (0, h, k, v), bonus (0, 0, h, k); init and state are (b, h, k, v); m is (b, h, 0, 0).
struct ScanParams {
  View q, k, v, decay, dt, a, b, igate, rate, bonus, init, initM;
  // Per-token scales of k and a (b, t, h, 0), when the compiler passes k and a
  // as scalar multiples of one row (DeltaNet's beta k and -beta k): null otherwise.
  View kScale, aScale;
  View o, state, m; // a null state or m is not written
  int64_t B = 0, T = 0, H = 0, Vs = 0;
  float scale = 1.f;
  bool reverse = false;
};

// Sum over the KG lanes of a column group (consecutive, aligned lanes).
template <int KG> __device__ __forceinline__ float groupSum(float x) {
#pragma unroll
  for (int off = KG / 2; off > 0; off /= 2) x += __shfl_xor_sync(0xffffffffu, x, off);
  return x;
}

// The recurrent schedule: one CTA per (value block, head, batch), the K x VB
// block of the state in registers for the whole sequence. In a warp, CPW
// columns of KG = 32 / CPW lanes each; lane kg of a column holds the key rows
// kg, kg + KG, ... (interleaved, so that the lanes read distinct shared-memory
// banks). Tokens are staged through shared memory TC at a time, coalesced;
// every readout is a sum over the KG lanes by shuffles, and o leaves through
// shared memory in coalesced rows. mLSTM keeps its normalizer column n (column
// Vs - 1) in every column group, because every readout divides by it.
template <Structure S, int K, int CPW, int WARPS, int TC, DiagKind Diag, bool Bonus, bool Mlstm, bool HasDt,
          bool LogDecay>
__global__ void __launch_bounds__(WARPS * 32) scanRecurrent(const ScanParams p) {
  constexpr int KG = 32 / CPW, KR = (K + KG - 1) / KG, KP = KR * KG, VB = WARPS * CPW;
  constexpr bool VecDecay = S == Structure::vector || (S == Structure::dplr && Diag == DiagKind::vector);
  constexpr bool ScalarDecay = S == Structure::scalar || S == Structure::const_scalar ||
                               (S == Structure::dplr && Diag == DiagKind::scalar);
  constexpr bool Dplr = S == Structure::dplr;
  __shared__ float sq[TC][KP], sk[TC][KP], sv[TC][VB], so[TC][VB];
  __shared__ float sdec[VecDecay ? TC : 1][VecDecay ? KP : 1], sa[Dplr ? TC : 1][Dplr ? KP : 1],
      sb[Dplr ? TC : 1][Dplr ? KP : 1], sdt[HasDt ? TC : 1][HasDt ? VB : 1], sg[TC], sig[TC];
  const int64_t B = p.B, T = p.T, Vs = p.Vs;
  const int64_t V = Mlstm ? Vs - 1 : Vs;
  const int64_t h = blockIdx.y, b = blockIdx.z, j0 = (int64_t)blockIdx.x * VB;
  (void)B;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, c = lane / KG, kg = lane % KG;
  const int wc = warp * CPW + c;       // column within the block
  const int64_t j = j0 + wc;           // column of the state
  const bool live = j < V;
  float st[KR], nv[KR], rate[KR], bonus[KR];
#pragma unroll
  for (int i = 0; i < KR; ++i) {
    const int row = i * KG + kg;
    const bool in = row < K;
    st[i] = in && live && p.init.p ? p.init.at(b, h, row, j) : 0.f;
    nv[i] = Mlstm && in && p.init.p ? p.init.at(b, h, row, V) : 0.f;
    rate[i] = S == Structure::elementwise && in && live ? p.rate.at(0, h, row, j) : 0.f;
    bonus[i] = Bonus && in ? p.bonus.at(0, 0, h, row) : 0.f;
  }
  float m = Mlstm && p.initM.p ? p.initM.at(b, h, 0, 0) : 0.f;
  for (int64_t s0 = 0; s0 < T; s0 += TC) {
    const int n = (int)(T - s0 < TC ? T - s0 : TC);
    // Stage n tokens; rows past K are zeros and leave the state untouched.
    for (int e = threadIdx.x; e < n * KP; e += WARPS * 32) {
      const int u = e / KP, i = e % KP;
      const int64_t t = p.reverse ? T - 1 - (s0 + u) : s0 + u;
      const bool in = i < K;
      sq[u][i] = in ? p.q.at(b, t, h, i) : 0.f;
      sk[u][i] = in ? p.k.at(b, t, h, i) * (p.kScale.p ? p.kScale.at(b, t, h, 0) : 1.f) : 0.f;
      if constexpr (VecDecay) sdec[u][i] = in ? p.decay.at(b, t, h, i) : 0.f;
      if constexpr (Dplr) {
        sa[u][i] = in ? p.a.at(b, t, h, i) * (p.aScale.p ? p.aScale.at(b, t, h, 0) : 1.f) : 0.f;
        sb[u][i] = in ? p.b.at(b, t, h, i) : 0.f;
      }
    }
    for (int e = threadIdx.x; e < n * VB; e += WARPS * 32) {
      const int u = e / VB, jj = e % VB;
      const int64_t t = p.reverse ? T - 1 - (s0 + u) : s0 + u;
      const bool in = j0 + jj < V;
      sv[u][jj] = in ? p.v.at(b, t, h, j0 + jj) : 0.f;
      if constexpr (HasDt) sdt[u][jj] = in ? p.dt.at(b, t, h, j0 + jj) : 0.f;
    }
    for (int u = threadIdx.x; u < n; u += WARPS * 32) {
      const int64_t t = p.reverse ? T - 1 - (s0 + u) : s0 + u;
      if constexpr (ScalarDecay) sg[u] = p.decay.at(b, t, h, 0);
      if constexpr (Mlstm) sig[u] = p.igate.at(b, t, h, 0);
    }
    __syncthreads();
    for (int u = 0; u < n; ++u) {
      float q[KR], k[KR];
#pragma unroll
      for (int i = 0; i < KR; ++i) q[i] = sq[u][i * KG + kg], k[i] = sk[u][i * KG + kg];
      const float v = sv[u][wc];
      float o = 0.f;
      if constexpr (Bonus) {
        float qu = 0.f, qs = 0.f;
#pragma unroll
        for (int i = 0; i < KR; ++i) qu += q[i] * bonus[i] * k[i], qs += q[i] * st[i];
        o = p.scale * (groupSum<KG>(qs) + groupSum<KG>(qu) * v);
      }
      float ws = 1.f; // the write's scale (mLSTM's stabilized input gate)
      if constexpr (ScalarDecay && !Dplr) {
        float g = sg[u], f;
        if constexpr (Mlstm) {
          const float ig = sig[u], mNew = fmaxf(g + m, ig);
          f = __expf(g + m - mNew);
          ws = __expf(ig - mNew);
          m = mNew;
        } else {
          f = LogDecay ? __expf(g) : g;
        }
#pragma unroll
        for (int i = 0; i < KR; ++i) st[i] *= f, nv[i] *= f;
      } else if constexpr (S == Structure::vector) {
#pragma unroll
        for (int i = 0; i < KR; ++i) {
          const float g = sdec[u][i * KG + kg];
          st[i] *= LogDecay ? __expf(g) : g;
        }
      } else if constexpr (S == Structure::elementwise) {
        const float dt = HasDt ? sdt[u][wc] : 1.f;
#pragma unroll
        for (int i = 0; i < KR; ++i) st[i] *= __expf(rate[i] * dt);
      } else if constexpr (Dplr) {
        float w = 0.f;
#pragma unroll
        for (int i = 0; i < KR; ++i) w += sb[u][i * KG + kg] * st[i];
        w = groupSum<KG>(w);
        const float ds = Diag == DiagKind::scalar ? (LogDecay ? __expf(sg[u]) : sg[u]) : 1.f;
#pragma unroll
        for (int i = 0; i < KR; ++i) {
          float d = ds;
          if constexpr (Diag == DiagKind::vector) {
            const float g = sdec[u][i * KG + kg];
            d = LogDecay ? __expf(g) : g;
          }
          st[i] = d * st[i] + sa[u][i * KG + kg] * w;
        }
      }
#pragma unroll
      for (int i = 0; i < KR; ++i) st[i] += ws * k[i] * v;
      if constexpr (Mlstm) {
#pragma unroll
        for (int i = 0; i < KR; ++i) nv[i] += ws * k[i];
      }
      if constexpr (!Bonus) {
        float qs = 0.f;
#pragma unroll
        for (int i = 0; i < KR; ++i) qs += q[i] * st[i];
        o = groupSum<KG>(qs);
        float div = 1.f;
        if constexpr (Mlstm) {
          float den = 0.f;
#pragma unroll
          for (int i = 0; i < KR; ++i) den += q[i] * nv[i];
          div = fmaxf(fabsf(groupSum<KG>(den)), __expf(-m));
        }
        o *= p.scale / div;
      }
      if (kg == 0) so[u][wc] = o;
    }
    __syncthreads();
    for (int e = threadIdx.x; e < n * VB; e += WARPS * 32) {
      const int u = e / VB, jj = e % VB;
      const int64_t t = p.reverse ? T - 1 - (s0 + u) : s0 + u;
      if (j0 + jj < V) p.o.set(b, t, h, j0 + jj, so[u][jj]);
    }
  }
  if (p.state.p) {
#pragma unroll
    for (int i = 0; i < KR; ++i) {
      const int row = i * KG + kg;
      if (row < K && live) p.state.set(b, h, row, j, st[i]);
      if (Mlstm && row < K && j0 == 0 && wc == 0) p.state.set(b, h, row, V, nv[i]);
    }
  }
  if (Mlstm && p.m.p && threadIdx.x == 0 && j0 == 0) p.m.set(b, h, 0, 0, m);
}

// ---- tensor-core tiles (mma.sync m16n8k16, bf16 in, fp32 accumulate) -----------
// Fragment layouts are PTX's: in a warp, g = lane / 4 and t = lane % 4; an
// accumulator tile (16 x 8) holds rows g and g + 8, columns 2t and 2t + 1.
namespace tile {
using bf16 = __nv_bfloat16;
__device__ __forceinline__ uint32_t smemAddr(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }
// A 16 x 16 A operand from row-major shared memory (ld elements per row).
__device__ __forceinline__ void loadA(uint32_t a[4], const bf16 *base, int ld) {
  const int l = threadIdx.x % 32;
  uint32_t addr = smemAddr(base + (l % 16) * ld + (l / 16) * 8);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(a[0]), "=r"(a[1]), "=r"(a[2]), "=r"(a[3]) : "r"(addr));
}
// A 16 x 16 A operand stored transposed (base[k][m], row-major).
__device__ __forceinline__ void loadAT(uint32_t a[4], const bf16 *base, int ld) {
  const int l = threadIdx.x % 32;
  uint32_t addr = smemAddr(base + ((l % 8) + (l / 16) * 8) * ld + ((l / 8) % 2) * 8);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(a[0]), "=r"(a[1]), "=r"(a[2]), "=r"(a[3]) : "r"(addr));
}
// B operands of two adjacent n-tiles (k16 x n16) from n-major storage base[n][k].
__device__ __forceinline__ void loadBN(uint32_t b[4], const bf16 *base, int ld) {
  const int l = threadIdx.x % 32;
  uint32_t addr = smemAddr(base + ((l % 8) + (l / 16) * 8) * ld + ((l / 8) % 2) * 8);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(b[0]), "=r"(b[1]), "=r"(b[2]), "=r"(b[3]) : "r"(addr));
}
// The same from k-major storage base[k][n].
__device__ __forceinline__ void loadBK(uint32_t b[4], const bf16 *base, int ld) {
  const int l = threadIdx.x % 32;
  uint32_t addr = smemAddr(base + ((l % 8) + ((l / 8) % 2) * 8) * ld + (l / 16) * 8);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(b[0]), "=r"(b[1]), "=r"(b[2]), "=r"(b[3]) : "r"(addr));
}
// c += a * b (one 16 x 8 tile).
__device__ __forceinline__ void mma(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
               "{%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
// c += a * b for one 16 x 8 tile with k = 8 in tf32 (fp32 operands read from
// shared memory, A rows ld elements apart from a, B rows from b).
__device__ __forceinline__ void mmaTf32(float c[4], const float *a, int lda, const float *b, int ldb) {
  const int g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
  const uint32_t a0 = __float_as_uint(a[g * lda + t]), a1 = __float_as_uint(a[(g + 8) * lda + t]),
                 a2 = __float_as_uint(a[g * lda + t + 4]), a3 = __float_as_uint(a[(g + 8) * lda + t + 4]),
                 b0 = __float_as_uint(b[t * ldb + g]), b1 = __float_as_uint(b[(t + 4) * ldb + g]);
  asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
__device__ __forceinline__ uint32_t pack(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *(uint32_t *)&v;
}
__device__ __forceinline__ uint32_t scalePair(uint32_t x, float f0, float f1) {
  __nv_bfloat162 v = *(__nv_bfloat162 *)&x;
  return pack(__low2float(v) * f0, __high2float(v) * f1);
}
// 16 bytes global -> shared, asynchronously; zeros when !valid.
__device__ __forceinline__ void copy16(void *dst, const void *src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smemAddr(dst)), "l"(src),
               "r"(valid ? 16 : 0));
}
// 16 bytes global -> shared, asynchronously (always valid: no source size).
__device__ __forceinline__ void copy16(void *dst, const void *src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smemAddr(dst)), "l"(src));
}
// 4 bytes global -> shared, asynchronously; zero when !valid.
__device__ __forceinline__ void copy4(void *dst, const void *src, bool valid) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smemAddr(dst)), "l"(src), "r"(valid ? 4 : 0));
}
__device__ __forceinline__ void commit() { asm volatile("cp.async.commit_group;\n"); }
template <int N> __device__ __forceinline__ void waitGroups() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

// ---- warpgroup products (wgmma, sm_90a) ----
// Operand tiles in shared memory in the core-matrix layout without swizzle:
// a tile of R rows x W bf16 columns keeps each group of 8 columns as a block
// of R rows x 16 bytes, the blocks 16 R + 16 bytes apart, so element (r, c)
// is at byte (c / 8) (16 R + 16) + 16 r + 2 (c % 8). Read with the rows as M
// or N and the columns as the reduction (K-major), or with the rows as the
// reduction (MN-major, transposed). A row's 16-byte segment is one cp.async
// from a token row; the 16 bytes between blocks put the 8 segments of a
// 128-byte row in distinct banks, so whole rows copy without conflicts.
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define MIXC_WGMMA 1
#else
#define MIXC_WGMMA 0
#endif
__device__ __forceinline__ uint64_t wgDesc(const void *p, uint32_t lbo, uint32_t sbo) {
  const uint64_t a = smemAddr(p);
  return ((a & 0x3FFFF) >> 4) | ((uint64_t)(lbo >> 4) << 16) | ((uint64_t)(sbo >> 4) << 32);
}
template <int R> constexpr int tileGroup = 16 * R + 16;                   // bytes per 8 columns
template <int R, int W> constexpr int tileBytes = (W / 8) * tileGroup<R>; // an R x W tile
// The k-step ks (16 reduction columns) of an R-row tile read K-major, from row m0.
template <int R> __device__ __forceinline__ uint64_t wgKMajor(const unsigned char *tile, int ks, int m0 = 0) {
  return wgDesc(tile + ks * 2 * tileGroup<R> + m0 * 16, tileGroup<R>, 128);
}
// The k-step ks (16 reduction rows) of an R-row tile read MN-major, from column n0.
template <int R> __device__ __forceinline__ uint64_t wgMnMajor(const unsigned char *tile, int ks, int n0 = 0) {
  return wgDesc(tile + (n0 / 8) * tileGroup<R> + ks * 16 * 16, 128, tileGroup<R>);
}
// Byte offset of element (r, c) of an R-row tile.
template <int R> __device__ __forceinline__ int tileAt(int r, int c) {
  return (c / 8) * tileGroup<R> + r * 16 + (c % 8) * 2;
}
// d (64 x 32, fp32) += A B for one k-step of 16; TA, TB: the operand is MN-major. Accumulator element e of thread t: row
// 16 (t / 32) + (t % 32) / 4 + 8 ((e / 2) % 2), column 8 (e / 4) + 2 (t % 4) + e % 2.
// clang-format off
template <int TA, int TB> __device__ __forceinline__ void wgmma(float (&d)[16], uint64_t a, uint64_t b) {
#if MIXC_WGMMA
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, %16, %17, p, 1, 1, %19, %20;\n}\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
               : "l"(a), "l"(b), "r"(1), "n"(TA), "n"(TB));
#endif
}
// clang-format on
// Keeps the compiler from moving accumulator reads or writes across the asynchronous products.
template <int R> __device__ __forceinline__ void wgFence(float (&d)[R]) {
#pragma unroll
  for (int i = 0; i < R; ++i) asm volatile("" : "+f"(d[i])::"memory");
}
__device__ __forceinline__ void wgArrive() {
#if MIXC_WGMMA
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void wgCommit() {
#if MIXC_WGMMA
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
template <int N> __device__ __forceinline__ void wgWait() {
#if MIXC_WGMMA
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
#endif
}
// Shared memory written by ordinary stores (or cp.async), read next by wgmma.
__device__ __forceinline__ void asyncProxyFence() {
#if MIXC_WGMMA
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}
// The bulk copy engine (sm_90): contiguous bytes global -> shared, counted
// on an mbarrier of the CTA.
__device__ __forceinline__ void mbarInit(uint64_t *bar, int count) {
#if __CUDA_ARCH__ >= 900
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smemAddr(bar)), "r"(count) : "memory");
#endif
}
// One arrival that also announces `bytes` of bulk copies to come.
__device__ __forceinline__ void mbarExpect(uint64_t *bar, uint32_t bytes) {
#if __CUDA_ARCH__ >= 900
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smemAddr(bar)), "r"(bytes) : "memory");
#endif
}
__device__ __forceinline__ void mbarWait(uint64_t *bar, int parity) {
#if __CUDA_ARCH__ >= 900
  asm volatile("{\n.reg .pred p;\nWAIT_%=:\nmbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n@!p bra WAIT_%=;\n}\n" ::"r"(
                   smemAddr(bar)),
               "r"(parity)
               : "memory");
#endif
}
__device__ __forceinline__ void bulkCopy(void *dst, const void *src, uint32_t bytes, uint64_t *bar) {
#if __CUDA_ARCH__ >= 900
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
                   smemAddr(dst)),
               "l"(src), "r"(bytes), "r"(smemAddr(bar))
               : "memory");
#endif
}
} // namespace tile

// The chunked schedules (mixers.md, "How each structure is chunked") for
// identity, scalar and vector decays with bf16 q, k, v. With b the cumulative
// log-decay inside the chunk (a vector per token for GLA), every exponent
// stays bounded:
//   O = (Q . exp(b)) S + P V,   S = exp(b_C) . S + (K . exp(b_C - b))^T V,
//   P_ij = sum_k Q_ik K_jk exp(b_ik - b_jk) for j <= i.
// Scalar decays scale P by exp(b_i - b_j) <= 0. Vector decays (GLA) use the
// secondary chunking: for the rows of sub-block I (16 tokens) the reference
// is the token before it, r = 16 I - 1, and
//   P_ij = sum_k (Q_ik exp(b_ik - b_rk)) (K_jk exp(b_rk - b_jk)),
// both factors <= 1 for j <= r; on the diagonal sub-block the second factor
// grows at most over 16 tokens (clamped at e^80: decays beyond 5 nats per
// token within a sub-block are outside this kernel's range). Q and K are
// rescaled once per chunk relative to their own sub-block's reference, so the
// pairs of sub-blocks only multiply by per-channel factors (no exp per element).
// scanChunked (identity and scalar decays with K = 256): one CTA of 8 warps
// per (value block, head, batch) walks the chunks in order with its K x VB
// block of the state in registers (fp32 mma accumulators); the next chunk's
// q, k, v arrive by cp.async while this one computes. Warp w owns rows
// 16 (w % 4) .. of the chunk's output and the state rows K/4 (w % 4) .., in
// the column half w / 4. K up to 128 takes the state walk of deltaStates
// instead (below), for GLA after glaPrepare.
enum class ChunkDecay { none, scalar, vector };

// Pieces shared by the chunked kernels (chunks of 64 tokens, 256 threads).
namespace chunk {
constexpr int C = 64;
// A warp's block of the state in mma accumulator layout, tile rows 16 mt +
// {g, g + 8}, tile columns 8 nt + 2 t4 + {0, 1}: state rows sr + tile row and
// columns col0 + tile column (the chunked SSD/GLA kernels), or Transposed
// (deltaStates: tile rows are value columns from col0, tile columns key rows).
// From `from` (a state-shaped view; null reads as zeros); Add: S = f S + from.
// rowLog (Add): per state row (key) log-factors instead of f.
template <bool Transposed, bool Add = false, int MT, int NT>
__device__ __forceinline__ void loadState(float (&S)[MT][NT][4], const View &from, int64_t Vs, int64_t b, int64_t h,
                                          int sr, int64_t col0, float f = 0.f, const float *rowLog = nullptr) {
  const int g = (threadIdx.x % 32) / 4, t4 = threadIdx.x % 4;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int row = Transposed ? sr + nt * 8 + 2 * t4 + (e & 1) : sr + mt * 16 + g + (e >= 2 ? 8 : 0);
        const int64_t col = Transposed ? col0 + mt * 16 + g + (e >= 2 ? 8 : 0) : col0 + nt * 8 + 2 * t4 + (e & 1);
        const float x = from.p && col < Vs ? from.at(b, h, row, col) : 0.f;
        if constexpr (Add) S[mt][nt][e] = (rowLog ? __expf(rowLog[row]) : f) * S[mt][nt][e] + x;
        else S[mt][nt][e] = x;
      }
}
template <bool Transposed, int MT, int NT>
__device__ __forceinline__ void loadState(float (&S)[MT][NT][4], const ScanParams &p, int64_t b, int64_t h, int sr,
                                          int64_t col0) {
  loadState<Transposed>(S, p.init, p.Vs, b, h, sr, col0);
}
template <bool Transposed, int MT, int NT>
__device__ __forceinline__ void storeState(const float (&S)[MT][NT][4], const View &to, int64_t Vs, int64_t b,
                                           int64_t h, int sr, int64_t col0) {
  if (!to.p) return;
  const int g = (threadIdx.x % 32) / 4, t4 = threadIdx.x % 4;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int row = Transposed ? sr + nt * 8 + 2 * t4 + (e & 1) : sr + mt * 16 + g + (e >= 2 ? 8 : 0);
        const int64_t col = Transposed ? col0 + mt * 16 + g + (e >= 2 ? 8 : 0) : col0 + nt * 8 + 2 * t4 + (e & 1);
        if (col < Vs) to.set(b, h, row, col, S[mt][nt][e]);
      }
}
template <bool Transposed, int MT, int NT>
__device__ __forceinline__ void storeState(const float (&S)[MT][NT][4], const ScanParams &p, int64_t b, int64_t h,
                                           int sr, int64_t col0) {
  storeState<Transposed>(S, p.state, p.Vs, b, h, sr, col0);
}
// The bf16 copy of the block in shared memory (the B operand of Q S), from column c0 of the tile.
template <int MT, int NT>
__device__ __forceinline__ void copyState(__nv_bfloat16 *Ss, int ld, const float (&S)[MT][NT][4], int sr, int c0) {
  const int g = (threadIdx.x % 32) / 4, t4 = threadIdx.x % 4;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      const int row = sr + mt * 16 + g, col = c0 + nt * 8 + 2 * t4;
      *(uint32_t *)&Ss[row * ld + col] = tile::pack(S[mt][nt][0], S[mt][nt][1]);
      *(uint32_t *)&Ss[(row + 8) * ld + col] = tile::pack(S[mt][nt][2], S[mt][nt][3]);
    }
}
// Starts copying a chunk's rows of a bf16 operand, WIDTH features from
// column col0, into dst (ld elements per row), with THREADS threads; rows past
// T and columns at or past `limit` read as zeros. Each thread keeps one
// 16-byte column segment and steps a row pointer.
// seg: elements between its 16-byte column segments in dst (8: row-major
// rows; tile::tileGroup<C> / 2: a wgmma operand tile, tile::tileAt<C>).
template <int WIDTH, int THREADS>
__device__ __forceinline__ void copyRows(__nv_bfloat16 *dst, int ld, const View &v, int64_t b, int64_t h,
                                         int64_t chunkIndex, int64_t T, int64_t col0, int64_t limit, int seg = 8) {
  constexpr int SEG = WIDTH / 8, STEP = THREADS / SEG, ROWS = (C + STEP - 1) / STEP;
  static_assert(WIDTH % 8 == 0 && THREADS % SEG == 0, "rows of 16-byte segments");
  const int s = threadIdx.x % SEG, r0 = threadIdx.x / SEG;
  const bool colOk = col0 + s * 8 < limit;
  const int64_t t0 = chunkIndex * C;
  const __nv_bfloat16 *src = (const __nv_bfloat16 *)v.p + b * v.s0 + h * v.s2 + (colOk ? col0 + s * 8 : 0);
  __nv_bfloat16 *d = dst + r0 * ld + s * seg;
  if (colOk && t0 + C <= T) {
    // A whole chunk (all but the last): the rows of this thread's segment at
    // one pointer step apart, without per-row tests. Per-row 64-bit address
    // arithmetic and validity selects made up half the state walk's
    // instructions.
    const __nv_bfloat16 *at = src + (t0 + r0) * v.s1;
    const int64_t step = (int64_t)STEP * v.s1;
#pragma unroll
    for (int i = 0; i < ROWS; ++i) {
      if (C % STEP == 0 || i * STEP + r0 < C) tile::copy16(d + i * STEP * ld, at);
      at += step;
    }
    return;
  }
#pragma unroll
  for (int i = 0; i < ROWS; ++i) {
    const int r = i * STEP + r0;
    if (C % STEP != 0 && r >= C) break;
    const bool ok = colOk && t0 + r < T;
    tile::copy16(d + i * STEP * ld, ok ? src + (t0 + r) * v.s1 : src, ok);
  }
}
// A chunk's scalar log-decays for tokens 2 lane and 2 lane + 1 (zero past T).
template <bool LogDecay>
__device__ __forceinline__ void scalarGates(const ScanParams &p, int64_t b, int64_t h, int64_t chunkIndex, float &g0,
                                            float &g1) {
  const int64_t t = chunkIndex * C + 2 * (threadIdx.x % 32);
  g0 = g1 = 0.f;
  if (t < p.T) g0 = LogDecay ? p.decay.at(b, t, h, 0) : __logf(p.decay.at(b, t, h, 0));
  if (t + 1 < p.T) g1 = LogDecay ? p.decay.at(b, t + 1, h, 0) : __logf(p.decay.at(b, t + 1, h, 0));
}
// One warp: Bc[i] = g_0 + ... + g_i from two gates per lane.
__device__ __forceinline__ void cumulativeGates(float g0, float g1, float *Bc) {
  const int lane = threadIdx.x % 32;
  float s = g0 + g1;
#pragma unroll
  for (int o = 1; o < 32; o *= 2) {
    const float y = __shfl_up_sync(0xffffffffu, s, o);
    if (lane >= o) s += y;
  }
  Bc[2 * lane] = s - g1;
  Bc[2 * lane + 1] = s;
}
// Starts copying a chunk's per-token scales of a and k (fp32 scratch) into Sa
// and Sk, 4 bytes per token by cp.async (zeros past T).
template <int THREADS>
__device__ __forceinline__ void copyScales(const ScanParams &p, int64_t b, int64_t h, int64_t chunkIndex, float *Sa,
                                           float *Sk) {
  for (int i = threadIdx.x; i < 2 * C; i += THREADS) {
    const View &v = i < C ? p.aScale : p.kScale;
    const int r = i % C;
    const int64_t t = chunkIndex * C + r;
    const bool ok = t < p.T;
    tile::copy4((i < C ? Sa : Sk) + r, (const float *)v.p + b * v.s0 + (ok ? t : 0) * v.s1 + h * v.s2, ok);
  }
}
__device__ const int kBuiltWithWgmma = MIXC_WGMMA;
// Whether the current device runs this build's wgmma kernels (an sm_90a
// build on a Hopper GPU). Read once per process and device.
inline bool hasWgmma() {
  static int cached[16] = {};
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 16) return false;
  if (cached[dev] == 0) {
    int major = 0, built = 0;
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    const bool ok = major == 9 && cudaMemcpyFromSymbol(&built, kBuiltWithWgmma, sizeof built) == cudaSuccess;
    cached[dev] = ok && built ? 1 : 2;
  }
  return cached[dev] == 1;
}
inline int smCount() {
  int dev = 0, sms = 132;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  return sms;
}
// Launches a chunked kernel of 256 threads on (value blocks of vb, heads, batch).
template <typename Kernel>
cudaError_t launch(Kernel kernel, int vb, int bytes, const ScanParams &p, cudaStream_t stream) {
  cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  if (e != cudaSuccess) return e;
  dim3 grid((unsigned)((p.Vs + vb - 1) / vb), (unsigned)p.H, (unsigned)p.B);
  kernel<<<grid, 256, bytes, stream>>>(p);
  return cudaGetLastError();
}
} // namespace chunk

template <int K, int VB, ChunkDecay D> struct ChunkedLayout {
  static constexpr int C = 64, LK = K + 8, LV = VB + 8;
  static constexpr int q = 0, k = q + 2 * C * LK * 2, v = k + 2 * C * LK * 2, s = v + 2 * C * LV * 2;
  static constexpr int b = s + K * LV * 2; // cumulative log-decays (fp32)
  static constexpr int bytes = b + C * 4;
};

template <int K, int VB, ChunkDecay D, bool LogDecay>
__global__ void __launch_bounds__(256, 2) scanChunked(const ScanParams p) {
  using tile::bf16;
  using L = ChunkedLayout<K, VB, D>;
  constexpr int C = L::C, LK = L::LK, LV = L::LV;
  constexpr int MT = K / 64, NT = VB / 16, KT = K / 16, VH = VB / 2; // per warp: MT x NT tiles of 16 x 8
  constexpr bool Scalar = D == ChunkDecay::scalar;
  static_assert(D != ChunkDecay::vector, "vector decays: glaPrepare and the GLA state walk");
  static_assert(K % 64 == 0 && VB % 32 == 0, "chunked tiles");
  extern __shared__ __align__(16) unsigned char smem[];
  bf16 *Qs = (bf16 *)(smem + L::q), *Ks = (bf16 *)(smem + L::k), *Vs = (bf16 *)(smem + L::v),
       *Ss = (bf16 *)(smem + L::s);
  float *Bc = (float *)(smem + L::b); // [C]
  const int64_t T = p.T, V = p.Vs, h = blockIdx.y, b = blockIdx.z, j0 = (int64_t)blockIdx.x * VB;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4;
  const int rw = warp % 4, c0 = (warp / 4) * VH; // row tile, first column of the warp's half
  auto load = [&](int64_t chunkIndex, int buf) {
    chunk::copyRows<K, 256>(Qs + buf * C * LK, LK, p.q, b, h, chunkIndex, T, 0, K);
    chunk::copyRows<K, 256>(Ks + buf * C * LK, LK, p.k, b, h, chunkIndex, T, 0, K);
    chunk::copyRows<VB, 256>(Vs + buf * C * LV, LV, p.v, b, h, chunkIndex, T, j0, V);
    tile::commit();
  };
  const int sr = rw * (K / 4);
  float S[MT][NT][4];
  chunk::loadState<false>(S, p, b, h, sr, j0 + c0);
  chunk::copyState(Ss, LV, S, sr, c0);
  const int64_t chunks = (T + C - 1) / C;
  float gc0 = 0.f, gc1 = 0.f, gn0 = 0.f, gn1 = 0.f;
  if (Scalar && warp == 0) chunk::scalarGates<LogDecay>(p, b, h, 0, gc0, gc1);
  load(0, 0);
  for (int64_t c = 0; c < chunks; ++c) {
    const int buf = c & 1;
    __syncthreads(); // the other buffers are free, the state copy complete
    if (c + 1 < chunks) {
      load(c + 1, buf ^ 1);
      if (Scalar && warp == 0) chunk::scalarGates<LogDecay>(p, b, h, c + 1, gn0, gn1);
      tile::waitGroups<1>();
    } else {
      tile::waitGroups<0>();
    }
    if constexpr (Scalar) {
      if (warp == 0) {
        chunk::cumulativeGates(gc0, gc1, Bc);
        gc0 = gn0, gc1 = gn1;
      }
    }
    __syncthreads(); // this chunk's tiles (and the scalar cumsum) are visible
    bf16 *Qb = Qs + buf * C * LK, *Kb = Ks + buf * C * LK;
    const bf16 *Vb = Vs + buf * C * LV;
    const int r0 = rw * 16;
    uint32_t qa[KT][4]; // Q (vector decays: Q^) for the intra-chunk product
#pragma unroll
    for (int kk = 0; kk < KT; ++kk) tile::loadA(qa[kk], Qb + r0 * LK + kk * 16, LK);
    // Inter-chunk: O = (Q . exp(b)) S; vector decays: Q^ . F[I].
    float O[NT][4] = {};
#pragma unroll
    for (int kk = 0; kk < KT; ++kk) {
      uint32_t qi[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) qi[e] = qa[kk][e];
#pragma unroll
      for (int np = 0; np < NT / 2; ++np) {
        uint32_t bb[4];
        tile::loadBK(bb, Ss + kk * 16 * LV + c0 + np * 16, LV);
        tile::mma(O[2 * np], qi, bb[0], bb[1]);
        tile::mma(O[2 * np + 1], qi, bb[2], bb[3]);
      }
    }
    const float bi0 = Scalar ? Bc[r0 + g] : 0.f, bi1 = Scalar ? Bc[r0 + g + 8] : 0.f;
    if constexpr (Scalar) {
      const float e0 = __expf(bi0), e1 = __expf(bi1);
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) O[nt][0] *= e0, O[nt][1] *= e0, O[nt][2] *= e1, O[nt][3] *= e1;
    }
    // Intra-chunk, one key sub-block J at a time up to the diagonal:
    // P = (Q K^T) . M (. decays), then O += P V.
#pragma unroll
    for (int J = 0; J < C / 16; ++J)
      if (J <= rw) {
        float P[2][4] = {};
#pragma unroll
        for (int kk = 0; kk < KT; ++kk) {
          uint32_t bb[4];
          tile::loadBN(bb, Kb + J * 16 * LK + kk * 16, LK);
          tile::mma(P[0], qa[kk], bb[0], bb[1]);
          tile::mma(P[1], qa[kk], bb[2], bb[3]);
        }
#pragma unroll
        for (int n = 0; n < 2; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int i = r0 + g + (e >= 2 ? 8 : 0), j = J * 16 + n * 8 + 2 * t4 + (e & 1);
            const float f = Scalar ? __expf(fminf((e >= 2 ? bi1 : bi0) - Bc[j], 0.f)) : 1.f;
            P[n][e] = j <= i ? P[n][e] * f : 0.f;
          }
        const uint32_t a[4] = {tile::pack(P[0][0], P[0][1]), tile::pack(P[0][2], P[0][3]),
                               tile::pack(P[1][0], P[1][1]), tile::pack(P[1][2], P[1][3])};
#pragma unroll
        for (int np = 0; np < NT / 2; ++np) {
          uint32_t bb[4];
          tile::loadBK(bb, Vb + J * 16 * LV + c0 + np * 16, LV);
          tile::mma(O[2 * np], a, bb[0], bb[1]);
          tile::mma(O[2 * np + 1], a, bb[2], bb[3]);
        }
      }
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t t = c * C + r0 + g + (e >= 2 ? 8 : 0), col = j0 + c0 + nt * 8 + 2 * t4 + (e & 1);
        if (t < T && col < V) p.o.set(b, t, h, col, O[nt][e] * p.scale);
      }
    __syncthreads(); // every warp is done reading the state copy
    // State: S = exp(b_C) . S + (K . exp(b_C - b))^T V; vector decays: K^ . G[J].
    const int last = C - 1;
    if constexpr (Scalar) {
      const float eL = __expf(Bc[last]);
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) S[mt][nt][e] *= eL;
    }
#pragma unroll
    for (int kt = 0; kt < C / 16; ++kt) {
      uint32_t vb[NT / 2][4];
#pragma unroll
      for (int np = 0; np < NT / 2; ++np) tile::loadBK(vb[np], Vb + kt * 16 * LV + c0 + np * 16, LV);
      const int j = kt * 16 + 2 * t4;
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        uint32_t a[4];
        tile::loadAT(a, Kb + kt * 16 * LK + sr + mt * 16, LK);
        if constexpr (Scalar) {
          const float bL = Bc[last];
          const float f0 = __expf(bL - Bc[j]), f1 = __expf(bL - Bc[j + 1]), f2 = __expf(bL - Bc[j + 8]),
                      f3 = __expf(bL - Bc[j + 9]);
          a[0] = tile::scalePair(a[0], f0, f1), a[1] = tile::scalePair(a[1], f0, f1);
          a[2] = tile::scalePair(a[2], f2, f3), a[3] = tile::scalePair(a[3], f2, f3);
        }
#pragma unroll
        for (int np = 0; np < NT / 2; ++np) {
          tile::mma(S[mt][2 * np], a, vb[np][0], vb[np][1]);
          tile::mma(S[mt][2 * np + 1], a, vb[np][2], vb[np][3]);
        }
      }
    }
    chunk::copyState(Ss, LV, S, sr, c0);
  }
  chunk::storeState<false>(S, p, b, h, sr, j0 + c0);
}

// Whether the chunked kernel can stream these operands: bf16 q, k, v (and
// vector gates in f32 or bf16) with packed feature rows on 16-byte
// boundaries, a forward scan.
inline bool chunkedApplies(const ScanParams &p, bool vectorDecay) {
  auto ok = [](const View &v, bool anyFloat) {
    const int64_t align = v.dtype == MIXC_F32 ? 4 : 8;
    return v.p && (v.dtype == MIXC_BF16 || (anyFloat && v.dtype == MIXC_F32)) && v.s3 == 1 && v.s0 % align == 0 &&
           v.s1 % align == 0 && v.s2 % align == 0 && ((uintptr_t)v.p % 16) == 0;
  };
  return !p.reverse && p.Vs % 8 == 0 && ok(p.q, false) && ok(p.k, false) && ok(p.v, false) &&
         (!vectorDecay || ok(p.decay, true));
}
// The same for the delta-rule kernel, which streams a and b too.
inline bool chunkedDeltaApplies(const ScanParams &p) {
  auto ok = [](const View &v) {
    return v.p && v.dtype == MIXC_BF16 && v.s3 == 1 && v.s0 % 8 == 0 && v.s1 % 8 == 0 && v.s2 % 8 == 0 &&
           ((uintptr_t)v.p % 16) == 0;
  };
  return !p.reverse && p.Vs % 8 == 0 && ok(p.q) && ok(p.k) && ok(p.v) && ok(p.a) && ok(p.b);
}

// Scratch for pre-processed operands and intermediate results, freed on scope exit.
struct Scratch {
  cudaStream_t stream;
  float *ptrs[32] = {};
  int n = 0;
  explicit Scratch(cudaStream_t s) : stream(s) {}
  float *alloc(int64_t count) {
    if (n == 32) return nullptr;
    void *p = nullptr;
    if (cudaMallocAsync(&p, (size_t)count * sizeof(float) + 16, stream) != cudaSuccess) return nullptr;
    return ptrs[n++] = (float *)p;
  }
  ~Scratch() {
    for (int i = 0; i < n; ++i) cudaFreeAsync(ptrs[i], stream);
  }
};

template <int K, bool Decay, bool LogDecay>
cudaError_t launchChunkedSsd(const ScanParams &p, Scratch &scratch, cudaStream_t stream);
template <int K, bool LogDecay>
cudaError_t launchChunkedGla(const ScanParams &p, Scratch &scratch, cudaStream_t stream);

// K up to 128: the state walk of the delta rules (deltaStates, below) in its
// SSD form (identity and scalar decays) or after glaPrepare (vector decays).
// Identity and scalar decays with K = 256 take scanChunked (value blocks of 32
// columns: the tiles of 64 outgrow shared memory).
template <int K, ChunkDecay D, bool LogDecay>
cudaError_t launchChunked(const ScanParams &p, Scratch &scratch, cudaStream_t stream) {
  if constexpr (K <= 128) {
    if constexpr (D == ChunkDecay::vector) return launchChunkedGla<K, LogDecay>(p, scratch, stream);
    else return launchChunkedSsd<K, D == ChunkDecay::scalar, LogDecay>(p, scratch, stream);
  } else {
    static_assert(D != ChunkDecay::vector, "GLA's chunked form takes K <= 128");
    return chunk::launch(scanChunked<K, 32, D, LogDecay>, 32, ChunkedLayout<K, 32, D>::bytes, p, stream);
  }
}



// The chunked schedule of diagonal-plus-low-rank transitions with an identity
// or scalar diagonal (DeltaNet, Gated DeltaNet; mixers.md, the WY/UT form),
// for bf16 q, k, v, a, b: S_t = alpha_t S_{t-1} + a_t (b_t^T S_{t-1}) + k_t v_t^T.
// With b the cumulative log-decay in the chunk (gamma = exp(b), gamma' =
// exp(b - g) the decay before the token), e_j = exp(b_C - b_j),
//   L_A = StrictLower(exp(b_{i-1} - b_j) . B A^T),  L_K likewise with K,
//   M . X = Causal(exp(b_i - b_j) . X),  T = (I - L_A)^{-1},
// the chunk's pseudo-values are U = W S_0 + R V and
//   O = Q' S_0 + P V,   S = gamma_C S_0 + (A . e)^T U + (K . e)^T V,
// with W = T Gamma' B, R = T L_K, Q' = Gamma Q + (M . Q A^T) W and
// P = (M . Q A^T) R + M . Q K^T. None of W, R, Q', P depends on the state, so
// a first kernel computes them for every chunk at once (deltaPrepare: the
// triangular solve in fp32, the products on tensor cores) and writes them as
// bf16; the second (deltaStates) walks the chunks in order with the state in
// registers while the next chunk's operands arrive by cp.async. The serial
// part is then five tensor-core products per chunk and no solve.
template <int K> struct DeltaPrepareLayout {
  static constexpr int C = 64, LK = K + 8, LC = C + 8, LF = C + 4;
  static constexpr int rowsK = C * LK * 2, rowsC = C * LC * 2, la = C * LF * 4;
  // The item's rows, each space reused as the item proceeds:
  static constexpr int q = 0, bb = q + rowsK;                            // Q (then Q'), B (then Gamma' B)
  static constexpr int a = bb + rowsK;                                   // A, then L_A (fp32), then W
  static constexpr int k = a + (rowsK > la ? rowsK : la);                // K, then M . Q A^T and T
  static constexpr int stage = k + (rowsK > 2 * rowsC ? rowsK : 2 * rowsC);
  static constexpr int lk = stage;                                       // L_K, then R
  static constexpr int mqk = lk + rowsC;                                 // M . Q K^T, then P
  static constexpr int bc = mqk + rowsC;                                 // b, then exp(b_{i-1})
  static constexpr int sc = bc + 2 * C * 4;                              // scales of a and k
  static constexpr int tf = sc + 2 * C * 4;                              // T in fp32
  static constexpr int pt = tf + la, bytes = pt + 3 * 16 * 24 * 4;       // 16 x 16 partial products
};

// Scratch rows [B, chunks * C, H, D] of bf16 at `at`: what the prepare kernels write.
inline View chunkRows(const ScanParams &p, __nv_bfloat16 *at, int D) {
  const int64_t chunks = (p.T + chunk::C - 1) / chunk::C;
  View v;
  v.p = at, v.dtype = MIXC_BF16, v.s3 = 1, v.s2 = D, v.s1 = p.H * D, v.s0 = chunks * chunk::C * p.H * D;
  return v;
}

// The state-independent operands of every chunk, as rows [B, chunks * C, H, D] of bf16.
struct DeltaChunks {
  View w, qp, r, pv;
  // Instead (the wgmma walk): every item's W, Q', R, P as one block of wgmma
  // tiles (DeltaTiles), item (b, c, h) at tiles + ((b chunks + c) H + h) bytes.
  unsigned char *tiles = nullptr;
  bool oRows = false; // o is bf16 rows that 16-byte stores (the wgmma walk: 4-byte stores) can write
  // The SSD form split along the sequence (few batch x head pairs): segments
  // of segChunks chunks, blockIdx.x = value block + blocks * segment. The
  // local pass writes each segment's own final state (from a zero state) and
  // total log-decay; the full pass starts each segment from the initial
  // state folded with the segments before it.
  int64_t segChunks = 0; // 0: one segment
  int segments = 1;
  bool localPass = false;
  View segState; // [B * segments, H, K, Vs] fp32 (state-shaped: at(b * segments + g, h, row, col))
  float *segDecay = nullptr; // [B, H, segments] (GLA: [B, H, segments, K])
  float *chunkDecay = nullptr; // GLA: each chunk's total log-decay per key, [B, chunks, H, K]
};

// acc (16 x 8 NT) += A (16 rows of row-major smem) x B over kTiles k-tiles of
// 16; B stored k-major (BK: base[k][n]) or n-major (base[n][k]).
template <int NT, bool BK>
__device__ __forceinline__ void warpMma(float (&acc)[NT][4], const __nv_bfloat16 *A, int lda, const __nv_bfloat16 *B,
                                        int ldb, int kTiles) {
  for (int kk = 0; kk < kTiles; ++kk) {
    uint32_t a[4], bb[NT / 2][4]; // every fragment of the k-step in flight before the first mma
    tile::loadA(a, A + kk * 16, lda);
#pragma unroll
    for (int np = 0; np < NT / 2; ++np) {
      if constexpr (BK) tile::loadBK(bb[np], B + kk * 16 * ldb + np * 16, ldb);
      else tile::loadBN(bb[np], B + np * 16 * ldb + kk * 16, ldb);
    }
#pragma unroll
    for (int np = 0; np < NT / 2; ++np) {
      tile::mma(acc[2 * np], a, bb[np][0], bb[np][1]);
      tile::mma(acc[2 * np + 1], a, bb[np][2], bb[np][3]);
    }
  }
}
// Writes a warp's 16 x 8 NT accumulator tile (rows r0.., columns c0..) as
// bf16, each element through f(row, col, x).
template <int NT, typename F>
__device__ __forceinline__ void storeTile(__nv_bfloat16 *dst, int ld, int r0, int c0, const float (&acc)[NT][4], F f) {
  const int g = (threadIdx.x % 32) / 4, t4 = threadIdx.x % 4;
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    const int r = r0 + g, c = c0 + nt * 8 + 2 * t4;
    *(uint32_t *)&dst[r * ld + c] = tile::pack(f(r, c, acc[nt][0]), f(r, c + 1, acc[nt][1]));
    *(uint32_t *)&dst[(r + 8) * ld + c] = tile::pack(f(r + 8, c, acc[nt][2]), f(r + 8, c + 1, acc[nt][3]));
  }
}
// dst (bf16 in shared memory) = acc + f(row) * dst, element by element: each
// element is read and written by the thread that holds its accumulator.
template <int NT, typename F>
__device__ __forceinline__ void addIntoTile(__nv_bfloat16 *dst, int ld, int r0, int c0, const float (&acc)[NT][4], F f) {
  const int g = (threadIdx.x % 32) / 4, t4 = threadIdx.x % 4;
  const float f0 = f(r0 + g), f1 = f(r0 + g + 8);
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    const int c = c0 + nt * 8 + 2 * t4;
    uint32_t *p0 = (uint32_t *)&dst[(r0 + g) * ld + c], *p1 = (uint32_t *)&dst[(r0 + g + 8) * ld + c];
    const float2 x0 = __bfloat1622float2(*(__nv_bfloat162 *)p0), x1 = __bfloat1622float2(*(__nv_bfloat162 *)p1);
    *p0 = tile::pack(acc[nt][0] + f0 * x0.x, acc[nt][1] + f0 * x0.y);
    *p1 = tile::pack(acc[nt][2] + f1 * x1.x, acc[nt][3] + f1 * x1.y);
  }
}
// Copies a chunk's rows (C x WIDTH bf16, ld elements apart in shared memory) to rows of dst.
template <int WIDTH, int THREADS>
__device__ __forceinline__ void storeRows(const View &dst, int64_t b, int64_t h, int64_t chunkIndex,
                                          const __nv_bfloat16 *src, int ld) {
  constexpr int SEG = WIDTH / 8, STEP = THREADS / SEG;
  static_assert(WIDTH % 8 == 0 && THREADS % SEG == 0, "rows of 16-byte segments");
  const int s = threadIdx.x % SEG;
  __nv_bfloat16 *out = (__nv_bfloat16 *)dst.p + b * dst.s0 + h * dst.s2 + chunkIndex * chunk::C * dst.s1 + s * 8;
#pragma unroll
  for (int r = threadIdx.x / SEG; r < chunk::C; r += STEP)
    *(uint4 *)(out + r * dst.s1) = *(const uint4 *)(src + r * ld + s * 8);
}

// A chunk's operands of the wgmma walk that all its value blocks share, as
// one block of tiles (tile::tileAt<C>): W, Q', R, P, the rows of a (scaled:
// of b) and k (not scaled), the cumulative log-decays b and the scales of a
// and k (fp32), so that one bulk copy brings them in.
template <int K, bool Scaled> struct DeltaTiles {
  static constexpr int C = 64, rowsK = tile::tileBytes<C, K>, rowsC = tile::tileBytes<C, C>;
  static constexpr int w = 0, qp = w + rowsK, r = qp + rowsK, pv = r + rowsC, a = pv + rowsC;
  static constexpr int k = a + rowsK, gates = k + (Scaled ? 0 : rowsK);
  static constexpr int scales = gates + C * 4, bytes = scales + 2 * C * 4;
};
// Copies a chunk's rows (C x WIDTH bf16, ld elements apart in shared memory)
// into a tile in global memory: consecutive threads write consecutive 16 bytes.
template <int WIDTH, int THREADS>
__device__ __forceinline__ void storeChunkTile(unsigned char *dst, const __nv_bfloat16 *src, int ld) {
  constexpr int SEGS = chunk::C * WIDTH / 8;
#pragma unroll
  for (int e = threadIdx.x; e < SEGS; e += THREADS) {
    const int r = e % chunk::C, cg = e / chunk::C;
    *(uint4 *)(dst + tile::tileAt<chunk::C>(r, cg * 8)) = *(const uint4 *)(src + r * ld + cg * 8);
  }
}

// A CTA of 8 warps per (chunk, head, batch) item, two CTAs per SM; warp
// (rw, hf) takes rows 16 rw.. of each product, in the column half hf.
template <int K, bool Decay, bool LogDecay, bool Scaled>
__global__ void __launch_bounds__(256, 2) deltaPrepare(const ScanParams p, const DeltaChunks d) {
  using tile::bf16;
  using L = DeltaPrepareLayout<K>;
  constexpr int C = L::C, LK = L::LK, LC = L::LC, LF = L::LF;
  static_assert(K % 64 == 0, "chunked tiles");
  extern __shared__ __align__(16) unsigned char smem[];
  bf16 *LKs = (bf16 *)(smem + L::lk), *MQK = (bf16 *)(smem + L::mqk);
  float *Bc = (float *)(smem + L::bc), *Ep = Bc + C, *Sa = (float *)(smem + L::sc), *Sk = Sa + C;
  const int64_t T = p.T, chunks = (T + C - 1) / C, items = chunks * p.H * p.B;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4;
  const int rw = warp % 4, hf = warp / 4, r0 = rw * 16;
  auto bprev = [&](int i) { return i == 0 ? 0.f : Bc[i - 1]; };
  if ((int64_t)blockIdx.x >= items) return;
  const int64_t item = blockIdx.x, c = item % chunks, h = (item / chunks) % p.H, b = item / (chunks * p.H);
  unsigned char *st = smem;
  { // the item's rows, by cp.async
    chunk::copyRows<K, 256>((bf16 *)(st + L::q), LK, p.q, b, h, c, T, 0, K);
    if constexpr (!Scaled) { // scaled: a and k are multiples of b's rows
      chunk::copyRows<K, 256>((bf16 *)(st + L::k), LK, p.k, b, h, c, T, 0, K);
      chunk::copyRows<K, 256>((bf16 *)(st + L::a), LK, p.a, b, h, c, T, 0, K);
    } else {
      chunk::copyScales<256>(p, b, h, c, (float *)(smem + L::sc), (float *)(smem + L::sc) + C);
    }
    chunk::copyRows<K, 256>((bf16 *)(st + L::bb), LK, p.b, b, h, c, T, 0, K);
    tile::commit();
  }
  {
    bf16 *Qs = (bf16 *)(st + L::q), *Bs = (bf16 *)(st + L::bb), *As = (bf16 *)(st + L::a), *Ks = (bf16 *)(st + L::k),
         *Ws = As, *MQA = Ks, *Ts = Ks + C * LC;
    float *LA = (float *)As;
    if (warp == 0) {
      float g0 = 0.f, g1 = 0.f;
      if constexpr (Decay) chunk::scalarGates<LogDecay>(p, b, h, c, g0, g1);
      chunk::cumulativeGates(g0, g1, Bc);
      __syncwarp();
      Ep[2 * lane] = __expf(bprev(2 * lane)), Ep[2 * lane + 1] = __expf(Bc[2 * lane]);
    }
    tile::waitGroups<0>();
    __syncthreads(); // the item's rows have landed
    using DT = DeltaTiles<K, Scaled>;
    unsigned char *tiles = d.tiles ? d.tiles + ((b * chunks + c) * p.H + h) * DT::bytes : nullptr;
    if (tiles) { // the wgmma walk's copy of the rows of a (or b) and k, before they are overwritten
      storeChunkTile<K, 256>(tiles + DT::a, Scaled ? Bs : As, LK);
      if constexpr (!Scaled) storeChunkTile<K, 256>(tiles + DT::k, Ks, LK);
    }
    // 1. Gram matrices: the first half of the warps B A^T and B K^T, the second Q A^T and Q K^T.
    //    Scaled: one product (with B), its columns scaled by a's and k's scales.
    float X[8][4] = {}, Y[8][4] = {};
    warpMma<8, false>(X, (hf == 0 ? Bs : Qs) + r0 * LK, LK, Scaled ? Bs : As, LK, K / 16);
    if constexpr (!Scaled) warpMma<8, false>(Y, (hf == 0 ? Bs : Qs) + r0 * LK, LK, Ks, LK, K / 16);
    __syncthreads(); // A and K are read: their space takes L_A, M . Q A^T and T
    {
      // Masks and decays, one factor per element for both products: strictly
      // lower with exp(b_{i-1} - b_j) for L_A and L_K, causal with exp(b_i - b_j) for M.
      const bool strict = hf == 0;
      float bi[2] = {0.f, 0.f};
      if constexpr (Decay)
        bi[0] = strict ? bprev(r0 + g) : Bc[r0 + g], bi[1] = strict ? bprev(r0 + g + 8) : Bc[r0 + g + 8];
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
        const int j = nt * 8 + 2 * t4;
        const float bj[2] = {Decay ? Bc[j] : 0.f, Decay ? Bc[j + 1] : 0.f};
        float f[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int i = r0 + g + (e >= 2 ? 8 : 0), jj = j + (e & 1);
          const bool keep = strict ? jj < i : jj <= i;
          f[e] = keep ? (Decay ? __expf(bi[e / 2] - bj[e & 1]) : 1.f) : 0.f;
        }
        const int i0 = r0 + g, i1 = r0 + g + 8;
        float fy[4] = {f[0], f[1], f[2], f[3]};
        if constexpr (Scaled) {
#pragma unroll
          for (int e = 0; e < 4; ++e) fy[e] = f[e] * Sk[j + (e & 1)], f[e] *= Sa[j + (e & 1)];
#pragma unroll
          for (int e = 0; e < 4; ++e) Y[nt][e] = X[nt][e];
        }
        if (strict) {
          *(float2 *)&LA[i0 * LF + j] = make_float2(X[nt][0] * f[0], X[nt][1] * f[1]);
          *(float2 *)&LA[i1 * LF + j] = make_float2(X[nt][2] * f[2], X[nt][3] * f[3]);
          *(uint32_t *)&LKs[i0 * LC + j] = tile::pack(Y[nt][0] * fy[0], Y[nt][1] * fy[1]);
          *(uint32_t *)&LKs[i1 * LC + j] = tile::pack(Y[nt][2] * fy[2], Y[nt][3] * fy[3]);
        } else {
          *(uint32_t *)&MQA[i0 * LC + j] = tile::pack(X[nt][0] * f[0], X[nt][1] * f[1]);
          *(uint32_t *)&MQA[i1 * LC + j] = tile::pack(X[nt][2] * f[2], X[nt][3] * f[3]);
          *(uint32_t *)&MQK[i0 * LC + j] = tile::pack(Y[nt][0] * fy[0], Y[nt][1] * fy[1]);
          *(uint32_t *)&MQK[i1 * LC + j] = tile::pack(Y[nt][2] * fy[2], Y[nt][3] * fy[3]);
        }
      }
    }
    __syncthreads();
    // 2. T = (I - L_A)^{-1} by 16 x 16 blocks: the diagonal blocks D_I by
    //    substitution in fp32 (a column per thread of warps 0-1; meanwhile
    //    warps 2-7 scale B's rows by gamma' for W = T Gamma' B), then, a block
    //    diagonal at a time, T_IJ = D_I sum_{K=J}^{I-1} L_IK T_KJ on tensor
    //    cores in tf32 (finer than the bf16 that T is used in), a warp per
    //    8 columns of a block. The serial chain is 16 rows, not 64.
    float *TF = (float *)(smem + L::tf), *PT = (float *)(smem + L::pt);
    if (tid < C) {
      const int o = (tid / 16) * 16, col = tid % 16;
      float x[16];
#pragma unroll
      for (int i = 0; i < 16; ++i) {
        float s0 = i == col ? 1.f : 0.f, s1 = 0.f;
#pragma unroll
        for (int j = 0; j < i; ++j) (j % 2 ? s1 : s0) += LA[(o + i) * LF + o + j] * x[j];
        x[i] = s0 + s1;
      }
#pragma unroll
      for (int i = 0; i < 16; ++i) {
        TF[(o + i) * LF + o + col] = x[i];
        Ts[(o + i) * LC + o + col] = __float2bfloat16(x[i]);
      }
    } else if constexpr (Decay) {
      for (int e = tid - C; e < C * K / 8; e += 256 - C) { // 8 elements at a time
        const int r = e / (K / 8), kc = (e % (K / 8)) * 8;
        const float f = Ep[r];
        uint4 *bp = (uint4 *)&Bs[r * LK + kc];
        uint4 x = *bp;
        x.x = tile::scalePair(x.x, f, f), x.y = tile::scalePair(x.y, f, f);
        x.z = tile::scalePair(x.z, f, f), x.w = tile::scalePair(x.w, f, f);
        *bp = x;
      }
    }
    __syncthreads();
#pragma unroll 1
    for (int dg = 1; dg < 4; ++dg) {
      const int I = dg + warp / 2, J = I - dg, nh = warp % 2, slot = warp / 2;
      const bool active = warp < 2 * (4 - dg);
      if (active) { // P = sum_K L_IK T_KJ, columns 8 nh.. of the block
        float acc[4] = {0.f, 0.f, 0.f, 0.f};
        for (int Kb = J; Kb < I; ++Kb)
#pragma unroll
          for (int ks = 0; ks < 2; ++ks)
            tile::mmaTf32(acc, LA + 16 * I * LF + 16 * Kb + 8 * ks, LF, TF + (16 * Kb + 8 * ks) * LF + 16 * J + 8 * nh,
                          LF);
        float *P = PT + slot * 16 * 24 + 8 * nh + 2 * t4;
        P[g * 24] = acc[0], P[g * 24 + 1] = acc[1], P[(g + 8) * 24] = acc[2], P[(g + 8) * 24 + 1] = acc[3];
      }
      __syncthreads();
      if (active) { // T_IJ = D_I P
        float acc[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
        for (int ks = 0; ks < 2; ++ks)
          tile::mmaTf32(acc, TF + 16 * I * LF + 16 * I + 8 * ks, LF, PT + slot * 16 * 24 + 8 * ks * 24 + 8 * nh, 24);
        const int r = 16 * I + g, cc = 16 * J + 8 * nh + 2 * t4;
        TF[r * LF + cc] = acc[0], TF[r * LF + cc + 1] = acc[1];
        TF[(r + 8) * LF + cc] = acc[2], TF[(r + 8) * LF + cc + 1] = acc[3];
        *(uint32_t *)&Ts[r * LC + cc] = tile::pack(acc[0], acc[1]);
        *(uint32_t *)&Ts[(r + 8) * LC + cc] = tile::pack(acc[2], acc[3]);
      }
      __syncthreads();
    }
    // 3. W = T Gamma' B (over L_A) and R = T L_K (over L_K, once every warp has read it).
    {
      float Wt[K / 16][4] = {};
      warpMma<K / 16, true>(Wt, Ts + r0 * LC, LC, Bs + hf * (K / 2), LK, rw + 1);
      storeTile<K / 16>(Ws, LK, r0, hf * (K / 2), Wt, [](int, int, float x) { return x; });
    }
    float Rt[4][4] = {};
    warpMma<4, true>(Rt, Ts + r0 * LC, LC, LKs + hf * 32, LC, rw + 1);
    __syncthreads();
    storeTile<4>(LKs, LC, r0, hf * 32, Rt, [](int, int, float x) { return x; });
    __syncthreads();
    // 4. Q' = Gamma Q + (M . Q A^T) W over Q, P = (M . Q A^T) R + M . Q K^T over M . Q K^T.
    {
      float Qt[K / 16][4] = {};
      warpMma<K / 16, true>(Qt, MQA + r0 * LC, LC, Ws + hf * (K / 2), LK, rw + 1);
      addIntoTile<K / 16>(Qs, LK, r0, hf * (K / 2), Qt, [&](int i) { return Decay ? __expf(Bc[i]) : 1.f; });
      float Pt[4][4] = {};
      warpMma<4, true>(Pt, MQA + r0 * LC, LC, LKs + hf * 32, LC, rw + 1);
      addIntoTile<4>(MQK, LC, r0, hf * 32, Pt, [](int) { return 1.f; });
    }
    __syncthreads();
    if (tiles) {
      storeChunkTile<K, 256>(tiles + DT::w, Ws, LK);
      storeChunkTile<K, 256>(tiles + DT::qp, Qs, LK);
      storeChunkTile<C, 256>(tiles + DT::r, LKs, LC);
      storeChunkTile<C, 256>(tiles + DT::pv, MQK, LC);
      if (tid < C) ((float *)(tiles + DT::gates))[tid] = Bc[tid];
      if (Scaled && tid >= C && tid < 3 * C) ((float *)(tiles + DT::scales))[tid - C] = Sa[tid - C]; // Sa, then Sk
      return;
    }
    storeRows<K, 256>(d.w, b, h, c, Ws, LK);
    storeRows<K, 256>(d.qp, b, h, c, Qs, LK);
    storeRows<C, 256>(d.r, b, h, c, LKs, LC);
    storeRows<C, 256>(d.pv, b, h, c, MQK, LC);
  }
}

// Ssd: the scalar-decay form (no W, A, R stages; P is computed in the kernel).
template <int K, int VB, bool Ssd = false, int KS = 1> struct DeltaStatesLayout {
  static constexpr int C = 64, LK = K + 8, LC = C + 8, LV = VB + 8, rowsK = C * LK * 2;
  static constexpr int w = 0, qp = w + (Ssd ? 0 : rowsK), a = qp + rowsK, k = a + (Ssd ? 0 : rowsK), r = k + rowsK;
  static constexpr int pv = r + (Ssd ? 0 : C * LC * 2), v = pv + C * LC * 2, ec = v + C * LV * 2;
  static constexpr int stage = ec + (Ssd ? K * 4 : 0); // ec: GLA's chunk log-decays per key
  static constexpr int bc = 2 * stage;            // two stages, then two chunks of gates
  static constexpr int sc = bc + 2 * C * 4;        // two chunks of the scales of a and k
  static constexpr int os = sc + 4 * C * 4;        // per warp: its outputs, [C][16] bf16
  static constexpr int xs = os + (VB / 16) * C * 16 * 2; // KS > 1: partial O^T and U^T per warp
  static constexpr int bytes = xs + (KS > 1 ? (VB / 16) * KS * 2 * 16 * C * 4 : 0);
};

// One CTA of WARPS warps per (value block of 16 WARPS columns, head, batch).
// Each warp owns 16 value columns and keeps their state transposed (S^T, 16 x
// K, fp32 accumulators): every product then has the state or U^T as its
// left operand straight from registers, so the warps share nothing but the
// chunk's operands in shared memory.
// Ssd: the same walk for identity and scalar decays (the SSD form: W = R = 0,
// Q' = Gamma Q, P = M . exp(b_i - b_j) . Q K^T), reading q, k, v only; the
// CTA computes P once per chunk, a 16 x 32 piece per warp.
// KS > 1 (few batch x head pairs, where a warp per 16 value columns leaves the
// SMs two warps each): KS warps share 16 value columns, each holding K / KS
// key rows of S^T; their partial O^T and U^T meet in shared memory.
// Gla (with Ssd): vector decays, the operands from glaPrepare: Q' = Q . exp(b)
// (d.qp), K' = K . exp(b_C - b) (d.w), P (d.pv) and the chunk's log-decays per
// key (d.chunkDecay): O = Q' S + P V, S = Diag(exp(b_C)) S + K'^T V.
template <int K, int WARPS, bool Decay, bool LogDecay, bool Scaled, bool Ssd = false, int KS = 1, bool Gla = false>
__global__ void __launch_bounds__(WARPS * KS * 32, 1) deltaStates(const ScanParams p, const DeltaChunks d) {
  using tile::bf16;
  constexpr int VB = 16 * WARPS, THREADS = WARPS * KS * 32;
  using L = DeltaStatesLayout<K, VB, Ssd, KS>;
  static_assert(!(Ssd && Scaled), "the SSD form has no low-rank operands to scale");
  static_assert(!Gla || (Ssd && !Decay), "GLA's walk: the SSD layout, decays from glaPrepare");
  constexpr int C = L::C, LK = L::LK, LC = L::LC, LV = L::LV, KT = K / 16, KH = KT / KS;
  static_assert(K % (16 * KS) == 0, "chunked tiles");
  extern __shared__ __align__(16) unsigned char smem[];
  float *Bc = (float *)(smem + L::bc), *Sc = (float *)(smem + L::sc); // Sc: [2][Sa, Sk][C]
  const int64_t T = p.T, V = p.Vs, h = blockIdx.y, b = blockIdx.z, blocks = (V + VB - 1) / VB;
  const int64_t j0 = (int64_t)(blockIdx.x % blocks) * VB;
  // Warp wid: value columns v0.. (warp), key tiles from kb (split ks).
  const int wid = threadIdx.x / 32, warp = wid % WARPS, ks = wid / WARPS, kb = ks * KH;
  const int lane = threadIdx.x % 32, g = lane / 4, t4 = lane % 4, v0 = warp * 16;
  const int64_t chunks = (T + C - 1) / C;
  // This CTA's chunks: all, or one segment of the sequence split.
  const bool split = Ssd && d.segChunks > 0, local = split && d.localPass;
  const int seg = split ? (int)(blockIdx.x / blocks) : 0;
  const int64_t cBegin = split ? seg * d.segChunks : 0;
  const int64_t cEnd = split ? (cBegin + d.segChunks < chunks ? cBegin + d.segChunks : chunks) : chunks;
  auto load = [&](int64_t c) {
    unsigned char *st = smem + ((c - cBegin) & 1) * L::stage;
    if constexpr (Gla) {
      if (!local) {
        chunk::copyRows<K, THREADS>((bf16 *)(st + L::qp), LK, d.qp, b, h, c, T, 0, K);
        chunk::copyRows<C, THREADS>((bf16 *)(st + L::pv), LC, d.pv, b, h, c, T, 0, C);
      }
      chunk::copyRows<K, THREADS>((bf16 *)(st + L::k), LK, d.w, b, h, c, T, 0, K);
      chunk::copyRows<VB, THREADS>((bf16 *)(st + L::v), LV, p.v, b, h, c, T, j0, V);
      const float *ec = d.chunkDecay + ((b * chunks + c) * p.H + h) * K;
      for (int i = threadIdx.x; i < K / 4; i += THREADS) tile::copy16(st + L::ec + 16 * i, ec + 4 * i, true);
      tile::commit();
      return;
    }
    if constexpr (Ssd) {
      if (!local) chunk::copyRows<K, THREADS>((bf16 *)(st + L::qp), LK, p.q, b, h, c, T, 0, K);
      chunk::copyRows<K, THREADS>((bf16 *)(st + L::k), LK, p.k, b, h, c, T, 0, K);
      chunk::copyRows<VB, THREADS>((bf16 *)(st + L::v), LV, p.v, b, h, c, T, j0, V);
      tile::commit();
      return;
    }
    chunk::copyRows<K, THREADS>((bf16 *)(st + L::w), LK, d.w, b, h, c, T, 0, K);
    chunk::copyRows<K, THREADS>((bf16 *)(st + L::qp), LK, d.qp, b, h, c, T, 0, K);
    chunk::copyRows<K, THREADS>((bf16 *)(st + L::a), LK, Scaled ? p.b : p.a, b, h, c, T, 0, K);
    if constexpr (!Scaled) chunk::copyRows<K, THREADS>((bf16 *)(st + L::k), LK, p.k, b, h, c, T, 0, K);
    chunk::copyRows<C, THREADS>((bf16 *)(st + L::r), LC, d.r, b, h, c, T, 0, C);
    chunk::copyRows<C, THREADS>((bf16 *)(st + L::pv), LC, d.pv, b, h, c, T, 0, C);
    chunk::copyRows<VB, THREADS>((bf16 *)(st + L::v), LV, p.v, b, h, c, T, j0, V);
    tile::commit();
  };
  // S^T: rows v0 + g (+ 8) of the block, columns 8 nt + 2 t4 (+ 1).
  float STs[1][2 * KH][4];
  float(&ST)[2 * KH][4] = STs[0];
  if (local) {
    chunk::loadState<true>(STs, View{}, V, b, h, kb * 16, j0 + v0); // zeros
  } else {
    chunk::loadState<true>(STs, p.init, V, b, h, kb * 16, j0 + v0);
    for (int s = 0; s < seg; ++s) { // S = Gamma_s S + (segment s from zero)
      const int64_t at = (b * p.H + h) * d.segments + s;
      chunk::loadState<true, true>(STs, d.segState, V, b * d.segments + s, h, kb * 16, j0 + v0,
                                   Gla ? 0.f : __expf(d.segDecay[at]), Gla ? d.segDecay + at * K : nullptr);
    }
  }
  float logDecay = 0.f; // the local pass: the segment's total log-decay
  if (cBegin < cEnd) load(cBegin);
  if (wid == 0) {
    float g0 = 0.f, g1 = 0.f;
    if constexpr (Decay) chunk::scalarGates<LogDecay>(p, b, h, cBegin, g0, g1);
    chunk::cumulativeGates(g0, g1, Bc);
    if constexpr (Scaled) {
      for (int i = lane; i < C; i += 32) {
        const bool ok = i < T;
        Sc[i] = ok ? p.aScale.at(b, i, h, 0) : 0.f, Sc[C + i] = ok ? p.kScale.at(b, i, h, 0) : 0.f;
      }
    }
  }
  for (int64_t c = cBegin; c < cEnd; ++c) {
    const int s = (int)((c - cBegin) & 1);
    const unsigned char *st = smem + s * L::stage;
    const bf16 *Ws = (const bf16 *)(st + L::w), *Qp = (const bf16 *)(st + L::qp), *As = (const bf16 *)(st + L::a),
               *Ks = (const bf16 *)(st + L::k), *Rs = (const bf16 *)(st + L::r), *Ps = (const bf16 *)(st + L::pv),
               *Vs = (const bf16 *)(st + L::v);
    const float *Bs = Bc + s * C;
    tile::waitGroups<0>();
    __syncthreads(); // chunk c has landed; every warp is done with chunk c - 1's stage
    if (c + 1 < cEnd) load(c + 1);
    float g0 = 0.f, g1 = 0.f;
    if (Decay && wid == 0 && c + 1 < cEnd) chunk::scalarGates<LogDecay>(p, b, h, c + 1, g0, g1);
    if (Ssd && !Gla && !local) { // P = M . exp(b_i - b_j) . Q K^T; pieces above the diagonal are never read
      bf16 *Pw = (bf16 *)(smem + s * L::stage + L::pv);
      for (int item = wid; item < 8; item += WARPS * KS) {
        const int r0 = (item % 4) * 16, c0 = (item / 4) * 32;
        if (c0 > r0 + 15) continue;
        float acc[4][4] = {};
        warpMma<4, false>(acc, Qp + r0 * LK, LK, Ks + c0 * LK, LK, KT);
        storeTile<4>(Pw, LC, r0, c0, acc, [&](int i, int j, float x) {
          return j <= i ? (Decay ? x * __expf(fminf(Bs[i] - Bs[j], 0.f)) : x) : 0.f;
        });
      }
      __syncthreads();
    }
    float sa0 = 0.f, sa1 = 0.f, sk0 = 0.f, sk1 = 0.f; // the next chunk's scales, stored after this chunk
    if (Scaled && wid == WARPS * KS - 1 && c + 1 < cEnd) {
      const int64_t t = (c + 1) * C + lane;
      if (t < T) sa0 = p.aScale.at(b, t, h, 0), sk0 = p.kScale.at(b, t, h, 0);
      if (t + 32 < T) sa1 = p.aScale.at(b, t + 32, h, 0), sk1 = p.kScale.at(b, t + 32, h, 0);
    }
    uint32_t SA[KH][4], VA[C / 16][4];
#pragma unroll
    for (int kk = 0; kk < KH; ++kk) {
      SA[kk][0] = tile::pack(ST[2 * kk][0], ST[2 * kk][1]);
      SA[kk][1] = tile::pack(ST[2 * kk][2], ST[2 * kk][3]);
      SA[kk][2] = tile::pack(ST[2 * kk + 1][0], ST[2 * kk + 1][1]);
      SA[kk][3] = tile::pack(ST[2 * kk + 1][2], ST[2 * kk + 1][3]);
    }
#pragma unroll
    for (int kt = 0; kt < C / 16; ++kt) tile::loadAT(VA[kt], Vs + kt * 16 * LV + v0, LV);
    // Z^T = S^T X^T + V^T Y^T for (X, Y) = (Q', P) and (W, R); Y is lower
    // triangular. Ssd: X = Q, its part scaled by Gamma before Y's is added.
    // KS > 1: this warp's key rows of S^T; Y's part only with withY.
    auto product = [&](float (&Z)[C / 8][4], const bf16 *X, const bf16 *Y, bool withY) {
#pragma unroll
      for (int kk = 0; kk < KH; ++kk) {
        uint32_t bb[C / 16][4];
#pragma unroll
        for (int np = 0; np < C / 16; ++np) tile::loadBN(bb[np], X + np * 16 * LK + (kb + kk) * 16, LK);
#pragma unroll
        for (int np = 0; np < C / 16; ++np) {
          tile::mma(Z[2 * np], SA[kk], bb[np][0], bb[np][1]);
          tile::mma(Z[2 * np + 1], SA[kk], bb[np][2], bb[np][3]);
        }
      }
      if constexpr (Ssd && Decay) {
#pragma unroll
        for (int nt = 0; nt < C / 8; ++nt) {
          const int j = nt * 8 + 2 * t4;
          const float f0 = __expf(Bs[j]), f1 = __expf(Bs[j + 1]);
          Z[nt][0] *= f0, Z[nt][1] *= f1, Z[nt][2] *= f0, Z[nt][3] *= f1;
        }
      }
      if (!withY) return;
#pragma unroll
      for (int kk = 0; kk < C / 16; ++kk) {
        uint32_t bb[C / 16][4];
#pragma unroll
        for (int np = kk; np < C / 16; ++np) tile::loadBN(bb[np], Y + np * 16 * LC + kk * 16, LC);
#pragma unroll
        for (int np = kk; np < C / 16; ++np) {
          tile::mma(Z[2 * np], VA[kk], bb[np][0], bb[np][1]);
          tile::mma(Z[2 * np + 1], VA[kk], bb[np][2], bb[np][3]);
        }
      }
    };
    float OT[C / 8][4] = {}, UT[C / 8][4] = {};
    if (!local) product(OT, Qp, Ps, ks == 0);
    if constexpr (!Ssd) product(UT, Ws, Rs, ks == KS - 1);
    if constexpr (KS > 1) { // the KS partial sums of these value columns meet in shared memory
      float *X = (float *)(smem + L::xs) + (size_t)warp * KS * 2 * 16 * C;
#pragma unroll
      for (int nt = 0; nt < C / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          X[((ks * 2) * 32 + nt * 4 + e) * 32 + lane] = OT[nt][e];
          X[((ks * 2 + 1) * 32 + nt * 4 + e) * 32 + lane] = UT[nt][e];
        }
      __syncthreads();
#pragma unroll
      for (int o = 1; o < KS; ++o) {
        const int k = (ks + o) % KS;
#pragma unroll
        for (int nt = 0; nt < C / 8; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            if (ks == 0) OT[nt][e] += X[((k * 2) * 32 + nt * 4 + e) * 32 + lane];
            if (!Ssd) UT[nt][e] += X[((k * 2 + 1) * 32 + nt * 4 + e) * 32 + lane];
          }
      }
    }
    if (!local && ks == 0) {
      if (d.oRows) { // transposed through the warp's own shared memory, then 16-byte rows
        bf16 *Os = (bf16 *)(smem + L::os) + warp * C * 16, *o = (bf16 *)p.o.p;
#pragma unroll
        for (int nt = 0; nt < C / 8; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e)
            Os[(nt * 8 + 2 * t4 + (e & 1)) * 16 + g + (e >= 2 ? 8 : 0)] = __float2bfloat16(OT[nt][e] * p.scale);
        __syncwarp();
#pragma unroll
        for (int i = 0; i < C / 16; ++i) {
          const int r = i * 16 + lane / 2, hh = lane % 2;
          const int64_t t = c * C + r, col = j0 + v0 + hh * 8;
          if (t < T && col < V)
            *(uint4 *)(o + b * p.o.s0 + t * p.o.s1 + h * p.o.s2 + col) = *(const uint4 *)(Os + r * 16 + hh * 8);
        }
      } else {
#pragma unroll
        for (int nt = 0; nt < C / 8; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int64_t t = c * C + nt * 8 + 2 * t4 + (e & 1), col = j0 + v0 + g + (e >= 2 ? 8 : 0);
            if (t < T && col < V) p.o.set(b, t, h, col, OT[nt][e] * p.scale);
          }
      }
    }
    if constexpr (Gla) { // S^T . Diag(exp(b_C)), per key column
      const float *ec = (const float *)(st + L::ec);
#pragma unroll
      for (int nt = 0; nt < 2 * KH; ++nt) {
        const int key = kb * 16 + nt * 8 + 2 * t4;
        const float f0 = __expf(ec[key]), f1 = __expf(ec[key + 1]);
        ST[nt][0] *= f0, ST[nt][1] *= f1, ST[nt][2] *= f0, ST[nt][3] *= f1;
      }
    }
    // S^T = gamma_C S^T + (U^T . e) A + (V^T . e) K, e_j = exp(b_C - b_j).
    const float bL = Decay ? Bs[C - 1] : 0.f;
    logDecay += bL;
    if constexpr (Decay) {
      const float eL = __expf(bL);
#pragma unroll
      for (int nt = 0; nt < 2 * KH; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) ST[nt][e] *= eL;
    }
    auto decayTo = [&](int j) { return Decay ? __expf(bL - Bs[j]) : 1.f; };
    // S^T += L X for a 16-column left operand L (fragment) and the rows
    // 16 kt.. of X (this warp's key columns): 2 KH independent accumulators
    // between dependent mmas.
    auto addToState = [&](const uint32_t *L, const bf16 *X, int kt) {
      uint32_t bb[KH][4];
#pragma unroll
      for (int np = 0; np < KH; ++np) tile::loadBK(bb[np], X + kt * 16 * LK + (kb + np) * 16, LK);
#pragma unroll
      for (int np = 0; np < KH; ++np) {
        tile::mma(ST[2 * np], L, bb[np][0], bb[np][1]);
        tile::mma(ST[2 * np + 1], L, bb[np][2], bb[np][3]);
      }
    };
    if constexpr (Scaled) {
      // a = diag(sa) b and k = diag(sk) b: one product, (U^T . e sa + V^T . e sk) B.
      const float *Sa = Sc + s * 2 * C, *Sk = Sa + C;
#pragma unroll
      for (int kt = 0; kt < C / 16; ++kt) {
        uint32_t CA[4];
#pragma unroll
        for (int r = 0; r < 4; ++r) { // fragment register r: rows g (+8 if r odd), columns j, j + 1
          const int nt = 2 * kt + r / 2, e0 = (r & 1) * 2, j = nt * 8 + 2 * t4;
          const float2 vv = __bfloat1622float2(*(const __nv_bfloat162 *)&VA[kt][r]);
          CA[r] = tile::pack(decayTo(j) * (UT[nt][e0] * Sa[j] + vv.x * Sk[j]),
                             decayTo(j + 1) * (UT[nt][e0 + 1] * Sa[j + 1] + vv.y * Sk[j + 1]));
        }
        addToState(CA, As, kt);
      }
    } else {
      if constexpr (Decay) { // e_j on the columns of U^T and V^T
#pragma unroll
        for (int nt = 0; nt < C / 8; ++nt) {
          const int j = nt * 8 + 2 * t4;
          const float f0 = decayTo(j), f1 = decayTo(j + 1);
          UT[nt][0] *= f0, UT[nt][1] *= f1, UT[nt][2] *= f0, UT[nt][3] *= f1;
          const int kt = nt / 2, hi = (nt % 2) * 2;
          VA[kt][hi] = tile::scalePair(VA[kt][hi], f0, f1);
          VA[kt][hi + 1] = tile::scalePair(VA[kt][hi + 1], f0, f1);
        }
      }
#pragma unroll
      for (int kt = 0; kt < C / 16; ++kt) {
        const uint32_t UA[4] = {tile::pack(UT[2 * kt][0], UT[2 * kt][1]), tile::pack(UT[2 * kt][2], UT[2 * kt][3]),
                                tile::pack(UT[2 * kt + 1][0], UT[2 * kt + 1][1]),
                                tile::pack(UT[2 * kt + 1][2], UT[2 * kt + 1][3])};
        if constexpr (!Ssd) addToState(UA, As, kt);
        addToState(VA[kt], Ks, kt);
      }
    }
    if (Decay && wid == 0 && c + 1 < cEnd) chunk::cumulativeGates(g0, g1, Bc + (s ^ 1) * C);
    if (Scaled && wid == WARPS * KS - 1 && c + 1 < cEnd) {
      float *Sa = Sc + (s ^ 1) * 2 * C, *Sk = Sa + C;
      Sa[lane] = sa0, Sa[lane + 32] = sa1, Sk[lane] = sk0, Sk[lane + 32] = sk1;
    }
  }
  if (local) {
    chunk::storeState<true>(STs, d.segState, V, b * d.segments + seg, h, kb * 16, j0 + v0);
    if (Gla && j0 == 0) { // the segment's log-decay per key: the sum of its chunks'
      for (int i = threadIdx.x; i < K; i += THREADS) {
        float sum = 0.f;
        for (int64_t c = cBegin; c < cEnd; ++c) sum += d.chunkDecay[((b * chunks + c) * p.H + h) * K + i];
        d.segDecay[((b * p.H + h) * d.segments + seg) * K + i] = sum;
      }
    } else if (threadIdx.x == 0 && j0 == 0) {
      d.segDecay[(b * p.H + h) * d.segments + seg] = logDecay;
    }
  } else if (!split || seg == d.segments - 1) {
    chunk::storeState<true>(STs, p.state, V, b, h, kb * 16, j0 + v0);
  }
}

// The walk of the delta rules for few (batch, head) pairs on Hopper (sm_90a):
// one warpgroup per (VB value columns, head, batch) with its K x VB block of
// the state in wgmma accumulators (fp32; key rows 64 m + the accumulator
// rows). Each chunk: U = W S + R V and O = Q' S + P V by wgmma (the bf16 copy
// of S in shared memory as their B operand), then the new values
// Vn = e . (sa U + sk V) (scaled; else e . U and e . V, two products) and
// S = gamma_C S + B^T Vn, B^T read MN-major straight from the chunk's rows.
// The serial chain per chunk is two rounds of products on the tensor cores
// instead of the mma.sync walk's four products per warp. The chunk's shared
// operands arrive as deltaPrepare's block (one bulk copy) and its columns of
// v by cp.async, both while the previous chunk runs. VB = 32 value columns
// (64, half the CTAs, measured slower at 2,16384,16,128: bench/results/cuda.md).
template <int K, bool Scaled> struct DeltaWgLayout {
  static constexpr int C = 64, VB = 32, rowsV = tile::tileBytes<C, VB>, rowsS = tile::tileBytes<K, VB>;
  using DT = DeltaTiles<K, Scaled>; // from deltaPrepare: one bulk copy
  static constexpr int w = DT::w, qp = DT::qp, r = DT::r, pv = DT::pv, a = DT::a, k = DT::k;
  static constexpr int v = DT::bytes, stage = v + rowsV;
  static constexpr int s = 2 * stage;     // two bf16 copies of S (K x VB): chunk c reads copy c % 2
  static constexpr int un = s + 2 * rowsS; // Vn (scaled) or e . U
  static constexpr int ve = un + rowsV;    // e . V (not scaled, with decays)
  static constexpr int bar = ve + rowsV;   // an mbarrier per stage
  static constexpr int bytes = bar + 16;
};

template <int K, bool Decay, bool Scaled>
__global__ void __launch_bounds__(128, 1) deltaWalkWg(const ScanParams p, const DeltaChunks d) {
#if MIXC_WGMMA
  using L = DeltaWgLayout<K, Scaled>;
  constexpr int C = L::C, VB = L::VB, MT = K / 64, R = VB / 2; // R: accumulators per thread of a 64 x VB tile
  static_assert(K % 64 == 0 && K <= 128, "key rows in tiles of 64");
  extern __shared__ __align__(16) unsigned char smem[];
  unsigned char *Un = smem + L::un, *Ve = smem + L::ve;
  const int64_t T = p.T, V = p.Vs, h = blockIdx.y, b = blockIdx.z, j0 = (int64_t)blockIdx.x * VB;
  const int tid = threadIdx.x, wid = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4;
  const int64_t chunks = (T + C - 1) / C;
  uint64_t *bar = (uint64_t *)(smem + L::bar);
  if (tid == 0) {
    tile::mbarInit(bar, 1), tile::mbarInit(bar + 1, 1);
    tile::asyncProxyFence(); // the bulk copies signal barriers the generic proxy initialized
  }
  __syncthreads();
  // The shared block by the bulk copy engine (one thread, completing on the
  // stage's mbarrier); this block's columns of v by cp.async.
  auto load = [&](int64_t c) {
    unsigned char *st = smem + (c & 1) * L::stage;
    if (tid == 0) {
      tile::mbarExpect(bar + (c & 1), L::DT::bytes);
      tile::bulkCopy(st, d.tiles + ((b * chunks + c) * p.H + h) * L::DT::bytes, L::DT::bytes, bar + (c & 1));
    }
    chunk::copyRows<VB, 128>((tile::bf16 *)(st + L::v), 8, p.v, b, h, c, T, j0, V, tile::tileGroup<C> / 2);
    tile::commit();
  };
  // Accumulator element e of this thread: row 16 wid + g + 8 ((e / 2) % 2), column 8 (e / 4) + 2 t4 + e % 2.
  auto rowOf = [&](int e) { return 16 * wid + g + 8 * ((e / 2) % 2); };
  auto colOf = [&](int e) { return 8 * (e / 4) + 2 * t4 + e % 2; };
  float S[MT][R];
#pragma unroll
  for (int m = 0; m < MT; ++m)
#pragma unroll
    for (int e = 0; e < R; ++e) {
      const int64_t col = j0 + colOf(e);
      S[m][e] = p.init.p && col < V ? p.init.at(b, h, 64 * m + rowOf(e), col) : 0.f;
    }
  auto copyS = [&](int buf) { // the bf16 copy of S, rows = keys, columns = value columns
    unsigned char *Ss = smem + L::s + buf * L::rowsS;
#pragma unroll
    for (int m = 0; m < MT; ++m)
#pragma unroll
      for (int e = 0; e < R; e += 2)
        *(uint32_t *)(Ss + tile::tileAt<K>(64 * m + rowOf(e), colOf(e))) = tile::pack(S[m][e], S[m][e + 1]);
    tile::asyncProxyFence();
  };
  copyS(0);
  if (chunks > 0) load(0);
  for (int64_t c = 0; c < chunks; ++c) {
    const int s = (int)(c & 1);
    const unsigned char *st = smem + s * L::stage, *Ss = smem + L::s + s * L::rowsS;
    const float *Bs = (const float *)(st + L::DT::gates), *Sa = (const float *)(st + L::DT::scales), *Sk = Sa + C;
    tile::waitGroups<0>();
    tile::mbarWait(bar + s, (int)((c >> 1) & 1));
    tile::asyncProxyFence();
    __syncthreads(); // chunk c and the copy of S have landed; chunk c - 1's products are done
    if (c + 1 < chunks) load(c + 1);
    // Z = X S + Y V as one group of products: U = W S + R V first (the chain
    // waits on it), then O = Q' S + P V.
    float U[R], O[R];
#pragma unroll
    for (int e = 0; e < R; ++e) U[e] = 0.f, O[e] = 0.f;
    tile::wgFence(U), tile::wgFence(O);
    tile::wgArrive();
    auto product = [&](float(&Z)[R], int x, int y) {
#pragma unroll
      for (int ks = 0; ks < K / 16; ++ks)
        tile::wgmma<0, 1>(Z, tile::wgKMajor<C>(st + x, ks), tile::wgMnMajor<K>(Ss, ks));
#pragma unroll
      for (int ks = 0; ks < C / 16; ++ks)
        tile::wgmma<0, 1>(Z, tile::wgKMajor<C>(st + y, ks), tile::wgMnMajor<C>(st + L::v, ks));
      tile::wgCommit();
    };
    product(U, L::w, L::r);
    product(O, L::qp, L::pv);
    tile::wgWait<1>();
    tile::wgFence(U);
    // The new values, rows j of the chunk: e_j = exp(b_C - b_j).
    const float bL = Decay ? Bs[C - 1] : 0.f;
#pragma unroll
    for (int e = 0; e < R; e += 2) {
      const int j = rowOf(e), col = colOf(e), at = tile::tileAt<C>(j, col);
      const float ej = Decay ? __expf(bL - Bs[j]) : 1.f;
      const float2 vv = __bfloat1622float2(*(const __nv_bfloat162 *)(st + L::v + at));
      if constexpr (Scaled) {
        const float sa = Sa[j] * ej, sk = Sk[j] * ej;
        *(uint32_t *)(Un + at) = tile::pack(sa * U[e] + sk * vv.x, sa * U[e + 1] + sk * vv.y);
      } else {
        *(uint32_t *)(Un + at) = tile::pack(ej * U[e], ej * U[e + 1]);
        if constexpr (Decay) *(uint32_t *)(Ve + at) = tile::pack(ej * vv.x, ej * vv.y);
      }
    }
    tile::asyncProxyFence();
    __syncthreads(); // the new values are in shared memory
    if constexpr (Decay) {
      const float eL = __expf(bL);
#pragma unroll
      for (int m = 0; m < MT; ++m)
#pragma unroll
        for (int e = 0; e < R; ++e) S[m][e] *= eL;
    }
#pragma unroll
    for (int m = 0; m < MT; ++m) tile::wgFence(S[m]);
    tile::wgArrive();
#pragma unroll
    for (int m = 0; m < MT; ++m) {
#pragma unroll
      for (int ks = 0; ks < C / 16; ++ks)
        tile::wgmma<1, 1>(S[m], tile::wgMnMajor<C>(st + L::a, ks, 64 * m), tile::wgMnMajor<C>(Un, ks));
      if constexpr (!Scaled) {
#pragma unroll
        for (int ks = 0; ks < C / 16; ++ks)
          tile::wgmma<1, 1>(S[m], tile::wgMnMajor<C>(st + L::k, ks, 64 * m),
                              tile::wgMnMajor<C>(Decay ? Ve : st + L::v, ks));
      }
    }
    tile::wgCommit();
    tile::wgWait<0>();
#pragma unroll
    for (int m = 0; m < MT; ++m) tile::wgFence(S[m]);
    tile::wgFence(O);
    copyS(s ^ 1);
#pragma unroll
    for (int e = 0; e < R; e += 2) {
      const int64_t t = c * C + rowOf(e), col = j0 + colOf(e);
      if (t >= T || col >= V) continue;
      if (d.oRows) {
        __nv_bfloat16 *o = (__nv_bfloat16 *)p.o.p + b * p.o.s0 + t * p.o.s1 + h * p.o.s2 + col;
        *(uint32_t *)o = tile::pack(O[e] * p.scale, O[e + 1] * p.scale);
      } else {
        p.o.set(b, t, h, col, O[e] * p.scale);
        p.o.set(b, t, h, col + 1, O[e + 1] * p.scale);
      }
    }
  }
  if (p.state.p) {
#pragma unroll
    for (int m = 0; m < MT; ++m)
#pragma unroll
      for (int e = 0; e < R; ++e) {
        const int64_t col = j0 + colOf(e);
        if (col < V) p.state.set(b, h, 64 * m + rowOf(e), col, S[m][e]);
      }
  }
#else
  __trap(); // launched only where hasWgmma() holds
#endif
}

// The state pass in value blocks of 128, 64 or 32 columns: the widest that
// still gives every SM a CTA.
// FIXED_WARPS (sequence split): that width whatever the pair count.
template <int K, bool Decay, bool LogDecay, bool Scaled, bool Ssd, int FIXED_WARPS = 0, bool Gla = false>
cudaError_t launchStates(const ScanParams &p, DeltaChunks d, cudaStream_t stream) {
  d.oRows = p.o.dtype == MIXC_BF16 && p.o.s3 == 1 && p.o.s0 % 8 == 0 && p.o.s1 % 8 == 0 && p.o.s2 % 8 == 0 &&
            (uintptr_t)p.o.p % 16 == 0;
  auto states = [&](auto kernel, int warps, int bytes, int ks = 1) {
    if (cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes)) return e;
    dim3 grid((unsigned)((p.Vs + 16 * warps - 1) / (16 * warps) * d.segments), (unsigned)p.H, (unsigned)p.B);
    kernel<<<grid, 32 * warps * ks, bytes, stream>>>(p, d);
    return cudaGetLastError();
  };
  if constexpr (FIXED_WARPS == 8)
    return states(deltaStates<K, 8, Decay, LogDecay, Scaled, Ssd, 1, Gla>, 8, DeltaStatesLayout<K, 128, Ssd>::bytes);
  const int sms = chunk::smCount();
  auto ctas = [&](int vb) { return p.B * p.H * ((p.Vs + vb - 1) / vb); };
  if (ctas(128) >= sms)
    return states(deltaStates<K, 8, Decay, LogDecay, Scaled, Ssd, 1, Gla>, 8, DeltaStatesLayout<K, 128, Ssd>::bytes);
  if (ctas(64) >= sms)
    return states(deltaStates<K, 4, Decay, LogDecay, Scaled, Ssd, 1, Gla>, 4, DeltaStatesLayout<K, 64, Ssd>::bytes);
  // Fewer pairs still: two warps share each 16 value columns, K / 2 key rows each.
  if constexpr (K % 32 == 0 && DeltaStatesLayout<K, 32, Ssd, 2>::bytes <= 227 * 1024)
    return states(deltaStates<K, 2, Decay, LogDecay, Scaled, Ssd, 2, Gla>, 2, DeltaStatesLayout<K, 32, Ssd, 2>::bytes,
                  2);
  return states(deltaStates<K, 2, Decay, LogDecay, Scaled, Ssd, 1, Gla>, 2, DeltaStatesLayout<K, 32, Ssd>::bytes);
}

// The two kernels of the delta rule.
template <int K, bool Decay, bool LogDecay, bool Scaled>
cudaError_t launchChunkedDelta(const ScanParams &p, Scratch &scratch, cudaStream_t stream) {
  constexpr int C = chunk::C;
  const int64_t chunks = (p.T + C - 1) / C, rows = p.B * chunks * C * p.H;
  DeltaChunks d;
  // Few (batch, head) pairs on Hopper: the wgmma walk, a warpgroup per 32 value columns.
  constexpr bool wgShape = K % 64 == 0 && K <= 128;
  const bool wg = wgShape && chunk::hasWgmma() && p.B * p.H * ((p.Vs + 63) / 64) < chunk::smCount();
  if (rows > 0) {
    if (wg) {
      d.tiles = (unsigned char *)scratch.alloc(p.B * chunks * p.H * DeltaTiles<K, Scaled>::bytes / 4);
      if (!d.tiles) return cudaErrorMemoryAllocation;
    } else {
      __nv_bfloat16 *base = (__nv_bfloat16 *)scratch.alloc(rows * (K + C)); // 2 (K + C) bf16 per row
      if (!base) return cudaErrorMemoryAllocation;
      d.w = chunkRows(p, base, K), d.qp = chunkRows(p, base + rows * K, K);
      d.r = chunkRows(p, base + 2 * rows * K, C), d.pv = chunkRows(p, base + 2 * rows * K + rows * C, C);
    }
    // A CTA per item, two per SM (0.87 ms at 4,4096,64,128 on an H100), beat
    // persistent CTAs that prefetched the next item's rows (one per SM: 1.17
    // ms): the phases of one item leave warps idle at barriers.
    constexpr int bytes = DeltaPrepareLayout<K>::bytes;
    auto prepare = deltaPrepare<K, Decay, LogDecay, Scaled>;
    if (cudaError_t e = cudaFuncSetAttribute(prepare, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes))
      return e;
    prepare<<<(unsigned)(chunks * p.H * p.B), 256, bytes, stream>>>(p, d);
  }
  if constexpr (wgShape) {
    if (wg) {
      using L = DeltaWgLayout<K, Scaled>;
      d.oRows = p.o.dtype == MIXC_BF16 && p.o.s3 == 1 && p.o.s0 % 2 == 0 && p.o.s1 % 2 == 0 && p.o.s2 % 2 == 0 &&
                (uintptr_t)p.o.p % 4 == 0;
      auto walk = deltaWalkWg<K, Decay, Scaled>; // the log-decays arrive prepared
      if (cudaError_t e = cudaFuncSetAttribute(walk, cudaFuncAttributeMaxDynamicSharedMemorySize, L::bytes))
        return e;
      walk<<<dim3((unsigned)((p.Vs + L::VB - 1) / L::VB), (unsigned)p.H, (unsigned)p.B), 128, L::bytes, stream>>>(p,
                                                                                                                   d);
      return cudaGetLastError();
    }
  }
  return launchStates<K, Decay, LogDecay, Scaled, false>(p, d, stream);
}

// The walk of the SSD and GLA forms (no low-rank part), in one kernel; or,
// when the (batch, head) pairs leave SMs idle, split along the sequence into
// segments: a local pass (each segment from a zero state, no outputs) and
// the full pass, each segment starting from the initial state folded with
// the local states before it. A segment's log-decay is a scalar (SSD) or a
// vector per key (GLA).
template <int K, bool Decay, bool LogDecay, bool Gla>
cudaError_t launchWalk(const ScanParams &p, DeltaChunks d, Scratch &scratch, cudaStream_t stream) {
  const int64_t chunks = (p.T + chunk::C - 1) / chunk::C, pairs = p.B * p.H * ((p.Vs + 127) / 128);
  const int sms = chunk::smCount();
  // One CTA of 8 warps per SM (registers): as many segments as fill the SMs
  // once; a second partial wave would cost a whole segment's time.
  if (2 * pairs <= sms && chunks >= 8) {
    int64_t segs = sms / pairs;
    segs = segs < chunks / 4 ? segs : chunks / 4; // segments of at least 4 chunks
    d.segChunks = (chunks + segs - 1) / segs;
    d.segments = (int)((chunks + d.segChunks - 1) / d.segChunks);
    const int decayWidth = Gla ? K : 1;
    float *mem = scratch.alloc(p.B * d.segments * p.H * (K * p.Vs + decayWidth));
    if (!mem) return cudaErrorMemoryAllocation;
    d.segState.p = mem, d.segState.dtype = MIXC_F32, d.segState.s3 = 1, d.segState.s2 = p.Vs;
    d.segState.s1 = K * p.Vs, d.segState.s0 = p.H * K * p.Vs;
    d.segDecay = mem + p.B * d.segments * p.H * K * p.Vs;
    d.localPass = true;
    if (cudaError_t e = launchStates<K, Decay, LogDecay, false, true, 8, Gla>(p, d, stream)) return e;
    d.localPass = false;
    return launchStates<K, Decay, LogDecay, false, true, 8, Gla>(p, d, stream);
  }
  return launchStates<K, Decay, LogDecay, false, true, 0, Gla>(p, d, stream);
}

// The SSD form (identity and scalar decays): the walk alone.
template <int K, bool Decay, bool LogDecay>
cudaError_t launchChunkedSsd(const ScanParams &p, Scratch &scratch, cudaStream_t stream) {
  return launchWalk<K, Decay, LogDecay, false>(p, DeltaChunks{}, scratch, stream);
}


// GLA's state-independent work for every chunk at once (vector decays, the
// secondary chunking above): one CTA per (chunk, head, batch) loads
// Q, K and the gates, forms the cumulative log-decays b, and writes
// Q' = Q . exp(b), K' = K . exp(b_C - b) (both <= |Q|, |K|), the chunk's
// log-decay b_C per key, and P_ij = sum_k Q_ik K_jk exp(b_ik - b_jk) (j <= i)
// by 16 x 16 sub-block pairs: rows of sub-block I relative to the token
// before it, r = 16 I - 1, Q^ = Q . exp(b - b_r), K^ = K . exp(b_r - b) per
// row's own sub-block, and Dp[I, J] = exp(b_r(I) - b_r(J)) on the pairs J < I.
template <int K> struct GlaPrepareLayout {
  static constexpr int C = 64, LK = K + 8, LC = C + 8, LB = K + 8;
  static constexpr int q = 0, k = q + C * LK * 2, g = k + C * LK * 2, bc = g + C * K * 4;
  static constexpr int df = bc + C * LB * 4, ps = df + 6 * K * 4, bytes = ps + C * LC * 2;
};

template <int K, bool LogDecay>
__global__ void __launch_bounds__(256, 2) glaPrepare(const ScanParams p, const DeltaChunks d) {
  using tile::bf16;
  using L = GlaPrepareLayout<K>;
  constexpr int C = L::C, LK = L::LK, LC = L::LC, LB = L::LB, KT = K / 16;
  static_assert(K % 64 == 0 && K <= 128, "GLA tiles");
  extern __shared__ __align__(16) unsigned char smem[];
  bf16 *Qs = (bf16 *)(smem + L::q), *Ks = (bf16 *)(smem + L::k), *Ps = (bf16 *)(smem + L::ps);
  unsigned char *Gs = smem + L::g;
  float *Bc = (float *)(smem + L::bc), *Df = (float *)(smem + L::df);
  const int64_t T = p.T, chunks = (T + C - 1) / C;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4;
  const int64_t item = blockIdx.x, c = item % chunks, h = (item / chunks) % p.H, b = item / (chunks * p.H);
  const int gsize = p.decay.dtype == MIXC_F32 ? 4 : 2;
  chunk::copyRows<K, 256>(Qs, LK, p.q, b, h, c, T, 0, K);
  chunk::copyRows<K, 256>(Ks, LK, p.k, b, h, c, T, 0, K);
  const int segs = K * gsize / 16;
  for (int e = tid; e < C * segs; e += 256) {
    const int r = e / segs, sgm = e % segs;
    const int64_t t = c * C + r, tt = t < T ? t : 0;
    const unsigned char *src =
        (const unsigned char *)p.decay.p + (b * p.decay.s0 + tt * p.decay.s1 + h * p.decay.s2) * gsize + sgm * 16;
    tile::copy16(Gs + (size_t)r * K * 4 + sgm * 16, src, t < T);
  }
  tile::commit();
  tile::waitGroups<0>();
  __syncthreads();
  { // cumulative log-decays per channel: two threads per channel, 32 rows each
    for (int kk = tid; kk < 2 * K; kk += 256) {
      const int ch = kk % K, half = kk / K;
      float acc = 0.f;
      for (int r = half * 32; r < half * 32 + 32; ++r) {
        float x = gsize == 4 ? ((const float *)(Gs + (size_t)r * K * 4))[ch]
                             : __bfloat162float(((const bf16 *)(Gs + (size_t)r * K * 4))[ch]);
        if constexpr (!LogDecay) x = c * C + r < T ? __logf(x) : 0.f;
        acc += x;
        Bc[r * LB + ch] = acc;
      }
    }
    __syncthreads();
    for (int kk = tid; kk < K; kk += 256) {
      const float base = Bc[31 * LB + kk];
      for (int r = 32; r < 64; ++r) Bc[r * LB + kk] += base;
    }
    __syncthreads();
  }
  const float *bC = Bc + (C - 1) * LB;
  for (int i = tid; i < K; i += 256) d.chunkDecay[((b * chunks + c) * p.H + h) * K + i] = bC[i];
  // Q' and K' to their rows (pairs of features per thread).
  {
    bf16 *qo = (bf16 *)d.qp.p + b * d.qp.s0 + h * d.qp.s2 + c * C * d.qp.s1;
    bf16 *ko = (bf16 *)d.w.p + b * d.w.s0 + h * d.w.s2 + c * C * d.w.s1;
    for (int e = tid; e < C * K / 2; e += 256) {
      const int r = e / (K / 2), kc = (e % (K / 2)) * 2;
      const float b0 = Bc[r * LB + kc], b1 = Bc[r * LB + kc + 1];
      const uint32_t qv = *(const uint32_t *)&Qs[r * LK + kc], kv = *(const uint32_t *)&Ks[r * LK + kc];
      *(uint32_t *)(qo + r * d.qp.s1 + kc) = tile::scalePair(qv, __expf(b0), __expf(b1));
      *(uint32_t *)(ko + r * d.w.s1 + kc) = tile::scalePair(kv, __expf(bC[kc] - b0), __expf(bC[kc + 1] - b1));
    }
  }
  __syncthreads();
  // In place, relative to each row's sub-block reference; the pair factors.
  for (int e = tid; e < C * K / 2; e += 256) {
    const int r = e / (K / 2), kc = (e % (K / 2)) * 2, ref = (r / 16) * 16 - 1;
    const float r0 = ref < 0 ? 0.f : Bc[ref * LB + kc], r1 = ref < 0 ? 0.f : Bc[ref * LB + kc + 1];
    const float b0 = Bc[r * LB + kc], b1 = Bc[r * LB + kc + 1];
    uint32_t *qp = (uint32_t *)&Qs[r * LK + kc], *kp = (uint32_t *)&Ks[r * LK + kc];
    *qp = tile::scalePair(*qp, __expf(b0 - r0), __expf(b1 - r1));
    *kp = tile::scalePair(*kp, __expf(fminf(r0 - b0, 80.f)), __expf(fminf(r1 - b1, 80.f)));
  }
  for (int e = tid; e < 6 * K; e += 256) { // Dp[I, J], J < I: (1,0) (2,0) (2,1) (3,0) (3,1) (3,2)
    const int pi = e / K, kc = e % K, I = pi < 1 ? 1 : pi < 3 ? 2 : 3, J = pi - (I * (I - 1)) / 2;
    auto bref = [&](int X) { return X == 0 ? 0.f : Bc[(16 * X - 1) * LB + kc]; };
    Df[pi * K + kc] = __expf(bref(I) - bref(J));
  }
  __syncthreads();
  // P by 16 x 16 blocks (I, J), J <= I; blocks above the diagonal are zeros.
  for (int blk = warp; blk < 16; blk += 8) {
    const int I = blk / 4, J = blk % 4, r0 = I * 16;
    float P[2][4] = {};
    if (J <= I) {
      const float *dp = Df + ((I * (I - 1)) / 2 + J) * K;
#pragma unroll
      for (int kk = 0; kk < KT; ++kk) {
        uint32_t qa[4], bb[4];
        tile::loadA(qa, Qs + r0 * LK + kk * 16, LK);
        tile::loadBN(bb, Ks + J * 16 * LK + kk * 16, LK);
        if (J < I) {
          const float *f = dp + kk * 16 + 2 * t4;
          bb[0] = tile::scalePair(bb[0], f[0], f[1]), bb[1] = tile::scalePair(bb[1], f[8], f[9]);
          bb[2] = tile::scalePair(bb[2], f[0], f[1]), bb[3] = tile::scalePair(bb[3], f[8], f[9]);
        }
        tile::mma(P[0], qa, bb[0], bb[1]);
        tile::mma(P[1], qa, bb[2], bb[3]);
      }
    }
#pragma unroll
    for (int n = 0; n < 2; ++n) {
      const int j = J * 16 + n * 8 + 2 * t4, i0 = r0 + g, i1 = r0 + g + 8;
      *(uint32_t *)&Ps[i0 * LC + j] = tile::pack(j <= i0 ? P[n][0] : 0.f, j + 1 <= i0 ? P[n][1] : 0.f);
      *(uint32_t *)&Ps[i1 * LC + j] = tile::pack(j <= i1 ? P[n][2] : 0.f, j + 1 <= i1 ? P[n][3] : 0.f);
    }
  }
  __syncthreads();
  storeRows<C, 256>(d.pv, b, h, c, Ps, LC);
}

// GLA: glaPrepare, then the state walk in its GLA form (split along the
// sequence when the (batch, head) pairs cannot fill the SMs).
template <int K, bool LogDecay>
cudaError_t launchChunkedGla(const ScanParams &p, Scratch &scratch, cudaStream_t stream) {
  constexpr int C = chunk::C;
  const int64_t chunks = (p.T + C - 1) / C, rows = p.B * chunks * C * p.H;
  if (rows == 0) return launchWalk<K, false, LogDecay, true>(p, DeltaChunks{}, scratch, stream);
  DeltaChunks d;
  __nv_bfloat16 *base = (__nv_bfloat16 *)scratch.alloc(rows * (2 * K + C) / 2 + p.B * chunks * p.H * K);
  if (!base) return cudaErrorMemoryAllocation;
  d.qp = chunkRows(p, base, K), d.w = chunkRows(p, base + rows * K, K), d.pv = chunkRows(p, base + 2 * rows * K, C);
  d.chunkDecay = (float *)(base + rows * (2 * K + C));
  constexpr int bytes = GlaPrepareLayout<K>::bytes;
  if (cudaError_t e = cudaFuncSetAttribute(glaPrepare<K, LogDecay>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes))
    return e;
  glaPrepare<K, LogDecay><<<(unsigned)(chunks * p.H * p.B), 256, bytes, stream>>>(p, d);
  return launchWalk<K, false, LogDecay, true>(p, d, scratch, stream);
}

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


} // namespace mixc::cuda

#endif
