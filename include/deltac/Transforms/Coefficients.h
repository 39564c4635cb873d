//===- Coefficients.h - emits the per-token coefficients --------*- C++ -*-===//
#ifndef DELTAC_TRANSFORMS_COEFFICIENTS_H
#define DELTAC_TRANSFORMS_COEFFICIENTS_H

#include "Delta/DeltaDialect.h"
#include "deltac/Integrators/Stability.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"

namespace deltac {

struct TokenScalars {
  mlir::Value h, gam, c, d, lam;
};
struct DiscreteCoefficients {
  mlir::Value g, a, b;
};

/// The stability function of an integrator attribute (null if unknown).
std::optional<StabilityFunction> stabilityOf(delta::IntegratorAttr attr);

/// Emits, at the builder's insertion point, the arithmetic computing
/// (g, a, b) of the discrete form from the ODE's scalars for stability
/// function `r`. `gated` is false when gam is known to be 0 (then g = 1).
DiscreteCoefficients emitCoefficients(mlir::OpBuilder &b, mlir::Location loc,
                                      const StabilityFunction &r, const TokenScalars &s,
                                      bool gated);

} // namespace deltac

#endif
