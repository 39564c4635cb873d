//===- Bundle.cpp - kernel bundles for the runtime ------------------------===//
#include "deltac/Target/Bundle.h"

#include "deltart/bundle_format.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

#include <fmt/core.h>

using namespace mlir;

namespace deltac {
namespace {

void put32(std::string &s, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put64(std::string &s, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

} // namespace

GpuKernels findGpuKernels(ModuleOp module) {
  GpuKernels k;
  module.walk([&](gpu::GPUFuncOp fn) {
    if (!fn->hasAttr("delta.kernel") || fn->hasAttr("delta.twin_of"))
      return;
    auto variant = fn->getAttrOfType<StringAttr>("delta.variant");
    llvm::StringRef v = variant ? variant.getValue() : "";
    (v == "narrow"              ? k.narrow
     : v == "split"             ? k.split
     : v == "split_prep"        ? k.splitPrep
     : v == "split_prep_beside" ? k.splitPrepBeside
     : v == "split_large"       ? k.splitLarge
                                : k.wide) = fn;
  });
  return k;
}

std::string ioTypeName(gpu::GPUFuncOp kernel) {
  auto io = kernel->getAttrOfType<TypeAttr>("delta.io_type");
  if (!io)
    return "f32";
  return io.getValue().isBF16() ? "bf16" : io.getValue().isF16() ? "f16" : "f32";
}

/// The most of integer attribute `name` over `kernel` and its sm_90a twin
/// (every form an image may hold): the dynamic shared memory it needs, the
/// workspace record its image reads.
static int64_t mostOfForms(ModuleOp module, gpu::GPUFuncOp kernel, llvm::StringRef name) {
  auto value = [&](Operation *fn) {
    auto a = fn->getAttrOfType<IntegerAttr>(name);
    return a ? a.getInt() : 0;
  };
  int64_t n = value(kernel);
  module.walk([&](gpu::GPUFuncOp fn) {
    if (auto of = fn->getAttrOfType<StringAttr>("delta.twin_of"); of && of.getValue() == kernel.getName())
      n = std::max(n, value(fn));
  });
  return n;
}
static int64_t sharedBytes(ModuleOp module, gpu::GPUFuncOp kernel) {
  return mostOfForms(module, kernel, "delta.shared_bytes");
}

/// Whether `kernel` and its twins (every form an image may hold) hold
/// griddepcontrol of `kind`: wait (on the grid before them) or
/// launch_dependents (letting the grid after them launch).
static bool gridControl(ModuleOp module, gpu::GPUFuncOp kernel, NVVM::GridDepActionKind kind) {
  auto holds = [&](gpu::GPUFuncOp fn) {
    bool found = false;
    fn.walk([&](NVVM::GriddepcontrolOp op) { found |= op.getKind() == kind; });
    return found;
  };
  bool all = holds(kernel);
  module.walk([&](gpu::GPUFuncOp fn) {
    if (auto of = fn->getAttrOfType<StringAttr>("delta.twin_of"); of && of.getValue() == kernel.getName())
      all &= holds(fn);
  });
  return all;
}

bool writeBundle(ModuleOp module, const std::vector<GpuImage> &images, const std::string &specText,
                 std::string &out, std::string &error) {
  GpuKernels found = findGpuKernels(module);
  gpu::GPUFuncOp kernel = found.wide, narrow = found.narrow;
  if (!kernel) {
    error = "the module holds no GPU kernel";
    return false;
  }
  auto i64 = [&](llvm::StringRef name) {
    return llvm::cast<IntegerAttr>(kernel->getAttr(name)).getInt();
  };
  std::string inputs;
  for (Attribute a : llvm::cast<ArrayAttr>(kernel->getAttr("delta.input_names")))
    inputs += (inputs.empty() ? "" : ",") + llvm::cast<StringAttr>(a).getValue().str();
  // The manifest: everything the runtime needs to validate and launch.
  std::string m;
  m += fmt::format("name {}\n", kernel.getName().str());
  m += fmt::format("entry {}\n", kernel.getName().str());
  m += fmt::format("kernel {}\n", llvm::cast<StringAttr>(kernel->getAttr("delta.kernel")).getValue().str());
  m += fmt::format("spec_hash {:016x}\n", deltart_fnv1a(specText.data(), specText.size()));
  m += fmt::format("key_dim {}\nvalue_dim {}\n", i64("delta.key_dim"), i64("delta.value_dim"));
  m += fmt::format("inputs {}\n", inputs.empty() ? "-" : inputs);
  m += fmt::format("scale {}\n", llvm::cast<FloatAttr>(kernel->getAttr("delta.scale")).getValueAsDouble());
  std::string dtype = ioTypeName(kernel);
  m += fmt::format("dtype {}\n", dtype);
  m += fmt::format("block {} 1 1\n", i64("delta.block_size"));
  m += fmt::format("value_tile {}\n", i64("delta.value_tile"));
  m += "grid x = N * H (pairs), y = ceil(value_dim / value_tile)\n";
  auto opt = [&](llvm::StringRef name) {
    auto a = kernel->getAttrOfType<IntegerAttr>(name);
    return a ? a.getInt() : 0;
  };
  m += fmt::format("shared_bytes {}\n", sharedBytes(module, kernel));
  m += fmt::format("chunk_size {}\n", opt("delta.chunk_size"));
  if (narrow) {
    // The variant for few (sequence, head) pairs: same parameters, a
    // narrower value tile, so that more blocks share the work.
    auto n64 = [&](llvm::StringRef name) { return llvm::cast<IntegerAttr>(narrow->getAttr(name)).getInt(); };
    m += fmt::format("narrow_entry {}\n", narrow.getName().str());
    m += fmt::format("narrow_value_tile {}\n", n64("delta.value_tile"));
    m += fmt::format("narrow_shared_bytes {}\n", sharedBytes(module, narrow));
    m += "schedule narrow when N * H * ceil(value_dim / min(value_tile, 64)) <= SMs / 2, or when it needs no more waves "
         "of blocks (one per SM) than the wide kernel\n";
  }
  if (found.split && found.splitPrep) {
    // The split schedule: the first kernel over every chunk, then the scan;
    // both take the workspace (one record per token row) after use_h0.
    auto s64 = [&](gpu::GPUFuncOp fn, llvm::StringRef name) {
      return llvm::cast<IntegerAttr>(fn->getAttr(name)).getInt();
    };
    m += fmt::format("split_prep_entry {}\n", found.splitPrep.getName().str());
    m += fmt::format("split_prep_shared_bytes {}\n", sharedBytes(module, found.splitPrep));
    m += fmt::format("split_entry {}\n", found.split.getName().str());
    m += fmt::format("split_value_tile {}\n", s64(found.split, "delta.value_tile"));
    m += fmt::format("split_shared_bytes {}\n", sharedBytes(module, found.split));
    // (the images' layouts may differ: the larger record)
    int64_t record = 0;
    for (gpu::GPUFuncOp fn : {found.splitPrep, found.split})
      record = std::max(record, mostOfForms(module, fn, "delta.workspace_f16_per_row"));
    m += fmt::format("split_workspace_f16_per_row {}\n", record);
    m += "split_schedule when N * H * ceil(value_dim / min(value_tile, 64)) <= SMs / 2, or ceil(value_dim / value_tile) "
         ">= 8\n";
    m += "split_grid prep x = N * H, y = ceil(longest sequence / chunk_size); scan x = N * H * value_dim / "
         "split_value_tile\n";
    m += "split_scan_blocks pair_tiles\n"; // scan block x = pair * (value_dim / split_value_tile) + tile
    // Where every scan waits for the first kernel (griddepcontrol.wait,
    // kept in the images for kGridDependencySm on) before it reads the
    // workspace, the runtime may launch it with programmatic stream
    // serialization there.
    const auto wait = NVVM::GridDepActionKind::wait;
    if (gridControl(module, found.split, wait) && (!found.splitLarge || gridControl(module, found.splitLarge, wait)))
      m += fmt::format("split_grid_dependency_sm {}\n", kGridDependencySm);
    // Where the larger-tile scan lets the next kernel launch as it starts,
    // the runtime may run the schedule in segments there (the next range's
    // first kernel beside the scan).
    if (found.splitLarge && gridControl(module, found.splitLarge, NVVM::GridDepActionKind::launch_dependents)) {
      m += fmt::format("split_segments_sm {}\n", kGridDependencySm);
      // The first kernel's form for the ranges that run beside a scan.
      if (found.splitPrepBeside)
        m += fmt::format("split_prep_beside_entry {}\n", found.splitPrepBeside.getName().str());
    }
    if (found.splitLarge) {
      // A second scan at a larger tile, on the same workspace: taken where
      // its blocks need fewer waves.
      m += fmt::format("split_large_entry {}\n", found.splitLarge.getName().str());
      m += fmt::format("split_large_value_tile {}\n", s64(found.splitLarge, "delta.value_tile"));
      m += fmt::format("split_large_shared_bytes {}\n", sharedBytes(module, found.splitLarge));
      m += "split_large when 3 * waves(large) < 2 * waves(split), waves(tile) = ceil(N * H * value_dim / tile / "
           "SMs)\n";
    }
    m += "split_params the params below, then work_f16 : f16 buffer (rows * split_workspace_f16_per_row), "
         "chunk_begin chunk_end : i64 (the chunks of every sequence a launch covers)\n";
  }
  m += fmt::format("params q k v inputs o : {} buffers; h0 ht : f32 buffers; cu_seqlens : i64 buffer; "
                   "nheads use_h0 : i64; each buffer is (ptr, ptr, i64 0, i64 size, i64 1)\n",
                   dtype);
  struct Section {
    uint32_t kind, sm;
    std::string data;
  };
  std::vector<Section> sections = {{DELTART_SECTION_MANIFEST, 0, m}, {DELTART_SECTION_SPEC, 0, specText}};
  for (const GpuImage &img : images) {
    sections.push_back({DELTART_SECTION_PTX, static_cast<uint32_t>(img.sm), img.ptx + '\0'});
    if (!img.cubin.empty())
      sections.push_back({DELTART_SECTION_CUBIN, static_cast<uint32_t>(img.sm), img.cubin});
  }
  uint64_t offset = DELTART_BUNDLE_HEADER_SIZE + DELTART_BUNDLE_SECTION_SIZE * sections.size();
  uint64_t total = offset + 8;
  for (const Section &s : sections)
    total += s.data.size();
  out.clear();
  out.append(DELTART_BUNDLE_MAGIC, 7);
  out.push_back('\0');
  put32(out, DELTART_BUNDLE_VERSION);
  put32(out, static_cast<uint32_t>(sections.size()));
  put64(out, total);
  for (const Section &s : sections) {
    put32(out, s.kind);
    put32(out, s.sm);
    put64(out, offset);
    put64(out, s.data.size());
    offset += s.data.size();
  }
  for (const Section &s : sections)
    out += s.data;
  put64(out, deltart_fnv1a(out.data(), out.size()));
  return true;
}

} // namespace deltac
