"""mixc.torch and mixc.jax on a learned feature map (examples/hedgehog.mixer:
per-head W [K, F] with F other than K, phi(x) = [softmax(W^T x), softmax(-W^T x)],
the sum normalizer): fp32 CPU kernels against the same model written directly in
float64 torch (its autograd for the gradients, dWq and dWk included), odd T and
T = 1, with an initial state; then mixc.jax's forward and jax.grad likewise.
Usage: feature_map_check.py MIXC_SRC SPEC"""
import sys

import numpy as np
import torch

sys.path.insert(0, sys.argv[1] + "/python")
import mixc.torch as mt  # noqa: E402

torch.manual_seed(0)
f = mt.load(sys.argv[2], verbose=False)
failures = checks = 0


def check(what, got, want, tol):
    global failures, checks
    got, want = torch.as_tensor(np.array(got)).double(), torch.as_tensor(np.array(want)).double()
    err = ((got - want).norm() / want.norm()).item()
    checks += 1
    failures += not err < tol
    print(f"{what}: relative L2 {err:.2e} (< {tol:.0e})  {'OK' if err < tol else 'FAILED'}")


def hedgehog(q, k, v, Wq, Wk, s0):
    """The model in plain torch: the state [B, H, 2F, V + 1] (the last column the normalizer z)."""
    def phi(x, W):
        y = torch.einsum("bthk,hkf->bthf", x, W)
        return torch.cat([torch.softmax(y, -1), torch.softmax(-y, -1)], -1)
    fq, fk = phi(q, Wq), phi(k, Wk)
    S, z = s0[..., :-1], s0[..., -1]
    outs = []
    for t in range(q.shape[1]):
        S = S + fk[:, t, :, :, None] * v[:, t, :, None, :]
        z = z + fk[:, t]
        outs.append(torch.einsum("bhkv,bhk->bhv", S, fq[:, t]) / (torch.einsum("bhk,bhk->bh", z, fq[:, t]) + 1e-6)[..., None])
    return torch.stack(outs, 1), torch.cat([S, z[..., None]], -1)


for B, T, H, K, F, V in ((2, 37, 2, 16, 8, 8), (1, 1, 3, 8, 12, 4), (1, 70, 2, 16, 16, 8)):
    f64 = dict(dtype=torch.float64)
    q, k, v = torch.randn(B, T, H, K, **f64), torch.randn(B, T, H, K, **f64), torch.randn(B, T, H, V, **f64)
    Wq, Wk = torch.randn(H, K, F, **f64) * 0.5, torch.randn(H, K, F, **f64) * 0.5
    s0 = torch.rand(B, H, 2 * F, V + 1, **f64)  # positive sums in z
    ins64 = [x.clone().requires_grad_() for x in (q, k, v, Wq, Wk)]
    o64, s64 = hedgehog(*ins64, s0)
    (o64.sum() + (s64 * s64).sum()).backward()
    ins = [x.float().requires_grad_() for x in (q, k, v, Wq, Wk)]
    o, s = f(*ins[:3], Wq=ins[3], Wk=ins[4], initial_state=s0.float(), output_final_state=True)
    (o.sum() + (s * s).sum()).backward()
    name = f"B={B},T={T},H={H},K={K},F={F}"
    check(f"{name} o", o.detach(), o64.detach(), 1e-4)
    check(f"{name} final state", s.detach(), s64.detach(), 1e-4)
    for n, x, x64 in zip(("dq", "dk", "dv", "dWq", "dWk"), ins, ins64):
        check(f"{name} {n}", x.grad, x64.grad, 1e-4)

# mixc.jax: the same kernels through the XLA FFI, forward and jax.grad.
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import mixc.jax as mj  # noqa: E402

g = mj.load(sys.argv[2], verbose=False)
B, T, H, K, F, V = 2, 29, 2, 8, 6, 4
q, k, v = torch.randn(B, T, H, K), torch.randn(B, T, H, K), torch.randn(B, T, H, V)
Wq, Wk = torch.randn(H, K, F) * 0.5, torch.randn(H, K, F) * 0.5
ins64 = [x.double().requires_grad_() for x in (q, k, v, Wq, Wk)]
o64, _ = hedgehog(*ins64, torch.zeros(B, H, 2 * F, V + 1, dtype=torch.float64))
o64.sum().backward()
arrays = [jnp.asarray(x.numpy()) for x in (q, k, v, Wq, Wk)]
o, _ = g(*arrays[:3], Wq=arrays[3], Wk=arrays[4])
check("jax o", o, o64.detach(), 1e-4)
grads = jax.grad(lambda q, Wk: g(q, arrays[1], arrays[2], Wq=arrays[3], Wk=Wk)[0].sum(), argnums=(0, 1))(arrays[0], arrays[4])
check("jax dq", grads[0], ins64[0].grad, 1e-4)
check("jax dWk", grads[1], ins64[4].grad, 1e-4)
print(f"{checks} checks, {failures} failures")
