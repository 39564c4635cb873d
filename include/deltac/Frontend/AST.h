//===- AST.h - syntax tree of a .delta spec ---------------------*- C++ -*-===//
#ifndef DELTAC_FRONTEND_AST_H
#define DELTAC_FRONTEND_AST_H

#include "deltac/Frontend/Diagnostics.h"
#include "deltac/Integrators/Rational.h"

#include <cstdint>
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
