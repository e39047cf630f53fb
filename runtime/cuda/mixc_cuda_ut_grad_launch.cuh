// Part of the CUDA tile library (mixc_cuda.cuh, which includes it): the
// launches of the UT form's chunked backward (mixc_cuda_ut_grad.cuh: its
// kernels and notation) and the choice, per call at run time, between it
// and the sweeps (mixc_cuda_sweep_grad.cuh): the call's dtype and layout.
#ifndef MIXC_CUDA_UT_GRAD_LAUNCH_CUH
#define MIXC_CUDA_UT_GRAD_LAUNCH_CUH

#include "mixc_cuda.cuh"

namespace mixc::cuda {

// fp32 (the tensor program's) or bf16 (an input's own) rows, copied to
// packed bf16 rows where they are not.
inline bool chunkedGradRows(const View &v) { return v.p && (v.dtype == MIXC_F32 || v.dtype == MIXC_BF16); }

// Whether the SSD form's chunked backward (gradform::ssd) takes this call:
// bf16 token inputs (the tensor cores' operands), forward, dense or packed
// (tokB x tokT: the token tensors' rows, one row of sequences when packed).
inline bool ssdGradChunkedApplies(const ScanParams &p, bool bf16Call, int64_t tokB, int64_t tokT) {
  return bf16Call && !p.reverse && chunkedGradRows(p.q) && chunkedGradRows(p.k) && chunkedGradRows(p.v) &&
         (p.seqStart ? tokB == 1 : tokB == p.B && tokT == p.T);
}

// Whether the delta rules' chunked backward takes this call: as the SSD
// form's, with a and b as rows (or the scaled form's b), and b undecayed
// unless the kernel takes decayed_b. (Rows read normalized, l2norm_q and
// l2norm_b, are normalized into the bf16 copies the kernels read.)
inline bool deltaGradChunkedApplies(const ScanParams &p, bool bf16Call, int64_t tokB, int64_t tokT,
                                    bool decayedB = false) {
  return ssdGradChunkedApplies(p, bf16Call, tokB, tokT) && (!p.bDecayed || decayedB) && chunkedGradRows(p.a) &&
         chunkedGradRows(p.b);
}

// Before a sweep: fp32 rows for the gradients it gives (dq, dk [tokB, tokT,
// H, K] Tensors; dv [tokB, tokT, H, V]) where an output the printer named
// wants one and none was given. False: out of scratch.
inline bool sweptOutputRows(Tensor &dq, const View &dqTo, Tensor &dk, const View &dkTo, float *&dv, const View &dvTo,
                            int64_t tokB, int64_t tokT, int64_t H, int64_t K, int64_t V, Scratch &scratch) {
  auto need = [&](Tensor &t, bool wanted) {
    if (wanted && !t.p) t = newTensor(scratch, {tokB, tokT, H, K});
    return !wanted || t.p;
  };
  return need(dq, dqTo.p) && need(dk, dkTo.p) && (!dvTo.p || dv || (dv = scratch.alloc(tokB * tokT * H * V)));
}

// After a sweep: the gradients it gave in fp32 (dq, dk Tensors; dv [tokB,
// tokT, H, V]) stored to the outputs the printer named (null views: none).
inline void storeSweptOutputs(const Tensor &dq, const View &dqTo, const Tensor &dk, const View &dkTo, float *dv,
                              const View &dvTo, int64_t tokB, int64_t tokT, int64_t H, int64_t V,
                              cudaStream_t stream) {
  if (dqTo.p) storeTensor(dq, dqTo, false, stream);
  if (dkTo.p) storeTensor(dk, dkTo, false, stream);
  if (dvTo.p) {
    Tensor t;
    t.p = dv, t.rank = 4, t.d[0] = tokB, t.d[1] = tokT, t.d[2] = H, t.d[3] = V;
    storeTensor(t, dvTo, false, stream);
  }
}

// bf16 rows of x (times the per-token scale s where given): four at a time
// where x (fp32 or bf16) and s are packed [B, T, H, D] and [B, T, H].
template <typename = void> __global__ void rowsToBf16Kernel(const View x, const View s, __nv_bfloat16 *y, int64_t B,
                                                            int64_t T, int64_t H, int64_t D) {
  const int64_t n = B * T * H * D;
  const bool f32 = x.dtype == MIXC_F32;
  if ((f32 || x.dtype == MIXC_BF16) && packedAs(x, B, T, H, D) && (!s.p || packedAs(s, B, T, H, 1)) && D % 4 == 0 &&
      (uintptr_t)x.p % (f32 ? 16 : 8) == 0) {
    const bool small = n <= 0x7fffffffll;
    MIXC_GRID_STRIDE(e, n / 4) {
      float f[4];
      if (f32) {
        const float4 v = ((const float4 *)x.p)[e];
        f[0] = v.x, f[1] = v.y, f[2] = v.z, f[3] = v.w;
      } else {
        const uint2 v = ((const uint2 *)x.p)[e];
        const float2 lo = __bfloat1622float2(*(const __nv_bfloat162 *)&v.x),
                     hi = __bfloat1622float2(*(const __nv_bfloat162 *)&v.y);
        f[0] = lo.x, f[1] = lo.y, f[2] = hi.x, f[3] = hi.y;
      }
      if (s.p) { // the four share a row (D % 4 == 0)
        const int64_t row = small ? (int64_t)((uint32_t)(e * 4) / (uint32_t)D) : e * 4 / D;
        const float sc = loadElem(s.p, s.dtype, row);
        for (float &v : f) v *= sc;
      }
      uint2 o;
      o.x = tile::pack(f[0], f[1]), o.y = tile::pack(f[2], f[3]);
      ((uint2 *)y)[e] = o;
    }
    return;
  }
  MIXC_GRID_STRIDE(e, n) {
    int64_t b, t, h, j;
    rowIndex(e, D, H, T, n, b, t, h, j);
    y[e] = __float2bfloat16(s.p ? s.at(b, t, h, 0) * x.at(b, t, h, j) : x.at(b, t, h, j));
  }
}

// decay_in_loads' decays written out (DecayMap applied to p.decay's rows, the
// per-head parameters in p.mapIn): for a call the chunked kernels do not take.
template <typename DecayMap> __global__ void mappedDecayRowsKernel(const ScanParams p, Tensor y) {
  MIXC_GRID_STRIDE(e, y.size()) {
    int64_t b, t, h, j;
    rowElementOf(y, e, b, t, h, j);
    y.p[e] = DecayMap::apply(p.decay.at(b, t, h, j), DecayMap::load(p, h, j));
  }
}
// The call with those decays as rows (NoMap): false where scratch ran out.
template <typename DecayMap>
inline bool writeMappedDecays(ScanParams &p, int64_t tokB, int64_t tokT, int64_t K, Scratch &scratch,
                              cudaStream_t stream) {
  Tensor y = newTensor(scratch, {tokB, tokT, p.H, K});
  if (!y.p) return false;
  mappedDecayRowsKernel<DecayMap><<<gridFor(y.size()), 256, 0, stream>>>(p, y);
  p.decay = rowView(y);
  return true;
}

// Packed bf16 rows [B, T, H, D] into an output of another dtype or layout.
template <typename = void>
__global__ void bf16RowsToViewKernel(const __nv_bfloat16 *x, View y, int64_t B, int64_t T, int64_t H, int64_t D) {
  const int64_t n = B * T * H * D;
  MIXC_GRID_STRIDE(e, n) {
    int64_t b, t, h, j;
    rowIndex(e, D, H, T, n, b, t, h, j);
    y.set(b, t, h, j, __bfloat162float(x[e]));
  }
}

// The five kernels (above), for K and V of 64 or 128 and scalar log-decays
// (Decay) or none. tokB x tokT: the token tensors' rows. gradform::ssd (no
// low-rank term): no prepare, the walks on q, k, v (deltaStates' SSD form
// keeping S0 per chunk), no U or X rows. gradform::gla (with ssd; vector
// log-decays per key in p.decay): the forward's glaPrepare and GLA walk
// keeping S0, deltaGradWalk's GLA form, glaGradChunk (mixc_cuda_gla_grad.cuh).
// gradform::vector (the low-rank form with log-decays per key: RWKV-7, KDA):
// dplrVectorPrepare and the vector walk keeping S0 and U, deltaGradWalk's
// vector form, dplrVectorGradQB and dplrVectorGradAK (mixc_cuda_ut_vector_grad.cuh).
// DecayMap (decay_in_loads; the forms with vector log-decays): p.decay is the
// decays' input, mapped where the prepare and chunk kernels load it.
template <int K, int V, bool Decay, unsigned Form, typename DecayMap = NoMap>
cudaError_t launchDeltaGradChunked(ScanParams p, const SweepGrad &g, const SweepGradOut &out, int64_t tokB,
                                   int64_t tokT, Scratch &scratch, cudaStream_t stream) {
  static_assert(K % 64 == 0 && K <= 128 && V % 64 == 0 && V <= 128, "the chunked backward's tiles");
  constexpr int C = chunk::C;
  constexpr bool Ssd = (Form & gradform::ssd) != 0, Gla = (Form & gradform::gla) != 0,
                 Vec = (Form & gradform::vector) != 0, KeyDecays = Gla || Vec;
  static_assert(!Gla || (Ssd && !Decay), "GLA's backward: vector decays (p.decay), no low-rank term");
  static_assert(!Vec || (!Ssd && !Decay), "the vector diagonal's backward: log-decays per key (p.decay)");
  static_assert(Vec || !(Form & gradform::bDecayed), "decayed_b: a vector diagonal's");
  static_assert(!DecayMap::fused || KeyDecays, "decay_in_loads: vector log-decays");
  // l2norm_q, l2norm_b (the scaled form, k = b): the bf16 copies normalized, and a gradient through a
  // norm written by the kernels to fp32 rows, then taken through it (KForm: the kernels' form, no
  // output of those gradients their own)
  constexpr bool NormQ = (Form & gradform::l2normQ) != 0, NormB = (Form & gradform::l2normB) != 0;
  static_assert(!(NormQ || NormB) || (!Ssd && (Form & gradform::kIsB)), "l2norm_q, l2norm_b: the scaled form, k = b");
  constexpr unsigned KForm = Form & ~(gradform::l2normQ | gradform::l2normB) & ~(NormQ ? gradform::dqOut : 0u) &
                             ~(NormB ? gradform::dkOut | gradform::dbOut : 0u);
  const int64_t B = p.B, H = p.H, T = p.T, chunks = (T + C - 1) / C, rows = B * chunks * C * H;
  // the call as the printer described it (Form)
  auto has = [](unsigned bit) { return (Form & bit) != 0; };
  if (has(gradform::aScaled) != (p.aScale.p != nullptr) || has(gradform::kScaled) != (p.kScale.p != nullptr) ||
      has(gradform::dbIntoDk) != out.dbIntoDk || has(gradform::dqOut) != (out.dqTo.p != nullptr) ||
      has(gradform::dkOut) != (out.dkTo.p != nullptr) || has(gradform::dvOut) != (out.dvTo.p != nullptr) ||
      has(gradform::dbOut) != (out.dbTo.p != nullptr) || has(gradform::bDecayed) != p.bDecayed ||
      NormQ != p.l2normQ || NormB != p.l2normB ||
      (has(gradform::kIsB) && (p.k.p != p.b.p || p.k.dtype != p.b.dtype || p.k.s0 != p.b.s0 || p.k.s1 != p.b.s1 ||
                               p.k.s2 != p.b.s2 || p.k.s3 != p.b.s3 || p.k.hg != p.b.hg)))
    return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  // bf16 token rows, [B, T, H, D]: an input's own where the kernels can stream them (bf16 rows on 16-byte
  // boundaries), else a copy (the scaled form's a and k: times their scales; normalized: l2norm_q, l2norm_b)
  auto toBf16 = [&](View &v, int64_t D, const View &scale = View{}, bool norm = false) {
    if (!scale.p && !norm && streamableBf16Rows(v)) return true;
    auto *y = (__nv_bfloat16 *)scratch.alloc((tokB * tokT * H * D + 1) / 2);
    if (!y) return false;
    if (norm) l2normTokenRows(v, scale, y, tokB, tokT, H, D, stream);
    else rowsToBf16Kernel<><<<gridFor(tokB * tokT * H * D), 256, 0, stream>>>(v, scale, y, tokB, tokT, H, D);
    v.p = y, v.dtype = MIXC_BF16, v.s3 = 1, v.s2 = D, v.s1 = H * D, v.s0 = tokT * H * D, v.hg = 1;
    return true;
  };
  DeltaGradRows r;
  r.dO = g.dO;
  r.aScale = p.aScale, r.kScale = p.kScale, r.kPlain = p.k;
  r.daScale = out.daScale.p, r.dkScale = out.dkScale.p;
  // The outputs the kernel writes: the caller's bf16 rows, else packed bf16
  // rows copied to the output after (a bf16 call's gradient in another
  // dtype or layout: rounded to bf16 once more).
  bool copies = false;
  auto direct = [&](const View &v, int64_t D, Bf16Rows &o) {
    if (!v.p) return true;
    if (v.dtype == MIXC_BF16 && v.hg == 1 && v.s3 == 1) {
      o.p = (__nv_bfloat16 *)v.p, o.s0 = v.s0, o.s1 = v.s1, o.s2 = v.s2;
      return true;
    }
    if (!(o.p = (__nv_bfloat16 *)scratch.alloc((tokB * tokT * H * D + 1) / 2))) return false;
    o.s2 = D, o.s1 = H * D, o.s0 = tokT * H * D, copies = true;
    return true;
  };
  if (!direct(NormQ ? View{} : out.dqTo, K, r.dqTo) || !direct(NormB ? View{} : out.dkTo, K, r.dkTo) ||
      !direct(out.dvTo, V, r.dvTo) || !direct(NormB ? View{} : out.dbTo, K, r.dbTo))
    return cudaErrorMemoryAllocation;
  r.dbIntoDk = out.dbIntoDk;
  const View qRaw = p.q, bRaw = p.b; // (the norms' gradients read the rows as given)
  if (!toBf16(p.q, K, View{}, NormQ) || !toBf16(p.k, K, p.kScale, NormB) || !toBf16(p.v, V) ||
      (!Ssd && (!toBf16(p.a, K, p.aScale, NormB) || !toBf16(p.b, K, View{}, NormB))))
    return cudaErrorMemoryAllocation;
  p.kScale = p.aScale = View{};
  p.l2normQ = p.l2normB = false;
  if (r.dO.p && !toBf16(r.dO, V)) return cudaErrorMemoryAllocation;
  if (!r.dO.p) { // no upstream gradient of o: zero rows
    auto *z = (__nv_bfloat16 *)scratch.alloc((tokB * tokT * H * V + 1) / 2);
    if (!z) return cudaErrorMemoryAllocation;
    cudaMemsetAsync(z, 0, tokB * tokT * H * V * 2, stream);
    r.dO.p = z, r.dO.dtype = MIXC_BF16, r.dO.s3 = 1, r.dO.s2 = V, r.dO.s1 = H * V, r.dO.s0 = tokT * H * V;
  }
  r.Ttok = tokT;
  auto grad = [&](float *given, int64_t width) { return given ? given : scratch.alloc(tokB * tokT * H * width); };
  // (none for a gradient that goes to its output; db's rows where a_scale da or dk adds to it)
  auto kernelHas = [](unsigned bit) { return (KForm & bit) != 0; };
  const bool dbRows = !Ssd && (kernelHas(gradform::aScaled) || kernelHas(gradform::dbIntoDk) || !kernelHas(gradform::dbOut));
  const bool daRows = !Ssd && !r.aScale.p; // (the scaled form: a_scale da goes to db)
  r.dq = r.dqTo.p ? nullptr : grad(out.dq.p, K), r.dk = r.dkTo.p ? nullptr : grad(out.dk.p, K);
  r.db = dbRows ? grad(out.db.p, K) : nullptr;
  r.da = daRows ? grad(out.da.p, K) : nullptr;
  r.dv = grad(g.dv, V);
  r.ddecay = Decay || KeyDecays ? grad(out.ddecay.p, KeyDecays ? K : 1) : nullptr;
  if ((!r.dqTo.p && !r.dq) || (!r.dkTo.p && !r.dk) || (daRows && !r.da) || (dbRows && !r.db) || !r.dv ||
      ((Decay || KeyDecays) && !r.ddecay))
    return cudaErrorMemoryAllocation;
  // the forward's prepare: W, Q', R (and P, unused)
  DeltaChunks d;
  if constexpr (Vec) { // W, Q', A' (the reverse walk's), K' (the chunk kernel's), R, P (unused), G_C
    if (cudaError_t e = launchDplrVectorPrepare<K, true, false, DecayMap>(p, d, scratch, stream)) return e;
    r.kp = d.kp;
  } else if constexpr (!Ssd) {
    auto *base = (__nv_bfloat16 *)scratch.alloc(rows * (K + C));
    if (!base) return cudaErrorMemoryAllocation;
    d.w = chunkRows(p, base, K), d.qp = chunkRows(p, base + rows * K, K);
    d.r = chunkRows(p, base + 2 * rows * K, C), d.pv = chunkRows(p, base + 2 * rows * K + rows * C, C);
    constexpr int bytes = DeltaPrepareLayout<K>::bytes;
    auto prepare = deltaPrepare<K, Decay, true, false>;
    if (cudaError_t e = cudaFuncSetAttribute(prepare, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes)) return e;
    prepare<<<(unsigned)(chunks * H * B), 256, bytes, stream>>>(p, d);
  } else if constexpr (Gla) { // GLA's: Q' = Q . exp(b) (the reverse walk's), K' (the walk's), P (unused), b_C
    if (cudaError_t e = launchGlaPrepare<K, true, DecayMap>(p, d, scratch, stream)) return e;
  }
  // the forward's walk, keeping S0 (and U) per chunk
  const int64_t stateElems = B * chunks * H * K * V;
  d.chunkStates = (__nv_bfloat16 *)scratch.alloc((stateElems + 1) / 2);
  r.dStates = (__nv_bfloat16 *)scratch.alloc((stateElems + 1) / 2);
  if (!d.chunkStates || !r.dStates) return cudaErrorMemoryAllocation;
  r.states = d.chunkStates;
  if constexpr (!Ssd) {
    auto *rowMem = (__nv_bfloat16 *)scratch.alloc(rows * V);
    if (!rowMem) return cudaErrorMemoryAllocation;
    r.u = d.uRows = chunkRows(p, rowMem, V);
    r.x = chunkRows(p, rowMem + rows * V, V);
  }
  {
    StatePass pass;
    pass.vBlock = B * H >= 128 ? V : (B * H >= 64 ? 64 : 32);
    ScanParams fp = p;
    fp.o = View{}, fp.state = View{};
    if (cudaError_t e = launchStates<K, Decay, true, false, Ssd, KeyDecays, true>(fp, d, pass, stream)) return e;
  }
  // the reverse walk
  r.dFinal = g.dFinal;
  if (g.dinit) {
    Tensor dinit;
    dinit.p = g.dinit, dinit.rank = 4, dinit.d[0] = B, dinit.d[1] = H, dinit.d[2] = K, dinit.d[3] = V;
    r.dInit = stateTensorView(dinit);
  }
  {
    auto walk = [&](auto kernel, int warps) {
      const int bytes = warps == 8   ? DeltaGradWalkLayout<K, 128, KeyDecays>::bytes
                        : warps == 4 ? DeltaGradWalkLayout<K, 64, KeyDecays>::bytes
                                     : DeltaGradWalkLayout<K, 32, KeyDecays>::bytes;
      if (cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes)) return e;
      kernel<<<dim3((unsigned)((V + 16 * warps - 1) / (16 * warps)), (unsigned)H, (unsigned)B), 32 * warps, bytes,
               stream>>>(p, d, r);
      return cudaGetLastError();
    };
    cudaError_t e = B * H >= 128 && V == 128 ? walk(deltaGradWalk<K, 8, Decay, Ssd, KeyDecays>, 8)
                    : B * H >= 64            ? walk(deltaGradWalk<K, 4, Decay, Ssd, KeyDecays>, 4)
                                             : walk(deltaGradWalk<K, 2, Decay, Ssd, KeyDecays>, 2);
    if (e) return e;
  }
  // the chunks' terms
  if constexpr (Gla) {
    constexpr int bytes = GlaGradChunkLayout<K, V>::bytes;
    static_assert(bytes <= 227 * 1024, "the chunk kernel's shared memory");
    auto kernel = glaGradChunk<K, V, KForm & (gradform::dqOut | gradform::dkOut | gradform::dvOut), DecayMap>;
    if (cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes)) return e;
    kernel<<<(unsigned)(chunks * H * B), 256, bytes, stream>>>(p, r);
  } else if constexpr (Vec) { // two kernels, the Gram gradients between them
    if (!(r.gramGrads = (__nv_bfloat16 *)scratch.alloc(B * chunks * H * 2 * C * C))) return cudaErrorMemoryAllocation;
    auto run = [&](auto kernel, int bytes) {
      if (cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes)) return e;
      kernel<<<(unsigned)(chunks * H * B), 256, bytes, stream>>>(p, r);
      return cudaGetLastError();
    };
    static_assert(DplrVectorGradQBLayout<K, V>::bytes <= 227 * 1024 && DplrVectorGradAKLayout<K, V>::bytes <= 227 * 1024,
                  "the chunk kernels' shared memory");
    if (cudaError_t e = run(dplrVectorGradQB<K, V, KForm & ~gradform::vector, DecayMap>,
                            DplrVectorGradQBLayout<K, V>::bytes))
      return e;
    if (cudaError_t e = run(dplrVectorGradAK<K, V, KForm & ~gradform::vector, DecayMap>,
                            DplrVectorGradAKLayout<K, V>::bytes))
      return e;
  } else {
    constexpr int bytes = DeltaGradChunkLayout<K, V>::bytes;
    static_assert(bytes <= 227 * 1024, "the chunk kernel's shared memory");
    auto kernel = deltaGradChunk<K, V, Decay, KForm>;
    if (cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes)) return e;
    kernel<<<(unsigned)(chunks * H * B), 256, bytes, stream>>>(p, r);
  }
  // through the norms: to the outputs, or in place in the rows the printer gave
  if constexpr (NormQ) l2normTokenRowsVjp(qRaw, r.dq, out.dqTo, tokB, tokT, H, K, stream);
  if constexpr (NormB) {
    if (out.dkTo.p || out.dk.p) l2normTokenRowsVjp(bRaw, r.dk, out.dkTo, tokB, tokT, H, K, stream);
    if (out.dbTo.p || out.db.p) l2normTokenRowsVjp(bRaw, r.db, out.dbTo, tokB, tokT, H, K, stream);
  }
  if (copies) {
    auto copy = [&](const View &to, const Bf16Rows &from, int64_t D) {
      if (to.p && from.p && from.p != to.p) bf16RowsToViewKernel<><<<gridFor(tokB * tokT * H * D), 256, 0, stream>>>(from.p, to, tokB, tokT, H, D);
    };
    copy(out.dqTo, r.dqTo, K), copy(out.dkTo, r.dkTo, K), copy(out.dvTo, r.dvTo, V), copy(out.dbTo, r.dbTo, K);
  }
  return cudaGetLastError();
}

// The delta rules' backward: the chunked kernels where they apply (bf16
// calls; K, V of 64 or 128; scalar or no decay, or log-decays per key in the
// plain low-rank form or the scaled one with k = b), else launchSweepGrad (C:
// the schedule's grad_checkpoint, with a decay).
// The choice is the call's (its dtype and layout), made here at run time.
// The scaled low-rank form (p.aScale, p.kScale; p.a is b's rows) runs on
// the plain rows, scaled into the bf16 copies the chunked kernels read and
// summed back in their chunk kernel, or scaled into fp32 copies for the
// sweeps and summed back after them.
// DecayMap (decay_in_loads, a vector diagonal): p.decay is the decays' input,
// mapped in the chunked kernels' loads, or written out for any other call.
template <int K, int CPW, int WARPS, DiagKind Diag, bool LogDecay, int V, unsigned Form, int C,
          typename DecayMap = NoMap>
cudaError_t launchDeltaGrad(const ScanParams &p, SweepGrad g, const SweepGradOut &out, int64_t tokB, int64_t tokT,
                            bool bf16Call, Scratch &scratch, cudaStream_t stream) {
  constexpr bool vec = Diag == DiagKind::vector;
  // (a vector diagonal's chunk kernel: the plain low-rank form or the scaled one with k = b)
  constexpr unsigned scaledBits = gradform::aScaled | gradform::kScaled | gradform::kIsB;
  constexpr bool vecForm = (Form & scaledBits) == 0 || (Form & scaledBits) == scaledBits;
  constexpr bool tiles = K % 64 == 0 && K <= 128 && V % 64 == 0 && V <= 128 && LogDecay && (!vec || vecForm);
  static_assert(vec || !(Form & gradform::bDecayed), "decayed_b: a vector diagonal's");
  static_assert(!DecayMap::fused || vec, "decay_in_loads: a vector diagonal's");
  if constexpr (tiles) {
    if (deltaGradChunkedApplies(p, bf16Call, tokB, tokT, vec) && p.Vs == V && (!vec || streamableKeyDecays(p.decay)))
      return launchDeltaGradChunked<K, V, Diag == DiagKind::scalar, Form | (vec ? gradform::vector : 0u), DecayMap>(
          p, g, out, tokB, tokT, scratch, stream);
  }
  if constexpr (DecayMap::fused) { // (also where the input's decays cannot be streamed: rows, then perhaps chunked)
    ScanParams rows = p;
    if (!writeMappedDecays<DecayMap>(rows, tokB, tokT, K, scratch, stream)) return cudaErrorMemoryAllocation;
    return launchDeltaGrad<K, CPW, WARPS, Diag, LogDecay, V, Form, C, NoMap>(rows, g, out, tokB, tokT, bf16Call,
                                                                           scratch, stream);
  }
  // l2norm_q, l2norm_b: the sweeps read normalized fp32 copies (b's for a and k too: k = b), and the
  // gradients of q and b are taken through the norms after them
  constexpr bool NormQ = (Form & gradform::l2normQ) != 0, NormB = (Form & gradform::l2normB) != 0;
  if (NormQ != p.l2normQ || NormB != p.l2normB || ((NormQ || NormB) && !(Form & gradform::kIsB)))
    return cudaErrorInvalidValue;
  ScanParams pn = p; // the rows as the sweeps read them
  pn.l2normQ = pn.l2normB = false;
  auto normalized = [&](const View &x, View &to) {
    Tensor y = newTensor(scratch, {tokB, tokT, p.H, K});
    if (y.p) l2normTokenRows(x, View{}, y.p, tokB, tokT, p.H, K, stream), to = rowView(y);
    return y.p != nullptr;
  };
  if (NormQ && !normalized(p.q, pn.q)) return cudaErrorMemoryAllocation;
  if (NormB && !normalized(p.b, pn.b)) return cudaErrorMemoryAllocation;
  if (NormB) pn.a = pn.k = pn.b;
  const bool scaled = p.aScale.p || p.kScale.p;
  // the stored outputs' gradients in fp32 Tensors, stored after the sweeps (decayed_b: db for the decay's)
  SweepGradOut o = out;
  if ((o.dbTo.p || o.dbIntoDk || p.bDecayed) && !o.db.p && !(o.db = newTensor(scratch, {tokB, tokT, p.H, K})).p)
    return cudaErrorMemoryAllocation;
  if (!sweptOutputRows(o.dq, o.dqTo, o.dk, o.dkTo, g.dv, o.dvTo, tokB, tokT, p.H, K, V, scratch))
    return cudaErrorMemoryAllocation;
  SweepGradOut plain = o; // the plain rows' gradients: in place of the operands' where those are wanted
  if (scaled) {
    auto rows = [&](const Tensor &given) { return given.p ? given : newTensor(scratch, {tokB, tokT, p.H, K}); };
    if (p.kScale.p && !(plain.dk = rows(o.dk)).p) return cudaErrorMemoryAllocation;
    if (p.aScale.p && (!(plain.db = rows(o.db)).p || !(plain.da = rows(Tensor{})).p))
      return cudaErrorMemoryAllocation;
  }
  ScanParams sp = pn;
  if (scaled) {
    auto expand = [&](View &x, View &s) {
      if (!s.p) return true;
      Tensor y = newTensor(scratch, {tokB, tokT, p.H, K});
      if (!y.p) return false;
      scaledRowsKernel<><<<gridFor(y.size()), 256, 0, stream>>>(x, s, y);
      x = rowView(y), s = View{};
      return true;
    };
    if (!expand(sp.a, sp.aScale) || !expand(sp.k, sp.kScale)) return cudaErrorMemoryAllocation;
  }
  Tensor bRows; // decayed_b: the sweeps read b . exp(decay) (a = a_scale b without it, expanded above)
  if (p.bDecayed) {
    if (!(bRows = newTensor(scratch, {tokB, tokT, p.H, K})).p) return cudaErrorMemoryAllocation;
    decayedRowsKernel<><<<gridFor(bRows.size()), 256, 0, stream>>>(pn.b, p.decay, bRows);
    sp.b = rowView(bRows), sp.bDecayed = false;
  }
  cudaError_t e = launchSweepGrad<K, CPW, WARPS, Diag, LogDecay, C>(sp, g, plain, tokB, tokT, scratch, stream);
  if (e != cudaSuccess) return e;
  if (p.bDecayed) // back to b's own rows, the decay's gradient gets db . (b . exp(decay))
    decayedRowsGradKernel<><<<gridFor(bRows.size()), 256, 0, stream>>>(p.decay, bRows, plain.db, o.ddecay);
  if (scaled)
    scaledLowRankGradKernel<><<<gridFor(tokB * tokT * p.H * 32), 256, 0, stream>>>(
        pn, plain.dk, plain.da, plain.db, o.dkScale, o.daScale, tokB, tokT, K);
  if (o.dbIntoDk) fusedKernel<<<gridFor(o.dk.size()), 256, 0, stream>>>(o.dk, SumOf{o.dk, o.db});
  // through the norms, in place (the rows given or those stored below)
  if (NormQ && o.dq.p) l2normTokenRowsVjp(p.q, o.dq.p, View{}, tokB, tokT, p.H, K, stream);
  if (NormB && o.dk.p) l2normTokenRowsVjp(p.b, o.dk.p, View{}, tokB, tokT, p.H, K, stream);
  if (NormB && (out.dbTo.p || out.db.p)) l2normTokenRowsVjp(p.b, o.db.p, View{}, tokB, tokT, p.H, K, stream);
  if (o.dbTo.p) storeTensor(o.db, o.dbTo, false, stream);
  storeSweptOutputs(o.dq, o.dqTo, o.dk, o.dkTo, g.dv, o.dvTo, tokB, tokT, p.H, V, stream);
  return cudaGetLastError();
}
// The SSD form's backward (identity or scalar log-decays, no low-rank term:
// simple GLA, RetNet, Mamba-2, linear attention) and GLA's (vector log-decays
// per key); mixer-lower-adjoint keeps their mixer.recurrence_grad
// (RecurrenceForms.h's cudaChunkedSsdGrad):
// the chunked kernels above for bf16 calls, else the checkpointed sweep (C:
// the schedule's grad_checkpoint). The choice is the call's (its dtype and
// layout), made here at run time. Form: the gradients the printer gave to
// the caller's outputs (gradform's dqOut, dkOut, dvOut; out's *To views),
// which the chunk kernel writes as bf16 rows and the sweep's path stores.
template <Structure S, int K, int CPW, int WARPS, bool LogDecay, int V, unsigned Form, int C,
          typename DecayMap = NoMap>
cudaError_t launchSsdGrad(const ScanParams &p, const CheckpointGrad &g, const CheckpointGradOut &out, int64_t tokB,
                          int64_t tokT, bool bf16Call, Scratch &scratch, cudaStream_t stream) {
  static_assert((Form & ~(gradform::dqOut | gradform::dkOut | gradform::dvOut)) == 0, "the SSD form's outputs");
  constexpr bool tiles = K % 64 == 0 && K <= 128 && V % 64 == 0 && V <= 128 && LogDecay &&
                         (S == Structure::identity || S == Structure::scalar || S == Structure::const_scalar ||
                          S == Structure::vector);
  constexpr unsigned Chunked = Form | gradform::ssd | (S == Structure::vector ? gradform::gla : 0u);
  static_assert(!DecayMap::fused || S == Structure::vector, "decay_in_loads: GLA's vector log-decays");
  if constexpr (tiles) {
    if (ssdGradChunkedApplies(p, bf16Call, tokB, tokT) && p.Vs == V &&
        (!DecayMap::fused || streamableKeyDecays(p.decay))) {
      SweepGrad sg;
      sg.dO = g.dO, sg.dFinal = g.dFinal, sg.dv = g.dv, sg.dinit = g.dinit;
      SweepGradOut so;
      so.dq = out.dq, so.dk = out.dk, so.ddecay = out.ddecay;
      so.dqTo = out.dqTo, so.dkTo = out.dkTo, so.dvTo = out.dvTo;
      return launchDeltaGradChunked<K, V, S == Structure::scalar || S == Structure::const_scalar, Chunked, DecayMap>(
          p, sg, so, tokB, tokT, scratch, stream);
    }
  }
  if constexpr (DecayMap::fused) { // the decays written out for the checkpointed sweep (or unstreamable ones)
    ScanParams rows = p;
    if (!writeMappedDecays<DecayMap>(rows, tokB, tokT, K, scratch, stream)) return cudaErrorMemoryAllocation;
    return launchSsdGrad<S, K, CPW, WARPS, LogDecay, V, Form, C, NoMap>(rows, g, out, tokB, tokT, bf16Call, scratch,
                                                                        stream);
  }
  // the stored outputs' gradients in fp32 Tensors, stored after the sweep
  CheckpointGradOut o = out;
  CheckpointGrad cg = g;
  if (!sweptOutputRows(o.dq, o.dqTo, o.dk, o.dkTo, cg.dv, o.dvTo, tokB, tokT, p.H, K, V, scratch))
    return cudaErrorMemoryAllocation;
  cudaError_t e = launchCheckpointGrad<S, K, CPW, WARPS, LogDecay, false, false, C>(p, cg, o, tokB, tokT, scratch,
                                                                                    stream);
  if (e != cudaSuccess) return e;
  storeSweptOutputs(o.dq, o.dqTo, o.dk, o.dkTo, cg.dv, o.dvTo, tokB, tokT, p.H, V, stream);
  return cudaGetLastError();
}

} // namespace mixc::cuda

#endif
