// A float64 n-d array with left-aligned broadcasting, the value type of the
// reference interpreter.
#ifndef MIXC_RUNTIME_REFERENCE_ARRAY_H
#define MIXC_RUNTIME_REFERENCE_ARRAY_H

#include <cstdint>
#include <string>
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

/// Pointwise functions of the pre-processing ops, on float64.
/// Returns false for an unknown function name.
bool applyUnary(const std::string &fn, const Array &x, Array &out);
bool applyBinary(const std::string &fn, const Array &x, const Array &y, Array &out);

} // namespace mixc::ref

#endif
