"""Writes inputs as .npy, runs `mixc run --inputs`, and compares o and the
final state with a plain NumPy recurrence (float64)."""
import subprocess
import sys

import numpy as np

examples, work = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
B, T, H, K, V = 2, 33, 3, 8, 5


def logsigmoid(x):
    return -np.log1p(np.exp(-x))


def softplus(x):
    return np.log1p(np.exp(x))


def run(name, inputs):
    d = f"{work}/{name}"
    subprocess.run(["mkdir", "-p", d + "/in"], check=True)
    for k, v in inputs.items():
        np.save(f"{d}/in/{k}.npy", v.astype(np.float64))
    subprocess.run(["mixc", "run", f"{examples}/{name}.mixer", "--inputs", d + "/in", "--out", d + "/out",
                    "--dtype", "f64"], check=True, stdout=subprocess.DEVNULL)
    return np.load(f"{d}/out/o.npy"), np.load(f"{d}/out/final_state.npy")


def scan(q, k, v, decay, S0, bonus=None):
    """decay: [B, T, H, K] multiplicative per key row; bonus u: [H, K]."""
    o = np.zeros((B, T, H, v.shape[-1]))
    S = S0.copy()
    for t in range(T):
        if bonus is not None:
            o[:, t] = np.einsum("bhk,bhkv->bhv", q[:, t], S) + \
                np.einsum("bhk,hk,bhk->bh", q[:, t], bonus, k[:, t])[..., None] * v[:, t]
        S = decay[:, t][..., None] * S + np.einsum("bhk,bhv->bhkv", k[:, t], v[:, t])
        if bonus is None:
            o[:, t] = np.einsum("bhk,bhkv->bhv", q[:, t], S)
    return o, S


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


ok = True
# GLA
q, k, v, g = (rng.standard_normal((B, T, H, d)) for d in (K, K, V, K))
o, S = run("gla", dict(q=q, k=k, v=v, g=g))
ro, rS = scan(q, k, v, np.exp(logsigmoid(g) / 16), np.zeros((B, H, K, V)))
ro *= K ** -0.5
print(f"gla: o rel err {rel(o, ro):.2e} final_state rel err {rel(S, rS):.2e}")
ok &= rel(o, ro) < 1e-10 and rel(S, rS) < 1e-10

# Mamba-2: x[V], B[K], C[K], dt; per-head A_log, dt_bias, D[V] given as [H] and [H, V].
x, Bm, Cm = rng.standard_normal((B, T, H, V)), rng.standard_normal((B, T, H, K)), rng.standard_normal((B, T, H, K))
dt, A_log, dt_bias, D = rng.standard_normal((B, T, H)), rng.standard_normal(H) * 0.5, rng.standard_normal(H) * 0.5, \
    rng.standard_normal((H, V))
o, S = run("mamba2", dict(x=x, B=Bm, C=Cm, dt=dt, A_log=A_log, dt_bias=dt_bias, D=D))
delta = softplus(dt + dt_bias)
decay = np.broadcast_to(np.exp(-np.exp(A_log) * delta)[..., None], (B, T, H, K))
ro, rS = scan(Cm, delta[..., None] * Bm, x, decay, np.zeros((B, H, K, V)))
ro += D * x
print(f"mamba2: o rel err {rel(o, ro):.2e} final_state rel err {rel(S, rS):.2e}")
ok &= rel(o, ro) < 1e-10 and rel(S, rS) < 1e-10

# RWKV-6 with an initial state.
r, k, v, w = (rng.standard_normal((B, T, H, d)) for d in (K, K, V, K))
u, S0 = rng.standard_normal((H, K)), rng.standard_normal((B, H, K, V))
o, S = run("rwkv6", dict(r=r, k=k, v=v, w=w, u=u, init=S0))
ro, rS = scan(r, k, v, np.exp(-np.exp(w)), S0, bonus=u)
print(f"rwkv6: o rel err {rel(o, ro):.2e} final_state rel err {rel(S, rS):.2e}")
ok &= rel(o, ro) < 1e-10 and rel(S, rS) < 1e-10
print("all agree" if ok else "MISMATCH")
sys.exit(0 if ok else 1)
