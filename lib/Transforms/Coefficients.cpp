//===- Coefficients.cpp - emits the per-token coefficients ----------------===//
//
// The numerics of MATH.md, section 3, as IR:
//
// * Polynomials derived from the tableau are evaluated with a compensated
//   Horner scheme (error-free products through fma, error-free sums), with
//   each rational coefficient split into a high and a low word of the compute
//   type. The result is as accurate as plain Horner in twice the precision,
//   so coefficients stay accurate even near a root of the polynomial.
// * (1 - R(-x)) / x is the exact polynomial quotient w(x) / m(x): no
//   cancellation for small x and no division by zero when lam = 0.
// * With a gate, the erase coefficient needs the divided difference of
//   1 - R(-x) between x and x_g = h gam; its numerator is the exact
//   bivariate polynomial H(x, x_g), again evaluated with compensation.
// * The arguments x_g = h gam and x = x_g + h c lam are formed as
//   double-word values (error-free products and sums); a polynomial at
//   x = hi + lo is p(hi) + lo p'(hi). Near a root of R(-x) (where g or a
//   change sign) this keeps the relative error at a few ulps, which rounding
//   x to one word would not.
// * The exact flow uses expm1, with a series below |t| < 1e-3, and
//   exp(-(hi + lo)) = exp(-hi) (1 - lo).
//
// NaN and Inf in the inputs propagate: nothing is clamped or selected away.
//
//===----------------------------------------------------------------------===//
#include "deltac/Transforms/Coefficients.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Matchers.h"

#include <cmath>

using namespace mlir;

namespace deltac {
namespace {

class Emitter {
public:
  Emitter(OpBuilder &b, Location loc, FloatType ty) : b(b), loc(loc), ty(ty) {}

  Value cst(double v) { return arith::ConstantOp::create(b, loc, FloatAttr::get(ty, v)); }
  Value add(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value div(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
  Value neg(Value x) { return arith::NegFOp::create(b, loc, x); }
  Value fma(Value x, Value y, Value z) { return math::FmaOp::create(b, loc, x, y, z); }

  /// A double-word value hi + lo.
  struct DW {
    Value hi, lo; // lo may be null (zero)
  };

  /// The rational `r` as hi + lo in the compute type.
  std::pair<double, double> split(const Rational &r) {
    bool f32 = ty.isF32();
    long double v = r.toLongDouble();
    double hi = f32 ? static_cast<double>(static_cast<float>(v)) : static_cast<double>(v);
    if (!std::isfinite(hi))
      return {hi, 0};
    long double rest = (r - Rational::fromDouble(hi)).toLongDouble();
    double lo = f32 ? static_cast<double>(static_cast<float>(rest)) : static_cast<double>(rest);
    return {hi, lo};
  }

  /// Compensated Horner for sum_i coef[i] x^i with double-word coefficients;
  /// returns hi + lo without collapsing them.
  DW horner(const std::vector<DW> &coef, Value x) {
    if (coef.empty())
      return {cst(0), nullptr};
    DW acc = coef.back();
    Value s = acc.hi, c = acc.lo;
    for (size_t i = coef.size() - 1; i-- > 0;) {
      // [p, pi] = TwoProd(s, x)
      Value p = mul(s, x);
      Value pi = fma(s, x, neg(p));
      // [s', sigma] = TwoSum(p, a_i)
      Value ai = coef[i].hi;
      Value sn = add(p, ai);
      Value z = sub(sn, p);
      Value sigma = add(sub(p, sub(sn, z)), sub(ai, z));
      Value err = add(pi, sigma);
      if (coef[i].lo)
        err = add(err, coef[i].lo);
      c = c ? fma(c, x, err) : err;
      s = sn;
    }
    return {s, c};
  }

  std::vector<DW> constants(const Poly &p) {
    std::vector<DW> out;
    for (const Rational &r : p.coeffs()) {
      auto [hi, lo] = split(r);
      out.push_back({cst(hi), lo != 0 ? cst(lo) : Value()});
    }
    return out;
  }

  Value collapse(DW v) { return v.lo ? add(v.hi, v.lo) : v.hi; }

  /// Error-free product: hi + lo = x * y exactly.
  DW twoProd(Value x, Value y) {
    Value p = mul(x, y);
    return {p, fma(x, y, neg(p))};
  }
  /// Error-free sum: hi + lo = x + y exactly.
  DW twoSum(Value x, Value y) {
    Value s = add(x, y);
    Value z = sub(s, x);
    return {s, add(sub(x, sub(s, z)), sub(y, z))};
  }
  /// (x.hi + x.lo) * y, as a double-word value.
  DW mulDW(DW x, Value y) {
    DW p = twoProd(x.hi, y);
    return {p.hi, x.lo ? fma(x.lo, y, p.lo) : p.lo};
  }
  DW addDW(DW x, DW y) {
    DW s = twoSum(x.hi, y.hi);
    Value lo = s.lo;
    for (Value v : {x.lo, y.lo})
      if (v)
        lo = add(lo, v);
    return {s.hi, lo};
  }

  /// Plain Horner (for first-order corrections only).
  Value plainHorner(const Poly &p, Value x) {
    if (p.degree() <= 0)
      return cst(split(p.coeff(0)).first);
    Value r = cst(split(p.coeffs().back()).first);
    for (size_t i = p.coeffs().size() - 1; i-- > 0;)
      r = fma(r, x, cst(split(p.coeffs()[i]).first));
    return r;
  }
  Value plainBipoly(const BiPoly &h, Value x, Value y) {
    if (h.inY.empty())
      return cst(0);
    Value r = plainHorner(h.inY.back(), x);
    for (size_t j = h.inY.size() - 1; j-- > 0;)
      r = fma(r, y, plainHorner(h.inY[j], x));
    return r;
  }

  /// p(x) for x = hi + lo: compensated p(hi) + lo p'(hi).
  Value poly(const Poly &p, DW x) {
    if (p.degree() <= 0)
      return cst(split(p.coeff(0)).first);
    DW v = horner(constants(p), x.hi);
    if (!x.lo)
      return collapse(v);
    Value corr = mul(x.lo, plainHorner(p.derivative(), x.hi));
    return add(v.hi, v.lo ? add(v.lo, corr) : corr);
  }

  /// H(x, y) = sum_j y^j H_j(x): inner polynomials in x stay double-word and
  /// feed the outer compensated Horner in y as its coefficients; then the
  /// first-order corrections for the low words of x and y.
  Value bipoly(const BiPoly &h, DW x, DW y) {
    Value v = bipolyAt(h, x.hi, y.hi);
    if (x.lo)
      v = add(v, mul(x.lo, plainBipoly(h.dx(), x.hi, y.hi)));
    if (y.lo)
      v = add(v, mul(y.lo, plainBipoly(h.dy(), x.hi, y.hi)));
    return v;
  }
  Value bipolyAt(const BiPoly &h, Value x, Value y) {
    if (h.inY.empty())
      return cst(0);
    std::vector<DW> outer;
    for (const Poly &hj : h.inY) {
      if (hj.degree() <= 0) {
        auto [hi, lo] = split(hj.coeff(0));
        outer.push_back({cst(hi), lo != 0 ? cst(lo) : Value()});
      } else {
        outer.push_back(horner(constants(hj), x));
      }
    }
    if (outer.size() == 1)
      return collapse(outer[0]);
    return collapse(horner(outer, y));
  }

  /// phi(t) = (1 - exp(-t)) / t = -expm1(-t) / t, phi(0) = 1.
  Value phi(Value t) {
    Value absT = math::AbsFOp::create(b, loc, t);
    Value small = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, absT, cst(1e-3));
    // 1 - t/2 + t^2/6 - t^3/24 + t^4/120 (truncation below 1e-17 for |t| < 1e-3).
    Value series = cst(1.0 / 120);
    for (double c : {-1.0 / 24, 1.0 / 6, -1.0 / 2, 1.0})
      series = fma(series, t, cst(c));
    Value full = div(neg(math::ExpM1Op::create(b, loc, neg(t))), t);
    return arith::SelectOp::create(b, loc, small, series, full);
  }

  OpBuilder &b;
  Location loc;
  FloatType ty;
};

} // namespace

DiscreteCoefficients emitCoefficients(OpBuilder &b, Location loc, const StabilityFunction &r,
                                      const TokenScalars &s, bool gated) {
  Emitter e(b, loc, llvm::cast<FloatType>(s.lam.getType()));
  // h c is exact when c is the constant 1 (the usual case).
  Emitter::DW hcDW = matchPattern(s.c, m_OneFloat()) ? Emitter::DW{s.h, nullptr}
                                                     : e.twoProd(s.h, s.c);
  Value hc = hcDW.hi;
  Emitter::DW xc = e.mulDW(hcDW, s.lam); // h c lam
  Value dh = e.mul(s.d, s.h);
  DiscreteCoefficients out;
  Emitter::DW xg{}, x = xc;
  if (gated) {
    xg = e.twoProd(s.h, s.gam);
    x = e.addDW(xg, xc);
  }
  if (r.isExact()) {
    // phi has condition number at most 1: the low words do not matter.
    Value fc = e.phi(xc.hi);
    out.a = e.mul(hc, fc); // h c phi(h c lam): independent of the decay
    if (!gated) {
      out.g = e.cst(1);
      out.b = e.mul(dh, fc);
      return out;
    }
    Value eg = math::ExpOp::create(b, loc, e.neg(xg.hi));
    out.g = e.fma(e.neg(xg.lo), eg, eg); // exp(-hi) (1 - lo)
    out.b = e.mul(dh, e.phi(x.hi));
    return out;
  }
  Poly m = r.m(), n = r.n(), w = r.w();
  bool polynomial = m.degree() == 0;
  auto quotient = [&](Emitter::DW t) { // w(t) / m(t) = (1 - R(-t)) / t
    Value wt = e.poly(w, t);
    return polynomial ? wt : e.div(wt, e.poly(m, t));
  };
  if (!gated) {
    Value f = quotient(x);
    out.g = e.cst(1);
    out.a = e.mul(hc, f);
    out.b = e.mul(dh, f);
    return out;
  }
  Value nxg = e.poly(n, xg);
  out.g = polynomial ? nxg : e.div(nxg, e.poly(m, xg));
  out.b = e.mul(dh, quotient(x));
  // a = h c H(x, x_g) / (m(x) n(x_g))
  Value hxy = e.bipoly(r.H(), x, xg);
  Value den = polynomial ? nxg : e.mul(e.poly(m, x), nxg);
  out.a = e.mul(hc, e.div(hxy, den));
  return out;
}

} // namespace deltac
