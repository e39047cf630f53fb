// Argument checks shared by the generated CPU and CUDA kernels: every bad
// descriptor is refused with a message that names the argument. Host code only.
#ifndef MIXC_CHECK_H
#define MIXC_CHECK_H

#include "mixc_tensor.h"

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace mixc {

// The longest of n packed sequences starting at start[0..n] (cu_seqlens, checked).
inline int64_t longestSequence(const int64_t *start, int64_t n) {
  int64_t m = 0;
  for (int64_t i = 0; i < n; ++i) m = start[i + 1] - start[i] > m ? start[i + 1] - start[i] : m;
  return m;
}

class Checker {
public:
  // `dtypes`: a bit per accepted mixc_dtype.
  Checker(char *err, int len, unsigned dtypes = (1u << MIXC_F32) | (1u << MIXC_BF16))
      : err_(err), len_(len), dtypes_(dtypes) {}
  int fail(const char *fmt, ...) {
    if (err_ && len_ > 0) {
      va_list ap;
      va_start(ap, fmt);
      std::vsnprintf(err_, len_, fmt, ap);
      va_end(ap);
    }
    return 1;
  }
  static std::string shapeText(const int64_t *s, int n) {
    std::string t = "[";
    for (int i = 0; i < n; ++i) t += (i ? ", " : "") + (s[i] < 0 ? std::string(i == 0 ? "B" : "T") : std::to_string(s[i]));
    return t + "]";
  }
  // Checks one tensor against `want` (-1: batch or time, fixed by the first
  // tensor that has them). Per-head tensors may omit the leading [1, 1].
  bool tensor(const mixc_tensor *t, const char *role, const char *name, std::vector<int64_t> want, bool perHead,
              bool optional, int64_t &B, int64_t &T) {
    if (!t) return !fail("%s '%s': null tensor descriptor", role, name);
    if (!t->data) {
      if (optional) return true;
      return !fail("%s '%s': null data pointer", role, name);
    }
    if (t->dtype < 0 || t->dtype > 30 || !(dtypes_ & (1u << t->dtype)))
      return !fail("%s '%s': unsupported element type %d (expected %s)", role, name, (int)t->dtype, expected().c_str());
    if (perHead && t->ndim + 2 == (int)want.size()) want.erase(want.begin(), want.begin() + 2);
    std::vector<int64_t> resolved = want;
    for (size_t d = 0; d < resolved.size() && d < 2; ++d)
      if (resolved[d] < 0) resolved[d] = d == 0 ? B : T;
    bool ok = t->ndim == (int)want.size() && t->ndim <= MIXC_MAX_DIMS;
    for (int d = 0; ok && d < t->ndim; ++d) ok = resolved[d] < 0 ? t->shape[d] > 0 : t->shape[d] == resolved[d];
    if (!ok)
      return !fail("%s '%s': shape %s, expected %s", role, name, shapeText(t->shape, t->ndim).c_str(),
                   shapeText(resolved.data(), (int)resolved.size()).c_str());
    for (int d = 0; d < t->ndim; ++d)
      if (t->strides[d] < 0 || (t->strides[d] == 0 && t->shape[d] > 1))
        return !fail("%s '%s': unsupported stride %lld in dimension %d (strides must be positive)", role, name,
                     (long long)t->strides[d], d);
    if (!perHead && want.size() >= 2 && want[0] < 0 && B < 0) B = t->shape[0];
    if (!perHead && want.size() >= 2 && want[1] < 0 && T < 0) T = t->shape[1];
    return true;
  }

  // An int64 index tensor (a mixture of memories' route) of `want`, checked
  // like tensor() otherwise.
  bool indices(const mixc_tensor *t, const char *name, std::vector<int64_t> want, int64_t &B, int64_t &T) {
    const unsigned saved = dtypes_;
    dtypes_ = 1u << MIXC_I64;
    const bool ok = tensor(t, "input", name, std::move(want), false, false, B, T);
    dtypes_ = saved;
    return ok;
  }

  // cu_seqlens' descriptor, nothing read: int64 [N + 1], N >= 1, stride 1.
  bool seqlensLayout(const mixc_tensor *t) {
    if (t->dtype != MIXC_I64 || t->ndim != 1)
      return !fail("input 'cu_seqlens': expected a 1-D int64 tensor of sequence starts, got dtype %d with %d dimensions",
                   (int)t->dtype, (int)t->ndim);
    if (t->shape[0] < 2) return !fail("input 'cu_seqlens': %lld entries, expected at least 2", (long long)t->shape[0]);
    if (t->strides[0] != 1) return !fail("input 'cu_seqlens': stride %lld, expected 1", (long long)t->strides[0]);
    return true;
  }
  // cu_seqlens: int64 [N + 1] starts of N >= 1 sequences, from 0, non-decreasing.
  bool seqlens(const mixc_tensor *t, int64_t &N) {
    if (!seqlensLayout(t)) return false;
    const int64_t *c = static_cast<const int64_t *>(t->data);
    if (c[0] != 0) return !fail("input 'cu_seqlens': starts at %lld, expected 0", (long long)c[0]);
    for (int64_t n = 1; n < t->shape[0]; ++n)
      if (c[n] < c[n - 1])
        return !fail("input 'cu_seqlens': entry %lld (%lld) is below the one before (%lld)", (long long)n,
                     (long long)c[n], (long long)c[n - 1]);
    N = t->shape[0] - 1;
    return true;
  }
  // With cu_seqlens the per-token inputs hold the packed sequences: batch 1,
  // time the last offset.
  bool packed(const mixc_tensor *t, int64_t N, int64_t B, int64_t T) {
    const int64_t last = static_cast<const int64_t *>(t->data)[N];
    if (B != 1) return !fail("input 'cu_seqlens': the per-token inputs have batch %lld, expected 1 (packed)", (long long)B);
    if (last != T)
      return !fail("input 'cu_seqlens': ends at %lld, the packed inputs have %lld tokens", (long long)last, (long long)T);
    return true;
  }

private:
  char *err_;
  int len_;
  unsigned dtypes_;
  std::string expected() const {
    std::string s;
    const char *names[] = {"f32", "bf16", "f16", "int64"};
    for (int d = 0; d < 4; ++d)
      if (dtypes_ & (1u << d)) s += (s.empty() ? "" : " or ") + std::string(names[d]);
    return s;
  }
};

} // namespace mixc

#endif
