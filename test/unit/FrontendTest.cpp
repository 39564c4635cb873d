#include "deltac/Frontend/Family.h"
#include "deltac/Frontend/Parser.h"

#include <gtest/gtest.h>

using namespace deltac::frontend;

namespace {

struct Checked {
  std::unique_ptr<SourceFile> file;
  std::unique_ptr<DiagnosticEngine> diags;
  std::unique_ptr<Spec> spec;
  std::optional<CheckedSpec> checked;
};

Checked check(const std::string &body) {
  Checked c;
  c.file = std::make_unique<SourceFile>("t.delta", "recurrence t {\n" + body + "\n}\n");
  c.diags = std::make_unique<DiagnosticEngine>(*c.file);
  c.spec = parseSpec(*c.file, *c.diags);
  if (c.spec)
    c.checked = checkSpec(*c.spec, *c.file, *c.diags);
  return c;
}

std::string firstError(const Checked &c) {
  for (const auto &d : c.diags->diagnostics())
    if (d.severity == Severity::Error)
      return d.message;
  return "";
}

} // namespace

TEST(Frontend, OdeCoefficientsAreCollected) {
  auto c = check("dims K = 64, V = 32\n"
                 "ode dS/dt = -(0.5 gam I + 2 k k^T) S + 3 k v^T\n"
                 "step beta\nintegrator rk4\noutput o = S^T q");
  ASSERT_TRUE(c.checked) << firstError(c);
  const CheckedSpec &s = *c.checked;
  EXPECT_TRUE(s.continuous);
  EXPECT_EQ(s.inputs, (std::vector<std::string>{"gam", "beta"}));
  ASSERT_EQ(s.gam.size(), 1u);
  EXPECT_DOUBLE_EQ(s.gam[0].coef, 0.5);
  ASSERT_EQ(s.c.size(), 1u);
  EXPECT_DOUBLE_EQ(s.c[0].coef, 2);
  EXPECT_TRUE(s.c[0].factors.empty());
  ASSERT_EQ(s.d.size(), 1u);
  EXPECT_DOUBLE_EQ(s.d[0].coef, 3);
  EXPECT_DOUBLE_EQ(s.scale, 1 / 8.0);
}

TEST(Frontend, DistributesProductsOverSums) {
  // -(k k^T) S written as two separate erase terms still sums to c = 1.
  auto c = check("dims K = 4, V = 4\node dS/dt = -0.25 k k^T S - (k (0.75 k^T)) S + k v^T\n"
                 "step 1\nintegrator exact\noutput o = S^T q");
  ASSERT_TRUE(c.checked) << firstError(c);
  double sum = 0;
  for (const auto &t : c.checked->c)
    sum += t.coef;
  EXPECT_DOUBLE_EQ(sum, 1.0);
  EXPECT_TRUE(c.checked->inputs.empty());
}

TEST(Frontend, DiscreteGateCancelsFromTheEraseCoefficient) {
  auto c = check("dims K = 8, V = 8\nupdate S = exp(g) (I - beta k k^T) S + beta k v^T\n"
                 "output o = S^T q");
  ASSERT_TRUE(c.checked) << firstError(c);
  const CheckedSpec &s = *c.checked;
  EXPECT_FALSE(s.continuous);
  ASSERT_EQ(s.aNum.size(), 1u);
  EXPECT_TRUE(s.aDen.empty());
  ASSERT_EQ(s.aNum[0].factors.size(), 1u);
  EXPECT_EQ(s.aNum[0].factors[0].expr->name, "beta");
}

TEST(Frontend, DiscreteWithoutCommonFactorDivides) {
  auto c = check("dims K = 8, V = 8\nupdate S = g S - beta k k^T S + beta k v^T\noutput o = S^T q");
  ASSERT_TRUE(c.checked) << firstError(c);
  EXPECT_FALSE(c.checked->aDen.empty());
}

TEST(Frontend, RejectsTermsOutsideTheFamily) {
  EXPECT_NE(firstError(check("dims K = 8, V = 8\node dS/dt = -(k q^T) S + k v^T\nstep b\n"
                             "integrator exact\noutput o = S^T q"))
                .find("is not in the delta-rule family"),
            std::string::npos);
  EXPECT_NE(firstError(check("dims K = 8, V = 8\node dS/dt = -(k k^T) S + k v^T + S S\n"
                             "step b\nintegrator exact\noutput o = S^T q"))
                .find("'S S'"),
            std::string::npos);
  EXPECT_NE(firstError(check("dims K = 8, V = 8\node dS/dt = -(k k^T) S\nstep b\n"
                             "integrator exact\noutput o = S^T q"))
                .find("no write term"),
            std::string::npos);
}

TEST(Frontend, ExplicitScaleAndConflicts) {
  auto c = check("dims K = 8, V = 8\nupdate S = S - b k k^T S + b k v^T\nscale 1/4\noutput o = S^T q");
  ASSERT_TRUE(c.checked) << firstError(c);
  EXPECT_DOUBLE_EQ(c.checked->scale, 0.25);
  EXPECT_NE(firstError(check("dims K = 8, V = 8\nupdate S = S - b k k^T S + b k v^T\nscale 0.5\n"
                             "output o = 2 S^T q"))
                .find("given twice"),
            std::string::npos);
}

TEST(Frontend, DidYouMean) {
  EXPECT_EQ(closestMatch("intgrator", {"integrator", "inputs", "output"}), "integrator");
  EXPECT_EQ(closestMatch("zzzzzz", {"integrator", "inputs"}), "");
}

TEST(Frontend, LocationsAreOneBased) {
  SourceFile f("x", "ab\ncd\n");
  EXPECT_EQ(f.lineCol(0), (std::pair<unsigned, unsigned>(1, 1)));
  EXPECT_EQ(f.lineCol(4), (std::pair<unsigned, unsigned>(2, 2)));
  EXPECT_EQ(f.lineText(2), "cd");
}
