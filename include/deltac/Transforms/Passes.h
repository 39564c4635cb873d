//===- Passes.h - deltac's passes -------------------------------*- C++ -*-===//
#ifndef DELTAC_TRANSFORMS_PASSES_H
#define DELTAC_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Pass/Pass.h"

namespace deltac {

/// The chunked GPU kernel takes K a multiple of 16 up to this (the sequential
/// kernel the rest).
inline constexpr int64_t kChunkedGpuMaxKeyDim = 256;

/// delta-discretize, then canonicalize and CSE (the `discrete` stage).
void addDiscretizePipeline(mlir::OpPassManager &pm);
/// delta-chunk (or delta-sequential), then canonicalize and CSE (the
/// `chunked` stage); chunkSize 0 lets the compiler choose.
void addScanPipeline(mlir::OpPassManager &pm, bool sequential, int64_t chunkSize);

/// The chunk size the compiler picks when none is forced.
int64_t defaultChunkSize(int64_t keyDim, int64_t valueDim);

#define GEN_PASS_DECL
#include "deltac/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "deltac/Transforms/Passes.h.inc"


} // namespace deltac

#endif
