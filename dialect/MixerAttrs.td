#ifndef MIXER_ATTRS_TD
#define MIXER_ATTRS_TD

include "dialect/MixerDialect.td"
include "mlir/IR/AttrTypeBase.td"

class Mixer_Attr<string name, string attrMnemonic> : AttrDef<Mixer_Dialect, name> {
  let mnemonic = attrMnemonic;
}

// How a recurrence runs on the CPU (runtime/cpu/mixc_cpu.h).
def Mixer_CpuAlgorithm : I32EnumAttr<"CpuAlgorithm", "CPU schedule of a recurrence", [
    // The state block in L1, updated and read out token by token (scanRecurrent).
    I32EnumAttrCase<"recurrent", 0>,
    // The chunked forms of mixer.chunk: SSD (identity and scalar decays), GLA
    // (vector decays), the chunked scan (elementwise decays), UT (the delta
    // rules: DPLR with no, a scalar or a per-key diagonal).
    I32EnumAttrCase<"chunked_ssd", 1>,
    I32EnumAttrCase<"chunked_gla", 2>,
    I32EnumAttrCase<"chunked_scan", 3>,
    I32EnumAttrCase<"chunked_ut", 4>]> {
  let cppNamespace = "::mixc::mixer";
  let genSpecializedAttr = 0;
}

def Mixer_CpuTileAttr : Mixer_Attr<"CpuTile", "cpu_tile"> {
  let summary = "the CPU schedule of one recurrence, as mixer-tile chose it";
  let description = [{
    Everything the CPU kernel of a `mixer.recurrence` is instantiated with:
    `algorithm`; `isa`, the instruction set it is built for, and `lanes`, the
    fp32 lanes of one of its vector registers (the kernel's vector type);
    `k` keys; `v_block`, value columns per task (a whole number of vectors);
    `reg_block`, vectors per register group (recurrent: one sweep over the key
    rows covers that many vectors of the block; chunked SSD/GLA: the column
    tile of the products, in vectors); `threads`; `chunk`, tokens per chunk of
    the chunked algorithms (absent for `recurrent`); `grad_checkpoint`, what
    the derived backward trades between memory and recomputation: it keeps the
    state every that many tokens and recomputes one such stretch of states at a
    time (default 64; fewer where 65 states of K x V would not stay in L2).

    ```mlir
    mixer.schedule = #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v3", lanes = 8, k = 64,
                                     v_block = 64, reg_block = 2, threads = 2>
    ```
  }];
  let parameters = (ins
    EnumParameter<Mixer_CpuAlgorithm>:$algorithm,
    StringRefParameter<"the ISA level">:$isa,
    "int64_t":$lanes,
    "int64_t":$k,
    "int64_t":$v_block,
    "int64_t":$reg_block,
    "int64_t":$threads,
    DefaultValuedParameter<"int64_t", "0">:$chunk,
    DefaultValuedParameter<"int64_t", "64">:$grad_checkpoint);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    bool isChunked() const { return getAlgorithm() != CpuAlgorithm::recurrent; }
    /// Vectors of one value block.
    int64_t vectors() const { return getVBlock() / getLanes(); }
  }];
}

// How a recurrence runs on a CUDA GPU (runtime/cuda/mixc_cuda.cuh).
def Mixer_CudaAlgorithm : I32EnumAttr<"CudaAlgorithm", "CUDA schedule of a recurrence", [
    // A CTA per (value block, head, batch) holds its K x v_block block of the
    // state in registers and sweeps the tokens (scanRecurrent).
    I32EnumAttrCase<"recurrent", 0>,
    // The tensor-core chunked forms: SSD (identity and scalar decays), GLA
    // (vector decays), UT (delta rules: identity or scalar diagonal).
    I32EnumAttrCase<"chunked_ssd", 1>,
    I32EnumAttrCase<"chunked_gla", 2>,
    I32EnumAttrCase<"chunked_ut", 3>]> {
  let cppNamespace = "::mixc::mixer";
  let genSpecializedAttr = 0;
}

def Mixer_CudaTileAttr : Mixer_Attr<"CudaTile", "cuda_tile"> {
  let summary = "the CUDA schedule of one recurrence, as mixer-tile chose it";
  let description = [{
    `algorithm`; `k` keys; the recurrent sweep's CTA shape: `warps` warps of
    `cols_per_warp` value columns each (`v_block` = warps * cols_per_warp
    columns per CTA, 32 / cols_per_warp lanes splitting the keys of a
    column), `stage` tokens staged through shared memory at a time; `chunk`,
    tokens per chunk of the chunked algorithms (absent for `recurrent`). A
    chunked schedule keeps the sweep's shape: the kernel falls back to it at
    run time for operands the tensor cores cannot stream (fp32 or f16 inputs,
    unaligned rows), and for calls of fewer than `minTokens()` = chunk / 4
    tokens (decoding), where a chunk would be mostly padding.

    The chunked algorithms' state pass (the walk over the chunks) is tiled by
    the rest, for a target of `sms` multiprocessors. The batch is known only
    at run time, so these are rules the glue evaluates, printed from here:
    - `state_blocks`: the value columns per CTA of the walk, widest first;
      the first whose CTAs, B x H x ceil(V / width), reach `sms` is taken,
      else the last. `key_split` = 2: at the last width two warps share each
      16 columns, K / 2 key rows each (few CTAs: twice the warps per SM).
    - `seq_split` (chunked_ssd and chunked_gla; 0: never): where the CTAs of
      the widest block fill at most half of the SMs and the call has at least
      that many chunks, the sequence is split into segments of at least
      seq_split / 2 chunks, as many as fill the SMs once: a local pass (each
      segment from a zero state) and the full pass.
    - `wgmma_walk` (chunked_ut with a scalar diagonal): where the CTAs of
      64-column blocks leave SMs idle, the walk runs on wgmma, a warpgroup per
      32 value columns, when the device runs the sm_90a build (the one choice
      left to run time: the same library may run on an older GPU).
    - `decay_in_loads` (a vector diagonal on chunked_ut or chunked_gla): the
      decay operand is a pointwise chain of one per-token input, per-head
      parameters and constants (`decayLoadChain`: GLA's logsigmoid, Kimi's
      lower-bound gate from A_log and dt_bias); the kernels read that input and
      evaluate the chain in their loads (the chunked prepare kernels and the
      recurrent sweep), so that no row kernel writes the decays to read back.
    - `scalars_in_loads` (the delta rules: a dplr transition): the per-token
      scalars the kernels read -- a scalar diagonal's decay and the scaled
      form's a_scale and k_scale -- are each a pointwise chain of per-token
      scalar inputs ([B, T, H]), per-head parameters ([1, 1, H]) and constants
      (`tokenScalarChain`: Gated DeltaNet's gate from a, A_log and dt_bias,
      the sigmoid of beta). The recurrent sweep computes them as it stages a
      token and the chunked prepare kernels as they load a chunk (writing the
      chunk's values beside their other results for the walk), so that no
      row kernel runs before the scan: a decoding step is one launch.

    ```mlir
    mixer.schedule = #mixer.cuda_tile<algorithm = chunked_ut, k = 64, v_block = 32, cols_per_warp = 4,
                                      warps = 8, stage = 32, chunk = 64, sms = 132,
                                      state_blocks = [128, 64, 32], key_split = 2, wgmma_walk = true>
    ```
  }];
  let parameters = (ins
    EnumParameter<Mixer_CudaAlgorithm>:$algorithm,
    "int64_t":$k,
    "int64_t":$v_block,
    "int64_t":$cols_per_warp,
    "int64_t":$warps,
    "int64_t":$stage,
    DefaultValuedParameter<"int64_t", "0">:$chunk,
    DefaultValuedParameter<"int64_t", "0">:$sms,
    OptionalParameter<"::mlir::DenseI64ArrayAttr">:$state_blocks,
    DefaultValuedParameter<"int64_t", "1">:$key_split,
    DefaultValuedParameter<"int64_t", "0">:$seq_split,
    DefaultValuedParameter<"bool", "false">:$wgmma_walk,
    DefaultValuedParameter<"bool", "false">:$decay_in_loads,
    DefaultValuedParameter<"int64_t", "0">:$grad_checkpoint,
    DefaultValuedParameter<"bool", "false">:$scalars_in_loads);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    bool isChunked() const { return getAlgorithm() != CudaAlgorithm::recurrent; }
    /// The fewest tokens a call needs for the chunked kernels (0: recurrent).
    int64_t minTokens() const { return isChunked() ? std::max<int64_t>(1, getChunk() / 4) : 0; }
    /// The walk's widths in words ("128, 64 or 32"), for what the printers and `mixc check` say of them.
    std::string stateBlocksText() const;
  }];
}

#endif
