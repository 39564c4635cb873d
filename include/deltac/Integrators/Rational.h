//===- Rational.h - exact rational numbers ----------------------*- C++ -*-===//
//
// Arbitrary-precision rationals, always in lowest terms with a positive
// denominator. Used for Butcher tableaux and the stability functions derived
// from them, so that every derivation at compile time is exact.
//
//===----------------------------------------------------------------------===//
#ifndef DELTAC_INTEGRATORS_RATIONAL_H
#define DELTAC_INTEGRATORS_RATIONAL_H

#include "llvm/ADT/DynamicAPInt.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>
#include <string>

namespace deltac {

class Rational {
public:
  Rational() : num(0), den(1) {}
  Rational(int64_t n) : num(n), den(1) {}
  /// n / d; d must be nonzero.
  Rational(const llvm::DynamicAPInt &n, const llvm::DynamicAPInt &d);
  Rational(int64_t n, int64_t d)
      : Rational(llvm::DynamicAPInt(n), llvm::DynamicAPInt(d)) {}

  /// Parses "12", "-0.125", "1.5e-3" (decimal, exact), or "p/q".
  /// Returns std::nullopt for anything else or a zero denominator.
  static std::optional<Rational> parse(llvm::StringRef text);
  /// The exact value of a finite double.
  static Rational fromDouble(double v);

  const llvm::DynamicAPInt &numerator() const { return num; }
  const llvm::DynamicAPInt &denominator() const { return den; }
  bool isZero() const { return num == 0; }
  bool isInteger() const { return den == 1; }
  int sign() const { return num > 0 ? 1 : (num < 0 ? -1 : 0); }
  /// Whether numerator and denominator both fit in int64_t.
  bool fitsInt64() const;

  Rational operator-() const { return Rational(-num, den); }
  friend Rational operator+(const Rational &x, const Rational &y);
  friend Rational operator-(const Rational &x, const Rational &y);
  friend Rational operator*(const Rational &x, const Rational &y);
  /// y must be nonzero.
  friend Rational operator/(const Rational &x, const Rational &y);
  Rational &operator+=(const Rational &y) { return *this = *this + y; }
  Rational &operator-=(const Rational &y) { return *this = *this - y; }
  Rational &operator*=(const Rational &y) { return *this = *this * y; }
  Rational &operator/=(const Rational &y) { return *this = *this / y; }
  friend bool operator==(const Rational &x, const Rational &y) {
    return x.num == y.num && x.den == y.den;
  }
  friend bool operator!=(const Rational &x, const Rational &y) { return !(x == y); }
  friend bool operator<(const Rational &x, const Rational &y);

  /// Nearest long double (correct to a few ulps even for huge terms).
  long double toLongDouble() const;
  double toDouble() const { return static_cast<double>(toLongDouble()); }
  /// "p" or "p/q".
  std::string str() const;

private:
  llvm::DynamicAPInt num, den;
};

} // namespace deltac

#endif // DELTAC_INTEGRATORS_RATIONAL_H
