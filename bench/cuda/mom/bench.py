"""Mixture-of-Memories timed against the same mixture computed densely: every
memory runs over all T tokens with its updates masked where its router did not
choose the token (k, beta and the log-decay zero there: an identity step), then
the readouts are mixed by the router's weights. mixc's MoM (examples/
mom_gated_deltanet.mixer through mixc.torch: the route planned, the tokens of each
memory gathered into sequences of their own, the scan over B x M of them, the mix)
against mixc's raw-input Gated DeltaNet kernel (bench/cuda/gated_delta_rule.mixer)
over B x M sequences of T tokens -- the dense baseline's scan alone, its masking and
mixing (done in torch) not counted. Both outputs are checked against each other.
Usage: DEVICE=cuda|cpu python bench/cuda/mom/bench.py [B,T,H,K [...]]  (M = 4, top 2)
PROFILE=1 (CUDA): also prints torch.profiler's kernel table of one synchronized call of each."""
import os
import sys
import time

import torch
import torch.nn.functional as F

root = os.path.dirname(os.path.abspath(__file__)) + "/../../.."
sys.path.insert(0, root + "/python")
import mixc.torch as mt  # noqa: E402

device = os.environ.get("DEVICE", "cuda")
dtype = torch.bfloat16 if device == "cuda" else torch.float32
M, TOP = 4, 2
shapes = [tuple(int(x) for x in s.split(",")) for s in sys.argv[1:]] or (
    [(4, 4096, 64, 128), (2, 16384, 16, 128)] if device == "cuda" else [(1, 4096, 8, 64)])
mom = mt.load(root + "/examples/mom_gated_deltanet.mixer", verbose=False)
dense = mt.load(root + "/bench/cuda/gated_delta_rule.mixer", verbose=False)


def timed(f, reps):
    f()
    if device == "cuda":
        torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2] * 1e3


print(f"device {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}, {dtype}, M = {M}, top {TOP}")
for B, T, H, K in shapes:
    V = K
    g = torch.Generator().manual_seed(0)
    rn = lambda *s: torch.randn(*s, generator=g)
    q, k, v = rn(B, T, H, K), rn(B, T, TOP, H, K), rn(B, T, TOP, H, V)
    a, beta = rn(B, T, TOP, H), rn(B, T, TOP, H)
    A_log, dt_bias = rn(H) * 0.5, rn(H) * 0.5
    scores = torch.softmax(rn(B, T, M), -1)
    w, route = scores.topk(TOP, -1)
    w = w / w.sum(-1, keepdim=True)
    to = lambda x: x.to(device=device, dtype=dtype)
    ins = [to(x) for x in (q, k, v, a, beta)]
    params = dict(A_log=A_log.to(device), dt_bias=dt_bias.to(device))
    route_d, w_d = route.to(device), to(w)
    run_mom = lambda: mom(*ins, **params, route=route_d, route_weight=w_d, output_final_state=False)
    o_mom = run_mom()[0].float()
    # The dense mixture's operands: pre-processed as the spec does, then each memory's
    # rows over all T tokens, masked where the memory was not chosen.
    qn, kn = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
    gl = -A_log.exp() * F.softplus(a + dt_bias)
    bs = torch.sigmoid(beta)
    Kd, Vd = torch.zeros(B, M, T, H, K), torch.zeros(B, M, T, H, V)
    Gd, Bd = torch.zeros(B, M, T, H), torch.zeros(B, M, T, H)
    for j in range(TOP):
        sel = F.one_hot(route[:, :, j], M).permute(0, 2, 1).bool()  # [B, M, T]
        Kd = torch.where(sel[..., None, None], kn[:, None, :, j], Kd)
        Vd = torch.where(sel[..., None, None], v[:, None, :, j], Vd)
        Gd = torch.where(sel[..., None], gl[:, None, :, j], Gd)
        Bd = torch.where(sel[..., None], bs[:, None, :, j], Bd)
    Qd = qn[:, None].expand(B, M, T, H, K)
    flat = lambda x: to(x.reshape(B * M, T, *x.shape[3:]).contiguous())
    dins = [flat(x) for x in (Qd, Kd, Vd)] + [flat(Gd).float(), flat(Bd)]
    run_dense = lambda: dense(*dins, output_final_state=False)
    od = run_dense()[0].float().reshape(B, M, T, H, V)
    o_dense = sum(w[:, :, j, None, None].to(device) * od[torch.arange(B)[:, None], route[:, :, j], torch.arange(T)]
                  for j in range(TOP))
    err = ((o_mom - o_dense).norm() / o_dense.norm()).item()
    reps = 20 if device == "cuda" else 5
    if os.environ.get("PROFILE") == "1" and device == "cuda":
        from torch.profiler import ProfilerActivity, profile
        for name, fn in (("MoM", run_mom), ("dense", run_dense)):
            fn()
            torch.cuda.synchronize()
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                fn()
                torch.cuda.synchronize()
            print(f"== {name}\n" + prof.key_averages().table(sort_by="cuda_time_total", row_limit=20,
                                                               max_name_column_width=90))
    t_mom, t_dense = timed(run_mom, reps), timed(run_dense, reps)
    counts = F.one_hot(route.reshape(B, -1), M).sum(1)
    print(f"B={B} T={T} H={H} K=V={K}: MoM {t_mom:.2f} ms, dense masked scan {t_dense:.2f} ms: {t_dense / t_mom:.2f}x "
          f"(longest memory {counts.max().item()} of {T} tokens; outputs agree to {err:.1e})")
