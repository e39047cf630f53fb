#include "runtime/reference/Array.h"

#include <algorithm>
#include <cmath>
#include <functional>

namespace mixc::ref {

Array::Array(std::vector<int64_t> s, double fill) : shape(std::move(s)) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  data.assign(n, fill);
}

double Array::at(const std::vector<int64_t> &idx) const {
  int64_t off = 0;
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t j = (i < idx.size() && shape[i] != 1) ? idx[i] : 0;
    off = off * shape[i] + j;
  }
  return data[off];
}

std::string Array::shapeString() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

namespace {
double softplus(double x) { return x > 30 ? x : std::log1p(std::exp(x)); }
double logsigmoid(double x) { return x < -30 ? x : -std::log1p(std::exp(-x)); }

// Calls f(index) for every index of `shape`, in row-major order.
void forEachIndex(const std::vector<int64_t> &shape, const std::function<void(const std::vector<int64_t> &)> &f) {
  std::vector<int64_t> idx(shape.size(), 0);
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  for (int64_t e = 0; e < n; ++e) {
    f(idx);
    for (int64_t i = (int64_t)shape.size() - 1; i >= 0; --i) {
      if (++idx[i] < shape[i]) break;
      idx[i] = 0;
    }
  }
}
} // namespace

bool applyUnary(const std::string &fn, const Array &x, Array &out) {
  if (fn == "append_one") {
    std::vector<int64_t> s = x.shape;
    int64_t D = s.back(), rows = x.size() / std::max<int64_t>(D, 1);
    s.back() = D + 1;
    out = Array(s, 1.0);
    for (int64_t r = 0; r < rows; ++r) std::copy_n(&x.data[r * D], D, &out.data[r * (D + 1)]);
    return true;
  }
  if (fn == "sum") { // over the last dimension, which goes
    std::vector<int64_t> s = x.shape;
    int64_t D = s.back(), rows = x.size() / std::max<int64_t>(D, 1);
    s.pop_back();
    out = Array(s);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < D; ++i) out.data[r] += x.data[r * D + i];
    return true;
  }
  if (fn == "ones") {
    std::vector<int64_t> s = x.shape;
    s.back() = 1;
    out = Array(s, 1.0);
    return true;
  }
  if (fn == "softmax") { // over the last dimension, max-shifted
    int64_t D = x.shape.back(), rows = x.size() / std::max<int64_t>(D, 1);
    out = Array(x.shape);
    for (int64_t r = 0; r < rows; ++r) {
      const double *in = &x.data[r * D];
      double m = *std::max_element(in, in + D), z = 0;
      for (int64_t i = 0; i < D; ++i) z += out.data[r * D + i] = std::exp(in[i] - m);
      for (int64_t i = 0; i < D; ++i) out.data[r * D + i] /= z;
    }
    return true;
  }
  if (fn == "l2norm" || fn == "taylor2") {
    int64_t D = x.shape.back(), rows = x.size() / std::max<int64_t>(D, 1);
    std::vector<int64_t> s = x.shape;
    if (fn == "taylor2") s.back() = 1 + D + D * D;
    out = Array(s);
    int64_t Do = s.back();
    for (int64_t r = 0; r < rows; ++r) {
      const double *in = &x.data[r * D];
      double *o = &out.data[r * Do];
      if (fn == "l2norm") {
        double n = 0;
        for (int64_t i = 0; i < D; ++i) n += in[i] * in[i];
        double inv = 1.0 / std::sqrt(n + 1e-12);
        for (int64_t i = 0; i < D; ++i) o[i] = in[i] * inv;
      } else {
        o[0] = 1;
        for (int64_t i = 0; i < D; ++i) o[1 + i] = in[i];
        for (int64_t i = 0; i < D; ++i)
          for (int64_t j = 0; j < D; ++j) o[1 + D + i * D + j] = in[i] * in[j] / std::sqrt(2.0);
      }
    }
    return true;
  }
  std::function<double(double)> f;
  if (fn == "neg") f = [](double v) { return -v; };
  else if (fn == "exp") f = [](double v) { return std::exp(v); };
  else if (fn == "log") f = [](double v) { return std::log(v); };
  else if (fn == "sigmoid") f = [](double v) { return 1 / (1 + std::exp(-v)); };
  else if (fn == "logsigmoid") f = logsigmoid;
  else if (fn == "softplus") f = softplus;
  else if (fn == "silu") f = [](double v) { return v / (1 + std::exp(-v)); };
  else if (fn == "elu") f = [](double v) { return v > 0 ? v : std::expm1(v); };
  else if (fn == "relu") f = [](double v) { return v > 0 ? v : 0.0; };
  else if (fn == "abs") f = [](double v) { return std::fabs(v); };
  else if (fn == "sqrt") f = [](double v) { return std::sqrt(v); };
  else if (fn == "tanh") f = [](double v) { return std::tanh(v); };
  else return false;
  out = Array(x.shape);
  std::transform(x.data.begin(), x.data.end(), out.data.begin(), f);
  return true;
}

RowPairs broadcastRows(const std::vector<int64_t> &xLead, const std::vector<int64_t> &yLead) {
  RowPairs r;
  const size_t n = std::max(xLead.size(), yLead.size());
  r.lead.assign(n, 1);
  for (size_t i = 0; i < n; ++i) {
    const int64_t a = i < xLead.size() ? xLead[i] : 1, b = i < yLead.size() ? yLead[i] : 1;
    r.lead[i] = a == 1 ? b : a;
  }
  auto rowOf = [](const std::vector<int64_t> &s, const std::vector<int64_t> &idx) {
    int64_t off = 0;
    for (size_t i = 0; i < s.size(); ++i) off = off * s[i] + (s[i] != 1 ? idx[i] : 0);
    return off;
  };
  std::vector<int64_t> idx(n, 0);
  int64_t count = 1;
  for (int64_t d : r.lead) count *= d;
  for (int64_t e = 0; e < count; ++e) {
    r.rows.push_back({rowOf(xLead, idx), rowOf(yLead, idx)});
    for (int64_t i = (int64_t)n - 1; i >= 0; --i) {
      if (++idx[i] < r.lead[i]) break;
      idx[i] = 0;
    }
  }
  return r;
}

bool applyBinary(const std::string &fn, const Array &x, const Array &y, Array &out) {
  if (fn == "vecmat") { // out[f] = sum_d x[d] W[d, f], W = y
    if (x.rank() < 1 || y.rank() != x.rank() + 1 || y.shape[x.rank() - 1] != x.shape.back()) return false;
    const int64_t D = x.shape.back(), F = y.shape.back();
    RowPairs rp = broadcastRows({x.shape.begin(), x.shape.end() - 1}, {y.shape.begin(), y.shape.end() - 2});
    std::vector<int64_t> s = rp.lead;
    s.push_back(F);
    out = Array(s);
    for (size_t r = 0; r < rp.rows.size(); ++r) {
      const double *xr = &x.data[rp.rows[r].first * D], *w = &y.data[rp.rows[r].second * D * F];
      double *o = &out.data[r * F];
      for (int64_t d = 0; d < D; ++d)
        for (int64_t f = 0; f < F; ++f) o[f] += xr[d] * w[d * F + f];
    }
    return true;
  }
  if (fn == "concat") { // [x, y] along the last dimension
    if (x.rank() < 1 || y.rank() != x.rank()) return false;
    const int64_t D = x.shape.back(), E = y.shape.back();
    RowPairs rp = broadcastRows({x.shape.begin(), x.shape.end() - 1}, {y.shape.begin(), y.shape.end() - 1});
    std::vector<int64_t> s = rp.lead;
    s.push_back(D + E);
    out = Array(s);
    for (size_t r = 0; r < rp.rows.size(); ++r) {
      std::copy_n(&x.data[rp.rows[r].first * D], D, &out.data[r * (D + E)]);
      std::copy_n(&y.data[rp.rows[r].second * E], E, &out.data[r * (D + E) + D]);
    }
    return true;
  }
  if (fn == "dot") {
    std::vector<int64_t> s = x.shape;
    int64_t D = s.back(), rows = x.size() / std::max<int64_t>(D, 1);
    if (x.shape != y.shape) return false;
    s.pop_back();
    out = Array(s);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < D; ++i) out.data[r] += x.data[r * D + i] * y.data[r * D + i];
    return true;
  }
  std::function<double(double, double)> f;
  if (fn == "add") f = [](double a, double b) { return a + b; };
  else if (fn == "sub") f = [](double a, double b) { return a - b; };
  else if (fn == "mul") f = [](double a, double b) { return a * b; };
  else if (fn == "div") f = [](double a, double b) { return a / b; };
  else if (fn == "max") f = [](double a, double b) { return std::max(a, b); };
  else if (fn == "min") f = [](double a, double b) { return std::min(a, b); };
  else if (fn == "pow") f = [](double a, double b) { return std::pow(a, b); };
  else return false;
  size_t rank = std::max(x.shape.size(), y.shape.size());
  std::vector<int64_t> s(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    int64_t a = i < x.shape.size() ? x.shape[i] : 1, b = i < y.shape.size() ? y.shape[i] : 1;
    s[i] = a == 1 ? b : a;
  }
  out = Array(s);
  int64_t e = 0;
  forEachIndex(s, [&](const std::vector<int64_t> &idx) { out.data[e++] = f(x.at(idx), y.at(idx)); });
  return true;
}

} // namespace mixc::ref
