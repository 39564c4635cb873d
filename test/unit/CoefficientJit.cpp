//===- CoefficientJit.cpp - runs the emitted coefficient code on the CPU --===//
#include "CoefficientJit.h"

#include "Delta/DeltaDialect.h"
#include "deltac/Frontend/MLIRGen.h"
#include "deltac/Target/CpuBackend.h"
#include "deltac/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/TargetSelect.h"

#include <sstream>

using namespace mlir;

namespace deltac::test {

std::unique_ptr<CoefficientJit> CoefficientJit::compile(const std::string &specText,
                                                        std::string &error) {
  static bool init = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)init;
  auto jit = std::unique_ptr<CoefficientJit>(new CoefficientJit());
  jit->ctx = std::make_unique<MLIRContext>();
  MLIRContext &ctx = *jit->ctx;
  ctx.loadDialect<delta::DeltaDialect, func::FuncDialect, LLVM::LLVMDialect>();
  registerBuiltinDialectTranslation(ctx);
  registerLLVMDialectTranslation(ctx);

  frontend::SourceFile file("test.delta", specText);
  frontend::DiagnosticEngine diags(file);
  OwningOpRef<ModuleOp> module = frontend::compileSpecToModule(file, diags, ctx);
  if (!module) {
    std::ostringstream os;
    diags.print(os);
    error = os.str();
    return nullptr;
  }
  {
    PassManager pm(&ctx);
    pm.addPass(createDeltaDiscretize());
    pm.addPass(createCanonicalizerPass());
    if (failed(pm.run(*module))) {
      error = "discretize failed";
      return nullptr;
    }
  }
  auto rec = *module->getOps<delta::RecurrenceOp>().begin();
  Block &body = rec.getBody().front();
  Type ct = rec.getComputeType();
  Type f64 = Float64Type::get(&ctx);
  OpBuilder b(&ctx);
  b.setInsertionPointToEnd(module->getBody());
  const char *names[] = {"coef_g", "coef_a", "coef_b"};
  for (int which = 0; which < 3; ++which) {
    auto fn = func::FuncOp::create(b, rec.getLoc(), names[which],
                                   b.getFunctionType({f64, f64, f64, f64, f64}, {f64}));
    fn->setAttr("llvm.emit_c_interface", b.getUnitAttr());
    Block *entry = fn.addEntryBlock();
    OpBuilder fb = OpBuilder::atBlockEnd(entry);
    auto toCompute = [&](Value v) -> Value {
      return ct.isF64() ? v : Value(arith::TruncFOp::create(fb, rec.getLoc(), ct, v));
    };
    // Map the recurrence's inputs (by name) and lam onto (h, gam, c, d, lam).
    IRMapping map;
    auto inputNames = rec.getInputNames();
    for (unsigned i = 0; i < inputNames.size(); ++i) {
      StringRef n = llvm::cast<StringAttr>(inputNames[i]).getValue();
      int idx = n == "h" ? 0 : n == "gam" ? 1 : n == "c" ? 2 : n == "d" ? 3 : -1;
      if (idx < 0) {
        error = ("unexpected input " + n).str();
        return nullptr;
      }
      map.map(body.getArgument(i), toCompute(entry->getArgument(idx)));
    }
    map.map(body.getArguments().back(), toCompute(entry->getArgument(4)));
    for (Operation &op : body.without_terminator())
      fb.clone(op, map);
    Value result = map.lookup(llvm::cast<delta::YieldOp>(body.getTerminator()).getValues()[which]);
    if (!ct.isF64())
      result = arith::ExtFOp::create(fb, rec.getLoc(), f64, result);
    func::ReturnOp::create(fb, rec.getLoc(), result);
  }
  rec.erase();
  if (failed(lowerKernelsToLLVM(*module))) {
    error = "lowering to LLVM failed";
    return nullptr;
  }
  ExecutionEngineOptions opts;
  auto engine = ExecutionEngine::create(*module, opts);
  if (!engine) {
    error = llvm::toString(engine.takeError());
    return nullptr;
  }
  jit->engine = std::move(*engine);
  return jit;
}

std::array<double, 3> CoefficientJit::eval(double h, double gam, double c, double d, double lam) {
  std::array<double, 3> out{};
  const char *names[] = {"coef_g", "coef_a", "coef_b"};
  for (int i = 0; i < 3; ++i) {
    double r = 0;
    if (llvm::Error e = engine->invoke(names[i], h, gam, c, d, lam, ExecutionEngine::result(r))) {
      llvm::consumeError(std::move(e));
      r = std::nan("");
    }
    out[i] = r;
  }
  return out;
}

} // namespace deltac::test
