"""Emits the CPU kernel of every spec for another ISA (--cpu-arch), compiles
it with that ISA's cross compiler and, with --emulator, runs it under the
emulator (qemu-user) on the reference's inputs and checks o and the final
state against the float64 reference (relative L2 < 1e-4).

usage: cross_isa.py ARCH CXX EMULATOR|- RUNTIME_DIR RUNNER_SRC WORK SHAPE spec...
"""
import os
import re
import subprocess
import sys

import numpy as np

arch, cxx, emulator, runtime, runner, work, shape = sys.argv[1:8]
specs = sys.argv[8:]
sizes = dict(kv.split("=") for kv in shape.split(","))
emit_shape = ",".join(f"{k}={v}" for k, v in sizes.items() if k in ("H", "K", "V"))
compiled = runs = failures = backward_compiled = 0
ops = None  # the tensor ops' object


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kw)


for spec in specs:
    name = os.path.basename(spec)[:-len(".mixer")]
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    r = sh(["mixc", "emit", spec, "--target=cpu", f"--cpu-arch={arch}", f"--shape={emit_shape}", "--threads", "2",
            "-o", d + "/src"])
    build = re.search(r"^build: c\+\+ (.*) -c ", r.stdout, re.M)
    if r.returncode != 0 or not build:
        failures += 1
        print(f"FAILED emit {name}:\n{r.stdout}{r.stderr}")
        continue
    flags = build.group(1).split()
    # Compile-only runs check that the kernel builds for the ISA (its vector
    # types and flags): -O1 does that at a third of -O3's time; a kernel that
    # runs under the emulator is built with the flags it ships with.
    compile_flags = ["-O1" if f == "-O3" and emulator == "-" else f for f in flags]
    r = sh([cxx, *compile_flags, "-c", f"{d}/src/{name}.cpp", "-o", f"{d}/{name}.o"])
    if r.returncode != 0:
        failures += 1
        print(f"FAILED compile {name} for {arch}:\n{r.stderr[-3000:]}")
        continue
    compiled += 1
    if ops is None:  # the tile library's tensor ops: the same for every spec, built once
        ops = f"{work}/tensor_ops.o"
        r = sh([cxx, *compile_flags, "-c", f"{d}/src/mixc_cpu_tensor_ops.cpp", "-o", ops])
        if r.returncode != 0:
            failures += 1
            print(f"FAILED compile mixc_cpu_tensor_ops.cpp for {arch}:\n{r.stderr[-3000:]}")
    if emulator == "-":
        continue
    # The derived backward builds for the ISA too (compile-only, -O1).
    if os.path.exists(f"{d}/src/{name}_backward.cpp"):
        r = sh([cxx, *["-O1" if f == "-O3" else f for f in flags], "-c", f"{d}/src/{name}_backward.cpp", "-o",
                f"{d}/{name}_backward.o"])
        if r.returncode != 0:
            failures += 1
            print(f"FAILED compile {name}_backward for {arch}:\n{r.stderr[-3000:]}")
            continue
        backward_compiled += 1
    # The reference on generated inputs, with an initial state.
    r = sh(["mixc", "run", spec, "--target=reference", f"--shape={shape}", "--with-init", "--no-check",
            "--save-inputs", d + "/in", "--out", d + "/ref"])
    # The forward's arguments (the header declares the backward's after them).
    header = open(f"{d}/src/{name}.h").read().split(f"@{name}_backward")[0]
    ins = re.findall(r"inputs\[(\d+)\]\s+(\w+)\s", header)
    outs = re.findall(r"outputs\[(\d+)\]\s+(\w+)\s+\{([^}]*)\}", header)
    args = [f"{d}/in/{n}.npy" if os.path.exists(f"{d}/in/{n}.npy") else "-" for _, n in ins]
    out_args = []
    for _, n, dims in outs:
        ds = [str(eval(x.strip(), {}, {"B": int(sizes["B"]), "N": int(sizes["B"]), "T": int(sizes["T"])})) for x in dims.split(",")]
        out_args.append(f"{n}={','.join(ds)}")
    exe = f"{d}/runner"
    r = sh([cxx, *flags, "-static", f"-DKERNEL=mixc_{name}", f"-I{d}/src", f"-I{runtime}", f"-I{runtime}/..", runner,
            f"{runtime}/Npy.cpp", f"{d}/src/{name}.cpp", ops, "-o", exe])
    if r.returncode != 0:
        failures += 1
        print(f"FAILED link {name}:\n{r.stderr[-3000:]}")
        continue
    os.makedirs(d + "/out", exist_ok=True)
    r = sh([emulator, exe, *args, "--", *out_args, d + "/out"])
    runs += 1
    if r.returncode != 0:
        failures += 1
        print(f"FAILED run {name}:\n{r.stdout}{r.stderr}")
        continue
    for _, n, _ in outs:
        if not os.path.exists(f"{d}/ref/{n}.npy"):
            continue
        got, want = np.load(f"{d}/out/{n}.npy").astype(np.float64), np.load(f"{d}/ref/{n}.npy")
        err = np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-300)
        ok = np.isfinite(err) and err < 1e-4
        print(f"{name} {n} on {arch}: relative L2 {'OK' if ok else f'FAILED {err:.3e}'}")
        failures += 0 if ok else 1
print(f"{arch}: {compiled} compiled, {runs} run, {failures} failures"
      + (f" ({backward_compiled} backward kernels compiled)" if emulator != "-" else ""))
sys.exit(1 if failures else 0)
