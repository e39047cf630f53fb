"""Mixture-of-Memories through mixc.torch (issue 16): examples/mom_gated_deltanet.mixer
and MoM over GLA (test/lit/cpu/Inputs/mom_gla.mixer) against the mixture written
directly in float64 torch -- every memory a state of its own, updated only at the
tokens whose router chose it, each output the router-weighted readouts of the
chosen memories -- outputs, final states and every gradient (route_weight's
included) by torch's autograd; odd T and T = 1, with an initial state; the float64
path (mixc's reference) likewise; torch.compile(fullgraph=True) without graph breaks; bad calls refused by name.
Usage: mom_check.py MIXC_SRC"""
import sys

import torch
import torch.nn.functional as F

src = sys.argv[1]
sys.path.insert(0, src + "/python")
import mixc.torch as mt  # noqa: E402

torch.manual_seed(0)
failures = checks = 0
M, TOP = 4, 2


def check(what, got, want, tol):
    global failures, checks
    err = ((got.double() - want.double()).norm() / want.double().norm()).item()
    checks += 1
    failures += not err < tol
    print(f"{what}: relative L2 {err:.2e} (< {tol:.0e})  {'OK' if err < tol else 'FAILED'}")


def mixture(step, q, route, w, s0, K):
    """o[b, t] = sum_j w[b, t, j] S_m^T q[b, t] * K^-0.5 after `step` updates memory m = route[b, t, j]."""
    B, T = q.shape[:2]
    S = [[s0[b, m] for m in range(M)] for b in range(B)]
    out = []
    for t in range(T):
        o_t = []
        for b in range(B):
            acc = 0
            for j in range(TOP):
                m = int(route[b, t, j])
                S[b][m] = step(S[b][m], b, t, j)
                acc = acc + w[b, t, j] * torch.einsum("hkv,hk->hv", S[b][m], q[b, t]) * K ** -0.5
            o_t.append(acc)
        out.append(torch.stack(o_t))
    return torch.stack(out, 1), torch.stack([torch.stack(S[b]) for b in range(B)])


def mom_gla(q, k, v, g, route, w, s0):
    a = torch.exp(F.logsigmoid(g) / 16)
    return mixture(lambda S, b, t, j: a[b, t, j][..., None] * S + k[b, t, j][..., None] * v[b, t, j][:, None, :],
                   q, route, w, s0, q.shape[-1])


def mom_gdn(q, k, v, a, beta, A_log, dt_bias, route, w, s0):
    q, k, beta = F.normalize(q, dim=-1), F.normalize(k, dim=-1), torch.sigmoid(beta)
    g = -torch.exp(A_log) * F.softplus(a + dt_bias)

    def step(S, b, t, j):
        kk, bb = k[b, t, j], beta[b, t, j][:, None, None]
        S = S - bb * kk[..., None] * torch.einsum("hk,hkv->hv", kk, S)[:, None, :]
        return torch.exp(g[b, t, j])[:, None, None] * S + bb * kk[..., None] * v[b, t, j][:, None, :]

    return mixture(step, q, route, w, s0, q.shape[-1])


def routes(B, T):
    r = torch.stack([torch.stack([torch.randperm(M)[:TOP] for _ in range(T)]) for _ in range(B)])
    return r, torch.softmax(torch.randn(B, T, TOP, dtype=torch.float64), -1)


def run(name, f, model, inputs, params, B, T, H, K, V):
    route, w = routes(B, T)
    s0 = torch.randn(B, M, H, K, V, dtype=torch.float64) * 0.5
    leaves = [x.clone().requires_grad_() for x in (*inputs.values(), *params.values(), w)]
    o64, s64 = model(*leaves[:-1], route, leaves[-1], s0)
    (o64.sum() + (s64 * s64).sum()).backward()
    for dtype, tol in ((torch.float32, 1e-4), (torch.float64, 1e-10)):
        xs = [x.detach().to(dtype).requires_grad_() for x in leaves]
        n = len(inputs)
        o, s = f(*xs[:n], **dict(zip(params, xs[n:-1])), route=route, route_weight=xs[-1],
                 initial_state=s0.to(dtype), output_final_state=True)
        (o.sum() + (s * s).sum()).backward()
        tag = f"{name} B={B},T={T},H={H} {str(dtype)[6:]}"
        check(f"{tag} o", o.detach(), o64.detach(), tol)
        check(f"{tag} final state", s.detach(), s64.detach(), tol)
        names = [f"d{i}" for i in inputs] + [f"d{p}" for p in params] + ["droute_weight"]
        for gname, x, x64 in zip(names, xs, leaves):
            check(f"{tag} {gname}", x.grad, x64.grad, tol)


f64 = dict(dtype=torch.float64)
gla = mt.load(src + "/test/lit/cpu/Inputs/mom_gla.mixer", verbose=False)
gdn = mt.load(src + "/examples/mom_gated_deltanet.mixer", verbose=False)
for B, T, H, K, V in ((2, 37, 2, 8, 4), (1, 1, 2, 8, 4)):
    rn = lambda *s: torch.randn(*s, **f64)
    run("gla", gla, mom_gla, {"q": rn(B, T, H, K), "k": rn(B, T, TOP, H, K), "v": rn(B, T, TOP, H, V),
                              "g": rn(B, T, TOP, H, K)}, {}, B, T, H, K, V)
    run("gated_deltanet", gdn, mom_gdn, {"q": rn(B, T, H, K), "k": rn(B, T, TOP, H, K), "v": rn(B, T, TOP, H, V),
                                         "a": rn(B, T, TOP, H), "beta": rn(B, T, TOP, H)},
        {"A_log": rn(H) * 0.5, "dt_bias": rn(H) * 0.5}, B, T, H, K, V)

# torch.compile: the op traces whole (its fake implementation gives the shapes).
B, T, H, K, V = 2, 21, 2, 8, 4
route, w = routes(B, T)
args = [torch.randn(B, T, H, K), torch.randn(B, T, TOP, H, K), torch.randn(B, T, TOP, H, V), torch.randn(B, T, TOP, H, K)]
compiled = torch.compile(lambda *a: gla(*a, route=route, route_weight=w.float())[0], fullgraph=True)
check("torch.compile(fullgraph=True) o", compiled(*args), gla(*args, route=route, route_weight=w.float())[0], 1e-6)
# Decoding: token by token with the states [B, M, H, K, V] updated in place
# equals the whole sequence at once.
B, T = 2, 5
xs = [torch.randn(B, T, H, K), torch.randn(B, T, TOP, H, K), torch.randn(B, T, TOP, H, V), torch.randn(B, T, TOP, H, K)]
route, w = routes(B, T)
o_all, s_all = gla(*xs, route=route, route_weight=w.float())
state = torch.zeros(B, M, H, K, V)
steps = [gla.decode(*[x[:, t:t + 1] for x in xs], state=state, route=route[:, t:t + 1],
                    route_weight=w[:, t:t + 1].float()) for t in range(T)]
check("decode o", torch.cat(steps, 1), o_all, 1e-5)
check("decode state", state, s_all, 1e-5)

# Bad calls: each a clear error naming what is wrong.
plain = mt.load(src + "/examples/gla.mixer", verbose=False)
B, T = 1, 3
xs = [torch.randn(B, T, H, K), torch.randn(B, T, TOP, H, K), torch.randn(B, T, TOP, H, V), torch.randn(B, T, TOP, H, K)]
route, w = routes(B, T)
bad_route = route.clone()
bad_route[0, 1, 0] = M  # no such memory


def refuses(what, call, error, needle):
    global failures, checks
    checks += 1
    try:
        call()
    except error as e:
        ok = needle in str(e)
        failures += not ok
        print(f"{what}: {type(e).__name__}: {e}  {'OK' if ok else 'FAILED (no ' + repr(needle) + ')'}")
        return
    except Exception as e:  # noqa: BLE001 - the wrong kind of error is a failure too
        print(f"{what}: FAILED ({type(e).__name__}: {e})")
    else:
        print(f"{what}: FAILED (accepted)")
    failures += 1


refuses("no route", lambda: gla(*xs), TypeError, "route")
refuses("route without weights", lambda: gla(*xs, route=route), TypeError, "route_weight")
pq, pv = torch.randn(B, T, H, K), torch.randn(B, T, H, V)
refuses("route to a plain spec", lambda: plain(pq, pq, pv, pq, route=route, route_weight=w.float()), TypeError,
        "not a mixture of memories")
refuses("decode without route", lambda: gla.decode(*[x[:, :1] for x in xs], state=torch.zeros(B, M, H, K, V)),
        TypeError, "route")
refuses("route index out of range", lambda: gla(*xs, route=bad_route, route_weight=w.float()), Exception, "route")

# mixc.jax refuses a mixture (not wired through its FFI yet) with a reason.
try:
    import mixc.jax as mj  # noqa: E402
except ImportError:
    print("jax: not installed")
else:
    try:
        mj.load(src + "/examples/mom_gated_deltanet.mixer", verbose=False)
        print("jax: FAILED (a mixture was accepted)")
        failures += 1
    except NotImplementedError as e:
        print("jax refuses:", e)
print(f"{checks} checks, {failures} failures")
sys.exit(1 if failures else 0)
