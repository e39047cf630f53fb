// Mixture-of-Memories on the CPU (mixer.route_gather / route_scatter): the
// tokens routed to each memory become one sequence of the scan, padded with
// zero rows (identity steps) to the longest; the readouts mixed back per token.
#ifndef MIXC_CPU_ROUTE_H
#define MIXC_CPU_ROUTE_H

namespace mixc::cpu {

// Where each (token, slot) of `route` [B, T, k] goes: row dst[(b * T + t) * k + j]
// of the [B * M, L] sequences, L the longest memory's token count.
struct RoutePlan {
  int64_t B = 0, T = 0, k = 0, M = 0, L = 0;
  std::vector<int64_t> dst;
  std::vector<int64_t> count; // [B * M]: each sequence's tokens (the rest of L is padding)
};

// Reads the int64 route (any positive strides); refuses an index outside [0, M).
inline bool routePlan(const mixc_tensor &route, int64_t B, int64_t T, int64_t M, RoutePlan &p, Checker &chk) {
  p.B = B, p.T = T, p.k = route.shape[2], p.M = M, p.L = 0;
  p.dst.assign(B * T * p.k, 0);
  p.count.assign(B * M, 0);
  const int64_t *r = static_cast<const int64_t *>(route.data);
  for (int64_t b = 0; b < B; ++b) {
    int64_t *count = p.count.data() + b * M;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < p.k; ++j) {
        const int64_t m = r[b * route.strides[0] + t * route.strides[1] + j * route.strides[2]];
        if (m < 0 || m >= M)
          return !chk.fail("input 'route': memory index %lld at [%lld, %lld, %lld] is outside [0, %lld)", (long long)m,
                           (long long)b, (long long)t, (long long)j, (long long)M);
        p.dst[(b * T + t) * p.k + j] = m * T * p.k + count[m]++; // b * M + m's row, rebased below
      }
    for (int64_t m = 0; m < M; ++m) p.L = std::max(p.L, count[m]);
  }
  // Now that L is known: sequence b * M + m starts at row (b * M + m) * L.
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = b * T * p.k; i < (b + 1) * T * p.k; ++i) {
      const int64_t m = p.dst[i] / (T * p.k), pos = p.dst[i] % (T * p.k);
      p.dst[i] = (b * M + m) * p.L + pos;
    }
  return true;
}

// x [B, R, rest] (R = T, or T * k with `slots`) -> [B * M, L, rest], zeros past
// each sequence's end; with `weight` [B, T, k] each copy scaled by its slot's
// weight (the mix's adjoint).
inline Buffer routeGather(const Buffer &x, const RoutePlan &p, bool slots, const Buffer *weight = nullptr) {
  std::vector<int64_t> shape = x.shape;
  shape[0] = p.B * p.M, shape[1] = p.L;
  Buffer out(shape, Uninit{});
  int64_t w = 1;
  for (size_t d = 2; d < x.shape.size(); ++d) w *= x.shape[d];
  const float *src = x.ptr();
  float *dst = out.ptr();
  for (int64_t s = 0; s < p.B * p.M; ++s) // the padding (every other row is written below)
    std::fill(dst + (s * p.L + p.count[s]) * w, dst + (s + 1) * p.L * w, 0.f);
  const float *wt = weight ? weight->ptr() : nullptr;
  parallelRange(p.B * p.T, std::max<int64_t>(1, 4096 / std::max<int64_t>(w, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < p.k; ++j) {
        float *d = dst + p.dst[r * p.k + j] * w;
        const float *s = src + (slots ? r * p.k + j : r) * w;
        if (!wt) {
          std::memcpy(d, s, w * sizeof(float));
        } else {
          const float c = wt[r * p.k + j];
          for (int64_t i = 0; i < w; ++i) d[i] = c * s[i];
        }
      }
  });
  return out;
}

// y [B * M, L, rest] -> o [B, T, rest]: o[b, t] = sum_j weight[b, t, j] y[dst of (b, t, j)]
// (no weight: 1); with `slots`, [B, T * k, rest], each slot's row alone (no sum).
inline Buffer routeScatter(const Buffer &y, const RoutePlan &p, const Buffer *weight, bool slots = false) {
  std::vector<int64_t> shape = y.shape;
  shape[0] = p.B, shape[1] = slots ? p.T * p.k : p.T;
  Buffer out(shape);
  int64_t w = 1;
  for (size_t d = 2; d < y.shape.size(); ++d) w *= y.shape[d];
  const float *src = y.ptr(), *wt = weight ? weight->ptr() : nullptr;
  float *o = out.ptr();
  parallelRange(p.B * p.T, std::max<int64_t>(1, 4096 / std::max<int64_t>(w, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < p.k; ++j) {
        float *row = o + (slots ? r * p.k + j : r) * w;
        const float c = wt ? wt[r * p.k + j] : 1.f;
        const float *s = src + p.dst[r * p.k + j] * w;
        for (int64_t i = 0; i < w; ++i) row[i] += c * s[i];
      }
  });
  return out;
}

// The weights' gradient [B, T, k]: <g[b, t], y[dst of (b, t, j)]> over the row.
inline Buffer routeWeightGrad(const Buffer &y, const Buffer &g, const RoutePlan &p) {
  Buffer out({p.B, p.T, p.k});
  int64_t w = 1;
  for (size_t d = 2; d < y.shape.size(); ++d) w *= y.shape[d];
  const float *src = y.ptr(), *gp = g.ptr();
  float *o = out.ptr();
  parallelRange(p.B * p.T, std::max<int64_t>(1, 4096 / std::max<int64_t>(w, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < p.k; ++j) {
        const float *s = src + p.dst[r * p.k + j] * w, *gr = gp + r * w;
        float acc = 0.f;
        for (int64_t i = 0; i < w; ++i) acc += gr[i] * s[i];
        o[r * p.k + j] = acc;
      }
  });
  return out;
}

// The same elements under another shape: a routed input's slots as rows
// ([B, T, k, rest] <-> [B, T * k, rest]), states per memory as the scan's
// sequences ([B, M, rest] <-> [B * M, rest]). The elements are moved where the
// caller passes its only reference (std::move), copied otherwise.
inline Buffer reshaped(Buffer x, int dim, int64_t by) { // dims dim and dim + 1 merged (by 0), or dim split by `by`
  if (by == 0) {
    x.shape[dim] *= x.shape[dim + 1];
    x.shape.erase(x.shape.begin() + dim + 1);
  } else {
    x.shape[dim] /= by;
    x.shape.insert(x.shape.begin() + dim + 1, by);
  }
  return x;
}
inline Buffer routeSlots(Buffer x) { return reshaped(std::move(x), 1, 0); }
inline Buffer unslots(Buffer x, int64_t k) { return reshaped(std::move(x), 1, k); }
inline Buffer mergeMemories(Buffer x) { return reshaped(std::move(x), 0, 0); }
inline Buffer splitMemories(Buffer x, int64_t M) { return reshaped(std::move(x), 0, M); }

} // namespace mixc::cpu

#endif
