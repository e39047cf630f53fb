// Calls a generated kernel with bad arguments: each is refused with a message
// naming the argument, none crashes. Built against the sources `mixc emit
// --target=cpu -o DIR` writes (here: gla, H=2, K=4, V=3).
#include "gla.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

static mixc_tensor tensor(std::vector<int64_t> shape, void *data) {
  return mixc_contiguous(data, MIXC_F32, (int32_t)shape.size(), shape.data());
}

int main() {
  const int B = 1, T = 5, H = 2, K = 4, V = 3;
  std::vector<float> q(B * T * H * K, 0.5f), k(q), g(q), v(B * T * H * V, 1.f), o(B * T * H * V),
      s(B * H * K * V);
  mixc_tensor in[5] = {tensor({B, T, H, K}, q.data()), tensor({B, T, H, K}, k.data()),
                       tensor({B, T, H, V}, v.data()), tensor({B, T, H, K}, g.data()),
                       tensor({B, H, K, V}, nullptr)};
  mixc_tensor out[2] = {tensor({B, T, H, V}, o.data()), tensor({B, H, K, V}, s.data())};
  char err[256];
  auto call = [&](const char *what, int nin = 5, int nout = 2) {
    err[0] = 0;
    int rc = mixc_gla(in, nin, out, nout, 2, err, sizeof err);
    std::printf("%s: rc=%d %s\n", what, rc, err);
  };
  call("good");
  call("count", 4);
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
  std::vector<float> s0(B * H * K * V, 1.f);
  in[4] = tensor({B, H, K, V + 2}, s0.data());
  call("shape init");
  in[4] = tensor({B, H, K, V}, s0.data());
  call("good with init");
  // Contiguous f32 outputs are written in place; a padded o goes through a
  // buffer and a copy: both give the same numbers.
  std::vector<float> oPad(B * T * H * (V + 2), -1.f);
  mixc_tensor oContig = out[0];
  out[0] = tensor({B, T, H, V}, oPad.data());
  out[0].strides[2] = V + 2, out[0].strides[1] = H * (V + 2), out[0].strides[0] = T * H * (V + 2);
  call("padded o");
  float diff = 0.f;
  for (int r = 0; r < B * T * H; ++r)
    for (int j = 0; j < V; ++j) diff = std::max(diff, std::fabs(oPad[r * (V + 2) + j] - o[r * V + j]));
  bool padKept = oPad[V] == -1.f && oPad[V + 1] == -1.f;
  std::printf("padded o vs in place: max diff %g, padding %s\n", diff, padKept ? "untouched" : "WRITTEN");
  out[0] = oContig;
  err[0] = 0;
  std::printf("null arrays: rc=%d %s\n", mixc_gla(nullptr, 5, nullptr, 2, 1, err, sizeof err), err);
  return 0;
}
