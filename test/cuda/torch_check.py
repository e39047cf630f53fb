"""mixc.torch and mixc.fla on CUDA tensors, side by side with fla itself.

`emit CACHE` (here, where mixc is built): writes the specs the calls below
make and emits their CUDA sources into the cache directory CACHE; carry it to
the GPU machine. `run CACHE FLA_DIR` (there; no mixc needed): compiles the
kernels with nvcc into CACHE and
- checks every drop-in call (bf16 inputs, B=2, T=300, H=4, K=V=64) against a
  float64 token loop written from fla's definitions and against fla's own
  call on the same inputs (relative L2 < 1e-2 against float64);
- checks packed sequences (cu_seqlens) on every drop-in against the float64
  loop on each sequence alone;
- checks Mixer.decode on CUDA (token by token) against the whole call;
- times the forward against fla at 4,4096,64,128 and 2,16384,16,128 (bf16,
  final state returned), packed sequences (32768 tokens in six sequences,
  H=16, K=V=128) against fla's packed call, and decoding (one token per sequence, state in
  place) against fla's fused_recurrent_gated_delta_rule at batch 1 and 64.
Usage: torch_check.py emit CACHE | torch_check.py run CACHE FLA_DIR"""
import os
import sys
import types

mode, cache = sys.argv[1], os.path.abspath(sys.argv[2])
os.environ["MIXC_CACHE_DIR"] = cache
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "python"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import mixc.fla as mfla  # noqa: E402
import mixc.torch as mt  # noqa: E402
from mixc import _build  # noqa: E402

CHECK = (2, 300, 4, 64)
BENCH = [(4, 4096, 64, 128), (2, 16384, 16, 128)]
DECODE = (16, 128)  # H, K = V


def inputs(B, T, H, D, device, dtype=torch.bfloat16, seed=0):
    g = torch.Generator().manual_seed(seed)
    rn = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    x = dict(q=rn(B, T, H, D), k=rn(B, T, H, D), v=rn(B, T, H, D), gk=F.logsigmoid(rn(B, T, H, D)) / 16,
             gs=F.logsigmoid(rn(B, T, H)) / 4, beta=torch.sigmoid(rn(B, T, H)), h0=0.1 * rn(B, H, D, D),
             A_log=torch.log(torch.rand(H, generator=g) * 4 + 1), dt_bias=rn(H), raw=rn(B, T, H), rawk=rn(B, T, H, D),
             dtk=rn(H * D), w=-0.6 * torch.sigmoid(rn(B, T, H, D)), kk=F.normalize(rn(B, T, H, D), dim=-1),
             ag=torch.sigmoid(rn(B, T, H, D)))
    x["kn"], x["qn"] = F.normalize(x["k"], dim=-1), F.normalize(x["q"], dim=-1)
    x["a"], x["b"] = -x["kk"], x["kk"] * x["ag"]
    out = {}
    for n, t in x.items():
        t = t.to(device)
        out[n] = t if n in ("h0", "A_log", "dt_bias", "dtk") else t.to(dtype)
    return out


def cases(x, cu=None):
    """(name, mixc call, fla module path and call, float64 loop) per drop-in;
    `cu`: cu_seqlens (x packed: batch 1)."""
    return [
        ("chunk_gla", lambda f: f.chunk_gla(x["q"], x["k"], x["v"], x["gk"], initial_state=x["h0"],
                                            output_final_state=True, cu_seqlens=cu), "gla"),
        ("chunk_simple_gla", lambda f: f.chunk_simple_gla(x["q"], x["k"], x["v"], g=x["gs"], initial_state=x["h0"],
                                                          output_final_state=True, cu_seqlens=cu), "simple_gla"),
        ("chunk_delta_rule", lambda f: f.chunk_delta_rule(x["qn"], x["kn"], x["v"], x["beta"], initial_state=x["h0"],
                                                          output_final_state=True, cu_seqlens=cu), "delta_rule"),
        ("chunk_gated_delta_rule", lambda f: f.chunk_gated_delta_rule(x["q"], x["k"], x["v"], x["raw"], x["raw"],
                                                                      initial_state=x["h0"], output_final_state=True, cu_seqlens=cu,
                                                                      use_qk_l2norm_in_kernel=True,
                                                                      use_beta_sigmoid_in_kernel=True,
                                                                      use_gate_in_kernel=True, A_log=x["A_log"],
                                                                      dt_bias=x["dt_bias"]), "gated_delta_rule"),
        ("chunk_kda", lambda f: f.chunk_kda(x["qn"], x["kn"], x["v"], x["gk"], x["beta"], initial_state=x["h0"],
                                            output_final_state=True, cu_seqlens=cu), "kda"),
        ("chunk_rwkv7", lambda f: f.chunk_rwkv7(x["q"], x["w"], x["k"], x["v"], x["a"], x["b"], initial_state=x["h0"],
                                                output_final_state=True, cu_seqlens=cu), "rwkv7"),
        # Kimi Linear's KDA as users call it: l2norm, beta sigmoid and the lower-bound gate in the kernel.
        ("chunk_kda_kimi", lambda f: f.chunk_kda(x["q"], x["k"], x["v"], x["rawk"], x["raw"], initial_state=x["h0"],
                                                 output_final_state=True, cu_seqlens=cu, use_qk_l2norm_in_kernel=True,
                                                 use_beta_sigmoid_in_kernel=True, use_gate_in_kernel=True,
                                                 A_log=x["A_log"], dt_bias=x["dtk"], lower_bound=-5.0,
                                                 safe_gate=True), "kda"),
    ]


def naive(name, x):
    """float64 token loop of fla's definition of each call (CPU)."""
    d = {n: t.double().cpu() for n, t in x.items()}
    q, k, v, S = d["q"], d["k"], d["v"], d["h0"].clone()
    B, T, H, K = q.shape
    scale = K ** -0.5
    if name == "chunk_delta_rule":
        q, k = d["qn"], d["kn"]
    if name == "chunk_gated_delta_rule":
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        g = -d["A_log"].exp() * F.softplus(d["raw"] + d["dt_bias"])
        beta = torch.sigmoid(d["raw"])
    if name == "chunk_kda":
        q, k = d["qn"], d["kn"]
    if name == "chunk_kda_kimi":
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        gk = -5 * torch.sigmoid(d["A_log"].exp()[:, None] * (d["rawk"] + d["dtk"].view(H, K)))
        beta = torch.sigmoid(d["raw"])
    if name == "chunk_rwkv7":
        scale = 1.0
    o = torch.zeros(B, T, H, v.shape[-1], dtype=torch.float64)
    for t in range(T):
        kt, vt = k[:, t], v[:, t]
        if name == "chunk_gla":
            S = d["gk"][:, t].exp()[..., None] * S + kt[..., None] * vt[..., None, :]
        elif name == "chunk_simple_gla":
            S = d["gs"][:, t].exp()[..., None, None] * S + kt[..., None] * vt[..., None, :]
        elif name in ("chunk_delta_rule", "chunk_gated_delta_rule", "chunk_kda", "chunk_kda_kimi"):
            b = (beta if name in ("chunk_gated_delta_rule", "chunk_kda_kimi") else d["beta"])[:, t][..., None]
            if name == "chunk_gated_delta_rule":
                S = g[:, t].exp()[..., None, None] * S
            if name in ("chunk_kda", "chunk_kda_kimi"):
                S = (d["gk"] if name == "chunk_kda" else gk)[:, t].exp()[..., None] * S
            u = vt - torch.einsum("bhk,bhkv->bhv", kt, S)
            S = S + (b * kt)[..., None] * u[..., None, :]
        elif name == "chunk_rwkv7":
            S = (d["w"][:, t].exp()[..., None] * S + d["b"][:, t][..., None]
                 * torch.einsum("bhk,bhkv->bhv", d["a"][:, t], S)[..., None, :] + kt[..., None] * vt[..., None, :])
        o[:, t] = scale * torch.einsum("bhk,bhkv->bhv", q[:, t], S)
    return o, S


def rel(a, b):
    a, b = a.double().cpu(), b.double().cpu()
    return ((a - b).norm() / b.norm()).item()


if mode == "emit":
    # Record the specs and sizes the calls make and emit their CUDA sources.
    real_load = mt.load

    class Recorder:
        def __init__(self, spec, **_):
            self.spec = spec
            real_load(spec, verbose=False)  # its signature and operands, cached for the GPU machine

        def __call__(self, *args, **kwargs):
            per_token = [a for a in list(args) + list(kwargs.values()) if isinstance(a, torch.Tensor) and a.dim() == 4]
            H, K, V = per_token[0].shape[2], per_token[0].shape[3], per_token[2].shape[3]
            _build.emit(self.spec, H, K, V, "cuda", target="cuda")
            print(f"emitted {os.path.basename(self.spec)} H={H} K={K} V={V}")
            return None, None

    mt.load = lambda spec, **kw: Recorder(spec)
    shapes = [CHECK] + BENCH + [(1, 1, DECODE[0], DECODE[1])]
    for B, T, H, D in shapes:
        x = inputs(1, 2, H, D, "cpu")
        for name, call, _ in cases(x):
            call(mfla)
    sys.exit(0)

# -- on the GPU machine ------------------------------------------------------------------------
import triton  # noqa: E402

fla_dir = sys.argv[3]
sys.path.insert(0, fla_dir)
for pkg in ("fla", "fla.ops"):
    m = types.ModuleType(pkg)
    m.__path__ = [os.path.join(fla_dir, *pkg.split("."))]
    m.__version__ = "0.0"
    sys.modules[pkg] = m
import importlib  # noqa: E402

fla_fns = {}
for name, mod in [("chunk_gla", "gla"), ("chunk_simple_gla", "simple_gla"), ("chunk_delta_rule", "delta_rule"),
                  ("chunk_gated_delta_rule", "gated_delta_rule"), ("chunk_kda", "kda"), ("chunk_rwkv7", "rwkv7")]:
    fla_fns[name] = getattr(importlib.import_module(f"fla.ops.{mod}"), name)
fla_ns = types.SimpleNamespace(**fla_fns)
from fla.ops.gated_delta_rule import fused_recurrent_gated_delta_rule as fla_decode  # noqa: E402

print(f"device {torch.cuda.get_device_name()}, torch {torch.__version__}, triton {triton.__version__}", flush=True)
# Every emitted CUDA source in the cache compiled at once (nvcc runs in parallel).
import glob  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

t0 = time.time()
srcs = [os.path.dirname(c) for c in glob.glob(os.path.join(cache, "src-*", "*.cu"))]
with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
    list(pool.map(lambda s: _build.compile_cuda(s, os.path.basename(glob.glob(os.path.join(s, "*.cu"))[0])[:-3],
                                                _build.cuda_arch(), False), srcs))
print(f"compiled {len(srcs)} kernels with nvcc in {time.time() - t0:.0f} s", flush=True)
failures = 0
# MIXC_STAGES: a comma-separated subset of check, varlen, bench, varlen_bench, decode (default: all).
# MIXC_FLA_CHECK=0: the check stages against float64 only, not beside fla's same call.
stages = set(os.environ.get("MIXC_STAGES", "check,varlen,bench,varlen_bench,decode").split(","))


def compare(what, call, o_ref, S_ref):
    """mixc's call (o, final state) against float64 (< 1e-2) and beside fla's same call; returns failed."""
    o, S = call(mfla)
    vs_fla = ""
    try:
        if os.environ.get("MIXC_FLA_CHECK", "1") == "1":  # 0: float64 only (fla's cold autotune takes minutes per call)
            o_fla, _ = call(fla_ns)
            vs_fla = f", o vs fla {rel(o, o_fla):.1e}, fla vs float64 {rel(o_fla, o_ref):.1e}"
    except Exception as e:  # noqa: BLE001 (report fla's own refusal)
        vs_fla = f", fla failed: {type(e).__name__}: {str(e)[:120]}"
    err = max(rel(o, o_ref), rel(S, S_ref))
    print(f"{what} bf16: mixc vs float64 {err:.1e}{vs_fla}  {'OK' if err < 1e-2 else 'FAILED'}", flush=True)
    return not err < 1e-2


x = inputs(*CHECK, "cuda")
for name, call, _ in (cases(x) if "check" in stages else []):
    failures += compare(f"{name} {','.join(map(str, CHECK))}", call, *naive(name, x))

# Packed sequences (cu_seqlens) on CUDA: every drop-in on sequences of 1, 37,
# 101 and 161 tokens packed in one row, each with its own initial state,
# against the float64 loop run on each sequence alone (and fla's packed call).
CU = [0, 1, 38, 139, 300]
for name, call, _ in (cases({}) if "varlen" in stages else []):
    N, (_, _, H, D) = len(CU) - 1, CHECK
    xv = inputs(1, CU[-1], H, D, "cuda", seed=1)
    xv["h0"] = 0.1 * torch.randn(N, H, D, D, generator=torch.Generator().manual_seed(2)).cuda()
    cu = torch.tensor(CU, dtype=torch.int64, device="cuda")
    per_head = ("h0", "A_log", "dt_bias", "dtk")
    refs = [naive(name, {k: (t[n:n + 1] if k == "h0" else t if k in per_head else t[:, CU[n]:CU[n + 1]])
                         for k, t in xv.items()}) for n in range(N)]
    failures += compare(f"{name} packed {CU} (float64: each sequence alone)",
                        next(c for n, c, _ in cases(xv, cu) if n == name),
                        torch.cat([r[0] for r in refs], 1), torch.cat([r[1] for r in refs], 0))

# Decoding on CUDA, token by token, against the whole call.
xs = inputs(2, 20, 4, 64, "cuda")
o_full, S_full = mfla.chunk_gla(xs["q"], xs["k"], xs["v"], xs["gk"], initial_state=xs["h0"], output_final_state=True)
g_mixer = mfla._mixers[next(t for t in mfla._mixers if "mixer gla(" in t)]
state = xs["h0"].clone()
steps = [g_mixer.decode(q=xs["q"][:, t:t + 1], k=xs["k"][:, t:t + 1], v=xs["v"][:, t:t + 1], g=xs["gk"][:, t:t + 1],
                        state=state) for t in range(20)]
err = max(rel(torch.cat(steps, 1), o_full), rel(state, S_full))
failures += not err < 1e-2
print(f"decode on CUDA token by token vs the whole call: {err:.1e}  {'OK' if err < 1e-2 else 'FAILED'}", flush=True)

# MIXC_FLASHKDA=DIR: MoonshotAI's FlashKDA (DIR/fk: its csrc and flash_kda
# package; DIR/include, DIR/tools/util/include, DIR/examples/common: the
# CUTLASS it pins), built here with torch's extension loader and timed beside
# Kimi's KDA (its forward: K = V = 128, l2norm, beta's sigmoid and the
# lower-bound gate in the kernel, state [B, H, V, K]).
flashkda = None
if os.environ.get("MIXC_FLASHKDA"):
    import time
    from torch.utils import cpp_extension
    fk = os.path.abspath(os.environ["MIXC_FLASHKDA"])
    t0 = time.time()
    build_dir = os.path.join(cache, "flashkda-build")
    os.makedirs(build_dir, exist_ok=True)
    try:
        flashkda_c = cpp_extension.load(
            name="flash_kda_C", sources=[f"{fk}/fk/csrc/flash_kda.cpp", f"{fk}/fk/csrc/smxx/fwd_launch.cu"],
            extra_include_paths=[f"{fk}/include", f"{fk}/examples/common", f"{fk}/tools/util/include", f"{fk}/fk/csrc"],
            extra_cflags=["-O3", "-Wno-psabi"],
            extra_cuda_cflags=["-O3", "-U__CUDA_NO_HALF_OPERATORS__", "-U__CUDA_NO_HALF_CONVERSIONS__",
                               "-U__CUDA_NO_HALF2_OPERATORS__", "-U__CUDA_NO_BFLOAT16_CONVERSIONS__",
                               "--expt-relaxed-constexpr", "--expt-extended-lambda", "--use_fast_math",
                               "-gencode", "arch=compute_90a,code=sm_90a", "--threads", "16"],
            build_directory=build_dir)
        sys.modules["flash_kda_C"] = flashkda_c
        sys.path.insert(0, f"{fk}/fk")
        import flash_kda as flashkda  # noqa: E402
        print(f"FlashKDA built in {time.time() - t0:.0f} s", flush=True)
    except Exception as e:  # noqa: BLE001 (report and go on without it)
        print(f"FlashKDA: build failed: {type(e).__name__}: {str(e)[-1500:]}", flush=True)


def bench_flashkda(x, call, t_mixc):
    """FlashKDA's forward on the Kimi inputs of `x` (fp32 state), timed and compared with mixc's call."""
    B, T, H, D = x["q"].shape
    out = torch.empty_like(x["v"])
    s0 = x["h0"].float().transpose(-1, -2).contiguous()  # [B, H, V, K]
    s1 = torch.empty_like(s0)
    a_log, dt = x["A_log"].float(), x["dtk"].float().reshape(H, D)
    run = lambda: flashkda.fwd(x["q"], x["k"], x["v"], x["rawk"], x["raw"], D ** -0.5, out, A_log=a_log,  # noqa
                               dt_bias=dt, lower_bound=-5.0, initial_state=s0, final_state=s1)
    tk = triton.testing.do_bench(run)
    o, S = call(mfla)
    run()
    agree = max(rel(out, o), rel(s1.transpose(-1, -2), S))
    print(f"| chunk_kda_kimi: FlashKDA | {B},{T},{H},{D} | {t_mixc:.3f} | {tk:.3f} (FlashKDA) | {tk / t_mixc:.2f}x |"
          f" o and final state vs mixc {agree:.1e}", flush=True)


print("\n| op | B,T,H,D | mixc ms | fla ms | fla / mixc |\n|---|---|---|---|---|")
# MIXC_BENCH: indices into BENCH (default: both shapes); MIXC_BENCH_OPS: op names (default: all).
shapes = [BENCH[int(i)] for i in os.environ.get("MIXC_BENCH", "0,1").split(",")]
ops = os.environ.get("MIXC_BENCH_OPS")
for B, T, H, D in (shapes if "bench" in stages else []):
    xb = inputs(B, T, H, D, "cuda")
    for name, call, _ in cases(xb):
        if ops and name not in ops.split(","):
            continue
        tm = triton.testing.do_bench(lambda: call(mfla))
        tf = triton.testing.do_bench(lambda: call(fla_ns))
        print(f"| {name} | {B},{T},{H},{D} | {tm:.3f} | {tf:.3f} | {tf / tm:.2f}x |", flush=True)
        if name == "chunk_kda_kimi" and flashkda is not None:
            bench_flashkda(xb, call, tm)
    del xb
    torch.cuda.empty_cache()

# Packed sequences timed (stage varlen_bench): 32768 tokens in six sequences
# of uneven lengths (one under a chunk), H = 16, K = V = 128, both packed.
SEQS = [8192, 1000, 4096, 37, 7000, 12443]
print("\n| op, packed | sequences | mixc ms | fla ms | fla / mixc |\n|---|---|---|---|---|")
for name, call, _ in (cases({}) if "varlen_bench" in stages else []):
    if ops and name not in ops.split(","):
        continue
    xb = inputs(1, sum(SEQS), 16, 128, "cuda")
    xb["h0"] = 0.1 * torch.randn(len(SEQS), 16, 128, 128, device="cuda")
    cu = torch.tensor([0] + SEQS, device="cuda").cumsum(0)
    fn = next(c for n, c, _ in cases(xb, cu) if n == name)
    tm = triton.testing.do_bench(lambda: fn(mfla))
    tf = triton.testing.do_bench(lambda: fn(fla_ns))
    agree = rel(fn(mfla)[0], fn(fla_ns)[0])
    print(f"| {name} | {'+'.join(map(str, SEQS))} | {tm:.3f} | {tf:.3f} | {tf / tm:.2f}x | o vs fla {agree:.1e}", flush=True)
    del xb
    torch.cuda.empty_cache()

print("\n| decode (gated delta rule, in-kernel gate) | batch | mixc ms/step | fla ms/step | mixc tokens/s | fla tokens/s |")
print("|---|---|---|---|---|---|")
H, D = DECODE
for B in ((1, 64) if "decode" in stages else ()):
    xd = inputs(B, 1, H, D, "cuda")
    state = xd["h0"].clone()
    cases(xd)[3][1](mfla)  # the call once: its Mixer
    gd = mfla._mixers[next(t for t in mfla._mixers if "gated_delta_rule" in t and "A_log" in t)]
    mix = lambda: gd.decode(q=xd["q"], k=xd["k"], v=xd["v"], g=xd["raw"], beta=xd["raw"], A_log=xd["A_log"],  # noqa
                            dt_bias=xd["dt_bias"], state=state)
    fl = lambda: fla_decode(xd["q"], xd["k"], xd["v"], g=xd["raw"], beta=xd["raw"], initial_state=state,  # noqa
                            output_final_state=True, use_qk_l2norm_in_kernel=True, use_gate_in_kernel=True,
                            A_log=xd["A_log"], dt_bias=xd["dt_bias"], use_beta_sigmoid_in_kernel=True)
    tm, tf = triton.testing.do_bench(mix), triton.testing.do_bench(fl)
    print(f"| | {B} | {tm:.4f} | {tf:.4f} | {B / tm * 1e3:,.0f} | {B / tf * 1e3:,.0f} |", flush=True)
print(f"{failures} failures")
sys.exit(1 if failures else 0)
