"""mixc.jax against what a JAX user writes without it: the recurrence as a
jax.lax.scan over tokens (differentiated by JAX's autodiff), same inputs, same
process, CPU. Times the forward and forward + backward (jax.grad of
sum(o * do) + sum(final_state * dS) with respect to every input), both jitted,
median of --repeats after a warm-up; checks that the two agree.

    PYTHONPATH=python .venv/bin/python bench/jax/bench_jax.py --shape 1,2048,8,64,64
"""
import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import mixc.jax  # noqa: E402

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def l2norm(x):
    return x / jnp.sqrt(jnp.sum(x * x, -1, keepdims=True) + 1e-12)


def scan_gla(q, k, v, g):
    # examples/gla.mixer: g = logsigmoid(g) / 16, S = exp(g) S + k v^T, o = S^T q K^-0.5
    K = q.shape[-1]
    g = jax.nn.log_sigmoid(g) / 16

    def step(S, x):
        qt, kt, vt, gt = x
        S = jnp.exp(gt)[..., None] * S + kt[..., None] * vt[..., None, :]
        return S, jnp.einsum("bhk,bhkv->bhv", qt, S) * K ** -0.5

    B, T, H, _ = q.shape
    S0 = jnp.zeros((B, H, K, v.shape[-1]), q.dtype)
    xs = tuple(jnp.moveaxis(x, 1, 0) for x in (q, k, v, g))
    S, o = jax.lax.scan(step, S0, xs)
    return jnp.moveaxis(o, 0, 1), S


def scan_gated_deltanet(q, k, v, a, beta, A_log, dt_bias):
    # examples/gated_deltanet.mixer: l2norm q and k, beta = sigmoid(beta),
    # g = -exp(A_log) softplus(a + dt_bias), S = exp(g) (I - beta k k^T) S + beta k v^T.
    K = q.shape[-1]
    q, k = l2norm(q), l2norm(k)
    beta = jax.nn.sigmoid(beta)
    g = -jnp.exp(A_log) * jax.nn.softplus(a + dt_bias)

    def step(S, x):
        qt, kt, vt, gt, bt = x
        S = jnp.exp(gt)[..., None, None] * S
        kS = jnp.einsum("bhk,bhkv->bhv", kt, S)
        S = S + (bt[..., None] * kt)[..., None] * (vt - kS)[..., None, :]
        return S, jnp.einsum("bhk,bhkv->bhv", qt, S) * K ** -0.5

    B, T, H, _ = q.shape
    S0 = jnp.zeros((B, H, K, v.shape[-1]), q.dtype)
    xs = tuple(jnp.moveaxis(x, 1, 0) for x in (q, k, v, g, beta))
    S, o = jax.lax.scan(step, S0, xs)
    return jnp.moveaxis(o, 0, 1), S


CASES = {
    "gla": ("examples/gla.mixer", scan_gla),
    "gated_deltanet": ("examples/gated_deltanet.mixer", scan_gated_deltanet),
}


def inputs(name, B, T, H, K, V, rng):
    n = lambda *s: rng.standard_normal(s).astype(np.float32)
    if name == "gla":
        return dict(q=n(B, T, H, K), k=n(B, T, H, K) * K ** -0.5, v=n(B, T, H, V), g=n(B, T, H, K))
    return dict(q=n(B, T, H, K), k=n(B, T, H, K), v=n(B, T, H, V), a=n(B, T, H), beta=n(B, T, H),
                A_log=np.log(rng.uniform(1, 16, H)).astype(np.float32), dt_bias=n(H) * 0.5)


def timed(f, repeats):
    jax.block_until_ready(f())  # compile and warm up
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(f())
        ts.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(ts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="1,2048,8,64,64", help="B,T,H,K,V")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--cases", default="gla,gated_deltanet")
    a = ap.parse_args()
    B, T, H, K, V = map(int, a.shape.split(","))
    rng = np.random.default_rng(0)
    print(f"shape B={B} T={T} H={H} K={K} V={V}, fp32, jax {jax.__version__} on {jax.devices()[0].platform}, "
          f"mixc threads {a.threads}")
    print("| spec | mixc fwd ms | lax.scan fwd ms | x | mixc fwd+bwd ms | lax.scan fwd+bwd ms | x | max rel. diff (o, grads) |")
    print("|---|---|---|---|---|---|---|---|")
    for name in a.cases.split(","):
        spec, scan = CASES[name]
        f = mixc.jax.load(os.path.join(REPO, spec), threads=a.threads)
        x = {n: jnp.asarray(v) for n, v in inputs(name, B, T, H, K, V, rng).items()}
        do = jnp.asarray(rng.standard_normal((B, T, H, V)).astype(np.float32))
        dS = jnp.asarray(rng.standard_normal((B, H, K, V)).astype(np.float32))
        ours = lambda xs: f(**xs)
        ref = lambda xs: scan(**xs)
        loss = lambda g: (lambda xs: jnp.sum(g(xs)[0] * do) + jnp.sum(g(xs)[1] * dS))
        fo, fr = jax.jit(ours), jax.jit(ref)
        go, gr = jax.jit(jax.grad(loss(ours))), jax.jit(jax.grad(loss(ref)))
        diff = [float(jnp.linalg.norm(p - r) / jnp.linalg.norm(r)) for p, r in zip(fo(x), fr(x))]
        gradsO, gradsR = go(x), gr(x)
        diff += [float(jnp.linalg.norm(gradsO[n] - gradsR[n]) / jnp.linalg.norm(gradsR[n])) for n in gradsR]
        t = [timed(lambda: fo(x), a.repeats), timed(lambda: fr(x), a.repeats),
             timed(lambda: go(x), a.repeats), timed(lambda: gr(x), a.repeats)]
        print(f"| {name} | {t[0]:.1f} | {t[1]:.1f} | {t[1] / t[0]:.2f} | {t[2]:.1f} | {t[3]:.1f} | {t[3] / t[2]:.2f} | "
              f"{max(diff):.1e} |", flush=True)


if __name__ == "__main__":
    main()
