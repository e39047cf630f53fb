"""mixc.torch's autograd on CUDA tensors (the CUDA backward, a tensor program):
(1) gradients against mixc's float64 reference (CPU float64 tensors through the
same op), fp32 < 1e-4 and bf16 < 2e-2, odd T, with an initial state and the final
state's gradient, for several examples (parameters' gradients included); the same
inputs twice give bitwise-identical gradients; torch.compile(fullgraph=True) of
forward + backward equal to eager. (2) forward + backward time, bf16, at the two
benchmark shapes, beside fla's chunk_simple_gla / chunk_gla / chunk_delta_rule /
chunk_gated_delta_rule / chunk_kda / chunk_rwkv7 (retnet: chunk_simple_gla's constant g_gamma; kda: given decays; kda_kimi: Kimi Linear's in-kernel
gate, l2norm and beta sigmoid, through mixc.fla.chunk_kda) in the same run (fla's gated backward may refuse on Hopper with
Triton 3.6: then its error is printed; FLA_UNGUARDED=1 lifts that guard to time the kernel
it would run, its gradients unchecked). SPECS=substring picks part (1)'s specs,
FAMS=a,b part (2)'s families.
Run from the repository root on the device, mixc on PATH, fla's `fla/` in .fla.
Results: bench/results/cuda-backward-h200.md."""
import os, sys, types, importlib, time
import torch
root = os.getcwd()
sys.path.insert(0, root + "/python")
import mixc.torch as mt

DEV = os.environ.get("DEVICE", "cuda")  # cpu: a dry run of part (1) on the CPU kernels
print("device", torch.cuda.get_device_name() if DEV == "cuda" else "cpu", "torch", torch.__version__)
rel = lambda a, b: ((a.double() - b.double()).norm() / b.double().norm()).item()
failures = checks = 0


def check(what, err, tol):
    global failures, checks
    checks += 1
    failures += not err < tol
    print(f"  {what}: relative L2 {err:.2e} (< {tol:.0e})  {'OK' if err < tol else 'FAILED'}")


def inputs(spec, B, T, H, K, V, F=None, dtype=torch.float32, device=DEV, seed=0, N=None):
    """Realistic random inputs by the spec's signature (parameters smaller); with
    N, an initial state per packed sequence."""
    g = torch.Generator().manual_seed(seed)
    m = mt.load(spec, verbose=False)
    sizes = {"K": K, "V": V, "F": F or K}
    xs = {}
    for name, dims, per_head in m.signature:
        shape = ((H,) if per_head else (B, T, H)) + tuple(sizes[d] for d in dims)
        xs[name] = (torch.randn(shape, generator=g) * (0.5 if per_head else 1.0))
    xs = {n: x.to(device=device, dtype=dtype) for n, x in xs.items()}
    _, s = m(**xs)  # the state's shape: [B, H, K, V], a normalizer's column last
    s0 = torch.randn((N or s.shape[0],) + tuple(s.shape[1:]), generator=g) * 0.1
    if s.shape[-1] == V + 1:
        s0[..., -1] = s0[..., -1].abs() + 0.5
    return m, xs, s0.to(device)


def run(m, xs, s0, do, dfinal, cu=None):
    leaves = {n: x.clone().requires_grad_() for n, x in xs.items()}
    s0 = s0.clone().requires_grad_()
    o, s = m(**leaves, initial_state=s0, cu_seqlens=cu)
    torch.autograd.backward([o, s], [do.to(o.dtype), dfinal])
    return o.detach(), s.detach(), {n: x.grad for n, x in leaves.items()}, s0.grad


print("(1) gradients on CUDA against the float64 reference")
cases = [("examples/gla.mixer", 2, 37, 2, 16, 16, None), ("examples/simple_gla.mixer", 2, 130, 4, 64, 64, None),
         ("examples/mamba2.mixer", 1, 65, 2, 16, 32, None), ("examples/hedgehog.mixer", 2, 37, 2, 16, 16, 8),
         ("examples/linear_attention_normalized.mixer", 1, 70, 2, 32, 32, None), ("examples/retnet.mixer", 2, 1, 2, 16, 16, None),
         # the low-rank ones: the three sweeps
         ("examples/deltanet.mixer", 2, 37, 2, 16, 16, None), ("examples/gated_deltanet.mixer", 2, 130, 4, 64, 64, None),
         ("examples/kda.mixer", 1, 65, 2, 64, 32, None), ("examples/rwkv7.mixer", 2, 1, 2, 16, 16, None)]
cases = [c for c in cases if os.environ.get("SPECS", "") in c[0]]
for spec, B, T, H, K, V, F in cases if os.environ.get("PARTS", "12").count("1") else []:
    for dtype, tol in ((torch.float32, 1e-4), (torch.bfloat16, 2e-2)):
        m, xs, s0 = inputs(spec, B, T, H, K, V, F, dtype)
        g = torch.Generator().manual_seed(1)
        o_shape = (B, T, H, V)
        do = torch.randn(o_shape, generator=g).to(DEV)
        dfinal = torch.randn(s0.shape, generator=g).to(DEV) * 0.1
        o, s, gx, gs0 = run(m, xs, s0, do.to(dtype), dfinal)
        ref = run(m, {n: x.double().cpu() for n, x in xs.items()}, s0.double().cpu(), do.to(dtype).double().cpu(),
                  dfinal.double().cpu())
        print(f"{spec} B={B},T={T},H={H},K={K},V={V}{f',F={F}' if F else ''} {str(dtype)[6:]}")
        check("o", rel(o.cpu(), ref[0]), tol / 2)
        for n in gx:
            check("d" + n, rel(gx[n].cpu(), ref[2][n]), tol)
        check("dinit", rel(gs0.cpu(), ref[3]), tol)
        if dtype == torch.float32 and spec.endswith("gla.mixer"):
            again = run(m, xs, s0, do, dfinal)
            same = all(torch.equal(gx[n], again[2][n]) for n in gx) and torch.equal(gs0, again[3])
            checks += 1; failures += not same
            print(f"  the same inputs again: gradients bitwise identical  {'OK' if same else 'FAILED'}")
            f = torch.compile(lambda **kw: m(**kw), fullgraph=True)
            leaves = {n: x.clone().requires_grad_() for n, x in xs.items()}
            oc, sc = f(**leaves, initial_state=s0)
            torch.autograd.backward([oc, sc], [do, dfinal])
            same = all(torch.equal(leaves[n].grad, gx[n]) for n in gx)
            checks += 1; failures += not same
            print(f"  torch.compile(fullgraph=True) forward + backward equal to eager  {'OK' if same else 'FAILED'}")

# (1b) Packed sequences (cu_seqlens: 1, 36, 64 and 29 tokens in one row, an
# initial state each): the backward's token ops (shifts, flips, cumulative
# sums, edges) per sequence and the scans' recurrent sweep a CTA row per
# sequence, against the float64 reference run a sequence at a time; at K, V of
# 64 the bf16 calls of GLA, simple GLA, Gated DeltaNet and KDA take the chunked
# backward (a sequence per CTA row, scratch by chunk slot).
CU = [0, 1, 37, 101, 130]
packed_cases = [("examples/gla.mixer", 2, 16, 16, None), ("examples/simple_gla.mixer", 2, 32, 32, None),
                ("examples/mamba2.mixer", 2, 16, 32, None), ("examples/hedgehog.mixer", 2, 16, 16, 8),
                ("examples/linear_attention_normalized.mixer", 2, 32, 32, None),
                ("examples/retnet.mixer", 2, 16, 16, None), ("examples/gated_deltanet.mixer", 2, 64, 64, None),
                ("examples/kda.mixer", 2, 16, 16, None), ("examples/gla.mixer", 2, 64, 64, None),
                ("examples/simple_gla.mixer", 2, 64, 64, None), ("examples/kda.mixer", 2, 64, 64, None)]
packed_cases = [c for c in packed_cases if os.environ.get("SPECS", "") in c[0]]
for spec, H, K, V, F in packed_cases if os.environ.get("PARTS", "12").count("1") else []:
    for dtype, tol in ((torch.float32, 1e-4), (torch.bfloat16, 2e-2)):
        m, xs, s0 = inputs(spec, 1, CU[-1], H, K, V, F, dtype, N=len(CU) - 1)
        cu = torch.tensor(CU, device=DEV)
        g = torch.Generator().manual_seed(1)
        do = torch.randn((1, CU[-1], H, V), generator=g).to(DEV)
        dfinal = torch.randn(s0.shape, generator=g).to(DEV) * 0.1
        o, s, gx, gs0 = run(m, xs, s0, do.to(dtype), dfinal, cu)
        ref = run(m, {n: x.double().cpu() for n, x in xs.items()}, s0.double().cpu(), do.to(dtype).double().cpu(),
                  dfinal.double().cpu(), cu.cpu())
        print(f"{spec} packed {CU},H={H},K={K},V={V}{f',F={F}' if F else ''} {str(dtype)[6:]}")
        check("o", rel(o.cpu(), ref[0]), tol / 2)
        check("final_state", rel(s.cpu(), ref[1]), tol / 2)
        for n in gx:
            check("d" + n, rel(gx[n].cpu(), ref[2][n]), tol)
        check("dinit", rel(gs0.cpu(), ref[3]), tol)
print(f"{checks} checks, {failures} failures")

if DEV != "cuda":
    sys.exit(0)
print("(2) forward + backward, bf16, milliseconds (median of 10 after 3 warm-up calls; peak: one call's allocations, see timed())")
fla_dir = root + "/.fla"
fla = {}
if os.path.isdir(fla_dir) and os.environ.get("FLA", "1") == "1":
    sys.path.insert(0, fla_dir)
    for pkg in ("fla", "fla.ops"):
        mod = types.ModuleType(pkg); mod.__path__ = [os.path.join(fla_dir, *pkg.split("."))]; mod.__version__ = "0.0"; sys.modules[pkg] = mod
    try:
        fla["simple_gla"] = fla["retnet"] = importlib.import_module("fla.ops.simple_gla").chunk_simple_gla
        fla["gla"] = importlib.import_module("fla.ops.gla").chunk_gla
        fla["gated_delta_rule"] = importlib.import_module("fla.ops.gated_delta_rule").chunk_gated_delta_rule
        fla["delta_rule"] = importlib.import_module("fla.ops.delta_rule").chunk_delta_rule
        fla["kda"] = fla["kda_kimi"] = importlib.import_module("fla.ops.kda").chunk_kda
        fla["rwkv7"] = importlib.import_module("fla.ops.rwkv7").chunk_rwkv7
    except Exception as e:
        print("fla import failed:", e)
    if fla and os.environ.get("FLA_UNGUARDED", "0") == "1":
        # Timing only: fla refuses its gated backward on Hopper with Triton < 3.7.1 because
        # that kernel gives wrong gradients there (#640); lifting the guard times the kernel
        # it would run. Such lines say so: fla's gradients in them are not checked.
        importlib.import_module("fla.ops.common.chunk_o").TRITON_ABOVE_3_7_1 = True
        print("fla: the Hopper guard (#640) lifted for timing; its gated gradients are unchecked")


def timed(fn):
    """Median ms of 10 calls after 3 warm-up ones; the peak memory of one call in
    peak_mib: torch's allocations beyond what was live before it, plus device memory
    taken outside torch during the warm-up (mixc's scratch comes from a CUDA memory
    pool of its own, which keeps its high-water mark; loaded modules count too)."""
    global peak_mib
    free0, res0 = torch.cuda.mem_get_info()[0], torch.cuda.memory_reserved()
    for _ in range(3): fn()
    torch.cuda.synchronize()
    outside = max(0, (free0 - torch.cuda.mem_get_info()[0]) - (torch.cuda.memory_reserved() - res0))
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn(); torch.cuda.synchronize()
    peak_mib = (torch.cuda.max_memory_allocated() - base + outside) / 2**20
    ts = []
    for _ in range(10):
        t0 = time.perf_counter(); fn(); torch.cuda.synchronize(); ts.append((time.perf_counter() - t0) * 1e3)
    return sorted(ts)[5]


def kda_calls(B, T, H, K, kimi):
    """KDA through mixc.fla.chunk_kda (a spec built from fla's switches, its gradients the
    compiler's backward) and fla's chunk_kda on the same inputs: given decays (q, k
    L2-normalized, g a per-channel log-decay, beta in (0, 1)) or, with kimi, raw inputs and
    Kimi Linear's in-kernel lower-bound gate, l2norm and beta sigmoid."""
    import mixc.fla as mfla
    dev = dict(device="cuda", dtype=torch.bfloat16)
    torch.manual_seed(0)
    q, k, v = (torch.randn(B, T, H, K, **dev) for _ in range(3))
    do = torch.randn(B, T, H, K, **dev)
    if kimi:
        g, beta = torch.randn(B, T, H, K, **dev), torch.randn(B, T, H, **dev)
        A_log = torch.log(torch.rand(H, device="cuda") * 4 + 1)
        dt_bias = torch.randn(H * K, device="cuda")
        tensors = (q, k, v, g, beta, A_log, dt_bias)
        opts = dict(use_qk_l2norm_in_kernel=True, use_beta_sigmoid_in_kernel=True, use_gate_in_kernel=True,
                    lower_bound=-5.0, safe_gate=True)
    else:
        q, k = (torch.nn.functional.normalize(x.float(), dim=-1).to(x.dtype) for x in (q, k))
        g = torch.nn.functional.logsigmoid(torch.randn(B, T, H, K, **dev)) / 16
        beta = torch.sigmoid(torch.randn(B, T, H, **dev))
        tensors, opts = (q, k, v, g, beta), {}

    def step(fn):
        def call():
            leaves = [x.detach().requires_grad_() for x in tensors]
            named = dict(zip(("A_log", "dt_bias"), leaves[5:]))
            o, _ = fn(*leaves[:5], **named, scale=K ** -0.5, output_final_state=False, **opts)
            o.backward(do)
        return call
    return step(mfla.chunk_kda), step


def rwkv7_calls(B, T, H, K):
    """RWKV-7 through mixc.fla.chunk_rwkv7 (S_t = (Diag(exp(w_t)) + b_t a_t^T) S_{t-1} + k_t v_t^T)
    and fla's chunk_rwkv7 on the same inputs: w in (-0.61, 0) (RWKV-7's -e^-0.5 sigmoid), a = -kk
    and b = kk . sigmoid(x) with kk L2-normalized (its in-context learning rate)."""
    import mixc.fla as mfla
    dev = dict(device="cuda", dtype=torch.bfloat16)
    torch.manual_seed(0)
    r, k, v, do = (torch.randn(B, T, H, K, **dev) for _ in range(4))
    w = (-0.606531 * torch.sigmoid(torch.randn(B, T, H, K, device="cuda"))).to(torch.bfloat16)
    kk = torch.nn.functional.normalize(torch.randn(B, T, H, K, device="cuda"), dim=-1)
    a, b = (-kk).to(torch.bfloat16), (kk * torch.sigmoid(torch.randn(B, T, H, K, device="cuda"))).to(torch.bfloat16)
    tensors = (r, w, k, v, a, b)

    def step(fn):
        def call():
            leaves = [x.detach().requires_grad_() for x in tensors]
            o, _ = fn(*leaves, scale=K ** -0.5, output_final_state=False)
            o.backward(do)
        return call
    return step(mfla.chunk_rwkv7), step


def side_by_side(fam, B, T, H, mixc_step, fla_step):
    """One line: mixc's time and peak, then fla's (None: fla has no such call) and the ratio."""
    try:
        ms = timed(mixc_step)
        line = f"{fam} B={B},T={T},H={H},K=V=128: mixc {ms:.2f} ms (peak {peak_mib:.0f} MiB)"
    except Exception as e:
        line = f"{fam} B={B},T={T},H={H}: mixc failed: {str(e)[:200]}"
    if fla_step is not None:
        try:
            fms = timed(fla_step)
            line += (f", fla {fms:.2f} ms (peak {peak_mib:.0f} MiB; mixc at {fms / ms:.2f}x fla's speed)"
                     if "mixc " in line else f", fla {fms:.2f} ms (peak {peak_mib:.0f} MiB)")
        except Exception as e:
            line += f", fla failed: {type(e).__name__}: {str(e)[:160]}"
    print(line, flush=True)


# Families in FAMS order, each at both shapes (a run cut short still has whole families).
specs = {"simple_gla": "bench/cuda/simple_gla.mixer", "gla": "bench/cuda/gla.mixer", "retnet": "examples/retnet.mixer",
         "delta_rule": "bench/cuda/delta_rule.mixer", "gated_delta_rule": "bench/cuda/gated_delta_rule.mixer"}
for fam in os.environ.get("FAMS", "simple_gla,gla,delta_rule,gated_delta_rule").split(","):
    for B, T, H in ((4, 4096, 64), (2, 16384, 16)):
        K = V = 128
        if fam.startswith("kda") or fam == "rwkv7":
            mixc_step, step = kda_calls(B, T, H, K, fam == "kda_kimi") if fam != "rwkv7" else rwkv7_calls(B, T, H, K)
            side_by_side(fam, B, T, H, mixc_step, step(fla[fam]) if fam in fla else None)
            continue
        spec = specs[fam]
        dev = dict(device="cuda", dtype=torch.bfloat16)
        torch.manual_seed(0)
        q, k, v = (torch.randn(B, T, H, K, **dev) for _ in range(3))
        m = mt.load(spec, verbose=False)
        qf, kf = q, k
        if "delta" in fam:  # fla's delta rules take L2-normalized keys, beta in (0, 1), per-head log-decays
            qf, kf = (torch.nn.functional.normalize(x.float(), dim=-1).to(x.dtype) for x in (q, k))
        gate = torch.nn.functional.logsigmoid(torch.randn(B, T, H, **dev)) / 16 if fam in ("simple_gla", "gated_delta_rule") else \
            torch.nn.functional.logsigmoid(torch.randn(B, T, H, K, **dev)) / 16
        beta = torch.sigmoid(torch.randn(B, T, H, **dev))
        names = m.names
        args = dict(zip(names, (qf, kf, v, beta) if fam == "delta_rule" else (qf, kf, v, gate, beta)))
        # RetNet: a constant decay per head, gamma_h = 1 - 2^(-5-h) (fla's g_gamma: its log)
        g_gamma = torch.log1p(-torch.pow(2.0, -5.0 - torch.arange(H, device="cuda", dtype=torch.float32)))
        do = torch.randn(B, T, H, V, **dev)
        def mixc_step():
            leaves = {n: x.detach().requires_grad_() for n, x in args.items()}
            o, _ = m(**leaves)
            o.backward(do)
        fla_step = None
        if fam in fla:
            def fla_step():
                qq, kk, vv, gg, bb = (x.detach().requires_grad_() for x in (qf, kf, v, gate, beta))
                if fam == "delta_rule":
                    o, _ = fla[fam](qq, kk, vv, bb, scale=K ** -0.5, output_final_state=False)
                elif fam == "gated_delta_rule":
                    o, _ = fla[fam](qq, kk, vv, gg, bb, scale=K ** -0.5, output_final_state=False)
                elif fam == "retnet":
                    o, _ = fla[fam](qq, kk, vv, g_gamma=g_gamma, scale=K ** -0.5, output_final_state=False)
                else:
                    o, _ = fla[fam](qq, kk, vv, gg, scale=K ** -0.5, output_final_state=False)
                o.backward(do)
        side_by_side(fam, B, T, H, mixc_step, fla_step)
