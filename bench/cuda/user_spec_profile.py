# Kernel tables (torch.profiler, one synchronized call each) of mixc.fla's Gated DeltaNet with
# fla's in-kernel switches, and KDA on given decays and with Kimi's in-kernel gate, at
# 4,4096,64,128, bf16: where the user specs' time goes. Usage (the device, from the repository
# root, after test/cuda/torch_check.py run CACHE ...): python3 bench/cuda/user_spec_profile.py CACHE
import os, sys
cache = os.path.abspath(sys.argv[1]); os.environ["MIXC_CACHE_DIR"] = cache
sys.path.insert(0, "python"); sys.path.insert(0, "test/cuda")
import torch
from torch.profiler import ProfilerActivity, profile
import mixc.fla as mfla
B, T, H, D = 4, 4096, 64, 128
g = torch.Generator().manual_seed(0)
rn = lambda *s: torch.randn(*s, generator=g)
bf = lambda x: x.to("cuda", torch.bfloat16)
q, k, v = bf(rn(B, T, H, D)), bf(rn(B, T, H, D)), bf(rn(B, T, H, D))
raw, rawk = bf(rn(B, T, H)), bf(rn(B, T, H, D))
qn, kn = torch.nn.functional.normalize(q.float(), dim=-1).bfloat16(), torch.nn.functional.normalize(k.float(), dim=-1).bfloat16()
gk = bf(torch.nn.functional.logsigmoid(rn(B, T, H, D)) / 16)
beta = torch.sigmoid(rn(B, T, H)).cuda().bfloat16()
A_log, dt_bias, dtk = torch.log(torch.rand(H, generator=g) * 4 + 1).cuda(), rn(H).cuda(), rn(H * D).cuda()
h0 = (0.1 * rn(B, H, D, D)).cuda()
calls = {
  "gdn in-kernel": lambda: mfla.chunk_gated_delta_rule(q, k, v, raw, raw, initial_state=h0, output_final_state=True, use_qk_l2norm_in_kernel=True, use_beta_sigmoid_in_kernel=True, use_gate_in_kernel=True, A_log=A_log, dt_bias=dt_bias),
  "kda raw": lambda: mfla.chunk_kda(qn, kn, v, gk, beta, initial_state=h0, output_final_state=True),
  "kda kimi": lambda: mfla.chunk_kda(q, k, v, rawk, raw, initial_state=h0, output_final_state=True, use_qk_l2norm_in_kernel=True, use_beta_sigmoid_in_kernel=True, use_gate_in_kernel=True, A_log=A_log, dt_bias=dtk, lower_bound=-5.0, safe_gate=True),
}
for name, f in calls.items():
    try:
        f(); f(); torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            f(); torch.cuda.synchronize()
        print("==", name)
        print(prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=8, max_name_column_width=70))
    except Exception as e:
        print("==", name, "failed:", type(e).__name__, str(e)[:200])
