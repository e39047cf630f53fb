"""mixc.fla's drop-in calls against an independent float64 recurrence written
here from fla's definitions (a token loop in PyTorch, differentiated by
autograd): outputs, final states and the gradients of every input (and the
initial state), float32 kernels at relative L2 < 1e-4 (gradients: or an
absolute floor where one cancels), the float64 call (mixc's reference) at
< 1e-10. Realistic gates: log-decays in (-1, 0), beta in (0, 1), unit keys
where fla's callers normalize them. Usage: fla_check.py MIXC T [T ...]"""
import os
import shutil
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
os.environ["MIXC"] = shutil.which(sys.argv[1])
import mixc.fla as fla  # noqa: E402

checks = failures = 0
B, H, K, V = 2, 2, 4, 3


def naive(q, k, v, transition, write, scale, init, reverse=False):
    """o_t = scale S_t^T q_t, S_t = transition(t, S_{t-1}) + write(t) v_t^T, per (batch, head)."""
    T = q.shape[1]
    S = init.clone() if init is not None else q.new_zeros(q.shape[0], q.shape[2], q.shape[3], v.shape[3])
    o = [None] * T
    for t in (reversed(range(T)) if reverse else range(T)):
        S = transition(t, S) + write(t)[..., :, None] * v[:, t, :, None, :]
        o[t] = scale * torch.einsum("bhkv,bhk->bhv", S, q[:, t])
    return torch.stack(o, 1), S


def rank1(S, x, y):  # x (y^T S) per (batch, head)
    return x[..., :, None] * torch.einsum("bhk,bhkv->bhv", y, S)[..., None, :]


def check(name, call, ref, inputs, T):
    """call(**inputs) and ref(**inputs) -> (o, final); compare outputs and gradients."""
    global checks, failures
    x64 = {n: x.double().requires_grad_() for n, x in inputs.items()}
    o_ref, s_ref = ref(**x64)
    do, ds = torch.randn_like(o_ref), torch.randn_like(s_ref)
    g_ref = torch.autograd.grad((o_ref * do).sum() + (s_ref * ds).sum(), list(x64.values()))
    for dtype, tol in ((torch.float32, 1e-4), (torch.float64, 1e-10)):
        xs = {n: x.detach().to(dtype).requires_grad_() for n, x in x64.items()}
        o, s = call(**xs)
        grads = torch.autograd.grad((o.double() * do).sum() + (s.double() * ds).sum(), list(xs.values()))
        errs = {"o": (o.double() - o_ref).norm() / o_ref.norm(), "final_state": (s.double() - s_ref).norm() / s_ref.norm()}
        rms = torch.sqrt(torch.mean(torch.cat([g.flatten() ** 2 for g in g_ref])))
        ok = all(e < tol for e in errs.values())
        for n, g, w in zip(xs, grads, g_ref):
            err, absolute = ((g.double() - w).norm() / w.norm()).item(), (g.double() - w).norm().item()
            errs["d" + n] = err
            ok &= err < tol or absolute < tol * (w.numel() ** 0.5) * rms.item()
        worst = max(errs, key=errs.get)
        checks += 1
        failures += not ok
        print(f"{name} T={T} {str(dtype)[6:]}: worst relative L2 error {errs[worst]:.2e} ({worst})  "
              f"{'OK' if ok else 'FAILED'}")


def unit(x):
    return F.normalize(x, dim=-1)


for T in [int(t) for t in sys.argv[2:]]:
    torch.manual_seed(T)
    rn = lambda *s: torch.randn(*s, dtype=torch.float64)
    q, k, v = rn(B, T, H, K), rn(B, T, H, K), rn(B, T, H, V)
    h0 = rn(B, H, K, V)
    gk = F.logsigmoid(rn(B, T, H, K)) / 4  # per-key log-decays
    gs = F.logsigmoid(rn(B, T, H))  # per-token scalar log-decays
    beta = torch.sigmoid(rn(B, T, H))
    raw_beta, raw_g = rn(B, T, H), rn(B, T, H)
    A_log, dt_bias = torch.log(torch.rand(H, dtype=torch.float64) * 4 + 1), rn(H)
    dt_bias_k = rn(H * K)

    check("chunk_gla", lambda q, k, v, g, h0: fla.chunk_gla(q, k, v, g, initial_state=h0, output_final_state=True),
          lambda q, k, v, g, h0: naive(q, k, v, lambda t, S: g[:, t].exp()[..., None] * S, lambda t: k[:, t],
                                       K ** -0.5, h0),
          dict(q=q, k=k, v=v, g=gk, h0=h0), T)

    check("fused_recurrent_gla reverse, scale",
          lambda q, k, v, g, h0: fla.fused_recurrent_gla(q, k, v, gk=g, scale=0.3, initial_state=h0,
                                                         output_final_state=True, reverse=True),
          lambda q, k, v, g, h0: naive(q, k, v, lambda t, S: g[:, t].exp()[..., None] * S, lambda t: k[:, t], 0.3,
                                       h0, reverse=True),
          dict(q=q, k=k, v=v, g=gk, h0=h0), T)

    g_gamma = F.logsigmoid(rn(H))
    check("chunk_simple_gla g + g_gamma",
          lambda q, k, v, g, gg, h0: fla.chunk_simple_gla(q, k, v, g=g, g_gamma=gg, initial_state=h0,
                                                          output_final_state=True),
          lambda q, k, v, g, gg, h0: naive(q, k, v, lambda t, S: (g[:, t] + gg).exp()[..., None, None] * S,
                                           lambda t: k[:, t], K ** -0.5, h0),
          dict(q=q, k=k, v=v, g=gs, gg=g_gamma, h0=h0), T)

    def delta(q, k, v, beta, h0, l2):
        if l2:
            q, k = unit(q), unit(k)
        b = beta[..., None]
        return naive(q, k, v, lambda t, S: S - rank1(S, b[:, t] * k[:, t], k[:, t]), lambda t: b[:, t] * k[:, t],
                     K ** -0.5, h0)

    check("chunk_delta_rule use_qk_l2norm_in_kernel",
          lambda q, k, v, beta, h0: fla.chunk_delta_rule(q, k, v, beta, initial_state=h0, output_final_state=True,
                                                         use_qk_l2norm_in_kernel=True),
          lambda q, k, v, beta, h0: delta(q, k, v, beta, h0, True), dict(q=q, k=k, v=v, beta=beta, h0=h0), T)

    def gated_delta(q, k, v, g, beta, h0, l2=False, sig=False, neg=False, A_log=None, dt_bias=None):
        if l2:
            q, k = unit(q), unit(k)
        if sig:
            beta = (2 if neg else 1) * torch.sigmoid(beta)
        if A_log is not None:
            g = -A_log.exp() * F.softplus(g + dt_bias)
        b, a = beta[..., None], g.exp()[..., None, None]
        return naive(q, k, v, lambda t, S: a[:, t] * (S - rank1(S, b[:, t] * k[:, t], k[:, t])),
                     lambda t: b[:, t] * k[:, t], K ** -0.5, h0)

    check("chunk_gated_delta_rule",
          lambda q, k, v, g, beta, h0: fla.chunk_gated_delta_rule(q, k, v, g, beta,
                                                                  initial_state=h0, output_final_state=True),
          lambda q, k, v, g, beta, h0: gated_delta(q, k, v, g, beta, h0),
          dict(q=q, k=unit(k), v=v, g=gs, beta=beta, h0=h0), T)

    check("fused_recurrent_gated_delta_rule (l2norm, beta sigmoid, neg. eigenvalues, gate in kernel)",
          lambda q, k, v, g, beta, A_log, dt_bias, h0: fla.fused_recurrent_gated_delta_rule(
              q, k, v, g=g, beta=beta, initial_state=h0, output_final_state=True, use_qk_l2norm_in_kernel=True,
              use_beta_sigmoid_in_kernel=True, allow_neg_eigval=True, use_gate_in_kernel=True, A_log=A_log,
              dt_bias=dt_bias),
          lambda q, k, v, g, beta, A_log, dt_bias, h0: gated_delta(q, k, v, g, beta, h0, True, True, True, A_log,
                                                                   dt_bias),
          dict(q=q, k=k, v=v, g=raw_g, beta=raw_beta, A_log=A_log, dt_bias=dt_bias, h0=h0), T)

    def kda(q, k, v, g, beta, h0, l2=False, sig=False, A_log=None, dt_bias=None, lower_bound=None):
        if l2:
            q, k = unit(q), unit(k)
        if sig:
            beta = torch.sigmoid(beta)
        if dt_bias is not None:
            x = g + dt_bias.reshape(H, K)
            g = lower_bound * torch.sigmoid(A_log.exp()[:, None] * x) if lower_bound else \
                -A_log.exp()[:, None] * F.softplus(x)
        b, d = beta[..., None], g.exp()[..., None]

        def transition(t, S):
            DS = d[:, t] * S
            return DS - rank1(DS, b[:, t] * k[:, t], k[:, t])
        return naive(q, k, v, transition, lambda t: b[:, t] * k[:, t], K ** -0.5, h0)

    check("chunk_kda",
          lambda q, k, v, g, beta, h0: fla.chunk_kda(q, k, v, g, beta, initial_state=h0, output_final_state=True),
          lambda q, k, v, g, beta, h0: kda(q, k, v, g, beta, h0), dict(q=q, k=unit(k), v=v, g=gk, beta=beta, h0=h0), T)

    check("chunk_kda (l2norm, beta sigmoid, lower-bound gate in kernel)",
          lambda q, k, v, g, beta, A_log, dt_bias, h0: fla.chunk_kda(
              q, k, v, g, beta, initial_state=h0, output_final_state=True, use_qk_l2norm_in_kernel=True,
              use_beta_sigmoid_in_kernel=True, use_gate_in_kernel=True, lower_bound=-5.0, A_log=A_log,
              dt_bias=dt_bias),
          lambda q, k, v, g, beta, A_log, dt_bias, h0: kda(q, k, v, g, beta, h0, True, True, A_log, dt_bias, -5.0),
          dict(q=q, k=k, v=v, g=rn(B, T, H, K), beta=raw_beta, A_log=A_log, dt_bias=dt_bias_k, h0=h0), T)

    # fla's fused_recurrent_gated_delta_rule with a per-key gate gk: alone, the KDA transition; with the
    # scalar gate g (here gated in the kernel), the key rows decay by exp(g + gk).
    check("fused_recurrent_gated_delta_rule (gk)",
          lambda q, k, v, gk, beta, h0: fla.fused_recurrent_gated_delta_rule(
              q, k, v, gk=gk, beta=beta, initial_state=h0, output_final_state=True),
          lambda q, k, v, gk, beta, h0: kda(q, k, v, gk, beta, h0), dict(q=q, k=unit(k), v=v, gk=gk, beta=beta, h0=h0), T)

    check("fused_recurrent_gated_delta_rule (g gated in kernel, gk, l2norm, beta sigmoid)",
          lambda q, k, v, g, gk, beta, A_log, dt_bias, h0: fla.fused_recurrent_gated_delta_rule(
              q, k, v, g=g, gk=gk, beta=beta, initial_state=h0, output_final_state=True, use_qk_l2norm_in_kernel=True,
              use_beta_sigmoid_in_kernel=True, use_gate_in_kernel=True, A_log=A_log, dt_bias=dt_bias),
          lambda q, k, v, g, gk, beta, A_log, dt_bias, h0: kda(
              q, k, v, gk + (-A_log.exp() * F.softplus(g + dt_bias))[..., None], beta, h0, True, True),
          dict(q=q, k=k, v=v, g=raw_g, gk=gk, beta=raw_beta, A_log=A_log, dt_bias=dt_bias, h0=h0), T)

    kk = unit(rn(B, T, H, K))
    check("chunk_rwkv7",
          lambda r, w, k, v, a, b, h0: fla.chunk_rwkv7(r, w, k, v, a, b, initial_state=h0, output_final_state=True),
          lambda r, w, k, v, a, b, h0: naive(r, k, v, lambda t, S: w[:, t].exp()[..., None] * S
                                             + rank1(S, b[:, t], a[:, t]), lambda t: k[:, t], 1.0, h0),
          dict(r=q, w=-0.6 * torch.sigmoid(rn(B, T, H, K)), k=k, v=v, a=-kk, b=kk * torch.sigmoid(rn(B, T, H, K)),
               h0=h0), T)

# Packed variable-length sequences (cu_seqlens, batch 1; an empty sequence and
# one of a single token among them): each sequence as the loop over it alone,
# from its own initial state, final states per sequence.
lens = [3, 0, 5, 1]
cu = torch.tensor([0, 3, 3, 8, 9])
N, Tt = len(lens), int(cu[-1])
torch.manual_seed(1)
rn = lambda *s: torch.randn(*s, dtype=torch.float64)


def per_sequence(loop):
    """A loop over one sequence (inputs [1, T_n, ...], init [1, ...]) -> the packed call's result."""
    def ref(**xs):
        os_, ss = [], []
        for n in range(N):
            s0, s1 = int(cu[n]), int(cu[n + 1])
            part = {k: (x[:, s0:s1] if x.dim() >= 3 and x.shape[:2] == (1, Tt) else x[n:n + 1] if k == "h0" else x)
                    for k, x in xs.items()}
            if s1 == s0:
                ss.append(part["h0"])
                continue
            o, S = loop(**part)
            os_.append(o)
            ss.append(S)
        return torch.cat(os_, 1), torch.cat(ss, 0)
    return ref


q, k, v = rn(1, Tt, H, K), rn(1, Tt, H, K), rn(1, Tt, H, V)
h0 = rn(N, H, K, V)
A_log, dt_bias = torch.log(torch.rand(H, dtype=torch.float64) * 4 + 1), rn(H)
check("chunk_gated_delta_rule cu_seqlens (all in-kernel switches)",
      lambda q, k, v, g, beta, A_log, dt_bias, h0: fla.chunk_gated_delta_rule(
          q, k, v, g, beta, initial_state=h0, output_final_state=True, use_qk_l2norm_in_kernel=True,
          use_beta_sigmoid_in_kernel=True, use_gate_in_kernel=True, A_log=A_log, dt_bias=dt_bias, cu_seqlens=cu),
      per_sequence(lambda q, k, v, g, beta, A_log, dt_bias, h0: gated_delta(q, k, v, g, beta, h0, True, True, False,
                                                                            A_log, dt_bias)),
      dict(q=q, k=k, v=v, g=rn(1, Tt, H), beta=rn(1, Tt, H), A_log=A_log, dt_bias=dt_bias, h0=h0), "packed")
g_gamma = F.logsigmoid(rn(H))
check("chunk_simple_gla cu_seqlens (a per-head decay: its gradient summed over the sequences)",
      lambda q, k, v, g, gg, h0: fla.chunk_simple_gla(q, k, v, g=g, g_gamma=gg, initial_state=h0,
                                                      output_final_state=True, cu_seqlens=cu),
      per_sequence(lambda q, k, v, g, gg, h0: naive(q, k, v, lambda t, S: (g[:, t] + gg).exp()[..., None, None] * S,
                                                    lambda t: k[:, t], K ** -0.5, h0)),
      dict(q=q, k=k, v=v, g=F.logsigmoid(rn(1, Tt, H)), gg=g_gamma, h0=h0), "packed")
kk = unit(rn(1, Tt, H, K))
check("fused_recurrent_rwkv7 cu_seqlens",
      lambda r, w, k, v, a, b, h0: fla.fused_recurrent_rwkv7(r, w, k, v, a, b, scale=1.0, initial_state=h0,
                                                             output_final_state=True, cu_seqlens=cu),
      per_sequence(lambda r, w, k, v, a, b, h0: naive(r, k, v, lambda t, S: w[:, t].exp()[..., None] * S
                                                      + rank1(S, b[:, t], a[:, t]), lambda t: k[:, t], 1.0, h0)),
      dict(r=q, w=-0.6 * torch.sigmoid(rn(1, Tt, H, K)), k=k, v=v, a=-kk, b=kk * torch.sigmoid(rn(1, Tt, H, K)),
           h0=h0), "packed")

# Grouped value attention (fla's GVA: v, the gates and the state have HV = 2 H
# heads; value head hv reads q/k head hv // 2; mixc's spec declares q and k
# `grouped`): against the loop with q and k repeated.
HV = 2 * H
q2, k2 = rn(B, 5, H, K), rn(B, 5, H, K)
v2, h2 = rn(B, 5, HV, V), rn(B, HV, K, V)
rep = lambda x: x.repeat_interleave(2, dim=2)  # noqa: E731
check("chunk_gated_delta_rule GVA (HV = 2 H; in-kernel switches)",
      lambda q, k, v, g, beta, A_log, dt_bias, h0: fla.chunk_gated_delta_rule(
          q, k, v, g, beta, initial_state=h0, output_final_state=True, use_qk_l2norm_in_kernel=True,
          use_beta_sigmoid_in_kernel=True, use_gate_in_kernel=True, A_log=A_log, dt_bias=dt_bias),
      lambda q, k, v, g, beta, A_log, dt_bias, h0: gated_delta(rep(q), rep(k), v, g, beta, h0, True, True, False,
                                                               A_log, dt_bias),
      dict(q=q2, k=k2, v=v2, g=rn(B, 5, HV), beta=rn(B, 5, HV), A_log=torch.log(torch.rand(HV, dtype=torch.float64)
           * 4 + 1), dt_bias=rn(HV), h0=h2), 5)
check("chunk_kda GVA (HV = 2 H)",
      lambda q, k, v, g, beta, h0: fla.chunk_kda(q, k, v, g, beta, initial_state=h0, output_final_state=True),
      lambda q, k, v, g, beta, h0: kda(rep(q), rep(k), v, g, beta, h0),
      dict(q=q2, k=unit(k2), v=v2, g=F.logsigmoid(rn(B, 5, HV, K)) / 4, beta=torch.sigmoid(rn(B, 5, HV)), h0=h2), 5)

print(f"{checks} checks, {failures} failures")
sys.exit(1 if failures else 0)
