"""The CPU backward: forward + backward through mixc.torch (autograd over the
compiled forward and the compiler-derived backward kernels), per spec, with the
recurrences' adjoints as the checkpointed reverse sweep (adjoint="sweep", the
backward mixc had first) and as forward-shaped scans (adjoint="scans", chunked
where the forward kernels are), and what adjoint="auto" picks. Same process,
same inputs, float32, the example specs with their pre-processing, initial
state and final-state gradient included. Usage:
backward.py [THREADS] [B,T,H,K,V] [SPEC ...] (default: 2 threads,
1,4096,8,128,128, the example specs whose recurrences have a diagonal
transition)."""
import os
import sys

import torch

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(root, "python"))
import mixc._build  # noqa: E402
import mixc.torch  # noqa: E402
from timing import median_ms  # noqa: E402 (bench/cpu/timing.py)

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
B, T, H, K, V = (int(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "1,4096,8,128,128").split(","))
specs = sys.argv[3:] or [os.path.join(root, "examples", s + ".mixer")
                         for s in ("simple_gla", "retnet", "mamba2", "gla", "linear_attention")]
torch.set_num_threads(threads)



print(f"| spec | B,T,H,K,V | forward ms | fwd+bwd, sweep ms | fwd+bwd, scans ms | sweep / scans | auto picks |")
print("|---|---|---|---|---|---|---|")
for spec in specs:
    name = os.path.splitext(os.path.basename(spec))[0]
    g = torch.Generator().manual_seed(0)
    times, fwd_ms, picks = {}, None, None
    for adjoint in ("sweep", "scans", "auto"):
        f = mixc.torch.load(spec, threads=threads, verbose=False, adjoint=adjoint)
        dims = {"K": K, "V": V}
        xs = {}
        for n, shape, per_head in f.signature:
            g.manual_seed(hash(n) % 1000)
            if per_head:
                xs[n] = torch.rand(H, *[dims[d] for d in shape], generator=g) * 0.5 + 0.5
            else:
                xs[n] = torch.randn(B, T, H, *[dims[d] for d in shape], generator=g) * 0.5
        init = torch.randn(B, H, K, V, generator=g) * 0.1
        leaves = {n: x.clone().requires_grad_() for n, x in xs.items()}
        s0 = init.clone().requires_grad_()

        def step():
            o, s = f(**leaves, initial_state=s0)[:2]
            (o.sum() + s.sum()).backward()

        if adjoint == "sweep":
            fwd_ms = median_ms(lambda: f(**xs, initial_state=init), 5)
        times[adjoint] = median_ms(step, 5)
        if adjoint == "auto":  # what the compiler chose: the emitted backward source says
            src, kname, _ = mixc._build.emit(spec, H, K, V, adjoint="auto")
            picks = "sweep" if "scanRecurrentGrad<" in open(os.path.join(src, kname + "_backward.cpp")).read() else "scans"
    print(f"| {name} | {B},{T},{H},{K},{V} | {fwd_ms:.1f} | {times['sweep']:.1f} | {times['scans']:.1f} | "
          f"{times['sweep'] / times['scans']:.2f}x | {picks} ({times['auto']:.1f} ms) |", flush=True)
