// The reference's Mixture-of-Memories ops (MixerRouteOps.td), in float64:
// each memory's sequence is the tokens routed to it, in token order.
#include "codegen/ReferenceTarget.h"

#include "dialect/MixerOps.h"

#include <cmath>

using namespace mlir;

namespace mixc {
namespace {

// Where route_gather puts each (token, slot): memory m's sequence of batch
// row b, position pos[(b * T + t) * k + j]; L the longest sequence.
std::string positions(const ref::Array &route, int64_t M, std::vector<int64_t> &pos, int64_t &L) {
  if (route.rank() != 3) return "input 'route' has shape " + route.shapeString() + ", expected [B, T, k]";
  const int64_t B = route.dim(0), T = route.dim(1), k = route.dim(2);
  pos.assign(B * T * k, 0);
  L = 0;
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int64_t> count(M, 0);
    for (int64_t i = b * T * k; i < (b + 1) * T * k; ++i) {
      const double r = route.data[i];
      if (!(r >= 0 && r < (double)M) || r != std::floor(r))
        return "input 'route': memory index " + std::to_string(r) + " is outside [0, " + std::to_string(M) + ")";
      pos[i] = count[(int64_t)r]++;
    }
    for (int64_t c : count) L = std::max(L, c);
  }
  return "";
}

int64_t rowWidth(const ref::Array &x, int64_t lead) {
  int64_t w = 1;
  for (int64_t i = lead; i < x.rank(); ++i) w *= x.dim(i);
  return w;
}

} // namespace

std::string evalRouteOp(ReferenceInterpreter &interp, Operation *op) {
  if (auto s = dyn_cast<mixer::RouteSlotsOp>(op)) { // [B, T, k, rest] <-> [B, T * k, rest]
    ref::Array a = interp[s.getInput()];
    if (s.flattens()) {
      a.shape[1] *= a.shape[2];
      a.shape.erase(a.shape.begin() + 2);
    } else {
      const int64_t k = cast<RankedTensorType>(s.getResult().getType()).getDimSize(2);
      a.shape[1] /= k;
      a.shape.insert(a.shape.begin() + 2, k);
    }
    interp[s.getResult()] = std::move(a);
    return "";
  }
  if (auto m = dyn_cast<mixer::MemoryStatesOp>(op)) { // [B, M, rest] <-> [B * M, rest]
    if (!interp.valueOf(m.getInput())) return ""; // an omitted initial state stays omitted (zeros)
    ref::Array a = interp[m.getInput()];
    const int64_t M = m.getMemories();
    if (m.merges()) {
      a.shape[0] *= a.shape[1];
      a.shape.erase(a.shape.begin() + 1);
    } else {
      a.shape[0] /= M;
      a.shape.insert(a.shape.begin() + 1, M);
    }
    interp[m.getResult()] = std::move(a);
    return "";
  }
  if (auto g = dyn_cast<mixer::RouteGatherOp>(op)) {
    const ref::Array &x = interp[g.getInput()], &route = interp[g.getRoute()];
    const int64_t M = g.getMemories(), B = route.dim(0), T = route.dim(1), k = route.dim(2);
    std::vector<int64_t> pos;
    int64_t L;
    if (std::string e = positions(route, M, pos, L); !e.empty()) return e;
    const int64_t w = rowWidth(x, 2), rowsPerToken = g.getSlots() ? k : 1;
    const ref::Array *weight = g.getWeight() ? interp.valueOf(g.getWeight()) : nullptr; // (the mix's adjoint)
    if (x.dim(0) != B || x.dim(1) != T * rowsPerToken)
      return "input 'route' has shape " + route.shapeString() + ", which does not match the routed rows " +
             x.shapeString();
    std::vector<int64_t> shape = x.shape;
    shape[0] = B * M, shape[1] = L;
    ref::Array out(shape); // zero rows past each sequence's end
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t j = 0; j < k; ++j) {
          const int64_t i = (b * T + t) * k + j, m = (int64_t)route.data[i];
          const int64_t src = b * T * rowsPerToken + (g.getSlots() ? t * k + j : t);
          const int64_t dst = (b * M + m) * L + pos[i];
          const double scale = weight ? weight->data[i] : 1.0;
          for (int64_t c = 0; c < w; ++c) out.data[dst * w + c] = scale * x.data[src * w + c];
        }
    interp[g.getResult()] = std::move(out);
    return "";
  }
  if (auto s = dyn_cast<mixer::RouteScatterOp>(op)) {
    const ref::Array &y = interp[s.getInput()], &route = interp[s.getRoute()];
    const ref::Array *weight = s.getWeight() ? interp.valueOf(s.getWeight()) : nullptr;
    const int64_t M = s.getMemories(), B = route.dim(0), T = route.dim(1), k = route.dim(2);
    if (weight && weight->shape != route.shape)
      return "input 'route_weight' has shape " + weight->shapeString() + ", expected that of 'route' " +
             route.shapeString();
    std::vector<int64_t> pos;
    int64_t L;
    if (std::string e = positions(route, M, pos, L); !e.empty()) return e;
    const int64_t w = rowWidth(y, 2);
    // Summed per token, or (slots) one row per slot.
    std::vector<int64_t> shape = y.shape;
    shape[0] = B, shape[1] = s.getSlots() ? T * k : T;
    ref::Array out(shape);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t j = 0; j < k; ++j) {
          const int64_t i = (b * T + t) * k + j, m = (int64_t)route.data[i];
          const double wt = weight ? weight->data[i] : 1.0;
          const double *src = y.data.data() + ((b * M + m) * L + pos[i]) * w;
          double *dst = out.data.data() + (s.getSlots() ? i : b * T + t) * w;
          for (int64_t c = 0; c < w; ++c) dst[c] += wt * src[c];
        }
    interp[s.getResult()] = std::move(out);
    return "";
  }
  if (auto wg = dyn_cast<mixer::RouteWeightGradOp>(op)) { // <do[b, t], y[dst]> per slot
    const ref::Array &y = interp[wg.getInput()], &dO = interp[wg.getGrad()], &route = interp[wg.getRoute()];
    std::vector<int64_t> pos;
    int64_t L;
    if (std::string e = positions(route, wg.getMemories(), pos, L); !e.empty()) return e;
    const int64_t M = wg.getMemories(), B = route.dim(0), T = route.dim(1), k = route.dim(2), w = rowWidth(y, 2);
    ref::Array out(route.shape);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t j = 0; j < k; ++j) {
          const int64_t i = (b * T + t) * k + j, m = (int64_t)route.data[i];
          const double *src = y.data.data() + ((b * M + m) * L + pos[i]) * w, *g = dO.data.data() + (b * T + t) * w;
          double acc = 0;
          for (int64_t c = 0; c < w; ++c) acc += g[c] * src[c];
          out.data[i] = acc;
        }
    interp[wg.getResult()] = std::move(out);
    return "";
  }
  return "not a route op";
}

} // namespace mixc
