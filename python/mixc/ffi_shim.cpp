// XLA FFI handlers around one spec's CPU kernels (mixc emit --target=cpu):
// every operand buffer becomes a mixc_tensor in call order; an operand with no
// elements is an optional input left out (NULL data: zeros). Integer operands
// (cu_seqlens) reach the kernel as int64; JAX without x64 has int32 arrays,
// which are widened here. Built by
// mixc/_build.py with -DMIXC_FORWARD=<symbol> -DMIXC_BACKWARD=<symbol>.
#include "mixc_tensor.h"
#include "xla/ffi/api/ffi.h"

#include <string>
#include <vector>

namespace ffi = xla::ffi;

extern "C" int MIXC_FORWARD(const mixc_tensor *, int, mixc_tensor *, int, int, char *, int);
extern "C" int MIXC_BACKWARD(const mixc_tensor *, int, mixc_tensor *, int, int, char *, int);

namespace {

bool describe(const ffi::AnyBuffer &b, mixc_tensor &t, std::string &error, std::vector<int64_t> &widened) {
  int32_t dtype;
  const void *data = b.untyped_data();
  switch (b.element_type()) {
  case ffi::DataType::F32: dtype = MIXC_F32; break;
  case ffi::DataType::BF16: dtype = MIXC_BF16; break;
  case ffi::DataType::F16: dtype = MIXC_F16; break;
  case ffi::DataType::S64: dtype = MIXC_I64; break;
  case ffi::DataType::S32: {
    const int32_t *x = (const int32_t *)data;
    widened.assign(x, x + b.element_count());
    data = widened.data(), dtype = MIXC_I64;
    break;
  }
  default: error = "mixc kernels take float32, bfloat16 or float16 arrays (and int32 or int64 cu_seqlens)"; return false;
  }
  auto dims = b.dimensions();
  if (dims.size() > MIXC_MAX_DIMS) {
    error = "an operand has more than 6 dimensions";
    return false;
  }
  std::vector<int64_t> shape(dims.begin(), dims.end());
  t = mixc_contiguous(b.element_count() ? const_cast<void *>(data) : nullptr, dtype, (int32_t)shape.size(),
                      shape.data());
  if (!b.element_count()) t.ndim = 0; // left out
  return true;
}

ffi::Error call(mixc_kernel_fn fn, ffi::RemainingArgs args, ffi::RemainingRets rets, int64_t threads) {
  std::vector<mixc_tensor> in(args.size()), out(rets.size());
  std::vector<std::vector<int64_t>> widened(args.size() + rets.size());
  std::string error;
  for (size_t i = 0; i < args.size(); ++i) {
    auto b = args.get<ffi::AnyBuffer>(i);
    if (b.has_error()) return b.error();
    if (!describe(*b, in[i], error, widened[i])) return ffi::Error::InvalidArgument(error);
  }
  for (size_t i = 0; i < rets.size(); ++i) {
    auto r = rets.get<ffi::AnyBuffer>(i);
    if (r.has_error()) return r.error();
    if (!describe(**r, out[i], error, widened[args.size() + i])) return ffi::Error::InvalidArgument(error);
  }
  char message[512] = "";
  if (fn(in.data(), (int)in.size(), out.data(), (int)out.size(), (int)threads, message, sizeof message) != 0)
    return ffi::Error::InvalidArgument(std::string("mixc kernel: ") + message);
  return ffi::Error::Success();
}

ffi::Error forward(ffi::RemainingArgs args, ffi::RemainingRets rets, int64_t threads) {
  return call(MIXC_FORWARD, args, rets, threads);
}
ffi::Error backward(ffi::RemainingArgs args, ffi::RemainingRets rets, int64_t threads) {
  return call(MIXC_BACKWARD, args, rets, threads);
}

} // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(MixcForward, forward,
                              ffi::Ffi::Bind().RemainingArgs().RemainingRets().Attr<int64_t>("threads"));
XLA_FFI_DEFINE_HANDLER_SYMBOL(MixcBackward, backward,
                              ffi::Ffi::Bind().RemainingArgs().RemainingRets().Attr<int64_t>("threads"));
