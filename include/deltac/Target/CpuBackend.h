//===- CpuBackend.h - the chunked scan on the CPU ---------------*- C++ -*-===//
//
// Lowers a kernel module (from delta-chunk or delta-sequential) through
// scf/memref/arith/math to LLVM, JIT-compiles it for the host with -O3, and
// runs every (sequence, head) pair of a problem on a pool of threads. The
// same module can be written as an object file with a C entry point.
//
//===----------------------------------------------------------------------===//
#ifndef DELTAC_TARGET_CPUBACKEND_H
#define DELTAC_TARGET_CPUBACKEND_H

#include "deltac/Target/HostTensors.h"

#include "mlir/IR/BuiltinOps.h"

#include <memory>
#include <string>

namespace mlir {
class ExecutionEngine;
}
namespace llvm {
class TargetMachine;
}

namespace deltac {

/// A target machine for this host (CPU features detected), -O3, PIC.
std::unique_ptr<llvm::TargetMachine> createHostTargetMachine(std::string &error);

/// Lowers the kernel functions of `module` to the LLVM dialect in place.
mlir::LogicalResult lowerKernelsToLLVM(mlir::ModuleOp module);

class CpuKernel {
public:
  ~CpuKernel();
  /// JIT-compiles the (single) kernel function of `module`, which must hold
  /// the output of delta-chunk or delta-sequential. The module is lowered in
  /// place. Returns null and sets `error` on failure.
  static std::unique_ptr<CpuKernel> compile(mlir::ModuleOp module, std::string &error);

  /// Runs all (sequence, head) pairs: o is [B, T, H, V], ht is [N, H, K, V].
  void run(const HostTensors &t, float *o, float *ht, unsigned threads) const;

  int64_t keyDim() const { return K; }
  int64_t valueDim() const { return V; }
  size_t numInputs() const { return nInputs; }

private:
  CpuKernel() = default;
  std::unique_ptr<mlir::ExecutionEngine> engine;
  void (*packed)(void **) = nullptr;
  int64_t K = 0, V = 0;
  size_t nInputs = 0;
};

} // namespace deltac

#endif
