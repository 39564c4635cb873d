//===- Rational.cpp - exact rational numbers ------------------------------===//
#include "deltac/Integrators/Rational.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

using llvm::DynamicAPInt;

namespace deltac {

Rational::Rational(const DynamicAPInt &n, const DynamicAPInt &d) : num(n), den(d) {
  if (den < 0) {
    num = -num;
    den = -den;
  }
  DynamicAPInt g = gcd(abs(num), den);
  if (g > 1) {
    num /= g;
    den /= g;
  }
}

static DynamicAPInt pow10(unsigned e) {
  DynamicAPInt r(1);
  for (unsigned i = 0; i < e; ++i)
    r *= 10;
  return r;
}

std::optional<Rational> Rational::parse(llvm::StringRef text) {
  text = text.trim();
  if (text.empty())
    return std::nullopt;
  size_t slash = text.find('/');
  if (slash != llvm::StringRef::npos) {
    auto p = parse(text.substr(0, slash));
    auto q = parse(text.substr(slash + 1));
    if (!p || !q || q->isZero())
      return std::nullopt;
    return *p / *q;
  }
  bool neg = false;
  if (text.consume_front("-"))
    neg = true;
  else
    text.consume_front("+");
  DynamicAPInt mant(0);
  int64_t exp10 = 0;
  bool digits = false, dot = false;
  size_t i = 0;
  for (; i < text.size(); ++i) {
    char ch = text[i];
    if (std::isdigit(static_cast<unsigned char>(ch))) {
      mant = mant * 10 + (ch - '0');
      digits = true;
      if (dot)
        --exp10;
    } else if (ch == '.' && !dot) {
      dot = true;
    } else {
      break;
    }
  }
  if (!digits)
    return std::nullopt;
  if (i < text.size()) {
    if (text[i] != 'e' && text[i] != 'E')
      return std::nullopt;
    llvm::StringRef e = text.substr(i + 1);
    bool eneg = e.consume_front("-");
    if (!eneg)
      e.consume_front("+");
    if (e.empty() || e.size() > 4 || !llvm::all_of(e, [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      return std::nullopt;
    int64_t ev = std::atoll(e.str().c_str());
    exp10 += eneg ? -ev : ev;
  }
  if (exp10 > 4000 || exp10 < -4000)
    return std::nullopt;
  Rational r = exp10 >= 0 ? Rational(mant * pow10(exp10), DynamicAPInt(1))
                          : Rational(mant, pow10(static_cast<unsigned>(-exp10)));
  return neg ? -r : r;
}

Rational Rational::fromDouble(double v) {
  int e = 0;
  double frac = std::frexp(v, &e); // v = frac * 2^e, 0.5 <= |frac| < 1
  int64_t mant = static_cast<int64_t>(std::ldexp(frac, 53));
  e -= 53;
  DynamicAPInt p2(1);
  for (int i = 0; i < (e < 0 ? -e : e); ++i)
    p2 *= 2;
  return e >= 0 ? Rational(DynamicAPInt(mant) * p2, DynamicAPInt(1))
                : Rational(DynamicAPInt(mant), p2);
}

bool Rational::fitsInt64() const {
  DynamicAPInt lo(INT64_MIN), hi(INT64_MAX);
  return num >= lo && num <= hi && den <= hi;
}

Rational operator+(const Rational &x, const Rational &y) {
  return Rational(x.num * y.den + y.num * x.den, x.den * y.den);
}
Rational operator-(const Rational &x, const Rational &y) {
  return Rational(x.num * y.den - y.num * x.den, x.den * y.den);
}
Rational operator*(const Rational &x, const Rational &y) {
  return Rational(x.num * y.num, x.den * y.den);
}
Rational operator/(const Rational &x, const Rational &y) {
  return Rational(x.num * y.den, x.den * y.num);
}
bool operator<(const Rational &x, const Rational &y) {
  return x.num * y.den < y.num * x.den;
}

static std::string toString(const DynamicAPInt &v) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << v;
  return s;
}

std::string Rational::str() const {
  return den == 1 ? toString(num) : toString(num) + "/" + toString(den);
}

long double Rational::toLongDouble() const {
  // Scale so that both parts have at most ~30 significant digits, then divide.
  std::string n = toString(abs(num)), d = toString(den);
  auto lead = [](const std::string &s, long &dropped) {
    dropped = s.size() > 30 ? static_cast<long>(s.size() - 30) : 0;
    return std::strtold(s.substr(0, s.size() - dropped).c_str(), nullptr);
  };
  long dn = 0, dd = 0;
  long double vn = lead(n, dn), vd = lead(d, dd);
  long double v = vn / vd * std::pow(10.0L, static_cast<long double>(dn - dd));
  return num < 0 ? -v : v;
}

} // namespace deltac
