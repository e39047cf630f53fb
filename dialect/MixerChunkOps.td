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
    With `reverse` the op runs on each sequence with its token order
    reversed (a reverse scan): chunks are counted from the last token, and
    "first", "last", "earlier" and "later" are in that order; token-shaped
    operands and results keep the original order.
  }];
  let arguments = (ins Mixer_FloatTensor:$decay, Mixer_FloatTensor:$over, I64Attr:$chunk, UnitAttr:$reverse);
  let results = (outs Mixer_FloatTensor:$cumulative);
  let assemblyFormat = "$decay `over` $over `chunk` $chunk (`reverse` $reverse^)? attr-dict `:` type($decay) `,` type($over) `->` type($cumulative)";
  let hasVerifier = 1;
}

def Mixer_ChunkScoresOp : Mixer_Op<"chunk_scores", [Pure]> {
  let summary = "the masked, decayed score rows of each chunk: the intra-chunk attention";
  let description = [{
    Row t of its chunk's C x C matrix: A[b, t, h, j] = (q_t . k_s) exp(G_t - G_s)
    for s = (first token of t's chunk) + j <= t, and 0 for later s (the causal
    mask) or past the sequence's end: [B, T, H, chunk]. Without `decay` the
    factor is 1 (identity transition). Every exponent is <= 0 for decays <= 0.
    With `reverse` the op runs on each sequence with its token order
    reversed (a reverse scan): chunks are counted from the last token, and
    "first", "last", "earlier" and "later" are in that order; token-shaped
    operands and results keep the original order.
  }];
  let arguments = (ins Mixer_FloatTensor:$q, Mixer_FloatTensor:$k, Optional<Mixer_FloatTensor>:$cumulative,
                       I64Attr:$chunk, UnitAttr:$reverse);
  let results = (outs Mixer_FloatTensor:$scores);
  let assemblyFormat = "$q `,` $k (`decay` `(` $cumulative^ `)`)? `chunk` $chunk (`reverse` $reverse^)? attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Mixer_ChunkLocalStatesOp : Mixer_Op<"chunk_local_states", [Pure]> {
  let summary = "each chunk's contribution to the state, from a zero state";
  let description = [{
    U[b, c, h] = sum over the tokens s of chunk c of exp(G_last - G_s) k_s v_s^T,
    G_last the cumulative decay at the chunk's last token: [B, NC, H, K, V].
    With `reverse` the op runs on each sequence with its token order
    reversed (a reverse scan): chunks are counted from the last token, and
    "first", "last", "earlier" and "later" are in that order; token-shaped
    operands and results keep the original order.
  }];
  let arguments = (ins Mixer_FloatTensor:$k, Mixer_FloatTensor:$v, Optional<Mixer_FloatTensor>:$cumulative,
                       I64Attr:$chunk, UnitAttr:$reverse);
  let results = (outs Mixer_FloatTensor:$local);
  let assemblyFormat = "$k `,` $v (`decay` `(` $cumulative^ `)`)? `chunk` $chunk (`reverse` $reverse^)? attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Mixer_ChunkWalkOp : Mixer_Op<"chunk_walk", [Pure, AttrSizedOperandSegments]> {
  let summary = "the inter-chunk state walk: the state entering each chunk, and the final state";
  let description = [{
    S_0 = init (zeros without), then per chunk c one of
      S_{c+1} = exp(G_last(c)) S_c + U_c            (`decay`: scalar or per key)
      S_{c+1} = exp(rate . D_last(c)) . S_c + U_c   (`decay` and `rate`: elementwise,
                                                     D per value column [B, T, H, V])
      S_{c+1} = A_c S_c + U_c                        (`transition` A [B, NC, H, K, K]: UT)
    returns the states entering each chunk [B, NC, H, K, V] and S_NC, the
    final state [B, H, K, V]. The only sequential step of the chunked forms:
    NC steps instead of T.
    With `reverse` the op runs on each sequence with its token order
    reversed (a reverse scan): chunks are counted from the last token, and
    "first", "last", "earlier" and "later" are in that order; token-shaped
    operands and results keep the original order. (Only with `decay` or
    none: the UT and scan forms are forward.)
  }];
  let arguments = (ins Mixer_FloatTensor:$local, Optional<Mixer_FloatTensor>:$cumulative,
                       Optional<Mixer_FloatTensor>:$rate, Optional<Mixer_FloatTensor>:$transition,
                       Optional<Mixer_FloatTensor>:$init, I64Attr:$chunk, UnitAttr:$reverse);
  let results = (outs Mixer_FloatTensor:$entering, Mixer_FloatTensor:$final_state);
  let assemblyFormat = "$local (`decay` `(` $cumulative^ `)`)? (`rate` `(` $rate^ `)`)? (`transition` `(` $transition^ `)`)? (`init` `(` $init^ `)`)? `chunk` $chunk (`reverse` $reverse^)? attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Mixer_ChunkOutputOp : Mixer_Op<"chunk_output", [Pure]> {
  let summary = "the chunked form's output: intra-chunk scores times v plus the entering state's readout";
  let description = [{
    o_t = scale (sum_j A[t, j] v_{s_j} + exp(G_t) S_{c(t)}^T q_t), with A the
    chunk's score rows and S_{c(t)} the state entering t's chunk: [B, T, H, V].
    With `reverse` the op runs on each sequence with its token order
    reversed (a reverse scan): chunks are counted from the last token, and
    "first", "last", "earlier" and "later" are in that order; token-shaped
    operands and results keep the original order.
  }];
  let arguments = (ins Mixer_FloatTensor:$q, Mixer_FloatTensor:$v, Optional<Mixer_FloatTensor>:$cumulative,
                       Mixer_FloatTensor:$scores, Mixer_FloatTensor:$entering, I64Attr:$chunk, F64Attr:$scale,
                       UnitAttr:$reverse);
  let results = (outs Mixer_FloatTensor:$o);
  let assemblyFormat = "$q `,` $v (`decay` `(` $cumulative^ `)`)? `scores` `(` $scores `)` `states` `(` $entering `)` `chunk` $chunk `scale` $scale (`reverse` $reverse^)? attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Mixer_ChunkUtOp : Mixer_Op<"chunk_ut", [Pure]> {
  let summary = "the UT transform of each chunk: the delta rule's write vectors as pseudo keys and values";
  let description = [{
    For S_t = d_t S_{t-1} + a_t (b_t^T S_{t-1}) + k_t v_t^T (the DPLR form of
    the delta rules, d_t = exp(decay) scalar or 1): within a chunk entered with
    state S_0, the vector w_t = S_{t-1}^T b_t each token writes is
    S_0^T p_t + u_t, with
      p_t = g_{t-1} b_t + sum_{s<t} L_ts p_s,
      u_t = sum_{s<t} (L_ts u_s + M_ts v_s),
      L_ts = (g_{t-1} / g_s) (a_s . b_t),  M_ts = (g_{t-1} / g_s) (k_s . b_t),
    g_t the decays' product from the chunk's start (exp of the cumulative
    decay; g_{-1} = 1): the unit lower-triangular system (I - L) solved by
    forward substitution, the "UT inverse". Results p [B, T, H, K] and
    u [B, T, H, V], in the token layout.
  }];
  let arguments = (ins Mixer_FloatTensor:$a, Mixer_FloatTensor:$b, Mixer_FloatTensor:$k, Mixer_FloatTensor:$v,
                       Optional<Mixer_FloatTensor>:$cumulative, I64Attr:$chunk);
  let results = (outs Mixer_FloatTensor:$p, Mixer_FloatTensor:$u);
  let assemblyFormat = "$a `,` $b `,` $k `,` $v (`decay` `(` $cumulative^ `)`)? `chunk` $chunk attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Mixer_ChunkUtStatesOp : Mixer_Op<"chunk_ut_states", [Pure]> {
  let summary = "the UT form's per-chunk state contribution and chunk transition";
  let description = [{
    With p, u from `mixer.chunk_ut`, a chunk maps its entering state S_0 to
    A_c S_0 + U_c:
      U_c = sum_s (g_last / g_s) (a_s u_s^T + k_s v_s^T)     [B, NC, H, K, V]
      A_c = g_last I + sum_s (g_last / g_s) a_s p_s^T          [B, NC, H, K, K]
    which `mixer.chunk_walk ... transition(A)` walks.
  }];
  let arguments = (ins Mixer_FloatTensor:$a, Mixer_FloatTensor:$k, Mixer_FloatTensor:$v, Mixer_FloatTensor:$p,
                       Mixer_FloatTensor:$u, Optional<Mixer_FloatTensor>:$cumulative, I64Attr:$chunk);
  let results = (outs Mixer_FloatTensor:$local, Mixer_FloatTensor:$transition);
  let assemblyFormat = "$a `,` $k `,` $v `,` $p `,` $u (`decay` `(` $cumulative^ `)`)? `chunk` $chunk attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Mixer_ChunkUtOutputOp : Mixer_Op<"chunk_ut_output", [Pure]> {
  let summary = "the UT form's output from the state entering each chunk";
  let description = [{
    o_t = scale (S_0^T qe_t + sum_{s<=t} (g_t / g_s) ((a_s . q_t) u_s + (k_s . q_t) v_s))
    with the effective query qe_t = g_t q_t + sum_{s<=t} (g_t / g_s) (a_s . q_t) p_s
    and S_0 the state entering t's chunk: [B, T, H, V].
  }];
  let arguments = (ins Mixer_FloatTensor:$q, Mixer_FloatTensor:$a, Mixer_FloatTensor:$k, Mixer_FloatTensor:$v,
                       Mixer_FloatTensor:$p, Mixer_FloatTensor:$u, Optional<Mixer_FloatTensor>:$cumulative,
                       Mixer_FloatTensor:$entering, I64Attr:$chunk, F64Attr:$scale);
  let results = (outs Mixer_FloatTensor:$o);
  let assemblyFormat = "$q `,` $a `,` $k `,` $v `,` $p `,` $u (`decay` `(` $cumulative^ `)`)? `states` `(` $entering `)` `chunk` $chunk `scale` $scale attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Mixer_ChunkScanLocalOp : Mixer_Op<"chunk_scan_local", [Pure]> {
  let summary = "the chunked scan's intra-chunk work: each chunk scanned from a zero state";
  let description = [{
    For elementwise decays S <- exp(rate . dt_t) . S + k_t v_t^T (rate
    [1, 1, H, K, V] or rank 0; D the cumulative dt per value column, from
    `mixer.chunk_cumsum`), each chunk scanned token by token from a zero
    state: the local read-outs ol_t = S_loc,t^T q_t [B, T, H, V] and the
    chunks' end states U [B, NC, H, K, V]. No matrix form exists for these
    decays; the chunks run in parallel instead of the tokens.
  }];
  let arguments = (ins Mixer_FloatTensor:$q, Mixer_FloatTensor:$k, Mixer_FloatTensor:$v,
                       Mixer_FloatTensor:$cumulative, Mixer_FloatTensor:$rate, I64Attr:$chunk);
  let results = (outs Mixer_FloatTensor:$local_o, Mixer_FloatTensor:$local);
  let assemblyFormat = "$q `,` $k `,` $v `decay` `(` $cumulative `)` `rate` `(` $rate `)` `chunk` $chunk attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Mixer_ChunkScanOutputOp : Mixer_Op<"chunk_scan_output", [Pure]> {
  let summary = "the chunked scan's output: the local read-out corrected by the entering state";
  let description = [{
    o_t = scale (ol_t + sum_i q_t,i exp(rate_ij D_t,j) S_c,ij), S_c the state
    entering t's chunk: [B, T, H, V].
  }];
  let arguments = (ins Mixer_FloatTensor:$q, Mixer_FloatTensor:$local_o, Mixer_FloatTensor:$cumulative,
                       Mixer_FloatTensor:$rate, Mixer_FloatTensor:$entering, I64Attr:$chunk, F64Attr:$scale);
  let results = (outs Mixer_FloatTensor:$o);
  let assemblyFormat = "$q `,` $local_o `decay` `(` $cumulative `)` `rate` `(` $rate `)` `states` `(` $entering `)` `chunk` $chunk `scale` $scale attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

#endif
