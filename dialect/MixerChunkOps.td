// The chunk level: what mixer-lower-chunks turns a recurrence with a chunked
// form into (docs/dialect.md, "The chunk level"). Every op keeps the token
// layout [B, T, H, ...] where it can; chunk-level values are [B, NC, H, ...]
// with NC = ceil(T / chunk) chunks, the last one possibly partial. Included
// by MixerOps.td.
#ifndef MIXER_CHUNK_OPS_TD
#define MIXER_CHUNK_OPS_TD

def Mixer_ChunkCumsumOp : Mixer_Op<"chunk_cumsum", [Pure]> {
  let summary = "cumulative log-decays within each chunk";
  let description = [{
    G_t = sum of decay_s for s from the first token of t's chunk to t
    (inclusive), restarting every `chunk` tokens: [B, T, H]. A per-head decay
    [1, 1, H] (constant per head) spans the batch and time of `over`, a
    per-token tensor whose B and T are read, nothing else.
  }];
  let arguments = (ins Mixer_FloatTensor:$decay, Mixer_FloatTensor:$over, I64Attr:$chunk);
  let results = (outs Mixer_FloatTensor:$cumulative);
  let assemblyFormat = "$decay `over` $over `chunk` $chunk attr-dict `:` type($decay) `,` type($over) `->` type($cumulative)";
  let hasVerifier = 1;
}

def Mixer_ChunkScoresOp : Mixer_Op<"chunk_scores", [Pure]> {
  let summary = "the masked, decayed score rows of each chunk: the intra-chunk attention";
  let description = [{
    Row t of its chunk's C x C matrix: A[b, t, h, j] = (q_t . k_s) exp(G_t - G_s)
    for s = (first token of t's chunk) + j <= t, and 0 for later s (the causal
    mask) or past the sequence's end: [B, T, H, chunk]. Without `decay` the
    factor is 1 (identity transition). Every exponent is <= 0 for decays <= 0.
  }];
  let arguments = (ins Mixer_FloatTensor:$q, Mixer_FloatTensor:$k, Optional<Mixer_FloatTensor>:$cumulative,
                       I64Attr:$chunk);
  let results = (outs Mixer_FloatTensor:$scores);
  let assemblyFormat = "$q `,` $k (`decay` `(` $cumulative^ `)`)? `chunk` $chunk attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Mixer_ChunkLocalStatesOp : Mixer_Op<"chunk_local_states", [Pure]> {
  let summary = "each chunk's contribution to the state, from a zero state";
  let description = [{
    U[b, c, h] = sum over the tokens s of chunk c of exp(G_last - G_s) k_s v_s^T,
    G_last the cumulative decay at the chunk's last token: [B, NC, H, K, V].
  }];
  let arguments = (ins Mixer_FloatTensor:$k, Mixer_FloatTensor:$v, Optional<Mixer_FloatTensor>:$cumulative,
                       I64Attr:$chunk);
  let results = (outs Mixer_FloatTensor:$local);
  let assemblyFormat = "$k `,` $v (`decay` `(` $cumulative^ `)`)? `chunk` $chunk attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Mixer_ChunkWalkOp : Mixer_Op<"chunk_walk", [Pure, AttrSizedOperandSegments]> {
  let summary = "the inter-chunk state walk: the state entering each chunk, and the final state";
  let description = [{
    S_0 = init (zeros without), S_{c+1} = exp(G_last(c)) S_c + U_c; returns the
    states entering each chunk [B, NC, H, K, V] and S_NC, the final state
    [B, H, K, V]. The only sequential step of the chunked form: NC steps
    instead of T.
  }];
  let arguments = (ins Mixer_FloatTensor:$local, Optional<Mixer_FloatTensor>:$cumulative,
                       Optional<Mixer_FloatTensor>:$init, I64Attr:$chunk);
  let results = (outs Mixer_FloatTensor:$entering, Mixer_FloatTensor:$final_state);
  let assemblyFormat = "$local (`decay` `(` $cumulative^ `)`)? (`init` `(` $init^ `)`)? `chunk` $chunk attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Mixer_ChunkOutputOp : Mixer_Op<"chunk_output", [Pure]> {
  let summary = "the chunked form's output: intra-chunk scores times v plus the entering state's readout";
  let description = [{
    o_t = scale (sum_j A[t, j] v_{s_j} + exp(G_t) S_{c(t)}^T q_t), with A the
    chunk's score rows and S_{c(t)} the state entering t's chunk: [B, T, H, V].
  }];
  let arguments = (ins Mixer_FloatTensor:$q, Mixer_FloatTensor:$v, Optional<Mixer_FloatTensor>:$cumulative,
                       Mixer_FloatTensor:$scores, Mixer_FloatTensor:$entering, I64Attr:$chunk, F64Attr:$scale);
  let results = (outs Mixer_FloatTensor:$o);
  let assemblyFormat = "$q `,` $v (`decay` `(` $cumulative^ `)`)? `scores` `(` $scores `)` `states` `(` $entering `)` `chunk` $chunk `scale` $scale attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

#endif
