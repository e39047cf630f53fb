// The whole-tensor operations of the CPU tile library, declared in its
// headers: reading and writing the caller's tensors, the pre-processing on
// whole tensors, the backward's token, state and broadcast ops and the
// gradients of the maps, and the routing of mixtures. Compiled once per ISA
// and build flags and linked into every kernel (they do not depend on the
// spec or its sizes): in every kernel's own source they were most of what the
// host compiler optimized.
#include "mixc_cpu.h"

namespace mixc::cpu {

// ---- declared in mixc_cpu.h --------------------------------------------------

Buffer load(const mixc_tensor &t, std::vector<int64_t> shape) {
  Buffer buf(shape);
  if (!t.data) return buf;
  const int64_t inner = t.ndim ? t.shape[t.ndim - 1] : 1, is = t.ndim ? t.strides[t.ndim - 1] : 1;
  forEachRow(t, [&](int64_t r, int64_t off) {
    float *dst = &buf.data[r * inner];
    if (t.dtype == MIXC_F32) {
      const float *src = (const float *)t.data + off;
      if (is == 1) std::memcpy(dst, src, inner * sizeof(float));
      else for (int64_t i = 0; i < inner; ++i) dst[i] = src[i * is];
    } else {
      const uint16_t *src = (const uint16_t *)t.data + off;
      for (int64_t i = 0; i < inner; ++i) dst[i] = bf16ToFloat(src[i * is]);
    }
  });
  return buf;
}

bool isDirectF32(const mixc_tensor &t, const std::vector<int64_t> &shape) {
  bool direct = t.data && t.dtype == MIXC_F32 && t.ndim == (int)shape.size();
  int64_t stride = 1;
  for (int d = (int)shape.size() - 1; direct && d >= 0; --d) {
    direct = t.shape[d] == shape[d] && (shape[d] == 1 || t.strides[d] == stride);
    stride *= shape[d];
  }
  return direct;
}

Buffer external(const mixc_tensor &t, std::vector<int64_t> shape) {
  Buffer b;
  b.shape = std::move(shape);
  b.ext = (float *)t.data;
  return b;
}

Buffer view(const mixc_tensor &t, std::vector<int64_t> shape) {
  return isDirectF32(t, shape) ? external(t, std::move(shape)) : load(t, std::move(shape));
}

Buffer outputBuffer(const mixc_tensor &t, std::vector<int64_t> shape) {
  return isDirectF32(t, shape) ? external(t, std::move(shape)) : Buffer(std::move(shape), Uninit{});
}

void store(const Buffer &buf, mixc_tensor &t) {
  if (buf.ext && buf.ext == t.data) return; // written in place
  const int64_t inner = t.ndim ? t.shape[t.ndim - 1] : 1, is = t.ndim ? t.strides[t.ndim - 1] : 1;
  forEachRow(t, [&](int64_t r, int64_t off) {
    const float *src = buf.ptr() + r * inner;
    if (t.dtype == MIXC_F32) {
      float *dst = (float *)t.data + off;
      if (is == 1) std::memcpy(dst, src, inner * sizeof(float));
      else for (int64_t i = 0; i < inner; ++i) dst[i * is] = src[i];
    } else {
      uint16_t *dst = (uint16_t *)t.data + off;
      for (int64_t i = 0; i < inner; ++i) dst[i * is] = floatToBf16(src[i]);
    }
  });
}

Buffer softmax(const Buffer &in) { return rows(in, in.shape.back(), softmaxRow); }

Buffer l2norm(const Buffer &in) { return rows(in, in.shape.back(), l2normRow); }

Buffer taylor2(const Buffer &in) {
  const int64_t D = in.shape.back();
  return rows(in, 1 + D + D * D, taylor2Row);
}

Buffer ones(const Buffer &in) {
  return rows(in, 1, [](const float *, int64_t, float *o) { o[0] = 1; });
}

Buffer appendOne(const Buffer &in) {
  return rows(in, in.shape.back() + 1, [](const float *x, int64_t D, float *o) {
    std::copy_n(x, D, o);
    o[D] = 1;
  });
}

Buffer dot(const Buffer &a, const Buffer &b) {
  const float *x = a.ptr(), *y = b.ptr();
  return reduceLast(a.shape, [x, y](int64_t e) { return x[e] * y[e]; });
}

Buffer sumLast(const Buffer &in) {
  const float *x = in.ptr();
  return reduceLast(in.shape, [x](int64_t e) { return x[e]; });
}

Buffer vecmat(const Buffer &x, const Buffer &w) {
  const int64_t D = x.shape.back(), F = w.shape.back(), Hw = w.shape[w.shape.size() - 3];
  const int64_t Hx = x.shape.size() >= 2 ? x.shape[x.shape.size() - 2] : 1, rows = x.size() / std::max<int64_t>(D, 1);
  std::vector<int64_t> s = x.shape;
  s.back() = F;
  Buffer out(s, Uninit{});
  const float *xp = x.ptr(), *wp = w.ptr();
  float *op = out.ptr();
  parallelRange(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(D * F, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      vecmatRow(xp + r * D, D, F, wp + (Hw == 1 ? 0 : r % Hx) * D * F, op + r * F);
  });
  return out;
}

Buffer headIndex(int64_t H) {
  Buffer b({1, 1, H});
  for (int64_t h = 0; h < H; ++h) b.data[h] = (float)h;
  return b;
}

Buffer broadcastTo(const Buffer &in, std::vector<int64_t> shape) {
  return binary(Buffer(shape), in, [](float, float x) { return x; });
}

Buffer concat(const Buffer &a, const Buffer &b) {
  std::vector<int64_t> lead(std::max(a.shape.size(), b.shape.size()) - 1, 1);
  for (size_t i = 0; i < lead.size(); ++i)
    lead[i] = std::max(i + 1 < a.shape.size() ? a.shape[i] : 1, i + 1 < b.shape.size() ? b.shape[i] : 1);
  auto full = [&](const Buffer &x) {
    std::vector<int64_t> s = lead;
    s.push_back(x.shape.back());
    return x.shape == s ? x : broadcastTo(x, s);
  };
  const Buffer fa = full(a), fb = full(b);
  const int64_t A = a.shape.back(), C = b.shape.back(), rows = fa.size() / std::max<int64_t>(A, 1);
  std::vector<int64_t> s = lead;
  s.push_back(A + C);
  Buffer out(s, Uninit{});
  for (int64_t r = 0; r < rows; ++r) {
    std::copy_n(fa.ptr() + r * A, A, out.ptr() + r * (A + C));
    std::copy_n(fb.ptr() + r * C, C, out.ptr() + r * (A + C) + A);
  }
  return out;
}

// ---- declared in mixc_cpu_backward.h -----------------------------------------

Buffer shiftTokens(const Buffer &x, const std::vector<int64_t> &shape, int by, int64_t NS,
                   const int64_t *seqStart) {
  Buffer tmp;
  const Buffer *in = &x;
  if (x.shape != shape) tmp = broadcastTo(x, shape), in = &tmp;
  Buffer out(shape);
  const int64_t T = shape[1], row = out.size() / std::max<int64_t>(shape[0] * T, 1);
  parallelRange(NS, 1, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      auto [first, end] = sequenceSpan(n, T, seqStart);
      for (int64_t t = first; t < end; ++t)
        if (t + by >= first && t + by < end)
          std::memcpy(out.ptr() + t * row, in->ptr() + (t + by) * row, row * sizeof(float));
    }
  });
  return out;
}

Buffer tokenCumsum(const Buffer &x, const float *init, bool reverse, int64_t NS, const int64_t *seqStart) {
  Buffer out(x.shape, Uninit{});
  const int64_t T = x.shape[1], row = x.size() / std::max<int64_t>(x.shape[0] * T, 1);
  parallelRange(NS, 1, [&](int64_t n0, int64_t n1) {
    std::vector<float> acc(row);
    for (int64_t n = n0; n < n1; ++n) {
      auto [first, end] = sequenceSpan(n, T, seqStart);
      for (int64_t j = 0; j < row; ++j) acc[j] = init ? init[n * row + j] : 0.f;
      for (int64_t step = 0; step < end - first; ++step) {
        const int64_t t = reverse ? end - 1 - step : first + step;
        const float *xs = x.ptr() + t * row;
        float *ys = out.ptr() + t * row;
        for (int64_t j = 0; j < row; ++j) ys[j] = acc[j] += xs[j];
      }
    }
  });
  return out;
}

Buffer edgeToken(const Buffer &x, const std::vector<int64_t> &shape, bool last, int64_t B, int64_t T,
                 const int64_t *seqStart) {
  std::vector<int64_t> tokens = shape;
  tokens[0] = B;
  tokens.insert(tokens.begin() + 1, T);
  Buffer tmp;
  const Buffer *in = &x;
  if (x.shape != tokens) tmp = broadcastTo(x, tokens), in = &tmp;
  Buffer out(shape);
  const int64_t row = out.size() / std::max<int64_t>(shape[0], 1);
  for (int64_t n = 0; n < shape[0]; ++n) {
    auto [first, end] = sequenceSpan(n, T, seqStart);
    if (end > first) std::memcpy(out.ptr() + n * row, in->ptr() + (last ? end - 1 : first) * row, row * sizeof(float));
  }
  return out;
}

Buffer transposeState(const Buffer &x) {
  const int64_t N = x.shape[0], H = x.shape[1], K = x.shape[2], V = x.shape[3];
  Buffer out({N, H, V, K}, Uninit{});
  parallelRange(N * H, 1, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m)
      for (int64_t i = 0; i < K; ++i)
        for (int64_t j = 0; j < V; ++j) out.ptr()[(m * V + j) * K + i] = x.ptr()[(m * K + i) * V + j];
  });
  return out;
}

Buffer repeatHeads(const Buffer &x, int64_t G) {
  std::vector<int64_t> shape = x.shape;
  shape[2] *= G;
  Buffer out(shape, Uninit{});
  int64_t w = 1;
  for (size_t d = 3; d < shape.size(); ++d) w *= shape[d];
  const int64_t H = shape[2];
  parallelRange(shape[0] * shape[1], 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t h = 0; h < H; ++h)
        std::memcpy(out.ptr() + (r * H + h) * w, x.ptr() + (r * (H / G) + h / G) * w, w * sizeof(float));
  });
  return out;
}

Buffer sumHeads(const Buffer &x, int64_t G) {
  std::vector<int64_t> shape = x.shape;
  shape[2] /= G;
  Buffer out(shape);
  int64_t w = 1;
  for (size_t d = 3; d < shape.size(); ++d) w *= shape[d];
  const int64_t H = x.shape[2];
  parallelRange(shape[0] * shape[1], 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t h = 0; h < H; ++h) // in head order: the same sum on any thread count
        for (int64_t j = 0; j < w; ++j) out.ptr()[(r * (H / G) + h / G) * w + j] += x.ptr()[(r * H + h) * w + j];
  });
  return out;
}

Buffer reduceTo(Buffer full, const std::vector<int64_t> &shape) {
  if (full.shape == shape) return full;
  // Trailing dimensions summed ([B, T, H, K] -> [B, T, H]): contiguous runs,
  // each summed in order by one task.
  bool trailing = shape.size() <= full.shape.size();
  for (size_t i = 0; trailing && i < shape.size(); ++i) trailing = shape[i] == full.shape[i];
  if (trailing) {
    Buffer out(shape, Uninit{});
    const int64_t n = out.size(), run = full.size() / std::max<int64_t>(n, 1);
    const float *x = full.ptr();
    parallelRange(n, std::max<int64_t>(1, 16384 / std::max<int64_t>(run, 1)), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        float acc = 0.f;
        for (int64_t j = 0; j < run; ++j) acc += x[i * run + j];
        out.ptr()[i] = acc;
      }
    });
    return out;
  }
  // Leading dimensions summed ([B, T, H, V] -> [1, 1, H, V], a per-head
  // parameter): each column summed over the rows in order.
  bool leading = shape.size() == full.shape.size();
  size_t ones = 0;
  while (leading && ones < shape.size() && shape[ones] == 1) ++ones;
  for (size_t i = ones; leading && i < shape.size(); ++i) leading = shape[i] == full.shape[i];
  if (leading) {
    Buffer out(shape);
    const int64_t inner = out.size(), rows = full.size() / std::max<int64_t>(inner, 1);
    const float *x = full.ptr();
    parallelRange(inner, 256, [&](int64_t j0, int64_t j1) {
      float *o = out.ptr();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = j0; j < j1; ++j) o[j] += x[r * inner + j];
    });
    return out;
  }
  Buffer out(shape);
  const size_t rank = full.shape.size();
  std::vector<int64_t> st(rank, 0);
  int64_t m = 1;
  for (int64_t i = (int64_t)rank - 1; i >= 0; --i)
    if (i < (int64_t)shape.size()) {
      st[i] = shape[i] == 1 ? 0 : m;
      m *= shape[i];
    }
  std::vector<int64_t> idx(rank, 0);
  const float *x = full.ptr();
  for (int64_t e = 0; e < full.size(); ++e) {
    int64_t off = 0;
    for (size_t i = 0; i < rank; ++i) off += idx[i] * st[i];
    out.data[off] += x[e];
    for (int64_t i = (int64_t)rank - 1; i >= 0; --i) {
      if (++idx[i] < full.shape[i]) break;
      idx[i] = 0;
    }
  }
  return out;
}

Buffer mapFn(const Buffer &in, MapBlock f) {
  Buffer out(in.shape, Uninit{});
  const float *x = in.ptr();
  float *o = out.ptr();
  parallelRange(in.size(), 16384, [&](int64_t i0, int64_t i1) { f(x + i0, o + i0, i1 - i0); });
  return out;
}

Buffer binaryFn(const Buffer &a, const Buffer &b, BinaryBlock f) {
  if (a.shape == b.shape || b.size() == 1 || a.size() == 1) { // a flat run (as binary)
    Buffer out(a.size() >= b.size() ? a.shape : b.shape, Uninit{});
    const float *x = a.ptr(), *y = b.ptr();
    float *o = out.ptr();
    const bool sa = a.size() == 1 && out.size() > 1, sb = b.size() == 1 && out.size() > 1;
    parallelRange(out.size(), 16384, [&](int64_t i0, int64_t i1) {
      f(x + (sa ? 0 : i0), sa ? 0 : 1, y + (sb ? 0 : i0), sb ? 0 : 1, o + i0, i1 - i0);
    });
    return out;
  }
  const Broadcast2 bc(a.shape, b.shape);
  Buffer out(bc.s, Uninit{});
  parallelRange(bc.rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(bc.inner, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t oa, ob;
      bc.offsets(r, oa, ob);
      f(a.ptr() + oa, bc.ia, b.ptr() + ob, bc.ib, out.ptr() + r * bc.inner, bc.inner);
    }
  });
  return out;
}

Buffer mapVjp(const Buffer &x, const Buffer &y, const Buffer &g, MapVjpBlock d) {
  Buffer out(x.shape, Uninit{});
  const float *xs = x.ptr(), *ys = y.ptr(), *gs = g.ptr();
  float *o = out.ptr();
  parallelRange(out.size(), 16384, [&](int64_t i0, int64_t i1) { d(xs + i0, ys + i0, gs + i0, o + i0, i1 - i0); });
  return out;
}

Buffer l2normVjp(const Buffer &x, const Buffer &g) {
  return rowsVjp(x, g, [](const float *in, const float *gr, int64_t D, float *o) {
    const float n = rowDot(in, in, D), xg = rowDot(in, gr, D);
    const float inv = 1.f / std::sqrt(n + 1e-12f), inv3 = inv * inv * inv;
    for (int64_t i = 0; i < D; ++i) o[i] = gr[i] * inv - in[i] * xg * inv3;
  });
}

Buffer softmaxVjp(const Buffer &y, const Buffer &g) {
  return rowsVjp(y, g, [](const float *yr, const float *gr, int64_t D, float *o) {
    const float gy = rowDot(gr, yr, D);
    for (int64_t i = 0; i < D; ++i) o[i] = yr[i] * (gr[i] - gy);
  });
}

Buffer taylor2Vjp(const Buffer &x, const Buffer &g) {
  return rowsVjp(x, g, [](const float *in, const float *gr, int64_t D, float *o) {
    for (int64_t i = 0; i < D; ++i) {
      float s = gr[1 + i];
      for (int64_t j = 0; j < D; ++j) s += (gr[1 + D + i * D + j] + gr[1 + D + j * D + i]) * in[j] * 0.70710678118654752f;
      o[i] = s;
    }
  });
}

Buffer appendOneVjp(const Buffer &x, const Buffer &g) {
  return rowsVjp(x, g, [](const float *, const float *gr, int64_t D, float *o) { std::copy_n(gr, D, o); });
}

Buffer sumVjp(const Buffer &x, const Buffer &g) {
  Buffer out(x.shape);
  const int64_t D = x.shape.back();
  for (int64_t e = 0; e < out.size(); ++e) out.data[e] = g.ptr()[e / D];
  return out;
}

Buffer binaryVjp(const Buffer &a, const Buffer &b, const Buffer &g, const std::vector<int64_t> &shape,
                 BinaryVjpBlock d) {
  const size_t rank = std::max({a.shape.size(), b.shape.size(), g.shape.size()});
  auto dim = [&](const Buffer &x, size_t i) { return i < x.shape.size() ? x.shape[i] : 1; };
  std::vector<int64_t> s(rank);
  for (size_t i = 0; i < rank; ++i) s[i] = std::max({dim(a, i), dim(b, i), dim(g, i)});
  auto strides = [&](const Buffer &x) {
    std::vector<int64_t> st(rank, 0);
    int64_t m = 1;
    for (int64_t i = (int64_t)x.shape.size() - 1; i >= 0; --i) {
      st[i] = x.shape[i] == 1 ? 0 : m;
      m *= x.shape[i];
    }
    return st;
  };
  const std::vector<int64_t> sa = strides(a), sb = strides(b), sg = strides(g);
  Buffer full(s);
  const int64_t inner = s.back(), rows = full.size() / std::max<int64_t>(inner, 1);
  parallelRange(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t oa = 0, ob = 0, og = 0, rest = r;
      for (int64_t i = (int64_t)rank - 2; i >= 0; --i) {
        const int64_t k = rest % s[i];
        rest /= s[i];
        oa += k * sa[i], ob += k * sb[i], og += k * sg[i];
      }
      const float *x = a.ptr() + oa, *y = b.ptr() + ob, *gr = g.ptr() + og;
      float *o = full.ptr() + r * inner;
      d(x, sa.back(), y, sb.back(), gr, sg.back(), o, inner);
    }
  });
  return reduceTo(std::move(full), shape);
}

Buffer dotVjp(const Buffer &other, const Buffer &g, const std::vector<int64_t> &shape) {
  Buffer gc = g;
  gc.shape.push_back(1);
  return binaryVjp(gc, other, gc, shape, MIXC_BINARY_VJP_BLOCK(b));
}

Buffer vecmatVjpRow(const Buffer &w, const Buffer &g, const std::vector<int64_t> &shape) {
  const int64_t D = shape.back(), F = g.shape.back(), Hw = w.shape[w.shape.size() - 3];
  const int64_t Hg = g.shape.size() >= 2 ? g.shape[g.shape.size() - 2] : 1, rows = g.size() / std::max<int64_t>(F, 1);
  std::vector<int64_t> s = g.shape;
  s.back() = D;
  Buffer dx(s, Uninit{});
  parallelRange(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(D * F, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float *W = w.ptr() + (Hw == 1 ? 0 : r % Hg) * D * F, *gr = g.ptr() + r * F;
      for (int64_t d = 0; d < D; ++d) {
        float acc = 0.f;
        for (int64_t f = 0; f < F; ++f) acc += W[d * F + f] * gr[f];
        dx.ptr()[r * D + d] = acc;
      }
    }
  });
  return reduceTo(std::move(dx), shape);
}

Buffer vecmatVjpMatrix(const Buffer &x, const Buffer &g, const std::vector<int64_t> &shape) {
  const int64_t D = x.shape.back(), F = g.shape.back(), H = shape[shape.size() - 3];
  const int64_t Hg = g.shape.size() >= 2 ? g.shape[g.shape.size() - 2] : 1, rows = g.size() / std::max<int64_t>(F, 1);
  const int64_t Hx = x.shape.size() >= 2 ? x.shape[x.shape.size() - 2] : 1, xRows = x.size() / std::max<int64_t>(D, 1);
  Buffer dw(shape);
  parallelRange(H * D, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t h = i / D, d = i % D;
      float *o = dw.ptr() + i * F;
      for (int64_t r = H == 1 ? 0 : h; r < rows; r += H == 1 ? 1 : Hg) {
        // x's row for g's row r (x may be per head: the same row every token)
        const int64_t xr = xRows == rows ? r : (Hx == 1 ? 0 : r % Hg);
        const float xd = x.ptr()[xr * D + d], *gr = g.ptr() + r * F;
        for (int64_t f = 0; f < F; ++f) o[f] += xd * gr[f];
      }
    }
  });
  return dw;
}

Buffer concatVjp(const Buffer &g, int operand, int64_t widthA, const std::vector<int64_t> &shape) {
  const int64_t W = g.shape.back(), n = shape.back(), off = operand == 0 ? 0 : widthA, rows = g.size() / W;
  std::vector<int64_t> s = g.shape;
  s.back() = n;
  Buffer part(s, Uninit{});
  for (int64_t r = 0; r < rows; ++r) std::copy_n(g.ptr() + r * W + off, n, part.ptr() + r * n);
  return reduceTo(std::move(part), shape);
}

Buffer normalizeVjp(const Buffer &x, const Buffer &g, bool maxAbs, float eps, float scale) {
  return rowsVjp(x, g, [&](const float *in, const float *gr, int64_t Vs, float *o) {
    const int64_t V = Vs - 1;
    const float den = in[V], n = maxAbs ? std::max(std::fabs(den), eps) : den + eps;
    const float dn = maxAbs ? (std::fabs(den) > eps ? (den > 0 ? 1.f : -1.f) : 0.f) : 1.f;
    float acc = 0;
    for (int64_t j = 0; j < V; ++j) {
      o[j] = scale * gr[j] / n;
      acc += gr[j] * scale * in[j];
    }
    o[V] = -acc / (n * n) * dn;
  });
}

void sumOverBatch(const float *parts, int64_t B, int64_t H, int64_t n, float *out) {
  for (int64_t h = 0; h < H; ++h)
    for (int64_t e = 0; e < n; ++e) {
      float s = 0.f;
      for (int64_t b = 0; b < B; ++b) s += parts[(b * H + h) * n + e];
      out[h * n + e] = s;
    }
}

// ---- declared in mixc_cpu_route.h --------------------------------------------

bool routePlan(const mixc_tensor &route, int64_t B, int64_t T, int64_t M, RoutePlan &p, Checker &chk) {
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

Buffer routeGather(const Buffer &x, const RoutePlan &p, bool slots, const Buffer *weight) {
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

Buffer routeScatter(const Buffer &y, const RoutePlan &p, const Buffer *weight, bool slots) {
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

Buffer routeWeightGrad(const Buffer &y, const Buffer &g, const RoutePlan &p) {
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

Buffer reshaped(Buffer x, int dim, int64_t by) {
  if (by == 0) {
    x.shape[dim] *= x.shape[dim + 1];
    x.shape.erase(x.shape.begin() + dim + 1);
  } else {
    x.shape[dim] /= by;
    x.shape.insert(x.shape.begin() + dim + 1, by);
  }
  return x;
}

} // namespace mixc::cpu
