//===- CoefficientTest.cpp - accuracy and order of the emitted coefficients ===//
//
// The coefficient code the discretize pass emits is JIT-compiled for the CPU
// and compared, on a log grid of x = h (gam + c lam) and lam, with an
// independent high-precision evaluation of MATH.md's formula
//
//   g = R(-h gam),  a = (g - R(-x)) / (g lam),  b = d (1 - R(-x)) / (gam + c lam)
//
// done in exact rational arithmetic from the (rounded) inputs for rational R,
// and in long double with expm1l for the exact flow.
//
//===----------------------------------------------------------------------===//
#include "CoefficientJit.h"

#include "deltac/Integrators/Methods.h"
#include "deltac/Integrators/Stability.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cstdlib>
#include <cmath>
#include <random>

using deltac::Rational;
using deltac::StabilityFunction;
using deltac::test::CoefficientJit;

namespace {

struct Method {
  std::string name;    ///< for messages
  std::string spec;    ///< the integrator line of the spec
  StabilityFunction r;
};

std::vector<Method> allMethods() {
  std::vector<Method> out;
  for (llvm::StringRef n : deltac::namedIntegrators())
    out.push_back({n.str(), "integrator " + n.str(), *StabilityFunction::named(n)});
  auto tableau = [&](const std::string &name, std::vector<std::vector<Rational>> a,
                     std::vector<Rational> b, const std::string &text) {
    deltac::Tableau t;
    t.stages = b.size();
    for (auto &row : a)
      for (auto &e : row)
        t.a.push_back(e);
    t.b = b;
    out.push_back({name, "integrator tableau {\n" + text + "\n}", StabilityFunction::fromTableau(t)});
  };
  using R = Rational;
  tableau("tableau: 3/8 rule (explicit)",
          {{R(0), R(0), R(0), R(0)}, {R(1, 3), R(0), R(0), R(0)}, {R(-1, 3), R(1), R(0), R(0)},
           {R(1), R(-1), R(1), R(0)}},
          {R(1, 8), R(3, 8), R(3, 8), R(1, 8)},
          "a = [[0,0,0,0],[1/3,0,0,0],[-1/3,1,0,0],[1,-1,1,0]]\nb = [1/8, 0.375, 3/8, 0.125]");
  tableau("tableau: Radau IIA (implicit)", {{R(5, 12), R(-1, 12)}, {R(3, 4), R(1, 4)}},
          {R(3, 4), R(1, 4)}, "a = [[5/12, -1/12], [3/4, 1/4]]\nb = [3/4, 1/4]\nc = [1/3, 1]");
  tableau("tableau: Lobatto IIIC (implicit)", {{R(1, 2), R(-1, 2)}, {R(1, 2), R(1, 2)}},
          {R(1, 2), R(1, 2)}, "a = [[0.5, -0.5], [0.5, 0.5]]\nb = [0.5, 0.5]");
  tableau("tableau: SDIRK (diagonally implicit)", {{R(1, 4), R(0)}, {R(1, 2), R(1, 4)}},
          {R(1, 2), R(1, 2)}, "a = [[1/4, 0], [1/2, 1/4]]\nb = [1/2, 1/2]");
  return out;
}

std::string specFor(const Method &m, bool gated, bool f64) {
  return std::string("recurrence t {\n  dims K = 4, V = 4\n") + (f64 ? "  compute f64\n" : "") +
         (gated ? "  inputs h, gam, c, d\n  ode dS/dt = -(gam I + c k k^T) S + d k v^T\n"
                : "  inputs h, c, d\n  ode dS/dt = -(c k k^T) S + d k v^T\n") +
         "  step h\n  " + m.spec + "\n  output o = S^T q\n}\n";
}

long double phiLD(long double t) { return t == 0 ? 1.0L : -std::expm1l(-t) / t; }

/// MATH.md's formula, evaluated exactly (rational R) or in long double (exact flow).
std::array<long double, 3> reference(const StabilityFunction &r, double h, double gam, double c,
                                     double d, double lam) {
  Rational H = Rational::fromDouble(h), G = Rational::fromDouble(gam),
           C = Rational::fromDouble(c), D = Rational::fromDouble(d), L = Rational::fromDouble(lam);
  Rational xg = H * G, xc = H * C * L, x = xg + xc, rate = G + C * L;
  const long double inf = INFINITY;
  if (r.isExact()) {
    long double g = std::exp(-xg.toLongDouble());
    long double b = rate.isZero() ? (D * H).toLongDouble()
                                  : D.toLongDouble() * -std::expm1l(-x.toLongDouble()) /
                                        rate.toLongDouble();
    long double a = L.isZero() ? (H * C).toLongDouble()
                               : -std::expm1l(-xc.toLongDouble()) / L.toLongDouble();
    return {g, a, b};
  }
  deltac::Poly n = r.n(), m = r.m();
  auto R = [&](const Rational &t) -> std::optional<Rational> {
    Rational den = m.eval(t);
    if (den.isZero())
      return std::nullopt;
    return n.eval(t) / den;
  };
  auto gR = R(xg), xR = R(x);
  if (!gR || !xR)
    return {inf, inf, inf};
  Rational g = *gR;
  Rational b = rate.isZero() ? D * H * r.w().eval(Rational(0)) : D * (Rational(1) - *xR) / rate;
  long double a;
  if (g.isZero())
    a = inf;
  else if (!L.isZero())
    a = ((g - *xR) / (g * L)).toLongDouble();
  else // the lam -> 0 limit: h c (d/dx)(1 - R(-x)) / g at x = x_g
    a = (H * C * r.H().eval(xg, xg) / (m.eval(xg) * n.eval(xg))).toLongDouble();
  return {g.toLongDouble(), a, b.toLongDouble()};
}

struct Accuracy {
  double maxRel[3] = {0, 0, 0};
  int points = 0;
  int badNonFinite = 0;
};

Accuracy measure(CoefficientJit &jit, const StabilityFunction &r, bool gated, bool f64) {
  Accuracy acc;
  auto round = [&](double v) { return f64 ? v : static_cast<double>(static_cast<float>(v)); };
  double maxv = f64 ? DBL_MAX / 4 : FLT_MAX / 4, minv = f64 ? 1e-290 : 1e-30;
  const double lams[] = {0, 1e-6, 1e-2, 1, 100, 1e4};
  const double cds[][2] = {{1, 1}, {0.7, 1.3}};
  const double fracs[] = {0.2, 0.95};
  for (int i = 0; i <= 14 * 4; ++i) {
    double x = std::pow(10.0, -10 + i / 4.0);
    for (double lam : lams)
      for (auto &cd : cds)
        for (double f : gated ? std::vector<double>(std::begin(fracs), std::end(fracs))
                              : std::vector<double>{0.0}) {
          double c = cd[0], d = cd[1], h, gam = 0;
          if (lam == 0) {
            h = gated ? 1 : x;
            gam = gated ? x : 0;
          } else {
            h = (1 - f) * x / (c * lam);
            gam = gated ? f * x / h : 0;
          }
          h = round(h), gam = round(gam), c = round(c), d = round(d);
          double l = round(lam);
          auto ref = reference(r, h, gam, c, d, l);
          auto got = jit.eval(h, gam, c, d, l);
          for (int k = 0; k < 3; ++k) {
            long double e = ref[k];
            if (!std::isfinite(e) || std::fabs(e) > maxv || (e != 0 && std::fabs(e) < minv))
              continue;
            if (!std::isfinite(got[k])) {
              if (std::getenv("DELTAC_DEBUG_WORST"))
                std::printf("  nonfinite %c: h %.17g gam %.17g lam %.17g ref %.17Lg\n", "gab"[k], h,
                            gam, l, e);
              ++acc.badNonFinite;
              continue;
            }
            double rel = e == 0 ? std::fabs(got[k]) : static_cast<double>(std::fabs((got[k] - e) / e));
            if (rel > acc.maxRel[k] && std::getenv("DELTAC_DEBUG_WORST"))
              std::printf("  worst %c: h %.17g gam %.17g c %g d %g lam %.17g got %.17g ref %.17Lg\n",
                          "gab"[k], h, gam, c, d, l, got[k], e);
            acc.maxRel[k] = std::max(acc.maxRel[k], rel);
          }
          ++acc.points;
        }
  }
  return acc;
}

class CoefficientAccuracy : public ::testing::TestWithParam<bool> {};

TEST_P(CoefficientAccuracy, EveryMethodMatchesTheHighPrecisionFormula) {
  bool f64 = GetParam();
  double tol = f64 ? 1e-14 : 1e-6;
  for (const Method &m : allMethods())
    for (bool gated : {false, true}) {
      std::string error;
      auto jit = CoefficientJit::compile(specFor(m, gated, f64), error);
      ASSERT_TRUE(jit) << m.name << ": " << error;
      Accuracy acc = measure(*jit, m.r, gated, f64);
      std::printf("%-40s %-8s %s  points %5d  max rel err g %.2e  a %.2e  b %.2e\n",
                  m.name.c_str(), gated ? "gated" : "ungated", f64 ? "f64" : "f32", acc.points,
                  acc.maxRel[0], acc.maxRel[1], acc.maxRel[2]);
      EXPECT_EQ(acc.badNonFinite, 0) << m.name << (gated ? " gated" : "");
      for (int k = 0; k < 3; ++k)
        EXPECT_LE(acc.maxRel[k], tol) << m.name << (gated ? " gated" : "") << " coefficient "
                                      << "gab"[k];
    }
}

INSTANTIATE_TEST_SUITE_P(Types, CoefficientAccuracy, ::testing::Values(false, true),
                         [](const auto &info) { return info.param ? "f64" : "f32"; });

TEST(Coefficients, NaNAndInfPropagate) {
  for (const char *name : {"exact", "rk4", "backward_euler"}) {
    Method m{name, std::string("integrator ") + name, *StabilityFunction::named(name)};
    for (bool gated : {false, true}) {
      std::string error;
      auto jit = CoefficientJit::compile(specFor(m, gated, false), error);
      ASSERT_TRUE(jit) << error;
      auto r = jit->eval(NAN, gated ? 0.5 : 0, 1, 1, 1);
      EXPECT_TRUE(std::isnan(r[1]) && std::isnan(r[2])) << name;
      r = jit->eval(0.5, gated ? 0.5 : 0, 1, 1, NAN);
      EXPECT_TRUE(std::isnan(r[1]) && std::isnan(r[2])) << name;
      r = jit->eval(0.5, gated ? 0.5 : 0, 1, NAN, 1);
      EXPECT_TRUE(std::isnan(r[2])) << name;
      if (gated) {
        r = jit->eval(0.5, NAN, 1, 1, 1);
        EXPECT_TRUE(std::isnan(r[0])) << name;
      }
    }
  }
}

TEST(Coefficients, ZeroKeysTakeTheLimitWithoutDividingByZero) {
  for (const Method &m : allMethods()) {
    std::string error;
    auto jit = CoefficientJit::compile(specFor(m, false, true), error);
    ASSERT_TRUE(jit) << error;
    auto r = jit->eval(0.3, 0, 1, 1, 0); // lam = 0: a = b = h R'(0) = h
    EXPECT_EQ(r[0], 1) << m.name;
    EXPECT_NEAR(r[1], 0.3, 1e-16) << m.name;
    EXPECT_NEAR(r[2], 0.3, 1e-16) << m.name;
  }
}

/// One step of the exact flow of dS/dt = -(gam I + c k k^T) S + d k v^T from
/// S0 (K x V, row-major), in long double.
std::vector<long double> exactStep(const std::vector<long double> &S0, const std::vector<long double> &k,
                                   const std::vector<long double> &v, long double h, long double gam,
                                   long double c, long double d, int K, int V) {
  long double lam = 0;
  for (auto x : k)
    lam += x * x;
  long double rate = gam + c * lam;
  long double eg = std::exp(-h * gam), er = std::exp(-h * rate);
  long double w = -std::expm1l(-h * rate) / rate;
  std::vector<long double> S(K * V);
  for (int j = 0; j < V; ++j) {
    long double kS = 0;
    for (int i = 0; i < K; ++i)
      kS += k[i] * S0[i * V + j];
    for (int i = 0; i < K; ++i) {
      long double along = k[i] * kS / lam; // P S0
      S[i * V + j] = eg * (S0[i * V + j] - along) + er * along + d * w * k[i] * v[j];
    }
  }
  return S;
}

TEST(Coefficients, ObservedOrderOfAccuracyMatchesTheMethod) {
  const int K = 4, V = 3;
  std::mt19937_64 rng(std::random_device{}());
  std::normal_distribution<double> normal;
  for (const Method &m : allMethods())
    for (bool gated : {false, true}) {
      std::string error;
      auto jit = CoefficientJit::compile(specFor(m, gated, true), error);
      ASSERT_TRUE(jit) << error;
      std::vector<long double> S0(K * V), k(K), v(V);
      for (auto &x : S0) x = normal(rng);
      for (auto &x : k) x = normal(rng);
      for (auto &x : v) x = normal(rng);
      long double lam = 0;
      for (auto x : k) lam += x * x;
      double gam = gated ? 0.3 * lam : 0, c = 1.1, d = 0.9;
      // Local error against the exact flow for h = 2^(1-j) / lam.
      std::vector<double> hs, errs;
      for (int j = 0; j < 16; ++j) {
        double h = std::ldexp(1.0, 1 - j) / static_cast<double>(lam);
        auto coef = jit->eval(h, gam, c, d, static_cast<double>(lam));
        auto exact = exactStep(S0, k, v, h, gam, c, d, K, V);
        long double err = 0, norm = 0;
        for (int j2 = 0; j2 < V; ++j2) {
          long double kS = 0;
          for (int i = 0; i < K; ++i)
            kS += k[i] * S0[i * V + j2];
          for (int i = 0; i < K; ++i) {
            long double s = coef[0] * (S0[i * V + j2] - coef[1] * k[i] * kS) + coef[2] * k[i] * v[j2];
            err += (s - exact[i * V + j2]) * (s - exact[i * V + j2]);
            norm += exact[i * V + j2] * exact[i * V + j2];
          }
        }
        hs.push_back(h);
        errs.push_back(static_cast<double>(std::sqrt(err / norm)));
      }
      int p = m.r.order();
      if (p < 0) { // the exact flow: rounding level at every step size
        for (double e : errs)
          EXPECT_LT(e, 1e-14) << m.name;
        continue;
      }
      // The finest pair of steps whose errors are still well above rounding.
      double observed = NAN;
      for (size_t j = 0; j + 1 < errs.size(); ++j)
        if (errs[j] < 1e-3 && errs[j + 1] > 1e-14)
          observed = std::log2(errs[j] / errs[j + 1]) - 1;
      ASSERT_FALSE(std::isnan(observed)) << m.name << ": no usable step sizes";
      std::printf("%-40s %-8s order %d, observed %.3f\n", m.name.c_str(),
                  gated ? "gated" : "ungated", p, observed);
      EXPECT_NEAR(observed, p, 0.2) << m.name << (gated ? " gated" : "");
    }
}

} // namespace
