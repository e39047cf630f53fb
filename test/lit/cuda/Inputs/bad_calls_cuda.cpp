// Calls a generated CUDA kernel with bad arguments: each is refused with a
// message naming the argument, before any device work, so this runs on a
// machine without a GPU too (then device pointers cannot be queried, and
// that is refused by name as well). Kernel: gla, H=2, K=4, V=3.
#include "gla.h"

#include <cstdio>
#include <vector>

static mixc_tensor tensor(std::vector<int64_t> shape, void *data, int dtype = MIXC_BF16) {
  return mixc_contiguous(data, dtype, (int32_t)shape.size(), shape.data());
}

int main() {
  const int B = 1, T = 5, H = 2, K = 4, V = 3;
  std::vector<float> q(B * T * H * K, 0.5f), k(q), g(q), v(B * T * H * V, 1.f), o(B * T * H * V),
      s(B * H * K * V);
  std::vector<int64_t> cu = {0, 2, 5};
  mixc_tensor in[6] = {tensor({B, T, H, K}, q.data()), tensor({B, T, H, K}, k.data()),
                       tensor({B, T, H, V}, v.data()), tensor({B, T, H, K}, g.data(), MIXC_F16),
                       tensor({B, H, K, V}, nullptr), tensor({3}, cu.data(), MIXC_I64)};
  mixc_tensor out[2] = {tensor({B, T, H, V}, o.data()), tensor({B, H, K, V}, s.data(), MIXC_F32)};
  char err[256];
  auto call = [&](const char *what, int nin = 5, int nout = 2) {
    err[0] = 0;
    int rc = mixc_gla_cuda(in, nin, out, nout, nullptr, err, sizeof err);
    std::printf("%s: rc=%d %s\n", what, rc, err);
  };
  call("count", 4);
  // cu_seqlens (a sixth input): refused by name before it is read back.
  in[5].dtype = MIXC_F32;
  call("dtype cu_seqlens", 6);
  in[5] = tensor({1, 3}, cu.data(), MIXC_I64);
  call("rank cu_seqlens", 6);
  in[5] = tensor({3}, cu.data(), MIXC_I64);
  call("host cu_seqlens", 6);
  in[1].data = nullptr;
  call("null k");
  in[1].data = k.data();
  in[3] = tensor({B, T + 1, H, K}, g.data());
  call("shape g");
  in[3] = tensor({B, T, H, K}, g.data());
  in[3].dtype = 7;
  call("dtype g");
  in[3] = tensor({B, T, H, K}, g.data());
  in[3].strides[1] = -4;
  call("stride g");
  in[3] = tensor({B, T, H, K}, g.data());
  out[1] = tensor({B, H, K, V + 1}, s.data());
  call("shape final_state");
  out[1] = tensor({B, H, K, V}, s.data());
  call("host memory");
  err[0] = 0;
  std::printf("null arrays: rc=%d %s\n", mixc_gla_cuda(nullptr, 5, nullptr, 2, nullptr, err, sizeof err), err);
  return 0;
}
