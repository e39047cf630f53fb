"""Emits each spec for CUDA (H=4, K=64, V=48: the recurrent and, where the
structure allows, the chunked kernel) and compiles it with nvcc for sm_90a and
sm_80, two at a time."""
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

nvcc, out, specs = sys.argv[1], sys.argv[2], sys.argv[3:]


def build(spec):
    name = os.path.splitext(os.path.basename(spec))[0]
    d = os.path.join(out, name)
    r = subprocess.run(["mixc", "emit", spec, "--target=cuda", "--shape=H=4,K=64,V=48", "-o", d],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return f"{name}: emit failed\n{r.stdout}{r.stderr}"
    r = subprocess.run([nvcc, "-O3", "-std=c++17", "-gencode=arch=compute_90a,code=sm_90a",
                        "-gencode=arch=compute_80,code=sm_80", "-c", os.path.join(d, name + ".cu"),
                        "-o", os.path.join(d, name + ".o")], capture_output=True, text=True)
    if r.returncode != 0:
        return f"{name}: nvcc failed\n{r.stdout}{r.stderr}"
    return None


with ThreadPoolExecutor(max_workers=2) as pool:
    errors = [e for e in pool.map(build, specs) if e]
for e in errors:
    print(e)
print(f"{len(specs)} kernels compiled for sm_90a and sm_80, {len(errors)} failures")
sys.exit(1 if errors else 0)
