//===- CoefficientJit.h - runs the emitted coefficient code on the CPU ----===//
#ifndef DELTAC_TEST_COEFFICIENTJIT_H
#define DELTAC_TEST_COEFFICIENTJIT_H

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/MLIRContext.h"

#include <array>
#include <memory>
#include <string>

namespace deltac::test {

/// Compiles a spec through the frontend and the discretize stage, wraps the
/// body of its delta.recurrence into functions (h, gam, c, d, lam) -> g, a, b
/// taking and returning f64 (rounding the inputs to the compute type first),
/// and JIT-compiles them for the host.
class CoefficientJit {
public:
  /// Returns null and sets `error` on failure.
  static std::unique_ptr<CoefficientJit> compile(const std::string &specText, std::string &error);
  /// {g, a, b} for one token.
  std::array<double, 3> eval(double h, double gam, double c, double d, double lam);

private:
  std::unique_ptr<mlir::MLIRContext> ctx;
  std::unique_ptr<mlir::ExecutionEngine> engine;
};

} // namespace deltac::test

#endif
