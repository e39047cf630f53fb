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
bool routePlan(const mixc_tensor &route, int64_t B, int64_t T, int64_t M, RoutePlan &p, Checker &chk);

// x [B, R, rest] (R = T, or T * k with `slots`) -> [B * M, L, rest], zeros past
// each sequence's end; with `weight` [B, T, k] each copy scaled by its slot's
// weight (the mix's adjoint).
Buffer routeGather(const Buffer &x, const RoutePlan &p, bool slots, const Buffer *weight = nullptr);

// y [B * M, L, rest] -> o [B, T, rest]: o[b, t] = sum_j weight[b, t, j] y[dst of (b, t, j)]
// (no weight: 1); with `slots`, [B, T * k, rest], each slot's row alone (no sum).
Buffer routeScatter(const Buffer &y, const RoutePlan &p, const Buffer *weight, bool slots = false);

// The weights' gradient [B, T, k]: <g[b, t], y[dst of (b, t, j)]> over the row.
Buffer routeWeightGrad(const Buffer &y, const Buffer &g, const RoutePlan &p);

// The same elements under another shape: a routed input's slots as rows
// ([B, T, k, rest] <-> [B, T * k, rest]), states per memory as the scan's
// sequences ([B, M, rest] <-> [B * M, rest]). The elements are moved where the
// caller passes its only reference (std::move), copied otherwise.
// Dims dim and dim + 1 merged (by 0), or dim split by `by`.
Buffer reshaped(Buffer x, int dim, int64_t by);
inline Buffer routeSlots(Buffer x) { return reshaped(std::move(x), 1, 0); }
inline Buffer unslots(Buffer x, int64_t k) { return reshaped(std::move(x), 1, k); }
inline Buffer mergeMemories(Buffer x) { return reshaped(std::move(x), 0, 0); }
inline Buffer splitMemories(Buffer x, int64_t M) { return reshaped(std::move(x), 0, M); }

} // namespace mixc::cpu

#endif
