#ifndef MIXER_PASSES_TD
#define MIXER_PASSES_TD

include "mlir/Pass/PassBase.td"

def MixerSplitSkip : Pass<"mixer-split-skip", "::mlir::func::FuncOp"> {
  let summary = "Turn the skip term D . x into pre-processing after the recurrence";
  let description = [{
    `o = R + D . x` becomes a recurrence without skip followed by
    `mixer.binary mul` and `mixer.binary add`: the kernel only scans.
  }];
}

def MixerNormalizerToColumn : Pass<"mixer-normalizer-to-column", "::mlir::func::FuncOp"> {
  let summary = "Turn the sum normalizer into one more value column";
  let description = [{
    `z_t = A_t z_{t-1} + k_t` is the recurrence of a value column of ones, so
    `normalizer sum` becomes `v' = append_one(v)`, a plain recurrence with
    V + 1 value columns, and `mixer.normalize` (which also applies the scale).
  }];
}

def MixerSplitBidirectional : Pass<"mixer-split-bidirectional", "::mlir::func::FuncOp"> {
  let summary = "Split a bidirectional recurrence into a forward and a reverse one";
  let description = [{
    `o = fwd + rev - scale (q . k) v`: two single-direction recurrences and the
    correction for the token's own write, which both scans contain. Run after
    mixer-normalizer-to-column so that the correction covers the ones column.
  }];
  let dependentDialects = ["::mixc::mixer::MixerDialect"];
}

def MixerChunk : Pass<"mixer-chunk", "::mlir::func::FuncOp"> {
  let summary = "Choose the chunked algorithm of each recurrence from its structure";
  let description = [{
    Records in `mixer.chunk` how the recurrence splits into intra-chunk and
    inter-chunk work (docs/cpu-backend.md, docs/cuda-backend.md):
    identity and scalar decays take the SSD form (cumulative log-decays, a
    masked C x C product, the state passed between chunks), vector decays the
    GLA form (per-channel cumulative decays, sub-blocks of 16 with a reference
    point each), diagonal plus low rank with an identity or scalar diagonal
    the UT form (the chunk's transitions as a unit lower-triangular inverse),
    elementwise decays the chunked scan (chunks scanned from a zero state in
    parallel, then corrected by the state entering each; a chunk's transition
    is elementwise, exp of the summed exponents). DPLR with a vector diagonal,
    the RWKV-6 bonus, the mLSTM normalizer and decays that may be negative get
    no `mixer.chunk` and stay recurrent. Each target takes the forms its
    kernels implement (the CPU: SSD, GLA and the scan; CUDA: SSD, GLA and UT).
  }];
  let options = [
    Option<"chunkSize", "chunk-size", "int", /*default=*/"64", "tokens per chunk">,
  ];
}

def MixerTileForTarget : Pass<"mixer-tile", "::mlir::func::FuncOp"> {
  let summary = "Choose the schedule of each recurrence for a target";
  let description = [{
    Attaches `mixer.schedule` to every `mixer.recurrence`: the algorithm
    (`recurrent`: the state held on chip and updated token by token, blocked
    over value columns), the value block, and how work is split over threads,
    from a target description (cpu: the ISA's vector width and register
    count, cores, L1; cuda: shared memory per CTA, warps, multiprocessors). On the CPU it
    records the vector lanes and the register block (vectors of a value block
    that one sweep over the key rows keeps in registers). For cuda it also
    chooses the form of a derived backward's `mixer.recurrence_grad` (tiled
    as its forward): where the three sweeps of the low-rank form do not take
    it (elementwise decays, factors, a skip, mLSTM), `grad_checkpoint` = 64, the
    checkpointed reverse sweep; where they take it with a decay, the same
    (the decay's gradient reads the state beside the adjoint's, which the
    sweeps recompute from the checkpoints).
  }];
  let options = [
    Option<"target", "target", "std::string", /*default=*/"\"cpu\"", "target: cpu or cuda">,
    Option<"isa", "isa", "std::string", /*default=*/"\"x86-64-v3\"",
           "cpu: the instruction set the kernel is built for (recorded in the schedule)">,
    Option<"vectorWidth", "vector-width", "int", /*default=*/"8", "cpu: fp32 lanes of one vector register">,
    Option<"vectorRegisters", "vector-registers", "int", /*default=*/"16",
           "cpu: vector registers of the ISA (the register blocking keeps a sweep's operands within them)">,
    Option<"cores", "cores", "int", /*default=*/"2", "cores to spread (batch, head, value block) over">,
    Option<"l1Bytes", "l1-bytes", "int", /*default=*/"24576", "bytes of L1 one block of the state may use">,
    Option<"schedule", "schedule", "std::string", /*default=*/"\"auto\"",
           "auto (the cost model picks), recurrent, or chunked where mixer.chunk allows it">,
    Option<"sharedBytes", "shared-bytes", "int", /*default=*/"45056",
           "cuda: static shared memory one CTA of the recurrent schedule may use">,
    Option<"sms", "sms", "int", /*default=*/"132",
           "cuda: the GPU's multiprocessors (the chunked walks' tiling fills them; 132: H100 SXM, H200)">,
    Option<"fallback", "fallback", "bool", /*default=*/"false",
           "cpu, schedule=chunked: keep the recurrent schedule where the CPU has no chunked form, saying why in "
           "`mixer.no_chunked_form` (without it, an error)">,
  ];
}

def MixerDeriveBackward : Pass<"mixer-derive-backward", "::mlir::ModuleOp"> {
  let summary = "Derive the backward of each mixer function as a function of its own";
  let description = [{
    For each `func.func @f(inputs...) -> (o, final_state[, final_m])` adds
    `@f_backward(inputs..., do, dfinal_state) -> (d input...)`: the forward's
    pre-processing recomputed, then reverse mode over it. Each op's adjoint is
    an op: `mixer.map_vjp`, `mixer.binary_vjp` (summing what an operand
    broadcast over), `mixer.normalize_vjp`, and for a recurrence
    `mixer.recurrence_grad` with its operands and the upstream gradients of o
    and the final state. Gradients reaching a value twice are added; an input
    the loss does not reach gets `mixer.zeros_like`. Only values computed
    from the inputs are differentiated (constants and the head index are not).
    Run after canonicalize, so that decays are in their canonical forms (a
    factor that may be negative has no real log).
  }];
  let dependentDialects = ["::mixc::mixer::MixerDialect", "::mlir::func::FuncDialect"];
}

def MixerLowerChunks : Pass<"mixer-lower-chunks", "::mlir::func::FuncOp"> {
  let summary = "Lower a recurrence with a chunk form (SSD, GLA, UT, scan) to the chunk-level ops";
  let description = [{
    A `mixer.recurrence` that mixer-chunk gave `algorithm = "ssd"` (identity,
    constant or data-dependent scalar decays), `"gla"` (vector decays, per
    key), `"ut"` (DPLR: the delta rules, KDA, RWKV-7) or `"scan"` (elementwise
    decays with a dt), in
    the split form (no normalizer, skip or bonus; SSD and GLA in either
    direction, the ops of a reverse scan marked `reverse`; UT and the scan
    forward),
    becomes the chunked algorithm as ops: `mixer.chunk_cumsum` (cumulative
    log-decays per chunk; a factor decay gets its log first); for SSD and GLA
    `mixer.chunk_scores` (the masked, decayed intra-chunk products) and
    `mixer.chunk_local_states`; for UT `mixer.chunk_ut` (the chunk's
    triangular system) and `mixer.chunk_ut_states` (per-chunk states and
    dense transitions); for the scan `mixer.chunk_scan_local` (chunks scanned
    from zero); then `mixer.chunk_walk` (the state entering each chunk, and
    the final state) and `mixer.chunk_output` / `chunk_ut_output` /
    `chunk_scan_output`. Recurrences without a chunk form stay as they are,
    and so does one tiled for a target unless the target prints that
    schedule's kernels from the ops: a `#mixer.cpu_tile` of `chunked_ssd`,
    `chunked_gla` or `chunked_ut`, a forward `#mixer.cuda_tile` of
    `chunked_ssd` or `chunked_gla` outside a mixture of memories (the walk then
    takes the schedule). The CUDA driver runs it
    on a copy of the tiled module before printing the forward; the backward
    is derived from the recurrences.
  }];
  let dependentDialects = ["::mixc::mixer::MixerDialect"];
}

def MixerFlipReverseScans : Pass<"mixer-flip-reverse-scans", "::mlir::func::FuncOp"> {
  let summary = "Write a reverse recurrence as the forward one over its tokens flipped";
  let description = [{
    A `mixer.recurrence` in direction `reverse` becomes `mixer.flip_tokens` of
    each per-token operand, the same recurrence `forward`, and `mixer.flip_tokens`
    of its output; the initial and final states are unchanged. The CUDA
    backward runs it before mixer-tile, so that the adjoint's reverse scans
    take the chunked kernels, which scan forward only. Recurrences that
    mixer-tile scheduled already are left as they are.
  }];
  let dependentDialects = ["::mixc::mixer::MixerDialect"];
}

def MixerLowerAdjoint : Pass<"mixer-lower-adjoint", "::mlir::func::FuncOp"> {
  let summary = "Write a diagonal recurrence's adjoint as forward-shaped recurrences";
  let description = [{
    A `mixer.recurrence_grad` whose transition is diagonal (identity, constant
    or per-token scalar, per-key vector; log-decays), in one direction,
    without a bonus, skip, normalizer or input gate, becomes three
    `mixer.recurrence` ops that every target's forward kernels run, chunked
    where they are (docs/dialect.md, "The adjoint as scans"):
      dS_t = A_{t+1} dS_{t+1} + c q_t do_t^T, read at k_t: dv, and dinit;
      its transpose read at v_t (the decay on the value side): dk;
      the forward's transposed state S_t^T read at do_t: dq (and S_T);
    and the decay's gradient, the reverse cumulative sum over tokens of
    q . dq - k . dk plus the final state's term. The decays of the two
    adjoint scans are the forward's moved by one token (`mixer.shift_tokens`);
    a value-side vector decay is the elementwise structure with the factor
    dt = exp(decay). `adjoint`: `scans` lowers every such op; `auto`
    those whose forward was tiled for a target (mixer.schedule: on the CPU
    the scans beat the checkpointed sweep for every diagonal structure
    measured), none untiled, except on CUDA those that the chunked backward
    of the SSD and GLA forms takes (identity, scalar or per-key vector
    log-decays, K and V of 64 or 128: RecurrenceForms.h, cudaChunkedSsdGrad);
    `sweep` none. The others
    keep `mixer.recurrence_grad`.
  }];
  let options = [
    Option<"adjoint", "adjoint", "std::string", /*default=*/"\"auto\"", "scans, auto or sweep">,
  ];
  let dependentDialects = ["::mixc::mixer::MixerDialect"];
}

#endif
