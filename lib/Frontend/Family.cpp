//===- Family.cpp - checks a spec is in the delta-rule family -------------===//
#include "deltac/Frontend/Family.h"

#include "deltac/Integrators/Stability.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

namespace deltac::frontend {
namespace {

enum class Atom { K, KT, V, VT, Q, QT, S, ST, I };

struct Mono {
  double coef = 1;
  std::vector<Factor> factors;
  std::vector<Atom> atoms;
  SourceRange range;
};

constexpr size_t kMaxTerms = 256;

const char *kFamily = "the family is dS/dt = -(gam I + c k k^T) S + d k v^T: a decay of the "
                      "whole state, a rank-one erase along k, and a rank-one write k v^T";
const char *kDiscreteFamily = "the family is S = g (I - a k k^T) S + b k v^T: a decay, a "
                              "rank-one erase along k, and a rank-one write k v^T";

class Checker {
public:
  Checker(const Spec &spec, const SourceFile &file, DiagnosticEngine &diags)
      : spec(spec), file(file), diags(diags) {}

  std::optional<CheckedSpec> run();

private:
  bool isMatrixName(const std::string &n) const {
    return n == "k" || n == "v" || n == "q" || n == "I" || n == spec.state;
  }
  bool matrixFree(const Expr &e) const {
    if (e.kind == Expr::Kind::Name)
      return !isMatrixName(e.name);
    return std::all_of(e.ops.begin(), e.ops.end(), [&](const auto &o) { return matrixFree(*o); });
  }
  static bool constant(const Expr &e) {
    if (e.kind == Expr::Kind::Name)
      return false;
    return std::all_of(e.ops.begin(), e.ops.end(), [](const auto &o) { return constant(*o); });
  }
  static double evalConst(const Expr &e);
  std::string quote(SourceRange r) const {
    std::string s(file.slice(r));
    for (char &ch : s)
      if (ch == '\n' || ch == '\t')
        ch = ' ';
    if (s.size() > 60)
      s = s.substr(0, 57) + "...";
    return "'" + s + "'";
  }
  bool expand(const Expr &e, std::vector<Mono> &out);
  void collectNames(const Expr &e, std::vector<std::pair<uint32_t, const Expr *>> &out) const;
  bool checkScalar(const Expr &e, const char *what);
  ScalarSum toSum(const std::vector<Mono> &monos, double sign) const;
  std::string explainTerm(const Mono &m, bool continuous) const;
  bool classify(std::vector<Mono> &monos, std::vector<Mono> &state, std::vector<Mono> &erase,
                std::vector<Mono> &write, bool continuous);
  bool checkContinuous(CheckedSpec &out);
  bool checkDiscrete(CheckedSpec &out);
  bool checkOutput(CheckedSpec &out);
  bool checkTableau(const IntegratorDecl &decl);

  const Spec &spec;
  const SourceFile &file;
  DiagnosticEngine &diags;
};

double Checker::evalConst(const Expr &e) {
  return evaluate<double>(e, [](const std::string &) { return NAN; });
}

bool Checker::expand(const Expr &e, std::vector<Mono> &out) {
  out.clear();
  // Scalar subtrees stay whole, except products, quotients and negations,
  // which are split so that constants fold and common factors can cancel.
  bool splittable = e.kind == Expr::Kind::Mul || e.kind == Expr::Kind::Div ||
                    e.kind == Expr::Kind::Neg;
  if (matrixFree(e) && (constant(e) || !splittable)) {
    Mono m;
    m.range = e.range;
    if (constant(e)) {
      m.coef = evalConst(e);
      if (!std::isfinite(m.coef)) {
        diags.error(e.range, "constant " + quote(e.range) + " is not a finite number");
        return false;
      }
    } else {
      m.factors.push_back({&e, false});
    }
    out.push_back(std::move(m));
    return true;
  }
  auto atom = [&](Atom a) {
    Mono m;
    m.atoms.push_back(a);
    m.range = e.range;
    out.push_back(std::move(m));
    return true;
  };
  switch (e.kind) {
  case Expr::Kind::Name:
    if (e.name == "k") return atom(Atom::K);
    if (e.name == "v") return atom(Atom::V);
    if (e.name == "q") return atom(Atom::Q);
    if (e.name == "I") return atom(Atom::I);
    return atom(Atom::S);
  case Expr::Kind::Neg: {
    if (!expand(*e.ops[0], out))
      return false;
    for (Mono &m : out) {
      m.coef = -m.coef;
      m.range = SourceRange::merge(e.range, m.range);
    }
    return true;
  }
  case Expr::Kind::Add:
  case Expr::Kind::Sub: {
    std::vector<Mono> rhs;
    if (!expand(*e.ops[0], out) || !expand(*e.ops[1], rhs))
      return false;
    for (Mono &m : rhs) {
      if (e.kind == Expr::Kind::Sub)
        m.coef = -m.coef;
      out.push_back(std::move(m));
    }
    if (out.size() > kMaxTerms) {
      diags.error(e.range, "expression expands to too many terms");
      return false;
    }
    return true;
  }
  case Expr::Kind::Mul: {
    std::vector<Mono> l, r;
    if (!expand(*e.ops[0], l) || !expand(*e.ops[1], r))
      return false;
    if (l.size() * r.size() > kMaxTerms) {
      diags.error(e.range, "expression expands to too many terms");
      return false;
    }
    for (const Mono &a : l)
      for (const Mono &b : r) {
        Mono m;
        m.coef = a.coef * b.coef;
        m.factors = a.factors;
        m.factors.insert(m.factors.end(), b.factors.begin(), b.factors.end());
        m.atoms = a.atoms;
        m.atoms.insert(m.atoms.end(), b.atoms.begin(), b.atoms.end());
        m.range = SourceRange::merge(a.range, b.range);
        out.push_back(std::move(m));
      }
    return true;
  }
  case Expr::Kind::Div: {
    if (!matrixFree(*e.ops[1])) {
      diags.error(e.ops[1]->range, "cannot divide by " + quote(e.ops[1]->range) +
                                       ": it is a vector or matrix");
      return false;
    }
    if (!expand(*e.ops[0], out))
      return false;
    const Expr &den = *e.ops[1];
    bool isConst = constant(den);
    double dv = isConst ? evalConst(den) : 0;
    if (isConst && (dv == 0 || !std::isfinite(dv))) {
      diags.error(den.range, "division by " + quote(den.range) + ", which is not a nonzero number");
      return false;
    }
    for (Mono &m : out) {
      if (isConst)
        m.coef /= dv;
      else
        m.factors.push_back({&den, true});
      m.range = SourceRange::merge(m.range, den.range);
    }
    return true;
  }
  case Expr::Kind::Transpose: {
    if (!expand(*e.ops[0], out))
      return false;
    for (Mono &m : out) {
      std::reverse(m.atoms.begin(), m.atoms.end());
      for (Atom &a : m.atoms) {
        switch (a) {
        case Atom::K: a = Atom::KT; break;
        case Atom::KT: a = Atom::K; break;
        case Atom::V: a = Atom::VT; break;
        case Atom::VT: a = Atom::V; break;
        case Atom::Q: a = Atom::QT; break;
        case Atom::QT: a = Atom::Q; break;
        case Atom::S: a = Atom::ST; break;
        case Atom::ST: a = Atom::S; break;
        case Atom::I: break;
        }
      }
      m.range = SourceRange::merge(m.range, e.range);
    }
    return true;
  }
  case Expr::Kind::Call:
    diags.error(e.range, "'" + e.name + "' applies to scalars, but " + quote(e.ops[0]->range) +
                             " contains a vector or matrix");
    return false;
  case Expr::Kind::Number:
    break;
  }
  return false;
}

void Checker::collectNames(const Expr &e,
                           std::vector<std::pair<uint32_t, const Expr *>> &out) const {
  if (e.kind == Expr::Kind::Name && !isMatrixName(e.name))
    out.emplace_back(e.range.begin, &e);
  for (const auto &o : e.ops)
    collectNames(*o, out);
}

/// Scalar expressions (step, scale) must not contain vectors or matrices.
bool Checker::checkScalar(const Expr &e, const char *what) {
  if (matrixFree(e))
    return true;
  diags.error(e.range, std::string(what) + " must be a scalar, but " + quote(e.range) +
                           " contains a vector or matrix");
  return false;
}

ScalarSum Checker::toSum(const std::vector<Mono> &monos, double sign) const {
  ScalarSum sum;
  for (const Mono &m : monos)
    sum.push_back({sign * m.coef, m.factors, m.range});
  return sum;
}

static bool hasAtom(const Mono &m, Atom a) {
  return std::find(m.atoms.begin(), m.atoms.end(), a) != m.atoms.end();
}

std::string Checker::explainTerm(const Mono &m, bool continuous) const {
  if (hasAtom(m, Atom::Q) || hasAtom(m, Atom::QT))
    return "the query q only enters the read-out (output o = S^T q)";
  if (m.atoms == std::vector<Atom>{Atom::V, Atom::KT})
    return "the write term is k v^T (the state is K x V)";
  if (m.atoms == std::vector<Atom>{Atom::K, Atom::KT})
    return "the erase term acts on the state: write k k^T S";
  if (m.atoms.empty())
    return "a scalar alone is not a matrix term; did you mean a decay 'gam I' inside -( ) S?";
  if (m.atoms == std::vector<Atom>{Atom::I})
    return "the identity must multiply the state: -(gam I) S";
  if (m.atoms == std::vector<Atom>{Atom::S, Atom::K, Atom::KT})
    return "the erase acts from the left: k k^T S, not S k k^T";
  return continuous ? kFamily : kDiscreteFamily;
}

/// Sorts expanded terms into the family's three shapes (I is dropped from
/// products): S, k k^T S and k v^T; reports every other term.
bool Checker::classify(std::vector<Mono> &monos, std::vector<Mono> &state,
                       std::vector<Mono> &erase, std::vector<Mono> &write, bool continuous) {
  bool ok = true;
  for (Mono &m : monos) {
    if (m.atoms.size() > 1)
      m.atoms.erase(std::remove(m.atoms.begin(), m.atoms.end(), Atom::I), m.atoms.end());
    if (m.atoms == std::vector<Atom>{Atom::S})
      state.push_back(m);
    else if (m.atoms == std::vector<Atom>{Atom::K, Atom::KT, Atom::S})
      erase.push_back(m);
    else if (m.atoms == std::vector<Atom>{Atom::K, Atom::VT})
      write.push_back(m);
    else {
      diags.error(m.range, "term " + quote(m.range) + " is not in the delta-rule family",
                  explainTerm(m, continuous));
      ok = false;
    }
  }
  return ok;
}

bool Checker::checkContinuous(CheckedSpec &out) {
  bool ok = true;
  if (!spec.integrator) {
    diags.error(spec.odeLhsRange, "an ODE needs an integrator",
                "add a line such as 'integrator exact' (or euler, rk4, backward_euler, ...)");
    ok = false;
  }
  if (!spec.step) {
    diags.error(spec.odeLhsRange, "an ODE needs a step size",
                "add 'step beta' (beta: a per-token input) or a constant such as 'step 0.5'");
    ok = false;
  } else if (!checkScalar(*spec.step, "the step")) {
    ok = false;
  }
  if (spec.odeLhs != spec.state) {
    diags.error(spec.odeLhsRange, "the ODE is written for 'd" + spec.odeLhs + "/dt' but the state is '" +
                                      spec.state + "'",
                "write 'ode d" + spec.state + "/dt = ...' or 'state " + spec.odeLhs + "'");
    ok = false;
  }
  std::vector<Mono> monos;
  if (!ok || !expand(*spec.ode, monos))
    return false;
  std::vector<Mono> decay, erase, write;
  if (!classify(monos, decay, erase, write, /*continuous=*/true))
    return false;
  if (erase.empty()) {
    diags.error(spec.ode->range, "the ODE has no erase term -c k k^T S", kFamily);
    return false;
  }
  if (write.empty()) {
    diags.error(spec.ode->range, "the ODE has no write term d k v^T", kFamily);
    return false;
  }
  std::vector<Mono> h;
  if (!expand(*spec.step, h))
    return false;
  out.h = toSum(h, 1);
  out.gam = toSum(decay, -1);
  out.c = toSum(erase, -1);
  out.d = toSum(write, 1);
  if (spec.integrator->name == "tableau" && !checkTableau(*spec.integrator))
    return false;
  out.integrator = *spec.integrator;
  return true;
}

bool Checker::checkTableau(const IntegratorDecl &decl) {
  if (!decl.hasB) {
    diags.error(decl.range, "the tableau has no weights b", "add a line 'b = [...]'");
    return false;
  }
  if (!decl.hasA) {
    diags.error(decl.range, "the tableau has no matrix a", "add a line 'a = [[...], ...]'");
    return false;
  }
  size_t s = decl.b.size();
  if (s == 0) {
    diags.error(decl.bRange, "the tableau needs at least one stage");
    return false;
  }
  constexpr size_t kMaxStages = 16;
  if (s > kMaxStages) {
    diags.error(decl.bRange, "the tableau has " + std::to_string(s) + " stages; at most " +
                                 std::to_string(kMaxStages) + " are supported");
    return false;
  }
  if (decl.a.size() != s) {
    diags.error(decl.aRange, "a has " + std::to_string(decl.a.size()) + " rows but b has " +
                                 std::to_string(s) + " weights",
                "a must be s x s for s stages");
    return false;
  }
  for (size_t i = 0; i < s; ++i)
    if (decl.a[i].size() != s) {
      diags.error(decl.aRows[i], "row " + std::to_string(i + 1) + " of a has " +
                                     std::to_string(decl.a[i].size()) + " entries; expected " +
                                     std::to_string(s),
                  "a must be square, s x s for s stages");
      return false;
    }
  if (decl.hasC && decl.c.size() != s) {
    diags.error(decl.cRange, "c has " + std::to_string(decl.c.size()) + " nodes; expected " +
                                 std::to_string(s) + ", one per stage");
    return false;
  }
  if (decl.hasC)
    for (size_t i = 0; i < s; ++i) {
      Rational sum;
      for (const auto &e : decl.a[i])
        sum += e.value;
      if (sum != decl.c[i].value) {
        diags.error(decl.c[i].range, "node c[" + std::to_string(i + 1) + "] = " +
                                         decl.c[i].value.str() + " but row " +
                                         std::to_string(i + 1) + " of a sums to " + sum.str(),
                    "each c_i must equal the sum of row i of a");
        return false;
      }
    }
  Rational bsum;
  for (const auto &e : decl.b)
    bsum += e.value;
  if (bsum != Rational(1)) {
    diags.error(decl.bRange, "the weights b sum to " + bsum.str() +
                                 ", so the method has order 0 (it is not consistent)",
                "the weights of a Runge-Kutta method sum to 1");
    return false;
  }
  StabilityFunction r = StabilityFunction::fromTableau(toTableau(decl));
  if (auto pole = poleOnNegativeAxis(r)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", static_cast<double>(*pole));
    diags.error(decl.aRange, std::string("I - z A is singular at z = -") + buf +
                                 ": the step is undefined where h (gam + c lam) = " + buf,
                "R(z) = " + r.str() + " has a pole on the negative real axis; an implicit "
                "method needs det(I - z A) != 0 for all z <= 0");
    return false;
  }
  return true;
}

bool Checker::checkDiscrete(CheckedSpec &out) {
  bool ok = true;
  if (spec.integrator) {
    diags.error(spec.integrator->range, "an integrator applies only to an ODE",
                "the 'update' form is already discrete; remove the integrator, or write the "
                "recurrence as 'ode dS/dt = ...'");
    ok = false;
  }
  if (spec.step) {
    diags.error(spec.step->range, "a step applies only to an ODE",
                "fold the step into the update's coefficients, e.g. beta k v^T");
    ok = false;
  }
  if (spec.updateLhs != spec.state) {
    diags.error(spec.updateLhsRange, "the update assigns '" + spec.updateLhs +
                                         "' but the state is '" + spec.state + "'");
    ok = false;
  }
  std::vector<Mono> monos;
  if (!ok || !expand(*spec.update, monos))
    return false;
  std::vector<Mono> keep, erase, write;
  if (!classify(monos, keep, erase, write, /*continuous=*/false))
    return false;
  if (keep.empty()) {
    diags.error(spec.update->range, "the update does not keep the state: no term g S",
                kDiscreteFamily);
    return false;
  }
  if (erase.empty()) {
    diags.error(spec.update->range, "the update has no erase term k k^T S", kDiscreteFamily);
    return false;
  }
  if (write.empty()) {
    diags.error(spec.update->range, "the update has no write term k v^T", kDiscreteFamily);
    return false;
  }
  out.g = toSum(keep, 1);
  out.b = toSum(write, 1);
  // The erase coefficient is e = g a; cancel g symbolically when every erase
  // term carries g's factors, else emit a = e / g.
  ScalarSum e = toSum(erase, -1);
  bool cancel = keep.size() == 1 && keep[0].coef != 0;
  if (cancel) {
    const auto &gf = keep[0].factors;
    for (ScalarTerm &t : e) {
      std::vector<Factor> rest = t.factors;
      for (const Factor &f : gf) {
        auto it = std::find_if(rest.begin(), rest.end(), [&](const Factor &x) {
          return x.inverted == f.inverted && sameExpr(*x.expr, *f.expr);
        });
        if (it == rest.end()) {
          cancel = false;
          break;
        }
        rest.erase(it);
      }
      if (!cancel)
        break;
      t.factors = std::move(rest);
      t.coef /= keep[0].coef;
    }
  }
  if (cancel) {
    out.aNum = std::move(e);
  } else {
    out.aNum = toSum(erase, -1);
    out.aDen = out.g;
  }
  return true;
}

bool Checker::checkOutput(CheckedSpec &out) {
  double scale = 1 / std::sqrt(static_cast<double>(out.K));
  bool explicitScale = false;
  if (spec.scale) {
    if (!checkScalar(*spec.scale, "the scale"))
      return false;
    if (!constant(*spec.scale)) {
      diags.error(spec.scale->range, "the scale must be a constant, got " + quote(spec.scale->range));
      return false;
    }
    scale = evalConst(*spec.scale);
    explicitScale = true;
  }
  if (!spec.output) {
    diags.error(spec.nameRange, "recurrence '" + spec.name + "' has no output",
                "add 'output o = S^T q'");
    return false;
  }
  std::vector<Mono> monos;
  if (!expand(*spec.output, monos))
    return false;
  const std::string form = "output " + spec.outputName + " = " + spec.state + "^T q";
  if (monos.size() != 1 || monos[0].atoms != std::vector<Atom>{Atom::ST, Atom::Q} ||
      !monos[0].factors.empty()) {
    diags.error(spec.output->range, "the output must be the read-out " + spec.state +
                                        "^T q, optionally times a constant",
                "write '" + form + "'");
    return false;
  }
  double coef = monos[0].coef;
  bool bare = spec.output->kind == Expr::Kind::Mul && spec.output->ops[0]->kind == Expr::Kind::Transpose;
  if (!bare || coef != 1) {
    if (explicitScale) {
      diags.error(spec.output->range, "the read-out scale is given twice (here and in 'scale')",
                  "keep one of them");
      return false;
    }
    scale = coef;
  }
  if (!(scale > 0) || !std::isfinite(scale)) {
    diags.error(spec.scale ? spec.scale->range : spec.output->range,
                "the read-out scale must be a positive finite number");
    return false;
  }
  out.scale = scale;
  return true;
}

std::optional<CheckedSpec> Checker::run() {
  CheckedSpec out;
  out.spec = &spec;
  out.name = spec.name;
  out.dtype = spec.dtype;
  out.compute = spec.compute;
  out.keyNorm = spec.keyNorm;
  if (!spec.K || !spec.V) {
    diags.error(spec.seen.count("dims") ? spec.dimsRange : spec.nameRange,
                std::string("recurrence '") + spec.name + "' needs both dimensions K and V",
                "add 'dims K = 128, V = 128'");
    return std::nullopt;
  }
  out.K = *spec.K;
  out.V = *spec.V;
  // The state's name must not collide with the vectors.
  static const std::set<std::string> reserved = {"k", "v", "q", "I", "lam", "T"};
  if (reserved.count(spec.state) || isScalarFunction(spec.state)) {
    diags.error(spec.stateRange, "'" + spec.state + "' cannot name the state: it is reserved");
    return std::nullopt;
  }
  if (spec.ode && spec.update) {
    diags.error(spec.updateLhsRange, "a recurrence has either an 'ode' or an 'update', not both");
    return std::nullopt;
  }
  if (!spec.ode && !spec.update) {
    diags.error(spec.nameRange, "recurrence '" + spec.name + "' has no dynamics",
                "add 'ode dS/dt = -(k k^T) S + k v^T' or 'update S = (I - beta k k^T) S + beta k v^T'");
    return std::nullopt;
  }
  // Per-token inputs: declared with 'inputs', or every free name in order.
  std::vector<std::pair<uint32_t, const Expr *>> names;
  for (const Expr *e : {spec.step.get(), spec.ode.get(), spec.update.get(), spec.output.get()})
    if (e)
      collectNames(*e, names);
  std::sort(names.begin(), names.end(),
            [](const auto &a, const auto &b) { return a.first < b.first; });
  bool ok = true;
  if (spec.inputsDeclared) {
    std::vector<std::string> declared;
    for (const auto &[n, r] : spec.inputs) {
      if (reserved.count(n) || n == spec.state || isScalarFunction(n)) {
        diags.error(r, "'" + n + "' cannot be an input name: it is reserved");
        ok = false;
      } else if (std::find(declared.begin(), declared.end(), n) != declared.end()) {
        diags.error(r, "input '" + n + "' is declared twice");
        ok = false;
      }
      declared.push_back(n);
    }
    for (const auto &[off, e] : names)
      if (e->name != "lam" &&
          std::find(declared.begin(), declared.end(), e->name) == declared.end()) {
        std::vector<std::string> cands = declared;
        cands.insert(cands.end(), {"k", "v", "q", "I", "lam", spec.state});
        std::string hint = didYouMean(e->name, cands);
        diags.error(e->range, "unknown name '" + e->name + "'",
                    hint.empty() ? "declare it in the 'inputs' line" : hint);
        ok = false;
      }
    out.inputs = declared;
  } else {
    for (const auto &[off, e] : names)
      if (e->name != "lam" && e->name != "T" &&
          std::find(out.inputs.begin(), out.inputs.end(), e->name) == out.inputs.end())
        out.inputs.push_back(e->name);
    for (const auto &[off, e] : names)
      if (e->name == "T") {
        diags.error(e->range, "'T' is only meaningful as a transpose, as in k^T");
        ok = false;
      }
  }
  if (!ok)
    return std::nullopt;
  out.continuous = spec.ode != nullptr;
  if (out.continuous ? !checkContinuous(out) : !checkDiscrete(out))
    return std::nullopt;
  if (!checkOutput(out))
    return std::nullopt;
  return out;
}

} // namespace

Tableau toTableau(const IntegratorDecl &decl) {
  Tableau t;
  t.stages = decl.b.size();
  for (const auto &row : decl.a)
    for (const auto &e : row)
      t.a.push_back(e.value);
  for (const auto &e : decl.b)
    t.b.push_back(e.value);
  for (const auto &e : decl.c)
    t.c.push_back(e.value);
  return t;
}

StabilityFunction stabilityOf(const IntegratorDecl &decl) {
  if (decl.name == "tableau")
    return StabilityFunction::fromTableau(toTableau(decl));
  return *StabilityFunction::named(decl.name);
}

std::optional<CheckedSpec> checkSpec(const Spec &spec, const SourceFile &file,
                                     DiagnosticEngine &diags) {
  return Checker(spec, file, diags).run();
}

} // namespace deltac::frontend
