// `mixc run --target=reference --chunk-level`: the spec lowered to the chunk
// level (passes/LowerChunks.cpp) and interpreted by the reference, against
// the same pipeline without the lowering (the split form's token-by-token
// recurrences) on the same inputs: what differs is the lowering alone. (The
// split form itself rounds the constants it introduces, such as a
// bidirectional scan's scale, to the element type.)
#include "frontend/mixc/Driver.h"
#include "passes/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

namespace mixc::driver {

int checkChunkLevel(Problem &p) {
  const int chunk = chunkSizeOpt > 0 ? (int)chunkSizeOpt : mixc::kCpuChunkSize;
  auto pipeline = [&](bool lower) {
    mlir::OwningOpRef<mlir::ModuleOp> m(cast<mlir::ModuleOp>((*p.module)->clone()));
    mlir::PassManager pm(p.ctx.get());
    mixc::buildChunkLevelPipeline(pm, chunk, lower);
    if (failed(pm.run(*m))) die("the chunk-level pipeline failed");
    return m;
  };
  mlir::OwningOpRef<mlir::ModuleOp> lowered = pipeline(true), split = pipeline(false);
  mixc::NamedArrays want;
  if (std::string e = mixc::runReference(theFunc(*split), p.inputs, want); !e.empty()) die(e);
  int walks = 0, recurrences = 0;
  lowered->walk([&](mlir::Operation *op) {
    walks += isa<mixc::mixer::ChunkWalkOp>(op);
    recurrences += isa<mixc::mixer::RecurrenceOp>(op);
  });
  if (walks == 0) {
    outs() << "  check: chunk level skipped, mixer-chunk gives this spec's recurrences no chunk form (decays that may "
              "be negative, a bonus, the mLSTM normalizer)\n";
    return 0;
  }
  mixc::NamedArrays got;
  if (std::string e = mixc::runReference(theFunc(*lowered), p.inputs, got); !e.empty()) die(e);
  int status = 0;
  for (auto &[name, w] : want) {
    double err = relL2(got.at(name).data, w.data, w.data.size());
    // Both in float64: the chunked algorithm agrees to rounding unless it is wrong.
    bool ok = err < 1e-9;
    outs() << format("  check: %s of the chunk-level IR (%d recurrence(s) lowered, %d left) against the "
                     "split form's recurrences: relative L2 error %.2e  %s\n",
                     name.c_str(), walks, recurrences, err, ok ? "OK" : "FAILED");
    if (!ok) status = 1;
  }
  return status;
}

} // namespace mixc::driver
