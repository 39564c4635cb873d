//===- deltac-opt.cpp - runs single passes over delta IR ------------------===//
#include "Delta/DeltaDialect.h"
#include "deltac/Transforms/Passes.h"


#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  registry.insert<deltac::delta::DeltaDialect>();
  mlir::registerAllPasses();
  deltac::registerDeltacPasses();

  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "deltac optimizer driver\n", registry));
}
