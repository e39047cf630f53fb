"""Emits each spec for CUDA (H=4, K=64, V=48, K=16 under a Taylor feature
map: the recurrent and, where the structure allows, the chunked kernel) and compiles it with nvcc, two at a time,
and its derived backward (NAME_backward.cu, a tensor program) where one is printed.

Specs that instantiate the same tile-library kernels differ only in their
printed pre-processing rows, so only the first spec of each kernel set builds
cubins for both sm_90a and sm_80; the others stop at sm_90a's PTX, unoptimized
(the front end checks their rows and host glue; the optimizer, ptxas and sm_80
saw the same kernels already)."""
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

# Options first: --shape=H=..,K=..,V=.. (all specs at that shape, e.g. where the
# chunked backward is instantiated: K and V of 64 or 128), --backward-only.
args = sys.argv[1:]
SHAPE, BACKWARD_ONLY = None, False
while args and args[0].startswith("--"):
    opt = args.pop(0)
    if opt.startswith("--shape="):
        SHAPE = opt
    elif opt == "--backward-only":
        BACKWARD_ONLY = True
    else:
        sys.exit(f"compile_all.py: unknown option {opt}")
nvcc, out, specs = args[0], args[1], args[2:]
LAUNCH = re.compile(r"(scanRecurrent|launch[A-Z]\w*)<[^>]*>")


def launches(path):
    """The tile-library kernels a source launches (its kernel set)."""
    with open(path) as f:
        return tuple(sorted(set(m.group(0) for m in LAUNCH.finditer(f.read()))))


def emit(spec):
    name = os.path.splitext(os.path.basename(spec))[0]
    d = os.path.join(out, os.path.basename(os.path.dirname(spec)) + "-" + name)
    # Specs with `grouped` inputs share each of their rows between 2 heads.
    text = open(spec).read()
    grouped = " grouped" in text
    # The Taylor feature map squares K: Based runs at K = 16 (its paper's
    # feature dimension, 273 features); at 64 (4161) nvcc took 40 s per build.
    K = 16 if "taylor" in text else 64
    shape = SHAPE or f"--shape=H=4,K={K},V=48" + (",G=2" if grouped else "")
    r = subprocess.run(["mixc", "emit", spec, "--target=cuda", shape, "-o", d], capture_output=True, text=True)
    if r.returncode != 0:
        return name, None, f"{name}: emit failed\n{r.stdout}{r.stderr}"
    cu = os.path.join(d, name + ".cu")
    backward = os.path.join(d, name + "_backward.cu")
    if not os.path.exists(backward):
        return name, (cu, launches(cu), None, None), None
    return name, (cu, launches(cu), backward, ("backward",) + launches(backward)), None


def build(job):
    name, cu, full = job
    archs = (["-gencode=arch=compute_90a,code=sm_90a", "-gencode=arch=compute_80,code=sm_80"] if full
             else ["-gencode=arch=compute_90a,code=compute_90a", "-Xcicc", "-O0"])
    r = subprocess.run([nvcc, "-O3", "-std=c++17", *archs, "-c", cu, "-o", cu[:-3] + ".o"],
                       capture_output=True, text=True)
    return None if r.returncode == 0 else f"{name}: nvcc failed\n{r.stdout}{r.stderr}"


errors, jobs, seen = [], [], set()
for name, emitted, error in map(emit, specs):
    if error:
        errors.append(error)
        continue
    cu, kernels, backward, bkernels = emitted
    if not BACKWARD_ONLY:
        jobs.append((name, cu, kernels not in seen))
        seen.add(kernels)
    if backward:  # cubins for both architectures for the first of each kernel set, PTX for the others
        jobs.append((name + "_backward", backward, bkernels not in seen))
        seen.add(bkernels)
with ThreadPoolExecutor(max_workers=2) as pool:
    errors += [e for e in pool.map(build, jobs) if e]
for e in errors:
    print(e)
backwards = sum(j[0].endswith("_backward") for j in jobs)
print(f"{len(specs)} kernels compiled for sm_90a and sm_80 ({len(seen)} distinct kernel sets as cubins), "
      f"{backwards} backward kernels, {len(errors)} failures")
sys.exit(1 if errors else 0)
