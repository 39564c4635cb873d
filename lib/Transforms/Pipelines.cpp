//===- Pipelines.cpp - the pass pipelines behind deltac's stages ----------===//
#include "deltac/Transforms/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

namespace deltac {

void addDiscretizePipeline(mlir::OpPassManager &pm) {
  pm.addPass(createDeltaDiscretize());
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createCSEPass());
}

void addScanPipeline(mlir::OpPassManager &pm, bool sequential, int64_t chunkSize) {
  if (sequential) {
    pm.addPass(createDeltaSequential());
  } else {
    DeltaChunkOptions co;
    co.chunkSize = chunkSize;
    pm.addPass(createDeltaChunk(co));
  }
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createCSEPass());
}

} // namespace deltac
