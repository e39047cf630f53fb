"""A spec as a JAX function on the CPU: the forward kernel and the
compiler-derived backward kernel through XLA's FFI, wired with custom_vjp.

    f = mixc.jax.load("examples/gated_deltanet.mixer")
    o, final_state = f(q, k, v, a, beta, A_log=A_log, dt_bias=dt_bias, initial_state=None)

Inputs by the spec's names (positionally in the spec's order, or as keywords),
[B, T, H, D] per token, [H, ...] per head; float32 or bfloat16. `cu_seqlens`
(int32 or int64 [N + 1], batch 1): packed variable-length sequences, a state
per sequence (initial_state and the final state [N, H, K, V]). jit-compatible
(vmap runs the kernels once per mapped element);
jax.grad runs the backward kernel (gradients of every input, parameters and
the initial state included; deterministic). Kernels are compiled on first use
per (H, K, V) and cached on disk (mixc/_build.py)."""
import ctypes
import os

import jax
import jax.numpy as jnp
import numpy as np

from . import _build

_SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ffi_shim.cpp")
_targets = {}  # library path -> FFI target name prefix


def _register(kernels):
    tag = _targets.get(kernels.library)
    if tag is None:
        lib = ctypes.cdll.LoadLibrary(kernels.library)
        tag = "mixc_" + os.path.basename(os.path.dirname(kernels.library)).replace("-", "_")
        jax.ffi.register_ffi_target(tag + "_fwd", jax.ffi.pycapsule(lib.MixcForward), platform="cpu")
        jax.ffi.register_ffi_target(tag + "_bwd", jax.ffi.pycapsule(lib.MixcBackward), platform="cpu")
        _targets[kernels.library] = tag
    return tag


class Mixer:
    """A compiled spec; call it like the spec's function."""

    def __init__(self, spec, threads=None, isa="native", verbose=True):
        self.spec, self.isa, self.verbose = spec, isa, verbose
        self.threads = threads or os.cpu_count() or 1
        self.signature = _build.signature(spec)
        self.names = [n for n, _, _ in self.signature]
        self.grouped = _build.grouped_inputs(spec)  # one row per group of G heads
        if _build.routed_inputs(spec):
            raise NotImplementedError(f"mixc.jax: {spec} is a mixture of memories (routed inputs), which runs through "
                                      "mixc.torch and the C ABI but not through jax yet")
        self._fns = {}

    def _sizes(self, arrays):
        H = K = V = None
        groups = set()
        for (name, dims, per_head) in self.signature:
            x = arrays.get(name)
            if x is None or per_head:
                continue
            if x.ndim < 3:
                raise ValueError(f"input '{name}': expected [B, T, H{', D' if dims else ''}], got shape {x.shape}")
            if name in self.grouped:
                groups.add(int(x.shape[2]))
            else:
                H = H or x.shape[2]
            for d, n in zip(dims, x.shape[3:]):
                if d == "K": K = K or n
                if d == "V": V = V or n
        if H is None:
            raise ValueError("no per-token input that is not grouped fixes H")
        F = _build.feature_width(self.signature, arrays)
        return H, K or 1, V or 1, _build.heads_per_group(H, groups, self.grouped), F

    def _compiled(self, H, K, V, G=1, F=0):
        key = (H, K, V, G, F)
        if key not in self._fns:
            kernels = _build.build(self.spec, H, K, V, self.isa, self.verbose, shim=_SHIM,
                                   include_dirs=(jax.ffi.include_dir(),), tag="jax", G=G, F=F)
            self._fns[key] = _make(kernels, _register(kernels), self.threads)
        return self._fns[key]

    def __call__(self, *args, initial_state=None, initial_m=None, cu_seqlens=None, **kwargs):
        arrays = {n: jnp.asarray(x) for n, x in _build.bind(self.names, args, kwargs).items()}
        H, K, V, G, F = self._sizes(arrays)
        f, kernels = self._compiled(H, K, V, G, F)
        dtype = arrays[self.names[0]].dtype
        if dtype not in (jnp.float32, jnp.bfloat16):
            raise TypeError(f"mixc kernels take float32 or bfloat16, got {dtype}")
        ordered = []
        for op in kernels.inputs:
            if op.name == "cu_seqlens":  # packed sequences; left out: B sequences of T tokens
                if cu_seqlens is not None:
                    cu = jnp.asarray(cu_seqlens)
                    if cu.ndim != 1 or not jnp.issubdtype(cu.dtype, jnp.integer):
                        raise TypeError("cu_seqlens: expected a 1-D integer array of sequence starts [N + 1]")
                    ordered.append(cu)
                continue
            if op.name == "init":
                x = initial_state
            elif op.name == "init_m":
                x = initial_m
            else:
                x = arrays[op.name]
            # A left-out optional input: no elements (the kernel reads zeros).
            ordered.append(jnp.zeros((0,), dtype) if x is None else jnp.asarray(x))
        return f(*ordered)


def _make(kernels, tag, threads):
    varlen = bool(kernels.inputs) and kernels.inputs[-1].name == "cu_seqlens"

    def packed(xs):  # cu_seqlens given: the kernel's last input
        return varlen and len(xs) == len(kernels.inputs)

    def dims_of(op, B, T, N):
        return tuple(B if d == "B" else N if d == "N" else T if d == "T" else d for d in op.dims)

    def states(xs, B):  # N: one state per sequence (per batch row unless packed)
        return xs[-1].shape[0] - 1 if packed(xs) else B

    def batch_time(xs):
        for op, x in zip(kernels.inputs, xs):
            if "T" in op.dims and not op.per_head:
                return x.shape[0], x.shape[1]
        raise ValueError("no per-token input")

    def forward(*xs):
        B, T = batch_time(xs)
        dtype = xs[0].dtype
        types = [jax.ShapeDtypeStruct(dims_of(o, B, T, states(xs, B)), dtype) for o in kernels.outputs]
        call = jax.ffi.ffi_call(tag + "_fwd", types, vmap_method="sequential")
        return tuple(call(*xs, threads=np.int64(threads)))

    @jax.custom_vjp
    def f(*xs):
        return forward(*xs)

    def f_fwd(*xs):
        return forward(*xs), xs

    def f_bwd(xs, cts):
        B, T = batch_time(xs)
        N = states(xs, B)
        cu = list(xs[-1:]) if packed(xs) else []
        xs = xs[:len(xs) - len(cu)]
        # A left-out optional input still gets its full-size gradient from the
        # kernel; it is dropped for the empty placeholder.
        left_out = [op.optional and not x.size for op, x in zip(kernels.inputs, xs)]
        types = [jax.ShapeDtypeStruct(dims_of(g, B, T, N) if out else x.shape, x.dtype)
                 for g, x, out in zip(kernels.grads, xs, left_out)]
        do, dfinal = cts[0], cts[1]  # no gradient flows from mLSTM's final stabilizer
        call = jax.ffi.ffi_call(tag + "_bwd", types, vmap_method="sequential")
        grads = call(*xs, do.astype(xs[0].dtype), dfinal.astype(xs[0].dtype), *cu, threads=np.int64(threads))
        grads = [jnp.zeros((0,), x.dtype) if out else g for g, x, out in zip(grads, xs, left_out)]
        return tuple(grads + [None] * len(cu))  # cu_seqlens: no cotangent

    f.defvjp(f_fwd, f_bwd)
    return f, kernels


def load(spec, threads=None, isa="native", verbose=True):
    """The spec at `spec` as a JAX function (compiled on first call per H, K, V)."""
    return Mixer(spec, threads=threads, isa=isa, verbose=verbose)
