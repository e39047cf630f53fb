"""Random inputs (NAME.npy) and output-shaped placeholders for ab_headers.sh: DIR SPEC."""
import numpy as np, os, sys
d, spec = sys.argv[1], sys.argv[2]
B, T, H, K, V = 2, 8192, 16, 128, 128
rng = np.random.default_rng(0)
os.makedirs(d + "/in", exist_ok=True); os.makedirs(d + "/ref", exist_ok=True)
f = lambda *s: rng.standard_normal(s).astype(np.float32)
if spec == "gated_deltanet":
    ins = dict(q=f(B, T, H, K), k=f(B, T, H, K), v=f(B, T, H, V), a=f(B, T, H), beta=f(B, T, H), A_log=f(H) * 0.5, dt_bias=f(H) * 0.5)
else:
    ins = dict(q=f(B, T, H, K), k=f(B, T, H, K), v=f(B, T, H, V), g=f(B, T, H, K))
for n, x in ins.items(): np.save(f"{d}/in/{n}.npy", x)
np.save(f"{d}/ref/o.npy", np.zeros((B, T, H, V), np.float32)); np.save(f"{d}/ref/final_state.npy", np.zeros((B, H, K, V), np.float32))
