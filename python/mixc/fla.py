"""flash-linear-attention's calls with fla's names, signatures and defaults,
computed by mixc (mixc.torch: the generated CPU kernels and their derived
backward; float64 through the reference). Swapping the import is the
migration:

    # from fla.ops.gated_delta_rule import chunk_gated_delta_rule
    from mixc.fla import chunk_gated_delta_rule
    o, ht = chunk_gated_delta_rule(q, k, v, g, beta, initial_state=h0, output_final_state=True,
                                   use_qk_l2norm_in_kernel=True)

Each call writes the recurrence fla computes as a spec (its in-kernel switches
-- l2norm of q and k, beta's sigmoid, the gate from A_log and dt_bias -- as the
spec's pre-processing), compiled once per distinct spec and cached like any
other. Layouts are fla's: [B, T, H, D] inputs, [B, T, H] per-token scalars,
[N, H, K, V] states (float32). `fused_recurrent_*` are the same kernels (the
CPU's recurrent schedule is its decode path). `cu_seqlens` packs variable-
length sequences as in fla (batch 1, states per sequence). What fla accepts
and mixc does not yet (grouped value heads beyond the gated delta rule and
KDA, a value-side gate, a [V, K] state) is an error that says so, never
silently ignored."""
import hashlib
import os

import torch

from . import _build
from . import torch as mixc_torch

_mixers = {}  # spec text -> mixc.torch.Mixer


def _mixer(name, text):
    m = _mixers.get(text)
    if m is None:
        # The file is named after the mixer (its kernels' names), in a
        # directory per spec text.
        d = os.path.join(_build.cache_dir(), "fla-specs", hashlib.sha256(text.encode()).hexdigest()[:16])
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, f"{name}.mixer")
        if not os.path.exists(path):
            tmp = _build._tmp(path)
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, path)
        m = _mixers[text] = mixc_torch.load(path, verbose=False)
    return m


def _scale(scale, K):
    return f"{float(scale):.9g}" if scale is not None else "K^-0.5"


def _common(fn, cu_seqlens, kwargs, q, v, grouped=False):
    if cu_seqlens is not None and q.shape[0] != 1:
        raise ValueError(f"mixc.fla.{fn}: with cu_seqlens the batch size must be 1 (the sequences packed), got"
                         f" {q.shape[0]}")
    if kwargs.get("state_v_first") or kwargs.get("transpose_state_layout"):
        raise NotImplementedError(f"mixc.fla.{fn}: state_v_first (a [V, K] state) is not implemented; states are"
                                  " [N, H, K, V]")
    if "head_first" in kwargs:
        raise DeprecationWarning("head_first has been removed. Inputs must be in `[B, T, H, ...]` format.")
    if q.dim() == 4 and v.dim() == 4 and v.shape[2] != q.shape[2] and not grouped:
        raise NotImplementedError(f"mixc.fla.{fn}: grouped value heads (v has {v.shape[2]} heads, q {q.shape[2]})"
                                  " are not implemented yet")


def _grouped(fn, q, k, v):
    """fla's grouped value attention (v, the gates and the state have HV = G x H heads,
    q and k H; value head hv reads q/k head hv // G): " grouped" for the spec's q and k
    (the kernels read the shared rows in place), "" without grouping."""
    H, HV = q.shape[2], v.shape[2]
    if HV == H:
        return ""
    if HV % H:
        raise ValueError(f"mixc.fla.{fn}: for GVA, num_v_heads (HV={HV}) must be evenly divisible by num_heads (H={H})")
    return " grouped"


def _finish(res, output_final_state):
    o, final = res[0], res[1]
    return o, (final if output_final_state else None)


def _gate_flags(fn, kwargs):
    unknown = set(kwargs) - {"state_v_first", "transpose_state_layout", "cu_seqlens_cpu", "chunk_indices",
                             "cp_context", "chunk_size", "disable_recompute", "safe_gate"}
    if unknown:
        raise TypeError(f"mixc.fla.{fn}: unsupported argument(s) {', '.join(sorted(unknown))}")


def _beta(use_sigmoid, allow_neg_eigval):
    if not use_sigmoid:
        return ""
    return "  beta = 2 * sigmoid(beta)\n" if allow_neg_eigval else "  beta = sigmoid(beta)\n"


def _l2(use):
    return "  q = l2norm(q)\n  k = l2norm(k)\n" if use else ""


# -- gated linear attention ---------------------------------------------------------------

def chunk_gla(q, k, v, g, scale=None, initial_state=None, output_final_state=False, cu_seqlens=None, **kwargs):
    """fla.ops.gla.chunk_gla: S_t = Diag(exp(g_t)) S_{t-1} + k_t v_t^T, o_t = scale * S_t^T q_t (g: [B, T, H, K], log)."""
    _common("chunk_gla", cu_seqlens, kwargs, q, v)
    _gate_flags("chunk_gla", kwargs)
    text = ("mixer gla(q[K], k[K], v[V], g[K]) {\n  S = exp(g) * S + k v^T\n"
            f"  o = S^T q * {_scale(scale, q.shape[-1])}\n}}\n")
    return _finish(_mixer("gla", text)(q, k, v, g, initial_state=initial_state, cu_seqlens=cu_seqlens), output_final_state)


def fused_recurrent_gla(q, k, v, gk=None, gv=None, scale=None, initial_state=None, output_final_state=False,
                        reverse=False, cu_seqlens=None, **kwargs):
    """fla.ops.gla.fused_recurrent_gla (key-side gate gk; gv is not implemented)."""
    _common("fused_recurrent_gla", cu_seqlens, kwargs, q, v)
    _gate_flags("fused_recurrent_gla", kwargs)
    if gv is not None:
        raise NotImplementedError("mixc.fla.fused_recurrent_gla: a value-side gate gv is not implemented yet")
    direction = " reverse" if reverse else ""
    if gk is None:
        text = (f"mixer linear_attention(q[K], k[K], v[V]){direction} {{\n  S = S + k v^T\n"
                f"  o = S^T q * {_scale(scale, q.shape[-1])}\n}}\n")
        return _finish(_mixer("linear_attention", text)(q, k, v, initial_state=initial_state, cu_seqlens=cu_seqlens), output_final_state)
    text = (f"mixer gla(q[K], k[K], v[V], g[K]){direction} {{\n  S = exp(g) * S + k v^T\n"
            f"  o = S^T q * {_scale(scale, q.shape[-1])}\n}}\n")
    return _finish(_mixer("gla", text)(q, k, v, gk, initial_state=initial_state, cu_seqlens=cu_seqlens), output_final_state)


def chunk_simple_gla(q, k, v, g=None, g_gamma=None, scale=None, initial_state=None, output_final_state=False,
                     cu_seqlens=None, reverse=False, **kwargs):
    """fla.ops.simple_gla.chunk_simple_gla: a scalar log-decay per token (g: [B, T, H]) and/or per head (g_gamma: [H])."""
    fn = "chunk_simple_gla"
    _common(fn, cu_seqlens, kwargs, q, v)
    _gate_flags(fn, kwargs)
    direction = " reverse" if reverse else ""
    ins, args, params, decay = ["q[K]", "k[K]", "v[V]"], [q, k, v], "", None
    if g is not None:
        ins.append("g")
        args.append(g)
        decay = "g"
    named = {}
    if g_gamma is not None:
        params = "  param g_gamma\n"
        named["g_gamma"] = g_gamma
        decay = "g + g_gamma" if decay else "g_gamma"
    update = f"exp({decay}) * S + k v^T" if decay else "S + k v^T"
    text = (f"mixer {fn}({', '.join(ins)}){direction} {{\n{params}  S = {update}\n"
            f"  o = S^T q * {_scale(scale, q.shape[-1])}\n}}\n")
    return _finish(_mixer(fn, text)(*args, **named, initial_state=initial_state, cu_seqlens=cu_seqlens), output_final_state)


def fused_recurrent_simple_gla(q, k, v, g=None, g_gamma=None, scale=None, initial_state=None,
                               output_final_state=False, reverse=False, cu_seqlens=None, **kwargs):
    """fla.ops.simple_gla.fused_recurrent_simple_gla (the same kernels as chunk_simple_gla on the CPU)."""
    return chunk_simple_gla(q, k, v, g, g_gamma, scale, initial_state, output_final_state, cu_seqlens, reverse,
                            **kwargs)


# -- delta rules --------------------------------------------------------------------------

def chunk_delta_rule(q, k, v, beta, scale=None, initial_state=None, output_final_state=False,
                     use_qk_l2norm_in_kernel=False, cu_seqlens=None, **kwargs):
    """fla.ops.delta_rule.chunk_delta_rule: S_t = (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T."""
    fn = "chunk_delta_rule"
    _common(fn, cu_seqlens, kwargs, q, v)
    _gate_flags(fn, kwargs)
    text = (f"mixer {fn}(q[K], k[K], v[V], beta) {{\n{_l2(use_qk_l2norm_in_kernel)}"
            "  S = (I - beta * k k^T) S + beta * k v^T\n"
            f"  o = S^T q * {_scale(scale, q.shape[-1])}\n}}\n")
    return _finish(_mixer(fn, text)(q, k, v, beta, initial_state=initial_state, cu_seqlens=cu_seqlens), output_final_state)


fused_recurrent_delta_rule = chunk_delta_rule


def _scalar_gate(fn, use_gate_in_kernel, A_log, dt_bias):
    """The spec lines of fla's in-kernel scalar gate, g = -exp(A_log) * softplus(g + dt_bias)
    (A_log, dt_bias: [H]): (param lines, the parameters by name, the gate line); empty without it."""
    if not use_gate_in_kernel:
        return "", {}, ""
    if A_log is None:
        raise TypeError(f"mixc.fla.{fn}: use_gate_in_kernel=True needs A_log")
    params = "  param A_log\n" + ("  param dt_bias\n" if dt_bias is not None else "")
    named = {"A_log": A_log, **({"dt_bias": dt_bias} if dt_bias is not None else {})}
    return params, named, f"  g = -exp(A_log) * softplus(g{' + dt_bias' if dt_bias is not None else ''})\n"


def chunk_gated_delta_rule(q, k, v, g, beta, scale=None, initial_state=None, output_final_state=False,
                           use_qk_l2norm_in_kernel=False, use_beta_sigmoid_in_kernel=False, allow_neg_eigval=False,
                           cu_seqlens=None, use_gate_in_kernel=False, A_log=None, dt_bias=None, **kwargs):
    """fla.ops.gated_delta_rule.chunk_gated_delta_rule: S_t = exp(g_t) (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T;
    with use_gate_in_kernel, g is raw and the decay is -exp(A_log) * softplus(g + dt_bias) (A_log, dt_bias: [H])."""
    fn = "chunk_gated_delta_rule"
    grp = _grouped(fn, q, k, v)
    _common(fn, cu_seqlens, kwargs, q, v, grouped=bool(grp))
    _gate_flags(fn, kwargs)
    params, named, gate = _scalar_gate(fn, use_gate_in_kernel, A_log, dt_bias)
    text = (f"mixer {fn}(q[K]{grp}, k[K]{grp}, v[V], g, beta) {{\n{params}{_l2(use_qk_l2norm_in_kernel)}"
            f"{_beta(use_beta_sigmoid_in_kernel, allow_neg_eigval)}{gate}"
            "  S = exp(g) * (I - beta * k k^T) S + beta * k v^T\n"
            f"  o = S^T q * {_scale(scale, q.shape[-1])}\n}}\n")
    return _finish(_mixer(fn, text)(q, k, v, g, beta, **named, initial_state=initial_state, cu_seqlens=cu_seqlens), output_final_state)


def fused_recurrent_gated_delta_rule(q, k, v, g=None, gk=None, gv=None, beta=None, scale=None, initial_state=None,
                                     output_final_state=False, use_qk_l2norm_in_kernel=False,
                                     use_gate_in_kernel=False, A_log=None, dt_bias=None,
                                     use_beta_sigmoid_in_kernel=False, allow_neg_eigval=False, cu_seqlens=None,
                                     **kwargs):
    """fla.ops.gated_delta_rule.fused_recurrent_gated_delta_rule: the scalar gate g (raw with
    use_gate_in_kernel), the per-key gate gk [B, T, H, K], or both: the key rows decay by exp(g + gk)
    before the delta update, KDA's transition. gv (a decay along the value columns) is not implemented."""
    fn = "fused_recurrent_gated_delta_rule"
    if gv is not None:
        raise NotImplementedError(f"mixc.fla.{fn}: the gv gate (a decay along the state's value columns) is not"
                                  " implemented yet")
    if beta is None or (g is None and gk is None):
        raise TypeError(f"mixc.fla.{fn}: beta and g or gk are required")
    if gk is None:
        return chunk_gated_delta_rule(q, k, v, g, beta, scale, initial_state, output_final_state,
                                      use_qk_l2norm_in_kernel, use_beta_sigmoid_in_kernel, allow_neg_eigval, cu_seqlens,
                                      use_gate_in_kernel, A_log, dt_bias, **kwargs)
    if g is None:
        if use_gate_in_kernel:
            raise TypeError(f"mixc.fla.{fn}: use_gate_in_kernel=True gates g, and no g was given")
        return chunk_kda(q, k, v, gk, beta, scale, initial_state, output_final_state, use_qk_l2norm_in_kernel,
                         False, use_beta_sigmoid_in_kernel, allow_neg_eigval, None, cu_seqlens, **kwargs)
    grp = _grouped(fn, q, k, v)
    _common(fn, cu_seqlens, kwargs, q, v, grouped=bool(grp))
    _gate_flags(fn, kwargs)
    params, named, gate = _scalar_gate(fn, use_gate_in_kernel, A_log, dt_bias)
    text = (f"mixer {fn}(q[K]{grp}, k[K]{grp}, v[V], g, gk[K], beta) {{\n{params}{_l2(use_qk_l2norm_in_kernel)}"
            f"{_beta(use_beta_sigmoid_in_kernel, allow_neg_eigval)}{gate}"
            "  gk = gk + g\n"
            "  S = (I - beta * k k^T) (exp(gk) * S) + beta * k v^T\n"
            f"  o = S^T q * {_scale(scale, q.shape[-1])}\n}}\n")
    return _finish(_mixer(fn, text)(q, k, v, g, gk, beta, **named, initial_state=initial_state,
                                    cu_seqlens=cu_seqlens), output_final_state)


def chunk_kda(q, k, v, g, beta, scale=None, initial_state=None, output_final_state=False,
              use_qk_l2norm_in_kernel=False, use_gate_in_kernel=False, use_beta_sigmoid_in_kernel=False,
              allow_neg_eigval=False, lower_bound=None, cu_seqlens=None, A_log=None, dt_bias=None, **kwargs):
    """fla.ops.kda.chunk_kda: S_t = (I - beta_t k_t k_t^T) Diag(exp(g_t)) S_{t-1} + beta_t k_t v_t^T (g: [B, T, H, K]);
    with use_gate_in_kernel, g is raw: -exp(A_log) * softplus(g + dt_bias), or with lower_bound
    lower_bound * sigmoid(exp(A_log) * (g + dt_bias)) (A_log: [H], dt_bias: [H * K] or [H, K])."""
    fn = "chunk_kda"
    grp = _grouped(fn, q, k, v)
    _common(fn, cu_seqlens, kwargs, q, v, grouped=bool(grp))
    _gate_flags(fn, kwargs)
    params, named, gate = "", {}, ""
    if use_gate_in_kernel:
        bias = " + dt_bias" if dt_bias is not None else ""
        if A_log is not None:
            params += "  param A_log\n"
            named["A_log"] = A_log
        if dt_bias is not None:
            params += "  param dt_bias[K]\n"
            named["dt_bias"] = dt_bias.reshape(v.shape[2], q.shape[-1])  # per value head
        if lower_bound is None:
            if A_log is None:
                raise TypeError(f"mixc.fla.{fn}: use_gate_in_kernel=True without lower_bound needs A_log")
            gate = f"  g = -exp(A_log) * softplus(g{bias})\n"
        else:
            inner = f"exp(A_log) * (g{bias})" if A_log is not None else f"g{bias}"
            gate = f"  g = {float(lower_bound):.9g} * sigmoid({inner})\n"
    elif lower_bound is not None:
        raise TypeError(f"mixc.fla.{fn}: lower_bound is used only with use_gate_in_kernel=True")
    text = (f"mixer {fn}(q[K]{grp}, k[K]{grp}, v[V], g[K], beta) {{\n{params}{_l2(use_qk_l2norm_in_kernel)}"
            f"{_beta(use_beta_sigmoid_in_kernel, allow_neg_eigval)}{gate}"
            "  S = (I - beta * k k^T) (exp(g) * S) + beta * k v^T\n"
            f"  o = S^T q * {_scale(scale, q.shape[-1])}\n}}\n")
    return _finish(_mixer(fn, text)(q, k, v, g, beta, **named, initial_state=initial_state, cu_seqlens=cu_seqlens), output_final_state)


def fused_recurrent_kda(q, k, v, g, beta, A_log=None, dt_bias=None, scale=None, initial_state=None,
                        output_final_state=False, use_qk_l2norm_in_kernel=False, use_gate_in_kernel=False,
                        use_beta_sigmoid_in_kernel=False, allow_neg_eigval=False, lower_bound=None, cu_seqlens=None,
                        **kwargs):
    """fla.ops.kda.fused_recurrent_kda (the same kernels as chunk_kda on the CPU)."""
    return chunk_kda(q, k, v, g, beta, scale, initial_state, output_final_state, use_qk_l2norm_in_kernel,
                     use_gate_in_kernel, use_beta_sigmoid_in_kernel, allow_neg_eigval, lower_bound, cu_seqlens,
                     A_log, dt_bias, **kwargs)


def chunk_rwkv7(r, w, k, v, a, b, scale=1.0, initial_state=None, output_final_state=False, cu_seqlens=None,
                **kwargs):
    """fla.ops.rwkv7.chunk_rwkv7: S_t = (Diag(exp(w_t)) + b_t a_t^T) S_{t-1} + k_t v_t^T, o_t = scale * S_t^T r_t."""
    fn = "chunk_rwkv7"
    _common(fn, cu_seqlens, kwargs, r, v)
    _gate_flags(fn, kwargs)
    text = (f"mixer {fn}(r[K], w[K], k[K], v[V], a[K], b[K]) {{\n  S = (diag(exp(w)) + b a^T) S + k v^T\n"
            f"  o = S^T r * {_scale(scale, r.shape[-1])}\n}}\n")
    return _finish(_mixer(fn, text)(r, w, k, v, a, b, initial_state=initial_state, cu_seqlens=cu_seqlens), output_final_state)


def fused_recurrent_rwkv7(r, w, k, v, a, b, scale=None, initial_state=None, output_final_state=True, cu_seqlens=None,
                          **kwargs):
    """fla.ops.rwkv7.fused_recurrent_rwkv7 (scale defaults to K^-0.5 here, as in fla)."""
    return chunk_rwkv7(r, w, k, v, a, b, scale if scale is not None else r.shape[-1] ** -0.5, initial_state,
                       output_final_state, cu_seqlens, **kwargs)
