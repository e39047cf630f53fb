#include "runtime/reference/ArrayGrad.h"

#include <cmath>
#include <functional>

namespace mixc::ref {

namespace {
double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

void zeroLike(Array &g, const Array &x) {
  if (g.data.empty()) g = Array(x.shape);
}

// Flat offset of the element that index `idx` of a broadcast result reads
// from an operand of shape `s` (left-aligned, as Array::at).
int64_t broadcastOffset(const std::vector<int64_t> &s, const std::vector<int64_t> &idx) {
  int64_t off = 0;
  for (size_t i = 0; i < s.size(); ++i) off = off * s[i] + ((i < idx.size() && s[i] != 1) ? idx[i] : 0);
  return off;
}
} // namespace

Array sumTo(const Array &x, const std::vector<int64_t> &shape) {
  Array out(shape);
  std::vector<int64_t> idx(x.shape.size(), 0);
  for (int64_t e = 0; e < x.size(); ++e) {
    out.data[broadcastOffset(shape, idx)] += x.data[e];
    for (int64_t i = (int64_t)x.shape.size() - 1; i >= 0; --i) {
      if (++idx[i] < x.shape[i]) break;
      idx[i] = 0;
    }
  }
  return out;
}

void accumulate(Array &acc, const Array &g) {
  zeroLike(acc, g);
  for (int64_t i = 0; i < g.size(); ++i) acc.data[i] += g.data[i];
}

bool addUnaryGrad(const std::string &fn, const Array &x, const Array &y, const Array &gy, Array &gx) {
  zeroLike(gx, x);
  const int64_t D = x.shape.empty() ? 1 : x.shape.back(), rows = x.size() / std::max<int64_t>(D, 1);
  if (fn == "append_one") { // y = [x, 1]
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < D; ++i) gx.data[r * D + i] += gy.data[r * (D + 1) + i];
    return true;
  }
  if (fn == "sum") { // y = sum over the last dimension
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < D; ++i) gx.data[r * D + i] += gy.data[r];
    return true;
  }
  if (fn == "ones") return true; // y does not depend on x
  if (fn == "softmax") {          // dx = y . (g - g . y)
    for (int64_t r = 0; r < rows; ++r) {
      const double *yr = &y.data[r * D], *g = &gy.data[r * D];
      double gy_ = 0;
      for (int64_t i = 0; i < D; ++i) gy_ += g[i] * yr[i];
      for (int64_t i = 0; i < D; ++i) gx.data[r * D + i] += yr[i] * (g[i] - gy_);
    }
    return true;
  }
  if (fn == "l2norm") {          // y = x / sqrt(|x|^2 + 1e-12)
    for (int64_t r = 0; r < rows; ++r) {
      const double *in = &x.data[r * D], *g = &gy.data[r * D];
      double n = 0, xg = 0;
      for (int64_t i = 0; i < D; ++i) n += in[i] * in[i], xg += in[i] * g[i];
      const double inv = 1.0 / std::sqrt(n + 1e-12), inv3 = inv * inv * inv;
      for (int64_t i = 0; i < D; ++i) gx.data[r * D + i] += g[i] * inv - in[i] * xg * inv3;
    }
    return true;
  }
  if (fn == "taylor2") { // y = [1, x, vec(x x^T) / sqrt 2]
    const int64_t Do = 1 + D + D * D;
    const double c = 1.0 / std::sqrt(2.0);
    for (int64_t r = 0; r < rows; ++r) {
      const double *in = &x.data[r * D], *g = &gy.data[r * Do];
      for (int64_t i = 0; i < D; ++i) {
        double s = g[1 + i];
        for (int64_t j = 0; j < D; ++j) s += (g[1 + D + i * D + j] + g[1 + D + j * D + i]) * in[j] * c;
        gx.data[r * D + i] += s;
      }
    }
    return true;
  }
  // Pointwise: dy/dx from x and y.
  std::function<double(double, double)> d;
  if (fn == "neg") d = [](double, double) { return -1.0; };
  else if (fn == "exp") d = [](double, double v) { return v; };
  else if (fn == "log") d = [](double u, double) { return 1 / u; };
  else if (fn == "sigmoid") d = [](double, double v) { return v * (1 - v); };
  else if (fn == "logsigmoid") d = [](double u, double) { return sigmoid(-u); };
  else if (fn == "softplus") d = [](double u, double) { return sigmoid(u); };
  else if (fn == "silu") d = [](double u, double) { double s = sigmoid(u); return s + u * s * (1 - s); };
  else if (fn == "elu") d = [](double u, double) { return u > 0 ? 1.0 : std::exp(u); };
  else if (fn == "relu") d = [](double u, double) { return u > 0 ? 1.0 : 0.0; };
  else if (fn == "abs") d = [](double u, double) { return u > 0 ? 1.0 : u < 0 ? -1.0 : 0.0; };
  else if (fn == "sqrt") d = [](double, double v) { return 0.5 / v; };
  else if (fn == "tanh") d = [](double, double v) { return 1 - v * v; };
  else return false;
  for (int64_t i = 0; i < x.size(); ++i) gx.data[i] += gy.data[i] * d(x.data[i], y.data[i]);
  return true;
}

bool addBinaryGrad(const std::string &fn, const Array &x, const Array &y, const Array &g, Array &gx, Array &gy) {
  zeroLike(gx, x);
  zeroLike(gy, y);
  if (fn == "dot") { // out = sum_i x_i y_i over the last dimension
    const int64_t D = x.shape.back(), rows = x.size() / std::max<int64_t>(D, 1);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < D; ++i) {
        gx.data[r * D + i] += g.data[r] * y.data[r * D + i];
        gy.data[r * D + i] += g.data[r] * x.data[r * D + i];
      }
    return true;
  }
  if (fn == "vecmat") { // out[f] = sum_d x[d] W[d, f]: dx = W g, dW = x g^T (summed over broadcast rows)
    const int64_t D = x.shape.back(), F = y.shape.back();
    RowPairs rp = broadcastRows({x.shape.begin(), x.shape.end() - 1}, {y.shape.begin(), y.shape.end() - 2});
    for (size_t r = 0; r < rp.rows.size(); ++r) {
      const int64_t xr = rp.rows[r].first * D, wr = rp.rows[r].second * D * F;
      for (int64_t d = 0; d < D; ++d)
        for (int64_t f = 0; f < F; ++f) {
          gx.data[xr + d] += y.data[wr + d * F + f] * g.data[r * F + f];
          gy.data[wr + d * F + f] += x.data[xr + d] * g.data[r * F + f];
        }
    }
    return true;
  }
  if (fn == "concat") { // each operand's part of g
    const int64_t D = x.shape.back(), E = y.shape.back();
    RowPairs rp = broadcastRows({x.shape.begin(), x.shape.end() - 1}, {y.shape.begin(), y.shape.end() - 1});
    for (size_t r = 0; r < rp.rows.size(); ++r) {
      for (int64_t d = 0; d < D; ++d) gx.data[rp.rows[r].first * D + d] += g.data[r * (D + E) + d];
      for (int64_t e = 0; e < E; ++e) gy.data[rp.rows[r].second * E + e] += g.data[r * (D + E) + D + e];
    }
    return true;
  }
  // d out / d x and d out / d y from the operands.
  std::function<void(double, double, double &, double &)> d;
  if (fn == "add") d = [](double, double, double &da, double &db) { da = 1, db = 1; };
  else if (fn == "sub") d = [](double, double, double &da, double &db) { da = 1, db = -1; };
  else if (fn == "mul") d = [](double a, double b, double &da, double &db) { da = b, db = a; };
  else if (fn == "div") d = [](double a, double b, double &da, double &db) { da = 1 / b, db = -a / (b * b); };
  // As std::max / std::min choose: the first operand on a tie.
  else if (fn == "max") d = [](double a, double b, double &da, double &db) { da = !(a < b), db = a < b; };
  else if (fn == "min") d = [](double a, double b, double &da, double &db) { da = !(b < a), db = b < a; };
  else if (fn == "pow")
    d = [](double a, double b, double &da, double &db) {
      da = b * std::pow(a, b - 1);
      db = a > 0 ? std::pow(a, b) * std::log(a) : 0.0;
    };
  else return false;
  const std::vector<int64_t> &s = g.shape;
  std::vector<int64_t> idx(s.size(), 0);
  for (int64_t e = 0; e < g.size(); ++e) {
    const int64_t ox = broadcastOffset(x.shape, idx), oy = broadcastOffset(y.shape, idx);
    double da, db;
    d(x.data[ox], y.data[oy], da, db);
    gx.data[ox] += g.data[e] * da;
    gy.data[oy] += g.data[e] * db;
    for (int64_t i = (int64_t)s.size() - 1; i >= 0; --i) {
      if (++idx[i] < s[i]) break;
      idx[i] = 0;
    }
  }
  return true;
}

} // namespace mixc::ref
