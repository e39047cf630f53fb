# Host time of Mixer.decode on CUDA at batch 1 (Gated DeltaNet as users write it, H=16, K=V=128):
# wall per call without syncs, then cProfile of 300 calls (where the host time goes) and
# torch.profiler of 100 (the CUDA runtime calls among them).
import cProfile, pstats, sys, time
sys.path.insert(0, "python")
import torch
import mixc.torch
f = mixc.torch.load("examples/gated_deltanet.mixer", verbose=False)
H, K = 16, 128
dev = "cuda"
for B in (1, 64):
    q, k, v = (torch.randn(B, 1, H, K, device=dev, dtype=torch.bfloat16) for _ in range(3))
    a, beta = torch.randn(B, 1, H, device=dev), torch.randn(B, 1, H, device=dev)
    A_log, dt_bias = torch.randn(H, device=dev), torch.randn(H, device=dev)
    S = torch.randn(B, H, K, K, device=dev) * 0.1
    args = dict(q=q, k=k, v=v, a=a, beta=beta, A_log=A_log, dt_bias=dt_bias)
    for _ in range(20): f.decode(**args, state=S)
    torch.cuda.synchronize()
    n = 500; t = time.perf_counter()
    for _ in range(n): f.decode(**args, state=S)
    host = (time.perf_counter() - t) / n * 1e6
    torch.cuda.synchronize(); wall = (time.perf_counter() - t) / n * 1e6
    print(f"B={B}: host {host:.1f} us/call (launch side), {wall:.1f} us/call with the GPU", flush=True)
    if B == 1:
        pr = cProfile.Profile(); pr.enable()
        for _ in range(300): f.decode(**args, state=S)
        pr.disable(); torch.cuda.synchronize()
        pstats.Stats(pr).sort_stats("tottime").print_stats(14)
        # The CUDA runtime calls of 100 steps (host time each): launches,
        # pointer checks, scratch from the pool.
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(100): f.decode(**args, state=S)
            torch.cuda.synchronize()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=16, max_name_column_width=60))
