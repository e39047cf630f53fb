#ifndef MIXER_ROUTE_OPS_TD
#define MIXER_ROUTE_OPS_TD

// ---- Mixture-of-Memories ------------------------------------------------------
// A router picks top-k of M memories per token. The recurrence then runs over
// B x M sequences, each the tokens routed to one memory of one batch row in
// token order (docs/dialect.md, "Mixture-of-Memories"): route_gather builds
// those sequences from the pre-processed operands, route_scatter mixes each
// token's top-k readouts by the router's weights.

def Mixer_IndexTensor : RankedTensorOf<[I32, I64]>;

def Mixer_RouteSlotsOp : Mixer_Op<"route_slots", [Pure]> {
  let summary = "a routed input's rows, one per (token, chosen memory): [B, T, k, ...] <-> [B, T * k, ...]";
  let description = [{
    A routed input carries one row per top-k slot of each token (the memory's
    own projection of the token). Pre-processing runs on these rows as on
    tokens; the layout is unchanged (a view). The other way round (a result
    of one more dimension, k static) is its adjoint.
  }];
  let arguments = (ins Mixer_FloatTensor:$input);
  let results = (outs Mixer_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// [B, T, k, ...] -> [B, T * k, ...] (else the adjoint's way back).
    bool flattens() {
      return ::mlir::cast<::mlir::RankedTensorType>(getResult().getType()).getRank() <
             ::mlir::cast<::mlir::RankedTensorType>(getInput().getType()).getRank();
    }
  }];
}

def Mixer_RouteGatherOp : Mixer_Op<"route_gather", [Pure]> {
  let summary = "the tokens routed to each memory, packed in token order: [B, T, ...] -> [B * M, L, ...]";
  let description = [{
    Sequence b * M + m of the result is the rows of batch row b whose route
    names memory m, in token order (slot order within a token); L is the
    longest such sequence, found at run time, and the rows past a sequence's
    end are zeros. A zero row is an identity step of every recurrence this op
    feeds (zero key, value, gate and log-decay), so padded sequences give the
    unpadded ones' outputs and final states. `slots`: the input holds one row
    per (token, slot) (route_slots), else one row per token, copied to each
    memory the token chose. `route` [B, T, k] holds memory indices in [0, M).
    With `weights` [B, T, k] each copied row is scaled by its slot's weight
    (route_scatter's adjoint: the upstream gradient of o to each memory).
  }];
  let arguments = (ins Mixer_FloatTensor:$input, Mixer_IndexTensor:$route, Optional<Mixer_FloatTensor>:$weight,
                       I64Attr:$memories, UnitAttr:$slots);
  let results = (outs Mixer_FloatTensor:$result);
  let assemblyFormat = "$input `by` $route (`weights` $weight^)? `memories` $memories (`slots` $slots^)? attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  // Gathered before a zero-preserving op rather than after (a product, a
  // negation, a division by a per-head value): the recurrence then sees its
  // operands' structure (the delta rule's a = s * b, scaled), and wide rows are
  // gathered once where they were copied for each product.
  let hasCanonicalizer = 1;
}

def Mixer_RouteScatterOp : Mixer_Op<"route_scatter", [Pure]> {
  let summary = "each token's readouts from its chosen memories, mixed by the router's weights";
  let description = [{
    o[b, t] = sum over slots j of weight[b, t, j] * input[b * M + m, p], where
    m = route[b, t, j] and p is the token's position in memory m's sequence
    (as route_gather placed it). Without `weights` the rows are summed as
    they are; with `slots` each slot keeps its own row ([B, T * k, ...], no
    sum). Both are route_gather's adjoint (of token rows, of slot rows).
  }];
  let arguments = (ins Mixer_FloatTensor:$input, Mixer_IndexTensor:$route, Optional<Mixer_FloatTensor>:$weight,
                       I64Attr:$memories, UnitAttr:$slots);
  let results = (outs Mixer_FloatTensor:$result);
  let assemblyFormat = "$input `by` $route (`weights` $weight^)? `memories` $memories (`slots` $slots^)? attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Mixer_RouteWeightGradOp : Mixer_Op<"route_weight_grad", [Pure]> {
  let summary = "the router weights' gradient: <do[b, t], y[b M + route[b, t, j], pos]> per slot";
  let description = [{
    route_scatter's adjoint for its weights: per (token, slot), the dot
    product of the output's upstream gradient with the readout of the memory
    that slot chose ([B, T, k]).
  }];
  let arguments = (ins Mixer_FloatTensor:$input, Mixer_FloatTensor:$grad, Mixer_IndexTensor:$route, I64Attr:$memories);
  let results = (outs Mixer_FloatTensor:$result);
  let assemblyFormat = "$input `,` $grad `by` $route `memories` $memories attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Mixer_MemoryStatesOp : Mixer_Op<"memory_states", [Pure]> {
  let summary = "states per memory as the recurrence's sequences, or back: [B, M, ...] <-> [B * M, ...]";
  let description = [{
    The same memory read either way (a view): the caller's [B, M, H, K, V]
    states are the recurrence's B * M sequences in order b * M + m.
  }];
  let arguments = (ins Mixer_FloatTensor:$input, I64Attr:$memories);
  let results = (outs Mixer_FloatTensor:$result);
  let assemblyFormat = "$input `memories` $memories attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// [B, M, ...] -> [B * M, ...]: the caller's states as the scan's (else back).
    bool merges() {
      return ::mlir::cast<::mlir::RankedTensorType>(getResult().getType()).getRank() <
             ::mlir::cast<::mlir::RankedTensorType>(getInput().getType()).getRank();
    }
  }];
}

#endif
