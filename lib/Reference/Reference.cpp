//===- Reference.cpp - the sequential recurrence in long double -----------===//
#include "deltac/Reference/Reference.h"

#include "deltac/Integrators/Stability.h"

#include <cmath>
#include <map>

namespace deltac::reference {
namespace {

using LD = long double;
using frontend::Expr;

LD evalExpr(const Expr &e, const std::map<std::string, LD> &env) {
  return frontend::evaluate<LD>(e, [&](const std::string &n) { return env.at(n); });
}

LD evalSum(const frontend::ScalarSum &sum, const std::map<std::string, LD> &env) {
  LD total = 0;
  for (const auto &t : sum) {
    LD term = t.coef;
    for (const auto &f : t.factors) {
      LD v = evalExpr(*f.expr, env);
      term = f.inverted ? term / v : term * v;
    }
    total += term;
  }
  return total;
}

struct Coefficients {
  LD g, a, b;
};

/// MATH.md, section 2, in long double.
class Integrator {
public:
  explicit Integrator(const frontend::IntegratorDecl &decl) : r(frontend::stabilityOf(decl)) {
    for (const Rational &c : r.numerator().coeffs())
      num.push_back(c.toLongDouble());
    for (const Rational &c : r.denominator().coeffs())
      den.push_back(c.toLongDouble());
  }

  /// R(z)
  LD R(LD z) const {
    if (r.isExact())
      return std::exp(z);
    return poly(num, z) / poly(den, z);
  }
  /// 1 - R(-x), without cancellation for the exact flow.
  LD oneMinusR(LD x) const { return r.isExact() ? -std::expm1(-x) : 1 - R(-x); }
  /// R'(z)
  LD dR(LD z) const {
    if (r.isExact())
      return std::exp(z);
    LD n = poly(num, z), d = poly(den, z);
    return (dpoly(num, z) * d - n * dpoly(den, z)) / (d * d);
  }

  Coefficients coefficients(LD h, LD gam, LD c, LD d, LD lam) const {
    LD xg = h * gam, x = h * (gam + c * lam), rate = gam + c * lam;
    Coefficients k;
    k.g = R(-xg);
    // b = d (1 - R(-x)) / (gam + c lam); as the rate -> 0: d h R'(0) = d h.
    k.b = rate == 0 ? d * h : d * oneMinusR(x) / rate;
    // a = (g - R(-x)) / (g lam); as lam -> 0: h c R'(-x_g) / g.
    if (lam == 0)
      k.a = h * c * dR(-xg) / k.g;
    else if (r.isExact())
      k.a = -std::expm1(-h * c * lam) / lam;
    else
      k.a = (k.g - R(-x)) / (k.g * lam);
    return k;
  }

private:
  static LD poly(const std::vector<LD> &c, LD z) {
    LD v = 0;
    for (size_t i = c.size(); i-- > 0;)
      v = v * z + c[i];
    return v;
  }
  static LD dpoly(const std::vector<LD> &c, LD z) {
    LD v = 0;
    for (size_t i = c.size(); i-- > 1;)
      v = v * z + c[i] * static_cast<LD>(i);
    return v;
  }
  StabilityFunction r = StabilityFunction::exactFlow();
  std::vector<LD> num, den;
};

} // namespace

Result run(const frontend::CheckedSpec &spec, const Tensors &t) {
  const int64_t H = t.H, K = t.K, V = t.V, N = t.numSequences();
  std::optional<Integrator> integ;
  if (spec.continuous)
    integ.emplace(spec.integrator);
  const LD scale = spec.scale;
  const bool l2 = spec.keyNorm == "l2";
  Result res;
  res.o.assign(static_cast<size_t>(t.B * t.T * H * V), 0.0);
  res.ht.assign(static_cast<size_t>(N * H * K * V), 0.0);
  std::vector<LD> S(K * V), k(K), q(K), v(V), kS(V);
  std::map<std::string, LD> env;
  for (int64_t n = 0; n < N; ++n) {
    auto [bos, eos] = t.sequence(n);
    for (int64_t hd = 0; hd < H; ++hd) {
      for (int64_t i = 0; i < K * V; ++i)
        S[i] = t.h0 ? t.h0[(n * H + hd) * K * V + i] : 0;
      for (int64_t tok = bos; tok < eos; ++tok) {
        const int64_t row = tok * H + hd;
        LD lam = 0;
        for (int64_t i = 0; i < K; ++i) {
          k[i] = t.k[row * K + i];
          q[i] = t.q[row * K + i];
          lam += k[i] * k[i];
        }
        if (l2) { // k / sqrt(||k||^2 + 1e-6), as FLA's l2norm
          LD rs = 1 / std::sqrt(lam + 1e-6L);
          lam = 0;
          for (int64_t i = 0; i < K; ++i) {
            k[i] *= rs;
            lam += k[i] * k[i];
          }
        }
        for (int64_t j = 0; j < V; ++j)
          v[j] = t.v[row * V + j];
        for (size_t i = 0; i < spec.inputs.size(); ++i)
          env[spec.inputs[i]] = t.inputs[i][row];
        env["lam"] = lam;
        Coefficients c;
        if (spec.continuous) {
          c = integ->coefficients(evalSum(spec.h, env), evalSum(spec.gam, env),
                                  evalSum(spec.c, env), evalSum(spec.d, env), lam);
        } else {
          c.g = evalSum(spec.g, env);
          c.a = evalSum(spec.aNum, env);
          if (!spec.aDen.empty())
            c.a /= evalSum(spec.aDen, env);
          c.b = evalSum(spec.b, env);
        }
        // S = g (S - a k (k^T S)) + b k v^T
        for (int64_t j = 0; j < V; ++j) {
          LD acc = 0;
          for (int64_t i = 0; i < K; ++i)
            acc += k[i] * S[i * V + j];
          kS[j] = acc;
        }
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < V; ++j)
            S[i * V + j] = c.g * (S[i * V + j] - c.a * k[i] * kS[j]) + c.b * k[i] * v[j];
        // o = scale S^T q
        for (int64_t j = 0; j < V; ++j) {
          LD acc = 0;
          for (int64_t i = 0; i < K; ++i)
            acc += S[i * V + j] * q[i];
          res.o[row * V + j] = static_cast<double>(scale * acc);
        }
      }
      for (int64_t i = 0; i < K * V; ++i)
        res.ht[(n * H + hd) * K * V + i] = static_cast<double>(S[i]);
    }
  }
  return res;
}

double relativeError(const std::vector<float> &x, const std::vector<double> &ref) {
  long double num = 0, den = 0;
  for (size_t i = 0; i < x.size() && i < ref.size(); ++i) {
    long double d = static_cast<long double>(x[i]) - ref[i];
    num += d * d;
    den += static_cast<long double>(ref[i]) * ref[i];
  }
  if (std::isnan(static_cast<double>(num)))
    return NAN;
  if (den == 0)
    return num == 0 ? 0.0 : INFINITY;
  return static_cast<double>(std::sqrt(num / den));
}

} // namespace deltac::reference
