//===- Bundle.h - kernel bundles for the runtime ----------------*- C++ -*-===//
#ifndef DELTAC_TARGET_BUNDLE_H
#define DELTAC_TARGET_BUNDLE_H

#include "deltac/Target/GpuTarget.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace deltac {

/// The GPU kernels of a module lowered by delta-to-gpu(-chunked): the main
/// (wide) one, the variant for few pairs, and the split schedule's two
/// kernels (the scan and its chunk-parallel first kernel) when there are.
struct GpuKernels {
  mlir::gpu::GPUFuncOp wide, narrow, split, splitPrep, splitLarge, splitPrepBeside;
};
GpuKernels findGpuKernels(mlir::ModuleOp module);
/// The storage type of a kernel's q, k, v, inputs and o: "f32", "bf16" or "f16".
std::string ioTypeName(mlir::gpu::GPUFuncOp kernel);

/// Writes a bundle (runtime/include/deltart/bundle_format.h) for the GPU
/// kernel of `module` (the output of delta-to-gpu): its manifest, the spec's
/// text, and the PTX and cubin of each image.
bool writeBundle(mlir::ModuleOp module, const std::vector<GpuImage> &images,
                 const std::string &specText, std::string &out, std::string &error);

/// Writes a C header that embeds `bundle` (the bytes writeBundle produced for
/// `module`) and declares a typed entry point
///   deltart_status <name>_gpu_forward(q, k, v, <inputs>, h0, o, ht, B, T, H,
///                                     cu_seqlens, N, stream)
/// over device pointers, which opens the embedded bundle on first use.
bool emitGpuHeader(mlir::ModuleOp module, const std::string &bundle, std::string &out,
                   std::string &error);

} // namespace deltac

#endif
