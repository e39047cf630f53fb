"""Compiles a spec's CPU kernels (forward and the compiler-derived backward)
into one shared library (with a framework's shim where it needs one), cached
on disk.

The sizes H, K, V are compile-time constants of the kernels, so one library
is built per (spec, H, K, V, ISA); B and T stay run-time. The emitted sources
are cached under a hash of the spec's text, the sizes, the ISA and the mixc
binary; the library under that and the shim's text, so the second process
start finds both without running mixc or the compiler."""
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field

_HERE = os.path.dirname(os.path.abspath(__file__))


def _tmp(path):
    """A temporary name beside `path`, private to this process and thread (renamed into place when complete)."""
    return path + f".tmp{os.getpid()}.{threading.get_ident()}"


def mixc_binary():
    """The `mixc` driver: $MIXC, else next to this checkout's build, else PATH."""
    if os.environ.get("MIXC"):
        if not os.path.isfile(os.environ["MIXC"]):
            raise RuntimeError(f"mixc: MIXC={os.environ['MIXC']} is not a file")
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


def signature(spec):
    """The spec's inputs as `mixc check` states them: [(name, dims, per_head)]
    (kept in the cache beside the sources, for a machine without mixc)."""
    with open(spec, "rb") as f:
        saved = os.path.join(cache_dir(), f"check-{_key(f.read())}.txt")
    try:
        mixc = mixc_binary()
    except RuntimeError:
        if not os.path.exists(saved):
            raise
        out = open(saved).read()
    else:
        r = subprocess.run([mixc, "check", spec], capture_output=True, text=True)
        if r.returncode != 0:
            raise ValueError(r.stderr.strip() or r.stdout.strip())
        out = r.stdout
        os.makedirs(cache_dir(), exist_ok=True)
        tmp = _tmp(saved)
        with open(tmp, "w") as f:
            f.write(out)
        os.replace(tmp, saved)
    line = re.search(r"^\s*inputs:\s+(.*)$", out, re.M).group(1)
    return [(m.group(1), [d.strip() for d in m.group(2).split(",")] if m.group(2) else [], bool(m.group(3)))
            for m in re.finditer(r"(\w+)(?:\[([^\]]*)\])?(\(per head\))?(?:\((?:grouped|routed)\))?", line)]


def _inputs_declared(spec, attribute):
    """The spec's inputs `mixc check` lists with `(attribute)`."""
    with open(spec, "rb") as f:
        saved = os.path.join(cache_dir(), f"check-{_key(f.read())}.txt")
    signature(spec)  # writes the saved check output
    line = re.search(r"^\s*inputs:\s+(.*)$", open(saved).read(), re.M).group(1)
    return {m.group(1) for m in re.finditer(r"(\w+)(?:\[[^\]]*\])?(?:\(per head\))?\(" + attribute + r"\)", line)}


def grouped_inputs(spec):
    """The spec's inputs declared `grouped` (one row per group of G heads)."""
    return _inputs_declared(spec, "grouped")


def routed_inputs(spec):
    """The spec's inputs declared `routed` (a mixture of memories: one row per chosen memory)."""
    return _inputs_declared(spec, "routed")


def bind(names, args, kwargs):
    """A call's inputs by the spec's names: positional in the spec's order, or keywords."""
    if len(args) > len(names):
        raise TypeError(f"{len(args)} positional inputs, the spec has {len(names)}: {', '.join(names)}")
    given = dict(zip(names, args))
    for name, x in kwargs.items():
        if name not in names:
            raise TypeError(f"unknown input '{name}' (the spec's inputs: {', '.join(names)})")
        if name in given:
            raise TypeError(f"input '{name}' given twice")
        given[name] = x
    missing = [n for n in names if n not in given]
    if missing:
        raise TypeError(f"missing input(s): {', '.join(missing)}")
    return given


def _key(*parts):
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else str(part).encode())
    return h.hexdigest()[:16]


def feature_width(signature, xs):
    """F, the learned feature width: the last size of the spec's per-head [.., F]
    parameters among `xs` (name -> array), 0 without one."""
    widths = {int(xs[name].shape[-1]) for name, dims, per_head in signature
              if per_head and dims and dims[-1] == "F" and name in xs}
    if len(widths) > 1:
        raise ValueError(f"the [K, F] parameters disagree on F: {sorted(widths)}")
    return widths.pop() if widths else 0


def heads_per_group(H, groups, grouped):
    """G = H / the heads of the `grouped` inputs (`groups`: the head counts seen), 1 without them."""
    if not groups:
        return 1
    if len(groups) > 1 or H % next(iter(groups)):
        raise ValueError(f"grouped inputs ({', '.join(sorted(grouped))}): their heads {sorted(groups)} must "
                         f"be one number that divides H = {H}")
    return H // next(iter(groups))


# mixc's default GPU (--cuda-sms, kDefaultCudaSms): H100 SXM, H200.
DEFAULT_CUDA_SMS = 132


def emit(spec, H, K, V, isa="native", target="cpu", adjoint="auto", schedule="auto", G=1, F=0, sms=0):
    """The spec's kernel sources for `target` (cpu, or cuda) at these sizes (mixc
    emit, cached): (directory, name, build flags). `adjoint`: how the CPU
    backward runs the recurrences' adjoints (mixc --adjoint: auto, scans, sweep);
    `schedule`: the CPU schedule (mixc --schedule: auto, recurrent, chunked);
    `G`: heads per group of the spec's `grouped` inputs; `F`: the learned feature
    width of its [K, F] parameters (0: none); `sms`: the GPU's multiprocessors
    the CUDA tiling fills (0: mixc's default GPU). Where no mixc binary is found
    (a GPU machine without MLIR), sources emitted elsewhere into this cache for
    the same spec text, sizes, ISA and target are used."""
    with open(spec, "rb") as f:
        text = f.read()
    name = os.path.splitext(os.path.basename(spec))[0]
    if adjoint not in ("auto", "scans", "sweep"):
        raise ValueError(f"mixc: adjoint must be auto, scans or sweep, got {adjoint!r}")
    if schedule not in ("auto", "recurrent", "chunked"):
        raise ValueError(f"mixc: schedule must be auto, recurrent or chunked, got {schedule!r}")
    options = ('' if adjoint == 'auto' else ',' + adjoint) + ('' if schedule == 'auto' else ',schedule=' + schedule)
    options += '' if G == 1 else f',G={G}'
    options += f',F={F}' if F else ''
    if sms == DEFAULT_CUDA_SMS:  # the default GPU's: the same sources as an emit that names none
        sms = 0
    options += f',sms={sms}' if sms else ''
    base = f"src-{name}-{_key(text, f'{H},{K},{V},{isa},{target}' + options)}"
    try:
        mixc = mixc_binary()
    except RuntimeError:
        found = sorted(glob.glob(os.path.join(cache_dir(), base + "-*", "flags")), key=os.path.getmtime)
        if not found:
            raise RuntimeError(f"mixc: no `mixc` binary and no {target} sources of {spec} at H={H}, K={K}, V={V} "
                               f"emitted into {cache_dir()} (emit them where mixc is built, then carry the cache)")
        d = os.path.dirname(found[-1])
        return d, name, open(found[-1]).read().split("\n")[0].split()
    d = os.path.join(cache_dir(), base + "-" + _key(os.path.getmtime(mixc)))
    flags_file = os.path.join(d, "flags")
    if not os.path.exists(flags_file):
        src = _tmp(d)
        arch = ([f"--cpu-arch={isa}", f"--adjoint={adjoint}", f"--schedule={schedule}"] if target == "cpu"
                else [f"--cuda-sms={sms}"] if sms else [])
        r = subprocess.run([mixc, "emit", spec, f"--target={target}", *arch, f"--shape=H={H},K={K},V={V}" + (f",G={G}" if G > 1 else "") + (f",F={F}" if F else ""), "-o", src],
                           capture_output=True, text=True)
        if r.returncode != 0:
            shutil.rmtree(src, ignore_errors=True)
            raise RuntimeError(f"mixc emit failed:\n{r.stdout}{r.stderr}")
        build = re.search(r"build: (?:c\+\+|\S*nvcc) (.*) -c .*/" + re.escape(name) + r"\.cu?p?p?\s*$", r.stdout, re.M)
        note = re.search(r"note: no (?:CUDA )?backward kernel: (.*)", r.stdout)
        with open(os.path.join(src, "flags"), "w") as f:
            f.write((build.group(1) if build else "") + "\n" + (note.group(1) if note else "") + "\n")
        try:
            os.replace(src, d)  # atomic: a concurrent process sees all the sources or none
        except OSError:  # another process got there first
            shutil.rmtree(src, ignore_errors=True)
    return d, name, open(flags_file).read().split("\n")[0].split()


def describe(spec, H, K, V, isa="native", target="cpu", adjoint="auto", schedule="auto", G=1, F=0, sms=0):
    """The kernels' operands at these sizes, from the emitted header (nothing compiled)."""
    src, name, _ = emit(spec, H, K, V, isa, target, adjoint, schedule, G, F, sms)
    header = open(os.path.join(src, name + ".h")).read()
    fwd, bwd = header.split(f"@{name}_backward", 1) if f"@{name}_backward" in header else (header, "")
    return Kernels("", f"mixc_{name}", f"mixc_{name}_backward", _operands(fwd, "inputs"),
                   _operands(fwd, "outputs"), _operands(bwd, "outputs"))


TENSOR_OPS = "mixc_cpu_tensor_ops.cpp"  # the tile library's whole-tensor ops (runtime/cpu)


def tensor_ops(src, flags):
    """The tile library's whole-tensor ops among the emitted sources in `src`,
    compiled with `flags` into an object (cached: once per flags and library
    text, shared by every kernel built with them)."""
    files = sorted(f for f in os.listdir(src) if f.startswith("mixc_"))  # the runtime files
    key = _key(*flags, *[f.encode() + open(os.path.join(src, f), "rb").read() for f in files])
    d = os.path.join(cache_dir(), "tensor-ops-py-" + key)
    obj = os.path.join(d, "mixc_cpu_tensor_ops.o")
    if not os.path.exists(obj):
        os.makedirs(d, exist_ok=True)
        tmp = _tmp(obj)
        cmd = ["c++", *flags, "-fPIC", "-I", src, "-c", os.path.join(src, TENSOR_OPS), "-o", tmp]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"mixc: the host compiler failed ({' '.join(cmd)}):\n{r.stderr[-4000:]}")
        os.replace(tmp, obj)
    return obj


def build(spec, H, K, V, isa="native", verbose=True, shim=None, include_dirs=(), tag="c", adjoint="auto",
          schedule="auto", G=1, F=0):
    """The spec's kernels at these sizes: emitted, compiled with `shim` (an
    extra source; first time only) into one library, and described."""
    src, name, flags = emit(spec, H, K, V, isa, adjoint=adjoint, schedule=schedule, G=G, F=F)
    if not os.path.exists(os.path.join(src, name + "_backward.cpp")):
        note = open(os.path.join(src, "flags")).read().split("\n")[1]
        raise RuntimeError("mixc: no CPU backward for this spec: " + (note or "?"))
    extra = [open(shim, "rb").read()] if shim else []
    d = os.path.join(cache_dir(), tag + "-" + name + "-" + _key(src, *extra, *include_dirs))
    lib = os.path.join(d, "libmixc_" + name + ".so")
    if not os.path.exists(lib):
        if verbose:
            print(f"mixc: compiling {spec} for H={H}, K={K}, V={V} ({isa}) into {d}", file=sys.stderr)
        os.makedirs(d, exist_ok=True)
        tmp = _tmp(lib)
        cmd = ["c++", *flags, "-shared", "-fPIC", "-I", src, *[a for i in include_dirs for a in ("-I", i)],
               f"-DMIXC_FORWARD=mixc_{name}", f"-DMIXC_BACKWARD=mixc_{name}_backward",
               os.path.join(src, name + ".cpp"), os.path.join(src, name + "_backward.cpp"),
               *([shim] if shim else []), tensor_ops(src, flags), "-o", tmp]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"mixc: the host compiler failed ({' '.join(cmd)}):\n{r.stderr[-4000:]}")
        os.replace(tmp, lib)  # atomic: a concurrent process sees the whole library or none
    k = describe(spec, H, K, V, isa, adjoint=adjoint, schedule=schedule, G=G, F=F)
    k.library = lib
    return k


_cuda_devices = {}  # device index -> (nvcc architecture, multiprocessors): asked once per device


def _cuda_device():
    import torch

    d = torch.cuda.current_device()
    info = _cuda_devices.get(d)
    if info is None:
        major, minor = torch.cuda.get_device_capability(d)
        arch = "90a" if (major, minor) == (9, 0) else f"{major}{minor}"
        info = _cuda_devices[d] = (arch, torch.cuda.get_device_properties(d).multi_processor_count)
    return info


def cuda_arch():
    """The current CUDA device's nvcc architecture: sm_90a on Hopper (wgmma), else its own."""
    return _cuda_device()[0]


def cuda_sms():
    """The current CUDA device's multiprocessors (the chunked walks' tiling fills
    them); MIXC_CUDA_SMS sets another count (as mixc's --cuda-sms), e.g. to run
    every tiling of the walk at small shapes."""
    forced = os.environ.get("MIXC_CUDA_SMS")
    if forced:
        if not forced.isdigit() or int(forced) < 1:
            raise ValueError(f"MIXC_CUDA_SMS: expected a positive count, got {forced!r}")
        return int(forced)
    return _cuda_device()[1]


def build_cuda(spec, H, K, V, arch, verbose=True, G=1, F=0, sms=0):
    """The spec's CUDA forward kernel at these sizes for `arch` and a GPU of `sms`
    multiprocessors (nvcc; first time only), described."""
    src, name, _ = emit(spec, H, K, V, "cuda", target="cuda", G=G, F=F, sms=sms)
    lib = compile_cuda(src, name, arch, verbose, f"{spec} for CUDA sm_{arch}, H={H}, K={K}, V={V}")
    k = describe(spec, H, K, V, "cuda", target="cuda", G=G, F=F, sms=sms)
    k.library, k.forward, k.backward = lib, f"mixc_{name}_cuda", ""
    return k


def build_cuda_backward(spec, H, K, V, arch, verbose=True, G=1, F=0, sms=0):
    """The spec's CUDA backward (the derived backward's tensor program) at these
    sizes for `arch`, described (its outputs are the gradients); RuntimeError
    naming why where mixc printed none."""
    src, name, _ = emit(spec, H, K, V, "cuda", target="cuda", G=G, F=F, sms=sms)
    if not os.path.exists(os.path.join(src, name + "_backward.cu")):
        note = open(os.path.join(src, "flags")).read().split("\n")[1]
        raise RuntimeError("mixc: no CUDA backward for this spec: " + (note or "?"))
    lib = compile_cuda(src, name + "_backward", arch, verbose, f"{spec}'s backward for CUDA sm_{arch}, H={H}, K={K}, V={V}")
    header = open(os.path.join(src, name + "_backward.h")).read()
    outs = _operands(header, "outputs")
    return Kernels(lib, f"mixc_{name}_backward_cuda", "", _operands(header, "inputs"), outs, outs)


def compile_cuda(src, name, arch, verbose=True, what=None):
    """nvcc of emitted CUDA sources `src` into a cached shared library; its path."""
    d = os.path.join(cache_dir(), "cuda-" + name + "-" + _key(src, arch))
    lib = os.path.join(d, f"libmixc_{name}_cuda.so")
    if not os.path.exists(lib):
        nvcc = os.environ.get("NVCC") or shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
        if verbose:
            print(f"mixc: compiling {what or src} into {d}", file=sys.stderr)
        os.makedirs(d, exist_ok=True)
        tmp = _tmp(lib)
        cmd = [nvcc, "-O3", "-std=c++17", f"-gencode=arch=compute_{arch},code=sm_{arch}", "-shared", "-Xcompiler",
               "-fPIC", "-I", src, os.path.join(src, name + ".cu"), "-o", tmp]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"mixc: nvcc failed ({' '.join(cmd)}):\n{r.stderr[-4000:]}")
        os.replace(tmp, lib)
    return lib
