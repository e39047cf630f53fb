// Part of the CUDA tile library (mixc_cuda.cuh, which includes it): the state walks of the chunked forms (deltaStates; the wgmma walk of the
// delta rules on Hopper) and their launches.
#ifndef MIXC_CUDA_WALK_CUH
#define MIXC_CUDA_WALK_CUH

#ifndef MIXC_CUDA_EMULATION
#include "mixc_cuda.cuh"
#endif

namespace mixc::cuda {

// Ssd: the scalar-decay form (no W, A, R stages; P is computed in the kernel).
// Vec: vector decays (the chunk's log-decay per key in each stage).
template <int K, int VB, bool Ssd = false, int KS = 1, bool Vec = false> struct DeltaStatesLayout {
  static constexpr int C = 64, LK = K + 8, LC = C + 8, LV = VB + 8, rowsK = C * LK * 2;
  static constexpr int w = 0, qp = w + (Ssd ? 0 : rowsK), a = qp + rowsK, k = a + (Ssd ? 0 : rowsK), r = k + rowsK;
  static constexpr int pv = r + (Ssd ? 0 : C * LC * 2), v = pv + C * LC * 2, ec = v + C * LV * 2;
  static constexpr int stage = ec + (Ssd || Vec ? K * 4 : 0); // ec: the chunk's log-decays per key
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
// Gla without Ssd: the delta rules with a vector diagonal, the operands from
// dplrVectorPrepare: W, Q', R, P, A' (d.ap), K' (d.kp) and the chunk's
// log-decays per key: U = W S + R V, O = Q' S + P V,
// S = Diag(exp(b_C)) S + A'^T U + K'^T V.
// KeepStates: the walk of the chunked backward (d.chunkStates: S0 per chunk
// and, with a low-rank term, U; no o, so Q' and P are not loaded); a
// template flag so that the forward's code stays as it is.
template <int K, int WARPS, bool Decay, bool LogDecay, bool Scaled, bool Ssd = false, int KS = 1, bool Gla = false,
          bool KeepStates = false>
__global__ void __launch_bounds__(WARPS * KS * 32, 1) deltaStates(const ScanParams call, const DeltaChunks d) {
  using tile::bf16;
  constexpr int VB = 16 * WARPS, THREADS = WARPS * KS * 32;
  using L = DeltaStatesLayout<K, VB, Ssd, KS, Gla>;
  static_assert(!(Ssd && Scaled), "the SSD form has no low-rank operands to scale");
  static_assert(!Gla || !Decay, "vector decays: the decayed operands come prepared");
  static_assert(!(Gla && Ssd && Scaled), "GLA's walk has no low-rank operands");
  static_assert(!KeepStates || KS == 1, "the states are kept without a key split");
  constexpr int C = L::C, LK = L::LK, LC = L::LC, LV = L::LV, KT = K / 16, KH = KT / KS;
  static_assert(K % (16 * KS) == 0, "chunked tiles");
  MIXC_DYNAMIC_SHARED(smem);
  float *Bc = (float *)(smem + L::bc), *Sc = (float *)(smem + L::sc); // Sc: [2][Sa, Sk][C]
  const ScanParams p = forSequence(call, blockIdx.z); // (a packed call: sequence blockIdx.z)
  const int64_t T = p.T, V = p.Vs, h = blockIdx.y, b = blockIdx.z, blocks = (V + VB - 1) / VB;
  const int64_t j0 = (int64_t)(blockIdx.x % blocks) * VB;
  const int64_t slots = (call.T + C - 1) / C; // the scratch's chunks per sequence
  // Warp wid: value columns v0.. (warp), key tiles from kb (split ks).
  const int wid = threadIdx.x / 32, warp = wid % WARPS, ks = wid / WARPS, kb = ks * KH;
  const int lane = threadIdx.x % 32, g = lane / 4, t4 = lane % 4, v0 = warp * 16;
  const int64_t chunks = (T + C - 1) / C;
  // This CTA's chunks: all, or one segment of the sequence split.
  const bool split = Ssd && d.segChunks > 0, local = split && d.localPass;
  const int seg = split ? (int)(blockIdx.x / blocks) : 0;
  const int64_t cBegin = split ? seg * d.segChunks : 0;
  const int64_t cEnd = split ? (cBegin + d.segChunks < chunks ? cBegin + d.segChunks : chunks) : chunks;
  // the backward's walk keeping S0 (KeepStates) writes no o: Q' (Q) and P are not read
  const bool readsO = !local && !(KeepStates && d.chunkStates);
  auto load = [&](int64_t c) {
    unsigned char *st = smem + ((c - cBegin) & 1) * L::stage;
    if constexpr (Gla) { // operands from the prepare kernel, and the chunk's log-decays per key
      if constexpr (Ssd) { // GLA: Q', P and K' (in d.w)
        if (readsO) {
          chunk::copyRows<K, THREADS>((bf16 *)(st + L::qp), LK, d.qp, b, h, c, T, 0, K);
          chunk::copyRows<C, THREADS>((bf16 *)(st + L::pv), LC, d.pv, b, h, c, T, 0, C);
        }
        chunk::copyRows<K, THREADS>((bf16 *)(st + L::k), LK, d.w, b, h, c, T, 0, K);
      } else { // the vector-diagonal delta rules: W, Q', A' (scaled: k's decayed rows), K', R, P
        chunk::copyRows<K, THREADS>((bf16 *)(st + L::w), LK, d.w, b, h, c, T, 0, K);
        if (readsO) chunk::copyRows<K, THREADS>((bf16 *)(st + L::qp), LK, d.qp, b, h, c, T, 0, K);
        chunk::copyRows<K, THREADS>((bf16 *)(st + L::a), LK, d.ap, b, h, c, T, 0, K);
        if constexpr (!Scaled) chunk::copyRows<K, THREADS>((bf16 *)(st + L::k), LK, d.kp, b, h, c, T, 0, K);
        chunk::copyRows<C, THREADS>((bf16 *)(st + L::r), LC, d.r, b, h, c, T, 0, C);
        if (readsO) chunk::copyRows<C, THREADS>((bf16 *)(st + L::pv), LC, d.pv, b, h, c, T, 0, C);
      }
      chunk::copyRows<VB, THREADS>((bf16 *)(st + L::v), LV, p.v, b, h, c, T, j0, V);
      const float *ec = d.chunkDecay + ((b * slots + c) * p.H + h) * K;
      for (int i = threadIdx.x; i < K / 4; i += THREADS) tile::copy16(st + L::ec + 16 * i, ec + 4 * i, true);
      tile::commit();
      return;
    }
    if constexpr (Ssd) {
      if (readsO) chunk::copyRows<K, THREADS>((bf16 *)(st + L::qp), LK, p.q, b, h, c, T, 0, K);
      chunk::copyRows<K, THREADS>((bf16 *)(st + L::k), LK, p.k, b, h, c, T, 0, K);
      chunk::copyRows<VB, THREADS>((bf16 *)(st + L::v), LV, p.v, b, h, c, T, j0, V);
      tile::commit();
      return;
    }
    chunk::copyRows<K, THREADS>((bf16 *)(st + L::w), LK, d.w, b, h, c, T, 0, K);
    if (readsO) chunk::copyRows<K, THREADS>((bf16 *)(st + L::qp), LK, d.qp, b, h, c, T, 0, K);
    if constexpr (!Scaled) chunk::copyRows<K, THREADS>((bf16 *)(st + L::a), LK, p.a, b, h, c, T, 0, K);
    else if (d.bn.p) chunk::copyRows<K, THREADS>((bf16 *)(st + L::a), LK, d.bn, b, h, c, T, 0, K);
    else chunk::copyRows<K, THREADS>((bf16 *)(st + L::a), LK, p.b, b, h, c, T, 0, K);
    if constexpr (!Scaled) chunk::copyRows<K, THREADS>((bf16 *)(st + L::k), LK, p.k, b, h, c, T, 0, K);
    chunk::copyRows<C, THREADS>((bf16 *)(st + L::r), LC, d.r, b, h, c, T, 0, C);
    if (readsO) chunk::copyRows<C, THREADS>((bf16 *)(st + L::pv), LC, d.pv, b, h, c, T, 0, C);
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
  // scalars_in_loads: the per-token scalars as deltaPrepare computed them
  // (DeltaChunks::scalars), item (b, c, h) at ((b slots + c) H + h) 3 C.
  auto chunkScalars = [&](int64_t c) { return d.scalars + ((b * slots + c) * p.H + h) * 3 * C; };
  if (wid == 0) {
    float g0 = 0.f, g1 = 0.f;
    if (Decay && d.scalars) {
      if (cBegin < cEnd) chunk::preparedGates(chunkScalars(cBegin), g0, g1);
    } else if constexpr (Decay) {
      chunk::scalarGates<LogDecay>(p, b, h, cBegin, g0, g1);
    }
    chunk::cumulativeGates(g0, g1, Bc);
    if constexpr (Scaled) {
      for (int i = lane; i < C; i += 32) {
        const bool ok = i < T;
        if (d.scalars)
          Sc[i] = ok ? chunkScalars(cBegin)[C + i] : 0.f, Sc[C + i] = ok ? chunkScalars(cBegin)[2 * C + i] : 0.f;
        else Sc[i] = ok ? p.aScale.at(b, i, h, 0) : 0.f, Sc[C + i] = ok ? p.kScale.at(b, i, h, 0) : 0.f;
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
    if (Decay && wid == 0 && c + 1 < cEnd) {
      if (d.scalars) chunk::preparedGates(chunkScalars(c + 1), g0, g1);
      else chunk::scalarGates<LogDecay>(p, b, h, c + 1, g0, g1);
    }
    if (Ssd && !Gla && !local && !KeepStates) { // P = M . exp(b_i - b_j) . Q K^T; pieces above the diagonal are never read
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
      if (d.scalars) {
        const float *x = chunkScalars(c + 1);
        sa0 = x[C + lane], sk0 = x[2 * C + lane], sa1 = x[C + lane + 32], sk1 = x[2 * C + lane + 32];
      } else {
        if (t < T) sa0 = p.aScale.at(b, t, h, 0), sk0 = p.kScale.at(b, t, h, 0);
        if (t + 32 < T) sa1 = p.aScale.at(b, t + 32, h, 0), sk1 = p.kScale.at(b, t + 32, h, 0);
      }
    }
    // the chunked backward's walk (d.chunkStates): S0 per chunk (and U, the delta rules')
    constexpr bool Keeps = KS == 1 && (Gla || Ssd ? KeepStates : true);
    if constexpr (Keeps) {
      if (d.chunkStates) { // the state this chunk starts from, [K][V] per (b, c, h)
        __nv_bfloat16 *at = d.chunkStates + ((b * slots + c) * p.H + h) * K * V;
        chunk::forStateElements<true>(STs, 0, j0 + v0, [&](float &x, int row, int64_t col) {
          if (col < V) at[row * V + col] = __float2bfloat16(x);
        });
      }
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
    const bool withO = !local && !(Keeps && d.chunkStates);
    if (withO) product(OT, Qp, Ps, ks == 0);
    if constexpr (!Ssd) product(UT, Ws, Rs, ks == KS - 1);
    if constexpr (Keeps && !Ssd) {
      if (d.chunkStates) { // U's rows of this chunk (rows of every chunk slot exist)
        bf16 *u = (bf16 *)d.uRows.p + b * d.uRows.s0 + c * C * d.uRows.s1 + d.uRows.head(h);
#pragma unroll
        for (int nt = 0; nt < C / 8; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int64_t col = j0 + v0 + g + (e >= 2 ? 8 : 0);
            if (col < V) u[(nt * 8 + 2 * t4 + (e & 1)) * d.uRows.s1 + col] = __float2bfloat16(UT[nt][e]);
          }
      }
    }
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
    if (withO && ks == 0) {
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
            *(uint4 *)(o + b * p.o.s0 + t * p.o.s1 + p.o.head(h) + col) = *(const uint4 *)(Os + r * 16 + hh * 8);
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
        for (int64_t c = cBegin; c < cEnd; ++c) sum += d.chunkDecay[((b * slots + c) * p.H + h) * K + i];
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
__global__ void __launch_bounds__(128, 1) deltaWalkWg(const ScanParams call, const DeltaChunks d) {
#if MIXC_WGMMA
  using L = DeltaWgLayout<K, Scaled>;
  constexpr int C = L::C, VB = L::VB, MT = K / 64, R = VB / 2; // R: accumulators per thread of a 64 x VB tile
  static_assert(K % 64 == 0 && K <= 128, "key rows in tiles of 64");
  MIXC_DYNAMIC_SHARED(smem);
  unsigned char *Un = smem + L::un, *Ve = smem + L::ve;
  const ScanParams p = forSequence(call, blockIdx.z); // (a packed call: sequence blockIdx.z)
  const int64_t T = p.T, V = p.Vs, h = blockIdx.y, b = blockIdx.z, j0 = (int64_t)blockIdx.x * VB;
  const int tid = threadIdx.x, wid = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4;
  const int64_t chunks = (T + C - 1) / C, slots = (call.T + C - 1) / C; // slots: the scratch's chunks per sequence
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
      tile::bulkCopy(st, d.tiles + ((b * slots + c) * p.H + h) * L::DT::bytes, L::DT::bytes, bar + (c & 1));
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
        __nv_bfloat16 *o = (__nv_bfloat16 *)p.o.p + b * p.o.s0 + t * p.o.s1 + p.o.head(h) + col;
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

#ifndef MIXC_CUDA_EMULATION
// The state pass in the tiling the glue chose from the schedule
// (StatePass): value blocks of 128, 64 or 32 columns, at 32 optionally two
// warps per 16 columns (K / 2 key rows each). Each is valid for any call;
// the choice only decides how well the CTAs fill the GPU.
template <int K, bool Decay, bool LogDecay, bool Scaled, bool Ssd, bool Gla = false, bool KeepStates = false>
cudaError_t launchStates(const ScanParams &p, DeltaChunks d, const StatePass &pass, cudaStream_t stream) {
  d.oRows = p.o.dtype == MIXC_BF16 && p.o.s3 == 1 && p.o.s0 % 8 == 0 && p.o.s1 % 8 == 0 && p.o.s2 % 8 == 0 &&
            (uintptr_t)p.o.p % 16 == 0;
  auto states = [&](auto kernel, int warps, int bytes, int ks = 1) {
    if (cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes)) return e;
    dim3 grid((unsigned)((p.Vs + 16 * warps - 1) / (16 * warps) * d.segments), (unsigned)p.H, (unsigned)p.B);
    kernel<<<grid, 32 * warps * ks, bytes, stream>>>(p, d);
    return cudaGetLastError();
  };
  if (pass.vBlock == 128 && pass.keySplit == 1)
    return states(deltaStates<K, 8, Decay, LogDecay, Scaled, Ssd, 1, Gla, KeepStates>, 8, DeltaStatesLayout<K, 128, Ssd, 1, Gla>::bytes);
  if (pass.vBlock == 64 && pass.keySplit == 1)
    return states(deltaStates<K, 4, Decay, LogDecay, Scaled, Ssd, 1, Gla, KeepStates>, 4, DeltaStatesLayout<K, 64, Ssd, 1, Gla>::bytes);
  if (pass.vBlock == 32 && pass.keySplit == 2) {
    constexpr bool fits = K % 32 == 0 && DeltaStatesLayout<K, 32, Ssd, 2, Gla>::bytes <= 227 * 1024 && !KeepStates;
    if constexpr (fits)
      return states(deltaStates<K, 2, Decay, LogDecay, Scaled, Ssd, 2, Gla, KeepStates>, 2, DeltaStatesLayout<K, 32, Ssd, 2, Gla>::bytes,
                    2);
    else
      return cudaErrorInvalidConfiguration; // mixer-tile schedules no key split that does not fit
  }
  if (pass.vBlock == 32 && pass.keySplit == 1)
    return states(deltaStates<K, 2, Decay, LogDecay, Scaled, Ssd, 1, Gla, KeepStates>, 2, DeltaStatesLayout<K, 32, Ssd, 1, Gla>::bytes);
  return cudaErrorInvalidValue; // not a tiling of the walk
}

// The two kernels of the delta rule: the prepare pass, then the walk
// (pass.wgmma: on wgmma, a warpgroup per 32 value columns; else deltaStates).
// Scalars (scalars_in_loads): the prepare kernel computes the per-token
// scalars from their inputs and writes them for the mma.sync walk (the
// wgmma walk has them in its prepared block).
template <int K, bool Decay, bool LogDecay, bool Scaled, typename Scalars = StoredScalars>
cudaError_t launchChunkedDelta(const ScanParams &p, const StatePass &pass, Scratch &scratch, cudaStream_t stream) {
  constexpr int C = chunk::C;
  const int64_t chunks = (p.T + C - 1) / C, rows = p.B * chunks * C * p.H;
  DeltaChunks d;
  constexpr bool wgShape = K % 64 == 0 && K <= 128;
  if (pass.wgmma && !wgShape) return cudaErrorInvalidConfiguration;
  if (rows > 0) {
    if (pass.wgmma) {
      d.tiles = (unsigned char *)scratch.alloc(p.B * chunks * p.H * DeltaTiles<K, Scaled>::bytes / 4);
      if (!d.tiles) return cudaErrorMemoryAllocation;
    } else {
      __nv_bfloat16 *base = (__nv_bfloat16 *)scratch.alloc(rows * (K + C)); // 2 (K + C) bf16 per row
      if (!base) return cudaErrorMemoryAllocation;
      d.w = chunkRows(p, base, K), d.qp = chunkRows(p, base + rows * K, K);
      d.r = chunkRows(p, base + 2 * rows * K, C), d.pv = chunkRows(p, base + 2 * rows * K + rows * C, C);
      if (Scaled && p.l2normB) { // the walk reads b's rows as deltaPrepare normalized them
        __nv_bfloat16 *bn = (__nv_bfloat16 *)scratch.alloc(rows * K / 2);
        if (!bn) return cudaErrorMemoryAllocation;
        d.bn = chunkRows(p, bn, K);
      }
      if (Scalars::fused && (Decay || Scaled) && !(d.scalars = scratch.alloc(p.B * chunks * p.H * 3 * C)))
        return cudaErrorMemoryAllocation;
    }
    // A CTA per item, two per SM (0.87 ms at 4,4096,64,128 on an H100), beat
    // persistent CTAs that prefetched the next item's rows (one per SM: 1.17
    // ms): the phases of one item leave warps idle at barriers.
    constexpr int bytes = DeltaPrepareLayout<K>::bytes;
    auto prepare = deltaPrepare<K, Decay, LogDecay, Scaled, Scalars>;
    if (cudaError_t e = cudaFuncSetAttribute(prepare, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes))
      return e;
    prepare<<<(unsigned)(chunks * p.H * p.B), 256, bytes, stream>>>(p, d);
  }
  if constexpr (wgShape) {
    if (pass.wgmma) {
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
  return launchStates<K, Decay, LogDecay, Scaled, false>(p, d, pass, stream);
}

// The walk of the SSD and GLA forms (no low-rank part), in one kernel; or,
// split along the sequence into pass.segments segments (pass.segChunks
// chunks each, 128-column blocks): a local pass (each segment from a zero
// state, no outputs) and the full pass, each segment starting from the
// initial state folded with the local states before it. A segment's
// log-decay is a scalar (SSD) or a vector per key (GLA).
template <int K, bool Decay, bool LogDecay, bool Gla>
cudaError_t launchWalk(const ScanParams &p, DeltaChunks d, const StatePass &pass, Scratch &scratch,
                       cudaStream_t stream) {
  if (pass.segments > 1) {
    if (pass.vBlock != 128 || pass.keySplit != 1 || pass.segChunks < 1) return cudaErrorInvalidValue;
    d.segChunks = pass.segChunks;
    d.segments = pass.segments;
    const int decayWidth = Gla ? K : 1;
    float *mem = scratch.alloc(p.B * d.segments * p.H * (K * p.Vs + decayWidth));
    if (!mem) return cudaErrorMemoryAllocation;
    d.segState.p = mem, d.segState.dtype = MIXC_F32, d.segState.s3 = 1, d.segState.s2 = p.Vs;
    d.segState.s1 = K * p.Vs, d.segState.s0 = p.H * K * p.Vs;
    d.segDecay = mem + p.B * d.segments * p.H * K * p.Vs;
    d.localPass = true;
    if (cudaError_t e = launchStates<K, Decay, LogDecay, false, true, Gla>(p, d, pass, stream)) return e;
    d.localPass = false;
  }
  return launchStates<K, Decay, LogDecay, false, true, Gla>(p, d, pass, stream);
}

// The SSD form (identity and scalar decays): the walk alone.
template <int K, bool Decay, bool LogDecay>
cudaError_t launchChunkedSsd(const ScanParams &p, const StatePass &pass, Scratch &scratch, cudaStream_t stream) {
  return launchWalk<K, Decay, LogDecay, false>(p, DeltaChunks{}, pass, scratch, stream);
}

#endif // MIXC_CUDA_EMULATION

} // namespace mixc::cuda

#endif
