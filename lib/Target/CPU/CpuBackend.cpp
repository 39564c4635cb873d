//===- CpuBackend.cpp - the chunked scan on the CPU -----------------------===//
#include "deltac/Target/CpuBackend.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/CRunnerUtils.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/Support/TargetSelect.h"

#include <atomic>
#include <functional>
#include <thread>

using namespace mlir;

namespace deltac {

LogicalResult lowerKernelsToLLVM(ModuleOp module) {
  PassManager pm(module.getContext());
  pm.addPass(createSCFToControlFlowPass());
  // expm1, log1p, ... from libm: MathToLLVM would expand them inaccurately.
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  return pm.run(module);
}

std::unique_ptr<llvm::TargetMachine> createHostTargetMachine(std::string &error) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  auto tmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!tmb) {
    error = llvm::toString(tmb.takeError());
    return nullptr;
  }
  tmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  tmb->setRelocationModel(llvm::Reloc::PIC_);
  auto tm = tmb->createTargetMachine();
  if (!tm) {
    error = llvm::toString(tm.takeError());
    return nullptr;
  }
  return std::move(*tm);
}

CpuKernel::~CpuKernel() = default;

std::unique_ptr<CpuKernel> CpuKernel::compile(ModuleOp module, std::string &error) {
  auto kernel = std::unique_ptr<CpuKernel>(new CpuKernel());
  std::string name;
  for (auto fn : module.getOps<func::FuncOp>()) {
    if (!fn->hasAttr("delta.kernel"))
      continue;
    name = fn.getName().str();
    kernel->K = llvm::cast<IntegerAttr>(fn->getAttr("delta.key_dim")).getInt();
    kernel->V = llvm::cast<IntegerAttr>(fn->getAttr("delta.value_dim")).getInt();
    kernel->nInputs = llvm::cast<ArrayAttr>(fn->getAttr("delta.input_names")).size();
  }
  if (name.empty()) {
    error = "the module holds no kernel function";
    return nullptr;
  }
  registerBuiltinDialectTranslation(*module.getContext());
  registerLLVMDialectTranslation(*module.getContext());
  if (failed(lowerKernelsToLLVM(module))) {
    error = "lowering the kernel to LLVM failed";
    return nullptr;
  }
  std::unique_ptr<llvm::TargetMachine> tm = createHostTargetMachine(error);
  if (!tm)
    return nullptr;
  ExecutionEngineOptions opts;
  // opts.transformer is a function_ref: the function it calls must outlive create().
  std::function<llvm::Error(llvm::Module *)> optimize = makeOptimizingTransformer(3, 0, tm.get());
  opts.transformer = optimize;
  opts.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
  auto engine = ExecutionEngine::create(module, opts, std::move(tm));
  if (!engine) {
    error = llvm::toString(engine.takeError());
    return nullptr;
  }
  kernel->engine = std::move(*engine);
  auto fn = kernel->engine->lookupPacked("_mlir_ciface_" + name);
  if (!fn) {
    error = llvm::toString(fn.takeError());
    return nullptr;
  }
  kernel->packed = *fn;
  return kernel;
}

void CpuKernel::run(const HostTensors &t, float *o, float *ht, unsigned threads) const {
  using Desc = StridedMemRefType<float, 1>;
  auto desc = [](const float *p, int64_t n) {
    Desc d;
    d.basePtr = d.data = const_cast<float *>(p);
    d.offset = 0;
    d.sizes[0] = n;
    d.strides[0] = 1;
    return d;
  };
  const int64_t rows = t.B * t.T * t.H, N = t.numSequences(), pairs = N * t.H;
  static const float dummy = 0;
  std::atomic<int64_t> next{0};
  auto worker = [&] {
    // Descriptors and argument slots of this thread.
    std::vector<Desc> d;
    d.push_back(desc(t.q, rows * K));
    d.push_back(desc(t.k, rows * K));
    d.push_back(desc(t.v, rows * V));
    for (const float *in : t.inputs)
      d.push_back(desc(in, rows));
    d.push_back(desc(t.h0 ? t.h0 : &dummy, t.h0 ? N * t.H * K * V : 1));
    d.push_back(desc(o, rows * V));
    d.push_back(desc(ht, N * t.H * K * V));
    std::vector<Desc *> ptrs;
    for (Desc &x : d)
      ptrs.push_back(&x);
    int64_t scalars[6];
    std::vector<void *> args;
    for (Desc *&p : ptrs)
      args.push_back(&p);
    for (int64_t &s : scalars)
      args.push_back(&s);
    for (int64_t p; (p = next.fetch_add(1)) < pairs;) {
      int64_t n = p / t.H, head = p % t.H;
      auto [bos, eos] = t.sequence(n);
      scalars[0] = bos;
      scalars[1] = eos - bos;
      scalars[2] = head;
      scalars[3] = t.H;
      scalars[4] = (n * t.H + head) * K * V;
      scalars[5] = t.h0 ? 1 : 0;
      packed(args.data());
    }
  };
  unsigned nthreads = std::max(1u, std::min<unsigned>(threads, static_cast<unsigned>(pairs)));
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < nthreads; ++i)
    pool.emplace_back(worker);
  worker();
  for (auto &th : pool)
    th.join();
}

} // namespace deltac
