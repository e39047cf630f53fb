"""Emits each spec's CUDA backward (a tensor program, NAME_backward.cu) and checks
its frees from the printed host code alone: no Tensor `tN` is named after
`scratch.release(tN.p)` (freed before a kernel that reads it), none is freed
twice, none is named before it is declared, and no Tensor is declared between a
launch block's `scratch.mark()` and its `scratch.releaseFrom(...)` (what the
launch allocates itself is freed there). Prints one line per spec and a count."""
import os
import re
import subprocess
import sys

out, specs = sys.argv[1], sys.argv[2:]
NAME = re.compile(r"\bt(\d+)\b")
def check(path, name):
    """The errors of one emitted program, and how many Tensors it frees early."""
    body = open(path).read().split(f"int mixc_{name}_backward_cuda(", 1)[1]
    declared, released, in_launch, errors = set(), {}, False, []
    for n, line in enumerate(body.splitlines(), 1):
        m = re.match(r"\s*Tensor t(\d+) = ", line)
        if m:
            declared.add(m.group(1))
            if in_launch:
                errors.append(f"line {n}: t{m.group(1)} declared inside a launch block (freed by its releaseFrom)")
        if "scratch.mark()" in line:
            in_launch = True
        if "scratch.releaseFrom(" in line:
            in_launch = False
        m = re.match(r"\s*scratch\.release\(t(\d+)\.p\);", line)
        if m:
            t = m.group(1)
            if t in released:
                errors.append(f"line {n}: t{t} freed twice (first at line {released[t]})")
            released[t] = n
            continue
        for t in NAME.findall(line):
            if t in released:
                errors.append(f"line {n}: t{t} read after its free at line {released[t]}: {line.strip()[:100]}")
            elif t not in declared:
                errors.append(f"line {n}: t{t} named before its declaration")
    if in_launch:
        errors.append("a launch block's scratch.mark() without its releaseFrom")
    return errors, len(released)


failures, programs, frees = [], 0, 0
for spec in specs:
    name = os.path.splitext(os.path.basename(spec))[0]
    d = os.path.join(out, name)
    K = 16 if "taylor" in open(spec).read() else 64
    r = subprocess.run(["mixc", "emit", spec, "--target=cuda", f"--shape=H=4,K={K},V=64", "-o", d],
                       capture_output=True, text=True)
    path = os.path.join(d, name + "_backward.cu")
    if r.returncode != 0 or not os.path.exists(path):
        continue
    programs += 1
    errors, freed = check(path, name)
    frees += freed
    print(f"{name}: {freed} Tensors freed early" + (f", {len(errors)} errors" if errors else ""))
    failures += [f"{name}: {e}" for e in errors[:5]]
for f in failures:
    print(f)
print(f"{programs} tensor programs, {frees} early frees, {len(failures)} errors")
sys.exit(1 if failures else 0)
