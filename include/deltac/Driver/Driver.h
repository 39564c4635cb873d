//===- Driver.h - compile a spec for the CPU and run problems ---*- C++ -*-===//
#ifndef DELTAC_DRIVER_DRIVER_H
#define DELTAC_DRIVER_DRIVER_H

#include "deltac/Frontend/Family.h"
#include "deltac/Target/CpuBackend.h"

#include "mlir/IR/MLIRContext.h"

#include <memory>
#include <random>
#include <string>

namespace deltac::driver {

struct CpuOptions {
  bool sequential = false; ///< the token-by-token path instead of the chunked one
  int64_t chunkSize = 0;   ///< 0: the compiler chooses
};

/// A spec compiled for the CPU, with what the reference needs.
struct CompiledSpec {
  std::unique_ptr<frontend::SourceFile> file;
  std::unique_ptr<frontend::Spec> spec;
  frontend::CheckedSpec checked;
  std::unique_ptr<mlir::MLIRContext> ctx;
  std::unique_ptr<CpuKernel> kernel;
  int64_t chunkSize = 0; ///< 0 for the sequential path
};

/// Parses, checks, discretizes, tiles and JIT-compiles a spec. On a bad spec
/// prints the diagnostics to `diagOut` and returns null with `userError`
/// set; on an internal failure returns null with `error` set.
std::unique_ptr<CompiledSpec> compileForCpu(const std::string &name, const std::string &text,
                                            const CpuOptions &opts, std::string &error,
                                            bool &userError, std::ostream &diagOut);

/// A problem's storage and its HostTensors view.
struct Problem {
  std::vector<float> q, k, v, h0;
  std::vector<std::vector<float>> inputs;
  HostTensors view;
  void bind(); ///< points view at the storage
};

struct RandomOptions {
  int64_t B = 1, T = 64, H = 1;
  uint64_t seed = 0;
  bool withH0 = false;
  std::vector<int64_t> cuSeqlens; ///< varlen (B must be 1)
  double zeroKeyFraction = 0;     ///< share of tokens whose key is all zeros
  double minKeyNorm = 0.1, maxKeyNorm = 10; ///< key norms, log-uniform
};

/// Random inputs for `spec`: q, v ~ N(0, 1); keys with log-uniform norms; each
/// per-token input ~ U(0.05, 1), except inputs of a discrete update's decay
/// (log-gates, ~ U(-0.5, 0)); with unnormalised keys and a conditionally
/// stable integrator the step (when it is a plain input) is capped per token
/// at 0.9 x_max / lam so that the recurrence stays bounded.
Problem randomProblem(const frontend::CheckedSpec &spec, const RandomOptions &opts);

} // namespace deltac::driver

#endif
