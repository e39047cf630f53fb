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
    // (vector decays), the chunked scan (elementwise decays).
    I32EnumAttrCase<"chunked_ssd", 1>,
    I32EnumAttrCase<"chunked_gla", 2>,
    I32EnumAttrCase<"chunked_scan", 3>]> {
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
    the chunked algorithms (absent for `recurrent`).

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
    DefaultValuedParameter<"int64_t", "0">:$chunk);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    bool isChunked() const { return getAlgorithm() != CpuAlgorithm::recurrent; }
    /// Vectors of one value block.
    int64_t vectors() const { return getVBlock() / getLanes(); }
  }];
}

#endif
