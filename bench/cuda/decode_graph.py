"""Decoding under CUDA graph capture (the serving case): Mixer.decode of Gated
DeltaNet as users write it (examples/gated_deltanet.mixer, H=16, K=V=128, the
fp32 state updated in place) captured once and replayed, checked bitwise against
eager decoding from the same state over 5 steps, and timed (replay vs eager, same
process). Run from the repository root on a GPU machine: python3 bench/cuda/decode_graph.py"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import torch  # noqa: E402
import mixc.torch  # noqa: E402
f = mixc.torch.load(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "gated_deltanet.mixer"),
                    verbose=False)
H, K = 16, 128
print(torch.cuda.get_device_name(), flush=True)
for B in (1, 64, 256):
    torch.manual_seed(0)
    q, k, v = (torch.randn(B, 1, H, K, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    a, beta = torch.randn(B, 1, H, device="cuda"), torch.randn(B, 1, H, device="cuda")
    A_log, dt_bias = torch.randn(H, device="cuda") * 0.5, torch.randn(H, device="cuda") * 0.5
    S0 = torch.randn(B, H, K, K, device="cuda") * 0.1
    args = dict(q=q, k=k, v=v, a=a, beta=beta, A_log=A_log, dt_bias=dt_bias)
    Sg = S0.clone()
    side = torch.cuda.Stream(); side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            f.decode(**args, state=Sg)
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        og = f.decode(**args, state=Sg)
    Sg.copy_(S0); Se = S0.clone()
    worst = 0.0
    for step in range(5):
        g.replay()
        oe = f.decode(**args, state=Se)
        torch.cuda.synchronize()
        worst = max(worst, (og.float() - oe.float()).abs().max().item(), (Sg - Se).abs().max().item())
    ok = worst == 0.0
    n = 300
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(n):
        g.replay()
    torch.cuda.synchronize(); tg = (time.perf_counter() - t) / n * 1e6
    t = time.perf_counter()
    for _ in range(n):
        f.decode(**args, state=Se)
    torch.cuda.synchronize(); te = (time.perf_counter() - t) / n * 1e6
    print(f"B={B}: graph replay {tg:.1f} us/step, eager {te:.1f} us/step; replay vs eager over 5 steps: "
          f"max |diff| {worst:.1e} {'OK (bitwise)' if ok else 'DIFFERS'}", flush=True)
