//===- Driver.cpp - compile a spec for the CPU and run problems -----------===//
#include "deltac/Driver/Driver.h"

#include "Delta/DeltaDialect.h"
#include "deltac/Frontend/MLIRGen.h"
#include "deltac/Frontend/Parser.h"
#include "deltac/Integrators/Stability.h"
#include "deltac/Transforms/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

using namespace mlir;

namespace deltac::driver {

std::unique_ptr<CompiledSpec> compileForCpu(const std::string &name, const std::string &text,
                                            const CpuOptions &opts, std::string &error,
                                            bool &userError, std::ostream &diagOut) {
  userError = false;
  auto cs = std::make_unique<CompiledSpec>();
  cs->file = std::make_unique<frontend::SourceFile>(name, text);
  frontend::DiagnosticEngine diags(*cs->file);
  cs->spec = frontend::parseSpec(*cs->file, diags);
  std::optional<frontend::CheckedSpec> checked;
  if (cs->spec)
    checked = frontend::checkSpec(*cs->spec, *cs->file, diags);
  diags.print(diagOut);
  if (!checked) {
    userError = true;
    return nullptr;
  }
  cs->checked = *checked;
  cs->ctx = std::make_unique<MLIRContext>();
  cs->ctx->loadDialect<LLVM::LLVMDialect>();
  std::string mlirDiags;
  ScopedDiagnosticHandler handler(cs->ctx.get(), [&](Diagnostic &d) {
    llvm::raw_string_ostream os(mlirDiags);
    os << d.getLocation() << ": " << d << "\n";
    return success();
  });
  OwningOpRef<ModuleOp> module = frontend::buildModule(cs->checked, *cs->file, *cs->ctx);
  PassManager pm(cs->ctx.get());
  addDiscretizePipeline(pm);
  addScanPipeline(pm, opts.sequential, opts.chunkSize);
  if (failed(pm.run(*module)) || failed(verify(*module))) {
    error = "compiling the kernel failed\n" + mlirDiags;
    return nullptr;
  }
  for (auto fn : module->getOps<func::FuncOp>())
    if (auto c = fn->getAttrOfType<IntegerAttr>("delta.chunk_size"))
      cs->chunkSize = c.getInt();
  cs->kernel = CpuKernel::compile(*module, error);
  if (!cs->kernel) {
    error += mlirDiags;
    return nullptr;
  }
  return cs;
}

void Problem::bind() {
  view.q = q.data();
  view.k = k.data();
  view.v = v.data();
  view.h0 = h0.empty() ? nullptr : h0.data();
  view.inputs.clear();
  for (auto &in : inputs)
    view.inputs.push_back(in.data());
}

/// Names used anywhere in a sum.
static void namesIn(const frontend::Expr &e, std::vector<std::string> &out) {
  if (e.kind == frontend::Expr::Kind::Name)
    out.push_back(e.name);
  for (const auto &o : e.ops)
    namesIn(*o, out);
}

Problem randomProblem(const frontend::CheckedSpec &spec, const RandomOptions &opts) {
  Problem p;
  HostTensors &t = p.view;
  t.B = opts.B, t.T = opts.T, t.H = opts.H, t.K = spec.K, t.V = spec.V;
  t.cuSeqlens = opts.cuSeqlens;
  std::mt19937_64 rng(opts.seed);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<double> unit(0, 1);
  const int64_t rows = t.B * t.T * t.H;
  p.q.resize(rows * t.K);
  p.k.resize(rows * t.K);
  p.v.resize(rows * t.V);
  for (auto &x : p.q) x = normal(rng);
  for (auto &x : p.v) x = normal(rng);
  std::vector<double> lam(rows);
  double lo = std::log(opts.minKeyNorm), hi = std::log(opts.maxKeyNorm);
  for (int64_t r = 0; r < rows; ++r) {
    bool zero = unit(rng) < opts.zeroKeyFraction;
    double norm = zero ? 0 : std::exp(lo + (hi - lo) * unit(rng));
    double s2 = 0;
    for (int64_t i = 0; i < t.K; ++i) {
      float x = normal(rng);
      p.k[r * t.K + i] = x;
      s2 += double(x) * x;
    }
    double f = s2 > 0 ? norm / std::sqrt(s2) : 0;
    lam[r] = 0;
    for (int64_t i = 0; i < t.K; ++i) {
      p.k[r * t.K + i] = static_cast<float>(p.k[r * t.K + i] * f);
      lam[r] += double(p.k[r * t.K + i]) * p.k[r * t.K + i];
    }
    if (spec.keyNorm == "l2")
      lam[r] = 1;
  }
  // Which inputs are log-gates (discrete decay) or the plain step.
  std::vector<std::string> gateNames;
  if (!spec.continuous)
    for (const auto &term : spec.g)
      for (const auto &f : term.factors)
        namesIn(*f.expr, gateNames);
  std::string stepName;
  double xmax = INFINITY;
  if (spec.continuous && spec.h.size() == 1 && spec.h[0].coef == 1 &&
      spec.h[0].factors.size() == 1 && !spec.h[0].factors[0].inverted &&
      spec.h[0].factors[0].expr->kind == frontend::Expr::Kind::Name) {
    stepName = spec.h[0].factors[0].expr->name;
    StabilityInterval iv = stabilityInterval(frontend::stabilityOf(spec.integrator));
    if (!iv.unbounded)
      xmax = static_cast<double>(iv.xmax);
  }
  for (const std::string &name : spec.inputs) {
    std::vector<float> in(rows);
    bool gate = std::find(gateNames.begin(), gateNames.end(), name) != gateNames.end();
    for (int64_t r = 0; r < rows; ++r) {
      double u = unit(rng);
      double x = gate ? -0.5 * u : 0.05 + 0.95 * u;
      if (name == stepName && std::isfinite(xmax) && lam[r] > 0)
        x = std::min(x, 0.9 * xmax / lam[r]);
      in[r] = static_cast<float>(x);
    }
    p.inputs.push_back(std::move(in));
  }
  if (opts.withH0) {
    p.h0.resize(t.numSequences() * t.H * t.K * t.V);
    for (auto &x : p.h0) x = normal(rng);
  }
  p.bind();
  return p;
}

} // namespace deltac::driver
