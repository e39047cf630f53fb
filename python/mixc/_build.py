"""Compiles a spec's CPU kernels (forward and the compiler-derived backward)
into one shared library with the XLA FFI handlers, cached on disk.

The sizes H, K, V are compile-time constants of the kernels, so one library
is built per (spec, H, K, V, ISA); B and T stay run-time. The cache key is a
hash of the spec's text, the sizes, the ISA, the mixc binary and the shim, so
the second process start finds the library without running the compiler."""
import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

_HERE = os.path.dirname(os.path.abspath(__file__))


def mixc_binary():
    """The `mixc` driver: $MIXC, else next to this checkout's build, else PATH."""
    if os.environ.get("MIXC"):
        return os.environ["MIXC"]
    repo = os.path.dirname(os.path.dirname(_HERE))
    built = os.path.join(repo, "build", "bin", "mixc")
    if os.path.exists(built):
        return built
    found = shutil.which("mixc")
    if not found:
        raise RuntimeError("mixc: no `mixc` binary (build it, put it on PATH or set MIXC=/path/to/mixc)")
    return found


def cache_dir():
    return os.environ.get("MIXC_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "mixc")


@dataclass
class Operand:
    name: str
    dims: list  # ints and the symbols "B", "T"
    per_head: bool = False
    optional: bool = False


@dataclass
class Kernels:
    library: str
    forward: str  # C symbols
    backward: str
    inputs: list = field(default_factory=list)  # Operand, in call order
    outputs: list = field(default_factory=list)
    grads: list = field(default_factory=list)


_DECL = re.compile(r"\*\s+(inputs|outputs)\[(\d+)\]\s+(\w+)\s+\{([^}]*)\}(.*)")


def _operands(block, kind):
    ops = []
    for m in _DECL.finditer(block):
        if m.group(1) != kind:
            continue
        dims = [d.strip() for d in m.group(4).split(",")]
        ops.append(Operand(m.group(3), [int(d) if d.lstrip("-").isdigit() else d for d in dims],
                           "without the leading 1, 1" in m.group(5), "optional" in m.group(5)))
    return ops


def build(spec, H, K, V, isa="native", verbose=True):
    """The spec's kernels at these sizes: emitted, compiled (first time only) and described."""
    import jax.ffi  # the FFI headers ship with jaxlib

    mixc = mixc_binary()
    with open(spec, "rb") as f:
        text = f.read()
    shim = os.path.join(_HERE, "ffi_shim.cpp")
    key = hashlib.sha256()
    for part in (text, f"{H},{K},{V},{isa}".encode(), open(shim, "rb").read(),
                 str(os.path.getmtime(mixc)).encode(), jax.ffi.include_dir().encode()):
        key.update(part)
    name = os.path.splitext(os.path.basename(spec))[0]
    d = os.path.join(cache_dir(), "jax-" + name + "-" + key.hexdigest()[:16])
    lib = os.path.join(d, "libmixc_" + name + ".so")
    src = os.path.join(d, "src")
    if not os.path.exists(lib):
        if verbose:
            print(f"mixc: compiling {spec} for H={H}, K={K}, V={V} ({isa}) into {d}", file=sys.stderr)
        os.makedirs(d, exist_ok=True)
        r = subprocess.run([mixc, "emit", spec, "--target=cpu", f"--cpu-arch={isa}", f"--shape=H={H},K={K},V={V}",
                            "-o", src], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"mixc emit failed:\n{r.stdout}{r.stderr}")
        flags = re.search(r"build: c\+\+ (.*) -c .*/" + re.escape(name) + r"\.cpp\s*$", r.stdout, re.M).group(1).split()
        if not os.path.exists(os.path.join(src, name + "_backward.cpp")):
            note = re.search(r"note: no backward kernel: (.*)", r.stdout)
            raise RuntimeError("mixc: no CPU backward for this spec: " + (note.group(1) if note else "?"))
        tmp = lib + f".tmp{os.getpid()}"
        cmd = ["c++", *flags, "-shared", "-fPIC", "-I", src, "-I", jax.ffi.include_dir(),
               f"-DMIXC_FORWARD=mixc_{name}", f"-DMIXC_BACKWARD=mixc_{name}_backward",
               os.path.join(src, name + ".cpp"), os.path.join(src, name + "_backward.cpp"), shim, "-o", tmp]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"mixc: the host compiler failed ({' '.join(cmd)}):\n{r.stderr[-4000:]}")
        os.replace(tmp, lib)  # atomic: a concurrent process sees the whole library or none
    header = open(os.path.join(src, name + ".h")).read()
    fwd, bwd = header.split(f"@{name}_backward", 1)
    return Kernels(lib, f"mixc_{name}", f"mixc_{name}_backward", _operands(fwd, "inputs"),
                   _operands(fwd, "outputs"), _operands(bwd, "outputs"))
