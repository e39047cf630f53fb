// Part of the CUDA tile library (mixc_cuda.cuh): the scans' parameters, apart
// so that test/unit/CudaEmulation.h runs the backward kernels on host threads
// with the same struct (it needs only View, declared before).
#ifndef MIXC_CUDA_SCAN_PARAMS_CUH
#define MIXC_CUDA_SCAN_PARAMS_CUH

#include <cstdint>

namespace mixc::cuda {

// Operands of one recurrence. Token operands are (b, t, h, d) views of the
// user's tensors or of pre-processed scratch; rate (elementwise decay) is
// (0, h, k, v), bonus (0, 0, h, k); init and state are (b, h, k, v); m is (b, h, 0, 0).
struct ScanParams {
  View q, k, v, decay, dt, a, b, igate, rate, bonus, init, initM;
  // Per-token scales of k and a (b, t, h, 0), when the compiler passes k and a
  // as scalar multiples of one row (DeltaNet's beta k and -beta k): null otherwise.
  View kScale, aScale;
  // decayed_b: the low-rank term reads Diag(exp(decay_t)) S_{t-1} (KDA), b = k's rows.
  bool bDecayed = false;
  // l2norm_q / l2norm_b (the delta rules' scaled form): the kernels read
  // q_t / ||q_t|| and b_t / ||b_t|| (a and k are multiples of b's row).
  bool l2normQ = false, l2normB = false;
  View o, state, m; // a null state or m is not written
  // Packed sequences (cu_seqlens, device memory): sequence b is the tokens
  // [seqStart[b], seqStart[b + 1]) of batch row 0 of the token operands and o;
  // B is then the number of sequences (init, state and m have B rows) and T
  // the longest one's length (the chunked kernels' scratch holds T's chunks
  // per sequence). The kernels see one sequence at a time (forSequence).
  const int64_t *seqStart = nullptr;
  // The per-head parameters of a decay map (DecayMap, below).
  View mapIn[4];
  // The inputs of the token scalars (TokenScalars, below): per-token
  // (b, t, h, 0) and per-head (0, 0, h, 0).
  View scalarIn[4], scalarParams[4];
  int64_t B = 0, T = 0, H = 0, Vs = 0;
  float scale = 1.f;
  bool reverse = false;
};

// A vector diagonal's decays as the kernels load them: `decay` is then the raw
// input and the map (printed from the IR where mixer-tile chose
// decay_in_loads) computes element j of head h's row from it and the per-head
// parameters in mapIn, in the loads, so that no row kernel writes the decays
// for the scan to read back: load(p, h, j) once per (head, channel) what
// depends on the parameters alone, apply(x, that) per element. NoMap: the
// decays as stored.
struct NoMap {
  static constexpr bool fused = false;
  struct Params {};
  __device__ __forceinline__ static Params load(const ScanParams &, int64_t, int64_t) { return {}; }
  __device__ __forceinline__ static float apply(float x, const Params &) { return x; }
};

// The per-token scalars a delta rule's kernels read: a scalar diagonal's
// decay and the scaled form's scales of a and k, as stored (a null scale
// reads 1). A printed TokenScalars (mixer-tile chose scalars_in_loads)
// computes them instead from the inputs in scalarIn and scalarParams as the
// kernels load a token, so that no row kernel writes them for the scan to
// read back; the chunked prepare kernels then write the chunk's values for
// the walk (DeltaChunks::scalars).
struct StoredScalars {
  static constexpr bool fused = false;
  __device__ __forceinline__ static float decay(const ScanParams &p, int64_t b, int64_t t, int64_t h) {
    return p.decay.at(b, t, h, 0);
  }
  __device__ __forceinline__ static float aScale(const ScanParams &p, int64_t b, int64_t t, int64_t h) {
    return p.aScale.p ? p.aScale.at(b, t, h, 0) : 1.f;
  }
  __device__ __forceinline__ static float kScale(const ScanParams &p, int64_t b, int64_t t, int64_t h) {
    return p.kScale.p ? p.kScale.at(b, t, h, 0) : 1.f;
  }
};

// The view from token t0 on, as a batch of one row that every batch index
// reads (its batch stride 0).
__device__ __forceinline__ void fromToken(View &v, int64_t t0) {
  if (!v.p) return;
  const int64_t bytes = v.dtype == MIXC_F32 ? 4 : 2;
  v.p = (char *)v.p + t0 * v.s1 * bytes;
  v.s0 = 0;
}

// Sequence n of a packed call as a call of its own: the token operands and o
// start at its first token and T is its length; the states keep row n. An
// unpacked call is returned as it is. The chunked kernels index their
// scratch by chunk slots of the longest sequence (chunkSlots) and bound their
// loops by this T.
__device__ __forceinline__ ScanParams forSequence(const ScanParams &in, int64_t n) {
  ScanParams p = in;
  if (!in.seqStart) return p;
  const int64_t t0 = in.seqStart[n];
  p.T = in.seqStart[n + 1] - t0;
  // (one call per field: a loop over their addresses would keep p in local memory)
  fromToken(p.q, t0), fromToken(p.k, t0), fromToken(p.v, t0), fromToken(p.decay, t0), fromToken(p.dt, t0);
  fromToken(p.a, t0), fromToken(p.b, t0), fromToken(p.igate, t0), fromToken(p.kScale, t0), fromToken(p.aScale, t0);
  fromToken(p.scalarIn[0], t0), fromToken(p.scalarIn[1], t0), fromToken(p.scalarIn[2], t0);
  fromToken(p.scalarIn[3], t0);
  fromToken(p.o, t0);
  return p;
}

} // namespace mixc::cuda

#endif
