//===- GpuTarget.cpp - PTX and cubins for the GPU kernels -----------------===//
#include "deltac/Target/GpuTarget.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Pipelines/Passes.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassInstrumentation.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"

#include <cstdlib>

using namespace mlir;

namespace deltac {

void registerGpuTargetDialects(DialectRegistry &registry) {
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
}

std::string findPtxas() {
  if (const char *env = std::getenv("DELTAC_PTXAS"))
    return env;
#ifdef DELTAC_PTXAS_PATH
  if (llvm::sys::fs::can_execute(DELTAC_PTXAS_PATH))
    return DELTAC_PTXAS_PATH;
#endif
  if (llvm::sys::fs::can_execute("/usr/local/cuda/bin/ptxas"))
    return "/usr/local/cuda/bin/ptxas";
  if (auto p = llvm::sys::findProgramByName("ptxas"))
    return *p;
  return "";
}

static bool runPtxas(const std::string &ptxas, GpuImage &img, std::string &error) {
  llvm::SmallString<128> in, out, log;
  int fd;
  if (llvm::sys::fs::createTemporaryFile("deltac", "ptx", fd, in) ||
      llvm::sys::fs::createTemporaryFile("deltac", "cubin", out) ||
      llvm::sys::fs::createTemporaryFile("deltac", "log", log)) {
    error = "cannot create temporary files for ptxas";
    return false;
  }
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << img.ptx;
  }
  std::string arch = "-arch=" + img.chip;
  llvm::SmallVector<llvm::StringRef> args = {ptxas, arch, "-O3", "-v", in, "-o", out};
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, log, log};
  std::string msg;
  int rc = llvm::sys::ExecuteAndWait(ptxas, args, std::nullopt, redirects, 600, 0, &msg);
  auto logBuf = llvm::MemoryBuffer::getFile(log);
  img.ptxasLog = logBuf ? (*logBuf)->getBuffer().str() : "";
  auto cubin = llvm::MemoryBuffer::getFile(out, /*IsText=*/false);
  if (rc == 0 && cubin)
    img.cubin = (*cubin)->getBuffer().str();
  llvm::sys::fs::remove(in);
  llvm::sys::fs::remove(out);
  llvm::sys::fs::remove(log);
  if (rc != 0) {
    error = "ptxas failed (" + (msg.empty() ? "exit " + std::to_string(rc) : msg) + "):\n" + img.ptxasLog;
    return false;
  }
  return true;
}

namespace {
/// Captures the module as it enters gpu-module-to-binary: the kernels in the
/// NVVM and LLVM dialects.
struct CaptureBeforeBinary : PassInstrumentation {
  std::string *out;
  explicit CaptureBeforeBinary(std::string *out) : out(out) {}
  void runBeforePass(Pass *pass, Operation *op) override {
    if (pass->getArgument() != "gpu-module-to-binary" || !out->empty())
      return;
    llvm::raw_string_ostream os(*out);
    op->print(os);
  }
};
} // namespace

/// Keeps one form of each kernel for the image of `sm`: the twins built for
/// its arch-specific target (delta.target "sm_<sm>a", e.g. sm_90a), renamed
/// to the kernels they stand for, else the originals. Returns whether a twin
/// was kept (the image is then built for that target).
static bool keepFormsFor(ModuleOp module, int sm) {
  const std::string target = "sm_" + std::to_string(sm) + "a";
  SmallVector<gpu::GPUFuncOp> twins;
  bool kept = false;
  module.walk([&](gpu::GPUFuncOp fn) {
    if (fn->hasAttr("delta.twin_of"))
      twins.push_back(fn);
  });
  for (gpu::GPUFuncOp twin : twins) {
    auto want = twin->getAttrOfType<StringAttr>("delta.target");
    if (!want || want.getValue() != target) {
      twin.erase();
      continue;
    }
    kept = true;
    StringAttr of = twin->getAttrOfType<StringAttr>("delta.twin_of");
    auto gpuModule = twin->getParentOfType<gpu::GPUModuleOp>();
    if (Operation *original = SymbolTable::lookupSymbolIn(gpuModule, of))
      original->erase();
    SymbolTable::setSymbolName(twin, of);
    twin->removeAttr("delta.twin_of");
  }
  return kept;
}

/// Removes griddepcontrol (kGridDependencySm on) from an older image: there
/// the runtime launches each kernel after the one before has ended, and the
/// wait is not needed.
static void dropGridDependencyControl(ModuleOp module) {
  SmallVector<Operation *> ops;
  module.walk([&](NVVM::GriddepcontrolOp op) { ops.push_back(op); });
  for (Operation *op : ops)
    op->erase();
}

bool compileGpuImages(ModuleOp module, const std::vector<int> &sms, std::vector<GpuImage> &out,
                      std::string &error, std::string *nvvm) {
  LLVMInitializeNVPTXTarget();
  LLVMInitializeNVPTXTargetInfo();
  LLVMInitializeNVPTXTargetMC();
  LLVMInitializeNVPTXAsmPrinter();
  std::string ptxas = findPtxas();
  // MLIR's NVVM target links libdevice (for expm1, log1p, ...) from the CUDA
  // toolkit it finds through these variables; point it at ptxas's toolkit.
  if (!ptxas.empty() && !std::getenv("CUDA_ROOT") && !std::getenv("CUDA_HOME") &&
      !std::getenv("CUDA_PATH")) {
    llvm::SmallString<256> root(ptxas);
    llvm::sys::path::remove_filename(root); // bin
    llvm::sys::path::remove_filename(root); // the toolkit
    ::setenv("CUDA_ROOT", root.c_str(), 0);
  }
  for (int sm : sms) {
    OwningOpRef<ModuleOp> copy = module.clone();
    bool archSpecific = keepFormsFor(*copy, sm);
    if (sm < kGridDependencySm)
      dropGridDependencyControl(*copy);
    PassManager pm(module.getContext());
    gpu::GPUToNVVMPipelineOptions opts;
    opts.cubinChip = "sm_" + std::to_string(sm) + (archSpecific ? "a" : "");
    opts.cubinFeatures = "+ptx80";
    opts.cubinFormat = "isa";
    opts.optLevel = 3;
    gpu::buildLowerToNVVMPassPipeline(pm, opts);
    if (nvvm && sm == sms.front())
      pm.addInstrumentation(std::make_unique<CaptureBeforeBinary>(nvvm));
    if (failed(pm.run(*copy))) {
      error = "lowering the GPU kernels to PTX for sm_" + std::to_string(sm) + " failed";
      return false;
    }
    GpuImage img;
    img.sm = sm;
    img.chip = opts.cubinChip;
    copy->walk([&](gpu::BinaryOp bin) {
      for (Attribute a : bin.getObjects())
        if (auto obj = llvm::dyn_cast<gpu::ObjectAttr>(a))
          img.ptx = obj.getObject().getValue().str();
    });
    if (img.ptx.empty()) {
      error = "no PTX was produced for sm_" + std::to_string(sm);
      return false;
    }
    if (!ptxas.empty() && !runPtxas(ptxas, img, error))
      return false;
    out.push_back(std::move(img));
  }
  return true;
}

} // namespace deltac
