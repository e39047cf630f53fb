// The forms of a mixer.recurrence and the rewrites between them. The
// canonicalizer (RecurrenceOp::getCanonicalizationPatterns) states a decay
// given as log(x) as the factor x, and a delta rule's low-rank term
// a = s_1 ... s_n b as `lowrank(%s * %b)` with the product s of the per-token
// scalars; a target whose kernel cannot take a form turns it back here, in
// its tiling pass, so that the IR after tiling says what the kernel reads.
#ifndef MIXC_DIALECT_RECURRENCEFORMS_H
#define MIXC_DIALECT_RECURRENCEFORMS_H

#include "dialect/MixerOps.h"
#include "mlir/IR/Builders.h"

namespace mixc::mixer {

/// v = s_1 * ... * s_n * x with per-token (or per-head, or constant) scalars
/// s_i: returns x and appends the s_i, outermost first, to `factors`.
mlir::Value peelScalarFactors(mlir::Value v, llvm::SmallVectorImpl<mlir::Value> &factors);

/// Elementwise decays in the factor form (S <- dt . S) back in the log form
/// (rate 1, dt = log(factor)): for the kernels that sum log-decays (the
/// chunked scan). Returns the new op, or `op` when there is nothing to do.
RecurrenceOp elementwiseDecayAsLog(RecurrenceOp op, mlir::OpBuilder &builder);

/// The scaled low-rank form back as full rows a = a_scale * b and
/// k = k_scale * k: for kernels that read whole rows of a and k. Returns the
/// new op, or `op` when it has no scaled form.
RecurrenceOp expandScaledLowRank(RecurrenceOp op, mlir::OpBuilder &builder);

/// KDA's transition (I - beta k k^T) Diag(e^g) as the plain form has it
/// (b = k . exp(g), a = s_a k, key s_k k: three rows per token) in the scaled
/// form with `decayed_b`: k's rows once, the scalars s_a, s_k and the decays.
/// For a vector diagonal of log-decays; returns the new op, or `op` when it
/// has not that shape.
RecurrenceOp contractDecayedLowRank(RecurrenceOp op, mlir::OpBuilder &builder);

/// A delta rule in the scaled form (k = b; a vector diagonal with decayed_b) whose
/// q or b is `mixer.map l2norm %x`: the recurrence reads %x with `l2norm_q` /
/// `l2norm_b`, so that the kernel normalizes the rows it loads. Returns the
/// new op, or `op` when neither operand is an l2norm.
RecurrenceOp fuseRowNorms(RecurrenceOp op, mlir::OpBuilder &builder);

/// `l2norm_q` / `l2norm_b` back as `mixer.map l2norm` of the operands (and
/// the scaled form expanded first where asked). Returns the new op, or `op`.
RecurrenceOp expandRowNorms(RecurrenceOp op, mlir::OpBuilder &builder);

/// A vector diagonal's decays that a kernel can compute as it loads them:
/// a chain of pointwise maps and binaries (mixer.map neg ... tanh,
/// mixer.binary add ... pow) over exactly one per-token function argument of
/// the decay's type (returned), per-head function arguments ([1, 1, H] or
/// [1, 1, H, K]: appended to `params`, first use first) and scalar constants.
/// Null when the decay is such an argument itself or has another shape.
mlir::Value decayLoadChain(mlir::Value decay, llvm::SmallVectorImpl<mlir::Value> &params);
/// The most parameters a decay map takes (the CUDA ScanParams::mapIn's size).
constexpr size_t kDecayMapParams = 4;

/// A per-token scalar operand ([B, T, H]: a scalar diagonal's decay, a_scale,
/// k_scale) that a kernel can compute as it loads a token: a function
/// argument of that type, or a chain of pointwise maps and binaries over such
/// arguments (appended to `tokens`), per-head arguments ([1, 1, H]: appended
/// to `params`), first use first, and scalar constants. False otherwise (the
/// lists then hold what was appended before the failing leaf).
bool tokenScalarChain(mlir::Value v, llvm::SmallVectorImpl<mlir::Value> &tokens,
                      llvm::SmallVectorImpl<mlir::Value> &params);
/// The most token inputs and parameters the token scalars take (the CUDA
/// ScanParams::scalarIn's and scalarParams' sizes).
constexpr size_t kTokenScalarInputs = 4, kTokenScalarParams = 4;
/// The per-token scalars the CUDA delta-rule kernels read from `op`, each
/// null where absent: a scalar diagonal's decay, a_scale, k_scale.
struct TokenScalars {
  mlir::Value decay, aScale, kScale;
};
TokenScalars tokenScalarsOf(RecurrenceOp op);
/// Whether every one of them is a tokenScalarChain whose leaves fit
/// ScanParams' slots (appended to `tokens` and `params`): what the kernels
/// can compute in their loads (scalars_in_loads).
bool tokenScalarsInLoads(RecurrenceOp op, llvm::SmallVectorImpl<mlir::Value> &tokens,
                         llvm::SmallVectorImpl<mlir::Value> &params);

/// The CUDA target's two kernels for a recurrence's adjoint that is not
/// forward-shaped scans (what mixer-lower-adjoint leaves as
/// mixer.recurrence_grad): why each cannot take `op`, empty where it can.
/// The three sweeps (mixc_cuda_sweep_grad.cuh) take a low-rank term and store
/// no state; the checkpointed reverse sweep (mixc_cuda_checkpoint_grad.cuh)
/// takes the diagonal transitions, elementwise decays, factors, a skip term
/// and mLSTM's stabilized normalizer. mixer-tile{target=cuda} gives the
/// second a grad_checkpoint.
std::string cudaLowRankSweepsRefusal(RecurrenceGradOp op);
std::string cudaCheckpointSweepRefusal(RecurrenceGradOp op);

/// Whether the CUDA target's chunked backward of the SSD or GLA form takes
/// `op` for bf16 calls (mixc_cuda_ut_grad.cuh, gradform::ssd; GLA's chunk
/// kernel in mixc_cuda_gla_grad.cuh: the forward's walk keeping each chunk's
/// state, a reverse walk, a kernel per chunk): an identity, scalar or
/// per-key vector transition of log-decays, forward, no low-rank term,
/// bonus, skip, dt or normalizer, K and V of 64 or 128. mixer-lower-adjoint
/// keeps such an op on CUDA (its other calls take the checkpointed sweep).
bool cudaChunkedSsdGrad(RecurrenceGradOp op);

} // namespace mixc::mixer

#endif
