//===- Family.h - checks a spec is in the delta-rule family -----*- C++ -*-===//
//
// Expands the ODE (or the discrete update) of a parsed spec into a sum of
// terms and matches each against the family
//
//     dS/dt = -(gam I + c k k^T) S + d k v^T          (continuous form)
//     S     = g (S - a k k^T S) + b k v^T             (discrete form)
//
// reporting the first offending term otherwise. The result is a list of scalar
// sums per coefficient, ready to be emitted as arithmetic.
//
//===----------------------------------------------------------------------===//
#ifndef DELTAC_FRONTEND_FAMILY_H
#define DELTAC_FRONTEND_FAMILY_H

#include "deltac/Frontend/AST.h"

namespace deltac::frontend {

/// A scalar factor of a term: an expression, or its reciprocal.
struct Factor {
  const Expr *expr;
  bool inverted = false;
};

/// coef * prod(factors).
struct ScalarTerm {
  double coef = 1;
  std::vector<Factor> factors;
  SourceRange range;
};
using ScalarSum = std::vector<ScalarTerm>; ///< empty means 0

struct CheckedSpec {
  const Spec *spec = nullptr;
  bool continuous = true;
  std::string name;
  int64_t K = 0, V = 0;
  std::string dtype, compute, keyNorm;
  double scale = 0;
  std::vector<std::string> inputs; ///< per-token scalar inputs, in order
  // Continuous form: the per-token ODE coefficients.
  ScalarSum h, gam, c, d;
  // Discrete form: S' = g (S - a k k^T S) + b k v^T, a = aNum / aDen when aDen
  // is not empty.
  ScalarSum g, aNum, aDen, b;
  IntegratorDecl integrator;
};

/// Checks `spec` and returns its coefficients; on failure reports located
/// errors and returns std::nullopt.
std::optional<CheckedSpec> checkSpec(const Spec &spec, const SourceFile &file,
                                     DiagnosticEngine &diags);

} // namespace deltac::frontend

#endif
