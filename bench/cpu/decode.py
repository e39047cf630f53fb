"""Decoding on the CPU: one token per sequence per step, Gated DeltaNet as users
write it (examples/gated_deltanet.mixer: l2norm of q and k, beta's sigmoid, the
gate from A_log and dt_bias), H = 16, K = V = 128, float32 state.

Times, in one process on the same inputs:
- mixc decode: `Mixer.decode`, the state advanced in place;
- mixc forward: the same kernel returning a new final state each step (the
  `fused_recurrent_*(..., initial_state=S, output_final_state=True)` way);
- the anchor: the same step written in PyTorch (eager, in-place state update),
  what a user without a decode kernel writes.
Prints tokens/s (batch x steps / time) and the state traffic (read + write of
the whole state per step) in GB/s. Usage: decode.py [THREADS] [BATCH ...]; the heads and
K = V come from MIXC_DECODE_H and MIXC_DECODE_K (16 and 128 by default)."""
import os
import sys

import torch
import torch.nn.functional as F

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(root, "python"))
import mixc.torch  # noqa: E402
from timing import median_ms  # noqa: E402 (bench/cpu/timing.py)

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
batches = [int(b) for b in sys.argv[2:]] or [1, 64]
torch.set_num_threads(threads)
H = int(os.environ.get("MIXC_DECODE_H", 16))
K = V = int(os.environ.get("MIXC_DECODE_K", 128))
f = mixc.torch.load(os.path.join(root, "examples", "gated_deltanet.mixer"), threads=threads, verbose=False)



print(f"# decode, Gated DeltaNet (examples/gated_deltanet.mixer), H={H}, K=V={K}, fp32 state, {threads} threads, "
      f"torch {torch.__version__}")
print("| batch | mixc decode (in place) ms | tokens/s | state GB/s | mixc forward, new state ms | "
      "PyTorch eager step ms | eager / mixc decode |")
print("|---|---|---|---|---|---|---|")
for B in batches:
    torch.manual_seed(0)
    q, k = torch.randn(B, 1, H, K), torch.randn(B, 1, H, K)
    v = torch.randn(B, 1, H, V)
    a, beta = torch.randn(B, 1, H), torch.randn(B, 1, H)
    A_log, dt_bias = torch.log(torch.rand(H) * 4 + 1), torch.randn(H)
    state = torch.randn(B, H, K, V) * 0.1
    args = dict(q=q, k=k, v=v, a=a, beta=beta, A_log=A_log, dt_bias=dt_bias)

    S_dec = state.clone()
    t_dec = median_ms(lambda: f.decode(**args, state=S_dec), 21)
    t_fwd = median_ms(lambda: f(**args, initial_state=state, output_final_state=True), 21)

    S_eager = state.clone()

    def eager():
        qn, kn = F.normalize(q[:, 0], dim=-1), F.normalize(k[:, 0], dim=-1)
        b = torch.sigmoid(beta[:, 0])
        g = -A_log.exp() * F.softplus(a[:, 0] + dt_bias)
        S_eager.mul_(g.exp()[..., None, None])
        u = v[:, 0] - torch.einsum("bhk,bhkv->bhv", kn, S_eager)
        S_eager.add_(b[..., None, None] * kn[..., :, None] * u[..., None, :])
        return torch.einsum("bhk,bhkv->bhv", qn, S_eager) * K ** -0.5

    t_eager = median_ms(eager, 21)
    # Same step, same numbers (checked on fresh copies).
    S1, S2 = state.clone(), state.clone()
    o1 = f.decode(**args, state=S1)
    S_eager = S2
    o2 = eager()
    err = ((o1[:, 0] - o2).norm() / o2.norm()).item()
    assert err < 1e-4, f"decode and the eager step disagree: {err:.1e}"
    gbs = 2 * state.numel() * 4 / (t_dec * 1e-3) / 1e9
    print(f"| {B} | {t_dec:.3f} | {B / (t_dec * 1e-3):,.0f} | {gbs:.1f} | {t_fwd:.3f} | {t_eager:.3f} | "
          f"{t_eager / t_dec:.2f}x |", flush=True)
