//===- Pipeline.cpp - the stages deltac runs ------------------------------===//
#include "Pipeline.h"

#include "Delta/DeltaDialect.h"
#include "deltac/Frontend/MLIRGen.h"
#include "deltac/Target/CpuBackend.h"
#include "deltac/Target/Bundle.h"
#include "deltac/Target/GpuTarget.h"
#include "deltac/Target/HeaderEmitter.h"
#include "deltac/Target/ObjectEmitter.h"
#include "deltac/Transforms/Coefficients.h"
#include "deltac/Transforms/Passes.h"

#include "mlir/Transforms/Passes.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <fmt/core.h>

#include <iostream>

using namespace mlir;

namespace deltac::tool {

const std::vector<Stage> &stages() {
  static const std::vector<Stage> all = {
      {"parsed", "the spec as written: delta.ode (continuous) or delta.recurrence (discrete)",
       nullptr, nullptr},
      {"discrete", "the discrete canonical form: delta.recurrence computing (g, a, b)", "parsed",
       [](ModuleOp m, const CompileOptions &) {
         PassManager pm(m.getContext());
         addDiscretizePipeline(pm);
         return pm.run(m);
       }},
      {"chunked",
       "the chunkwise-parallel scan (or, with --sequential, the token-by-token scan): one "
       "function per (sequence, head) pair over scf loops and memrefs",
       "discrete", [](ModuleOp m, const CompileOptions &o) {
         PassManager pm(m.getContext());
         addScanPipeline(pm, o.sequential, o.chunkSize);
         return pm.run(m);
       }},
      {"llvm", "the scan lowered to the LLVM dialect for the CPU", "chunked",
       [](ModuleOp m, const CompileOptions &) { return lowerKernelsToLLVM(m); }},
      {"gpu",
       "the GPU kernel: the chunked scan on tensor cores (with --sequential, or K not a multiple "
       "of 16 up to 256: the per-column sequential kernel)",
       "discrete",
       [](ModuleOp m, const CompileOptions &o) {
         PassManager pm(m.getContext());
         bool chunked = !o.sequential;
         for (auto rec : m.getOps<delta::RecurrenceOp>())
           chunked = chunked && rec.getKeyDim() % 16 == 0 && rec.getKeyDim() <= kChunkedGpuMaxKeyDim;
         if (chunked) {
           DeltaToGPUChunkedOptions co;
           co.storage = o.dtype;
           co.valueTile = o.valueTile;
           co.splitValueTile = o.splitValueTile;
           co.schedule = o.schedule;
           co.wgmma = o.wgmma;
           pm.addPass(createDeltaToGPUChunked(co));
         } else {
           DeltaToGPUOptions so;
           so.storage = o.dtype;
           pm.addPass(createDeltaToGPU(so));
         }
         pm.addPass(createCanonicalizerPass());
         pm.addPass(createCSEPass());
         return pm.run(m);
       }},
  };
  return all;
}

const std::vector<Output> &outputs() {
  static const std::vector<Output> all = {
      {"object", "llvm", "a host object file with the CPU kernel (needs -o)"},
      {"header", "chunked", "the C header for that object"},
      {"nvvm", "gpu", "the GPU kernels lowered to the NVVM and LLVM dialects (sm_80), before PTX"},
      {"ptx", "gpu", "PTX for sm_80 and sm_90"},
      {"cubin", "gpu", "ptxas output for sm_90 (needs -o)"},
      {"bundle", "gpu", "a kernel bundle for the runtime: cubins, PTX, manifest (needs -o)"},
      {"gpu-header", "gpu", "a C header embedding the bundle, with a typed <name>_gpu_forward"},
  };
  return all;
}

int findStage(llvm::StringRef name) {
  const auto &all = stages();
  for (size_t i = 0; i < all.size(); ++i)
    if (name == all[i].name)
      return static_cast<int>(i);
  return -1;
}

/// The stages from the frontend up to `last`, in order.
static std::vector<int> chainTo(int last) {
  std::vector<int> chain;
  for (int i = last; i >= 0; i = stages()[i].after ? findStage(stages()[i].after) : -1)
    chain.insert(chain.begin(), i);
  return chain;
}

std::string stageList() {
  std::string s;
  for (const Stage &st : stages())
    s += (s.empty() ? "" : ", ") + std::string(st.name);
  for (const Output &o : outputs())
    s += ", " + std::string(o.name);
  return s;
}

bool writeFileAtomically(const std::string &path, llvm::StringRef data, std::string &error) {
  llvm::SmallString<256> tmp;
  int fd = -1;
  llvm::SmallString<256> model(path);
  model += ".tmp-%%%%%%";
  if (std::error_code ec = llvm::sys::fs::createUniqueFile(model, fd, tmp)) {
    error = fmt::format("cannot create a file next to '{}': {}", path, ec.message());
    return false;
  }
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << data;
    os.close();
    if (os.has_error()) {
      error = fmt::format("cannot write '{}': {}", tmp.str().str(), os.error().message());
      os.clear_error();
      llvm::sys::fs::remove(tmp);
      return false;
    }
  }
  if (std::error_code ec = llvm::sys::fs::rename(tmp, path)) {
    error = fmt::format("cannot rename '{}' to '{}': {}", tmp.str().str(), path, ec.message());
    llvm::sys::fs::remove(tmp);
    return false;
  }
  return true;
}

static std::string printModule(ModuleOp m) {
  std::string s;
  llvm::raw_string_ostream os(s);
  m.print(os);
  return s;
}

/// Produces a non-IR output from the module.
static bool emitOutput(const std::string &emit, ModuleOp module, const std::string &specText,
                       std::string &text, std::string &error, bool ptxasLog = true) {
  if (emit == "object")
    return emitObjectFile(module, text, error);
  if (emit == "header")
    return emitCHeader(module, text, error);
  std::vector<GpuImage> images;
  std::vector<int> sms = emit == "cubin" ? std::vector<int>{90} : std::vector<int>{80, 90};
  if (emit == "nvvm")
    return compileGpuImages(module, {80}, images, error, &text);
  if (!compileGpuImages(module, sms, images, error))
    return false;
  for (const GpuImage &img : images)
    if (ptxasLog && !img.ptxasLog.empty())
      fmt::print(stderr, "ptxas {}:\n{}", img.chip, img.ptxasLog);
  if (emit == "ptx") {
    for (const GpuImage &img : images)
      text += fmt::format("// ----- PTX for {} -----\n{}\n", img.chip, img.ptx);
    return true;
  }
  if (emit == "cubin") {
    if (images[0].cubin.empty()) {
      error = "no ptxas was found (install the CUDA toolkit or set DELTAC_PTXAS)";
      return false;
    }
    text = images[0].cubin;
    return true;
  }
  if (emit == "gpu-header") {
    std::string bundle;
    return writeBundle(module, images, specText, bundle, error) && emitGpuHeader(module, bundle, text, error);
  }
  return writeBundle(module, images, specText, text, error);
}

/// A spec compiled to its first MLIR module, with the context and the
/// diagnostics MLIR reports afterwards (compiler bugs, not user errors).
struct SpecModule {
  frontend::SourceFile file;
  frontend::DiagnosticEngine diags;
  MLIRContext ctx;
  std::string mlirDiags;
  ScopedDiagnosticHandler handler;
  OwningOpRef<ModuleOp> module;
  static DialectRegistry registry() {
    DialectRegistry r;
    registerGpuTargetDialects(r);
    return r;
  }
  SpecModule(const std::string &name, const std::string &text)
      : file(name, text), diags(file), ctx(registry()), handler(&ctx, [this](Diagnostic &d) {
          // Warnings (a choice the compiler could not honour) go out at
          // once; the rest is kept for the message of a failed stage.
          if (d.getSeverity() == DiagnosticSeverity::Warning) {
            llvm::errs() << "deltac: warning: " << d << "\n";
            return success();
          }
          llvm::raw_string_ostream os(mlirDiags);
          os << d.getLocation() << ": " << d << "\n";
          return success();
        }) {
    ctx.loadDialect<delta::DeltaDialect>();
    module = frontend::compileSpecToModule(file, diags, ctx);
    diags.print(std::cerr);
  }
};

bool compileBundle(const std::string &name, const std::string &specText, const CompileOptions &opts,
                   std::string &bundle, std::string &error, bool &userError) {
  userError = false;
  SpecModule sm(name, specText);
  OwningOpRef<ModuleOp> &module = sm.module;
  std::string &mlirDiags = sm.mlirDiags;
  if (!module) {
    userError = true;
    error = "the spec has errors";
    return false;
  }
  for (int i : chainTo(findStage("gpu")))
    if (stages()[i].run && (failed(stages()[i].run(*module, opts)) || failed(verify(*module)))) {
      error = fmt::format("stage '{}' failed\n{}", stages()[i].name, mlirDiags);
      return false;
    }
  return emitOutput("bundle", *module, specText, bundle, error, /*ptxasLog=*/false);
}

/// --explain-schedule: what the GPU lowering chose for each kernel, and why.
static void explainSchedule(ModuleOp module) {
  module.walk([&](gpu::GPUFuncOp fn) {
    if (!fn->hasAttr("delta.kernel"))
      return;
    auto str = [&](StringRef a) {
      auto s = fn->getAttrOfType<StringAttr>(a);
      return s ? s.getValue().str() : std::string("-");
    };
    auto num = [&](StringRef a) {
      auto i = fn->getAttrOfType<IntegerAttr>(a);
      return i ? i.getInt() : int64_t(0);
    };
    int64_t K = num("delta.key_dim"), V = num("delta.value_dim"), tile = num("delta.value_tile");
    int64_t block = num("delta.block_size");
    std::string io = ioTypeName(fn);
    fmt::print("kernel {} ({}): K = {}, V = {}, q/k/v/o in {}, h0/ht in f32\n", fn.getName().str(),
               str("delta.kernel"), K, V, io);
    if (str("delta.twin_of") != "-")
      fmt::print("  target: {}, the form of {} in the sm_90 image (sm_80 and older GPUs run {} itself)\n",
                 str("delta.target"), str("delta.twin_of"), str("delta.twin_of"));
    if (str("delta.kernel") != "gpu-chunked") {
      fmt::print("  sequential: one thread per state column, tokens in order, {} columns per block; "
                 "chosen because {}\n", tile,
                 K % 16 || K > kChunkedGpuMaxKeyDim
                     ? fmt::format("the chunked kernel needs K a multiple of 16 up to {}", kChunkedGpuMaxKeyDim)
                     : std::string("--sequential was given"));
      return;
    }
    if (str("delta.schedule") == "split") {
      bool prep = llvm::StringRef(str("delta.variant")).starts_with("split_prep");
      if (prep)
        fmt::print("  grid: x = N * H (sequence, head) pairs, y = ceil(longest sequence / 64) chunks (blocks past "
                   "a sequence's end return)\n");
      else
        fmt::print("  grid: x = N * H (sequence, head) pairs * {} value tiles of {} (block x = pair * {} + tile: "
                   "a pair's tiles run side by side and share their reads of a chunk's key-side rows in L2; "
                   "the tile: {})\n",
                   V / tile, tile, V / tile,
                   str("delta.variant") == "split_large"
                       ? "twice the split scan's, for more pairs: the runtime takes this scan when its blocks need "
                         "fewer waves, 3 * waves(this tile) < 2 * waves(the split scan's), a block per SM; and, on "
                         "sm_90 and later, in segments where its blocks take at most half of the SMs and the "
                         "longest sequence has 512 chunks or more: the chunks in ranges (a range per 128 chunks, at "
                         "most 8, each a quarter longer than the one before; the last one scanned by the scan the "
                         "two kernels would take), "
                         "each range's first kernel launched as the scan of the range before starts, on the SMs "
                         "that scan leaves"
                       : "V / 8, at least 16, unless --split-value-tile says");
      fmt::print("  block: {} threads = {} warps; schedule: {}\n", block, block / 32, str("delta.schedule_detail"));
      fmt::print("  workspace: {}; the runtime allocates it\n", str("delta.workspace_layout"));
      fmt::print("  chosen by the runtime when N * H * ceil(V / min(wide tile, 64)) <= SMs / 2 (few pairs), or ceil(V / wide "
                 "tile) >= 8 (K = V = 256): the state-independent work done once per chunk instead of once per "
                 "value tile; shared memory: {} bytes\n",
                 num("delta.shared_bytes"));
      return;
    }
    bool narrow = str("delta.variant") == "narrow";
    fmt::print("  grid: x = N * H (sequence, head) pairs, y = ceil(V / {}) = {} value tiles\n", tile,
               (V + tile - 1) / tile);
    fmt::print("  chunk: {} tokens per step (fixed: eight threads per token in the prologue)\n",
               num("delta.chunk_size"));
    fmt::print("  block: {} threads = {} warps; 16 x 16 output tiles dealt round-robin to the warps{}, two "
               "mma.sync m16n8k16 per tile and 16-deep step\n",
               block, block / 32,
               tile == 128 ? " (Q S, O and the state in row strips of two tiles, A's fragments shared)" : "");
    fmt::print("  value tile: {} columns ({})\n", tile,
               narrow ? "the variant for fewer pairs: more blocks than the wide kernel; the runtime takes it "
                        "when N * H * ceil(V / min(wide tile, 64)) <= SMs / 2 and the bundle has no split "
                        "schedule, or else when its blocks need no more waves (one block per SM) than the wide "
                        "kernel's"
                      : fmt::format("the wide kernel: the V-independent work (K K^T, Q K^T, the inverse) "
                                    "shared by {} columns",
                                    tile));
    if (str("delta.value_tile_note") != "-")
      fmt::print("  value tile chosen smaller: {}\n", str("delta.value_tile_note"));
    bool pipelined = str("delta.schedule") == "pipelined";
    if (pipelined)
      fmt::print("  schedule: {}\n", str("delta.schedule_detail"));
    else
      fmt::print("  schedule: {}; chosen because {}\n", str("delta.schedule_detail"), str("delta.schedule_note"));
    std::string keys = str("delta.key_staging") == "registers-next-chunk"
                           ? "keys, queries and inputs loaded into registers (16-byte vectors) two chunks ahead, "
                             "carried by the loop, stored as f16 one chunk ahead"
                       : str("delta.key_staging") == "cp.async-next-chunk"
                           ? "the next chunk's keys and queries staged by cp.async while this one computes, "
                             "read back in 16-byte vectors"
                       : str("delta.key_loads") == "vector16"
                           ? "keys and queries by 16-byte vector loads at the chunk's start (no room in shared "
                             "memory to stage the next chunk)"
                           : "keys and queries by scalar loads (K / 8 is not a whole number of 16-byte pieces)";
    fmt::print("  staging: {}; values by {} ({}){}\n", keys, str("delta.value_staging"),
               str("delta.value_staging") == "cp.async" ? "V is a multiple of 16" : "V is not a multiple of 16",
               pipelined ? ", the next chunk's during this one" : ", overlapped with the first products");
    fmt::print("  shared memory: {} bytes ({}, {}); one block per SM\n", num("delta.shared_bytes"),
               pipelined ? "the state's f16 copy, double-buffered chunk operands"
                         : "state tile f32 + f16 copy, chunk operands",
               str("delta.target") == "sm_90a"
                   ? "keys, queries and the state copy in wgmma's 128-byte swizzled layout, the rest in padded rows"
                   : "padded rows");
  });
}

Exit runCompile(const CompileOptions &opts) {
  // Read the spec.
  auto buf = opts.specPath == "-" ? llvm::MemoryBuffer::getSTDIN()
                                  : llvm::MemoryBuffer::getFile(opts.specPath, /*IsText=*/true);
  if (!buf) {
    fmt::print(stderr, "deltac: error: cannot read '{}': {}\n", opts.specPath,
               buf.getError().message());
    return Exit::UserError;
  }
  constexpr size_t kMaxSpec = 1 << 20;
  if ((*buf)->getBufferSize() > kMaxSpec) {
    fmt::print(stderr, "deltac: error: '{}' is {} bytes; a spec is at most {} bytes\n",
               opts.specPath, (*buf)->getBufferSize(), kMaxSpec);
    return Exit::UserError;
  }
  std::string emit = opts.emit.empty() ? kDefaultStage : opts.emit;
  const Output *output = nullptr;
  for (const Output &o : outputs())
    if (emit == o.name)
      output = &o;
  int last = findStage(output ? output->from : emit);
  if (opts.explainSchedule && opts.emit.empty())
    last = findStage("gpu"); // the schedule is the GPU kernels'
  else if (opts.explainSchedule && last != findStage("gpu")) {
    fmt::print(stderr, "deltac: error: --explain-schedule goes with a GPU output (gpu, nvvm, ptx, cubin, "
                       "bundle, gpu-header) or no --emit\n");
    return Exit::UserError;
  }
  if (last < 0) {
    fmt::print(stderr, "deltac: error: unknown stage '{}'; stages: {}\n", opts.emit, stageList());
    return Exit::UserError;
  }
  bool binary = output && (emit == "object" || emit == "cubin" || emit == "bundle");
  if (binary && (opts.outputPath.empty() || opts.outputPath == "-")) {
    fmt::print(stderr, "deltac: error: --emit={} needs -o FILE\n", emit);
    return Exit::UserError;
  }
  if (opts.chunkSize != 0 && opts.chunkSize != 16 && opts.chunkSize != 32 &&
      opts.chunkSize != 64 && opts.chunkSize != 128) {
    fmt::print(stderr, "deltac: error: chunk size must be 16, 32, 64 or 128, got {}\n",
               opts.chunkSize);
    return Exit::UserError;
  }
  // The chain of stages from the frontend to the one asked for.
  std::vector<int> chain = chainTo(last);

  SpecModule sm(opts.specPath == "-" ? "<stdin>" : opts.specPath, (*buf)->getBuffer().str());
  frontend::SourceFile &file = sm.file;
  OwningOpRef<ModuleOp> &module = sm.module;
  std::string &mlirDiags = sm.mlirDiags;
  if (!module)
    return Exit::UserError;
  auto internal = [&](const std::string &what) {
    fmt::print(stderr, "deltac: internal error: {}\n{}", what, mlirDiags);
    return Exit::InternalError;
  };
  if (failed(verify(*module)))
    return internal("the frontend produced invalid IR");
  if (opts.checkOnly) {
    // One line: what the spec is, as the compiler understood it.
    std::string summary;
    llvm::raw_string_ostream os(summary);
    for (Operation &op : module->getBody()->getOperations()) {
      if (auto ode = llvm::dyn_cast<delta::OdeOp>(op)) {
        std::optional<StabilityFunction> r = stabilityOf(ode.getIntegrator());
        os << "continuous form (ODE), integrator " << ode.getIntegrator().getMethod();
        if (r)
          os << (r->isExact() ? " (exact flow)" : " (order " + std::to_string(r->order()) + ")");
        os << ", K = " << ode.getKeyDim() << ", V = " << ode.getValueDim() << ", "
           << ode.getStorageType() << ", inputs " << ode.getInputNames();
      } else if (auto rec = llvm::dyn_cast<delta::RecurrenceOp>(op))
        os << "discrete form, K = " << rec.getKeyDim() << ", V = " << rec.getValueDim()
           << ", " << rec.getStorageType() << ", inputs " << rec.getInputNames();
    }
    fmt::print("{}: ok: {}\n", file.name(), summary);
    return Exit::Ok;
  }

  for (int i : chain) {
    const Stage &st = stages()[i];
    if (st.run && failed(st.run(*module, opts)))
      return internal(fmt::format("stage '{}' failed", st.name));
    if (failed(verify(*module)))
      return internal(fmt::format("stage '{}' produced invalid IR", st.name));
    if (opts.printIrAfterAll)
      fmt::print(stderr, "// ----- IR after stage '{}': {} -----\n{}\n", st.name,
                 st.description, printModule(*module));
  }

  if (opts.explainSchedule) {
    explainSchedule(*module);
    if (opts.emit.empty())
      return Exit::Ok;
  }
  std::string text;
  if (!output) {
    text = printModule(*module);
  } else if (std::string error; !emitOutput(emit, *module, file.text(), text, error)) {
    return internal(fmt::format("--emit={} failed: {}", emit, error));
  }
  if (opts.outputPath.empty() || opts.outputPath == "-") {
    fmt::print("{}", text);
    std::fflush(stdout);
    return Exit::Ok;
  }
  std::string error;
  if (!writeFileAtomically(opts.outputPath, text, error)) {
    fmt::print(stderr, "deltac: error: {}\n", error);
    return Exit::UserError;
  }
  return Exit::Ok;
}

} // namespace deltac::tool
