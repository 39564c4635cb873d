//===- Analyze.cpp - deltac analyze ---------------------------------------===//
#include "Analyze.h"

#include "Delta/DeltaDialect.h"
#include "deltac/Frontend/MLIRGen.h"
#include "deltac/Transforms/Coefficients.h"

#include "mlir/IR/Matchers.h"
#include "llvm/Support/MemoryBuffer.h"

#include <fmt/core.h>

#include <cmath>
#include <iostream>

using namespace mlir;

namespace deltac::tool {
namespace {

std::string intervalText(const StabilityInterval &iv) {
  if (iv.unbounded)
    return "all x >= 0 (|R(-x)| <= 1 on the whole negative real axis)";
  return fmt::format("0 <= x <= {:.6g}", static_cast<double>(iv.xmax));
}

std::string orderText(const StabilityFunction &r) {
  return r.isExact() ? "exact (the flow itself: no truncation error)"
                     : fmt::format("{}", r.order());
}

/// An SVG plot of |R(-x)| for the spec's method and the usual ones.
std::string plotSvg(const std::string &title, const StabilityFunction &mine) {
  struct Curve {
    std::string name;
    StabilityFunction r;
    const char *color;
    bool bold;
  };
  std::vector<Curve> curves = {{"exact flow exp(-x)", StabilityFunction::exactFlow(), "#000000", false},
                               {"euler", *StabilityFunction::named("euler"), "#d62728", false},
                               {"rk4", *StabilityFunction::named("rk4"), "#ff7f0e", false},
                               {"backward_euler", *StabilityFunction::named("backward_euler"), "#2ca02c", false},
                               {"trapezoid", *StabilityFunction::named("trapezoid"), "#1f77b4", false}};
  curves.push_back({"this spec: " + title, mine, "#9467bd", true});
  const double W = 760, Hh = 480, L = 70, R = 200, T = 40, B = 50;
  const double xlo = -2, xhi = 4, ylo = -8, yhi = 8; // log10 ranges
  auto px = [&](double lx) { return L + (lx - xlo) / (xhi - xlo) * (W - L - R); };
  auto py = [&](double ly) { return T + (yhi - ly) / (yhi - ylo) * (Hh - T - B); };
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      W, Hh);
  s += fmt::format("<text x=\"{}\" y=\"22\" font-size=\"14\">|R(-x)| per step along k, x = h (gam + c "
                   "lam): growth above 1 is instability</text>\n",
                   L);
  for (int d = static_cast<int>(xlo); d <= xhi; ++d)
    s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#ddd\"/><text x=\"{0}\" "
                     "y=\"{3}\" text-anchor=\"middle\">1e{4}</text>\n",
                     px(d), T, Hh - B, Hh - B + 16, d);
  for (int d = static_cast<int>(ylo); d <= yhi; d += 2)
    s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#ddd\"/><text x=\"{3}\" "
                     "y=\"{4}\" text-anchor=\"end\">1e{5}</text>\n",
                     L, py(d), W - R, L - 6, py(d) + 4, d);
  s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#888\" "
                   "stroke-dasharray=\"6,4\"/>\n",
                   L, py(0), W - R);
  s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">x = h (gam + c lam)</text>\n",
                   (L + W - R) / 2, Hh - 12);
  s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#000\"/>\n",
                   L, T, W - L - R, Hh - T - B);
  for (size_t ci = 0; ci < curves.size(); ++ci) {
    const Curve &c = curves[ci];
    std::string path;
    bool pen = false;
    for (int i = 0; i <= 600; ++i) {
      double lx = xlo + (xhi - xlo) * i / 600.0;
      double v = std::fabs(static_cast<double>(c.r.atNegative(std::pow(10.0L, lx))));
      if (!(v > 0) || !std::isfinite(v)) {
        pen = false;
        continue;
      }
      double ly = std::min(std::max(std::log10(v), ylo), yhi);
      path += fmt::format("{}{:.1f},{:.1f} ", pen ? "L" : "M", px(lx), py(ly));
      pen = true;
    }
    s += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\"{}/>\n", path,
                     c.color, c.bold ? 3 : 1.5, c.bold ? " stroke-dasharray=\"8,4\"" : "");
    double ly = T + 20 + 20 * ci;
    s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\" stroke-width=\"{4}\"/>"
                     "<text x=\"{5}\" y=\"{6}\">{7}</text>\n",
                     W - R + 10, ly, W - R + 35, c.color, c.bold ? 3 : 1.5, W - R + 40, ly + 4, c.name);
  }
  s += "</svg>\n";
  return s;
}

} // namespace

Exit runAnalyze(const std::string &specPath, const std::string &plotPath) {
  if (!plotPath.empty() && !llvm::StringRef(plotPath).ends_with(".svg")) {
    fmt::print(stderr, "deltac: error: --plot writes SVG; give a file name ending in .svg\n");
    return Exit::UserError;
  }
  auto buf = specPath == "-" ? llvm::MemoryBuffer::getSTDIN()
                             : llvm::MemoryBuffer::getFile(specPath, /*IsText=*/true);
  if (!buf) {
    fmt::print(stderr, "deltac: error: cannot read '{}': {}\n", specPath, buf.getError().message());
    return Exit::UserError;
  }
  frontend::SourceFile file(specPath == "-" ? "<stdin>" : specPath, (*buf)->getBuffer().str());
  frontend::DiagnosticEngine diags(file);
  MLIRContext ctx;
  OwningOpRef<ModuleOp> module = frontend::compileSpecToModule(file, diags, ctx);
  diags.print(std::cerr);
  if (!module)
    return Exit::UserError;
  auto ode = *module->getOps<delta::OdeOp>().begin();
  if (!ode) {
    auto rec = *module->getOps<delta::RecurrenceOp>().begin();
    fmt::print("recurrence {}: discrete form; there is no integrator to analyze: g, a, b are "
               "computed as written.\n",
               rec.getSymName().str());
    if (!plotPath.empty()) {
      fmt::print(stderr, "deltac: error: --plot needs a spec in ODE form\n");
      return Exit::UserError;
    }
    return Exit::Ok;
  }
  delta::IntegratorAttr attr = ode.getIntegrator();
  std::optional<StabilityFunction> r = stabilityOf(attr);
  if (!r) {
    fmt::print(stderr, "deltac: internal error: no stability function for {}\n",
               attr.getMethod().str());
    return Exit::InternalError;
  }
  auto yield = llvm::cast<delta::YieldOp>(ode.getBodyBlock().getTerminator());
  bool gated = !matchPattern(yield.getValues()[1], m_AnyZeroFloat());
  StabilityInterval iv = stabilityInterval(*r);
  std::string method = attr.isTableau() ? fmt::format("a {}-stage tableau", attr.getNumStages())
                                        : attr.getMethod().str();

  fmt::print("recurrence {}: continuous form, integrator {}\n", ode.getSymName().str(), method);
  fmt::print("  R(z)           = {}\n", r->str());
  fmt::print("  order          = {}\n", orderText(*r));
  fmt::print("  stable for     x = h (gam + c lam) in {}\n", intervalText(iv));
  fmt::print("  coefficients   (x_g = h gam, x = x_g + h c lam; {})\n",
             gated ? "gated" : "no gate: x_g = 0, g = 1");
  if (r->isExact()) {
    fmt::print("    g = {}\n", gated ? "exp(-x_g)" : "1");
    fmt::print("    a = h c phi(h c lam)      phi(t) = (1 - exp(-t)) / t = -expm1(-t) / t, series for |t| < 1e-3\n");
    fmt::print("    b = d h phi(x)\n");
  } else {
    fmt::print("    R(-x) = n(x) / m(x) with n(x) = {}, m(x) = {}\n", r->n().str("x"),
               r->m().str("x"));
    fmt::print("    w(x) = (1 - R(-x)) m(x) / x = {}   (exact; no cancellation, no division by lam)\n",
               r->w().str("x"));
    if (gated) {
      fmt::print("    g = n(x_g) / m(x_g)\n");
      fmt::print("    a = h c H(x, x_g) / (m(x) n(x_g))   H: the exact divided difference of m - n\n");
      fmt::print("    b = d h w(x) / m(x)\n");
    } else {
      fmt::print("    g = 1\n    a = h c w(x) / m(x)\n    b = d h w(x) / m(x)\n");
    }
    fmt::print("    evaluated with compensated Horner schemes at double-word x\n");
  }
  bool l2 = ode.getKeyNorm() == delta::KeyNorm::l2;
  fmt::print("  keys           {}\n", l2 ? "L2-normalised (lam = 1)" : "unnormalised (lam = ||k||^2 is unbounded)");
  if (!iv.unbounded && !l2)
    fmt::print("warning: keys are unnormalised and {} is only stable for h (gam + c lam) <= {:.4g}: "
               "a token with a large key norm makes the state grow by |R(-x)| > 1 along k. Use "
               "key_norm l2, or an integrator stable on the whole axis (exact, backward_euler, "
               "trapezoid).\n",
               method, static_cast<double>(iv.xmax));
  else if (!iv.unbounded)
    fmt::print("note: with L2-normalised keys the step h (gam + c) must stay <= {:.4g}.\n",
               static_cast<double>(iv.xmax));
  if (!plotPath.empty()) {
    std::string error;
    if (!writeFileAtomically(plotPath, plotSvg(method, *r), error)) {
      fmt::print(stderr, "deltac: error: {}\n", error);
      return Exit::UserError;
    }
    fmt::print("plot written to {}\n", plotPath);
  }
  return Exit::Ok;
}

} // namespace deltac::tool
