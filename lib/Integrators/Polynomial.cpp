//===- Polynomial.cpp - exact polynomials with rational coefficients ------===//
#include "deltac/Integrators/Polynomial.h"

#include <algorithm>
#include <cassert>

namespace deltac {

Poly::Poly(std::vector<Rational> coeffs) : c(std::move(coeffs)) { trim(); }

void Poly::trim() {
  while (!c.empty() && c.back().isZero())
    c.pop_back();
}

Rational Poly::eval(const Rational &t) const {
  Rational r;
  for (size_t i = c.size(); i-- > 0;)
    r = r * t + c[i];
  return r;
}

long double Poly::eval(long double t) const {
  long double r = 0;
  for (size_t i = c.size(); i-- > 0;)
    r = r * t + c[i].toLongDouble();
  return r;
}

Poly Poly::reflect() const {
  std::vector<Rational> r = c;
  for (size_t i = 1; i < r.size(); i += 2)
    r[i] = -r[i];
  return Poly(std::move(r));
}

Poly Poly::divideByT() const {
  assert((c.empty() || c[0].isZero()) && "constant term must vanish");
  if (c.empty())
    return Poly();
  return Poly(std::vector<Rational>(c.begin() + 1, c.end()));
}

Poly Poly::derivative() const {
  std::vector<Rational> r;
  for (size_t i = 1; i < c.size(); ++i)
    r.push_back(Rational(static_cast<int64_t>(i)) * c[i]);
  return Poly(std::move(r));
}

BiPoly BiPoly::dx() const {
  BiPoly out;
  for (const Poly &p : inY)
    out.inY.push_back(p.derivative());
  return out;
}

BiPoly BiPoly::dy() const {
  BiPoly out;
  for (size_t j = 1; j < inY.size(); ++j)
    out.inY.push_back(Rational(static_cast<int64_t>(j)) * inY[j]);
  return out;
}

Poly operator+(const Poly &a, const Poly &b) {
  std::vector<Rational> r(std::max(a.c.size(), b.c.size()));
  for (size_t i = 0; i < r.size(); ++i)
    r[i] = a.coeff(i) + b.coeff(i);
  return Poly(std::move(r));
}

Poly operator-(const Poly &a, const Poly &b) { return a + Rational(-1) * b; }

Poly operator*(const Poly &a, const Poly &b) {
  if (a.isZero() || b.isZero())
    return Poly();
  std::vector<Rational> r(a.c.size() + b.c.size() - 1);
  for (size_t i = 0; i < a.c.size(); ++i)
    for (size_t j = 0; j < b.c.size(); ++j)
      r[i + j] += a.c[i] * b.c[j];
  return Poly(std::move(r));
}

Poly operator*(const Rational &s, const Poly &p) {
  std::vector<Rational> r = p.c;
  for (Rational &x : r)
    x *= s;
  return Poly(std::move(r));
}

std::string Poly::str(const std::string &var) const {
  if (c.empty())
    return "0";
  std::string s;
  for (size_t i = 0; i < c.size(); ++i) {
    if (c[i].isZero())
      continue;
    Rational v = c[i];
    bool neg = v.sign() < 0;
    if (neg)
      v = -v;
    if (s.empty())
      s += neg ? "-" : "";
    else
      s += neg ? " - " : " + ";
    bool one = v == Rational(1);
    if (i == 0 || !one)
      s += v.str();
    if (i > 0) {
      s += (one ? "" : " ") + var;
      if (i > 1)
        s += "^" + std::to_string(i);
    }
  }
  return s;
}

long double BiPoly::eval(long double x, long double y) const {
  long double r = 0;
  for (size_t j = inY.size(); j-- > 0;)
    r = r * y + inY[j].eval(x);
  return r;
}

Rational BiPoly::eval(const Rational &x, const Rational &y) const {
  Rational r;
  for (size_t j = inY.size(); j-- > 0;)
    r = r * y + inY[j].eval(x);
  return r;
}

BiPoly dividedDifferenceNumerator(const Poly &u, const Poly &m) {
  // P(x, y) = u(x) m(y) - u(y) m(x) = sum_{i,j} (u_i m_j - u_j m_i) x^i y^j.
  // As a polynomial in x with coefficients p_i(y), divide by (x - y) with
  // synthetic division: q_{n-1} = p_n, q_{i-1} = p_i + y q_i.
  size_t n = std::max(u.coeffs().size(), m.coeffs().size());
  if (n == 0)
    return {};
  std::vector<Poly> p(n); // p[i](y)
  for (size_t i = 0; i < n; ++i) {
    std::vector<Rational> py(n);
    for (size_t j = 0; j < n; ++j)
      py[j] = u.coeff(i) * m.coeff(j) - u.coeff(j) * m.coeff(i);
    p[i] = Poly(std::move(py));
  }
  std::vector<Poly> q(n > 1 ? n - 1 : 1); // q[i](y), coefficient of x^i
  if (n == 1)
    return {}; // constant numerator: zero (u0 m0 - u0 m0)
  q[n - 2] = p[n - 1];
  for (size_t i = n - 2; i > 0; --i)
    q[i - 1] = p[i] + Poly::identity() * q[i];
  // Remainder p_0 + y q_0 must vanish.
  assert((p[0] + Poly::identity() * q[0]).isZero() && "not divisible by x - y");
  // Transpose to powers of y with coefficients in x.
  size_t dy = 0;
  for (const Poly &qi : q)
    dy = std::max(dy, qi.coeffs().size());
  BiPoly out;
  out.inY.resize(dy);
  for (size_t j = 0; j < dy; ++j) {
    std::vector<Rational> px(q.size());
    for (size_t i = 0; i < q.size(); ++i)
      px[i] = q[i].coeff(j);
    out.inY[j] = Poly(std::move(px));
  }
  return out;
}

} // namespace deltac
