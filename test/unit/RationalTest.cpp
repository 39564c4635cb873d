#include "deltac/Integrators/Rational.h"

#include <gtest/gtest.h>

using deltac::Rational;

TEST(Rational, ParsesDecimalsExactly) {
  EXPECT_EQ(Rational::parse("0.1")->str(), "1/10");
  EXPECT_EQ(Rational::parse("-2.50")->str(), "-5/2");
  EXPECT_EQ(Rational::parse("1.5e-3")->str(), "3/2000");
  EXPECT_EQ(Rational::parse("12E2")->str(), "1200");
  EXPECT_EQ(Rational::parse("1/6")->str(), "1/6");
  EXPECT_EQ(Rational::parse("4/-6")->str(), "-2/3");
}

TEST(Rational, RejectsGarbage) {
  for (const char *bad : {"", "-", ".", "1..2", "1/0", "abc", "1e", "1e99999", "0x10"})
    EXPECT_FALSE(Rational::parse(bad)) << bad;
}

TEST(Rational, ArithmeticStaysInLowestTerms) {
  Rational a(1, 6), b(1, 3);
  EXPECT_EQ((a + b).str(), "1/2");
  EXPECT_EQ((a - b).str(), "-1/6");
  EXPECT_EQ((a * b).str(), "1/18");
  EXPECT_EQ((a / b).str(), "1/2");
  EXPECT_TRUE(a < b);
  EXPECT_EQ(Rational(6, -4), Rational(-3, 2));
}

TEST(Rational, LargeValuesConvertAccurately) {
  // 1/8! summed with big powers keeps exactness and converts to double well.
  Rational r(1);
  for (int i = 0; i < 40; ++i)
    r *= Rational(10);
  r = r + Rational(1, 3);
  EXPECT_FALSE(r.fitsInt64());
  EXPECT_NEAR(r.toDouble() / 1e40, 1.0, 1e-15);
  EXPECT_NEAR(Rational(1, 40320).toDouble(), 1.0 / 40320, 1e-20);
}
