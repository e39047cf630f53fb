"""Prepares the GPU correctness run (test/cuda/check.sh) on a machine with
mixc: for every spec, the CUDA kernel emitted at each tested shape, and cases
of seeded inputs with the float64 reference outputs computed from exactly
those inputs (bf16 cases: inputs rounded to bf16 first).

Usage: make_cases.py MIXC OUT_DIR SPEC...
Writes OUT_DIR/<spec>-<shape>/kernel/ and OUT_DIR/<spec>-<shape>/<case>/{in,ref}.
"""
import os
import shutil
import subprocess
import sys

mixc, out, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
# MIXC_CASE_DTYPES=f16 (a comma-separated list): only the cases of those element types.
dtypes = os.environ.get("MIXC_CASE_DTYPES", "").split(",") if os.environ.get("MIXC_CASE_DTYPES") else None
# (shape, [(T, with init, dtype)]): a small shape with V not a multiple of the
# value block and every length class (1, odd, a chunk and one past it, long),
# and the large head size of the benchmarks.
SHAPES = [
    ("B=2,H=2,K=16,V=24", [(1, True, "f32"), (63, False, "f32"), (64, True, "f32"), (65, True, "f32"),
                           (200, True, "f32"), (100, True, "bf16"), (100, True, "f16")]),
    # 1000 and 777 tokens: enough chunks for the SSD form's sequence split (few heads).
    ("B=1,H=2,K=128,V=128", [(100, True, "f32"), (67, True, "bf16"), (1, True, "bf16"), (150, False, "bf16"),
                             (1000, True, "bf16"), (777, False, "bf16"), (150, True, "f16")]),
    # 64 keys (one state tile per warp) and a value width that leaves a partial block.
    ("B=1,H=1,K=64,V=96", [(130, True, "bf16")]),
    # 256 keys: the SSD forms' widest chunked kernel (scanChunked); the others' recurrent one.
    ("B=1,H=1,K=256,V=64", [(130, True, "bf16"), (64, False, "bf16")]),
]
# Based's Taylor map squares K: at K = 128 its state has 16513 rows.
SKIP = {("based", "B=1,H=2,K=128,V=128"), ("based", "B=1,H=1,K=64,V=96"), ("based", "B=1,H=1,K=256,V=64")}


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout}{r.stderr}")


if os.path.isdir(out):
    shutil.rmtree(out)
n = 0
for spec in specs:
    name = os.path.splitext(os.path.basename(spec))[0]
    for shape, cases in SHAPES:
        if (name, shape) in SKIP or (dtypes and not any(c[2] in dtypes for c in cases)):
            continue
        tag = shape.replace("=", "").replace(",", "_")
        d = os.path.join(out, f"{name}-{tag}")
        hkv = ",".join(x for x in shape.split(",") if not x.startswith("B="))
        run([mixc, "emit", spec, "--target=cuda", f"--shape={hkv}", "-o", os.path.join(d, "kernel")])
        for T, init, dtype in cases:
            if dtypes and dtype not in dtypes:
                continue
            c = os.path.join(d, f"T{T}{'_init' if init else ''}_{dtype}")
            run([mixc, "run", spec, "--target=reference", "--no-check", f"--shape={shape},T={T}", f"--dtype={dtype}",
                 f"--seed={T}", "--save-inputs", os.path.join(c, "in"), "--out", os.path.join(c, "ref")] +
                (["--with-init"] if init else []))
            n += 1
print(f"{n} cases in {out}")
