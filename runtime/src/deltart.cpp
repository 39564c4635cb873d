//===- deltart.cpp - the deltac runtime -----------------------------------===//
#include "deltart/deltart.h"

#include "cuda_driver.h"
#include "deltart/bundle_format.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

using namespace deltart;

namespace {

thread_local std::string lastError;
// What the last forward on this thread launched, and why
// (deltart_last_plan): recorded as pieces during the forward (no strings
// built there: the record's storage is kept between forwards), put into words
// only when asked. A piece is a text (a string literal), a number or a kernel
// (its name in the bundle's list, which the record keeps alive: the bundle
// may be closed before the plan is asked for).
struct PlanPiece {
  enum Kind : uint8_t { Text, Number, Kernel } kind;
  const char *text;
  int64_t value;
};
struct PlanRecord {
  std::vector<PlanPiece> pieces;
  std::shared_ptr<const std::vector<std::string>> names;
  std::string words;
};
thread_local PlanRecord lastPlan;

deltart_status fail(deltart_status s, std::string msg) {
  lastError = std::move(msg);
  return s;
}

uint32_t get32(const unsigned char *p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
uint64_t get64(const unsigned char *p) { return uint64_t(get32(p)) | uint64_t(get32(p + 4)) << 32; }

struct Image {
  uint32_t kind, sm;
  std::string data;
};

} // namespace

struct deltart_bundle {
  std::map<std::string, std::string> manifest;
  std::string spec;
  std::vector<Image> images;
  std::vector<std::string> inputs;
  int64_t K = 0, V = 0, block = 0, tile = 0, shared = 0;
  // Bytes per element of q, k, v, the inputs and o (the manifest's dtype).
  int64_t ioBytes = 4;
  // The variant for few (sequence, head) pairs, if the bundle has one.
  int64_t narrowTile = 0, narrowShared = 0;
  // The split schedule's two kernels, if the bundle has them: the scan's
  // value tile and shared bytes, the first kernel's, the workspace record.
  int64_t splitTile = 0, splitShared = 0, prepShared = 0, splitRecord = 0, chunk = 64;
  // The split schedule's second scan at a larger value tile, if any.
  int64_t largeTile = 0, largeShared = 0;
  // The oldest sm whose image's split scans wait for the first kernel
  // (griddepcontrol), so that they may be launched before it ends (0: none).
  int64_t gridDependencySm = 0;
  // Whether the loaded image's scans are launched so (DELTART_PDL=0: never).
  bool earlyScan = false;
  // The oldest sm whose image's larger-tile split scan lets the next kernel
  // launch as it starts (griddepcontrol.launch_dependents), so that the
  // split schedule may run in segments (0: none); whether the loaded image
  // runs so (DELTART_PDL=0: never).
  int64_t segmentsSm = 0;
  bool segmentable = false;
  // DELTART_SEGMENTS at load: the number of segments (0 or 1: none), else
  // by shape (-1).
  int64_t forcedSegments = -1;
  // Loaded lazily, for the context current at the first launch.
  CUmodule module = nullptr;
  CUfunction function = nullptr, narrowFunction = nullptr, splitFunction = nullptr, prepFunction = nullptr,
             largeFunction = nullptr;
  // The first kernel's form for the ranges of chunks that run beside a scan
  // in segments (three blocks an SM), if the bundle has one; else the first
  // kernel itself.
  CUfunction besideFunction = nullptr;
  // The kernels' entry names for the plan (deltart_last_plan), set at load:
  // those of function, narrowFunction, splitFunction, prepFunction,
  // largeFunction and besideFunction, then "?"; any character other than a
  // letter, a digit or '_' shown as '?' (the plan quotes nothing, so that it
  // goes into JSON as it is).
  std::shared_ptr<const std::vector<std::string>> planNames;
  // The kernels built for clusters of blocks (the split scans' sm_90 forms)
  // and their cluster widths, asked once at load.
  std::vector<std::pair<CUfunction, int>> clusters;
  // The kernels whose image declares blocks smaller than the manifest's
  // (the split scan's sm_90a form on warpgroups: 256 threads) and that
  // size, asked once at load.
  std::vector<std::pair<CUfunction, int>> smallBlocks;
  // The split schedule's workspace (f16, a record per token row): each
  // forward takes its own from the bundle's memory pool, on its stream, and
  // gives it back there, so that forwards on several streams may overlap;
  // the pool keeps the memory for the next. Where the driver has no memory
  // pools, one workspace kept and grown per bundle (its forwards then must
  // not overlap).
  CUmemoryPool pool = nullptr;
  CUdeviceptr work16 = 0;
  size_t work16Bytes = 0;
  // The host side of a forward (loading, the caches) one thread at a time.
  std::mutex mutex;
  int loadedSm = 0, sms = 0;
  // DELTART_SCHEDULE at load: "wide", "narrow", "split", "split_small" or
  // "split_large" forces a kernel (and scan), else by shape.
  std::string forcedSchedule;
  // DELTART_WORKSPACE=none at load: every allocation of the split schedule's
  // workspace fails, as when the device is out of memory (tests the fallback).
  bool noWorkspace = false;
  // Device cu_seqlens for fixed-length problems, one per (B, T), kept until
  // the bundle closes (a forward still running may read an older one).
  std::map<std::pair<int64_t, int64_t>, CUdeviceptr> fixedCu;
};

namespace {

deltart_status parse(const unsigned char *data, size_t size, deltart_bundle &b) {
  if (size < DELTART_BUNDLE_HEADER_SIZE + 8)
    return fail(DELTART_ERROR_FORMAT, "not a deltac bundle: " + std::to_string(size) +
                                          " bytes is shorter than a bundle header");
  if (std::memcmp(data, DELTART_BUNDLE_MAGIC, 8) != 0)
    return fail(DELTART_ERROR_FORMAT, "not a deltac bundle: bad magic");
  uint32_t version = get32(data + 8), count = get32(data + 12);
  uint64_t total = get64(data + 16);
  if (version != DELTART_BUNDLE_VERSION)
    return fail(DELTART_ERROR_VERSION, "bundle version " + std::to_string(version) +
                                           " is not supported (this runtime reads version " +
                                           std::to_string(DELTART_BUNDLE_VERSION) + ")");
  if (total != size)
    return fail(DELTART_ERROR_FORMAT, "truncated or padded bundle: the header says " +
                                          std::to_string(total) + " bytes, the data has " +
                                          std::to_string(size));
  uint64_t sum = get64(data + size - 8);
  if (deltart_fnv1a(data, size - 8) != sum)
    return fail(DELTART_ERROR_CHECKSUM, "bundle checksum mismatch: the file is corrupted");
  if (count > 1024 || DELTART_BUNDLE_HEADER_SIZE + uint64_t(count) * DELTART_BUNDLE_SECTION_SIZE > size - 8)
    return fail(DELTART_ERROR_FORMAT, "bad section table (" + std::to_string(count) + " sections)");
  bool haveManifest = false;
  for (uint32_t i = 0; i < count; ++i) {
    const unsigned char *s = data + DELTART_BUNDLE_HEADER_SIZE + i * DELTART_BUNDLE_SECTION_SIZE;
    uint32_t kind = get32(s), sm = get32(s + 4);
    uint64_t off = get64(s + 8), len = get64(s + 16);
    if (off > size - 8 || len > size - 8 - off)
      return fail(DELTART_ERROR_FORMAT, "section " + std::to_string(i) + " lies outside the bundle");
    std::string bytes(reinterpret_cast<const char *>(data + off), len);
    if (kind == DELTART_SECTION_MANIFEST) {
      haveManifest = true;
      std::istringstream in(bytes);
      for (std::string line; std::getline(in, line);) {
        size_t sp = line.find(' ');
        if (sp != std::string::npos)
          b.manifest[line.substr(0, sp)] = line.substr(sp + 1);
      }
    } else if (kind == DELTART_SECTION_SPEC) {
      b.spec = bytes;
    } else if (kind == DELTART_SECTION_PTX || kind == DELTART_SECTION_CUBIN) {
      b.images.push_back({kind, sm, bytes});
    }
  }
  if (!haveManifest)
    return fail(DELTART_ERROR_FORMAT, "the bundle has no manifest");
  for (const char *key : {"name", "entry", "key_dim", "value_dim", "inputs", "block"})
    if (!b.manifest.count(key))
      return fail(DELTART_ERROR_FORMAT, std::string("the manifest has no '") + key + "'");
  b.K = std::atoll(b.manifest["key_dim"].c_str());
  b.V = std::atoll(b.manifest["value_dim"].c_str());
  b.block = std::atoll(b.manifest["block"].c_str());
  b.tile = b.manifest.count("value_tile") ? std::atoll(b.manifest["value_tile"].c_str()) : b.block;
  b.shared = b.manifest.count("shared_bytes") ? std::atoll(b.manifest["shared_bytes"].c_str()) : 0;
  if (b.shared < 0 || b.shared > (1 << 20))
    return fail(DELTART_ERROR_FORMAT, "the manifest has a bad shared_bytes");
  const std::string dtype = b.manifest.count("dtype") ? b.manifest["dtype"] : "f32";
  if (dtype == "bf16" || dtype == "f16")
    b.ioBytes = 2;
  else if (dtype != "f32")
    return fail(DELTART_ERROR_FORMAT, "the manifest has an unknown dtype '" + dtype + "'");
  if (b.manifest.count("narrow_entry")) {
    b.narrowTile = std::atoll(b.manifest["narrow_value_tile"].c_str());
    b.narrowShared = std::atoll(b.manifest["narrow_shared_bytes"].c_str());
    if (b.narrowTile <= 0 || b.narrowShared < 0 || b.narrowShared > (1 << 20))
      return fail(DELTART_ERROR_FORMAT, "the manifest has a bad narrow variant");
  }
  if (b.manifest.count("split_entry")) {
    for (const char *key : {"split_prep_entry", "split_value_tile", "split_shared_bytes", "split_prep_shared_bytes",
                            "split_workspace_f16_per_row", "split_scan_blocks"})
      if (!b.manifest.count(key))
        return fail(DELTART_ERROR_FORMAT, std::string("the manifest has split_entry but no '") + key + "'");
    // The scan's grid: block x = pair * tiles + tile (bundles of older
    // compilers put the tile in block y, which this runtime does not launch).
    if (b.manifest["split_scan_blocks"] != "pair_tiles")
      return fail(DELTART_ERROR_FORMAT, "the manifest's split_scan_blocks is '" + b.manifest["split_scan_blocks"] +
                                            "', this runtime launches 'pair_tiles': rebuild the bundle");
    b.splitTile = std::atoll(b.manifest["split_value_tile"].c_str());
    b.splitShared = std::atoll(b.manifest["split_shared_bytes"].c_str());
    b.prepShared = std::atoll(b.manifest["split_prep_shared_bytes"].c_str());
    b.splitRecord = std::atoll(b.manifest["split_workspace_f16_per_row"].c_str());
    if (b.manifest.count("chunk_size"))
      b.chunk = std::atoll(b.manifest["chunk_size"].c_str());
    if (b.manifest.count("split_grid_dependency_sm"))
      b.gridDependencySm = std::atoll(b.manifest["split_grid_dependency_sm"].c_str());
    if (b.manifest.count("split_segments_sm"))
      b.segmentsSm = std::atoll(b.manifest["split_segments_sm"].c_str());
    if (b.splitTile <= 0 || b.V % b.splitTile || b.splitShared < 0 || b.splitShared > (1 << 20) ||
        b.prepShared < 0 || b.prepShared > (1 << 20) || b.splitRecord <= 0 || b.splitRecord % 8 || b.chunk <= 0)
      return fail(DELTART_ERROR_FORMAT, "the manifest has a bad split schedule");
    if (b.manifest.count("split_large_entry")) {
      for (const char *key : {"split_large_value_tile", "split_large_shared_bytes"})
        if (!b.manifest.count(key))
          return fail(DELTART_ERROR_FORMAT, std::string("the manifest has split_large_entry but no '") + key + "'");
      b.largeTile = std::atoll(b.manifest["split_large_value_tile"].c_str());
      b.largeShared = std::atoll(b.manifest["split_large_shared_bytes"].c_str());
      if (b.largeTile <= 0 || b.V % b.largeTile || b.largeShared < 0 || b.largeShared > (1 << 20))
        return fail(DELTART_ERROR_FORMAT, "the manifest has a bad split_large scan");
    }
  }
  if (b.K <= 0 || b.V <= 0 || b.block <= 0 || b.block > 1024 || b.tile <= 0)
    return fail(DELTART_ERROR_FORMAT, "the manifest has bad dimensions or launch sizes");
  if (b.manifest["inputs"] != "-") {
    std::istringstream in(b.manifest["inputs"]);
    for (std::string name; std::getline(in, name, ',');)
      b.inputs.push_back(name);
  }
  return DELTART_OK;
}

} // namespace

extern "C" {

const char *deltart_last_error(void) { return lastError.c_str(); }

const char *deltart_last_plan(void) {
  std::string &w = lastPlan.words;
  w.clear();
  for (const PlanPiece &p : lastPlan.pieces)
    w += p.kind == PlanPiece::Text     ? std::string(p.text)
         : p.kind == PlanPiece::Number ? std::to_string(p.value)
                                       : (*lastPlan.names)[size_t(p.value)];
  return w.c_str();
}

const char *deltart_status_string(deltart_status s) {
  switch (s) {
  case DELTART_OK: return "ok";
  case DELTART_ERROR_IO: return "I/O error";
  case DELTART_ERROR_FORMAT: return "bad bundle format";
  case DELTART_ERROR_CHECKSUM: return "bundle checksum mismatch";
  case DELTART_ERROR_VERSION: return "unsupported bundle version";
  case DELTART_ERROR_NO_DRIVER: return "no CUDA driver";
  case DELTART_ERROR_NO_DEVICE: return "no CUDA device";
  case DELTART_ERROR_NO_IMAGE: return "no kernel image for this device";
  case DELTART_ERROR_UNKNOWN_ENTRY: return "unknown entry point";
  case DELTART_ERROR_INVALID_ARGUMENT: return "invalid argument";
  case DELTART_ERROR_CUDA: return "CUDA error";
  }
  return "unknown status";
}

deltart_status deltart_bundle_open_memory(const void *data, size_t size, deltart_bundle **out) {
  if (!out)
    return fail(DELTART_ERROR_INVALID_ARGUMENT, "out is null");
  if (!data)
    return fail(DELTART_ERROR_INVALID_ARGUMENT, "data is null");
  auto *b = new (std::nothrow) deltart_bundle();
  if (!b)
    return fail(DELTART_ERROR_IO, "out of memory");
  deltart_status s = parse(static_cast<const unsigned char *>(data), size, *b);
  if (s != DELTART_OK) {
    delete b;
    return s;
  }
  *out = b;
  return DELTART_OK;
}

deltart_status deltart_bundle_open_file(const char *path, deltart_bundle **out) {
  if (!path)
    return fail(DELTART_ERROR_INVALID_ARGUMENT, "path is null");
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return fail(DELTART_ERROR_IO, std::string("cannot open '") + path + "': " + std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  deltart_status s = deltart_bundle_open_memory(bytes.data(), bytes.size(), out);
  if (s != DELTART_OK)
    lastError = std::string(path) + ": " + lastError;
  return s;
}

void deltart_bundle_close(deltart_bundle *b) {
  if (!b)
    return;
  std::string err;
  if (const Driver *d = (b->module || !b->fixedCu.empty()) ? driver(err) : nullptr) {
    for (auto &[shape, cu] : b->fixedCu)
      d->cuMemFree(cu);
    if (b->work16)
      d->cuMemFree(b->work16);
    // Returns at once; what forwards still hold is released when they end.
    if (b->pool)
      d->cuMemPoolDestroy(b->pool);
    if (b->module)
      d->cuModuleUnload(b->module);
  }
  delete b;
}

const char *deltart_bundle_manifest(const deltart_bundle *b, const char *key) {
  if (!b || !key)
    return nullptr;
  auto it = b->manifest.find(key);
  if (it != b->manifest.end())
    return it->second.c_str();
  if (std::strcmp(key, "spec") == 0)
    return b->spec.c_str();
  return nullptr;
}

deltart_status deltart_forward(deltart_bundle *b, const char *entry, const deltart_forward_args *a,
                               void *stream) {
  lastPlan.pieces.clear();
  // Validate everything against the manifest before touching the GPU.
  if (!b)
    return fail(DELTART_ERROR_INVALID_ARGUMENT, "bundle is null");
  if (!a)
    return fail(DELTART_ERROR_INVALID_ARGUMENT, "args is null");
  std::lock_guard<std::mutex> lock(b->mutex);
  const std::string &name = b->manifest["entry"];
  if (entry && name != entry)
    return fail(DELTART_ERROR_UNKNOWN_ENTRY, std::string("the bundle has no entry point '") + entry +
                                                 "' (it has '" + name + "')");
  auto bad = [](std::string m) { return fail(DELTART_ERROR_INVALID_ARGUMENT, std::move(m)); };
  if (a->K != b->K || a->V != b->V)
    return bad("K = " + std::to_string(a->K) + ", V = " + std::to_string(a->V) +
               " do not match the bundle's K = " + std::to_string(b->K) + ", V = " + std::to_string(b->V));
  if (a->B <= 0 || a->T <= 0 || a->H <= 0)
    return bad("B, T and H must be positive, got " + std::to_string(a->B) + ", " +
               std::to_string(a->T) + ", " + std::to_string(a->H));
  if (a->num_inputs != b->inputs.size())
    return bad("the kernel takes " + std::to_string(b->inputs.size()) + " per-token input(s) (" +
               b->manifest["inputs"] + "), got " + std::to_string(a->num_inputs));
  if (a->num_inputs && !a->inputs)
    return bad("inputs is null");
  struct Named {
    const char *name;
    uint64_t ptr;
  };
  std::vector<Named> ptrs = {{"q", a->q}, {"k", a->k}, {"v", a->v}, {"o", a->o}};
  for (size_t i = 0; i < a->num_inputs; ++i)
    ptrs.push_back({b->inputs[i].c_str(), a->inputs[i]});
  ptrs.push_back({"ht", a->ht});
  for (size_t i = 0; i < ptrs.size(); ++i) {
    // q, k, v and o (the first four) are read and written in 16-byte pieces,
    // the inputs per element; ht is f32.
    const Named &p = ptrs[i];
    int64_t align = i < 4 ? 16 : i + 1 == ptrs.size() ? 4 : b->ioBytes;
    if (!p.ptr)
      return bad(std::string(p.name) + " is a null pointer");
    if (p.ptr % align)
      return bad(std::string(p.name) + " is not " + std::to_string(align) + "-byte aligned");
  }
  if (a->h0 % 4)
    return bad("h0 is not 4-byte aligned");
  if (a->cu_seqlens) {
    if (a->B != 1)
      return bad("variable lengths need B = 1, got B = " + std::to_string(a->B));
    if (a->N < 1)
      return bad("N must be at least 1 with cu_seqlens, got " + std::to_string(a->N));
    if (a->cu_seqlens % 8)
      return bad("cu_seqlens is not 8-byte aligned");
  } else if (a->N != a->B) {
    return bad("without cu_seqlens, N must equal B (" + std::to_string(a->B) + "), got " +
               std::to_string(a->N));
  }
  std::string err;
  const Driver *d = driver(err);
  if (!d)
    return fail(DELTART_ERROR_NO_DRIVER, err);
  if (!ensureContext(*d, err))
    return fail(DELTART_ERROR_NO_DEVICE, err);
  // The longest sequence (the split schedule's first grid).
  int64_t longest = a->T;
  if (a->cu_seqlens) { // the offsets must be monotone and end at T
    std::vector<int64_t> cu(a->N + 1);
    if (CUresult rc = d->cuMemcpyDtoH(cu.data(), a->cu_seqlens, cu.size() * 8))
      return fail(DELTART_ERROR_CUDA, cudaError(*d, "cuMemcpyDtoH (cu_seqlens)", rc));
    if (cu[0] != 0 || cu[a->N] != a->T)
      return bad("cu_seqlens must start at 0 and end at T = " + std::to_string(a->T));
    longest = 0;
    for (int64_t i = 1; i <= a->N; ++i) {
      if (cu[i] <= cu[i - 1])
        return bad("cu_seqlens must increase strictly: entry " + std::to_string(i) + " is " +
                   std::to_string(cu[i]) + " after " + std::to_string(cu[i - 1]));
      longest = std::max(longest, cu[i] - cu[i - 1]);
    }
  }
  // The module: the cubin for this device, else the newest PTX it can JIT.
  if (!b->function) {
    CUdevice dev;
    int major = 0, minor = 0;
    if (CUresult rc = d->cuCtxGetDevice(&dev))
      return fail(DELTART_ERROR_CUDA, cudaError(*d, "cuCtxGetDevice", rc));
    d->cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
    d->cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
    int sm = major * 10 + minor;
    // PTX built for an arch-specific target (sm_90a: wgmma) runs only on
    // that very architecture.
    auto archSpecific = [](const Image &img) {
      size_t at = img.data.find(".target sm_");
      if (at == std::string::npos)
        return false;
      size_t end = img.data.find_first_not_of("0123456789", at + 11);
      return end != std::string::npos && img.data[end] == 'a';
    };
    const Image *pick = nullptr;
    // DELTART_PTX=80 (say): JIT that PTX image instead, to run one kernel
    // form on a newer GPU (testing).
    const char *forcePtx = std::getenv("DELTART_PTX");
    for (const Image &img : b->images)
      if (!forcePtx && img.kind == DELTART_SECTION_CUBIN && int(img.sm) == sm)
        pick = &img;
    if (!pick)
      for (const Image &img : b->images)
        if (img.kind == DELTART_SECTION_PTX && int(img.sm) <= sm && (!pick || img.sm > pick->sm) &&
            (int(img.sm) == sm || !archSpecific(img)) && (!forcePtx || int(img.sm) == std::atoi(forcePtx)))
          pick = &img;
    if (!pick)
      return fail(DELTART_ERROR_NO_IMAGE, "the bundle has no cubin for sm_" + std::to_string(sm) +
                                              " and no PTX for sm_" + std::to_string(sm) + " or older");
    if (CUresult rc = d->cuModuleLoadData(&b->module, pick->data.data()))
      return fail(DELTART_ERROR_CUDA, cudaError(*d, "cuModuleLoadData", rc));
    if (CUresult rc = d->cuModuleGetFunction(&b->function, b->module, name.c_str()))
      return fail(DELTART_ERROR_CUDA, cudaError(*d, "cuModuleGetFunction", rc));
    if (b->narrowTile)
      if (CUresult rc = d->cuModuleGetFunction(&b->narrowFunction, b->module, b->manifest["narrow_entry"].c_str()))
        return fail(DELTART_ERROR_CUDA, cudaError(*d, "cuModuleGetFunction", rc));
    if (b->splitTile)
      for (auto [fn, key] :
           {std::pair{&b->splitFunction, "split_entry"}, std::pair{&b->prepFunction, "split_prep_entry"},
            std::pair{&b->largeFunction, "split_large_entry"}})
        if (fn != &b->largeFunction || b->largeTile)
          if (CUresult rc = d->cuModuleGetFunction(fn, b->module, b->manifest[key].c_str()))
            return fail(DELTART_ERROR_CUDA, cudaError(*d, "cuModuleGetFunction", rc));
    b->besideFunction = b->prepFunction;
    if (b->manifest.count("split_prep_beside_entry"))
      if (CUresult rc =
              d->cuModuleGetFunction(&b->besideFunction, b->module, b->manifest["split_prep_beside_entry"].c_str()))
        return fail(DELTART_ERROR_CUDA, cudaError(*d, "cuModuleGetFunction", rc));
    {
      auto names = std::make_shared<std::vector<std::string>>();
      for (const char *key :
           {"entry", "narrow_entry", "split_entry", "split_prep_entry", "split_large_entry", "split_prep_beside_entry"})
        names->push_back(b->manifest.count(key) ? b->manifest[key] : "?");
      if (!b->manifest.count("split_prep_beside_entry"))
        (*names)[5] = (*names)[3]; // the first kernel itself beside a scan
      names->push_back("?");
      for (std::string &n : *names)
        for (char &c : n)
          if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_')
            c = '?';
      b->planNames = std::move(names);
    }
    for (auto [fn, bytes] : {std::pair{b->function, b->shared}, std::pair{b->narrowFunction, b->narrowShared},
                             std::pair{b->splitFunction, b->splitShared}, std::pair{b->prepFunction, b->prepShared},
                             std::pair{b->largeFunction, b->largeShared}, std::pair{b->besideFunction, b->prepShared}})
      // Asked for at every size: the 48 KiB a kernel gets without asking
      // count its static shared memory too (the PTX's one byte of it made a
      // kernel of exactly 49152 dynamic bytes fail to launch).
      if (fn && bytes > 0)
        if (CUresult rc = d->cuFuncSetAttribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, int(bytes)))
          return fail(DELTART_ERROR_CUDA, cudaError(*d, "cuFuncSetAttribute", rc) + " asking for " +
                                              std::to_string(bytes) + " bytes of shared memory");
    for (CUfunction fn : {b->function, b->narrowFunction, b->splitFunction, b->prepFunction, b->largeFunction}) {
      int width = 0;
      if (fn && d->cuFuncGetAttribute)
        d->cuFuncGetAttribute(&width, CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH, fn);
      if (width > 1)
        b->clusters.emplace_back(fn, width);
      int threads = 0;
      if (fn && d->cuFuncGetAttribute)
        d->cuFuncGetAttribute(&threads, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, fn);
      if (threads > 0 && threads < b->block)
        b->smallBlocks.emplace_back(fn, threads);
    }
    d->cuDeviceGetAttribute(&b->sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev);
    // The split schedule's memory pool on this device, keeping what it has
    // between forwards (no release threshold). DELTART_WORKSPACE=shared
    // takes the path of drivers without pools: one workspace per bundle;
    // DELTART_WORKSPACE=none, no pool (nothing is ever allocated from it).
    int pools = 0;
    d->cuDeviceGetAttribute(&pools, CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED, dev);
    const char *workspace = std::getenv("DELTART_WORKSPACE");
    const bool sharedWorkspace = workspace && std::string(workspace) == "shared";
    b->noWorkspace = workspace && std::string(workspace) == "none";
    if (b->splitTile && pools && !sharedWorkspace && !b->noWorkspace && d->cuMemPoolCreate && d->cuMemPoolDestroy &&
        d->cuMemPoolSetAttribute && d->cuMemAllocFromPoolAsync && d->cuMemFreeAsync) {
      CUmemPoolProps props{};
      props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
      props.locationType = CU_MEM_LOCATION_TYPE_DEVICE;
      props.locationId = dev;
      uint64_t keep = UINT64_MAX;
      if (d->cuMemPoolCreate(&b->pool, &props))
        b->pool = nullptr;
      else if (d->cuMemPoolSetAttribute(b->pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &keep))
        d->cuMemPoolDestroy(b->pool), b->pool = nullptr;
    }
    if (const char *force = std::getenv("DELTART_SCHEDULE"))
      b->forcedSchedule = force;
    const char *pdl = std::getenv("DELTART_PDL");
    const bool pdlOn = d->cuLaunchKernelEx && !(pdl && std::string(pdl) == "0");
    b->earlyScan = pdlOn && b->gridDependencySm > 0 && int(pick->sm) >= b->gridDependencySm;
    b->segmentable = pdlOn && b->largeTile && b->segmentsSm > 0 && int(pick->sm) >= b->segmentsSm;
    if (const char *segs = std::getenv("DELTART_SEGMENTS"))
      b->forcedSegments = std::max<int64_t>(0, std::atoll(segs));
    b->loadedSm = sm;
  }
  CUdeviceptr cu = a->cu_seqlens;
  if (!cu) {
    CUdeviceptr &fixed = b->fixedCu[{a->B, a->T}];
    if (!fixed) {
      std::vector<int64_t> host(a->B + 1);
      for (int64_t i = 0; i <= a->B; ++i)
        host[i] = i * a->T;
      CUdeviceptr p = 0;
      if (CUresult rc = d->cuMemAlloc(&p, host.size() * 8)) {
        b->fixedCu.erase({a->B, a->T});
        return fail(DELTART_ERROR_CUDA, cudaError(*d, "cuMemAlloc", rc));
      }
      if (CUresult rc = d->cuMemcpyHtoD(p, host.data(), host.size() * 8)) {
        d->cuMemFree(p);
        b->fixedCu.erase({a->B, a->T});
        return fail(DELTART_ERROR_CUDA, cudaError(*d, "cuMemcpyHtoD", rc));
      }
      fixed = p;
    }
    cu = fixed;
  }
  // Parameters: each buffer as a memref descriptor (ptr, ptr, 0, size, 1).
  const int64_t rows = a->B * a->T * a->H, N = a->N;
  std::vector<uint64_t> vals;
  auto buffer = [&](uint64_t p, int64_t n) {
    vals.insert(vals.end(), {p, p, 0, uint64_t(n), 1});
  };
  buffer(a->q, rows * b->K);
  buffer(a->k, rows * b->K);
  buffer(a->v, rows * b->V);
  for (size_t i = 0; i < a->num_inputs; ++i)
    buffer(a->inputs[i], rows);
  buffer(a->h0 ? a->h0 : a->ht, N * a->H * b->K * b->V);
  buffer(a->o, rows * b->V);
  buffer(a->ht, N * a->H * b->K * b->V);
  buffer(cu, N + 1);
  vals.push_back(uint64_t(a->H));
  vals.push_back(a->h0 ? 1 : 0);
  std::vector<void *> params;
  for (uint64_t &v : vals)
    params.push_back(&v);
  // The schedule: the split one (or else the narrow variant) when the wide
  // kernel would leave more than half of the SMs idle; the split one also
  // when the wide kernel repeats the state-independent work of a chunk in
  // eight value tiles or more (K = V = 256: tiles of 32; measured at H16,
  // 32 to 128 pairs: split 2.9-4.0 ms against wide 4.6-4.8)
  // (DELTART_SCHEDULE=wide|narrow|split, read when the kernels are loaded,
  // forces one). Where the split schedule's workspace cannot be allocated
  // and it was not forced, the wide kernel runs instead.
  //
  // Few pairs is counted in blocks of at most 64 columns (the thresholds
  // were measured there). Beside a wide kernel at 128 columns (one block per
  // pair at V = 128) the narrow variant (64) runs where its blocks need no
  // more waves, one block per SM: it takes a chunk in about two thirds of
  // the wide kernel's time (measured at H16 K = V = 128 T4096: 64 pairs,
  // one wave either way, 0.33 ms at 64 columns against 0.48 at 128; 128
  // pairs, two waves against one, 0.65 against 0.44-0.49 ms).
  auto blocks = [&](int64_t tile) { return N * a->H * ((b->V + tile - 1) / tile); };
  auto waves = [&](int64_t tile) { return (blocks(tile) + b->sms - 1) / b->sms; };
  const int64_t wideTiles = (b->V + b->tile - 1) / b->tile;
  const bool few = blocks(std::min<int64_t>(b->tile, 64)) <= b->sms / 2;
  const bool repeated = wideTiles >= 8;
  const bool narrowFits = b->narrowFunction && waves(b->narrowTile) <= waves(b->tile);
  std::string schedule = few ? (b->splitFunction ? "split" : b->narrowFunction ? "narrow" : "wide")
                             : (b->splitFunction && repeated ? "split" : narrowFits ? "narrow" : "wide");
  const std::string &forced = b->forcedSchedule;
  const bool forcedSplit =
      b->splitFunction && (forced == "split" || forced == "split_small" || forced == "split_large");
  // The plan's pieces (deltart_last_plan): texts are string literals.
  auto say = [](const char *text) { lastPlan.pieces.push_back({PlanPiece::Text, text, 0}); };
  auto num = [](int64_t x) { lastPlan.pieces.push_back({PlanPiece::Number, nullptr, x}); };
  const bool forcedTiled = forced == "wide" || (forced == "narrow" && b->narrowFunction);
  if (forcedTiled)
    schedule = forced;
  else if (forcedSplit)
    schedule = "split";
  lastPlan.names = b->planNames;
  say(schedule == "split" ? "schedule split (" : schedule == "narrow" ? "schedule narrow (" : "schedule wide (");
  if (forcedTiled || forcedSplit) {
    say("DELTART_SCHEDULE");
  } else if (few) {
    say("few pairs: "), num(blocks(std::min<int64_t>(b->tile, 64)));
    say(" blocks of at most 64 columns, at most half of the "), num(b->sms), say(" SMs");
  } else if (schedule == "split") {
    say("the wide kernel would repeat the key-side work in "), num(wideTiles), say(" value tiles");
  } else if (schedule == "narrow") {
    say("its blocks need no more waves than the wide kernel's ("), num(waves(b->narrowTile)), say(")");
  } else {
    say("not few pairs: "), num(blocks(std::min<int64_t>(b->tile, 64)));
    say(" blocks of at most 64 columns for "), num(b->sms), say(" SMs");
    if (b->narrowFunction) {
      say(", the narrow kernel's "), num(waves(b->narrowTile));
      say(" waves against the wide kernel's "), num(waves(b->tile));
    }
  }
  say(")");
  auto launch = [&](CUfunction fn, unsigned gridX, unsigned gridY, int64_t shared,
                    bool early = false) -> deltart_status {
    // A kernel built for clusters of blocks (the split scan's sm_90 form)
    // is launched with its cluster's dimensions given; `early`, with
    // programmatic stream serialization: it may start once the kernel
    // before has let it (every block of that one has started). The split
    // scan after the first kernel waits for that kernel's end before it
    // reads the workspace; a range's first kernel after the scan of the
    // range before reads nothing that scan writes.
    int cluster = 0;
    for (auto [f, width] : b->clusters)
      if (f == fn)
        cluster = width;
    unsigned threads = unsigned(b->block);
    for (auto [f, n] : b->smallBlocks)
      if (f == fn)
        threads = unsigned(n);
    if (cluster > 1 || early) {
      if (!d->cuLaunchKernelEx)
        return fail(DELTART_ERROR_CUDA,
                    "the driver cannot launch a kernel in clusters of blocks (no cuLaunchKernelEx)");
      CUlaunchAttribute attrs[2] = {};
      unsigned n = 0;
      if (cluster > 1) {
        attrs[n].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
        attrs[n++].value.clusterDim = {unsigned(cluster), 1, 1};
      }
      if (early) {
        attrs[n].id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
        attrs[n++].value.programmaticStreamSerializationAllowed = 1;
      }
      CUlaunchConfig cfg = {gridX, gridY, 1, threads, 1, 1, unsigned(shared), static_cast<CUstream>(stream), attrs, n};
      if (CUresult rc = d->cuLaunchKernelEx(&cfg, fn, params.data(), nullptr))
        return fail(DELTART_ERROR_CUDA, cudaError(*d, "cuLaunchKernelEx", rc));
    } else if (CUresult rc = d->cuLaunchKernel(fn, gridX, gridY, 1, threads, 1, 1, unsigned(shared),
                                               static_cast<CUstream>(stream), params.data(), nullptr)) {
      return fail(DELTART_ERROR_CUDA, cudaError(*d, "cuLaunchKernel", rc));
    }
    // (the kernel: its place in planNames)
    const CUfunction kernels[] = {b->function,     b->narrowFunction, b->splitFunction,
                                  b->prepFunction, b->largeFunction,  b->besideFunction};
    say("; ");
    lastPlan.pieces.push_back({PlanPiece::Kernel, nullptr, int64_t(std::find(kernels, kernels + 6, fn) - kernels)});
    say(" grid "), num(gridX), say(" x "), num(gridY);
    if (cluster > 1)
      say(" in clusters of "), num(cluster);
    if (early)
      say(" (programmatic stream serialization)");
    return DELTART_OK;
  };
  auto launchTiled = [&](bool narrow) {
    int64_t tile = narrow ? b->narrowTile : b->tile;
    return launch(narrow ? b->narrowFunction : b->function, unsigned(N * a->H), unsigned((b->V + tile - 1) / tile),
                  narrow ? b->narrowShared : b->shared);
  };
  if (schedule != "split")
    return launchTiled(schedule == "narrow");
  // The split schedule: the workspace (one f16 record per token row), the
  // first kernel over every chunk, the scan (block x = pair * tiles + tile),
  // then the workspace given back to the pool, all in stream order.
  const size_t workBytes = size_t(rows) * b->splitRecord * 2;
  CUstream st = static_cast<CUstream>(stream);
  CUdeviceptr work = 0;
  // The workspace back to the pool (in stream order) once the forward's
  // kernels are launched.
  auto release = [&](deltart_status s) {
    if (b->pool)
      d->cuMemFreeAsync(work, st);
    return s;
  };
  CUresult rc = 0;
  if (b->noWorkspace) {
    rc = CUDA_ERROR_OUT_OF_MEMORY;
  } else if (b->pool) {
    rc = d->cuMemAllocFromPoolAsync(&work, workBytes, b->pool, st);
  } else if (b->work16Bytes < workBytes) {
    if (b->work16)
      d->cuMemFree(b->work16);
    b->work16 = 0, b->work16Bytes = 0;
    if (!(rc = d->cuMemAlloc(&b->work16, workBytes)))
      b->work16Bytes = workBytes;
  }
  if (rc) {
    if (!forcedSplit) {
      say(b->narrowFunction && (few || narrowFits) ? "; no workspace to be had: the narrow kernel instead"
                                                   : "; no workspace to be had: the wide kernel instead");
      return launchTiled(b->narrowFunction && (few || narrowFits));
    }
    return fail(DELTART_ERROR_CUDA, cudaError(*d, b->pool ? "cuMemAllocFromPoolAsync" : "cuMemAlloc", rc) +
                                        " (the split schedule's workspace, " + std::to_string(workBytes) + " bytes)");
  }
  if (!b->pool)
    work = b->work16;
  const int64_t chunks = (longest + b->chunk - 1) / b->chunk;
  // The workspace, then the chunk range a launch covers.
  std::vector<uint64_t> more = {work, work, 0, uint64_t(rows * b->splitRecord), 1, 0, uint64_t(chunks)};
  for (uint64_t &v : more)
    params.push_back(&v);
  // The scan of the two kernels (and of the last range in segments): at
  // the larger tile where its blocks need fewer waves, one block per SM, by
  // a third (measured, EFLA H16: K = V = 256 at 16 pairs tile 32 2.49 ms
  // against 64 3.29; 32 pairs 2.48 / 2.24; 48 pairs 1.88 / 1.97; 64 and 128
  // pairs 2.50 / 2.25; K = V = 128 at 16 pairs tile 16 1.30 against 32 1.43,
  // 32 pairs 1.30 / 1.00). DELTART_SCHEDULE=split_small or split_large
  // forces one.
  bool large = b->largeFunction && 3 * waves(b->largeTile) < 2 * waves(b->splitTile);
  if (forced == "split_small" || (forced == "split_large" && b->largeFunction))
    large = forced == "split_large";
  say("; scan at value tile "), num(large ? b->largeTile : b->splitTile);
  if (forced == "split_small" || forced == "split_large") {
    say(" (DELTART_SCHEDULE)");
  } else if (b->largeFunction) {
    say(" (waves: "), num(waves(b->largeTile)), say(" at "), num(b->largeTile), say(", ");
    num(waves(b->splitTile)), say(" at "), num(b->splitTile), say(")");
  }
  auto scan = [&](bool useLarge, bool early) {
    return useLarge ? launch(b->largeFunction, unsigned(N * a->H * (b->V / b->largeTile)), 1, b->largeShared, early)
                    : launch(b->splitFunction, unsigned(N * a->H * (b->V / b->splitTile)), 1, b->splitShared, early);
  };
  // In segments: where the larger-tile scan's blocks take at most half of
  // the SMs (one block an SM), the chunks are cut into consecutive ranges,
  // and each range's first kernel after the first runs beside the scan of
  // the range before, on the SMs that scan leaves, instead of the whole
  // first kernel before the whole scan. All in the caller's stream:
  //   first kernel (range 0), scan (range 0),
  //   first kernel (range 1): launched once the scan's blocks have all
  //     started (programmatic stream serialization: the scan lets it launch
  //     as it starts; it reads nothing the scan writes),
  //   scan (range 1): launched as usual, after all of the above (the state
  //     from ht, where the scan before left it), ...
  // From 512 chunks on, a range per 128 chunks, at most 8. (Measured at
  // B1 T32768 H16, 512 chunks, against the two kernels with the smaller
  // scan: D128 EFLA 0.892-0.901 -> 0.871-0.875 ms in 4 even ranges
  // (0.873-0.882 in 6), DeltaNet 0.881-0.884 -> 0.872-0.874, RK4
  // 0.888-0.900 -> 0.873-0.878, gated DeltaNet 1.005-1.009 -> 0.999-1.002;
  // D64 0.783-0.792 -> 0.776 (0.770-0.776 in 8); D256 2.17-2.19 -> 2.08-2.09
  // (2.06-2.08 in 8). At 256 chunks, T16384: D128 0.453-0.459 ->
  // 0.466-0.469 in 4 ranges, 0.482-0.483 in 2; D256 -2% in 4, +2% in 2: so
  // not below 512.)
  //
  // The ranges grow by a quarter each (range i ~ 1.25^i): the first range's
  // first kernel runs alone, before any scan, so it is the smallest; a
  // range's first kernel beside the scan of the range before runs on the
  // SMs that scan leaves, in about 0.8-0.85 of that scan's time a chunk, so
  // the next range may be that much longer and still be ready when the
  // scan ends; and the last range, with nothing beside its scan, is the
  // longest and is scanned by the scan the two kernels would take (at
  // B1 T32768 H16 D128 the smaller tile, its blocks on all SMs; the two
  // scans give the same bits). Measured (3 rounds alternating) against 4
  // even ranges all scanned at the larger tile, B1 T32768 H16: D128 EFLA
  // 0.846-0.848 -> 0.797-0.809 ms, DeltaNet 0.856-0.863 -> 0.782-0.792, RK4
  // 0.849-0.859 -> 0.797-0.800, gated DeltaNet 0.964-0.982 -> 0.859-0.867;
  // D64 EFLA 0.773-0.781 -> 0.737-0.743; D256 EFLA 2.072-2.076 ->
  // 1.918-1.928; B1 T65536 (8 ranges) EFLA 1.594-1.614 -> 1.546-1.550, gated
  // DeltaNet 1.811-1.821 -> 1.651-1.656. (Tried at B1 T32768 D128: even
  // ranges with the last one's scan at the smaller tile, EFLA 0.806-0.815,
  // gated DeltaNet 0.904-0.915; growth by 1.15 / 1.2 / 1.3, EFLA 0.784-0.793
  // / 0.789-0.791 / 0.797-0.798, DeltaNet 0.792-0.795 / 0.790-0.796 /
  // 0.778-0.779, gated 0.878-0.883 / 0.864-0.875 / 0.854-0.858; 3 or 5
  // ranges by 1.2, EFLA 0.793-0.795 / 0.791-0.801.)
  // DELTART_SEGMENTS=n forces n ranges (0 or 1: none).
  int64_t segments = 1;
  if (b->segmentable && forced != "split_small") {
    const bool fits = blocks(b->largeTile) <= b->sms / 2;
    segments = b->forcedSegments >= 0  ? b->forcedSegments
               : fits && chunks >= 512 ? std::min<int64_t>(8, chunks / 128)
                                       : 1;
    segments = std::min(segments, chunks);
  }
  if (segments >= 2) {
    uint64_t *range = &more[5];
    // h0 and use_h0 (the scans after the first take the state from ht).
    uint64_t *h0 = &vals[5 * (3 + a->num_inputs)], *ht = h0 + 10, *useH0 = &vals.back();
    // Where range i ends: chunks * (1 + 1.25 + ... + 1.25^i) / (the whole
    // sum), each range at least one chunk.
    std::vector<double> upTo(static_cast<size_t>(segments));
    double sum = 0, weight = 1;
    for (int64_t i = 0; i < segments; ++i, weight *= 1.25)
      upTo[i] = sum += weight;
    std::vector<int64_t> ends(static_cast<size_t>(segments));
    for (int64_t i = 0; i < segments; ++i) {
      const int64_t end = std::max<int64_t>(std::llround(double(chunks) * upTo[i] / sum), (i ? ends[i - 1] : 0) + 1);
      ends[i] = std::min(end, chunks - (segments - 1 - i));
    }
    say("; in "), num(segments),
        say(b->forcedSegments >= 0 ? " segments (DELTART_SEGMENTS), chunks" : " segments, chunks");
    for (int64_t i = 0; i < segments; ++i)
      say(i ? ", " : " "), num(i ? ends[i - 1] : 0), say("-"), num(ends[i]);
    say(" of "), num(chunks), say(", the last range's scan at value tile "), num(large ? b->largeTile : b->splitTile);
    say(", the others at "), num(b->largeTile);
    deltart_status s = DELTART_OK;
    for (int64_t seg = 0; seg < segments && s == DELTART_OK; ++seg) {
      range[0] = uint64_t(seg ? ends[seg - 1] : 0), range[1] = uint64_t(ends[seg]);
      // (the ranges after the first beside the scan of the range before: the
      // first kernel's form for three blocks an SM, where the bundle has it)
      s = launch(seg > 0 ? b->besideFunction : b->prepFunction, unsigned(N * a->H), unsigned(range[1] - range[0]),
                 b->prepShared, seg > 0);
      if (seg == 1) {
        std::copy(ht, ht + 5, h0);
        *useH0 = 1;
      }
      // (the last range's scan, with nothing beside it, the two kernels' one)
      if (s == DELTART_OK)
        s = scan(seg + 1 < segments || large, seg == 0 && b->earlyScan);
    }
    return release(s);
  }
  deltart_status s = launch(b->prepFunction, unsigned(N * a->H), unsigned(chunks), b->prepShared);
  if (s == DELTART_OK)
    s = scan(large, b->earlyScan);
  return release(s);
}

namespace {
/// The driver with a current context, or a status (and message) why not.
deltart_status ready(const Driver *&d) {
  std::string err;
  d = driver(err);
  if (!d)
    return fail(DELTART_ERROR_NO_DRIVER, err);
  if (!ensureContext(*d, err))
    return fail(DELTART_ERROR_NO_DEVICE, err);
  return DELTART_OK;
}
} // namespace

deltart_status deltart_device_alloc(uint64_t *ptr, size_t bytes) {
  if (!ptr)
    return fail(DELTART_ERROR_INVALID_ARGUMENT, "ptr is null");
  const Driver *d;
  if (deltart_status s = ready(d))
    return s;
  CUdeviceptr p = 0;
  if (CUresult rc = d->cuMemAlloc(&p, bytes ? bytes : 1))
    return fail(DELTART_ERROR_CUDA, cudaError(*d, "cuMemAlloc", rc) + " (" + std::to_string(bytes) + " bytes)");
  *ptr = p;
  return DELTART_OK;
}

deltart_status deltart_device_free(uint64_t ptr) {
  if (!ptr)
    return DELTART_OK;
  const Driver *d;
  if (deltart_status s = ready(d))
    return s;
  if (CUresult rc = d->cuMemFree(ptr))
    return fail(DELTART_ERROR_CUDA, cudaError(*d, "cuMemFree", rc));
  return DELTART_OK;
}

deltart_status deltart_copy_to_device(uint64_t dst, const void *src, size_t bytes) {
  if (!dst || (!src && bytes))
    return fail(DELTART_ERROR_INVALID_ARGUMENT, "null pointer in a copy to the device");
  const Driver *d;
  if (deltart_status s = ready(d))
    return s;
  if (CUresult rc = d->cuMemcpyHtoD(dst, src, bytes))
    return fail(DELTART_ERROR_CUDA, cudaError(*d, "cuMemcpyHtoD", rc));
  return DELTART_OK;
}

deltart_status deltart_copy_to_host(void *dst, uint64_t src, size_t bytes) {
  if (!src || (!dst && bytes))
    return fail(DELTART_ERROR_INVALID_ARGUMENT, "null pointer in a copy to the host");
  const Driver *d;
  if (deltart_status s = ready(d))
    return s;
  if (CUresult rc = d->cuMemcpyDtoH(dst, src, bytes))
    return fail(DELTART_ERROR_CUDA, cudaError(*d, "cuMemcpyDtoH", rc));
  return DELTART_OK;
}

deltart_status deltart_synchronize(void) {
  const Driver *d;
  if (deltart_status s = ready(d))
    return s;
  if (CUresult rc = d->cuCtxSynchronize())
    return fail(DELTART_ERROR_CUDA, cudaError(*d, "cuCtxSynchronize", rc));
  return DELTART_OK;
}

} // extern "C"
