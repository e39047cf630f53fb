"""mixc.jax with grouped heads: the grouped spec (q and k with H / G heads) against
the ungrouped one fed q and k repeated per head, outputs and jax.grad's dq, dk.
Usage: grouped_jax_check.py MIXC_SRC GROUPED_SPEC PLAIN_SPEC"""
import sys
sys.path.insert(0, sys.argv[1] + "/python")
import numpy as np, jax, jax.numpy as jnp
import mixc.jax as mj
f = mj.load(sys.argv[2], verbose=False)
g = mj.load(sys.argv[3], verbose=False)
rng = np.random.default_rng(0)
B, T, H, G, K, V = 2, 37, 4, 2, 16, 8
r = lambda *s: jnp.asarray(rng.standard_normal(s), jnp.float32)
q, k, v, a, beta = r(B, T, H // G, K), r(B, T, H // G, K), r(B, T, H, V), r(B, T, H), r(B, T, H)
A_log, dt_bias, s0 = r(H) * 0.5, r(H) * 0.5, r(B, H, K, V) * 0.1
o1, s1 = f(q, k, v, a, beta, A_log=A_log, dt_bias=dt_bias, initial_state=s0)
o2, s2 = g(jnp.repeat(q, G, 2), jnp.repeat(k, G, 2), v, a, beta, A_log=A_log, dt_bias=dt_bias, initial_state=s0)
rel = lambda x, y: float(jnp.linalg.norm(x - y) / jnp.linalg.norm(y))
e = max(rel(o1, o2), rel(s1, s2))
print("jax grouped vs repeated: o and state within %.1e  %s" % (e, "OK" if e < 1e-6 else "FAILED"))
loss = lambda q, k: f(q, k, v, a, beta, A_log=A_log, dt_bias=dt_bias, initial_state=s0)[0].sum()
loss2 = lambda q, k: g(jnp.repeat(q, G, 2), jnp.repeat(k, G, 2), v, a, beta, A_log=A_log, dt_bias=dt_bias, initial_state=s0)[0].sum()
d1, d2 = jax.grad(loss, (0, 1))(q, k), jax.grad(loss2, (0, 1))(q, k)
e = max(rel(d1[0], d2[0]), rel(d1[1], d2[1]))
print("jax grouped gradients vs repeated: dq and dk within %.1e  %s" % (e, "OK" if e < 1e-5 else "FAILED"))
