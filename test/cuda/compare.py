"""Compares every case's GPU outputs (out/) with the float64 reference (ref/)
by relative L2 error: fp32 inputs must stay under 1e-4, bf16 and f16 under 1e-2.
NaN (the poison of an unwritten element) never passes."""
import os
import sys

import numpy as np

root = sys.argv[1]
rows, failures = [], 0
for kernel in sorted(os.listdir(root)):
    kd = os.path.join(root, kernel)
    if not os.path.isdir(kd):
        continue
    for case in sorted(os.listdir(kd)):
        cd = os.path.join(kd, case)
        if case == "kernel" or not os.path.isdir(cd):
            continue
        tol = 1e-2 if case.endswith("f16") else 1e-4  # bf16 and f16
        worst, status = 0.0, "ok"
        refs = sorted(f for f in os.listdir(os.path.join(cd, "ref")) if f.endswith(".npy"))
        for f in refs:
            path = os.path.join(cd, "out", f)
            if not os.path.exists(path):
                status = "missing " + f
                break
            ref = np.load(os.path.join(cd, "ref", f)).astype(np.float64)
            out = np.load(path).astype(np.float64)
            if out.shape != ref.shape or not np.all(np.isfinite(out)):
                status = "not finite / wrong shape: " + f
                break
            err = np.linalg.norm(out - ref) / max(np.linalg.norm(ref), 1e-300)
            worst = max(worst, err)
            if err >= tol:
                status = f"{f} error {err:.2e} >= {tol:g}"
        failures += status != "ok"
        rows.append((kernel, case, worst, status))
w = max(len(r[0]) for r in rows) if rows else 10
for k, c, e, s in rows:
    print(f"{k:<{w}}  {c:<16} rel L2 {e:.2e}  {s}")
print(f"{len(rows)} cases, {failures} failures")
sys.exit(1 if failures or not rows else 0)
