"""Packed sequences (cu_seqlens) through the chunked CUDA kernels, on the GPU
machine: for one spec per chunked form (SSD scalar and identity, GLA with its
logsigmoid in the loads, the delta rules' UT, KDA's vector-diagonal UT with
Kimi's gate in the loads, SSD at K = 256), bf16 with an initial state per
sequence, sequences of 1, 36, 663, 70 and 630 tokens (a sequence shorter than a
chunk, ragged last chunks), the walk tiled for 1 SM, 132 and 100000
(MIXC_CUDA_SMS: 128-, 64- and 32-column blocks, the key split, the sequence
split with segments past a short sequence's end, the wgmma walk), each against
mixc's float64 reference of the same packed call (CPU float64 tensors through
the same op). Then the recurrent sweep with the decay maps: unpacked, bf16 at
T = 9 (under a quarter chunk) and fp32 at T = 37. The kernels compile in
parallel first. Run from the repository root with mixc on PATH
(bench/cuda/device_env.sh). Usage: python3 bench/cuda/walk/packed_check.py
[SPEC,...]"""
import os
import sys
import time
from multiprocessing import Pool

sys.path.insert(0, os.getcwd() + "/python")
from mixc import _build  # noqa: E402

CASES = [("mamba2", 64, 128), ("linear_attention", 128, 64), ("gla", 64, 128), ("gated_deltanet", 128, 128),
         ("deltanet", 64, 64), ("kda", 64, 128), ("retnet", 256, 64)]
SMS = [1, 132, 100000]
H = 2
CU = [0, 1, 37, 700, 770, 1400]


def build(a):
    spec, K, V, sms = a
    try:
        _build.build_cuda(f"examples/{spec}.mixer", H, K, V, _build.cuda_arch(), False, sms=sms)
        return f"built {spec} for {sms} SMs"
    except Exception as e:  # noqa: BLE001 (reported, counted below as the call's failure)
        return f"build {spec} for {sms} SMs FAILED {str(e)[-1500:]}"


def inputs(m, shape, K, V, seed):
    import torch
    g = torch.Generator().manual_seed(seed)
    sizes = {"K": K, "V": V, "F": K}
    return {n: torch.randn(((H,) if per_head else shape) + tuple(sizes[d] for d in dims), generator=g) *
            (0.5 if per_head else 1.0) for n, dims, per_head in m.signature}, g


if __name__ == "__main__":
    import torch
    import mixc.torch as mt
    only = sys.argv[1].split(",") if len(sys.argv) > 1 else None
    cases = [c for c in CASES if not only or c[0] in only]
    for spec, K, V in cases:  # the sources once, serially (both kernels of a spec share them)
        for sms in SMS:
            _build.emit(f"examples/{spec}.mixer", H, K, V, "cuda", target="cuda", sms=sms)
    t0 = time.time()
    with Pool(min(16, os.cpu_count() or 1)) as p:
        for r in p.imap_unordered(build, [(s, K, V, sms) for s, K, V in cases for sms in SMS]):
            print(r, flush=True)
    print(f"compiled in {time.time() - t0:.0f} s", flush=True)
    rel = lambda a, b: ((a.double().cpu() - b.double()).norm() / b.double().norm()).item()  # noqa: E731
    failures = 0

    def report(what, o, s, ref, tol):
        global failures
        err = max(rel(o, ref[0]), rel(s, ref[1]))
        failures += not err < tol
        print(f"{what}: o and final state vs float64 {err:.1e}  {'OK' if err < tol else 'FAILED'}", flush=True)

    for spec, K, V in cases:
        m = mt.load(f"examples/{spec}.mixer", verbose=False)
        xs, g = inputs(m, (1, CU[-1], H), K, V, 0)
        s0 = torch.randn(len(CU) - 1, H, K, V, generator=g) * 0.1
        cu = torch.tensor(CU)
        ref = m(**{n: x.to(torch.bfloat16).double() for n, x in xs.items()}, initial_state=s0.double(), cu_seqlens=cu)
        for sms in SMS:
            os.environ["MIXC_CUDA_SMS"] = str(sms)
            o, s = m(**{n: x.to(torch.bfloat16).cuda() for n, x in xs.items()}, initial_state=s0.cuda(),
                     cu_seqlens=cu.cuda())
            report(f"{spec} K={K} V={V} packed {CU}, tiled for {sms} SMs, bf16", o, s, ref, 1e-2)
    os.environ.pop("MIXC_CUDA_SMS", None)
    for spec, K, V in cases:
        m = mt.load(f"examples/{spec}.mixer", verbose=False)
        for T, dt, tol in ((9, torch.bfloat16, 1e-2), (37, torch.float32, 1e-4)):
            xs, g = inputs(m, (2, T, H), K, V, 3)
            s0 = torch.randn(2, H, K, V, generator=g) * 0.1
            ref = m(**{n: x.to(dt).double() for n, x in xs.items()}, initial_state=s0.double())
            o, s = m(**{n: x.to(dt).cuda() for n, x in xs.items()}, initial_state=s0.cuda())
            report(f"{spec} K={K} V={V} B=2 T={T} {str(dt)[6:]} (the recurrent sweep)", o, s, ref, tol)
    print(f"{failures} failures")
    sys.exit(1 if failures else 0)
