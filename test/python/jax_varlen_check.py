"""mixc.jax with packed variable-length sequences (cu_seqlens, int32 as JAX
has it without x64, and int64): outputs, final states and jax.grad of every
input (the initial states included) against the same function called on each
sequence alone (B = 1), jitted; an empty sequence keeps its initial state.
Usage: jax_varlen_check.py MIXC OUTDIR SPEC"""
import os
import shutil
import sys

import jax
import jax.numpy as jnp
import numpy as np

os.environ["MIXC"] = shutil.which(sys.argv[1])
os.environ["MIXC_CACHE_DIR"] = sys.argv[2]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from binding_checks import rel  # noqa: E402
import mixc.jax  # noqa: E402

f = mixc.jax.load(sys.argv[3], verbose=False, threads=2)
rng = np.random.default_rng(0)
lens = [5, 0, 1, 9]  # an empty sequence and T = 1 among them
cu = np.concatenate([[0], np.cumsum(lens)])
T, H, K, V = int(cu[-1]), 2, 4, 3
x = dict(q=rng.standard_normal((1, T, H, K)), k=rng.standard_normal((1, T, H, K)), v=rng.standard_normal((1, T, H, V)),
         g=np.log(1 / (1 + np.exp(-rng.standard_normal((1, T, H, K))))) / 16)
x = {n: jnp.asarray(a, jnp.float32) for n, a in x.items()}
h0 = jnp.asarray(0.1 * rng.standard_normal((len(lens), H, K, V)), jnp.float32)
wo = jnp.asarray(rng.standard_normal((1, T, H, V)), jnp.float32)
ws = jnp.asarray(rng.standard_normal((len(lens), H, K, V)), jnp.float32)


def packed_loss(x, h0, cu):
    o, s = f(**x, initial_state=h0, cu_seqlens=cu)
    return jnp.sum(o * wo) + jnp.sum(s * ws), (o, s)


def split_loss(x, h0):
    total, outs, finals = 0.0, [], []
    for n in range(len(lens)):
        a, b = int(cu[n]), int(cu[n + 1])
        if a == b:  # no tokens: the state passes through
            total, s = total + jnp.sum(h0[n] * ws[n]), h0[n][None]
        else:
            o, s = f(**{k: v[:, a:b] for k, v in x.items()}, initial_state=h0[n][None])
            total = total + jnp.sum(o * wo[:, a:b]) + jnp.sum(s[0] * ws[n])
            outs.append(o)
        finals.append(s)
    return total, (jnp.concatenate(outs, 1), jnp.concatenate(finals, 0))


(_, (o_ref, s_ref)), g_ref = jax.value_and_grad(split_loss, argnums=(0, 1), has_aux=True)(x, h0)
failures = 0
# JAX without x64 (the default) has int32 arrays (widened by the FFI shim); with JAX_ENABLE_X64=1, int64.
for dtype in ((jnp.int64,) if jax.config.jax_enable_x64 else (jnp.int32,)):
    cu_arr = jnp.asarray(cu, dtype)
    (_, (o, s)), g = jax.jit(jax.value_and_grad(packed_loss, argnums=(0, 1), has_aux=True))(x, h0, cu_arr)
    errs = {"o": rel(o, o_ref)[0], "final_state": rel(s, s_ref)[0], "dinit": rel(g[1], g_ref[1])[0]}
    errs.update({f"d{n}": rel(g[0][n], g_ref[0][n])[0] for n in x})
    worst = max(errs.values())
    failures += not worst < 1e-5
    print(f"cu_seqlens {jnp.dtype(cu_arr.dtype).name}: outputs, final states and {len(errs) - 2} gradients, "
          f"worst relative L2 {worst:.1e}  {'OK' if worst < 1e-5 else 'FAILED'}")
print(f"{failures} failures")
