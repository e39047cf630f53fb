"""A small training loop on mixc.torch: a 2-layer model whose token mixer is a
shipped spec (examples/gated_deltanet.mixer by default), trained for a few
steps on an associative-recall task with Adam.

Checks what a user needs before trusting the op in training:
- at the first step, every parameter's gradient from the kernels (float32, and
  bfloat16 mixer inputs) against the same model run in float64 through mixc's
  reference (relative L2 < 1e-4 float32, < 2e-2 bfloat16);
- the loss decreases over the steps.
Usage: train_tiny.py [SPEC] [STEPS]   (run from anywhere; mixc as mixc.torch finds it)"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, ".."))
import mixc.torch  # noqa: E402

spec = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "examples", "gated_deltanet.mixer")
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 40
torch.manual_seed(0)
mixer = mixc.torch.load(spec, verbose=False)
VOCAB, D, H, K, V, T, B = 16, 32, 2, 8, 8, 24, 8


class Block(nn.Module):
    """x -> x + out(mixer(projections of norm(x))), then a small MLP."""

    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(D)
        self.proj = nn.ModuleDict()
        self.params = nn.ParameterDict()
        for name, dims, per_head in mixer.signature:
            width = 1
            for d in dims:
                width *= {"K": K, "V": V}[d]
            if per_head:  # A_log, dt_bias, ...: one value (or vector) per head
                self.params[name] = nn.Parameter(0.5 * torch.rand(H, *[{"K": K, "V": V}[d] for d in dims]))
            else:
                self.proj[name] = nn.Linear(D, H * width, bias=False)
        self.dims = {n: d for n, d, _ in mixer.signature}
        self.out = nn.Linear(H * V, D, bias=False)
        self.mlp = nn.Sequential(nn.LayerNorm(D), nn.Linear(D, 2 * D), nn.GELU(), nn.Linear(2 * D, D))

    def forward(self, x, dtype):
        h = self.norm(x)
        Bx, Tx, _ = x.shape
        args = {}
        for name, lin in self.proj.items():
            y = lin(h).reshape(Bx, Tx, H, -1)
            args[name] = (y if self.dims[name] else y[..., 0]).to(dtype)
        for name, p in self.params.items():
            args[name] = p.to(dtype)
        o, _ = mixer(**args)[:2]
        x = x + self.out(o.to(x.dtype).reshape(Bx, Tx, H * V))
        return x + self.mlp(x)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, D)
        self.blocks = nn.ModuleList([Block(), Block()])
        self.head = nn.Linear(D, VOCAB)

    def forward(self, tokens, dtype=torch.float32):
        x = self.emb(tokens)
        for blk in self.blocks:
            x = blk(x, dtype)
        return self.head(x)


def batch(gen):
    """Associative recall: key/value pairs, then a key again; predict its value."""
    keys = torch.stack([torch.randperm(VOCAB // 2, generator=gen)[: T // 2 - 1] for _ in range(B)])
    vals = torch.randint(VOCAB // 2, VOCAB, keys.shape, generator=gen)
    seq = torch.stack([keys, vals], -1).reshape(B, -1)
    pick = torch.randint(0, keys.shape[1], (B,), generator=gen)
    query = keys[torch.arange(B), pick]
    tokens = torch.cat([seq, query[:, None], torch.zeros(B, 1, dtype=torch.long)], 1)
    return tokens[:, :-1], vals[torch.arange(B), pick]


def loss_of(model, tokens, target, dtype=torch.float32):
    return F.cross_entropy(model(tokens, dtype)[:, -1].float(), target)


def grads(model):
    return {n: p.grad.detach().double().clone() for n, p in model.named_parameters()}


model = Model()
gen = torch.Generator().manual_seed(1)
tokens, target = batch(gen)
failures = 0

# Gradients at the first step: kernels against the float64 reference.
ref = Model().double()
ref.load_state_dict(model.state_dict())
loss_of(ref, tokens, target, torch.float64).backward()
want = grads(ref)
rms = torch.sqrt(torch.mean(torch.cat([w.flatten() ** 2 for w in want.values()])))
for dtype, tol in ((torch.float32, 1e-4), (torch.bfloat16, 2e-2)):
    model.zero_grad()
    loss_of(model, tokens, target, dtype).backward()
    got = grads(model)
    worst, where = 0.0, ""
    ok = True
    for n, w in want.items():
        err = ((got[n] - w).norm() / max(w.norm(), 1e-30)).item()
        absolute = (got[n] - w).norm().item()
        if err > worst:
            worst, where = err, n
        ok &= err < tol or absolute < tol * (w.numel() ** 0.5) * rms.item()
    failures += not ok
    print(f"{str(dtype)[6:]} mixer: every parameter's gradient against float64 (the reference): worst relative L2 "
          f"{worst:.1e} ({where}), tolerance {tol:.0e}  {'OK' if ok else 'FAILED'}")

# A few training steps with the float32 kernels.
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
losses = []
for step in range(steps):
    tokens, target = batch(gen)
    opt.zero_grad()
    loss = loss_of(model, tokens, target)
    loss.backward()
    opt.step()
    losses.append(loss.item())
first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
ok = last < 0.9 * first
failures += not ok
print(f"loss over {steps} steps: {first:.3f} (first 5) -> {last:.3f} (last 5)  {'OK' if ok else 'FAILED'}")
sys.exit(1 if failures else 0)
