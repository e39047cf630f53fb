// Part of the CPU tile library (mixc_cpu.h): the recurrent schedule (the
// state block in L1, updated and read out token by token) and the chunked
// scan of elementwise decays built on it.
#ifndef MIXC_CPU_RECURRENT_H
#define MIXC_CPU_RECURRENT_H

#include "mixc_cpu.h"

#include <memory>

namespace mixc::cpu {

// What a task of the recurrent schedule carries from token to token: its
// block of the state and the scalars that go with it.
template <int K, int VIN, int VB> struct RecurrentTaskState {
  alignas(64) float st[K][VB];
  alignas(64) float nvec[K];     // mLSTM's n or the ones column (kept apart)
  alignas(64) float w[VB];       // DPLR: b^T S of the next token
  alignas(64) float dtSum[VB];   // chunked scan: the segment's summed dt
  alignas(64) float gv[K];       // deferred vector decays
  TokenRow<K, VIN> rowBuf[2];    // this token's row and the next one's
  float m = 0.f, gam = 1.f;      // mLSTM's stabilizer, deferred scalar decay
  bool pairedPrev = false;       // deferred vector decays: this token went with the last
};

// Runs `tasks` tasks of `steps` steps each over the threads, each thread a
// contiguous range of them, and advances a thread's tasks together, a chunk
// of kInterleave steps at a time: the tasks of neighbouring heads read rows
// that lie side by side in [B, T, H, D] inputs, so one chunk's pages (and TLB
// entries) serve them all instead of each task walking the whole sequence
// alone. States of a group stay within kGroupBytes (L2). run(task, state,
// from, to) advances one task; a step updates `stepWork` state elements (as
// many threads as that work is worth: threadsForWork).
constexpr int64_t kInterleave = 32, kGroupBytes = 256 * 1024, kPrefetchSteps = 8;
template <typename State, typename Run>
void runInterleaved(int64_t tasks, int64_t steps, int64_t stepWork, int threads, Run run) {
  threads = threadsForWork(threads, tasks * std::max<int64_t>(steps, 1) * stepWork);
  const int nt = (int)std::max<int64_t>(1, std::min<int64_t>(threads, tasks));
  const int64_t group = std::max<int64_t>(1, kGroupBytes / (int64_t)sizeof(State));
  parallelFor(nt, nt, [&](int64_t thread) {
    const int64_t t0 = thread * tasks / nt, t1 = (thread + 1) * tasks / nt;
    // One allocation per thread, reused by its groups (a fresh one per group
    // cost page faults that dominated short calls: decoding's T = 1).
    std::unique_ptr<State[]> states(new State[std::max<int64_t>(1, std::min(group, t1 - t0))]);
    for (int64_t g0 = t0; g0 < t1; g0 += group) {
      const int64_t g1 = std::min(t1, g0 + group);
      for (int64_t from = 0; from == 0 || from < steps; from += kInterleave)
        for (int64_t t = g0; t < g1; ++t) run(t, states[t - g0], from, from + kInterleave);
    }
  });
}

// The recurrent schedule: one task per (batch, head, block of VB value
// columns); the K x VB block of the state stays in L1 and every token updates
// it with vector FMAs, reading the output in the same sweep. mLSTM keeps its
// normalizer column n (column Vs - 1) apart, in every task, because each
// block's output divides by it.
// LogDecay: the token row carries log-decays (exponentiated here); false when
// the spec gave the multiplicative decay itself, which is then used as is.
// OnesColumn: the last value column is all ones (a sum normalizer turned into
// a column); like mLSTM's n it is kept apart as a K-vector instead of widening
// every block, and block 0 writes its readout.
template <Structure S, int K, int VIN, int VB, int L, int RB, DiagKind Diag, bool Bonus, bool Mlstm, bool HasDt,
          bool LogDecay, bool OnesColumn, typename RowFn>
void scanRecurrent(const ScanArgs &p, int threads, RowFn rowOf) {
  static_assert(LogDecay || !Mlstm, "the mLSTM stabilizer needs the log-decay");
  static_assert(!(OnesColumn && (Mlstm || S == Structure::elementwise)), "no ones column here");
  constexpr bool Side = Mlstm || OnesColumn; // the last state column lives in nvec
  const int64_t B = p.B, T = p.maxLen(), H = p.H, Vs = p.Vs; // T: the longest sequence's tokens
  const int64_t V = Side ? Vs - 1 : Vs; // columns that are blocked
  const int64_t oStride = OnesColumn ? Vs : V;
  const int64_t blocks = (V + VB - 1) / VB;
  const int64_t segLen = p.segLen > 0 ? p.segLen : std::max<int64_t>(T, 1);
  const int64_t lastSeg = std::max<int64_t>(1, (T + segLen - 1) / segLen) - 1, segs = lastSeg + 1 - p.segFirst;
  using State = RecurrentTaskState<K, VIN, VB>;
  // The side column is read by every block's task and written by block 0's:
  // with the final state in the initial state's memory (in place) and more
  // than one block, the blocks read a copy of that column (B x H x K floats),
  // laid out as a state of one column.
  std::vector<float> sideKeep;
  const float *sideCopy = p.init;
  int64_t sideStride = Vs, sideCol = V;
  if (Side && blocks > 1 && p.init && p.init == p.state) {
    sideKeep.resize(B * H * K);
    for (int64_t r = 0; r < B * H * K; ++r) sideKeep[r] = p.init[r * Vs + V];
    sideCopy = sideKeep.data(), sideStride = 1, sideCol = 0;
  }
  // Runs the steps [from, to) of task's segment (relative to its start):
  // the first call (from == 0) loads the initial state, the call that
  // reaches the segment's end writes the final one.
  auto runTask = [&](int64_t task, State &ts, int64_t from, int64_t to) {
    const int64_t seg = p.segFirst + task % segs, blk = task / segs % blocks, bh = task / segs / blocks;
    const int64_t b = bh / H, h = bh % H;
    const int64_t j0 = blk * VB, width = std::min<int64_t>(VB, V - j0);
    const int64_t Tb = p.len(b); // this sequence's tokens
    const int64_t s0 = seg * segLen, s1 = std::min(Tb, s0 + segLen);
    // The last call is the one whose range holds the segment's end (for an
    // empty segment, the first).
    const int64_t len = s1 - s0;
    const bool first = from == 0, last = len <= to && (from < len || first);
    const int64_t stepBegin = std::min(s1, s0 + from), stepEnd = std::min(s1, s0 + to);
    const float *init = p.segInit ? p.segInit + seg * B * H * K * Vs : seg == 0 ? p.init : nullptr;
    // The side column's source: row r of it at sideInit[r * stride + col].
    const float *sideInit = p.segInit ? init : seg == 0 ? sideCopy : nullptr;
    const int64_t stride = p.segInit ? Vs : sideStride, col = p.segInit ? V : sideCol;
    float *stateOut = p.segState ? p.segState + seg * B * H * K * Vs : p.state;
    auto &st = ts.st;
    auto &nvec = ts.nvec;
    // Independent accumulators per key row modulo kLanes: enough to cover the
    // FMA latency when a block is only one or two vectors wide.
    constexpr int kLanes = VB >= 64 ? 1 : VB >= 32 ? 2 : 4;
    alignas(64) float vv[VB], oo[VB], acc[kLanes][VB];
    auto &w = ts.w;
    auto &m = ts.m;
    auto &dtSum = ts.dtSum;
    auto &gam = ts.gam;
    auto &gv = ts.gv;
    auto &rowBuf = ts.rowBuf;
    auto &pairedPrev = ts.pairedPrev;
    // Scalar decays are deferred: the block holds S / gam, with gam the product
    // of the decays since the last fold, so a token costs two FMAs per element
    // (write k / gam, read out gam q . S) instead of a multiply and two FMAs.
    // The scale is folded back into the block before |gam| drops below 1e-18,
    // keeping k / gam finite (a negative decay simply folds every token).
    constexpr bool Deferred =
        (S == Structure::scalar || S == Structure::const_scalar) && !Mlstm && !Bonus && !OnesColumn;
    // Vector decays (GLA) are deferred per key row the same way: row i holds
    // S_i / gv_i, the token writes k_i / gv_i and reads out with q_i gv_i; the
    // rows fold their scales back (one multiply per element, that token only)
    // before any gv_i leaves [1e-18, 1e18].
    constexpr bool DeferredVec = S == Structure::vector && !Mlstm && !Bonus && !OnesColumn;
    auto timeOf = [&](int64_t step) { return p.reverse ? Tb - 1 - step : step; };
    // Rows into L2 kPrefetchSteps tokens ahead: this call's first ones now, then
    // one token's per step. (Prefetching the whole next window at once left the
    // row copies waiting on memory on an Intel host, 5-20 % slower; no
    // difference on an AMD one: bench/results/cpu-prefetch-ab.md.)
    for (int64_t step = stepBegin; step < std::min(s1, stepBegin + kPrefetchSteps); ++step)
      p.prefetchRows(b, timeOf(step), h);
    constexpr int wLanes = 2 * kLanes;
    alignas(64) float wacc[wLanes][VB];
    if (first) {
      // Row copies through a local pointer: indexing p.init per element
      // kept the compiler from vectorizing (st might alias it), and at
      // T = 1 (decoding) this copy is most of the work.
      const float *src = init ? init + (b * H + h) * K * Vs + j0 : nullptr;
      for (int i = 0; i < K; ++i) {
        if (src) std::copy_n(src + i * Vs, width, st[i]);
        std::fill(st[i] + (src ? width : 0), st[i] + VB, 0.f);
        if (Side) nvec[i] = sideInit ? sideInit[((b * H + h) * K + i) * stride + col] : 0.f;
      }
      m = Mlstm && p.initM && seg == 0 ? p.initM[b * H + h] : 0.f;
      for (int j = 0; j < VB; ++j) dtSum[j] = 0.f;
      gam = 1.f;
      for (int i = 0; i < K; ++i) gv[i] = 1.f;
      pairedPrev = false;
      // The next token's row is computed before this token's sweep, so that a
      // diagonal-plus-low-rank transition can gather the next w = b^T S while it
      // writes S: one sweep over the state per token instead of two.
      if (s0 < s1) rowOf(p.inB(b), p.inT(b, timeOf(s0)), h, rowBuf[s0 & 1]);
      if constexpr (S == Structure::dplr) {
        for (int u = 0; u < wLanes; ++u)
          for (int j = 0; j < VB; ++j) wacc[u][j] = 0.f;
        for (int i = 0; i < K; ++i)
          for (int j = 0; j < VB; ++j) wacc[i % wLanes][j] += rowBuf[s0 & 1].b[i] * st[i][j];
        for (int j = 0; j < VB; ++j) {
          float sum = 0.f;
          for (int u = 0; u < wLanes; ++u) sum += wacc[u][j];
          w[j] = sum;
        }
      }
    }
    for (int64_t step = stepBegin; step < stepEnd; ++step) {
      const int64_t t = timeOf(step);
      const int64_t row = p.token(b, t) * H + h;
      TokenRow<K, VIN> &r = rowBuf[step & 1], &rn = rowBuf[(step + 1) & 1];
      const bool hasNext = step + 1 < s1;
      if (step + kPrefetchSteps < s1) p.prefetchRows(b, timeOf(step + kPrefetchSteps), h);
      if (hasNext) rowOf(p.inB(b), p.inT(b, timeOf(step + 1)), h, rn);
      if (pairedPrev) { // swept and written with the previous token
        pairedPrev = false;
        continue;
      }
      const float *q = r.q, *k = r.k, *vin = r.v + j0;
      // The vector form (VB a multiple of L, as mixer-tile chooses it): v and
      // the read-out of a register group live in registers; see
      // forRegisterGroups.
      constexpr bool Vec = VB % L == 0;
      constexpr int NV = Vec ? VB / L : 1;
      using vl = vec<L>;
      // Elementwise decays on a whole block: one pass per key row reads v, the
      // decays and the state and writes the state and the output; at K = 1
      // (HGRN) that pass is the whole token, so no staging copies.
      if constexpr (S == Structure::elementwise && Vec && !Bonus && !Mlstm)
        if (width == VB) {
          const float *dt = r.dt + j0;
          float *out = p.o + row * oStride + j0;
          if (HasDt && p.segDt)
            for (int j = 0; j < VB; ++j) dtSum[j] += dt[j];
          alignas(64) float f[LogDecay ? VB : 1];
          forRegisterGroups<NV, RB>([&](auto G, int v0) {
            vl vx[G], va[G] = {}, fx[G];
            loadGroup<L>(vx, vin, v0);
            // A factor per column (the adjoint's value-side decays) is the same for
            // every key row: in registers once, not reloaded per row (the state's
            // stores might alias dt for all the compiler knows).
            if constexpr (!LogDecay) loadGroup<L>(fx, dt, v0);
            for (int i = 0; i < K; ++i) {
              if constexpr (LogDecay) { // exp(rate * dt), dt = 1 without one
                const float *A = p.rate + (h * K + i) * Vs + j0 + L * v0;
                for (int j = 0; j < L * G; ++j) f[j] = fastExp(A[j] * (HasDt ? dt[L * v0 + j] : 1.f));
              }
              float *row = &st[i][L * v0];
              for (int n = 0; n < G; ++n) {
                const vl d = LogDecay ? loadV<L>(f + L * n) : fx[n];
                const vl x = d * loadV<L>(row + L * n) + k[i] * vx[n];
                storeV<L>(row + L * n, x);
                va[n] += q[i] * x;
              }
            }
            for (int n = 0; n < G; ++n) storeV<L>(out + L * (v0 + n), p.scale * va[n]);
          });
          continue;
        }
      for (int j = 0; j < VB; ++j) vv[j] = j < width ? vin[j] : 0.f;
      for (int j = 0; j < VB; ++j) oo[j] = 0.f;
      bool readOutDone = false; // the read-out went straight to oo
      float writeScale = 1.f, decayScalar = 1.f;
      if constexpr (S == Structure::scalar || S == Structure::const_scalar) {
        float g = r.decay[0];
        if constexpr (Mlstm) {
          float ig = r.igate, mNew = std::max(g + m, ig);
          decayScalar = fastExp(g + m - mNew);
          writeScale = fastExp(ig - mNew);
          m = mNew;
        } else {
          decayScalar = LogDecay ? fastExp(g) : g;
        }
      }
      float qu = 0.f, denPrev = 0.f, bn = 0.f;
      if constexpr (OnesColumn) {
        // The ones column before the update: what the bonus reads, and b^T n.
        for (int i = 0; i < K; ++i) denPrev += q[i] * nvec[i];
        if constexpr (S == Structure::dplr)
          for (int i = 0; i < K; ++i) bn += r.b[i] * nvec[i];
      }
      // With identity, scalar or vector decays the bonus read-out of S_{t-1}
      // goes in the update's sweep: each row is read out, then updated, one
      // pass over the state instead of two.
      constexpr bool FusedBonus = Bonus && S != Structure::dplr && S != Structure::elementwise;
      if constexpr (Bonus) {
        // o_t reads S_{t-1} plus the current write weighted by u.
        for (int i = 0; i < K; ++i) qu += q[i] * p.bonus[h * K + i] * k[i];
        if constexpr (Vec && FusedBonus) {
          // read out in the update's sweep below (before each row's update)
        } else if constexpr (Vec) {
          forRegisterGroups<NV, RB>([&](auto G, int v0) {
            vl a[G];
            loadGroup<L>(a, vv, v0);
            for (int n = 0; n < G; ++n) a[n] *= qu;
            for (int i = 0; i < K; ++i)
              for (int n = 0; n < G; ++n) a[n] += q[i] * loadV<L>(&st[i][L * (v0 + n)]);
            storeGroup<L>(oo, v0, a);
          });
        } else {
          for (int u = 0; u < kLanes; ++u)
            for (int j = 0; j < VB; ++j) acc[u][j] = 0.f;
          for (int i = 0; i < K; ++i)
            for (int j = 0; j < VB; ++j) acc[i % kLanes][j] += q[i] * st[i][j];
          for (int j = 0; j < VB; ++j) {
            float sum = qu * vv[j];
            for (int u = 0; u < kLanes; ++u) sum += acc[u][j];
            oo[j] = sum;
          }
        }
      }
      // Scalar (deferred) and no decays (Mamba-2, RetNet, simple GLA, linear
      // attention): two tokens in one pass over the state, as the vector decays
      // pair, when neither token folds the scale; gamFirst and gamPair are the
      // scales after the first token and after both.
      constexpr bool PairScalar = Vec && !Bonus && !Mlstm && !OnesColumn && (S == Structure::identity || Deferred);
      bool pairScalar = false;
      float gamFirst = 1.f, gamPair = 1.f;
      if constexpr (PairScalar)
        if (hasNext) {
          const float next = S == Structure::identity ? 1.f : LogDecay ? fastExp(rn.decay[0]) : rn.decay[0];
          if constexpr (S != Structure::identity) gamFirst = gam * decayScalar;
          gamPair = gamFirst * next;
          pairScalar = gamFirst >= 1e-18f && gamPair >= 1e-18f;
        }
      alignas(64) float dvec[K];
      if constexpr (S == Structure::vector || (S == Structure::dplr && Diag == DiagKind::vector))
        for (int i = 0; i < K; ++i) dvec[i] = LogDecay ? fastExp(r.decay[i]) : r.decay[i];
      if constexpr (S == Structure::dplr) {
        const float *av = r.a;
        const float dScalar = Diag == DiagKind::scalar ? (LogDecay ? fastExp(r.decay[0]) : r.decay[0]) : 1.f;
        // w = b^T S with kLanes independent partial sums (an FMA chain per
        // vector would wait on its own latency), then the update.
        // w = b^T S of this token was gathered by the previous sweep.
        if constexpr (Vec && !Bonus) {
          // v, w, the read-out and the next w of a register group as vectors.
          forRegisterGroups<NV, RB>([&](auto G, int v0) {
            vl vx[G], vw[G], va[G] = {}, vn[G] = {};
            loadGroup<L>(vx, vv, v0);
            loadGroup<L>(vw, w, v0);
            for (int i = 0; i < K; ++i) {
              const float d = Diag == DiagKind::vector ? dvec[i] : dScalar;
              const float ai = av[i], ki = k[i], qi = q[i], bn = hasNext ? rn.b[i] : 0.f;
              float *row = &st[i][L * v0];
              for (int n = 0; n < G; ++n) {
                const vl x = d * loadV<L>(row + L * n) + ai * vw[n] + ki * vx[n];
                storeV<L>(row + L * n, x);
                va[n] += qi * x;
                vn[n] += bn * x;
              }
            }
            storeGroup<L>(oo, v0, va);
            storeGroup<L>(w, v0, vn);
          });
          readOutDone = true;
        } else {
          for (int u = 0; u < kLanes; ++u)
            for (int j = 0; j < VB; ++j) acc[u][j] = 0.f;
          for (int u = 0; u < wLanes; ++u)
            for (int j = 0; j < VB; ++j) wacc[u][j] = 0.f;
          for (int i = 0; i < K; ++i) {
            const float d = Diag == DiagKind::vector ? dvec[i] : dScalar;
            const float ai = av[i], ki = k[i], qi = q[i], bn = hasNext ? rn.b[i] : 0.f;
            for (int j = 0; j < VB; ++j) {
              float s = d * st[i][j] + ai * w[j] + ki * vv[j];
              st[i][j] = s;
              if constexpr (!Bonus) acc[i % kLanes][j] += qi * s;
              wacc[i % wLanes][j] += bn * s;
            }
          }
          for (int j = 0; j < VB; ++j) {
            float sum = 0.f;
            for (int u = 0; u < wLanes; ++u) sum += wacc[u][j];
            w[j] = sum;
          }
        }
      } else if constexpr (S == Structure::elementwise) {
        const float *A = LogDecay ? p.rate + (h * K) * Vs + j0 : nullptr; // factor decays have no rate
        const float *dt = r.dt + j0;
        if (HasDt && p.segDt)
          for (int j = 0; j < VB; ++j) dtSum[j] += j < width ? dt[j] : 0.f;
        for (int u = 0; u < kLanes; ++u)
          for (int j = 0; j < VB; ++j) acc[u][j] = 0.f;
        for (int i = 0; i < K; ++i) {
          const float ki = k[i], qi = q[i];
          for (int j = 0; j < VB; ++j) {
            // LogDecay: exp(rate * dt); else dt is the factor itself (rate 1).
            float f;
            if constexpr (LogDecay) f = fastExp(j < width ? A[i * Vs + j] * (HasDt ? dt[j] : 1.f) : 0.f);
            else f = j < width ? dt[j] : 0.f;
            float s = f * st[i][j] + ki * vv[j];
            st[i][j] = s;
            if constexpr (!Bonus) acc[i % kLanes][j] += qi * s;
          }
        }
      } else if constexpr (DeferredVec) {
        if constexpr (!Vec)
          for (int u = 0; u < kLanes; ++u)
            for (int j = 0; j < VB; ++j) acc[u][j] = 0.f;
        // A token's row scales g = gPrev . d and its write and read factors
        // k / g and q . g, in vector loops; nonzero when a row must fold.
        auto rowScales = [](const float *gPrev, const float *d, const float *kt, const float *qt, float *g, float *kwt,
                            float *qwt) {
          int fold = 0;
          for (int i = 0; i < K; ++i) {
            g[i] = gPrev[i] * d[i];
            fold |= (g[i] < 1e-18f) | (g[i] > 1e18f);
          }
          for (int i = 0; i < K; ++i) kwt[i] = kt[i] / g[i], qwt[i] = qt[i] * g[i];
          return fold;
        };
        alignas(64) float g2s[K], kw[K], qw[K];
        const int fold = rowScales(gv, dvec, k, q, g2s, kw, qw);
        // Most tokens fold no row: then the sweep has no test per row, and
        // when the next token folds none either both go in one pass over the
        // state (half the state loads and stores per token).
        bool pair = false;
        alignas(64) float g3s[K], kw2[K], qw2[K];
        if constexpr (Vec)
          if (!fold && hasNext) {
            alignas(64) float dn[K];
            for (int i = 0; i < K; ++i) dn[i] = LogDecay ? fastExp(rn.decay[i]) : rn.decay[i];
            pair = !rowScales(g2s, dn, rn.k, rn.q, g3s, kw2, qw2);
          }
        if (pair) {
          if constexpr (Vec) {
            alignas(64) float v2[VB], o2[VB];
            for (int j = 0; j < VB; ++j) v2[j] = j < width ? rn.v[j0 + j] : 0.f;
            for (int i = 0; i < K; ++i) gv[i] = g3s[i];
            forRegisterGroups<NV, RB>([&](auto G, int v0) {
              vl vx[G], vx2[G], va[G] = {}, va2[G] = {};
              loadGroup<L>(vx, vv, v0);
              loadGroup<L>(vx2, v2, v0);
              for (int i = 0; i < K; ++i)
                sweepRow2V<L, G>(&st[i][L * v0], kw[i], qw[i], kw2[i], qw2[i], vx, vx2, va, va2);
              storeGroup<L>(oo, v0, va);
              storeGroup<L>(o2, v0, va2);
            });
            float *out2 = p.o + (p.token(b, timeOf(step + 1)) * H + h) * oStride + j0;
            for (int j = 0; j < width; ++j) out2[j] = p.scale * o2[j];
            pairedPrev = true;
          }
        } else if (!fold) {
          for (int i = 0; i < K; ++i) gv[i] = g2s[i];
          if constexpr (Vec)
            forRegisterGroups<NV, RB>([&](auto G, int v0) {
              vl vx[G], va[G] = {};
              loadGroup<L>(vx, vv, v0);
              for (int i = 0; i < K; ++i) sweepRowV<L, G, false, true>(&st[i][L * v0], 1.f, kw[i], qw[i], vx, va);
              storeGroup<L>(oo, v0, va);
            });
          else
            for (int i = 0; i < K; ++i) sweepRow<VB, false, true>(st[i], 1.f, kw[i], qw[i], vv, acc[i % kLanes]);
        } else {
          // Every row folds, S_i = g2 st_i + k_i v, when any one must: the
          // next fold then waits for the fastest row to decay by 1e-18 again,
          // where folding rows one at a time made every twentieth GLA token a
          // fold (and unpaired) on N(0, 1) gates; this one's is one in 800.
          for (int i = 0; i < K; ++i) gv[i] = 1.f;
          if constexpr (Vec)
            forRegisterGroups<NV, RB>([&](auto G, int v0) {
              vl vx[G], va[G] = {};
              loadGroup<L>(vx, vv, v0);
              for (int i = 0; i < K; ++i) sweepRowV<L, G, true, true>(&st[i][L * v0], g2s[i], k[i], q[i], vx, va);
              storeGroup<L>(oo, v0, va);
            });
          else
            for (int i = 0; i < K; ++i) sweepRow<VB, true, true>(st[i], g2s[i], k[i], q[i], vv, acc[i % kLanes]);
        }
      } else if (PairScalar && pairScalar) {
        if constexpr (PairScalar) {
          // x1 = st + (k1 / g1) v1 read out by q1 (times g1 below), x2 = x1 +
          // (k2 / g2) v2 by q2 (times g2 here), with g the deferred scales.
          const float inv1 = 1.f / gamFirst, inv2 = 1.f / gamPair;
          gam = gamFirst;
          alignas(64) float v2[VB], o2[VB];
          for (int j = 0; j < VB; ++j) v2[j] = j < width ? rn.v[j0 + j] : 0.f;
          forRegisterGroups<NV, RB>([&](auto G, int v0) {
            vl vx[G], vx2[G], va[G] = {}, va2[G] = {};
            loadGroup<L>(vx, vv, v0);
            loadGroup<L>(vx2, v2, v0);
            for (int i = 0; i < K; ++i)
              sweepRow2V<L, G>(&st[i][L * v0], k[i] * inv1, q[i], rn.k[i] * inv2, rn.q[i], vx, vx2, va, va2);
            storeGroup<L>(oo, v0, va);
            storeGroup<L>(o2, v0, va2);
          });
          const float scale2 = Deferred ? p.scale * gamPair : p.scale;
          float *out2 = p.o + (p.token(b, timeOf(step + 1)) * H + h) * oStride + j0;
          for (int j = 0; j < width; ++j) out2[j] = scale2 * o2[j];
          pairedPrev = true;
        }
      } else if (Deferred && gam * decayScalar >= 1e-18f) {
        gam *= decayScalar;
        const float inv = 1.f / gam;
        if constexpr (!Vec)
          for (int u = 0; u < kLanes; ++u)
            for (int j = 0; j < VB; ++j) acc[u][j] = 0.f;
        if constexpr (Vec)
          forRegisterGroups<NV, RB>([&](auto G, int v0) {
            vl vx[G], va[G] = {};
            loadGroup<L>(vx, vv, v0);
            for (int i = 0; i < K; ++i) sweepRowV<L, G, false, true>(&st[i][L * v0], 1.f, k[i] * inv, q[i], vx, va);
            storeGroup<L>(oo, v0, va);
          });
        else
          for (int i = 0; i < K; ++i) sweepRow<VB, false, true>(st[i], 1.f, k[i] * inv, q[i], vv, acc[i % kLanes]);
      } else {
        if constexpr (Deferred) { // fold the deferred scale into this token's decay
          decayScalar *= gam;
          gam = 1.f;
        }
        if constexpr (!Bonus && !Vec)
          for (int u = 0; u < kLanes; ++u)
            for (int j = 0; j < VB; ++j) acc[u][j] = 0.f;
        constexpr bool Decay = S != Structure::identity;
        if constexpr (Vec)
          forRegisterGroups<NV, RB>([&](auto G, int v0) {
            vl vx[G], va[G] = {};
            loadGroup<L>(vx, vv, v0);
            if constexpr (FusedBonus)
              for (int n = 0; n < G; ++n) va[n] = qu * vx[n];
            for (int i = 0; i < K; ++i) {
              const float d = S == Structure::vector ? dvec[i] : decayScalar;
              float *row = &st[i][L * v0];
              if constexpr (FusedBonus) // read out S_{t-1}, then update
                for (int n = 0; n < G; ++n) {
                  const vl old = loadV<L>(row + L * n);
                  va[n] += q[i] * old;
                  storeV<L>(row + L * n, (Decay ? d * old : old) + writeScale * k[i] * vx[n]);
                }
              else
                sweepRowV<L, G, Decay, !Bonus>(row, d, writeScale * k[i], q[i], vx, va);
            }
            storeGroup<L>(oo, v0, va);
          });
        else
          for (int i = 0; i < K; ++i) {
            const float d = S == Structure::vector ? dvec[i] : decayScalar, ki = writeScale * k[i];
            sweepRow<VB, Decay, !Bonus>(st[i], d, ki, q[i], vv, acc[i % kLanes]);
          }
      }
      // The vector sweeps wrote their read-out to oo group by group.
      if constexpr (Vec && !Bonus && S != Structure::dplr && S != Structure::elementwise) readOutDone = true;
      if (!Bonus && !readOutDone)
        for (int j = 0; j < VB; ++j) {
          float sum = 0.f;
          for (int u = 0; u < kLanes; ++u) sum += acc[u][j];
          oo[j] = sum;
        }
      float outScale = Deferred ? p.scale * gam : p.scale;
      if constexpr (Mlstm) {
        float den = 0.f;
        for (int i = 0; i < K; ++i) {
          nvec[i] = decayScalar * nvec[i] + writeScale * k[i];
          den += q[i] * nvec[i];
        }
        outScale /= std::max(std::fabs(den), fastExp(-m));
      }
      if constexpr (OnesColumn) {
        // n <- A_t n + k, the same transition as every state column.
        float den = 0.f;
        for (int i = 0; i < K; ++i) {
          float d = 1.f;
          if constexpr (S == Structure::scalar || S == Structure::const_scalar) d = decayScalar;
          if constexpr (S == Structure::vector || (S == Structure::dplr && Diag == DiagKind::vector)) d = dvec[i];
          if constexpr (S == Structure::dplr && Diag == DiagKind::scalar)
            d = LogDecay ? fastExp(r.decay[0]) : r.decay[0];
          float n = d * nvec[i] + k[i];
          if constexpr (S == Structure::dplr) n += r.a[i] * bn;
          nvec[i] = n;
          den += q[i] * n;
        }
        if (blk == 0) p.o[row * oStride + V] = p.scale * (Bonus ? denPrev + qu : den);
      }
      float *out = p.o + row * oStride + j0;
      for (int j = 0; j < width; ++j) out[j] = outScale * oo[j];
      if constexpr (Deferred)
        if (pairScalar) gam = gamPair; // the paired token's decay, after this token's read-out scale
    }
    if (!last) return;
    float *dst = stateOut + (b * H + h) * K * Vs;
    for (int i = 0; i < K; ++i) {
      const float f = DeferredVec ? gv[i] : gam;
      float *row = dst + i * Vs + j0;
      const float *from = st[i];
      for (int j = 0; j < width; ++j) row[j] = f * from[j];
      if (Side && blk == 0) dst[i * Vs + V] = nvec[i];
    }
    if (HasDt && p.segDt)
      for (int j = 0; j < width; ++j) p.segDt[(seg * B * H + b * H + h) * Vs + j0 + j] = dtSum[j];
    if (Mlstm && blk == 0 && seg == lastSeg) p.m[b * H + h] = m;
  };
  runInterleaved<State>(B * H * blocks * segs, segLen, (int64_t)K * VB, threads, runTask);
}

// The chunked scan of elementwise decays (a chunked parallel scan over time,
// docs/cpu-backend.md), for when the (batch, head, value block) tasks leave threads
// idle: the sequence splits into segments of whole chunks, about two per idle
// thread. Pass 1 scans every segment at once, each from a zero state (segment
// 0 from the initial state). Pass 2 walks the segments in order per state
// element: a segment's transition is elementwise, exp(rate * sum of dt), so
// S_end[s] = exp(G_s) . S_end[s-1] + S_local[s], and S_end[last] is the final
// state. Pass 3 scans segments 1.. again from their true entering states and
// writes their outputs (segment 0's are already right). Twice the sweep's
// work, spread over every thread; with tasks for half the threads or more it
// is the sweep itself.
template <Structure S, int K, int VIN, int VB, int L, int RB, DiagKind Diag, bool Bonus, bool Mlstm, bool HasDt,
          bool LogDecay, bool OnesColumn, typename RowFn>
void scanChunkedElementwise(const ScanArgs &p, int threads, int64_t chunk, RowFn rowOf) {
  static_assert(S == Structure::elementwise && !Bonus && !Mlstm && !OnesColumn, "the chunked scan is elementwise");
  static_assert(LogDecay, "the chunked scan sums log-decays over segments");
  auto sweep = [&](const ScanArgs &a) {
    scanRecurrent<S, K, VIN, VB, L, RB, Diag, Bonus, Mlstm, HasDt, LogDecay, OnesColumn>(a, threads, rowOf);
  };
  const int64_t B = p.B, T = p.T, H = p.H, Vs = p.Vs;
  if (p.seqStart) return sweep(p); // no segments across sequences
  const int64_t tasks = B * H * ((Vs + VB - 1) / VB), chunks = (T + chunk - 1) / chunk;
  // Twice the work over all threads beats the sweep over `tasks` of them only
  // when fewer than half the threads have a task.
  if (2 * tasks >= threads || chunks < 2) return sweep(p);
  const int64_t want = (2 * threads + tasks - 1) / tasks; // segments per task
  const int64_t segLen = chunk * ((chunks + want - 1) / want), nseg = (T + segLen - 1) / segLen;
  if (nseg < 2) return sweep(p);
  const int64_t n = B * H * K * Vs;
  std::vector<float> local(nseg * n), entering(nseg * n), dtSum(HasDt ? nseg * B * H * Vs : 0);
  ScanArgs a = p;
  a.segLen = segLen, a.segState = local.data(), a.segDt = HasDt ? dtSum.data() : nullptr;
  sweep(a);
  parallelFor(B * H * K, threads, [&](int64_t row) { // row (b, h, i) of the state
    const int64_t bh = row / K, h = bh % H, i = row % K;
    const float *rate = p.rate + (h * K + i) * Vs;
    std::vector<float> s(local.begin() + row * Vs, local.begin() + (row + 1) * Vs);
    for (int64_t seg = 1; seg < nseg; ++seg) {
      std::copy(s.begin(), s.end(), entering.begin() + seg * n + row * Vs);
      const float len = (float)(std::min(T, (seg + 1) * segLen) - seg * segLen);
      const float *sl = local.data() + seg * n + row * Vs;
      for (int64_t j = 0; j < Vs; ++j)
        s[j] = std::exp(rate[j] * (HasDt ? dtSum[(seg * B * H + bh) * Vs + j] : len)) * s[j] + sl[j];
    }
    std::copy(s.begin(), s.end(), p.state + row * Vs);
  });
  ScanArgs c = p;
  c.segLen = segLen, c.segFirst = 1, c.segInit = entering.data(), c.segState = local.data();
  sweep(c);
}

} // namespace mixc::cpu

#endif
