"""One forward + backward of a spec through mixc.torch under torch.profiler,
CUDA time per kernel (bf16, fla's benchmark shape 4 x 4096 x 64 x 128; q and k
L2-normalized, beta in (0, 1), g a log-decay logsigmoid(x) / 16 per head or per
key as the spec declares it). Run from the repository root on the device, mixc
on PATH (bench/cuda/device_env.sh). SPEC=path picks the spec (default
bench/cuda/delta_rule.mixer; any of bench/cuda/*.mixer).
Results: bench/results/cuda-backward-h200.md. (Not named profile.py: that
shadowed Python's own `profile` module for torch_backward.py, run from this
folder.)"""
import os, sys, torch
sys.path.insert(0, os.getcwd() + "/python")
import mixc.torch as mt
from torch.profiler import profile, ProfilerActivity

spec = os.environ.get("SPEC", "bench/cuda/delta_rule.mixer")
B, T, H, K = 4, 4096, 64, 128
dev = dict(device="cuda", dtype=torch.bfloat16)
torch.manual_seed(0)
m = mt.load(spec, verbose=False)
args = {}
for name, dims, per_head in m.signature:
    x = torch.randn(((H,) if per_head else (B, T, H)) + (K,) * len(dims), **dev)
    if name in ("q", "k"):
        x = torch.nn.functional.normalize(x.float(), dim=-1).to(x.dtype)
    elif name == "beta":
        x = torch.sigmoid(x)
    elif name == "g":
        x = torch.nn.functional.logsigmoid(x) / 16
    args[name] = x
do = torch.randn(B, T, H, K, **dev)


def step():
    leaves = {n: x.detach().requires_grad_() for n, x in args.items()}
    o, _ = m(**leaves)
    o.backward(do)


for _ in range(3):
    step()
torch.cuda.synchronize()
with profile(activities=[ProfilerActivity.CUDA]) as prof:
    step()
    torch.cuda.synchronize()
print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=30, max_name_column_width=90))
