"""Grouped GDN through mixc.torch against fla's GVA chunk_gated_delta_rule (in-kernel
l2norm, beta sigmoid and gate) and against mixc on repeat_interleave copies of q/k,
bf16 on the GPU. Run from the repository root with fla's `fla/` in .fla and mixc on
PATH. Results: bench/results/cuda-grouped-h200.md."""
import os, sys, types, importlib
import torch, triton
root = os.getcwd()
sys.path.insert(0, root + "/python")
fla_dir = root + "/.fla"
sys.path.insert(0, fla_dir)
for pkg in ("fla", "fla.ops"):
    m = types.ModuleType(pkg); m.__path__ = [os.path.join(fla_dir, *pkg.split("."))]; m.__version__ = "0.0"; sys.modules[pkg] = m
fla_gdn = importlib.import_module("fla.ops.gated_delta_rule").chunk_gated_delta_rule
import mixc.torch as mt
print("device", torch.cuda.get_device_name(), "torch", torch.__version__, "triton", triton.__version__)
grouped = mt.load(root + "/test/lit/python/Inputs/gdn_gva.mixer", verbose=False)
plain = mt.load(root + "/examples/gated_deltanet.mixer", verbose=False)
rel = lambda a, b: ((a.float() - b.float()).norm() / b.float().norm()).item()
for B, T, H, HV in ((4, 4096, 16, 32), (2, 16384, 8, 32)):
    K = V = 128
    torch.manual_seed(0)
    dev = dict(device="cuda", dtype=torch.bfloat16)
    q, k = torch.randn(B, T, H, K, **dev), torch.randn(B, T, H, K, **dev)
    v, raw = torch.randn(B, T, HV, V, **dev), torch.randn(B, T, HV, **dev)
    A_log = (torch.rand(HV, device="cuda") * 2 - 1).float(); dt_bias = (torch.randn(HV, device="cuda") * 0.5).float()
    h0 = torch.randn(B, HV, K, V, device="cuda") * 0.1
    mix = lambda: grouped(q, k, v, raw, raw, A_log=A_log, dt_bias=dt_bias, initial_state=h0)
    cop = lambda: plain(q.repeat_interleave(HV // H, 2), k.repeat_interleave(HV // H, 2), v, raw, raw, A_log=A_log, dt_bias=dt_bias, initial_state=h0)
    fl = lambda: fla_gdn(q, k, v, raw, raw, initial_state=h0, output_final_state=True, use_qk_l2norm_in_kernel=True,
                         use_beta_sigmoid_in_kernel=True, use_gate_in_kernel=True, A_log=A_log, dt_bias=dt_bias)
    om, sm = mix(); oc, sc = cop()
    print(f"B={B} T={T} H={H} HV={HV} K=V={K} bf16: grouped vs copied q/k: o {rel(om, oc):.1e} state {rel(sm, sc):.1e}")
    tm, tc = triton.testing.do_bench(mix), triton.testing.do_bench(cop)
    try:
        of, sf = fl()
        print(f"  grouped vs fla: o {rel(om, of):.1e} state {rel(sm, sf):.1e}")
        tf = triton.testing.do_bench(fl)
    except Exception as e:
        print("  fla:", type(e).__name__, str(e)[:200]); tf = float("nan")
    print(f"  ms: mixc grouped {tm:.3f}, mixc on repeat_interleave copies {tc:.3f}, fla GVA {tf:.3f}; grouped = {tf / tm:.2f}x fla, {tc / tm:.2f}x the copy")
