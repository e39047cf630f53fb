// Part of the CPU tile library (mixc_cpu.h): the backward pass. The adjoint
// of the recurrence (scanRecurrentGrad: the state's gradient walked in the
// opposite direction, from states recomputed a chunk at a time) and the
// whole-tensor gradients of the pre-processing that a printed
// @f_backward chains after it (mapVjp, binaryVjp, normalizeVjp, ...).
// Deterministic: no atomics, every sum in a fixed order that does not
// depend on the thread count.
#ifndef MIXC_CPU_BACKWARD_H
#define MIXC_CPU_BACKWARD_H

#include "mixc_cpu.h"

namespace mixc::cpu {

// ---- the adjoint as forward-shaped scans: token and state ops ----------------
// (mixer-lower-adjoint). Sequences are B rows of T tokens, or with seqStart
// (cu_seqlens) the NS packed spans of row 0; tokens are rows of the flattened
// [B, T] axis.

// The token span [first, end) of sequence n.
inline std::pair<int64_t, int64_t> sequenceSpan(int64_t n, int64_t T, const int64_t *seqStart) {
  return seqStart ? std::make_pair(seqStart[n], seqStart[n + 1]) : std::make_pair(n * T, n * T + T);
}

// y_t = x_{t + by} within each sequence, zero past its ends; x may broadcast
// (a per-head decay) to `shape` = [B, T, H, ...].
Buffer shiftTokens(const Buffer &x, const std::vector<int64_t> &shape, int by, int64_t NS,
                   const int64_t *seqStart);

// y_t = init + the sum of x over the sequence's tokens up to t (reverse: from
// t on); init [NS, H, ...] or nullptr. Sums in token order: deterministic.
Buffer tokenCumsum(const Buffer &x, const float *init, bool reverse, int64_t NS, const int64_t *seqStart);

// The first (or last) token of each sequence: [B, T, H, ...] -> `shape` =
// [NS, H, ...]; x may broadcast (a per-head decay). An empty sequence gets 0.
Buffer edgeToken(const Buffer &x, const std::vector<int64_t> &shape, bool last, int64_t B, int64_t T,
                 const int64_t *seqStart);

// [N, H, K, V] -> [N, H, V, K].
Buffer transposeState(const Buffer &x);

// Grouped heads as whole tensors (the backward's; the forward's rows read
// head h / G in place): [B, T, H / G, ...] -> [B, T, H, ...] and back, each
// group of G heads summed (the adjoint).
Buffer repeatHeads(const Buffer &x, int64_t G);
Buffer sumHeads(const Buffer &x, int64_t G);

// ---- the pre-processing's gradients ------------------------------------------

// Sums `full` over the dimensions that `shape` broadcasts (left-aligned, as
// mixer.binary): the gradient of an operand that was broadcast. Each output
// element adds its terms in index order, so the result does not depend on
// the thread count. Taken by value: a temporary of the operand's own shape
// is moved through, not copied.
Buffer reduceTo(Buffer full, const std::vector<int64_t> &shape);

// The backward's pointwise ops come as block functions over runs of
// elements, one plain lambda per op printed through the MIXC_*_BLOCK macros
// below: a loop the host compiler vectorizes, and no instantiation of the
// parallel drivers per op (a backward has a dozen of them; templates on each
// kept the host compiler busy for seconds per kernel, and a pointer call per
// element was a quarter of GLA's backward). A binary block gets each
// operand's stride along the run: 1, or 0 where it broadcasts.
using MapBlock = void (*)(const float *x, float *o, int64_t n);
using BinaryBlock = void (*)(const float *a, int64_t sa, const float *b, int64_t sb, float *o, int64_t n);
using MapVjpBlock = void (*)(const float *x, const float *y, const float *g, float *o, int64_t n);
using BinaryVjpBlock = void (*)(const float *a, int64_t sa, const float *b, int64_t sb, const float *g, int64_t sg,
                                float *o, int64_t n);
// EXPR reads x (map), a and b (binary), x and y = f(x) (map's derivative).
#define MIXC_MAP_BLOCK(EXPR)                                                                                        \
  [](const float *xs_, float *o_, int64_t n_) {                                                                     \
    for (int64_t i_ = 0; i_ < n_; ++i_) {                                                                           \
      const float x = xs_[i_];                                                                                      \
      o_[i_] = (EXPR);                                                                                              \
    }                                                                                                               \
  }
#define MIXC_BINARY_BLOCK(EXPR)                                                                                     \
  [](const float *as_, int64_t sa_, const float *bs_, int64_t sb_, float *o_, int64_t n_) {                         \
    if (sa_ == 1 && sb_ == 1)                                                                                       \
      for (int64_t i_ = 0; i_ < n_; ++i_) {                                                                         \
        const float a = as_[i_], b = bs_[i_];                                                                       \
        (void)a, (void)b;                                                                                           \
        o_[i_] = (EXPR);                                                                                            \
      }                                                                                                             \
    else                                                                                                            \
      for (int64_t i_ = 0; i_ < n_; ++i_) {                                                                         \
        const float a = as_[i_ * sa_], b = bs_[i_ * sb_];                                                           \
        (void)a, (void)b;                                                                                           \
        o_[i_] = (EXPR);                                                                                            \
      }                                                                                                             \
  }
#define MIXC_MAP_VJP_BLOCK(EXPR)                                                                                    \
  [](const float *xs_, const float *ys_, const float *gs_, float *o_, int64_t n_) {                                 \
    for (int64_t i_ = 0; i_ < n_; ++i_) {                                                                           \
      const float x = xs_[i_], y = ys_[i_];                                                                         \
      (void)x, (void)y;                                                                                             \
      o_[i_] = gs_[i_] * (EXPR);                                                                                    \
    }                                                                                                               \
  }
#define MIXC_BINARY_VJP_BLOCK(EXPR)                                                                                 \
  [](const float *as_, int64_t sa_, const float *bs_, int64_t sb_, const float *gs_, int64_t sg_, float *o_,        \
     int64_t n_) {                                                                                                  \
    if (sa_ == 1 && sb_ == 1 && sg_ == 1)                                                                           \
      for (int64_t i_ = 0; i_ < n_; ++i_) {                                                                         \
        const float a = as_[i_], b = bs_[i_];                                                                       \
        (void)a, (void)b;                                                                                           \
        o_[i_] = gs_[i_] * (EXPR);                                                                                  \
      }                                                                                                             \
    else                                                                                                            \
      for (int64_t i_ = 0; i_ < n_; ++i_) {                                                                         \
        const float a = as_[i_ * sa_], b = bs_[i_ * sb_];                                                           \
        (void)a, (void)b;                                                                                           \
        o_[i_] = gs_[i_ * sg_] * (EXPR);                                                                            \
      }                                                                                                             \
  }

// The forward's pre-processing recomputed on whole tensors.
Buffer mapFn(const Buffer &in, MapBlock f);
Buffer binaryFn(const Buffer &a, const Buffer &b, BinaryBlock f);

// Gradient of a pointwise map y = f(x): g . d(x, y).
Buffer mapVjp(const Buffer &x, const Buffer &y, const Buffer &g, MapVjpBlock d);

// Gradients of the maps over the feature dimension, row by row: in is the
// map's input (or result, for softmax), g the gradient of its result.
template <typename F> Buffer rowsVjp(const Buffer &in, const Buffer &g, F f) { // F: one per map, at most five
  Buffer out(in.shape);
  const int64_t D = in.shape.back(), n = in.size() / std::max<int64_t>(D, 1), Dg = g.shape.back();
  parallelRange(n, std::max<int64_t>(1, 16384 / std::max<int64_t>(D, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) f(in.ptr() + r * D, g.ptr() + r * Dg, D, out.ptr() + r * D);
  });
  return out;
}
// y = x / sqrt(|x|^2 + 1e-12): dx = g / n - x (x . g) / n^3.
Buffer l2normVjp(const Buffer &x, const Buffer &g);
// From the softmax's result y: dx = y . (g - g . y).
Buffer softmaxVjp(const Buffer &y, const Buffer &g);
// y = [1, x, vec(x x^T) / sqrt 2].
Buffer taylor2Vjp(const Buffer &x, const Buffer &g);
// y = [x, 1]: the gradient of x is g without its last column.
Buffer appendOneVjp(const Buffer &x, const Buffer &g);
// y = sum_i x_i: every x_i gets g.
Buffer sumVjp(const Buffer &x, const Buffer &g);

// Gradient of one operand of out = f(a, b) under broadcasting: d(a, b)
// (the partial derivative of f by that operand) times g at every element of
// the broadcast shape, then summed over what the operand broadcast over.
Buffer binaryVjp(const Buffer &a, const Buffer &b, const Buffer &g, const std::vector<int64_t> &shape,
                 BinaryVjpBlock d);
// out = sum_i a_i b_i over the feature dimension: the gradient of a is g b
// (of b: g a), g broadcast over the features.
Buffer dotVjp(const Buffer &other, const Buffer &g, const std::vector<int64_t> &shape);

// out = x^T W (vecmat): the gradient of the row x, W g per row.
Buffer vecmatVjpRow(const Buffer &w, const Buffer &g, const std::vector<int64_t> &shape);
// ... and of the per-head matrix W [1, 1, H, D, F]: the sum over the rows of
// head h of x g^T, one task per (head, d) row of W, in token order (the
// same sums every run).
Buffer vecmatVjpMatrix(const Buffer &x, const Buffer &g, const std::vector<int64_t> &shape);
// out = [a, b] (concat): operand `operand`'s columns of g, summed to its shape.
Buffer concatVjp(const Buffer &g, int operand, int64_t widthA, const std::vector<int64_t> &shape);

// o_j = scale x_j / n, n = den + eps or max(|den|, eps), den = x_V (the
// normalizer's column): the gradient of the row x (V + 1 wide) from g (V).
Buffer normalizeVjp(const Buffer &x, const Buffer &g, bool maxAbs, float eps, float scale);

// ---- the recurrence's adjoint ---------------------------------------------------

// Operands of scanRecurrentGrad: what the forward's ScanArgs has, the
// upstream gradients, and one gradient array per operand. Per-token
// gradients are rows [B, T, H, width] (a scalar decay: width 1); the rate
// [H, K, Vs] and bonus [H, K] get their sums over batch and time; dinit is
// [B, H, K, Vs]. An absent operand's gradient is null.
struct GradArgs : TokenLayout {
  int64_t H = 0, Vs = 0;
  const float *rate = nullptr, *bonus = nullptr, *init = nullptr, *initM = nullptr; // initM: mLSTM's [B, H]
  const float *dO = nullptr, *dFinal = nullptr; // [B, T, H, Vs], [B, H, K, Vs]
  float scale = 1.f;
  bool reverse = false;
  float *dq = nullptr, *dk = nullptr, *dv = nullptr, *ddecay = nullptr, *ddt = nullptr, *da = nullptr,
        *db = nullptr, *drate = nullptr, *dbonus = nullptr, *dinit = nullptr;
  float *digate = nullptr, *dinitM = nullptr; // mLSTM: [B, T, H], [B, H]
};

// The backward of S_t = A_t S_{t-1} + k_t v_t^T, o_t = scale S_t^T q_t (with
// a bonus: o_t = scale (S_{t-1}^T q_t + (q_t . u . k_t) v_t)), one task per
// (batch, head) with the K x VS state and its gradient dS in L1/L2. A first
// sweep keeps the state at the start of every chunk of C tokens (C: the
// tile's grad_checkpoint, chosen so that C + 1 states stay in L2);
// the reverse sweep recomputes a chunk's states and rows from its checkpoint
// and walks them backwards:
//   dS += scale q_t do_t^T,  dq_t = scale S_t do_t,  dk_t = dS v_t,  dv_t = dS^T k_t,
//   d diag = dS . S_{t-1} (summed to the decay's shape; times the diagonal for a log),
//   DPLR (A = D + a b^T): w = S_{t-1}^T b, u = dS^T a, da_t = dS w, db_t = S_{t-1} u,
//   dS_{t-1} = D dS + b u^T.
// The same relations as the float64 reference (runtime/reference/RecurrenceGrad.cpp).

// out[h][e] = sum over b, in order, of parts[b][h][e] (n values per (b, h)):
// a per-head parameter's gradient from the tasks' shares.
void sumOverBatch(const float *parts, int64_t B, int64_t H, int64_t n, float *out);

template <Structure S, int K, int VS, DiagKind Diag, bool Bonus, bool HasDt, bool LogDecay, int C, typename RowFn>
void scanRecurrentGrad(const GradArgs &p, int threads, RowFn rowOf) {
  static_assert(C >= 1, "checkpoint interval");
  constexpr int64_t kGradChunk = C;
  const int64_t B = p.B, H = p.H;
  constexpr bool VecDiag = S == Structure::vector || (S == Structure::dplr && Diag == DiagKind::vector);
  constexpr bool ScalarDiag = S == Structure::scalar || S == Structure::const_scalar ||
                              (S == Structure::dplr && Diag == DiagKind::scalar);
  constexpr int64_t KV = (int64_t)K * VS;
  // Per task: its share of the parameters' gradients, summed over tasks in
  // order afterwards.
  std::vector<float> rateParts(p.drate ? B * H * KV : 0), bonusParts(p.dbonus ? B * H * K : 0);
  parallelFor(B * H, std::max(1, threads), [&](int64_t task) {
    const int64_t b = task / H, h = task % H, T = p.len(b), chunks = (T + kGradChunk - 1) / kGradChunk;
    auto timeOf = [&](int64_t step) { return p.reverse ? T - 1 - step : step; };
    std::vector<float> ckpt(std::max<int64_t>(chunks, 1) * KV), states((kGradChunk + 1) * KV), dS(KV), dPrev(KV);
    std::vector<TokenRow<K, VS>> rows(kGradChunk);
    float *rateAcc = p.drate ? rateParts.data() + task * KV : nullptr;
    float *bonusAcc = p.dbonus ? bonusParts.data() + task * K : nullptr;
    const float *rate = p.rate ? p.rate + h * KV : nullptr;
    const float *u = Bonus ? p.bonus + h * K : nullptr;
    // The diagonal of A at (i, j) for token row r.
    auto diag = [&](const TokenRow<K, VS> &r, int i, int j) -> float {
      if constexpr (S == Structure::identity || (S == Structure::dplr && Diag == DiagKind::none)) return 1.f;
      else if constexpr (ScalarDiag) return LogDecay ? fastExp(r.decay[0]) : r.decay[0];
      else if constexpr (VecDiag) return LogDecay ? fastExp(r.decay[i]) : r.decay[i];
      else { // elementwise: exp(rate * dt), or dt the factor itself
        if constexpr (LogDecay) return fastExp(rate[i * VS + j] * (HasDt ? r.dt[j] : 1.f));
        else return r.dt[j];
      }
    };
    // S <- A S + k v^T for one token.
    auto step = [&](const float *P, float *N, const TokenRow<K, VS> &r) {
      alignas(64) float w[VS] = {};
      if constexpr (S == Structure::dplr)
        for (int i = 0; i < K; ++i)
          for (int j = 0; j < VS; ++j) w[j] += r.b[i] * P[i * VS + j];
      for (int i = 0; i < K; ++i) {
        const float ki = r.k[i], ai = S == Structure::dplr ? r.a[i] : 0.f;
        if constexpr (S == Structure::elementwise) {
          for (int j = 0; j < VS; ++j) N[i * VS + j] = diag(r, i, j) * P[i * VS + j] + ki * r.v[j];
        } else {
          const float d = diag(r, i, 0);
          for (int j = 0; j < VS; ++j) N[i * VS + j] = d * P[i * VS + j] + ai * w[j] + ki * r.v[j];
        }
      }
    };
    // The forward sweep: a checkpoint at every chunk's start.
    float *S0 = states.data();
    for (int64_t e = 0; e < KV; ++e) S0[e] = p.init ? p.init[task * KV + e] : 0.f;
    for (int64_t c = 0; c < chunks; ++c) {
      std::copy_n(S0, KV, ckpt.data() + c * KV);
      const int64_t s1 = std::min(T, (c + 1) * kGradChunk);
      for (int64_t s = c * kGradChunk; s < s1; ++s) {
        rowOf(p.inB(b), p.inT(b, timeOf(s)), h, rows[0]);
        step(S0, states.data() + KV, rows[0]);
        std::copy_n(states.data() + KV, KV, S0);
      }
    }
    for (int64_t e = 0; e < KV; ++e) dS[e] = p.dFinal ? p.dFinal[task * KV + e] : 0.f;
    for (int64_t c = chunks - 1; c >= 0; --c) {
      const int64_t s0 = c * kGradChunk, len = std::min(T, s0 + kGradChunk) - s0;
      std::copy_n(ckpt.data() + c * KV, KV, states.data());
      for (int64_t i = 0; i < len; ++i) {
        rowOf(p.inB(b), p.inT(b, timeOf(s0 + i)), h, rows[i]);
        step(states.data() + i * KV, states.data() + (i + 1) * KV, rows[i]);
      }
      for (int64_t i = len - 1; i >= 0; --i) {
        const int64_t t = timeOf(s0 + i), row = p.token(b, t) * H + h;
        const TokenRow<K, VS> &r = rows[i];
        const float *P = states.data() + i * KV, *N = P + KV;
        const float *go = p.dO + row * VS;
        // uu: DPLR's u = dS^T a, or the elementwise form's d dt.
        alignas(64) float g[VS], dv[VS] = {}, w[VS] = {}, uu[VS] = {};
        for (int j = 0; j < VS; ++j) g[j] = p.scale * go[j];
        alignas(64) float dq[K], dk[K], dd[K] = {};
        float qu = 0.f, dqu = 0.f;
        if constexpr (Bonus) {
          for (int i2 = 0; i2 < K; ++i2) qu += r.q[i2] * u[i2] * r.k[i2];
          for (int j = 0; j < VS; ++j) dqu += r.v[j] * g[j], dv[j] += qu * g[j];
        }
        if constexpr (S == Structure::dplr)
          for (int k2 = 0; k2 < K; ++k2)
            for (int j = 0; j < VS; ++j) w[j] += r.b[k2] * P[k2 * VS + j];
        // Pass 1, per key row: the read, the write, the diagonal.
        for (int k2 = 0; k2 < K; ++k2) {
          float *dSi = dS.data() + k2 * VS, *dPi = dPrev.data() + k2 * VS;
          const float *Ri = (Bonus ? P : N) + k2 * VS, *Pi = P + k2 * VS;
          const float qi = r.q[k2], ki = r.k[k2];
          float sq = rowDot(Ri, g, VS);
          if constexpr (!Bonus)
            for (int j = 0; j < VS; ++j) dSi[j] += qi * g[j];
          float sk = rowDot(dSi, r.v, VS), sd = 0.f;
          for (int j = 0; j < VS; ++j) dv[j] += dSi[j] * ki;
          if constexpr (S == Structure::elementwise) {
            for (int j = 0; j < VS; ++j) {
              const float f = diag(r, k2, j), x = dSi[j] * Pi[j];
              dPi[j] = f * dSi[j];
              if constexpr (LogDecay) {
                const float dl = x * f;
                if (rateAcc) rateAcc[k2 * VS + j] += dl * (HasDt ? r.dt[j] : 1.f);
                if constexpr (HasDt) uu[j] += dl * rate[k2 * VS + j];
              } else {
                uu[j] += x; // dt is the factor
              }
            }
          } else {
            const float f = diag(r, k2, 0);
            if constexpr (S != Structure::identity) sd = rowDot(dSi, Pi, VS) * (LogDecay ? f : 1.f);
            for (int j = 0; j < VS; ++j) dPi[j] = f * dSi[j];
          }
          if constexpr (S == Structure::dplr) {
            const float sa = rowDot(dSi, w, VS);
            for (int j = 0; j < VS; ++j) uu[j] += r.a[k2] * dSi[j];
            if (p.da) p.da[row * K + k2] = sa;
          }
          if constexpr (Bonus) {
            // S_{t-1} is read: its gradient q g^T goes to dS_{t-1}.
            for (int j = 0; j < VS; ++j) dPi[j] += qi * g[j];
            sq += u[k2] * ki * dqu;
            sk += qi * u[k2] * dqu;
            if (bonusAcc) bonusAcc[k2] += qi * ki * dqu;
          }
          dq[k2] = sq, dk[k2] = sk, dd[k2] = sd;
        }
        // Pass 2 (DPLR): db = S_{t-1} u, dS_{t-1} += b u^T.
        if constexpr (S == Structure::dplr)
          for (int k2 = 0; k2 < K; ++k2) {
            const float *Pi = P + k2 * VS;
            float *dPi = dPrev.data() + k2 * VS;
            const float sb = rowDot(Pi, uu, VS);
            for (int j = 0; j < VS; ++j) dPi[j] += r.b[k2] * uu[j];
            if (p.db) p.db[row * K + k2] = sb;
          }
        if (p.dq) std::copy_n(dq, K, p.dq + row * K);
        if (p.dk) std::copy_n(dk, K, p.dk + row * K);
        if (p.dv) std::copy_n(dv, VS, p.dv + row * VS);
        if (p.ddecay) {
          if constexpr (VecDiag) std::copy_n(dd, K, p.ddecay + row * K);
          else if constexpr (ScalarDiag) {
            float s = 0.f;
            for (int k2 = 0; k2 < K; ++k2) s += dd[k2];
            p.ddecay[row] = s;
          }
        }
        if constexpr (S == Structure::elementwise)
          if (p.ddt) std::copy_n(uu, VS, p.ddt + row * VS);
        dS.swap(dPrev);
      }
    }
    if (p.dinit) std::copy_n(dS.data(), KV, p.dinit + task * KV);
  });
  // The parameters: sums over the batch in order.
  if (p.drate) sumOverBatch(rateParts.data(), B, H, KV, p.drate);
  if (p.dbonus) sumOverBatch(bonusParts.data(), B, H, K, p.dbonus);
}

// mLSTM's backward (scalar transitions, state columns [C | n], VS = V + 1):
// m_t = max(g_t + m_{t-1}, i_t), f = exp(g_t + m_{t-1} - m_t), w = exp(i_t - m_t),
// S_t = f S_{t-1} + w k [v, 1]^T, o_t = scale num / max(|den|, exp(-m_t)) with
// num = C_t^T q, den = n_t^T q. The adjoint carries dm beside dS (a max passes
// its gradient to the larger argument); the final stabilizer gets none. The
// same checkpointed reverse sweep as scanRecurrentGrad, m checkpointed too.
template <int K, int V, bool LogDecay, int C, typename RowFn>
void scanMlstmGrad(const GradArgs &p, int threads, RowFn rowOf) {
  static_assert(LogDecay, "mLSTM's stabilizer reads the log-decay");
  constexpr int64_t kGradChunk = C;
  constexpr int VS = V + 1;
  constexpr int64_t KV = (int64_t)K * VS;
  const int64_t B = p.B, H = p.H;
  parallelFor(B * H, std::max(1, threads), [&](int64_t task) {
    const int64_t b = task / H, h = task % H, T = p.len(b), chunks = (T + kGradChunk - 1) / kGradChunk;
    auto timeOf = [&](int64_t step) { return p.reverse ? T - 1 - step : step; };
    std::vector<float> ckpt(std::max<int64_t>(chunks, 1) * KV), ckptM(std::max<int64_t>(chunks, 1)),
        states((kGradChunk + 1) * KV), ms(kGradChunk + 1), dS(KV);
    std::vector<TokenRow<K, V>> rows(kGradChunk);
    auto step = [&](const float *P, float *N, float mPrev, const TokenRow<K, V> &r) {
      const float g = r.decay[0], m = std::max(g + mPrev, r.igate);
      const float f = fastExp(g + mPrev - m), w = fastExp(r.igate - m);
      for (int i = 0; i < K; ++i) {
        for (int j = 0; j < V; ++j) N[i * VS + j] = f * P[i * VS + j] + w * r.k[i] * r.v[j];
        N[i * VS + V] = f * P[i * VS + V] + w * r.k[i];
      }
      return m;
    };
    float *S0 = states.data();
    for (int64_t e = 0; e < KV; ++e) S0[e] = p.init ? p.init[task * KV + e] : 0.f;
    float m = p.initM ? p.initM[task] : 0.f;
    for (int64_t c = 0; c < chunks; ++c) {
      std::copy_n(S0, KV, ckpt.data() + c * KV);
      ckptM[c] = m;
      for (int64_t s = c * kGradChunk; s < std::min(T, (c + 1) * kGradChunk); ++s) {
        rowOf(p.inB(b), p.inT(b, timeOf(s)), h, rows[0]);
        m = step(S0, states.data() + KV, m, rows[0]);
        std::copy_n(states.data() + KV, KV, S0);
      }
    }
    for (int64_t e = 0; e < KV; ++e) dS[e] = p.dFinal ? p.dFinal[task * KV + e] : 0.f;
    float dm = 0.f; // the gradient of the stabilizer after the current token
    for (int64_t c = chunks - 1; c >= 0; --c) {
      const int64_t s0 = c * kGradChunk, len = std::min(T, s0 + kGradChunk) - s0;
      std::copy_n(ckpt.data() + c * KV, KV, states.data());
      ms[0] = ckptM[c];
      for (int64_t i = 0; i < len; ++i) {
        rowOf(p.inB(b), p.inT(b, timeOf(s0 + i)), h, rows[i]);
        ms[i + 1] = step(states.data() + i * KV, states.data() + (i + 1) * KV, ms[i], rows[i]);
      }
      for (int64_t i = len - 1; i >= 0; --i) {
        const int64_t t = timeOf(s0 + i), row = p.token(b, t) * H + h;
        const TokenRow<K, V> &r = rows[i];
        const float *P = states.data() + i * KV, *N = P + KV;
        const float g = r.decay[0], mPrev = ms[i], mt = ms[i + 1];
        const float f = fastExp(g + mPrev - mt), w = fastExp(r.igate - mt);
        // The readout's gradients of num (dRead[j < V]) and den (dRead[V]).
        alignas(64) float num[V] = {}, dRead[VS] = {}, dv[V] = {};
        float den = 0.f;
        for (int k2 = 0; k2 < K; ++k2) {
          for (int j = 0; j < V; ++j) num[j] += N[k2 * VS + j] * r.q[k2];
          den += N[k2 * VS + V] * r.q[k2];
        }
        const float floorV = fastExp(-mt);
        const bool floored = floorV > std::fabs(den);
        const float n = floored ? floorV : std::fabs(den);
        float dn = 0.f;
        const float *go = p.dO + row * V;
        for (int j = 0; j < V; ++j) {
          dRead[j] = p.scale * go[j] / n;
          dn -= p.scale * go[j] * num[j] / (n * n);
        }
        if (floored) dm -= dn * n;
        else dRead[V] = dn * (den > 0.f ? 1.f : -1.f);
        float dw = 0.f, df = 0.f;
        for (int k2 = 0; k2 < K; ++k2) {
          float *dSi = dS.data() + k2 * VS;
          const float *Ni = N + k2 * VS, *Pi = P + k2 * VS;
          float dq = 0.f, dk = 0.f;
          for (int j = 0; j < VS; ++j) {
            dq += Ni[j] * dRead[j];
            dSi[j] += r.q[k2] * dRead[j];
          }
          for (int j = 0; j < V; ++j) dk += dSi[j] * r.v[j], dv[j] += dSi[j] * r.k[k2];
          dk += dSi[V];
          dw += dk * r.k[k2];
          for (int j = 0; j < VS; ++j) df += dSi[j] * Pi[j], dSi[j] *= f;
          if (p.dq) p.dq[row * K + k2] = dq;
          if (p.dk) p.dk[row * K + k2] = w * dk;
        }
        if (p.dv)
          for (int j = 0; j < V; ++j) p.dv[row * V + j] = w * dv[j];
        float dg = df * f, dmPrev = df * f, di = dw * w;
        dm -= df * f + dw * w;
        if (g + mPrev >= r.igate) dg += dm, dmPrev += dm;
        else di += dm;
        if (p.ddecay) p.ddecay[row] = dg;
        if (p.digate) p.digate[row] = di;
        dm = dmPrev;
      }
    }
    if (p.dinit) std::copy_n(dS.data(), KV, p.dinit + task * KV);
    if (p.dinitM) p.dinitM[task] = dm;
  });
}

} // namespace mixc::cpu

#endif
