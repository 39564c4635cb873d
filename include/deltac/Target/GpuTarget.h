//===- GpuTarget.h - PTX and cubins for the GPU kernels ---------*- C++ -*-===//
#ifndef DELTAC_TARGET_GPUTARGET_H
#define DELTAC_TARGET_GPUTARGET_H

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace deltac {

struct GpuImage {
  int sm = 0;          ///< 80, 90, ...
  std::string chip;    ///< what it was built for: sm_80, sm_90, sm_90a (wgmma kernels)
  std::string ptx;     ///< the PTX text
  std::string cubin;   ///< ptxas output (empty when ptxas is unavailable)
  std::string ptxasLog; ///< ptxas -v: registers, shared memory, spills
};

/// Registers what lowering GPU modules needs (NVVM target, translations).
void registerGpuTargetDialects(mlir::DialectRegistry &registry);

/// The oldest sm whose images keep griddepcontrol (a kernel letting the next
/// launch early, one waiting for the kernel before it); older images have
/// it removed.
inline constexpr int kGridDependencySm = 90;

/// Lowers the gpu.module of `module` (the output of delta-to-gpu) through
/// NVVM and LLVM's NVPTX backend to PTX for each `sm`, then assembles each
/// with ptxas (when found) into a cubin. `module` is not modified. With
/// `nvvm`, also returns the kernels as they are in the NVVM/LLVM dialects
/// just before serialisation (first sm).
bool compileGpuImages(mlir::ModuleOp module, const std::vector<int> &sms,
                      std::vector<GpuImage> &out, std::string &error, std::string *nvvm = nullptr);

/// The ptxas the build found (or $DELTAC_PTXAS), or "" if none.
std::string findPtxas();

} // namespace deltac

#endif
