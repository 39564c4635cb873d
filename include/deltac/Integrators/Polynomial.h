//===- Polynomial.h - exact polynomials with rational coefficients -*- C++ -*-===//
#ifndef DELTAC_INTEGRATORS_POLYNOMIAL_H
#define DELTAC_INTEGRATORS_POLYNOMIAL_H

#include "deltac/Integrators/Rational.h"

#include <string>
#include <vector>

namespace deltac {

/// sum_i coeffs[i] t^i, with no trailing zero coefficients (zero is {}).
class Poly {
public:
  Poly() = default;
  explicit Poly(std::vector<Rational> coeffs);
  static Poly constant(const Rational &c) { return Poly({c}); }
  /// t
  static Poly identity() { return Poly({Rational(0), Rational(1)}); }

  const std::vector<Rational> &coeffs() const { return c; }
  /// Degree; -1 for the zero polynomial.
  int degree() const { return static_cast<int>(c.size()) - 1; }
  bool isZero() const { return c.empty(); }
  Rational coeff(size_t i) const { return i < c.size() ? c[i] : Rational(0); }

  Rational eval(const Rational &t) const;
  long double eval(long double t) const;
  /// p(-t)
  Poly reflect() const;
  /// p(t) / t; the constant term must be zero.
  Poly divideByT() const;
  /// p'(t)
  Poly derivative() const;

  friend Poly operator+(const Poly &a, const Poly &b);
  friend Poly operator-(const Poly &a, const Poly &b);
  friend Poly operator*(const Poly &a, const Poly &b);
  friend Poly operator*(const Rational &s, const Poly &p);
  friend bool operator==(const Poly &a, const Poly &b) { return a.c == b.c; }

  /// e.g. "1 + z + 1/2 z^2".
  std::string str(const std::string &var) const;

private:
  void trim();
  std::vector<Rational> c;
};

/// sum_j coeffs[j](x) y^j: a polynomial in two variables.
struct BiPoly {
  std::vector<Poly> inY; ///< coefficient polynomials in x, one per power of y
  long double eval(long double x, long double y) const;
  Rational eval(const Rational &x, const Rational &y) const;
  BiPoly dx() const;
  BiPoly dy() const;
};

/// (u(x) m(y) - u(y) m(x)) / (x - y), exactly (the numerator vanishes at x = y).
BiPoly dividedDifferenceNumerator(const Poly &u, const Poly &m);

} // namespace deltac

#endif
