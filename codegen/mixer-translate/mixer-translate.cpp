// mixer-translate: prints the kernel source of a tiled mixer module, so that
// code generation is tested from .mlir input (a schedule written by hand, or
// mixer-opt's output) and not only from specs through the driver.
//
//   mixer-translate --mixer-to-cpu  tiled.mlir   (after mixer-tile, CPU)
//   mixer-translate --mixer-to-cuda tiled.mlir   (after mixer-tile{target=cuda})
#include "codegen/CpuTarget.h"
#include "codegen/CudaTarget.h"
#include "dialect/MixerOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"
#include "mlir/Tools/mlir-translate/Translation.h"

using namespace mlir;

namespace {
// The one function a kernel is printed from.
FailureOr<func::FuncOp> theFunction(Operation *op) {
  auto module = dyn_cast<ModuleOp>(op);
  func::FuncOp found;
  int count = 0;
  if (module)
    for (auto f : module.getOps<func::FuncOp>()) found = f, ++count;
  if (count != 1)
    return op->emitError() << "mixer-translate: expected a module with one func.func, found " << count;
  return found;
}

void registerDialects(DialectRegistry &registry) {
  registry.insert<mixc::mixer::MixerDialect, func::FuncDialect>();
}
} // namespace


// A translation that prints `emit(func).source` of the module's function.
template <typename Emit> TranslateFromMLIRFunction printKernel(Emit emit) {
  return [emit](Operation *op, raw_ostream &os) -> LogicalResult {
    auto func = theFunction(op);
    if (failed(func)) return failure();
    auto kernel = emit(*func);
    if (failed(kernel)) return failure();
    os << kernel->source;
    return success();
  };
}

int main(int argc, char **argv) {
  TranslateFromMLIRRegistration cpu("mixer-to-cpu", "print the CPU kernel (C++) of a tiled mixer function",
                                    printKernel(mixc::emitCpuKernel), registerDialects);
  TranslateFromMLIRRegistration cuda("mixer-to-cuda", "print the CUDA kernel (.cu) of a tiled mixer function",
                                     printKernel(mixc::emitCudaKernel), registerDialects);
  return failed(mlirTranslateMain(argc, argv, "mixer-translate: mixer dialect to kernel source"));
}
