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

  // Packed variable-length sequences: cu_seqlens [0, 2, 5] splits the 5
  // tokens into sequences of 2 and 3, with a state each.
  std::vector<int64_t> cu = {0, 2, 5};
  int64_t cuShape[1] = {3};
  std::vector<float> s2(2 * H * K * V), init2(2 * H * K * V);
  for (size_t i = 0; i < init2.size(); ++i) init2[i] = 0.01f * (float)(i % 7);
  for (size_t i = 0; i < q.size(); ++i) q[i] = 0.1f * (float)(i % 5), g[i] = -0.05f * (float)(i % 3);
  mixc_tensor vin[6] = {in[0], in[1], in[2], in[3], tensor({2, H, K, V}, init2.data()),
                        mixc_contiguous(cu.data(), MIXC_I64, 1, cuShape)};
  mixc_tensor vout[2] = {tensor({B, T, H, V}, o.data()), tensor({2, H, K, V}, s2.data())};
  auto vcall = [&](const char *what) {
    err[0] = 0;
    int rc = mixc_gla(vin, 6, vout, 2, 2, err, sizeof err);
    std::printf("%s: rc=%d %s\n", what, rc, err);
  };
  vcall("varlen");
  // Each sequence alone, from its own initial state: the same outputs and states.
  float vdiff = 0.f;
  for (int n = 0; n < 2; ++n) {
    const int64_t t0 = cu[n], len = cu[n + 1] - cu[n];
    std::vector<float> o1(len * H * V), s1(H * K * V);
    mixc_tensor in1[5];
    for (int i = 0; i < 4; ++i) {
      in1[i] = vin[i];
      in1[i].shape[1] = len;
      in1[i].data = (float *)vin[i].data + t0 * vin[i].strides[1];
    }
    in1[4] = tensor({1, H, K, V}, init2.data() + n * H * K * V);
    mixc_tensor out1[2] = {tensor({1, len, H, V}, o1.data()), tensor({1, H, K, V}, s1.data())};
    if (mixc_gla(in1, 5, out1, 2, 1, err, sizeof err)) std::printf("sequence %d: %s\n", n, err);
    for (int64_t e = 0; e < len * H * V; ++e) vdiff = std::max(vdiff, std::fabs(o1[e] - o[t0 * H * V + e]));
    for (int e = 0; e < H * K * V; ++e) vdiff = std::max(vdiff, std::fabs(s1[e] - s2[n * H * K * V + e]));
  }
  std::printf("varlen vs each sequence alone: max diff %g\n", vdiff);
  vin[5].dtype = MIXC_F32;
  vcall("cu_seqlens dtype");
  vin[5].dtype = MIXC_I64;
  cu = {1, 2, 5};
  vcall("cu_seqlens start");
  cu = {0, 3, 2};
  vcall("cu_seqlens order");
  cu = {0, 2, 4};
  vcall("cu_seqlens end");
  cu = {0, 2, 5};
  vout[1] = tensor({1, H, K, V}, s2.data());
  vcall("varlen final_state");
  vout[1] = tensor({2, H, K, V}, s2.data());
  std::vector<float> q2(2 * T * H * K);
  vin[0] = tensor({2, T, H, K}, q2.data());
  vcall("varlen batch");
  return 0;
}
