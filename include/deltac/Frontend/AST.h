//===- AST.h - syntax tree of a .delta spec ---------------------*- C++ -*-===//
#ifndef DELTAC_FRONTEND_AST_H
#define DELTAC_FRONTEND_AST_H

#include "deltac/Frontend/Diagnostics.h"
#include "deltac/Integrators/Rational.h"
#include "deltac/Integrators/Stability.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace deltac::frontend {

/// One expression of the spec: scalars, vectors (k, v, q), the state and I.
struct Expr {
  enum class Kind { Number, Name, Neg, Add, Sub, Mul, Div, Transpose, Call };
  Kind kind;
  SourceRange range;
  std::string name; ///< Name and Call: the identifier
  double number = 0; ///< Number
  std::vector<std::unique_ptr<Expr>> ops;
};
using ExprPtr = std::unique_ptr<Expr>;

/// Scalar functions the spec language knows.
const std::vector<std::string> &scalarFunctions();
bool isScalarFunction(const std::string &name);
/// The value of scalar function `name` at x, in type T (NaN for an unknown name).
template <typename T>
T applyScalarFunction(const std::string &name, T x) {
  using std::exp;
  if (name == "exp") return std::exp(x);
  if (name == "log") return std::log(x);
  if (name == "sqrt") return std::sqrt(x);
  if (name == "abs") return std::fabs(x);
  if (name == "expm1") return std::expm1(x);
  if (name == "log1p") return std::log1p(x);
  if (name == "tanh") return std::tanh(x);
  if (name == "sigmoid") return 1 / (1 + std::exp(-x));
  if (name == "softplus") return (x > 0 ? x : T(0)) + std::log1p(std::exp(-std::fabs(x)));
  return std::numeric_limits<T>::quiet_NaN();
}

/// Evaluates a scalar expression in type T; names are looked up with
/// `name(const std::string &) -> T`.
template <typename T, typename NameFn>
T evaluate(const Expr &e, const NameFn &name) {
  auto arg = [&](size_t i) { return evaluate<T>(*e.ops[i], name); };
  switch (e.kind) {
  case Expr::Kind::Number: return static_cast<T>(e.number);
  case Expr::Kind::Name: return name(e.name);
  case Expr::Kind::Neg: return -arg(0);
  case Expr::Kind::Add: return arg(0) + arg(1);
  case Expr::Kind::Sub: return arg(0) - arg(1);
  case Expr::Kind::Mul: return arg(0) * arg(1);
  case Expr::Kind::Div: return arg(0) / arg(1);
  case Expr::Kind::Transpose: return arg(0);
  case Expr::Kind::Call: return applyScalarFunction(e.name, arg(0));
  }
  return std::numeric_limits<T>::quiet_NaN();
}

/// Structural equality (same tree, same names and numbers).
bool sameExpr(const Expr &a, const Expr &b);

struct TableauEntry {
  Rational value;
  SourceRange range;
};

struct IntegratorDecl {
  std::string name; ///< a named method, or "tableau"
  SourceRange range;
  std::vector<std::vector<TableauEntry>> a;
  std::vector<SourceRange> aRows;
  std::vector<TableauEntry> b, c;
  SourceRange aRange, bRange, cRange;
  bool hasA = false, hasB = false, hasC = false;
};

/// The Butcher tableau written in an `integrator tableau { ... }` block.
Tableau toTableau(const IntegratorDecl &decl);
/// The stability function of a named or written integrator (the name must
/// be known, the tableau well-formed: the family check ensures both).
StabilityFunction stabilityOf(const IntegratorDecl &decl);

/// A spec as written, before the family check.
struct Spec {
  std::string name;
  SourceRange nameRange;
  std::optional<int64_t> K, V;
  SourceRange dimsRange;
  std::string dtype = "bf16";
  SourceRange dtypeRange;
  std::string compute = "f32";
  std::string state = "S";
  SourceRange stateRange;
  std::string keyNorm = "none";
  SourceRange keyNormRange;
  ExprPtr scale; ///< explicit read-out scale (a constant expression)
  bool inputsDeclared = false;
  std::vector<std::pair<std::string, SourceRange>> inputs;
  ExprPtr step, ode, update, output;
  std::string outputName = "o";
  std::string odeLhs, updateLhs; ///< the state name as written on the left
  SourceRange odeLhsRange, updateLhsRange;
  std::optional<IntegratorDecl> integrator;
  /// First occurrence of each statement, for duplicate checks.
  std::map<std::string, SourceRange> seen;
};

} // namespace deltac::frontend

#endif
