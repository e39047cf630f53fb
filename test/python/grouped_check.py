"""mixc.torch with grouped heads: a spec whose q and k are declared `grouped` (H / G
heads, each shared by G value heads: fla's grouped-value attention) against the
same spec without grouping fed q and k repeated per head, in float64 (the
reference), forward and autograd's gradients, fp32 kernels on the CPU.
Usage: grouped_check.py MIXC_SRC GROUPED_SPEC PLAIN_SPEC"""
import sys

import torch

sys.path.insert(0, sys.argv[1] + "/python")
import mixc.torch as mt  # noqa: E402

torch.manual_seed(0)
grouped, plain = mt.load(sys.argv[2], verbose=False), mt.load(sys.argv[3], verbose=False)
failures = checks = 0


def check(what, got, want, tol):
    global failures, checks
    err = ((got.double() - want.double()).norm() / want.double().norm()).item()
    checks += 1
    failures += not err < tol
    print(f"{what}: relative L2 {err:.2e} (< {tol:.0e})  {'OK' if err < tol else 'FAILED'}")


for B, T, H, G in ((2, 37, 4, 2), (1, 1, 4, 4), (2, 70, 6, 3)):
    K, V = 16, 8
    f64 = dict(dtype=torch.float64)
    q, k = torch.randn(B, T, H // G, K, **f64), torch.randn(B, T, H // G, K, **f64)
    v, a, beta = torch.randn(B, T, H, V, **f64), torch.randn(B, T, H, **f64), torch.randn(B, T, H, **f64)
    A_log, dt_bias = torch.randn(H, **f64) * 0.5, torch.randn(H, **f64) * 0.5
    s0 = torch.randn(B, H, K, V, **f64) * 0.1
    # float64: the reference of the ungrouped spec on repeated rows
    q64, k64 = q.clone().requires_grad_(), k.clone().requires_grad_()
    o64, s64 = plain(q64.repeat_interleave(G, 2), k64.repeat_interleave(G, 2), v, a, beta, A_log=A_log,
                     dt_bias=dt_bias, initial_state=s0)
    (o64.sum() + (s64 * s64).sum()).backward()
    # fp32: the grouped spec's CPU kernels
    q32, k32 = q.float().requires_grad_(), k.float().requires_grad_()
    o, s = grouped(q32, k32, v.float(), a.float(), beta.float(), A_log=A_log.float(), dt_bias=dt_bias.float(),
                   initial_state=s0.float())
    (o.sum() + (s * s).sum()).backward()
    name = f"B={B},T={T},H={H},G={G}"
    check(f"{name} o", o, o64, 1e-4)
    check(f"{name} final state", s, s64, 1e-4)
    check(f"{name} dq", q32.grad, q64.grad, 1e-4)
    check(f"{name} dk", k32.grad, k64.grad, 1e-4)
try:
    grouped(torch.randn(1, 2, 3, 16), torch.randn(1, 2, 3, 16), torch.randn(1, 2, 4, 8), torch.randn(1, 2, 4),
            torch.randn(1, 2, 4), A_log=torch.randn(4), dt_bias=torch.randn(4))
except ValueError as e:
    print("heads that do not divide H:", e)
print(f"{checks} checks, {failures} failures")
