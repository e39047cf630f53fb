// mixer-opt: the opt tool of mixc, for lit tests of the dialect and its passes.
#include "dialect/MixerOps.h"
#include "passes/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mixc::registerMixerPasses();
  mlir::DialectRegistry registry;
  registry.insert<mixc::mixer::MixerDialect, mlir::func::FuncDialect>();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "mixc optimizer driver\n", registry));
}
