"""Mixture-of-Memories against the mixture computed densely: every memory runs
over every token in float64 (numpy), updated only where the router chose it,
each token's output the router-weighted readouts of its chosen memories. Runs
`mixc run --inputs` (the reference, then the CPU kernel) on the same inputs.
Usage: mom_dense_check.py SPEC(mom_gla) DIR [mixc run options...]"""
import os
import subprocess
import sys

import numpy as np

spec, work, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
M, TOP = 4, 2
failures = checks = 0


def logsigmoid(x):
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def dense(q, k, v, g, route, w, s0):
    B, T, H, K = q.shape
    S = s0.copy()  # [B, M, H, K, V]
    o = np.zeros(q.shape[:3] + (v.shape[-1],))
    for b in range(B):
        for t in range(T):
            for j in range(TOP):
                m = route[b, t, j]
                a = np.exp(logsigmoid(g[b, t, j]) / 16)  # [H, K]
                S[b, m] = a[:, :, None] * S[b, m] + k[b, t, j][:, :, None] * v[b, t, j][:, None, :]
                o[b, t] += w[b, t, j] * np.einsum("hkv,hk->hv", S[b, m], q[b, t]) * K ** -0.5
    return o, S


def check(what, got, want, tol):
    global failures, checks
    err = np.linalg.norm(got - want) / np.linalg.norm(want)
    checks += 1
    failures += not err < tol
    print(f"{what}: relative L2 {err:.2e} (< {tol:.0e})  {'OK' if err < tol else 'FAILED'}")


rng = np.random.default_rng(0)
for B, T, H, K, V, init in ((2, 37, 2, 8, 5, True), (1, 1, 2, 8, 5, False), (2, 130, 1, 16, 8, True)):
    d = f"{work}/B{B}T{T}"
    os.makedirs(d, exist_ok=True)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32).astype(np.float64)
    q, k, v, g = f32(B, T, H, K), f32(B, T, TOP, H, K), f32(B, T, TOP, H, V), f32(B, T, TOP, H, K)
    route = np.stack([np.stack([rng.permutation(M)[:TOP] for _ in range(T)]) for _ in range(B)])
    w = rng.uniform(0.2, 1.0, (B, T, TOP)).astype(np.float32).astype(np.float64)
    w /= w.sum(-1, keepdims=True)
    w = w.astype(np.float32).astype(np.float64)
    s0 = f32(B, M, H, K, V) * 0.5 if init else np.zeros((B, M, H, K, V))
    for n, x in (("q", q), ("k", k), ("v", v), ("g", g), ("route_weight", w)):
        np.save(f"{d}/{n}.npy", x.astype(np.float32))
    np.save(f"{d}/route.npy", route.astype(np.int64))
    if init:
        np.save(f"{d}/init.npy", s0.astype(np.float32))
    o, S = dense(q, k, v, g, route, w, s0)
    # (the reference computes in float64 and writes float32 files)
    for target, tol in (("reference", 1e-6), ("cpu", 1e-4)):
        out = f"{d}/out-{target}"
        r = subprocess.run(["mixc", "run", spec, f"--target={target}", "--inputs", d, "--out", out, *extra],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAILED: mixc run --target={target}\n{r.stdout}{r.stderr}")
            failures += 1
            continue
        name = f"B={B},T={T},H={H} {target}"
        check(f"{name} o", np.load(f"{out}/o.npy").astype(np.float64), o, tol)
        check(f"{name} final state", np.load(f"{out}/final_state.npy").astype(np.float64), S, tol)
print(f"{checks} checks, {failures} failures")
sys.exit(1 if failures else 0)
