// A float64 n-d array with left-aligned broadcasting, the value type of the
// reference interpreter.
#ifndef MIXC_RUNTIME_REFERENCE_ARRAY_H
#define MIXC_RUNTIME_REFERENCE_ARRAY_H

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mixc::ref {

struct Array {
  std::vector<int64_t> shape;
  std::vector<double> data; // row-major

  Array() = default;
  explicit Array(std::vector<int64_t> s, double fill = 0.0);
  int64_t size() const { return (int64_t)data.size(); }
  int64_t rank() const { return (int64_t)shape.size(); }
  int64_t dim(int64_t i) const { return shape[i]; }
  /// Element at `idx` under left-aligned broadcasting: size-1 dims read index 0
  /// and indices beyond this array's rank are ignored.
  double at(const std::vector<int64_t> &idx) const;
  std::string shapeString() const;
};

/// Fast broadcasting reads of an array of rank <= 5 (size-1 dims stride 0),
/// for the hot loops of the reference.
struct View {
  const double *p = nullptr;
  int64_t st[5] = {0, 0, 0, 0, 0};
  View() = default;
  explicit View(const Array *a) {
    if (!a) return;
    p = a->data.data();
    int64_t s = 1;
    for (int64_t i = std::min<int64_t>(a->rank(), 5) - 1; i >= 0; --i) {
      st[i] = a->shape[i] == 1 ? 0 : s;
      s *= a->shape[i];
    }
  }
  double operator()(int64_t i0, int64_t i1 = 0, int64_t i2 = 0, int64_t i3 = 0, int64_t i4 = 0) const {
    return p[i0 * st[0] + i1 * st[1] + i2 * st[2] + i3 * st[3] + i4 * st[4]];
  }
  explicit operator bool() const { return p != nullptr; }
};

/// The rows of two operands whose leading dimensions (all but the row's
/// features) broadcast, left-aligned, both of one rank: the broadcast leading
/// shape and, per output row in order, the row numbers of x and of y.
struct RowPairs {
  std::vector<int64_t> lead;
  std::vector<std::pair<int64_t, int64_t>> rows;
};
RowPairs broadcastRows(const std::vector<int64_t> &xLead, const std::vector<int64_t> &yLead);

/// Pointwise functions of the pre-processing ops, on float64.
/// Returns false for an unknown function name.
bool applyUnary(const std::string &fn, const Array &x, Array &out);
bool applyBinary(const std::string &fn, const Array &x, const Array &y, Array &out);

} // namespace mixc::ref

#endif
