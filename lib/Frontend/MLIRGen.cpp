//===- MLIRGen.cpp - checked spec -> delta dialect ------------------------===//
#include "deltac/Frontend/MLIRGen.h"

#include "Delta/DeltaDialect.h"
#include "deltac/Frontend/Parser.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"

#include <map>

using namespace mlir;

namespace deltac::frontend {
namespace {

class Gen {
public:
  Gen(const CheckedSpec &spec, const SourceFile &file, MLIRContext &ctx)
      : spec(spec), file(file), ctx(ctx), b(&ctx) {}

  OwningOpRef<ModuleOp> run();

private:
  Location loc(SourceRange r) {
    auto [line, col] = file.lineCol(r.begin);
    return FileLineColLoc::get(&ctx, file.name(), line, col);
  }
  Value constant(double v, Location l) {
    return arith::ConstantOp::create(b, l, FloatAttr::get(ftype, v));
  }
  Value emit(const Expr &e);
  Value emitSum(const ScalarSum &sum, SourceRange fallback);
  Block *makeBody(Region &region);

  const CheckedSpec &spec;
  const SourceFile &file;
  MLIRContext &ctx;
  OpBuilder b;
  FloatType ftype;
  std::map<std::string, Value> inputs;
  Value lam;
};

Value Gen::emit(const Expr &e) {
  Location l = loc(e.range);
  auto arg = [&](size_t i) { return emit(*e.ops[i]); };
  switch (e.kind) {
  case Expr::Kind::Number: return constant(e.number, l);
  case Expr::Kind::Name: return e.name == "lam" ? lam : inputs.at(e.name);
  case Expr::Kind::Neg: return arith::NegFOp::create(b, l, arg(0));
  case Expr::Kind::Add: return arith::AddFOp::create(b, l, arg(0), arg(1));
  case Expr::Kind::Sub: return arith::SubFOp::create(b, l, arg(0), arg(1));
  case Expr::Kind::Mul: return arith::MulFOp::create(b, l, arg(0), arg(1));
  case Expr::Kind::Div: return arith::DivFOp::create(b, l, arg(0), arg(1));
  case Expr::Kind::Transpose: return arg(0);
  case Expr::Kind::Call: {
    Value x = arg(0);
    if (e.name == "exp") return math::ExpOp::create(b, l, x);
    if (e.name == "log") return math::LogOp::create(b, l, x);
    if (e.name == "sqrt") return math::SqrtOp::create(b, l, x);
    if (e.name == "abs") return math::AbsFOp::create(b, l, x);
    if (e.name == "expm1") return math::ExpM1Op::create(b, l, x);
    if (e.name == "log1p") return math::Log1pOp::create(b, l, x);
    if (e.name == "tanh") return math::TanhOp::create(b, l, x);
    if (e.name == "sigmoid") {
      // 1 / (1 + exp(-x)): saturates to 0 and 1 without overflow trouble.
      Value ex = math::ExpOp::create(b, l, arith::NegFOp::create(b, l, x));
      Value den = arith::AddFOp::create(b, l, constant(1.0, l), ex);
      return arith::DivFOp::create(b, l, constant(1.0, l), den);
    }
    if (e.name == "softplus") {
      // max(x, 0) + log1p(exp(-|x|)): no overflow for large x; NaN propagates.
      Value pos = arith::MaximumFOp::create(b, l, x, constant(0.0, l));
      Value negAbs = arith::NegFOp::create(b, l, math::AbsFOp::create(b, l, x));
      Value tail = math::Log1pOp::create(b, l, math::ExpOp::create(b, l, negAbs));
      return arith::AddFOp::create(b, l, pos, tail);
    }
    break;
  }
  }
  llvm_unreachable("expression kind not handled");
}

Value Gen::emitSum(const ScalarSum &sum, SourceRange fallback) {
  Value total;
  for (const ScalarTerm &t : sum) {
    Location l = loc(t.range);
    Value term;
    for (const Factor &f : t.factors) {
      Value v = emit(*f.expr);
      if (f.inverted)
        term = arith::DivFOp::create(b, l, term ? term : constant(1.0, l), v);
      else
        term = term ? Value(arith::MulFOp::create(b, l, term, v)) : v;
    }
    if (!term)
      term = constant(t.coef, l);
    else if (t.coef == -1)
      term = arith::NegFOp::create(b, l, term);
    else if (t.coef != 1)
      term = arith::MulFOp::create(b, l, constant(t.coef, l), term);
    total = total ? Value(arith::AddFOp::create(b, l, total, term)) : term;
  }
  return total ? total : constant(0.0, loc(fallback));
}

Block *Gen::makeBody(Region &region) {
  Block *block = new Block();
  region.push_back(block);
  for (const std::string &name : spec.inputs)
    inputs[name] = block->addArgument(ftype, loc(spec.spec->nameRange));
  lam = block->addArgument(ftype, loc(spec.spec->nameRange));
  b.setInsertionPointToStart(block);
  return block;
}

OwningOpRef<ModuleOp> Gen::run() {
  ctx.loadDialect<delta::DeltaDialect, arith::ArithDialect, math::MathDialect>();
  ftype = spec.compute == "f64" ? FloatType(Float64Type::get(&ctx)) : FloatType(Float32Type::get(&ctx));
  Type storage = spec.dtype == "bf16"  ? Type(BFloat16Type::get(&ctx))
                 : spec.dtype == "f16" ? Type(Float16Type::get(&ctx))
                                       : Type(Float32Type::get(&ctx));
  Location specLoc = loc(spec.spec->nameRange);
  OwningOpRef<ModuleOp> module = ModuleOp::create(specLoc);
  b.setInsertionPointToEnd(module->getBody());
  SmallVector<Attribute> names;
  for (const std::string &n : spec.inputs)
    names.push_back(b.getStringAttr(n));
  auto keyNorm = delta::KeyNormAttr::get(
      &ctx, spec.keyNorm == "l2" ? delta::KeyNorm::l2 : delta::KeyNorm::none);
  auto kDim = b.getI64IntegerAttr(spec.K), vDim = b.getI64IntegerAttr(spec.V);
  auto scale = b.getF64FloatAttr(spec.scale);
  auto nameAttr = b.getStringAttr(spec.name);
  auto inputNames = b.getArrayAttr(names);
  SourceRange whole = spec.continuous ? spec.spec->ode->range : spec.spec->update->range;

  if (spec.continuous) {
    const IntegratorDecl &in = spec.integrator;
    SmallVector<int64_t> a, bw, c;
    auto push = [](SmallVector<int64_t> &v, const Rational &r) {
      v.push_back(static_cast<int64_t>(r.numerator()));
      v.push_back(static_cast<int64_t>(r.denominator()));
    };
    for (const auto &row : in.a)
      for (const auto &e : row)
        push(a, e.value);
    for (const auto &e : in.b)
      push(bw, e.value);
    for (const auto &e : in.c)
      push(c, e.value);
    auto integrator = delta::IntegratorAttr::get(&ctx, in.name, a, bw, c);
    auto op = delta::OdeOp::create(b, specLoc, nameAttr, kDim, vDim, TypeAttr::get(storage),
                                   keyNorm, scale, inputNames, integrator);
    OpBuilder::InsertionGuard guard(b);
    makeBody(op.getBody());
    Value h = emitSum(spec.h, spec.spec->step->range);
    Value gam = emitSum(spec.gam, whole);
    Value c1 = emitSum(spec.c, whole);
    Value d = emitSum(spec.d, whole);
    delta::YieldOp::create(b, loc(whole), ValueRange{h, gam, c1, d});
  } else {
    auto op = delta::RecurrenceOp::create(b, specLoc, nameAttr, kDim, vDim,
                                          TypeAttr::get(storage), keyNorm, scale, inputNames);
    OpBuilder::InsertionGuard guard(b);
    makeBody(op.getBody());
    Value g = emitSum(spec.g, whole);
    Value a = emitSum(spec.aNum, whole);
    if (!spec.aDen.empty())
      a = arith::DivFOp::create(b, loc(whole), a, emitSum(spec.aDen, whole));
    Value bw = emitSum(spec.b, whole);
    delta::YieldOp::create(b, loc(whole), ValueRange{g, a, bw});
  }
  return module;
}

} // namespace

OwningOpRef<ModuleOp> buildModule(const CheckedSpec &spec, const SourceFile &file,
                                  MLIRContext &ctx) {
  return Gen(spec, file, ctx).run();
}

OwningOpRef<ModuleOp> compileSpecToModule(const SourceFile &file, DiagnosticEngine &diags,
                                          MLIRContext &ctx) {
  std::unique_ptr<Spec> spec = parseSpec(file, diags);
  if (!spec)
    return nullptr;
  std::optional<CheckedSpec> checked = checkSpec(*spec, file, diags);
  if (!checked)
    return nullptr;
  return buildModule(*checked, file, ctx);
}

} // namespace deltac::frontend
