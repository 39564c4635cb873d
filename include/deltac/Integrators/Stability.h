//===- Stability.h - stability functions of Runge-Kutta methods -*- C++ -*-===//
//
// Any Runge-Kutta method applied to the linear ODE y' = lambda y over a step
// h gives y_1 = R(h lambda) y_0 with R(z) = 1 + z b^T (I - z A)^{-1} 1, a
// rational function; the exact flow is R(z) = exp(z). This is all the
// compiler needs to know about an integrator (MATH.md, section 2).
//
// Everything is exact: R is derived from the tableau with rational
// arithmetic, so coefficients emitted from it carry no derivation error.
//
//===----------------------------------------------------------------------===//
#ifndef DELTAC_INTEGRATORS_STABILITY_H
#define DELTAC_INTEGRATORS_STABILITY_H

#include "deltac/Integrators/Polynomial.h"

#include "llvm/ADT/StringRef.h"

#include <optional>

namespace deltac {

struct Tableau {
  size_t stages = 0;
  std::vector<Rational> a; ///< stages x stages, row-major
  std::vector<Rational> b; ///< stages
  std::vector<Rational> c; ///< stages, or empty
  bool isExplicit() const;
  bool isDiagonallyImplicit() const;
};

/// The tableau of a named method, if it has one (rk5..rk8 and exact do not).
std::optional<Tableau> namedTableau(llvm::StringRef name);

class StabilityFunction {
public:
  /// R(z) = exp(z).
  static StabilityFunction exactFlow();
  /// R(z) = num(z) / den(z); den(0) must be 1.
  static StabilityFunction rational(Poly num, Poly den);
  /// sum_{j <= n} z^j / j!
  static StabilityFunction taylor(unsigned n);
  static StabilityFunction fromTableau(const Tableau &t);
  /// For any integrator name the spec language knows.
  static std::optional<StabilityFunction> named(llvm::StringRef name);

  bool isExact() const { return exact; }
  bool isPolynomial() const { return !exact && den.degree() == 0; }
  const Poly &numerator() const { return num; }
  const Poly &denominator() const { return den; }

  /// Largest p with R(z) - exp(z) = O(z^{p+1}); -1 for the exact flow.
  int order() const;
  /// R(-x), in long double.
  long double atNegative(long double x) const;

  // The forms the code generator evaluates, in x = -z (x >= 0 is the
  // decaying direction): R(-x) = n(x) / m(x), and
  //   w(x) = (m(x) - n(x)) / x      so (1 - R(-x)) / x = w(x) / m(x),
  //   H(x, y) = (u(x) m(y) - u(y) m(x)) / (x - y) with u = m - n,
  // so the divided difference of 1 - R(-x) is H(x, y) / (m(x) m(y)).
  Poly n() const { return num.reflect(); }
  Poly m() const { return den.reflect(); }
  Poly w() const { return (m() - n()).divideByT(); }
  BiPoly H() const { return dividedDifferenceNumerator(m() - n(), m()); }

  /// "1 + z + 1/2 z^2", "(1 + 1/2 z) / (1 - 1/2 z)" or "exp(z)".
  std::string str() const;

private:
  bool exact = false;
  Poly num, den;
};

/// The stability interval on the negative real axis: |R(-x)| <= 1 for all
/// 0 <= x <= xmax (xmax infinite when `unbounded`).
struct StabilityInterval {
  bool unbounded = false;
  long double xmax = 0;
};
StabilityInterval stabilityInterval(const StabilityFunction &r);

/// The smallest x > 0 where R(-x) has a pole (I + x A singular), if any.
std::optional<long double> poleOnNegativeAxis(const StabilityFunction &r);

} // namespace deltac

#endif
