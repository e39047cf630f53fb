"""Side-by-side GPU benchmark: mixc's generated CUDA kernels against
flash-linear-attention's Triton kernels (chunk_simple_gla, chunk_gla,
chunk_delta_rule, chunk_gated_delta_rule) and PyTorch's SDPA, on the same bf16
inputs in the same run. Run by bench/cuda/run.sh on the GPU machine.

Usage: bench.py FLA_DIR KERNEL_DIR [SHAPES]   (SHAPES: B,T,H,D;B,T,H,D)
KERNEL_DIR holds lib<spec>_H<H>.so built from `mixc emit --target=cuda`.
Prints, per op and shape: median ms (triton.testing.do_bench), the share of
the memory-traffic floor (inputs read once, o and the final state written
once, over the device-to-device copy bandwidth measured here), the ratio to
fla, and how far mixc's output is from fla's (relative L2, both bf16).
"""
import ctypes
import os
import sys
import types

import torch
import torch.nn.functional as F
import triton


def bare_package(name, path):
    # fla/__init__.py imports its model code; register bare packages instead.
    m = types.ModuleType(name)
    m.__path__ = [path]
    m.__version__ = "0.0"
    sys.modules[name] = m


fla_dir, kernel_dir = sys.argv[1], sys.argv[2]
shapes = [tuple(int(x) for x in s.split(",")) for s in (sys.argv[3] if len(sys.argv) > 3 else
                                                          "4,4096,64,128;2,16384,16,128").split(";")]
# MIXC_ONLY=1: run each mixc kernel once and stop (for a profiler such as ncu);
# MIXC_ONLY=time: time the mixc kernels alone (no fla, no ratios).
mixc_only = os.environ.get("MIXC_ONLY") == "1"
time_only = os.environ.get("MIXC_ONLY") == "time"
if not mixc_only and not time_only:
    sys.path.insert(0, fla_dir)
    bare_package("fla", os.path.join(fla_dir, "fla"))
    bare_package("fla.ops", os.path.join(fla_dir, "fla", "ops"))
    from fla.ops.delta_rule.chunk import chunk_delta_rule  # noqa: E402
    from fla.ops.gated_delta_rule.chunk import chunk_gated_delta_rule  # noqa: E402
    from fla.ops.gla.chunk import chunk_gla  # noqa: E402
    from fla.ops.simple_gla.chunk import chunk_simple_gla  # noqa: E402


class Tensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int32), ("ndim", ctypes.c_int32),
                ("shape", ctypes.c_int64 * 6), ("strides", ctypes.c_int64 * 6)]


DTYPES = {torch.float32: 0, torch.bfloat16: 1, torch.float16: 2}


def describe(t):
    d = Tensor()
    if t is None:
        return d
    d.data, d.dtype, d.ndim = t.data_ptr(), DTYPES[t.dtype], t.dim()
    for i in range(t.dim()):
        d.shape[i], d.strides[i] = t.shape[i], t.stride(i)
    return d


class Kernel:
    def __init__(self, spec, H):
        lib = ctypes.CDLL(os.path.join(kernel_dir, f"lib{spec}_H{H}.so"))
        self.fn = getattr(lib, f"mixc_{spec}_cuda")
        self.fn.restype = ctypes.c_int
        self.err = ctypes.create_string_buffer(512)

    def __call__(self, inputs, outputs):
        ins = (Tensor * len(inputs))(*[describe(t) for t in inputs])
        outs = (Tensor * len(outputs))(*[describe(t) for t in outputs])
        stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
        if self.fn(ins, len(inputs), outs, len(outputs), stream, self.err, 512):
            raise RuntimeError(self.err.value.decode())


def bench(fn):
    return triton.testing.do_bench(fn, warmup=50, rep=300, return_mode="median")


def rel(a, b):
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm()).item()


def copy_bandwidth():
    x = torch.empty(2 << 30, dtype=torch.uint8, device="cuda")
    y = torch.empty_like(x)
    ms = bench(lambda: y.copy_(x))
    return 2 * x.numel() / (ms * 1e-3)


def nbytes(*ts):
    return sum(t.numel() * t.element_size() for t in ts)


torch.manual_seed(0)
bw = 1.0 if mixc_only else copy_bandwidth()
print(f"device {torch.cuda.get_device_name()}, copy bandwidth {bw / 1e12:.2f} TB/s (read + write)", flush=True)
rows = []
for B, T, H, D in shapes:
    bf = dict(device="cuda", dtype=torch.bfloat16)
    q = torch.randn(B, T, H, D, **bf)
    k = torch.randn(B, T, H, D, **bf)
    v = torch.randn(B, T, H, D, **bf)
    kn, qn = F.normalize(k.float(), dim=-1).bfloat16(), F.normalize(q.float(), dim=-1).bfloat16()
    g_head = (F.logsigmoid(torch.randn(B, T, H, device="cuda")) / 16).bfloat16()
    g_key = (F.logsigmoid(torch.randn(B, T, H, D, device="cuda")) / 16).bfloat16()
    beta = torch.sigmoid(torch.randn(B, T, H, device="cuda")).bfloat16()
    state = torch.empty(B, H, D, D, device="cuda", dtype=torch.float32)
    o = torch.empty(B, T, H, D, **bf)
    cases = [
        ("simple_gla", [q, k, v, g_head],
         lambda: chunk_simple_gla(q, k, v, g=g_head, output_final_state=True)),
        ("gla", [q, k, v, g_key], lambda: chunk_gla(q, k, v, g_key, output_final_state=True)),
        ("delta_rule", [qn, kn, v, beta], lambda: chunk_delta_rule(qn, kn, v, beta, output_final_state=True)),
        ("gated_delta_rule", [qn, kn, v, g_head, beta],
         lambda: chunk_gated_delta_rule(qn, kn, v, g_head, beta, output_final_state=True)),
    ]
    only = os.environ.get("MIXC_BENCH_OPS")  # comma-separated subset, for quick comparisons
    for spec, ins, fla_fn in cases:
        if only and spec not in only.split(","):
            continue
        kern = Kernel(spec, H)
        run = lambda: kern(ins + [None], [o, state])  # noqa: E731
        run()
        torch.cuda.synchronize()
        if mixc_only:
            continue
        if time_only:
            print(f"{spec:<17} {B},{T},{H},{D}: mixc {bench(run):.3f} ms (alone)", flush=True)
            continue
        o_fla, s_fla = fla_fn()
        torch.cuda.synchronize()
        err_o, err_s = rel(o, o_fla), rel(state, s_fla)
        t_mixc = bench(run)
        t_fla = bench(fla_fn)
        floor = (nbytes(*ins) + nbytes(o) + nbytes(state)) / bw * 1e3
        rows.append((spec, (B, T, H, D), t_mixc, t_fla, floor, err_o, err_s))
        print(f"{spec:<17} {B},{T},{H},{D}: mixc {t_mixc:.3f} ms, fla {t_fla:.3f} ms, floor {floor:.3f} ms, "
              f"o vs fla {err_o:.1e}, state vs fla {err_s:.1e}", flush=True)
    if only or mixc_only or time_only:
        continue
    qt, kt, vt = (x.transpose(1, 2).contiguous() for x in (q, k, v))
    t_sdpa = bench(lambda: F.scaled_dot_product_attention(qt, kt, vt, is_causal=True))
    rows.append(("SDPA (causal softmax)", (B, T, H, D), None, t_sdpa, nbytes(q, k, v, o) / bw * 1e3, None, None))
    print(f"sdpa {B},{T},{H},{D}: {t_sdpa:.3f} ms", flush=True)
    del q, k, v, kn, qn, g_head, g_key, beta, state, o
    torch.cuda.empty_cache()

print()
print("| op | B,T,H,D | mixc ms | anchor ms (fla; SDPA) | anchor / mixc | mixc % of floor | anchor % of floor "
      "| floor ms | o vs fla |")
print("|---|---|---|---|---|---|---|---|---|")
for spec, shape, tm, tf, floor, eo, es in rows:
    s = ",".join(map(str, shape))
    if tm is None:
        print(f"| {spec} | {s} | | {tf:.3f} | | | {100 * floor / tf:.0f} % | {floor:.3f} | |")
    else:
        print(f"| {spec} | {s} | {tm:.3f} | {tf:.3f} | {tf / tm:.2f}x | {100 * floor / tm:.0f} % | "
              f"{100 * floor / tf:.0f} % | {floor:.3f} | {eo:.1e} |")
