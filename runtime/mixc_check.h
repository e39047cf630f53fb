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

private:
  char *err_;
  int len_;
  unsigned dtypes_;
  std::string expected() const {
    std::string s;
    const char *names[] = {"f32", "bf16", "f16"};
    for (int d = 0; d < 3; ++d)
      if (dtypes_ & (1u << d)) s += (s.empty() ? "" : " or ") + std::string(names[d]);
    return s;
  }
};

} // namespace mixc

#endif
