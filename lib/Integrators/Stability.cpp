//===- Stability.cpp - stability functions of Runge-Kutta methods ---------===//
#include "deltac/Integrators/Stability.h"

#include <cassert>
#include <cmath>

namespace deltac {

bool Tableau::isExplicit() const {
  for (size_t i = 0; i < stages; ++i)
    for (size_t j = i; j < stages; ++j)
      if (!a[i * stages + j].isZero())
        return false;
  return true;
}

bool Tableau::isDiagonallyImplicit() const {
  for (size_t i = 0; i < stages; ++i)
    for (size_t j = i + 1; j < stages; ++j)
      if (!a[i * stages + j].isZero())
        return false;
  return true;
}

static Tableau makeTableau(std::vector<std::vector<Rational>> rows, std::vector<Rational> b) {
  Tableau t;
  t.stages = b.size();
  for (auto &row : rows) {
    Rational sum;
    for (auto &e : row) {
      t.a.push_back(e);
      sum += e;
    }
    t.c.push_back(sum);
  }
  t.b = std::move(b);
  return t;
}

std::optional<Tableau> namedTableau(llvm::StringRef name) {
  using R = Rational;
  if (name == "euler" || name == "rk1")
    return makeTableau({{R(0)}}, {R(1)});
  if (name == "backward_euler")
    return makeTableau({{R(1)}}, {R(1)});
  if (name == "trapezoid")
    return makeTableau({{R(0), R(0)}, {R(1, 2), R(1, 2)}}, {R(1, 2), R(1, 2)});
  if (name == "midpoint" || name == "rk2")
    return makeTableau({{R(0), R(0)}, {R(1, 2), R(0)}}, {R(0), R(1)});
  if (name == "heun")
    return makeTableau({{R(0), R(0)}, {R(1), R(0)}}, {R(1, 2), R(1, 2)});
  if (name == "ralston")
    return makeTableau({{R(0), R(0)}, {R(2, 3), R(0)}}, {R(1, 4), R(3, 4)});
  if (name == "ssprk3")
    return makeTableau({{R(0), R(0), R(0)}, {R(1), R(0), R(0)}, {R(1, 4), R(1, 4), R(0)}},
                       {R(1, 6), R(1, 6), R(2, 3)});
  if (name == "rk3") // Kutta's third-order method
    return makeTableau({{R(0), R(0), R(0)}, {R(1, 2), R(0), R(0)}, {R(-1), R(2), R(0)}},
                       {R(1, 6), R(2, 3), R(1, 6)});
  if (name == "rk4")
    return makeTableau({{R(0), R(0), R(0), R(0)},
                        {R(1, 2), R(0), R(0), R(0)},
                        {R(0), R(1, 2), R(0), R(0)},
                        {R(0), R(0), R(1), R(0)}},
                       {R(1, 6), R(1, 3), R(1, 3), R(1, 6)});
  return std::nullopt;
}

StabilityFunction StabilityFunction::exactFlow() {
  StabilityFunction r;
  r.exact = true;
  return r;
}

StabilityFunction StabilityFunction::rational(Poly num, Poly den) {
  assert(den.coeff(0) == Rational(1) && "den(0) must be 1");
  StabilityFunction r;
  r.num = std::move(num);
  r.den = std::move(den);
  return r;
}

StabilityFunction StabilityFunction::taylor(unsigned n) {
  std::vector<Rational> c;
  Rational term(1);
  for (unsigned j = 0; j <= n; ++j) {
    if (j)
      term /= Rational(j);
    c.push_back(term);
  }
  return rational(Poly(std::move(c)), Poly::constant(Rational(1)));
}

/// Determinant by Gaussian elimination over the rationals.
static Rational determinant(std::vector<Rational> m, size_t n) {
  Rational det(1);
  for (size_t col = 0; col < n; ++col) {
    size_t piv = col;
    while (piv < n && m[piv * n + col].isZero())
      ++piv;
    if (piv == n)
      return Rational(0);
    if (piv != col) {
      for (size_t j = 0; j < n; ++j)
        std::swap(m[piv * n + j], m[col * n + j]);
      det = -det;
    }
    Rational p = m[col * n + col];
    det *= p;
    for (size_t r = col + 1; r < n; ++r) {
      if (m[r * n + col].isZero())
        continue;
      Rational f = m[r * n + col] / p;
      for (size_t j = col; j < n; ++j)
        m[r * n + j] -= f * m[col * n + j];
    }
  }
  return det;
}

/// The polynomial of degree <= points.size() - 1 through (k, values[k]).
static Poly interpolate(const std::vector<Rational> &values) {
  size_t n = values.size();
  std::vector<Rational> dd = values; // Newton divided differences on 0..n-1
  for (size_t lvl = 1; lvl < n; ++lvl)
    for (size_t i = n - 1; i >= lvl; --i)
      dd[i] = (dd[i] - dd[i - 1]) / Rational(static_cast<int64_t>(lvl));
  Poly result, basis = Poly::constant(Rational(1));
  for (size_t i = 0; i < n; ++i) {
    result = result + dd[i] * basis;
    basis = basis * Poly({Rational(-static_cast<int64_t>(i)), Rational(1)});
  }
  return result;
}

StabilityFunction StabilityFunction::fromTableau(const Tableau &t) {
  // R(z) = det(I - zA + z 1 b^T) / det(I - zA); both have degree <= s, so
  // evaluate them exactly at z = 0..s and interpolate.
  size_t s = t.stages;
  std::vector<Rational> numVals, denVals;
  for (size_t k = 0; k <= s; ++k) {
    Rational z(static_cast<int64_t>(k));
    std::vector<Rational> mden(s * s), mnum(s * s);
    for (size_t i = 0; i < s; ++i)
      for (size_t j = 0; j < s; ++j) {
        Rational id = i == j ? Rational(1) : Rational(0);
        mden[i * s + j] = id - z * t.a[i * s + j];
        mnum[i * s + j] = mden[i * s + j] + z * t.b[j];
      }
    numVals.push_back(determinant(mnum, s));
    denVals.push_back(determinant(mden, s));
  }
  return rational(interpolate(numVals), interpolate(denVals));
}

std::optional<StabilityFunction> StabilityFunction::named(llvm::StringRef name) {
  if (name == "exact")
    return exactFlow();
  if (auto t = namedTableau(name))
    return fromTableau(*t);
  if (name.consume_front("rk")) {
    unsigned n = 0;
    if (!name.getAsInteger(10, n) && n >= 1 && n <= 8)
      return taylor(n);
  }
  return std::nullopt;
}

int StabilityFunction::order() const {
  if (exact)
    return -1;
  // Taylor coefficients of num/den against 1/j!.
  constexpr int kMax = 40;
  std::vector<Rational> r;
  Rational fact(1);
  for (int k = 0; k <= kMax; ++k) {
    Rational v = num.coeff(k);
    for (int j = 1; j <= k; ++j)
      v -= den.coeff(j) * r[k - j];
    r.push_back(v); // den(0) == 1
    if (k)
      fact *= Rational(k);
    if (r[k] != Rational(1) / fact)
      return k - 1;
  }
  return kMax;
}

long double StabilityFunction::atNegative(long double x) const {
  if (exact)
    return std::exp(-x);
  return num.eval(-x) / den.eval(-x);
}

std::string StabilityFunction::str() const {
  if (exact)
    return "exp(z)";
  if (den.degree() == 0)
    return num.str("z");
  std::string n = num.degree() <= 0 ? num.str("z") : "(" + num.str("z") + ")";
  return n + " / (" + den.str("z") + ")";
}

StabilityInterval stabilityInterval(const StabilityFunction &r) {
  StabilityInterval out;
  if (r.isExact()) {
    out.unbounded = true;
    return out;
  }
  auto ok = [&](long double x) {
    long double v = r.atNegative(x);
    return std::isfinite(v) && std::fabs(v) <= 1 + 1e-12L;
  };
  // Scan a fine log grid, then bisect the first violation.
  long double prev = 0;
  for (int i = 0; i <= 14 * 200; ++i) {
    long double x = std::pow(10.0L, -6.0L + i / 200.0L);
    if (!ok(x)) {
      long double lo = prev, hi = x;
      for (int it = 0; it < 200; ++it) {
        long double mid = (lo + hi) / 2;
        (ok(mid) ? lo : hi) = mid;
      }
      out.xmax = lo;
      return out;
    }
    prev = x;
  }
  // Fine up to 1e8: bounded for good if |R(-inf)| <= 1.
  int dn = r.numerator().degree(), dd = r.denominator().degree();
  if (dn < dd || (dn == dd && std::fabs(r.numerator().coeff(dn).toLongDouble() /
                                        r.denominator().coeff(dd).toLongDouble()) <= 1)) {
    out.unbounded = true;
  } else {
    out.xmax = prev;
  }
  return out;
}

std::optional<long double> poleOnNegativeAxis(const StabilityFunction &r) {
  if (r.isExact() || r.denominator().degree() <= 0)
    return std::nullopt;
  Poly m = r.m();
  long double prevX = 0, prevV = 1; // m(0) = 1
  for (int i = 0; i <= 16 * 200; ++i) {
    long double x = std::pow(10.0L, -6.0L + i / 200.0L);
    long double v = m.eval(x);
    if (v == 0)
      return x;
    if ((v < 0) != (prevV < 0)) {
      long double lo = prevX, hi = x;
      for (int it = 0; it < 200; ++it) {
        long double mid = (lo + hi) / 2;
        ((m.eval(mid) < 0) == (prevV < 0) ? lo : hi) = mid;
      }
      return (lo + hi) / 2;
    }
    prevX = x;
    prevV = v;
  }
  return std::nullopt;
}

} // namespace deltac
