//===- Discretize.cpp - delta.ode -> delta.recurrence ---------------------===//
#include "Delta/DeltaDialect.h"
#include "deltac/Transforms/Coefficients.h"
#include "deltac/Transforms/Passes.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;

namespace deltac {

std::optional<StabilityFunction> stabilityOf(delta::IntegratorAttr attr) {
  if (!attr.isTableau())
    return StabilityFunction::named(attr.getMethod());
  Tableau t;
  t.stages = attr.getNumStages();
  auto rationals = [](ArrayRef<int64_t> pairs) {
    std::vector<Rational> out;
    for (size_t i = 0; i + 1 < pairs.size(); i += 2)
      out.emplace_back(pairs[i], pairs[i + 1]);
    return out;
  };
  t.a = rationals(attr.getA());
  t.b = rationals(attr.getB());
  t.c = rationals(attr.getC());
  return StabilityFunction::fromTableau(t);
}

#define GEN_PASS_DEF_DELTADISCRETIZE
#include "deltac/Transforms/Passes.h.inc"

namespace {

struct DiscretizePass : impl::DeltaDiscretizeBase<DiscretizePass> {
  void runOnOperation() override {
    SmallVector<delta::OdeOp> odes;
    getOperation().walk([&](delta::OdeOp op) { odes.push_back(op); });
    for (delta::OdeOp ode : odes)
      if (failed(discretize(ode)))
        return signalPassFailure();
  }

  LogicalResult discretize(delta::OdeOp ode) {
    std::optional<StabilityFunction> r = stabilityOf(ode.getIntegrator());
    if (!r)
      return ode.emitOpError("has no known stability function for ")
             << ode.getIntegrator();
    if (auto pole = poleOnNegativeAxis(*r))
      return ode.emitOpError("integrator's step is undefined at h(gam + c lam) = ")
             << static_cast<double>(*pole) << " (I + x A is singular there)";
    OpBuilder b(ode);
    auto rec = delta::RecurrenceOp::create(
        b, ode.getLoc(), ode.getSymNameAttr(), ode.getKeyDimAttr(), ode.getValueDimAttr(),
        ode.getStorageTypeAttr(), ode.getKeyNormAttr(), ode.getScaleAttr(),
        ode.getInputNamesAttr());
    rec.getBody().takeBody(ode.getBody());
    Block &block = rec.getBody().front();
    auto yield = llvm::cast<delta::YieldOp>(block.getTerminator());
    TokenScalars s{yield.getValues()[0], yield.getValues()[1], yield.getValues()[2],
                   yield.getValues()[3], block.getArguments().back()};
    bool gated = !matchPattern(s.gam, m_AnyZeroFloat());
    b.setInsertionPoint(yield);
    DiscreteCoefficients coeffs = emitCoefficients(b, yield.getLoc(), *r, s, gated);
    delta::YieldOp::create(b, yield.getLoc(), ValueRange{coeffs.g, coeffs.a, coeffs.b});
    yield.erase();
    ode.erase();
    return success();
  }
};

} // namespace
} // namespace deltac
