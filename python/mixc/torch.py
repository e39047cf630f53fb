"""A spec as a PyTorch operator on the CPU: the forward kernel and the
compiler-derived backward kernel as two `torch.library` custom ops, with fake
(meta) implementations for torch.compile and autograd wired between them.

    f = mixc.torch.load("examples/gated_deltanet.mixer")
    o, final_state = f(q, k, v, a, beta, A_log=A_log, dt_bias=dt_bias,
                       initial_state=None, output_final_state=True)

Inputs by the spec's names (positionally in the spec's order, or as keywords),
[B, T, H, D] per token ([B, H, T, D] with head_first=True: read through its
strides, not copied), [H, ...] per head. float32 and bfloat16 run the
generated kernels (outputs in the inputs' dtype, final states in float32);
float64 runs mixc's float64 reference (exact and slow: for checking, e.g.
torch.autograd.gradcheck). Kernels are compiled on first use per (H, K, V)
and cached on disk (mixc/_build.py); H, K and V are therefore fixed per
compiled graph under torch.compile while B and T may stay dynamic."""
import array
import ctypes
import os
import tempfile

import numpy as np
import torch

from . import _build


class _Tensor(ctypes.Structure):  # mixc_tensor (runtime/mixc_tensor.h)
    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int32), ("ndim", ctypes.c_int32),
                ("shape", ctypes.c_int64 * 6), ("strides", ctypes.c_int64 * 6)]


_KERNEL_DTYPES = {torch.float32: 0, torch.bfloat16: 1}
_MIXC_I64 = 3  # cu_seqlens, a mixture's route
_CUDA_DTYPES = {torch.float32: 0, torch.bfloat16: 1, torch.float16: 2, torch.int64: _MIXC_I64}
# The CUDA entry point: a cudaStream_t where the CPU's takes a thread count.
_CUDA_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(_Tensor), ctypes.c_int, ctypes.POINTER(_Tensor), ctypes.c_int,
                            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int)
_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(_Tensor), ctypes.c_int, ctypes.POINTER(_Tensor), ctypes.c_int,
                       ctypes.c_int, ctypes.c_char_p, ctypes.c_int)


_ONES, _ZEROS = (1,) * 6, (0,) * 6
# The element types each entry point takes (cu_seqlens: int64 on the CPU), and what it says of others.
_CPU_CODES = {**_KERNEL_DTYPES, torch.int64: _MIXC_I64}
_CPU_TYPES = "mixc kernels take float32 or bfloat16 (float64: the reference)"
_CUDA_TYPES = "mixc CUDA kernels take float32, bfloat16 or float16"


def _descriptors(xs, codes=_CPU_CODES, takes=_CPU_TYPES):
    """The mixc_tensor array of `xs`, written as one flat int64 buffer: a decoding
    step describes a dozen tensors, and a ctypes constructor per tensor was most
    of the binding's own time. Layout: data, dtype | ndim << 32, shape[6], strides[6]."""
    flat = []
    for x in xs:
        if x is None:  # an optional input left out: NULL data, the kernel reads zeros
            flat += _ABSENT
            continue
        code = codes.get(x.dtype)
        if code is None:
            raise TypeError(f"{takes}, got {x.dtype}")
        n = x.dim()
        if n > 6:
            raise ValueError(f"a tensor of {n} dimensions (at most 6)")
        flat.append(x.data_ptr())
        flat.append(code | n << 32)
        flat += x.shape
        flat += _ONES[n:]
        flat += x.stride()
        flat += _ZEROS[n:]
    buf = array.array("q", flat)
    return (_Tensor * len(xs)).from_buffer(buf) if xs else (_Tensor * 0)()


_ABSENT = [0, 0, *_ONES, *_ZEROS]
_FIELDS = 14  # int64 words per mixc_tensor
_layouts = {}  # (the tensors' dtypes, shapes, strides, codes) -> (their descriptors, the present ones)


def _layout_descriptors(xs, codes=_CPU_CODES, takes=_CPU_TYPES):
    """_descriptors(xs) with only the data pointers written per call: a decoding
    step passes the same layouts every token, and reading them back as a key
    costs half of writing every field."""
    key = (id(codes), *(None if x is None else (x.dtype, x.shape, x.stride()) for x in xs))
    hit = _layouts.get(key)
    if hit is None:
        if len(_layouts) >= 512:  # many shapes (training at varying T): start over
            _layouts.clear()
        hit = _layouts[key] = (bytes(_descriptors(xs, codes, takes)),
                               [i * _FIELDS for i, x in enumerate(xs) if x is not None])
    raw, present = hit
    buf = array.array("q", raw)
    for at, x in zip(present, (x for x in xs if x is not None)):
        buf[at] = x.data_ptr()
    return (_Tensor * len(xs)).from_buffer(buf) if xs else (_Tensor * 0)()


def _call_cuda(fn, inputs, outputs, stream):
    ins = _layout_descriptors(inputs, _CUDA_DTYPES, _CUDA_TYPES)
    outs = _layout_descriptors(outputs, _CUDA_DTYPES, _CUDA_TYPES)
    error = ctypes.create_string_buffer(512)
    if fn(ins, len(inputs), outs, len(outputs), stream, error, len(error)) != 0:
        raise RuntimeError("mixc CUDA kernel: " + error.value.decode())


def _call(fn, inputs, outputs, threads):
    # Broadcast views (stride 0, e.g. the ones that .sum()'s gradient
    # expands) are copied: the kernels take positive strides.
    inputs = [x.contiguous() if x is not None and 0 in x.stride()
              and any(s == 0 and n > 1 for s, n in zip(x.stride(), x.shape)) else x for x in inputs]
    threads = threads or torch.get_num_threads()
    ins, outs = _layout_descriptors(inputs), _layout_descriptors(outputs)
    error = ctypes.create_string_buffer(512)
    if fn(ins, len(inputs), outs, len(outputs), threads, error, len(error)) != 0:
        raise RuntimeError("mixc kernel: " + error.value.decode())


_libraries = {}  # path -> (forward, backward) C functions
_ops = {}  # (spec text hash) -> the registered ops' Python handles


class Mixer:
    """A compiled spec; call it like the spec's function."""

    def __init__(self, spec, threads=None, isa="native", verbose=True, adjoint="auto", schedule="auto"):
        self.spec, self.isa, self.verbose, self.adjoint, self.schedule = spec, isa, verbose, adjoint, schedule
        self.threads = threads
        self.signature = _build.signature(spec)
        self.names = [n for n, _, _ in self.signature]
        self.per_head = {n for n, _, p in self.signature if p}
        self.grouped = _build.grouped_inputs(spec)  # one row per group of G heads
        self.routed = _build.routed_inputs(spec)  # a mixture of memories: [B, T, k, H, D], a row per chosen memory
        # The kernels' operands (which optional initial states, which outputs)
        # do not depend on the sizes: read them off a small emission.
        probe = _build.describe(spec, 1, 8, 8, isa, adjoint=adjoint, schedule=schedule)
        self.operands = [op.name for op in probe.inputs]
        self.optional = [op.optional for op in probe.inputs]
        self.outputs = [op.name for op in probe.outputs]
        # The kernels' last, optional input: packed variable-length sequences.
        self.varlen = self.operands[-1] == "cu_seqlens"
        self._compiled, self._described = {}, {}
        self._sizes, self._signature_at = {}, [self.operands.index(n) for n, _, _ in self.signature]
        self._forward, self._backward, self._decode = _define_ops(self, probe)

    # -- sizes and kernels -------------------------------------------------
    def sizes(self, xs):
        """H, K, V, G, F of the kernel operands `xs` (ints: they are compile-time sizes;
        G = H / the heads of the `grouped` inputs, 1 without them; F the learned
        feature width of [K, F] parameters, 0 without them)."""
        # Memoized by the inputs' shapes (the decoding step's path asks every call).
        # Symbolic shapes (torch.compile's dynamic dimensions) do not hash: not memoized.
        key = tuple(None if xs[i] is None else xs[i].shape for i in self._signature_at)
        try:
            hit = self._sizes.get(key)
        except TypeError:
            return self._sizes_uncached(xs)
        if hit is None:
            hit = self._sizes[key] = self._sizes_uncached(xs)
        return hit

    def _sizes_uncached(self, xs):
        H = K = V = None
        groups = set()
        for name, dims, per_head in self.signature:
            x = xs[self.operands.index(name)]
            if per_head:
                continue
            routed = name in self.routed
            if x.dim() != 3 + routed + len(dims):
                want = "[B, T, " + ("k, " if routed else "") + "H" + "".join(", " + d for d in dims) + "]"
                raise ValueError(f"input '{name}': expected {want}, got shape {tuple(x.shape)}")
            if routed:
                x = x.flatten(1, 2)  # (the slot rows: only the sizes past them are read)
            if name in self.grouped:
                groups.add(int(x.shape[2]))
            else:
                H = H or int(x.shape[2])
            for d, n in zip(dims, x.shape[3:]):
                if d == "K":
                    K = K or int(n)
                if d == "V":
                    V = V or int(n)
        if H is None:
            raise ValueError("no per-token input that is not grouped fixes H")
        F = _build.feature_width(self.signature, {n: xs[self.operands.index(n)] for n, _, p in self.signature if p})
        return H, K or 1, V or 1, _build.heads_per_group(H, groups, self.grouped), F

    def kernels(self, xs):
        """The compiled kernels at the sizes of `xs` (looked up on disk once per size in a process)."""
        sizes = self.sizes(xs)
        hit = self._compiled.get(sizes)
        if hit is None:
            k = _build.build(self.spec, *sizes[:3], self.isa, self.verbose, tag="torch", adjoint=self.adjoint,
                             schedule=self.schedule, G=sizes[3], F=sizes[4])
            if k.library not in _libraries:
                lib = ctypes.CDLL(k.library)
                _libraries[k.library] = (_FN((k.forward, lib)), _FN((k.backward, lib)))
            hit = self._compiled[sizes] = (k, _libraries[k.library])
        return hit

    def cuda_kernels(self, xs, build=None):
        """The CUDA forward kernel at the sizes of `xs`, for the current device (nvcc, cached);
        `build` (_build.build_cuda_backward) makes it the derived backward's kernel instead."""
        build = build or _build.build_cuda
        key = (build.__name__, *self.sizes(xs), _build.cuda_arch(), _build.cuda_sms())
        hit = self._compiled.get(key)
        if hit is None:
            H, K, V, G, F, arch, sms = key[1:]
            k = build(self.spec, H, K, V, arch, verbose=self.verbose, G=G, F=F, sms=sms)
            if k.library not in _libraries:
                lib = ctypes.CDLL(k.library)
                _libraries[k.library] = (_CUDA_FN((k.forward, lib)), None)
            hit = self._compiled[key] = (k, _libraries[k.library][0])
        return hit

    def described(self, xs):
        """The kernels' operands at the sizes of `xs`, without compiling (fake tensors)."""
        sizes = self.sizes(xs)
        hit = self._described.get(sizes)
        if hit is None:
            hit = self._described[sizes] = _build.describe(self.spec, *sizes[:3], self.isa, adjoint=self.adjoint,
                                                           schedule=self.schedule, G=sizes[3], F=sizes[4])
        return hit

    def batch_time(self, xs):
        for name, _, per_head in self.signature:
            if not per_head:
                x = xs[self.operands.index(name)]
                return x.shape[0], x.shape[1]
        raise ValueError("no per-token input")

    def sizes_of(self, xs):
        """{"B", "T", "N"}: batch and time of the per-token inputs, and the states' batch
        (the number of sequences with cu_seqlens)."""
        B, T = self.batch_time(xs)
        cu = xs[-1] if self.varlen else None
        return {"B": B, "T": T, "N": cu.shape[0] - 1 if cu is not None else B}

    # -- the call ----------------------------------------------------------
    def __call__(self, *args, initial_state=None, initial_m=None, output_final_state=True, head_first=False,
                 cu_seqlens=None, route=None, route_weight=None, **kwargs):
        """A mixture of memories also takes `route` (int64 [B, T, k], the memories each
        token chose) and `route_weight` ([B, T, k], their weights); its routed inputs
        are [B, T, k, H, D] and its states [B, M, H, K, V]."""
        given = _build.bind(self.names, args, kwargs)
        if "route" in self.operands:
            if route is None or route_weight is None:
                raise TypeError("this spec is a mixture of memories: pass route (int64 [B, T, k]) and route_weight "
                                "([B, T, k])")
            if head_first:
                raise NotImplementedError("head_first with a mixture of memories")
            route = route.to(torch.int64)
        elif route is not None or route_weight is not None:
            raise TypeError("route, route_weight: this spec is not a mixture of memories")
        for name, x in given.items():
            if not isinstance(x, torch.Tensor):
                raise TypeError(f"input '{name}' is a {type(x).__name__}, not a torch.Tensor")
            if x.dtype not in _KERNEL_DTYPES and x.dtype != torch.float64:
                raise TypeError(f"mixc kernels take float32 or bfloat16 (float64: the reference), got {x.dtype}")
            if x.device.type not in ("cpu", "cuda"):
                raise NotImplementedError(f"input '{name}' is on {x.device}: mixc.torch runs on CPU and CUDA tensors")
            if head_first and name not in self.per_head:
                given[name] = x.transpose(1, 2)  # a strided view: [B, H, T, ...] read in place
        if initial_state is not None and "init" not in self.operands:
            raise TypeError("this spec takes no initial state")
        if initial_m is not None and "init_m" not in self.operands:
            raise TypeError("initial_m: this spec has no stabilizer state")
        if cu_seqlens is not None:
            if not isinstance(cu_seqlens, torch.Tensor) or cu_seqlens.dim() != 1:
                raise TypeError("cu_seqlens: expected a 1-D tensor of sequence starts [N + 1]")
            # On the inputs' device: the CUDA kernels read it there (and check it on the host).
            device = next(iter(given.values())).device if given else cu_seqlens.device
            cu_seqlens = cu_seqlens.to(device=device, dtype=torch.int64)
        special = {"init": initial_state, "init_m": initial_m, "cu_seqlens": cu_seqlens, "route": route,
                   "route_weight": route_weight}
        xs = [special[n] if n in special else given[n] for n in self.operands]
        outs = self._forward(*xs, _threads(self.threads))
        o = outs[0].transpose(1, 2) if head_first else outs[0]
        if not output_final_state:
            return o, None
        return (o, *outs[1:])

    def decode(self, *args, state, m=None, cu_seqlens=None, route=None, route_weight=None, **kwargs):
        """Decoding: the tokens given (T = 1 or a few) advance `state` ([N, H, K, V],
        float32) -- and mLSTM's stabilizer `m` ([N, H]) -- in place; returns o.
        The serving case: no new state tensor per step. Inference only (no autograd)."""
        given = _build.bind(self.names, args, kwargs)
        if not isinstance(state, torch.Tensor) or state.dtype != torch.float32:
            raise TypeError("decode: state must be a float32 tensor [N, H, K, V] (updated in place)")
        if "init_m" in self.operands and m is None:
            raise TypeError("decode: this spec keeps a stabilizer: pass m ([N, H], float32, updated in place)")
        if m is not None and "init_m" not in self.operands:
            raise TypeError("decode: m: this spec has no stabilizer state")
        if ("route" in self.operands) != (route is not None and route_weight is not None):
            raise TypeError("decode: route and route_weight are a mixture of memories' (and it needs both)")
        special = {"init": state, "init_m": m, "cu_seqlens": cu_seqlens.to(device=state.device, dtype=torch.int64)
                   if cu_seqlens is not None else None, "route": route.to(torch.int64) if route is not None else None,
                   "route_weight": route_weight}
        xs = [special[n] if n in special else given[n] for n in self.operands]
        return self._decode(*xs, _threads(self.threads))


def _threads(threads):
    return int(threads or 0)  # 0: torch's thread count at the call (read in the op, not traced)


def _define_ops(m, probe):
    """Registers the spec's forward and backward as custom ops (once per spec text per process)."""
    with open(m.spec, "rb") as f:
        key = _build._key(f.read(), m.isa, m.adjoint, m.schedule)
    if key in _ops:
        return _ops[key]
    name = os.path.splitext(os.path.basename(m.spec))[0]
    qual = f"mixc::{name}_{key}"
    n_in, n_out = len(m.operands), len(m.outputs)
    args = ", ".join(f"Tensor{'?' if opt else ''} x{i}" for i, opt in enumerate(m.optional))
    torch.library.define(qual, f"({args}, int threads) -> ({', '.join(['Tensor'] * n_out)})")
    # The upstream gradients: of o (required) and of the final state (optional).
    torch.library.define(qual + "_backward",
                         f"({args}, Tensor do, Tensor? dfinal, int threads) -> ({', '.join(['Tensor'] * n_in)})")

    def dims(op, sizes):
        return tuple(sizes.get(d, d) for d in op.dims)

    def out_shapes(xs, kernels):
        sizes = m.sizes_of(xs)
        return [dims(op, sizes) for op in kernels.outputs]

    def out_dtypes(xs):
        dtype = xs[m.operands.index(m.names[0])].dtype
        # The output in the inputs' dtype, the final states in float32 (float64 stays).
        return [dtype] + [torch.float64 if dtype == torch.float64 else torch.float32] * (n_out - 1)

    # A left-out optional input (and cu_seqlens) gets an empty gradient
    # (autograd drops it).
    def grad_shapes(xs):
        return [tuple(x.shape) if x is not None and x.is_floating_point() else (0,) for x in xs]

    def gradients(kernels, names, xs, sizes, dtype, device):
        """The backward kernel's outputs (one per floating-point operand: an index
        input such as a mixture's route has none), allocated in its order."""
        grads = {g.name: g for g in kernels.grads}
        return [torch.empty(dims(grads["d" + n], sizes) if x is None else x.shape,
                            dtype=(x.dtype if x is not None else dtype), device=device)
                for n, x in zip(names, xs) if "d" + n in grads]

    def per_operand(kernels, names, xs, full):
        """The kernel's gradients back in operand order; empty where an operand was left out or has none."""
        grads, it, out = {g.name for g in kernels.grads}, iter(full), []
        for n, x in zip(names, xs):
            g = next(it) if "d" + n in grads else None
            out.append(g if g is not None and x is not None else full[0].new_empty(0))
        return out

    @torch.library.impl(qual, "cpu")
    def forward(*xs_threads):
        *xs, threads = xs_threads
        if xs[m.operands.index(m.names[0])].dtype == torch.float64:
            return tuple(_reference(m, xs, None))
        kernels, (fn, _) = m.kernels(xs)
        outs = [torch.empty(s, dtype=t) for s, t in zip(out_shapes(xs, kernels), out_dtypes(xs))]
        _call(fn, xs, outs, threads)
        return tuple(outs)

    @torch.library.register_fake(qual)
    def forward_fake(*xs_threads):
        *xs, _ = xs_threads
        kernels = m.described(xs)
        ref = xs[m.operands.index(m.names[0])]
        return tuple(ref.new_empty(s, dtype=t) for s, t in zip(out_shapes(xs, kernels), out_dtypes(xs)))

    @torch.library.impl(qual, "cuda")
    def forward_cuda(*xs_threads):
        *xs, _ = xs_threads
        ref = xs[m.operands.index(m.names[0])]
        sizes = m.sizes_of(xs)
        kernels, fn = m.cuda_kernels(xs)  # (cu_seqlens, last, as the CPU's)
        outs = [torch.empty(dims(op, sizes), dtype=t, device=ref.device) for op, t in zip(kernels.outputs, out_dtypes(xs))]
        _call_cuda(fn, xs, outs, torch.cuda.current_stream(ref.device).cuda_stream)
        return tuple(outs)

    @torch.library.impl(qual + "_backward", "cuda")
    def backward_cuda(*args):
        *xs, do, dfinal, _ = args
        ref = xs[m.operands.index(m.names[0])]
        sizes = m.sizes_of(xs)
        cu = xs[-1] if m.varlen else None
        left = xs[:-1] if m.varlen else xs
        kernels, fn = m.cuda_kernels(left, _build.build_cuda_backward)
        # Every gradient written; a left-out input's into scratch.
        names = m.operands[:len(left)]
        full = gradients(kernels, names, left, sizes, ref.dtype, ref.device)
        # Broadcast views (the expanded ones of .sum()'s gradient) are copied: the kernels take positive strides.
        ins = [x.contiguous() if x is not None and any(st == 0 and n > 1 for st, n in zip(x.stride(), x.shape)) else x
               for x in (*left, do, dfinal)]
        # cu_seqlens last, after the upstream gradients (as the CPU's backward takes it).
        _call_cuda(fn, ins + ([cu] if m.varlen else []), full, torch.cuda.current_stream(ref.device).cuda_stream)
        out = per_operand(kernels, names, left, full)
        return tuple(out + ([full[0].new_empty(0)] if m.varlen else []))

    @torch.library.impl(qual + "_backward", "cpu")
    def backward(*args):
        *xs, do, dfinal, threads = args
        if do.dtype == torch.float64:
            return tuple(_reference(m, xs, (do, dfinal)))
        kernels, (_, fn) = m.kernels(xs)
        dtype = xs[m.operands.index(m.names[0])].dtype
        sizes = m.sizes_of(xs)
        cu = xs[-1] if m.varlen else None
        xs = xs[:-1] if m.varlen else xs
        # The kernel writes every gradient; a left-out input's into scratch.
        names = m.operands[:len(xs)]
        full = gradients(kernels, names, xs, sizes, dtype, "cpu")
        _call(fn, [*xs, do, dfinal, *([cu] if m.varlen else [])], full, threads)
        out = per_operand(kernels, names, xs, full)
        return tuple(out + ([full[0].new_empty(0)] if m.varlen else []))

    @torch.library.register_fake(qual + "_backward")
    def backward_fake(*args):
        *xs, do, dfinal, threads = args
        return tuple(do.new_empty(s, dtype=(x.dtype if x is not None and x.is_floating_point() else do.dtype))
                     for s, x in zip(grad_shapes(xs), xs))

    # Decoding: the states are the kernel's initial and final state at once
    # (the kernels allow that one overlap), mutated in place.
    alias = {"init": "a", "init_m": "b"}
    dargs = ", ".join(f"Tensor({alias[n]}!) x{i}" if n in alias else f"Tensor{'?' if opt else ''} x{i}"
                      for i, (n, opt) in enumerate(zip(m.operands, m.optional)))
    torch.library.define(qual + "_decode", f"({dargs}, int threads) -> Tensor")

    @torch.library.impl(qual + "_decode", "cpu")
    def decode(*xs_threads):
        *xs, threads = xs_threads
        kernels, (fn, _) = m.kernels(xs)
        sizes = m.sizes_of(xs)
        o_shape = dims(kernels.outputs[0], sizes)
        o = torch.empty(o_shape, dtype=xs[m.operands.index(m.names[0])].dtype)
        states = {"final_state": xs[m.operands.index("init")]}
        if "init_m" in m.operands:
            states["final_m"] = xs[m.operands.index("init_m")]
        outs = [o] + [states[n] for n in m.outputs[1:]]
        _call(fn, xs, outs, threads)
        return o

    @torch.library.impl(qual + "_decode", "cuda")
    def decode_cuda(*xs_threads):
        *xs, _ = xs_threads
        ref = xs[m.operands.index(m.names[0])]
        sizes = m.sizes_of(xs)
        kernels, fn = m.cuda_kernels(xs)
        o = torch.empty(dims(kernels.outputs[0], sizes), dtype=ref.dtype, device=ref.device)
        # The state is read and written in place: the kernel reads a copy
        # itself where its path needs one (runtime/cuda: readFromCopy).
        named = dict(zip(m.operands, xs))
        states = {"final_state": named["init"], "final_m": named.get("init_m")}
        _call_cuda(fn, xs, [o] + [states[n] for n in m.outputs[1:]], torch.cuda.current_stream(ref.device).cuda_stream)
        return o

    @torch.library.register_fake(qual + "_decode")
    def decode_fake(*xs_threads):
        *xs, _ = xs_threads
        kernels = m.described(xs)
        ref = xs[m.operands.index(m.names[0])]
        return ref.new_empty(dims(kernels.outputs[0], m.sizes_of(xs)))

    op = getattr(getattr(torch.ops.mixc, f"{name}_{key}"), "default")
    op_backward = getattr(getattr(torch.ops.mixc, f"{name}_{key}_backward"), "default")

    def setup_context(ctx, inputs, output):
        *xs, threads = inputs
        ctx.save_for_backward(*[x if x is not None else torch.empty(0) for x in xs])
        ctx.left_out = [x is None for x in xs]
        # (nor has an index input, a mixture's route, a gradient)
        ctx.no_grad = [x is None or not x.is_floating_point() for x in xs]
        ctx.threads = threads
        ctx.o_shape, ctx.o_dtype = output[0].shape, output[0].dtype

    def backward_rule(ctx, *grads):
        xs = [None if out else x for x, out in zip(ctx.saved_tensors, ctx.left_out)]
        do = grads[0] if grads[0] is not None else torch.zeros(ctx.o_shape, dtype=ctx.o_dtype)
        ref = xs[m.operands.index(m.names[0])]
        do = do.to(ref.dtype)
        # The final state's gradient in the inputs' dtype (the kernel reads
        # either); mLSTM's final stabilizer passes none (it is not differentiable).
        dfinal = grads[1].to(ref.dtype) if n_out > 1 and grads[1] is not None else None
        gs = op_backward(*xs, do, dfinal, ctx.threads)
        grads = [None if none else g for g, none in zip(gs, ctx.no_grad)]
        if m.varlen:
            grads[-1] = None  # cu_seqlens
        return (*grads, None)

    torch.library.register_autograd(qual, backward_rule, setup_context=setup_context)
    _ops[key] = (op, op_backward, getattr(getattr(torch.ops.mixc, f"{name}_{key}_decode"), "default"))
    return _ops[key]


def _reference(m, xs, upstream):
    """float64: `mixc run --target=reference` on .npy files (forward, or with
    `upstream` = (do, dfinal) the gradients of every operand); packed
    sequences (cu_seqlens) one at a time."""
    if m.varlen:
        if xs[-1] is not None:
            return _reference_packed(m, xs, upstream)
        xs = xs[:-1]
        res = _reference_one(m, xs, upstream)
        return res if upstream is None else res + [torch.zeros(0, dtype=torch.float64)]
    return _reference_one(m, xs, upstream)


def _reference_packed(m, xs, upstream):
    *xs, cu = xs
    starts = cu.tolist()
    per_token = {n for n, _, per_head in m.signature if not per_head}
    states = {"init", "init_m"}
    names = m.operands[:-1]
    pieces = []  # per sequence: outputs, or gradients
    for n in range(len(starts) - 1):
        s0, s1 = starts[n], starts[n + 1]
        part = [x[:, s0:s1] if name in per_token else x[n:n + 1] if name in states and x is not None else x
                for name, x in zip(names, xs)]
        if upstream is None:
            pieces.append(_reference_one(m, part, None) if s1 > s0 else None)
        else:
            do, dfinal = upstream
            up = (do[:, s0:s1], dfinal[n:n + 1] if dfinal is not None else None)
            pieces.append(_reference_one(m, part, up) if s1 > s0 else None)
    if upstream is None:
        outs = []
        for i, name in enumerate(m.outputs):
            if name == "o":
                outs.append(torch.cat([p[0] for p in pieces if p is not None], 1))
                continue
            per_seq = []
            for n, p in enumerate(pieces):
                if p is not None:
                    per_seq.append(p[i])
                else:  # an empty sequence keeps its initial state
                    x = xs[names.index("init" if name == "final_state" else "init_m")]
                    shape = (1, *pieces_shape(pieces, i))
                    per_seq.append(x[n:n + 1].double() if x is not None else torch.zeros(shape, dtype=torch.float64))
            outs.append(torch.cat(per_seq, 0))
        return outs
    grads = []
    for i, (name, x) in enumerate(zip(names, xs)):
        if x is None:
            grads.append(torch.zeros(0, dtype=torch.float64))
        elif name in per_token:
            grads.append(torch.cat([p[i] if p is not None else torch.zeros_like(x[:, starts[n]:starts[n + 1]])
                                    for n, p in enumerate(pieces)], 1))
        elif name in states:
            dfinal = upstream[1]
            grads.append(torch.cat([p[i] if p is not None else
                                    (dfinal[n:n + 1] if dfinal is not None and name == "init" else torch.zeros_like(x[n:n + 1]))
                                    for n, p in enumerate(pieces)], 0))
        else:  # per head: summed over the sequences
            grads.append(sum(p[i] for p in pieces if p is not None))
    return grads + [torch.zeros(0, dtype=torch.float64)]


def pieces_shape(pieces, i):
    return next(p[i].shape[1:] for p in pieces if p is not None)


def _reference_one(m, xs, upstream):
    import subprocess

    with tempfile.TemporaryDirectory(prefix="mixc-torch-") as d:
        ins, out = os.path.join(d, "in"), os.path.join(d, "out")
        os.makedirs(ins)
        for name, x in zip(m.operands, xs):  # (cu_seqlens, last, is not among xs)
            if x is not None:
                a = x.detach().contiguous().numpy()
                np.save(os.path.join(ins, name + ".npy"), a.reshape(a.shape[2:]) if name in m.per_head and a.ndim > 1
                        and a.shape[:2] == (1, 1) else a)
        cmd = [_build.mixc_binary(), "run", m.spec, "--target=reference", "--dtype=f64", "--inputs", ins, "--out", out,
               "--no-check"]
        if upstream is not None:
            do, dfinal = upstream
            np.save(os.path.join(ins, "do.npy"), do.detach().contiguous().numpy())
            if dfinal is not None:
                np.save(os.path.join(ins, "dfinal_state.npy"), dfinal.detach().contiguous().numpy())
            cmd.append("--grad")
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"mixc reference failed ({' '.join(cmd)}):\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
        if upstream is None:
            return [torch.from_numpy(np.load(os.path.join(out, n + ".npy"))) for n in m.outputs]
        grads = []
        for name, x in zip(m.operands, xs):
            path = os.path.join(out, "d" + name + ".npy")
            g = torch.from_numpy(np.load(path)) if os.path.exists(path) else None
            if x is None or not x.is_floating_point():  # left out, or an index (a mixture's route)
                grads.append(torch.zeros(0, dtype=torch.float64))
            else:
                grads.append(torch.zeros_like(x) if g is None else g.reshape(x.shape))
        return grads


def load(spec, threads=None, isa="native", verbose=True, adjoint="auto", schedule="auto"):
    """The spec at `spec` as a PyTorch function (compiled on first call per H, K, V).
    `adjoint` picks how the CPU backward runs the recurrences' adjoints: "scans"
    (forward-shaped scans, chunked where the forward kernels are), "sweep" (the
    checkpointed reverse sweep) or "auto" (scans where the forward runs chunked).
    `schedule` picks the CPU kernels' schedule: "recurrent", "chunked" (an
    error where the spec has no chunked form) or "auto" (mixc check states it)."""
    return Mixer(spec, threads=threads, isa=isa, verbose=verbose, adjoint=adjoint, schedule=schedule)
