// The same recurrences through llama.cpp's hand-written ggml CPU ops and
// through kernels mixc generated from bench/ggml/*.mixer, on the same inputs in
// one process: median times and the relative difference of the outputs.
#include "ggml-cpu.h"
#include "ggml.h"

#include "gla_gate.h"
#include "rwkv6_wkv.h"
#include "rwkv7_wkv.h"
#include "ssm_scan1.h"
#include "ssm_scan2.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace {
int64_t T = 4096, H = 8, S = 64;
int threads = 2, repeats = 7;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double timeMs(const std::function<void()> &f) {
  f(); // warm up
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return median(ms);
}

mixc_tensor view(float *data, std::vector<int64_t> shape) {
  return mixc_contiguous(data, MIXC_F32, (int32_t)shape.size(), shape.data());
}

struct Inputs {
  ggml_context *ctx;
  std::mt19937 rng{1};
  ggml_tensor *token(float lo, float hi) {
    ggml_tensor *t = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, S, H, T);
    std::uniform_real_distribution<float> u(lo, hi);
    for (int64_t i = 0; i < ggml_nelements(t); ++i) ((float *)t->data)[i] = u(rng);
    return t;
  }
};

// One table row: n outputs compared, `flops` per call (4 K V per token and head).
void report(const char *op, const std::string &shape, int64_t n, double flops, double ggmlMs, double mixcMs,
            const float *ggmlO, const float *mixcO) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) num += (ggmlO[i] - mixcO[i]) * (ggmlO[i] - mixcO[i]), den += ggmlO[i] * ggmlO[i];
  if (!(den > 0)) std::fprintf(stderr, "%s: the ggml output is zero or not finite\n", op), std::exit(1);
  std::printf("| %s | %s | %.3f | %.2f | %.3f | %.2f | %.2fx | %.1e |\n", op, shape.c_str(), ggmlMs,
              flops / ggmlMs / 1e6, mixcMs, flops / mixcMs / 1e6, ggmlMs / mixcMs, std::sqrt(num / den));
}
void report(const char *op, double ggmlMs, double mixcMs, const float *ggmlO, const float *mixcO) {
  report(op, "T=" + std::to_string(T) + " H=" + std::to_string(H) + " K=V=" + std::to_string(S), T * H * S,
         4.0 * T * H * S * S, ggmlMs, mixcMs, ggmlO, mixcO);
}
} // namespace

int main(int argc, char **argv) {
  if (argc > 1) threads = std::atoi(argv[1]);
  ggml_init_params params = {size_t(2) << 30, nullptr, false};
  ggml_context *ctx = ggml_init(params);
  Inputs in{ctx};
  std::vector<float> o(T * H * S), state(H * S * S);
  char err[256];
  auto check = [&](int rc) {
    if (rc) std::fprintf(stderr, "mixc kernel: %s\n", err), std::exit(1);
  };
  std::printf("| ggml op | shape | ggml ms | ggml GFLOP/s | mixc ms | mixc GFLOP/s | mixc speedup | rel. diff of o |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");

  { // GLA
    ggml_tensor *q = in.token(-1, 1), *k = in.token(-1, 1), *v = in.token(-1, 1), *g = in.token(0.9f, 1.f);
    ggml_tensor *s0 = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, S * S * H, 1);
    std::fill_n((float *)s0->data, ggml_nelements(s0), 0.f);
    ggml_tensor *out = ggml_gated_linear_attn(ctx, k, v, q, g, s0, 1.f / std::sqrt((float)S));
    ggml_cgraph *gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, out);
    double tg = timeMs([&] { ggml_graph_compute_with_ctx(ctx, gf, threads); });
    mixc_tensor ins[5] = {view((float *)q->data, {1, T, H, S}), view((float *)k->data, {1, T, H, S}),
                          view((float *)v->data, {1, T, H, S}), view((float *)g->data, {1, T, H, S}),
                          view(nullptr, {1, H, S, S})};
    mixc_tensor outs[2] = {view(o.data(), {1, T, H, S}), view(state.data(), {1, H, S, S})};
    double tm = timeMs([&] { check(mixc_gla_gate(ins, 5, outs, 2, threads, err, sizeof err)); });
    report("ggml_gated_linear_attn", tg, tm, (const float *)out->data, o.data());
  }
  { // RWKV-6
    ggml_tensor *r = in.token(-1, 1), *k = in.token(-1, 1), *v = in.token(-1, 1), *w = in.token(0.9f, 1.f);
    ggml_tensor *u = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, S, H);
    for (int64_t i = 0; i < S * H; ++i) ((float *)u->data)[i] = 0.5f;
    ggml_tensor *s0 = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, S * S * H, 1);
    std::fill_n((float *)s0->data, ggml_nelements(s0), 0.f);
    ggml_tensor *out = ggml_rwkv_wkv6(ctx, k, v, r, u, w, s0);
    ggml_cgraph *gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, out);
    double tg = timeMs([&] { ggml_graph_compute_with_ctx(ctx, gf, threads); });
    mixc_tensor ins[6] = {view((float *)r->data, {1, T, H, S}), view((float *)k->data, {1, T, H, S}),
                          view((float *)v->data, {1, T, H, S}), view((float *)w->data, {1, T, H, S}),
                          view((float *)u->data, {H, S}), view(nullptr, {1, H, S, S})};
    mixc_tensor outs[2] = {view(o.data(), {1, T, H, S}), view(state.data(), {1, H, S, S})};
    double tm = timeMs([&] { check(mixc_rwkv6_wkv(ins, 6, outs, 2, threads, err, sizeof err)); });
    report("ggml_rwkv_wkv6", tg, tm, (const float *)out->data, o.data());
  }
  { // RWKV-7: a = -kk, b = kk * a_gate in RWKV-7's use; any a, b keep it bounded when small.
    ggml_tensor *r = in.token(-1, 1), *w = in.token(0.9f, 1.f), *k = in.token(-0.1f, 0.1f), *v = in.token(-1, 1),
                *a = in.token(-0.05f, 0.05f), *b = in.token(-0.05f, 0.05f);
    ggml_tensor *s0 = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, S * S * H, 1);
    std::fill_n((float *)s0->data, ggml_nelements(s0), 0.f);
    ggml_tensor *out = ggml_rwkv_wkv7(ctx, r, w, k, v, a, b, s0);
    ggml_cgraph *gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, out);
    double tg = timeMs([&] { ggml_graph_compute_with_ctx(ctx, gf, threads); });
    mixc_tensor ins[7] = {view((float *)r->data, {1, T, H, S}), view((float *)w->data, {1, T, H, S}),
                          view((float *)k->data, {1, T, H, S}), view((float *)v->data, {1, T, H, S}),
                          view((float *)a->data, {1, T, H, S}), view((float *)b->data, {1, T, H, S}),
                          view(nullptr, {1, H, S, S})};
    mixc_tensor outs[2] = {view(o.data(), {1, T, H, S}), view(state.data(), {1, H, S, S})};
    double tm = timeMs([&] { check(mixc_rwkv7_wkv(ins, 7, outs, 2, threads, err, sizeof err)); });
    report("ggml_rwkv_wkv7", tg, tm, (const float *)out->data, o.data());
  }
  { // Mamba-2: ggml_ssm_scan with a scalar A per head and one group per head.
    ggml_tensor *x = in.token(-1, 1), *B = in.token(-1, 1), *C = in.token(-1, 1);
    ggml_tensor *dt = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, H, T, 1);
    ggml_tensor *A = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 1, H);
    ggml_tensor *s0 = ggml_new_tensor_4d(ctx, GGML_TYPE_F32, S, S, H, 1);
    ggml_tensor *ids = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, 1);
    std::uniform_real_distribution<float> u(-4.f, -1.f), a(-1.f, -0.1f);
    for (int64_t i = 0; i < H * T; ++i) ((float *)dt->data)[i] = u(in.rng);
    for (int64_t i = 0; i < H; ++i) ((float *)A->data)[i] = a(in.rng);
    std::fill_n((float *)s0->data, ggml_nelements(s0), 0.f);
    ((int32_t *)ids->data)[0] = 0;
    x = ggml_reshape_4d(ctx, x, S, H, T, 1);
    B = ggml_reshape_4d(ctx, B, S, H, T, 1);
    C = ggml_reshape_4d(ctx, C, S, H, T, 1);
    ggml_tensor *out = ggml_ssm_scan(ctx, s0, x, dt, A, B, C, ids, 1);
    ggml_cgraph *gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, out);
    double tg = timeMs([&] { ggml_graph_compute_with_ctx(ctx, gf, threads); });
    mixc_tensor ins[6] = {view((float *)x->data, {1, T, H, S}), view((float *)B->data, {1, T, H, S}),
                          view((float *)C->data, {1, T, H, S}), view((float *)dt->data, {1, T, H}),
                          view((float *)A->data, {H}), view(nullptr, {1, H, S, S})};
    mixc_tensor outs[2] = {view(o.data(), {1, T, H, S}), view(state.data(), {1, H, S, S})};
    double tm = timeMs([&] { check(mixc_ssm_scan2(ins, 6, outs, 2, threads, err, sizeof err)); });
    report("ggml_ssm_scan (Mamba-2)", tg, tm, (const float *)out->data, o.data());
  }
  { // Mamba-1: ggml_ssm_scan with A per (state, channel): every channel a head of
    // one dimension, one group (B and C shared by the channels), as llama.cpp runs it.
    const int64_t N = 16, D = 1024; // d_state, d_inner
    ggml_tensor *x = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, 1, D, T);
    ggml_tensor *dt = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, D, T);
    ggml_tensor *A = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, N, D);
    ggml_tensor *B = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, N, 1, T), *C = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, N, 1, T);
    ggml_tensor *s0 = ggml_new_tensor_4d(ctx, GGML_TYPE_F32, N, 1, D, 1);
    ggml_tensor *ids = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, 1);
    std::uniform_real_distribution<float> u(-1.f, 1.f), dtRaw(-4.f, -1.f), aLog(0.f, 2.7f);
    for (ggml_tensor *t : {x, B, C})
      for (int64_t i = 0; i < ggml_nelements(t); ++i) ((float *)t->data)[i] = u(in.rng);
    for (int64_t i = 0; i < D * T; ++i) ((float *)dt->data)[i] = dtRaw(in.rng);
    for (int64_t i = 0; i < N * D; ++i) ((float *)A->data)[i] = -std::exp(aLog(in.rng)); // Mamba's A = -exp(A_log)
    std::fill_n((float *)s0->data, ggml_nelements(s0), 0.f);
    ((int32_t *)ids->data)[0] = 0;
    ggml_tensor *out = ggml_ssm_scan(ctx, s0, x, dt, A, B, C, ids, 1);
    ggml_cgraph *gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, out);
    double tg = timeMs([&] { ggml_graph_compute_with_ctx(ctx, gf, threads); });
    std::vector<float> o1(T * D), state1(N * D);
    // ggml's A is [channel][state]: mixc's A[K, V] reads it through strides.
    mixc_tensor a = view((float *)A->data, {1, N, D});
    a.strides[1] = 1, a.strides[2] = N;
    mixc_tensor ins[6] = {view((float *)x->data, {1, T, 1, D}), view((float *)B->data, {1, T, 1, N}),
                          view((float *)C->data, {1, T, 1, N}), view((float *)dt->data, {1, T, 1, D}), a,
                          view(nullptr, {1, 1, N, D})};
    mixc_tensor outs[2] = {view(o1.data(), {1, T, 1, D}), view(state1.data(), {1, 1, N, D})};
    double tm = timeMs([&] { check(mixc_ssm_scan1(ins, 6, outs, 2, threads, err, sizeof err)); });
    report("ggml_ssm_scan (Mamba-1)", "T=" + std::to_string(T) + " d_inner=" + std::to_string(D) + " d_state=" +
           std::to_string(N), T * D, 4.0 * T * D * N, tg, tm, (const float *)out->data, o1.data());
  }
  ggml_free(ctx);
  return 0;
}
