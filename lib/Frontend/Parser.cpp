//===- Parser.cpp - .delta spec parser ------------------------------------===//
#include "deltac/Frontend/Parser.h"

#include "deltac/Frontend/Lexer.h"
#include "deltac/Integrators/Methods.h"

#include <algorithm>

namespace deltac::frontend {

const std::vector<std::string> &scalarFunctions() {
  static const std::vector<std::string> fns = {"exp",  "log",   "sqrt",    "abs",     "expm1",
                                               "log1p", "tanh", "sigmoid", "softplus"};
  return fns;
}
bool isScalarFunction(const std::string &name) {
  const auto &f = scalarFunctions();
  return std::find(f.begin(), f.end(), name) != f.end();
}

bool sameExpr(const Expr &a, const Expr &b) {
  if (a.kind != b.kind || a.name != b.name || a.ops.size() != b.ops.size())
    return false;
  if (a.kind == Expr::Kind::Number && a.number != b.number)
    return false;
  for (size_t i = 0; i < a.ops.size(); ++i)
    if (!sameExpr(*a.ops[i], *b.ops[i]))
      return false;
  return true;
}

namespace {

const std::vector<std::string> kStatements = {
    "dims", "dtype", "compute", "state", "inputs", "step", "ode",
    "update", "integrator", "key_norm", "scale", "output"};

class Parser {
public:
  Parser(const SourceFile &file, DiagnosticEngine &diags)
      : file(file), diags(diags), toks(lex(file, diags)) {}

  std::unique_ptr<Spec> run();

private:
  const Token &cur() const { return toks[pos]; }
  const Token &peek(size_t k = 1) const { return toks[std::min(pos + k, toks.size() - 1)]; }
  bool at(Tok k) const { return cur().kind == k; }
  bool atIdent(std::string_view s) const { return at(Tok::Ident) && cur().text == s; }
  Token take() {
    Token t = cur();
    if (pos + 1 < toks.size())
      ++pos;
    return t;
  }
  void skipNewlines() {
    while (at(Tok::Newline))
      take();
  }
  /// Skips to the end of the current statement (for error recovery).
  void skipLine() {
    while (!at(Tok::Newline) && !at(Tok::Eof) && !at(Tok::RBrace))
      take();
  }
  std::string describe(const Token &t) const {
    if (t.kind == Tok::Ident || t.kind == Tok::Number)
      return "'" + std::string(t.text) + "'";
    return tokenName(t.kind);
  }
  bool expect(Tok k, const std::string &what, std::string hint = {}) {
    if (at(k)) {
      take();
      return true;
    }
    diags.error(cur().range, "expected " + what + ", found " + describe(cur()), std::move(hint));
    return false;
  }

  bool parseStatement(Spec &spec);
  bool parseDims(Spec &spec);
  bool parseWord(std::string &out, SourceRange &range, const std::vector<std::string> &allowed,
                 const std::string &what);
  bool parseIntegrator(Spec &spec);
  bool parseTableau(IntegratorDecl &decl);
  bool parseEntry(TableauEntry &out);
  bool parseVector(std::vector<TableauEntry> &out, SourceRange &range);

  ExprPtr parseExpr();
  ExprPtr parseTerm();
  ExprPtr parseUnary();
  ExprPtr parsePostfix();
  ExprPtr parsePrimary();
  ExprPtr make(Expr::Kind k, SourceRange r, std::vector<ExprPtr> ops = {}) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->range = r;
    e->ops = std::move(ops);
    return e;
  }
  ExprPtr binary(Expr::Kind k, ExprPtr l, ExprPtr r) {
    SourceRange range = SourceRange::merge(l->range, r->range);
    std::vector<ExprPtr> ops;
    ops.push_back(std::move(l));
    ops.push_back(std::move(r));
    return make(k, range, std::move(ops));
  }

  const SourceFile &file;
  DiagnosticEngine &diags;
  std::vector<Token> toks;
  size_t pos = 0;
  unsigned depth = 0;
  static constexpr unsigned kMaxDepth = 128;
};

std::unique_ptr<Spec> Parser::run() {
  auto spec = std::make_unique<Spec>();
  skipNewlines();
  if (at(Tok::Eof)) {
    diags.error(cur().range, "empty spec: expected 'recurrence NAME { ... }'");
    return nullptr;
  }
  if (!atIdent("recurrence")) {
    diags.error(cur().range, "expected 'recurrence', found " + describe(cur()),
                "a spec is one block: recurrence NAME { ... }");
    return nullptr;
  }
  take();
  if (!at(Tok::Ident)) {
    diags.error(cur().range, "expected the recurrence's name after 'recurrence', found " +
                                 describe(cur()));
    return nullptr;
  }
  spec->name = std::string(cur().text);
  spec->nameRange = take().range;
  skipNewlines();
  SourceRange open = cur().range;
  if (!expect(Tok::LBrace, "'{' to open the recurrence body"))
    return nullptr;
  bool closed = false;
  while (!diags.tooMany()) {
    skipNewlines();
    if (at(Tok::RBrace)) {
      take();
      closed = true;
      break;
    }
    if (at(Tok::Eof))
      break;
    size_t before = pos;
    if (!parseStatement(*spec))
      skipLine();
    if (at(Tok::RBrace))
      continue;
    if (!at(Tok::Newline) && !at(Tok::Eof)) {
      diags.error(cur().range, "unexpected " + describe(cur()) + " at the end of a statement",
                  "one statement per line (or separate them with ';')");
      skipLine();
    }
    if (pos == before) // guarantee progress
      take();
  }
  if (!closed && !diags.tooMany()) {
    diags.error(open, "missing '}' to close recurrence '" + spec->name + "'");
    return nullptr;
  }
  skipNewlines();
  if (!at(Tok::Eof) && !diags.tooMany())
    diags.error(cur().range, "unexpected " + describe(cur()) + " after the recurrence block",
                "a file holds one recurrence");
  if (diags.hasErrors())
    return nullptr;
  return spec;
}

bool Parser::parseStatement(Spec &spec) {
  if (!at(Tok::Ident)) {
    diags.error(cur().range, "expected a statement, found " + describe(cur()),
                "statements: dims, dtype, compute, state, inputs, step, ode, update, "
                "integrator, key_norm, scale, output");
    return false;
  }
  Token kw = take();
  std::string word(kw.text);
  if (std::find(kStatements.begin(), kStatements.end(), word) == kStatements.end()) {
    std::string hint = didYouMean(word, kStatements);
    diags.error(kw.range, "unknown statement '" + word + "'",
                hint.empty() ? "statements: dims, dtype, compute, state, inputs, step, ode, "
                               "update, integrator, key_norm, scale, output"
                             : hint);
    return false;
  }
  auto [it, fresh] = spec.seen.emplace(word, kw.range);
  if (!fresh) {
    auto [line, col] = file.lineCol(it->second.begin);
    diags.error(kw.range, "duplicate '" + word + "' statement",
                "it was first given on line " + std::to_string(line));
    return false;
  }
  if (word == "dims")
    return parseDims(spec);
  if (word == "dtype")
    return parseWord(spec.dtype, spec.dtypeRange, {"bf16", "f16", "f32"}, "storage dtype");
  if (word == "compute") {
    SourceRange r;
    return parseWord(spec.compute, r, {"f32", "f64"}, "compute precision");
  }
  if (word == "key_norm")
    return parseWord(spec.keyNorm, spec.keyNormRange, {"none", "l2"}, "key normalisation");
  if (word == "state") {
    if (!at(Tok::Ident)) {
      diags.error(cur().range, "expected the state's name, found " + describe(cur()));
      return false;
    }
    spec.state = std::string(cur().text);
    spec.stateRange = take().range;
    return true;
  }
  if (word == "inputs") {
    spec.inputsDeclared = true;
    do {
      if (!at(Tok::Ident)) {
        diags.error(cur().range, "expected an input name, found " + describe(cur()));
        return false;
      }
      spec.inputs.emplace_back(std::string(cur().text), cur().range);
      take();
    } while (at(Tok::Comma) && (take(), true));
    return true;
  }
  if (word == "step")
    return (spec.step = parseExpr()) != nullptr;
  if (word == "scale")
    return (spec.scale = parseExpr()) != nullptr;
  if (word == "ode") {
    // ode dS/dt = <rhs>
    if (!at(Tok::Ident) || cur().text.size() < 2 || cur().text[0] != 'd') {
      diags.error(cur().range, "expected 'dS/dt' after 'ode', found " + describe(cur()),
                  "write: ode dS/dt = -(k k^T) S + k v^T");
      return false;
    }
    spec.odeLhs = std::string(cur().text.substr(1));
    spec.odeLhsRange = take().range;
    if (!expect(Tok::Slash, "'/' in 'd" + spec.odeLhs + "/dt'"))
      return false;
    if (!atIdent("dt")) {
      diags.error(cur().range, "expected 'dt' in 'd" + spec.odeLhs + "/dt', found " +
                                   describe(cur()));
      return false;
    }
    take();
    if (!expect(Tok::Equal, "'='"))
      return false;
    return (spec.ode = parseExpr()) != nullptr;
  }
  if (word == "update") {
    // update S = <rhs>
    if (!at(Tok::Ident)) {
      diags.error(cur().range, "expected the state's name after 'update', found " +
                                   describe(cur()),
                  "write: update S = g (I - beta k k^T) S + beta k v^T");
      return false;
    }
    spec.updateLhs = std::string(cur().text);
    spec.updateLhsRange = take().range;
    if (!expect(Tok::Equal, "'='"))
      return false;
    return (spec.update = parseExpr()) != nullptr;
  }
  if (word == "output") {
    if (!at(Tok::Ident)) {
      diags.error(cur().range, "expected the output's name, found " + describe(cur()),
                  "write: output o = S^T q");
      return false;
    }
    spec.outputName = std::string(take().text);
    if (!expect(Tok::Equal, "'='"))
      return false;
    return (spec.output = parseExpr()) != nullptr;
  }
  if (word == "integrator")
    return parseIntegrator(spec);
  return false;
}

bool Parser::parseWord(std::string &out, SourceRange &range, const std::vector<std::string> &allowed,
                       const std::string &what) {
  std::string list;
  for (const auto &a : allowed)
    list += (list.empty() ? "" : ", ") + a;
  if (!at(Tok::Ident)) {
    diags.error(cur().range, "expected a " + what + " (" + list + "), found " + describe(cur()));
    return false;
  }
  std::string w(cur().text);
  range = cur().range;
  if (std::find(allowed.begin(), allowed.end(), w) == allowed.end()) {
    std::string hint = didYouMean(w, allowed);
    diags.error(cur().range, "unknown " + what + " '" + w + "'",
                hint.empty() ? "expected one of: " + list : hint);
    take();
    return false;
  }
  out = w;
  take();
  return true;
}

bool Parser::parseDims(Spec &spec) {
  SourceRange start = cur().range;
  bool any = false;
  while (at(Tok::Ident)) {
    Token name = take();
    if (name.text != "K" && name.text != "V") {
      diags.error(name.range, "unknown dimension '" + std::string(name.text) + "'",
                  "dims takes K (key size) and V (value size): dims K = 128, V = 128");
      return false;
    }
    if (!expect(Tok::Equal, "'=' after '" + std::string(name.text) + "'"))
      return false;
    if (!at(Tok::Number)) {
      diags.error(cur().range, "expected a positive integer, found " + describe(cur()));
      return false;
    }
    Token num = take();
    auto value = Rational::parse(std::string(num.text));
    if (!value || !value->isInteger() || value->sign() <= 0 || !value->fitsInt64() ||
        value->toDouble() > 4096) {
      diags.error(num.range, "dimension " + std::string(name.text) +
                                 " must be an integer from 1 to 4096, got " + std::string(num.text));
      return false;
    }
    auto &slot = name.text == "K" ? spec.K : spec.V;
    if (slot) {
      diags.error(name.range, "dimension " + std::string(name.text) + " given twice");
      return false;
    }
    slot = static_cast<int64_t>(value->numerator());
    any = true;
    if (at(Tok::Comma))
      take();
  }
  spec.dimsRange = SourceRange::merge(start, toks[pos ? pos - 1 : 0].range);
  if (!any) {
    diags.error(cur().range, "expected 'K = <int>, V = <int>' after 'dims', found " +
                                 describe(cur()));
    return false;
  }
  return true;
}

bool Parser::parseIntegrator(Spec &spec) {
  IntegratorDecl decl;
  if (!at(Tok::Ident)) {
    diags.error(cur().range, "expected an integrator name or 'tableau', found " + describe(cur()));
    return false;
  }
  decl.name = std::string(cur().text);
  decl.range = take().range;
  if (decl.name == "tableau") {
    size_t open = pos;
    if (!parseTableau(decl)) {
      // Skip the rest of the tableau so that its lines are not read as statements.
      int braces = 0;
      for (size_t i = open; i < pos; ++i)
        braces += toks[i].kind == Tok::LBrace ? 1 : toks[i].kind == Tok::RBrace ? -1 : 0;
      while (braces > 0 && !at(Tok::Eof)) {
        if (at(Tok::RBrace))
          --braces;
        take();
      }
      return false;
    }
  } else if (!isNamedIntegrator(decl.name)) {
    std::vector<std::string> names;
    for (auto n : namedIntegrators())
      names.push_back(n.str());
    names.push_back("tableau");
    std::string hint = didYouMean(decl.name, names);
    std::string list;
    for (const auto &n : names)
      list += (list.empty() ? "" : ", ") + n;
    diags.error(decl.range, "unknown integrator '" + decl.name + "'",
                hint.empty() ? "known integrators: " + list : hint);
    return false;
  }
  spec.integrator = std::move(decl);
  return true;
}

bool Parser::parseEntry(TableauEntry &out) {
  SourceRange start = cur().range;
  auto number = [&](bool &ok) -> Rational {
    bool neg = false;
    while (at(Tok::Minus) || at(Tok::Plus))
      neg ^= take().kind == Tok::Minus;
    if (!at(Tok::Number)) {
      diags.error(cur().range, "expected a number, found " + describe(cur()),
                  "tableau entries are numbers or fractions such as 0.5 or 1/6");
      ok = false;
      return Rational();
    }
    Token t = take();
    auto v = Rational::parse(std::string(t.text));
    if (!v) {
      diags.error(t.range, "cannot read the number '" + std::string(t.text) + "'");
      ok = false;
      return Rational();
    }
    return neg ? -*v : *v;
  };
  bool ok = true;
  Rational v = number(ok);
  if (ok && at(Tok::Slash)) {
    take();
    Rational d = number(ok);
    if (ok && d.isZero()) {
      diags.error(toks[pos - 1].range, "division by zero in a tableau entry");
      return false;
    }
    if (ok)
      v = v / d;
  }
  if (!ok)
    return false;
  out.value = v;
  out.range = SourceRange::merge(start, toks[pos - 1].range);
  if (!v.fitsInt64()) {
    diags.error(out.range, "tableau entry has too many digits for exact 64-bit rationals",
                "round it to at most 18 significant digits");
    return false;
  }
  return true;
}

bool Parser::parseVector(std::vector<TableauEntry> &out, SourceRange &range) {
  SourceRange start = cur().range;
  if (!expect(Tok::LBracket, "'[' to start a list of numbers"))
    return false;
  if (!at(Tok::RBracket)) {
    do {
      TableauEntry e;
      if (!parseEntry(e))
        return false;
      out.push_back(std::move(e));
    } while (at(Tok::Comma) && (take(), true));
  }
  range = SourceRange::merge(start, cur().range);
  return expect(Tok::RBracket, "',' or ']' in a list of numbers");
}

bool Parser::parseTableau(IntegratorDecl &decl) {
  skipNewlines();
  if (!expect(Tok::LBrace, "'{' after 'tableau'",
              "integrator tableau { a = [[0, 0], [1/2, 0]]; b = [0, 1] }"))
    return false;
  while (true) {
    skipNewlines();
    if (at(Tok::RBrace)) {
      take();
      break;
    }
    if (!at(Tok::Ident) || (cur().text != "a" && cur().text != "b" && cur().text != "c")) {
      diags.error(cur().range, "expected 'a =', 'b =' or 'c =' in the tableau, found " +
                                   describe(cur()),
                  "a is the s x s matrix, b the s weights, c the optional s nodes");
      return false;
    }
    Token key = take();
    if (!expect(Tok::Equal, "'=' after '" + std::string(key.text) + "'"))
      return false;
    bool &has = key.text == "a" ? decl.hasA : key.text == "b" ? decl.hasB : decl.hasC;
    if (has) {
      diags.error(key.range, "tableau '" + std::string(key.text) + "' given twice");
      return false;
    }
    has = true;
    if (key.text == "a") {
      SourceRange start = cur().range;
      if (!expect(Tok::LBracket, "'[' to start the matrix a",
                  "a is a list of rows: a = [[0, 0], [1/2, 0]]"))
        return false;
      do {
        if (!at(Tok::LBracket)) {
          diags.error(cur().range, "expected '[' to start a row of a, found " + describe(cur()),
                      "a is a list of rows: a = [[0, 0], [1/2, 0]]");
          return false;
        }
        decl.a.emplace_back();
        decl.aRows.emplace_back();
        if (!parseVector(decl.a.back(), decl.aRows.back()))
          return false;
      } while (at(Tok::Comma) && (take(), true));
      decl.aRange = SourceRange::merge(start, cur().range);
      if (!expect(Tok::RBracket, "',' or ']' after a row of a"))
        return false;
    } else if (!parseVector(key.text == "b" ? decl.b : decl.c,
                            key.text == "b" ? decl.bRange : decl.cRange)) {
      return false;
    }
    if (!at(Tok::Newline) && !at(Tok::RBrace)) {
      diags.error(cur().range, "unexpected " + describe(cur()) + " in the tableau",
                  "one of a, b, c per line (or separate them with ';')");
      return false;
    }
  }
  return true;
}

ExprPtr Parser::parseExpr() {
  if (++depth > kMaxDepth) {
    diags.error(cur().range, "expression nested too deeply");
    --depth;
    return nullptr;
  }
  ExprPtr lhs = parseTerm();
  while (lhs && (at(Tok::Plus) || at(Tok::Minus))) {
    Expr::Kind k = take().kind == Tok::Plus ? Expr::Kind::Add : Expr::Kind::Sub;
    ExprPtr rhs = parseTerm();
    if (!rhs) {
      lhs = nullptr;
      break;
    }
    lhs = binary(k, std::move(lhs), std::move(rhs));
  }
  --depth;
  return lhs;
}

ExprPtr Parser::parseTerm() {
  ExprPtr lhs = parseUnary();
  while (lhs) {
    Expr::Kind k = Expr::Kind::Mul;
    if (at(Tok::Star) || at(Tok::Slash)) {
      k = take().kind == Tok::Star ? Expr::Kind::Mul : Expr::Kind::Div;
    } else if (!(at(Tok::Ident) || at(Tok::Number) || at(Tok::LParen))) {
      break; // no juxtaposed factor follows
    }
    ExprPtr rhs = parseUnary();
    if (!rhs)
      return nullptr;
    lhs = binary(k, std::move(lhs), std::move(rhs));
  }
  return lhs;
}

ExprPtr Parser::parseUnary() {
  if (at(Tok::Minus) || at(Tok::Plus)) {
    if (++depth > kMaxDepth) {
      diags.error(cur().range, "expression nested too deeply");
      --depth;
      return nullptr;
    }
    Token op = take();
    ExprPtr e = parseUnary();
    --depth;
    if (!e)
      return nullptr;
    if (op.kind == Tok::Plus)
      return e;
    SourceRange r = SourceRange::merge(op.range, e->range);
    std::vector<ExprPtr> ops;
    ops.push_back(std::move(e));
    return make(Expr::Kind::Neg, r, std::move(ops));
  }
  return parsePostfix();
}

ExprPtr Parser::parsePostfix() {
  ExprPtr e = parsePrimary();
  while (e && at(Tok::Caret)) {
    Token caret = take();
    if (!atIdent("T")) {
      diags.error(SourceRange::merge(caret.range, cur().range),
                  "only '^T' (transpose) may follow '^'",
                  "powers are not part of the spec language; write x x or exp(2 log(x))");
      return nullptr;
    }
    SourceRange r = SourceRange::merge(e->range, take().range);
    std::vector<ExprPtr> ops;
    ops.push_back(std::move(e));
    e = make(Expr::Kind::Transpose, r, std::move(ops));
  }
  return e;
}

ExprPtr Parser::parsePrimary() {
  if (at(Tok::Number)) {
    Token t = take();
    auto v = Rational::parse(std::string(t.text));
    if (!v) {
      diags.error(t.range, "cannot read the number '" + std::string(t.text) + "'");
      return nullptr;
    }
    ExprPtr e = make(Expr::Kind::Number, t.range);
    e->number = static_cast<double>(v->toLongDouble());
    e->name = std::string(t.text);
    return e;
  }
  if (at(Tok::Ident)) {
    Token t = take();
    std::string name(t.text);
    bool call = at(Tok::LParen) && isScalarFunction(name);
    if (!call && at(Tok::LParen) && !cur().spaceBefore && name != "k" && name != "v" &&
        name != "q" && name != "I") {
      std::string hint = didYouMean(name, scalarFunctions());
      diags.error(t.range, "unknown function '" + name + "'",
                  hint.empty() ? "functions: exp, log, sqrt, abs, expm1, log1p, tanh, sigmoid, "
                                 "softplus (for a product, put a space or '*' before '(')"
                               : hint);
      return nullptr;
    }
    if (call) {
      take();
      if (++depth > kMaxDepth) {
        diags.error(cur().range, "expression nested too deeply");
        --depth;
        return nullptr;
      }
      ExprPtr arg = parseExpr();
      --depth;
      if (!arg)
        return nullptr;
      SourceRange r = SourceRange::merge(t.range, cur().range);
      if (!expect(Tok::RParen, "')' to close the call to '" + name + "'"))
        return nullptr;
      std::vector<ExprPtr> ops;
      ops.push_back(std::move(arg));
      ExprPtr e = make(Expr::Kind::Call, r, std::move(ops));
      e->name = name;
      return e;
    }
    ExprPtr e = make(Expr::Kind::Name, t.range);
    e->name = name;
    return e;
  }
  if (at(Tok::LParen)) {
    Token open = take();
    ExprPtr e = parseExpr();
    if (!e)
      return nullptr;
    if (!at(Tok::RParen)) {
      diags.error(cur().range, "expected ')' to close the '(' at column " +
                                   std::to_string(file.lineCol(open.range.begin).second) +
                                   ", found " + describe(cur()));
      return nullptr;
    }
    Token close = take();
    // Keep the parentheses in the range so that messages quote what was written.
    e->range = SourceRange::merge(open.range, close.range);
    return e;
  }
  diags.error(cur().range, "expected an expression, found " + describe(cur()));
  return nullptr;
}

} // namespace

std::unique_ptr<Spec> parseSpec(const SourceFile &file, DiagnosticEngine &diags) {
  return Parser(file, diags).run();
}

} // namespace deltac::frontend
