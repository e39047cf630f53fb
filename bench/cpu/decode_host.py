# The host path of a decoding step on the CPU (mixc.torch, Gated DeltaNet, H=2, K=V=16,
# one thread): tensor descriptors written per call (_descriptors) against once per layout
# (_layout_descriptors, 5013464), alternating 7 times in one process; median and min.
# Usage: python bench/cpu/decode_host.py (from the repository root).
import sys, time, statistics
sys.path.insert(0, "python")
import torch
import mixc.torch as mt
torch.set_num_threads(1)
f = mt.load("examples/gated_deltanet.mixer", verbose=False)
H, K, B = 2, 16, 1
q, k, v = (torch.randn(B, 1, H, K, dtype=torch.bfloat16) for _ in range(3))
a, beta = torch.randn(B, 1, H), torch.randn(B, 1, H)
A_log, dt_bias = torch.randn(H), torch.randn(H)
S = torch.randn(B, H, K, K) * 0.1
args = dict(q=q, k=k, v=v, a=a, beta=beta, A_log=A_log, dt_bias=dt_bias)
cached = mt._layout_descriptors
def run(n=2000):
    for _ in range(50): f.decode(**args, state=S)
    t = time.perf_counter()
    for _ in range(n): f.decode(**args, state=S)
    return (time.perf_counter() - t) / n * 1e6
res = {"per call": [], "per layout": []}
for _ in range(7):
    mt._layout_descriptors = mt._descriptors; res["per call"].append(run())
    mt._layout_descriptors = cached; res["per layout"].append(run())
for name, xs in res.items(): print(f"{name}: median {statistics.median(xs):.1f} us, min {min(xs):.1f} us")
