// `mixc run --target=reference --chunk-level`: the spec lowered to the chunk
// level (passes/LowerChunks.cpp) and interpreted by the reference, against
// the token-by-token recurrence on the same inputs.
#include "frontend/mixc/Driver.h"
#include "passes/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

namespace mixc::driver {

int checkChunkLevel(Problem &p, const mixc::NamedArrays &want) {
  mlir::OwningOpRef<mlir::ModuleOp> lowered(cast<mlir::ModuleOp>((*p.module)->clone()));
  mlir::PassManager pm(p.ctx.get());
  mixc::buildChunkLevelPipeline(pm, chunkSizeOpt > 0 ? (int)chunkSizeOpt : mixc::kCpuChunkSize);
  if (failed(pm.run(*lowered))) die("the chunk-level pipeline failed");
  int walks = 0, recurrences = 0;
  lowered->walk([&](mlir::Operation *op) {
    walks += isa<mixc::mixer::ChunkWalkOp>(op);
    recurrences += isa<mixc::mixer::RecurrenceOp>(op);
  });
  if (walks == 0) {
    outs() << "  check: chunk level skipped, no recurrence of this spec has a lowered chunk form (SSD only so far)\n";
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
                     "recurrence: relative L2 error %.2e  %s\n",
                     name.c_str(), walks, recurrences, err, ok ? "OK" : "FAILED");
    if (!ok) status = 1;
  }
  return status;
}

} // namespace mixc::driver
