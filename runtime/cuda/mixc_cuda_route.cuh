// Mixture-of-Memories on the GPU (mixer.route_gather / route_scatter): the
// tokens routed to each memory become one sequence of the scan, B x M of them,
// zero rows (identity steps) padding each to the longest, L; the readouts are
// mixed back per token by the router's weights. L sizes the scan's grid, so
// the plan's counts come back to the host (one small copy and a stream sync,
// as in any gather to a data-dependent length).
#ifndef MIXC_CUDA_ROUTE_CUH
#define MIXC_CUDA_ROUTE_CUH

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace mixc::cuda {

// The route [B, T, k] (int64, any strides) and the plan made from it.
struct RoutePlan {
  const int64_t *route = nullptr;
  int64_t rs0 = 0, rs1 = 0, rs2 = 0;
  int64_t B = 0, T = 0, k = 0, M = 0, L = 0;
  int32_t *pos = nullptr; // [B, T * k]: each choice's position in its memory's sequence
  const int32_t *count = nullptr; // [B * M]: each memory's tokens (device)
  __device__ __forceinline__ int64_t memory(int64_t b, int64_t t, int64_t j) const {
    return route[b * rs0 + t * rs1 + j * rs2];
  }
};

// A block per (batch row, memory): each warp takes a contiguous share of the
// row's T x k choices, counts that memory's among them by ballots, and after a
// prefix over the warps' counts gives each its position. Deterministic (a warp
// per pair walking the whole row took 0.5 ms for B x M = 8 at T = 16384).
template <typename = void> __global__ void routePositionsKernel(RoutePlan p, int32_t *count, int *bad) {
  __shared__ int32_t before[33];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  const int64_t bm = blockIdx.x, b = bm / p.M, m = bm % p.M, total = p.T * p.k;
  const int64_t share = (total + warps - 1) / warps, lo = warp * share < total ? warp * share : total,
                hi = lo + share < total ? lo + share : total;
  for (int pass = 0; pass < 2; ++pass) {
    int32_t n = pass ? before[warp] : 0;
    for (int64_t base = lo; base < hi; base += 32) {
      const int64_t i = base + lane;
      const int64_t r = i < hi ? p.memory(b, i / p.k, i % p.k) : -1;
      if (pass == 0 && m == 0 && i < hi && (r < 0 || r >= p.M)) *bad = 1;
      const bool hit = i < hi && r == m;
      const unsigned mask = __ballot_sync(0xffffffffu, hit);
      if (pass && hit) p.pos[b * total + i] = n + __popc(mask & ((1u << lane) - 1u));
      n += __popc(mask);
    }
    if (pass == 0) {
      if (lane == 0) before[warp] = n;
      __syncthreads();
      if (threadIdx.x == 0) {
        int32_t sum = 0;
        for (int i = 0; i < warps; ++i) {
          const int32_t c = before[i];
          before[i] = sum, sum += c;
        }
        count[bm] = sum;
      }
      __syncthreads();
    }
  }
}

#ifndef MIXC_CUDA_EMULATION // (host code: test/unit/CudaEmulation.h runs the kernels)
// Plans the route: positions on the device, L on the host.
inline bool planRoute(Checker &chk, const mixc_tensor &route, int64_t B, int64_t T, int64_t M, Scratch &scratch,
                      cudaStream_t stream, RoutePlan &p) {
  p.route = static_cast<const int64_t *>(route.data);
  p.rs0 = route.strides[0], p.rs1 = route.strides[1], p.rs2 = route.strides[2];
  p.B = B, p.T = T, p.k = route.shape[2], p.M = M;
  p.pos = (int32_t *)scratch.alloc(B * T * p.k);
  int32_t *count = (int32_t *)scratch.alloc(B * M + 1);
  if (!p.pos || !count) return !chk.fail("CUDA: no device memory for the route plan");
  int *bad = (int *)(count + B * M);
  p.count = count;
  cudaMemsetAsync(bad, 0, sizeof(int), stream);
  if (B * M > 0) routePositionsKernel<><<<(unsigned)(B * M), 1024, 0, stream>>>(p, count, bad);
  std::vector<int32_t> host(B * M + 1);
  cudaMemcpyAsync(host.data(), count, host.size() * sizeof(int32_t), cudaMemcpyDeviceToHost, stream);
  if (cudaError_t e = cudaStreamSynchronize(stream); e != cudaSuccess)
    return !chk.fail("CUDA: %s", cudaGetErrorString(e));
  if (host[B * M]) return !chk.fail("input 'route': a memory index is outside [0, %lld)", (long long)M);
  p.L = 0;
  for (int64_t i = 0; i < B * M; ++i) p.L = std::max<int64_t>(p.L, host[i]);
  return true;
}
#endif

// A warp per slot (b, t, j) or per token moves that item's whole (h, c) plane,
// H x w elements: its route, position and weight are read and its indices
// divided out once per plane, not once per row or element (with a warp per
// (b, t, j, h) row the 64-bit divisions cost more than the moves: the gathers
// ran at 0.4 TB/s on an H100). Where every plane a kernel touches is
// contiguous and 16-byte aligned (`vec`, decided on the host by
// vectorPlanes), a lane moves 8 elements at a time in 16-byte accesses (one
// element per lane and access kept the moves at a quarter of the bandwidth);
// else the lanes step through the plane: nested loops where rows are at
// least a warp wide, else one run with 32-bit divisions.
template <typename F> __device__ __forceinline__ void forPlane(int64_t H, int64_t w, int lane, F f) {
  if (w >= 32) {
    for (int64_t h = 0; h < H; ++h)
      for (int64_t c = lane; c < w; c += 32) f(h, c);
  } else {
    const int n = (int)(H * w), wi = (int)w;
    for (int e = lane; e < n; e += 32) f(e / wi, e % wi);
  }
}
// The vector path's steps: f(e) for the offsets e of each lane's runs of 8.
template <typename F> __device__ __forceinline__ void forPlaneVec8(int64_t H, int64_t w, int lane, F f) {
  for (int64_t e = (int64_t)lane * 8, n = H * w; e < n; e += 256) f(e);
}
#ifndef MIXC_CUDA_EMULATION // (host code)
// Whether a view's (i0, i1) planes of H x w are contiguous runs that start on
// 16-byte boundaries with a length a multiple of 8 elements.
inline bool vectorPlane(const View &v, int64_t H, int64_t w) {
  if (!v.p) return true; // (absent: not read)
  const int64_t size = v.dtype == MIXC_F32 ? 4 : 2;
  return (H * w) % 8 == 0 && reinterpret_cast<uintptr_t>(v.p) % 16 == 0 && v.hg == 1 && (w == 1 || v.s3 == 1) &&
         (H == 1 || v.s2 == w) && (v.s0 * size) % 16 == 0 && (v.s1 * size) % 16 == 0;
}
inline bool vectorPlanes(std::initializer_list<const View *> views, int64_t H, int64_t w) {
  for (const View *v : views)
    if (!vectorPlane(*v, H, w)) return false;
  return true;
}
#endif
// The blocks of 256 threads for a warp per item (grid-stride beyond 65535).
inline unsigned warpBlocks(int64_t items) { return (unsigned)std::min<int64_t>((items * 32 + 255) / 256, 65535); }
#define MIXC_FOR_WARP_ITEM(item, n)                                                                                 \
  for (int64_t item = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32; item < (n);                          \
       item += (int64_t)gridDim.x * blockDim.x / 32)
// A plane's first element.
__device__ __forceinline__ int64_t planeAt(const View &v, int64_t i0, int64_t i1) { return i0 * v.s0 + i1 * v.s1; }

// dst [B * M, L, H, w] gets the plane of slot (b, t, j) at (b M + route[b, t,
// j], pos[b, t k + j]): row (b, slots ? t k + j : t) of src, times weight[b,
// t, j] where a weight is given (the backward's: route_scatter's adjoint).
template <typename = void>
__global__ void routeGatherKernel(const View src, bool slots, View dst, RoutePlan p, int64_t H, int64_t w,
                                  const View weight, bool vec) {
  const int lane = threadIdx.x % 32;
  MIXC_FOR_WARP_ITEM(s, p.B * p.T * p.k) {
    const int64_t b = s / (p.T * p.k), i = s % (p.T * p.k), t = i / p.k, j = i % p.k;
    const int64_t m = b * p.M + p.memory(b, t, j), pos = p.pos[s], row = slots ? i : t;
    const float wt = weight.p ? weight.at(b, t, j, 0) : 1.f;
    if (vec) {
      const int64_t from = planeAt(src, b, row), to = planeAt(dst, m, pos);
      forPlaneVec8(H, w, lane, [&](int64_t e) {
        float x[8];
        load8(src.p, src.dtype, from + e, x);
        for (int u = 0; u < 8; ++u) x[u] *= wt;
        store8(dst.p, dst.dtype, to + e, x);
      });
    } else {
      forPlane(H, w, lane, [&](int64_t h, int64_t c) { dst.set(m, pos, h, c, wt * src.at(b, row, h, c)); });
    }
  }
}
// The rows past each memory's count, up to L, zeroed (identity steps of the
// scan): only those, where a memset of the whole of dst wrote it twice.
template <typename = void> __global__ void routePadKernel(View dst, RoutePlan p, int64_t H, int64_t w, bool vec) {
  const int lane = threadIdx.x % 32;
  MIXC_FOR_WARP_ITEM(r, p.B * p.M * p.L) {
    const int64_t m = r / p.L, pos = r % p.L;
    if (pos < p.count[m]) continue;
    if (vec) {
      const float zero[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
      const int64_t to = planeAt(dst, m, pos);
      forPlaneVec8(H, w, lane, [&](int64_t e) { store8(dst.p, dst.dtype, to + e, zero); });
    } else {
      forPlane(H, w, lane, [&](int64_t h, int64_t c) { dst.set(m, pos, h, c, 0.f); });
    }
  }
}
#ifndef MIXC_CUDA_EMULATION // (host code: test/unit/CudaEmulation.h runs the kernels)
inline void routeGather(const View &src, bool slots, View &dst, const RoutePlan &p, int64_t H, int64_t w,
                        cudaStream_t stream, const View &weight = View{}) {
  // The padding only writes dst: an unaligned src leaves it the vector path.
  const bool dstVec = vectorPlanes({&dst}, H, w), vec = dstVec && vectorPlanes({&src}, H, w);
  if (p.B * p.M * p.L > 0) routePadKernel<><<<warpBlocks(p.B * p.M * p.L), 256, 0, stream>>>(dst, p, H, w, dstVec);
  if (p.B * p.T * p.k > 0)
    routeGatherKernel<><<<warpBlocks(p.B * p.T * p.k), 256, 0, stream>>>(src, slots, dst, p, H, w, weight, vec);
}
#endif

// The most choices per token the vector path of the scatter holds in registers.
constexpr int64_t kRouteVecChoices = 8;

// out[b, t, h, c] = sum over j of weight[b, t, j] y[b M + route[b, t, j], pos,
// h, c] (without a weight: the plain sum), or with `slots` one plane per
// slot, out[b, t k + j, h, c] = y[...] (the backward's: route_gather's adjoint
// for routed rows). A warp per output plane; the k terms added in order, each
// term's plane and weight found once per plane.
template <typename = void>
__global__ void routeScatterKernel(const View y, const View weight, View out, RoutePlan p, int64_t H, int64_t w,
                                   bool slots, bool vec) {
  const int lane = threadIdx.x % 32;
  const int64_t per = slots ? p.k : 1;
  MIXC_FOR_WARP_ITEM(item, p.B * p.T * per) {
    const int64_t bt = item / per, b = bt / p.T, t = bt % p.T;
    const int64_t j0 = slots ? item % per : 0, j1 = slots ? j0 + 1 : p.k, row = slots ? t * p.k + j0 : t;
    if (vec && j1 - j0 <= kRouteVecChoices) {
      int64_t from[kRouteVecChoices];
      float wt[kRouteVecChoices];
      const int n = (int)(j1 - j0);
#pragma unroll
      for (int u = 0; u < kRouteVecChoices; ++u) {
        const int64_t j = j0 + u;
        from[u] = u < n ? planeAt(y, b * p.M + p.memory(b, t, j), p.pos[bt * p.k + j]) : 0;
        wt[u] = u < n && weight.p ? weight.at(b, t, j, 0) : 1.f;
      }
      const int64_t to = planeAt(out, b, row);
      forPlaneVec8(H, w, lane, [&](int64_t e) {
        float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f}, x[8];
#pragma unroll
        for (int u = 0; u < kRouteVecChoices; ++u) {
          if (u >= n) break;
          load8(y.p, y.dtype, from[u] + e, x);
          for (int c = 0; c < 8; ++c) acc[c] += wt[u] * x[c];
        }
        store8(out.p, out.dtype, to + e, acc);
      });
    } else {
      forPlane(H, w, lane, [&](int64_t h, int64_t c) {
        float acc = 0.f;
        for (int64_t j = j0; j < j1; ++j)
          acc += (weight.p ? weight.at(b, t, j, 0) : 1.f) *
                 y.at(b * p.M + p.memory(b, t, j), p.pos[bt * p.k + j], h, c);
        out.set(b, row, h, c, acc);
      });
    }
  }
}
#ifndef MIXC_CUDA_EMULATION // (host code: test/unit/CudaEmulation.h runs the kernels)
inline void routeScatter(const View &y, const View &weight, View &out, const RoutePlan &p, int64_t H, int64_t w,
                         cudaStream_t stream, bool slots = false) {
  const int64_t items = p.B * p.T * (slots ? p.k : 1);
  const bool vec = vectorPlanes({&y, &out}, H, w);
  if (items > 0) routeScatterKernel<><<<warpBlocks(items), 256, 0, stream>>>(y, weight, out, p, H, w, slots, vec);
}
#endif

// The router weights' gradient (mixer.route_weight_grad): out[b, t, j] = the
// sum over heads and columns of do[b, t, h, c] y[b M + route[b, t, j], pos,
// h, c]. A warp per (b, t, j), each lane's sum over its share of the plane,
// then added by shuffles: the same order every run.
template <typename = void>
__global__ void routeWeightGradKernel(const View y, const View dO, View out, RoutePlan p, int64_t H, int64_t w,
                                      bool vec) {
  const int lane = threadIdx.x % 32;
  MIXC_FOR_WARP_ITEM(s, p.B * p.T * p.k) {
    const int64_t b = s / (p.T * p.k), i = s % (p.T * p.k), t = i / p.k, j = i % p.k;
    const int64_t m = b * p.M + p.memory(b, t, j), pos = p.pos[s];
    float acc = 0.f;
    if (vec) {
      const int64_t from = planeAt(y, m, pos), d = planeAt(dO, b, t);
      forPlaneVec8(H, w, lane, [&](int64_t e) {
        float x[8], g[8];
        load8(y.p, y.dtype, from + e, x);
        load8(dO.p, dO.dtype, d + e, g);
        for (int c = 0; c < 8; ++c) acc += g[c] * x[c];
      });
    } else {
      forPlane(H, w, lane, [&](int64_t h, int64_t c) { acc += dO.at(b, t, h, c) * y.at(m, pos, h, c); });
    }
    for (int off = 16; off; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
    if (lane == 0) out.set(b, t, j, 0, acc);
  }
}
#ifndef MIXC_CUDA_EMULATION // (host code: test/unit/CudaEmulation.h runs the kernels)
inline void routeWeightGrad(const View &y, const View &dO, View &out, const RoutePlan &p, int64_t H, int64_t w,
                            cudaStream_t stream) {
  const bool vec = vectorPlanes({&y, &dO}, H, w);
  if (p.B * p.T * p.k > 0)
    routeWeightGradKernel<><<<warpBlocks(p.B * p.T * p.k), 256, 0, stream>>>(y, dO, out, p, H, w, vec);
}
#endif

#ifndef MIXC_CUDA_EMULATION
// A routed input [B, T, k, H(, D)] read as its slot rows [B, T * k, H(, D)]:
// the slots of a token must be adjacent (T's stride k times the slot's).
inline bool slotsView(Checker &chk, const mixc_tensor &t, const char *name, View &v) {
  v = View{};
  v.p = t.data;
  v.dtype = t.dtype;
  if (!t.data) return true;
  if (t.shape[1] > 1 && t.shape[2] > 1 && t.strides[1] != t.shape[2] * t.strides[2])
    return !chk.fail("input '%s': the slots of a token must be adjacent (stride of T = k x the slot's stride)", name);
  v.s0 = t.strides[0], v.s1 = t.shape[2] == 1 ? t.strides[1] : t.strides[2], v.s2 = t.shape[3] == 1 ? 0 : t.strides[3];
  v.s3 = t.ndim > 4 ? t.strides[4] : 0;
  return true;
}

// States per memory [B, M, H, K, V] as the scan's B x M sequences.
inline bool memoryStateView(Checker &chk, const mixc_tensor &t, const char *role, const char *name, View &v) {
  v = View{};
  v.p = t.data;
  v.dtype = t.dtype;
  if (!t.data) return true;
  if (t.shape[0] > 1 && t.strides[0] != t.shape[1] * t.strides[1])
    return !chk.fail("%s '%s': the memories of a batch row must be adjacent (stride of B = M x the memory's stride)",
                     role, name);
  v.s0 = t.strides[1], v.s1 = t.strides[2], v.s2 = t.strides[3], v.s3 = t.strides[4];
  return true;
}

#endif // MIXC_CUDA_EMULATION

} // namespace mixc::cuda

#endif
