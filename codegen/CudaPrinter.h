// The CUDA target's printer (internal to codegen/): one mixer function as
// CUDA C++. Forward functions print as row kernels around the scans
// (CudaTarget.cpp); a derived backward prints as a tensor program, one kernel
// per op over whole tensors in scratch (CudaTensorProgram.cpp).
#ifndef MIXC_CODEGEN_CUDAPRINTER_H
#define MIXC_CODEGEN_CUDAPRINTER_H

#include "codegen/CudaTarget.h"
#include "codegen/KernelSignature.h"
#include "codegen/RowPrinter.h"
#include "dialect/MixerOps.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/raw_ostream.h"

namespace mixc::cudaprint {

using namespace mlir;
using namespace mixc::mixer;

/// The chunked walk's tiling for a call as a host function `NAME(B, T)`
/// returning its StatePass, printed from the schedule (CudaTarget.cpp).
std::string statePassFunction(const std::string &name, CudaTileAttr schedule, int64_t H, int64_t Vs);

struct KernelText {
  std::string cur; // the row kernel being printed
  llvm::raw_string_ostream curOs{cur};
};

// Device code is printed kernel by kernel into `cur` (the row printer's
// stream) and moved to `device`; the host entry point accumulates in `host`.
class Printer : KernelText, RowPrinter {
public:
  explicit Printer(func::FuncOp func) : RowPrinter(curOs), func(func) {}
  FailureOr<CudaKernelSource> run();

private:
  func::FuncOp func;
  std::string device, consts, host;
  llvm::raw_string_ostream hs{host};
  llvm::DenseMap<Value, unsigned> argIndex, outIndex;
  llvm::DenseMap<Value, int> tmpIndex;
  llvm::DenseMap<Value, std::string> constNames;
  /// Per-token scalars of the warp-per-row kernel being printed, computed once before its loops.
  llvm::DenseMap<Value, std::string> hoisted;
  bool hoist = false;
  bool inTemplate = false; // printing a warp-per-row kernel, a template over Bf16
  int ntmp = 0, nkernels = 0, nStatePasses = 0, nDecayMaps = 0, nTokenScalars = 0, nChunkPrepares = 0;

  bool isLeaf(Value v) override {
    Operation *d = v.getDefiningOp();
    return !d || isa<RecurrenceOp, ChunkOutputOp, ConstantOp, HeadIndexOp, RepeatHeadsOp, RouteSlotsOp, RouteGatherOp>(d);
  }
  void leaf(Value v, const std::string &n, int64_t w, const std::string &dest) override;
  /// A matrix parameter (W of W^T x) is read in place through its View, not
  /// copied into a row array of D x F floats per thread.
  std::string matrixRow(Value w) override {
    if (isa<BlockArgument>(w)) return "HeadMatrix{A.in[" + std::to_string(argIndex.lookup(w)) + "], h}";
    return rowOf(w);
  }
  /// decay_in_loads: the functor that computes the decays from the raw input
  /// `x` as the kernels load it (decayLoadChain's ops, `params` in p.mapIn).
  std::string decayMapFunctor(const std::string &name, Value decay, Value raw, llvm::ArrayRef<Value> params);
  /// scalars_in_loads: the functor that computes op's per-token scalars
  /// (a scalar diagonal's decay, a_scale, k_scale) from `tokens` (in
  /// p.scalarIn) and `params` (in p.scalarParams), tokenScalarChain's leaves.
  std::string tokenScalarsFunctor(const std::string &name, RecurrenceOp op, llvm::ArrayRef<Value> tokens,
                                  llvm::ArrayRef<Value> params);
  /// Whether every element of `v` is a pointwise function of input elements.
  bool pointwise(Value v);
  /// A grouped input spread over the heads (repeat_heads of an argument) is
  /// read as that argument, whose View reads head h / G (View::hg).
  static Value inputOf(Value v) {
    if (auto r = v.getDefiningOp<RepeatHeadsOp>(); r && isa<BlockArgument>(r.getInput())) return r.getInput();
    // A routed input's slot rows: the argument read through its slotsView.
    if (auto s = v.getDefiningOp<RouteSlotsOp>(); s && isa<BlockArgument>(s.getInput())) return s.getInput();
    return v;
  }
  /// Whether a lane of a warp computes element j of `v` from elements j of
  /// its operands, row reductions (norms, sums, dot products, the softmax's
  /// maximum and sum) taken as per-token scalars reduced across the warp.
  bool laneParallel(Value v);
  /// Prints the warp-wide reduction behind the row reduction `v` (l2norm,
  /// softmax, sum, dot) once per kernel; returns the per-token scalar's name.
  std::string warpReduction(Value v);
  llvm::DenseMap<Value, std::string> softmaxMax; // the softmax's row maximum, beside its 1 / sum
  /// The expression of element `j` of a pointwise value.
  std::string elementExpr(Value v, const std::string &j);
  std::string constant(ConstantOp c);
  /// Prints `QUALIFIERS float NAME[] = {...};` of the constant's values into `consts`.
  void constantArray(const std::string &qualifiers, const std::string &name, ConstantOp c);
  enum class Rows { threadPerToken, warpPerToken, threadPerHead };
  /// Opens a row kernel (b, t and h bound for the row) and returns its name.
  std::string beginRowKernel(Rows rows, int64_t H);
  /// Closes it and prints its launch over the rows.
  void endRowKernel(const std::string &name, Rows rows, int64_t H);
  /// Prints the host code that allocates `v`'s scratch rows; returns its index in Args::tmp.
  int scratchRows(Value v, int64_t H, bool perHead, bool streamed);
  /// Allocates scratch rows of `width` per token (per head with perHead); returns the index in Args::tmp.
  int allocScratch(int64_t width, int64_t H, bool perHead, bool streamed);
  /// Prints a kernel that writes the per-token scales of k and a (the op's
  /// k_scale and a_scale) to scratch; returns their indices in Args::tmp.
  std::pair<int, int> scaleKernel(Value kScale, Value aScale, int64_t H);
  /// Prints a kernel that computes `values` per row (per token, or per head
  /// when `perHead`) into scratch, and the host code that allocates and launches it.
  void rowKernel(llvm::ArrayRef<Value> values, bool perHead, int64_t H,
                 const llvm::DenseSet<Value> &streamed = {});
  LogicalResult emitRecurrence(RecurrenceOp op);
  /// A recurrence lowered to the chunk-level ops (mixer-lower-chunks), printed
  /// from them (CudaChunkPrinter.cpp): `walk`'s group, its prepare kernel and
  /// launches, the recurrent sweep for the calls the chunked kernels refuse.
  LogicalResult emitChunkGroup(ChunkWalkOp walk);
  /// The recurrent sweep for the calls a chunk form's kernels refuse, closing its block.
  void printRecurrentFallback(CudaTileAttr schedule, const char *structure, int64_t K, const std::string &decayMap);
  /// p.init, p.o, p.state (and mLSTM's stabilizer) of a scan; stateOut: the
  /// value the final state goes out as (a mixture's per-memory states).
  LogicalResult printScanStates(Operation *op, Value init, Value initM, Value o, Value finalState, Value finalM,
                                int64_t H, const std::string &oTensor, const std::string &stateTensor,
                                Value &stateOut);
  /// The scan reads a copy of an initial state that is also its final state's memory.
  void printInPlaceStateCopy(bool initM, bool always, int64_t H, int64_t K, int64_t Vs);
  /// A mixture of memories: the route planned, the operands gathered into the
  /// memories' sequences, the scan over them, the readouts mixed back.
  LogicalResult emitMixtureScan(RecurrenceOp op);
  /// Whether an argument is a routed input (read through route_slots).
  static bool isRouted(Value arg) {
    return llvm::any_of(arg.getUsers(), [](Operation *u) { return isa<RouteSlotsOp>(u); });
  }
  /// Whether an argument is a mixture's states per memory ([B, M, ...], read through memory_states).
  static bool isPerMemory(Value arg) {
    return llvm::any_of(arg.getUsers(), [](Operation *u) { return isa<MemoryStatesOp>(u); });
  }
  /// `p.rate = VIEW` and its strides: (0, h, k, v) over the rate's own row,
  /// its shape aligned right with [1, 1, H, K, Vs] (a constant may be a
  /// scalar), size-1 dimensions broadcast; `wholeRow`: a tensor program's
  /// Tensor, whose heads broadcast too where it has none.
  static std::string rateView(Value rate, const std::string &view, bool wholeRow);
  /// Row kernels over a routed input's slot rows ([B, T * k]: `Ts` tokens).
  bool slotRows = false;
  std::string tokens() const { return slotRows ? "Ts" : "T"; }

  // ---- tensor programs (CudaTensorProgram.cpp): a derived backward --------------
  bool tensorMode = false;
  bool mixtureScan = false; // printing a mixture's scan (its sequences are the routed memories)
  llvm::DenseMap<Value, std::string> tensors; // the host Tensor variable of each value
  int nfunctors = 0, ntensors = 0;
  /// Prints the function's ops in order as whole-tensor kernels, the scans
  /// reading and writing Tensors, and the results stored to the outputs.
  LogicalResult emitTensorProgram();
  LogicalResult emitTensorOp(Operation *op);
  /// A recurrence's adjoint that is not forward-shaped scans (a low-rank
  /// term: the delta rules): the three sweeps of mixc_cuda_sweep_grad.cuh
  /// (CudaRecurrenceGrad.cpp).
  LogicalResult emitRecurrenceGrad(RecurrenceGradOp op);
  /// A recurrence_grad's gradient: the launch's field it goes to ("out.dq";
  /// "g.dv": a raw pointer) and the full shape the kernel writes it at.
  struct GradField {
    Value x;
    const char *field;
    RankedTensorType full;
  };
  /// Allocates each gradient's Tensor before the kernel's block (a full one
  /// where the operand broadcast: `sums` pairs it with the operand's, summed
  /// after the launch); returns the field assignments.
  FailureOr<std::string> gradTensors(RecurrenceGradOp op, ArrayRef<GradField> grads,
                                     SmallVectorImpl<std::pair<std::string, std::string>> &sums,
                                     const llvm::DenseSet<Value> &skip = {});
  /// Outputs that launchDeltaGrad stores itself (the chunked kernels write
  /// the caller's dtype; no fp32 Tensor, no store pass): a gradient of q, k,
  /// v or b whose only use is the output, or the sum of k's and b's
  /// (DeltaNet's k is the key and b) used only there. `storedOutputs`: their
  /// output numbers; `foldedIntoLaunch`: the sums, not printed.
  llvm::DenseSet<unsigned> storedOutputs;
  llvm::DenseSet<Operation *> foldedIntoLaunch;
  /// The fields of launchDeltaGrad's outputs stored by the launch, the
  /// gradients whose Tensors are then not allocated.
  /// `form` gets the gradform bits (mixc_cuda_ut_grad.cuh) of those choices.
  std::string launchStoredGrads(RecurrenceGradOp op, ArrayRef<GradField> grads, llvm::DenseSet<Value> &skip,
                                SmallVectorImpl<std::string> &form);
  /// The inputs read through their own views, not loaded into Tensors
  /// (every use a row operand of launchDeltaGrad), by argument number.
  llvm::DenseMap<Value, unsigned> inputRows;
  /// Inputs the fused chains read where they are (InputRows, not an fp32
  /// Tensor), by their InputRows' names.
  llvm::DenseMap<Value, std::string> inputLeaves;
  /// Whether input `a` is read only by fused chains and by adjoint launches
  /// that take it as rows or as a mapped decay's input (no fp32 copy needed).
  bool readInPlace(BlockArgument a);
  /// A row operand of a recurrence_grad: the input's view or rowView of its Tensor.
  std::string gradRows(Value v);
  /// Opens the kernel's block: the comment, the memories' scope, ScanParams p with q, k and v.
  void openGradBlock(RecurrenceGradOp op, const std::string &comment);
  /// p's sizes (Vs state columns), packed sequences, scale and direction.
  void gradBlockSizes(RecurrenceGradOp op, int64_t H, int64_t Vs);
  /// The launch (a function of (p, g, out, B, T, scratch, stream)), the sums, the block closed.
  void closeGradBlock(const std::string &launch, ArrayRef<std::pair<std::string, std::string>> sums,
                      const std::string &extraArgs = "");
  /// ... where mixer-tile gave it a grad_checkpoint: the checkpointed reverse
  /// sweep of mixc_cuda_checkpoint_grad.cuh (elementwise decays, factors, a skip).
  LogicalResult emitCheckpointGrad(RecurrenceGradOp op, CudaTileAttr schedule);
  /// ... mLSTM's: launchMlstmGrad (the stabilizer's chain after the sweep).
  LogicalResult emitMlstmGrad(RecurrenceGradOp op, CudaTileAttr schedule);
  /// A mixture of memories in a tensor program: values are token rows [B, T],
  /// slot rows [B, T * k] (Ts) or the memories' sequences [B * M, L] (Bm, Lm;
  /// zero rows padding each to the longest); newTensor sizes a Tensor by the
  /// layout of the op being printed, and the blocks of the scans and token ops
  /// over the memories' sequences shadow B, T, NS and seqStartDevice
  /// (memoryScope). The route is planned once, before the inputs are read.
  enum class Layout { tokens, slots, memories };
  llvm::DenseMap<Value, Layout> layouts;
  std::vector<std::string> outputNames; // the entry point's, for the checks' messages
  Layout curLayout = Layout::tokens;
  Layout layoutOf(Operation *op);
  /// The declarations that open a block over the memories' sequences (empty
  /// for any other layout).
  std::string memoryScope() const;
  /// route_slots, memory_states (views), route_gather, route_scatter and
  /// route_weight_grad as tensor-program kernels; failure() if `op` is none.
  FailureOr<bool> emitRouteOp(Operation *op);
  /// The Tensor variable of `v` (its op was printed before).
  std::string tensorOf(Value v) { return tensors.lookup(v); }
  /// Declares and allocates a Tensor of `v`'s type; returns its name.
  std::string newTensorFor(Value v);
  /// Declares and allocates a Tensor of `type`'s shape (B, T for the dynamic sizes).
  std::string newTensor(RankedTensorType type, bool allocate = true);
  /// Prints a device functor `struct FnN { __device__ float operator()(PARAMS) const { return BODY; } };`.
  std::string functor(const std::string &params, const std::string &body);
  /// A pointwise map or binary op, or a pointwise one's gradient at its own
  /// shape, used only by other such ops, once or cheaply (a small expression):
  /// printed inline in each user's kernel, never materialized.
  bool fusedIntoUser(Value v);
  /// decay_in_loads on an adjoint whose launch takes a decay map (a vector
  /// diagonal's chunked backward, KDA's or GLA's): its decays' input is read
  /// as the caller gave it and mapped in the kernels' loads, so the decays'
  /// chain is never materialized. `raw`, `params`: decayLoadChain's.
  bool gradDecayInLoads(RecurrenceGradOp g, Value *raw = nullptr, llvm::SmallVectorImpl<Value> *params = nullptr);
  /// Prints the adjoint's `p.decay` (and with a decay map `p.mapIn`, the map's
  /// functor); returns the launch's last template argument (", DecayMapN") or "".
  std::string gradDecayOperand(RecurrenceGradOp g);
  llvm::DenseMap<Value, bool> inlinedValues; // fusedIntoUser's answers (the IR does not change while printing)
  /// The expression of element `idx` of a pointwise value, its fused
  /// producers inlined; `leaves` collects the Tensors it reads.
  std::string fusedExpr(Value v, llvm::SmallVectorImpl<std::string> &leaves);
  /// Prints the kernel that computes `root`'s chain (fusedExpr) at `shape`
  /// into the Tensor `into`, or with `storeTo` (a View) stored there, `into`
  /// giving only the extents.
  void printFused(Value root, Type shape, const std::string &into, const std::string &storeTo = "");
  /// Prints the chain's device functor (a struct FusedN) and returns its
  /// construction, `FusedN{leaves...}`.
  std::string fusedFunctor(Value root, Type shape);
  Type fusedResultType;        // the shape fusedExpr's chain is computed at
  Operation *fusedRoot = nullptr; // the chain's last op (a gradient summed after it may be one)
  bool fusedIndexed = false;   // whether a leaf of it broadcasts (read at the index per dimension)
  /// Whether `v` holds the function's inputs' values unchanged (an input, or
  /// its tokens flipped, shifted, spread over heads): exact in their dtype.
  static bool exactFromInputs(Value v) {
    while (true) {
      if (isa<BlockArgument>(v)) return true;
      Operation *d = v.getDefiningOp();
      if (!isa<FlipTokensOp, ShiftTokensOp, RepeatHeadsOp>(d)) return false;
      v = d->getOperand(0);
    }
  }
  /// Whether `t` is a state ([B, H, K, V]: batch dynamic, heads static).
  static bool isStateType(RankedTensorType t) {
    return t.getRank() == 4 && ShapedType::isDynamic(t.getDimSize(0)) && !ShapedType::isDynamic(t.getDimSize(1));
  }
};


} // namespace mixc::cudaprint

#endif
