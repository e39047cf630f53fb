"""Plots time vs sequence length from bench.py's own output (a log of lines
`gla  2,16384,16,128: mixc 0.780 ms, fla 1.672 ms, ...` and `sdpa 2,16384,16,128:
3.843 ms`), one panel per op: mixc, fla and causal SDPA (flash attention) at the
same shapes, as the plots in fla's and FlashAttention's READMEs.
Usage: plot.py LOG OUT.png"""
import re
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

log, out = sys.argv[1], sys.argv[2]
text = open(log).read()
ops = defaultdict(dict)  # op -> {T: (mixc, fla)}
sdpa = {}
shape_of = {}
for m in re.finditer(r"^(\w+)\s+(\d+),(\d+),(\d+),(\d+): mixc ([\d.]+) ms, fla ([\d.]+) ms", text, re.M):
    op, B, T, H, D = m.group(1), *map(int, m.group(2, 3, 4, 5))
    ops[op][T] = (float(m.group(6)), float(m.group(7)))
    shape_of[T] = (B, H, D)
for m in re.finditer(r"^sdpa (\d+),(\d+),(\d+),(\d+): ([\d.]+) ms", text, re.M):
    sdpa[int(m.group(2))] = float(m.group(5))
if not ops:
    sys.exit(f"no benchmark lines in {log}")
device = re.search(r"^device (.*?),", text, re.M)
commit = re.search(r"^commit (\S+)", text, re.M)
fig, axes = plt.subplots(1, len(ops), figsize=(4.2 * len(ops), 3.8), squeeze=False)
for ax, (op, rows) in zip(axes[0], ops.items()):
    Ts = sorted(rows)
    ax.plot(Ts, [rows[t][0] for t in Ts], "o-", label="mixc (from a spec)")
    ax.plot(Ts, [rows[t][1] for t in Ts], "s--", label="fla (Triton)")
    st = [t for t in Ts if t in sdpa]
    if st:
        ax.plot(st, [sdpa[t] for t in st], "^:", label="SDPA (causal softmax)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(Ts)
    ax.set_xticklabels([f"{t // 1024}K" if t >= 1024 else str(t) for t in Ts])
    ax.set_xlabel("sequence length T (B x T fixed)")
    ax.set_ylabel("forward, ms")
    ax.set_title(op)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
B, H, D = shape_of[Ts[0]]
fig.suptitle(f"bf16 forward, H={H}, K=V={D}, B x T = {B * Ts[0]} tokens"
             f" -- {device.group(1) if device else '?'}, commit {commit.group(1) if commit else '?'}", fontsize=10)
fig.tight_layout()
fig.savefig(out, dpi=120)
print(f"wrote {out}")
