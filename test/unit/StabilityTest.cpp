#include "deltac/Integrators/Stability.h"

#include <gtest/gtest.h>

using namespace deltac;

TEST(Stability, NamedMethodsHaveTheirTextbookFunctions) {
  EXPECT_EQ(StabilityFunction::named("euler")->str(), "1 + z");
  EXPECT_EQ(StabilityFunction::named("rk4")->str(), "1 + z + 1/2 z^2 + 1/6 z^3 + 1/24 z^4");
  EXPECT_EQ(StabilityFunction::named("backward_euler")->str(), "1 / (1 - z)");
  EXPECT_EQ(StabilityFunction::named("trapezoid")->str(), "(1 + 1/2 z) / (1 - 1/2 z)");
  EXPECT_EQ(StabilityFunction::named("heun")->str(), StabilityFunction::named("midpoint")->str());
  EXPECT_EQ(StabilityFunction::named("ssprk3")->str(), StabilityFunction::taylor(3).str());
  EXPECT_EQ(StabilityFunction::named("rk3")->str(), StabilityFunction::taylor(3).str());
  EXPECT_EQ(StabilityFunction::named("exact")->str(), "exp(z)");
  EXPECT_FALSE(StabilityFunction::named("rk9"));
}

TEST(Stability, Orders) {
  EXPECT_EQ(StabilityFunction::named("euler")->order(), 1);
  EXPECT_EQ(StabilityFunction::named("backward_euler")->order(), 1);
  EXPECT_EQ(StabilityFunction::named("trapezoid")->order(), 2);
  EXPECT_EQ(StabilityFunction::named("ralston")->order(), 2);
  EXPECT_EQ(StabilityFunction::named("rk4")->order(), 4);
  EXPECT_EQ(StabilityFunction::named("rk8")->order(), 8);
  EXPECT_EQ(StabilityFunction::named("exact")->order(), -1);
  // Radau IIA, two stages: order 3, R = (1 + z/3) / (1 - 2z/3 + z^2/6).
  Tableau t;
  t.stages = 2;
  t.a = {Rational(5, 12), Rational(-1, 12), Rational(3, 4), Rational(1, 4)};
  t.b = {Rational(3, 4), Rational(1, 4)};
  auto r = StabilityFunction::fromTableau(t);
  EXPECT_EQ(r.str(), "(1 + 1/3 z) / (1 - 2/3 z + 1/6 z^2)");
  EXPECT_EQ(r.order(), 3);
}

TEST(Stability, IntervalsOnTheNegativeAxis) {
  EXPECT_NEAR(static_cast<double>(stabilityInterval(*StabilityFunction::named("euler")).xmax), 2, 1e-9);
  EXPECT_NEAR(static_cast<double>(stabilityInterval(*StabilityFunction::named("rk4")).xmax), 2.785, 1e-3);
  EXPECT_NEAR(static_cast<double>(stabilityInterval(*StabilityFunction::named("rk3")).xmax), 2.5127, 1e-3);
  EXPECT_TRUE(stabilityInterval(*StabilityFunction::named("backward_euler")).unbounded);
  EXPECT_TRUE(stabilityInterval(*StabilityFunction::named("trapezoid")).unbounded);
  EXPECT_TRUE(stabilityInterval(*StabilityFunction::named("exact")).unbounded);
}

TEST(Stability, DerivedPolynomialsAreExact) {
  // Backward Euler: R(-x) = 1/(1+x), so w = 1, m = 1 + x, H = 1.
  auto be = *StabilityFunction::named("backward_euler");
  EXPECT_EQ(be.w().str("x"), "1");
  EXPECT_EQ(be.m().str("x"), "1 + x");
  ASSERT_EQ(be.H().inY.size(), 1u);
  EXPECT_EQ(be.H().inY[0].str("x"), "1");
  // RK4: w(x) = 1 - x/2 + x^2/6 - x^3/24.
  EXPECT_EQ(StabilityFunction::named("rk4")->w().str("x"), "1 - 1/2 x + 1/6 x^2 - 1/24 x^3");
  // H(x, y) for any R satisfies H(x, 0) = w(x) m(0) = w(x).
  for (const char *n : {"rk4", "trapezoid", "ralston"}) {
    auto r = *StabilityFunction::named(n);
    for (int i = 0; i < 5; ++i) {
      Rational x(i, 3);
      EXPECT_EQ(r.H().eval(x, Rational(0)), r.w().eval(x)) << n;
    }
  }
}

TEST(Stability, PoleOnTheNegativeAxisIsFound) {
  // a = [[-1]]: R(z) = 1 / (1 + z) has its pole at z = -1, i.e. x = 1.
  Tableau t;
  t.stages = 1;
  t.a = {Rational(-1)};
  t.b = {Rational(1)};
  auto pole = poleOnNegativeAxis(StabilityFunction::fromTableau(t));
  ASSERT_TRUE(pole);
  EXPECT_NEAR(static_cast<double>(*pole), 1.0, 1e-9);
  EXPECT_FALSE(poleOnNegativeAxis(*StabilityFunction::named("backward_euler")));
}
