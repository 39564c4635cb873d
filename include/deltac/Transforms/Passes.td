//===- Passes.td - deltac's passes ------------------------*- tablegen -*-===//
#ifndef DELTAC_TRANSFORMS_PASSES
#define DELTAC_TRANSFORMS_PASSES

include "mlir/Pass/PassBase.td"

def DeltaDiscretize : Pass<"delta-discretize", "::mlir::ModuleOp"> {
  let summary = "Integrate each delta.ode into a delta.recurrence with safe coefficients";
  let description = [{
    Replaces every `delta.ode` by the `delta.recurrence` its integrator
    produces (MATH.md, section 2): with x_g = h gam and x = x_g + h c lam,

        g = R(-x_g)
        a = (g - R(-x)) / (g lam)
        b = d (1 - R(-x)) / (gam + c lam)

    emitted without cancellation or division by zero: for a rational R the
    compiler evaluates exact polynomials derived from the tableau
    ((1 - R(-x)) / x and its divided difference) with compensated Horner
    schemes; for the exact flow it uses expm1 with its series near 0.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::math::MathDialect"];
}

#endif
