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
  // The per-head parameters of a decay map (DecayMap, mixc_cuda_recurrent.cuh).
  View mapIn[4];
  int64_t B = 0, T = 0, H = 0, Vs = 0;
  float scale = 1.f;
  bool reverse = false;
};

} // namespace mixc::cuda

#endif
