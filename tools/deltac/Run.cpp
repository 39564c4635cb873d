//===- Run.cpp - deltac run -----------------------------------------------===//
#include "Run.h"
#include "RunCuda.h"

#include "deltac/Driver/Driver.h"
#include "deltart/npy.h"
#include "deltac/Reference/Reference.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"

#include <fmt/core.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <random>
#include <thread>

namespace deltac::tool {
namespace {

int userError(const std::string &msg) {
  fmt::print(stderr, "deltac run: error: {}\n", msg);
  return 1;
}

bool parseShape(const std::string &s, int64_t &B, int64_t &T, int64_t &H) {
  long long b, t, h;
  char tail;
  if (std::sscanf(s.c_str(), "%lld,%lld,%lld%c", &b, &t, &h, &tail) != 3)
    return false;
  if (b <= 0 || t <= 0 || h <= 0 || b * t * h > (1ll << 28))
    return false;
  B = b, T = t, H = h;
  return true;
}

/// Loads --inputs DIR into `p`; returns an error message or "".
std::string loadInputs(const std::string &dir, const frontend::CheckedSpec &spec,
                       driver::Problem &p) {
  auto path = [&](const std::string &n) { return dir + "/" + n + ".npy"; };
  npy::Array q, k, v;
  std::string err;
  if (!npy::read(path("q"), q, err) || !npy::read(path("k"), k, err) || !npy::read(path("v"), v, err))
    return err;
  auto isFloat = [](const npy::Array &a) { return a.dtype == "f4" || a.dtype == "f2"; };
  for (auto [a, n] : {std::pair{&q, "q"}, {&k, "k"}, {&v, "v"}})
    if (!isFloat(*a))
      return fmt::format("'{}' must be float32 or float16", path(n));
  if (q.shape.size() != 4)
    return fmt::format("'{}' has shape {}; expected [B, T, H, K] with K = {}", path("q"),
                       npy::shapeStr(q.shape), spec.K);
  int64_t B = q.shape[0], T = q.shape[1], H = q.shape[2];
  std::vector<int64_t> qk = {B, T, H, spec.K}, vs = {B, T, H, spec.V}, ss = {B, T, H};
  if (q.shape != qk)
    return fmt::format("'{}' has shape {}; expected {} (K = {} in the spec)", path("q"),
                       npy::shapeStr(q.shape), npy::shapeStr(qk), spec.K);
  if (k.shape != qk)
    return fmt::format("'{}' has shape {}; expected {} like q", path("k"), npy::shapeStr(k.shape),
                       npy::shapeStr(qk));
  if (v.shape != vs)
    return fmt::format("'{}' has shape {}; expected {} (V = {} in the spec)", path("v"),
                       npy::shapeStr(v.shape), npy::shapeStr(vs), spec.V);
  if (B * T == 0 || H == 0)
    return fmt::format("'{}' is empty: shape {}", path("q"), npy::shapeStr(q.shape));
  p.q = std::move(q.f), p.k = std::move(k.f), p.v = std::move(v.f);
  for (const std::string &name : spec.inputs) {
    npy::Array a;
    if (!npy::read(path(name), a, err))
      return err + fmt::format(" (the spec's per-token input '{}', shape {})", name, npy::shapeStr(ss));
    if (!isFloat(a) || a.shape != ss)
      return fmt::format("'{}' has {} {}; expected float32 or float16 of shape {}", path(name),
                         a.dtype, npy::shapeStr(a.shape), npy::shapeStr(ss));
    p.inputs.push_back(std::move(a.f));
  }
  HostTensors &t = p.view;
  t.B = B, t.T = T, t.H = H, t.K = spec.K, t.V = spec.V;
  if (llvm::sys::fs::exists(path("cu_seqlens"))) {
    npy::Array cu;
    if (!npy::read(path("cu_seqlens"), cu, err))
      return err;
    if ((cu.dtype != "i4" && cu.dtype != "i8") || cu.shape.size() != 1 || cu.shape[0] < 2)
      return fmt::format("'{}' must be int32 or int64 of shape [N + 1], N >= 1; got {} {}",
                         path("cu_seqlens"), cu.dtype, npy::shapeStr(cu.shape));
    if (B != 1)
      return fmt::format("variable lengths need B = 1, but '{}' has B = {}", path("q"), B);
    if (cu.i.front() != 0 || cu.i.back() != T)
      return fmt::format("'{}' must start at 0 and end at T = {}; got {} ... {}",
                         path("cu_seqlens"), T, cu.i.front(), cu.i.back());
    for (size_t i = 1; i < cu.i.size(); ++i)
      if (cu.i[i] <= cu.i[i - 1])
        return fmt::format("'{}' must increase strictly (no zero-length sequence): entry {} is {} "
                           "after {}",
                           path("cu_seqlens"), i, cu.i[i], cu.i[i - 1]);
    t.cuSeqlens = cu.i;
  }
  if (llvm::sys::fs::exists(path("h0"))) {
    npy::Array h0;
    if (!npy::read(path("h0"), h0, err))
      return err;
    std::vector<int64_t> hs = {t.numSequences(), H, spec.K, spec.V};
    if (!isFloat(h0) || h0.shape != hs)
      return fmt::format("'{}' has {} {}; expected float32 of shape [N, H, K, V] = {}", path("h0"),
                         h0.dtype, npy::shapeStr(h0.shape), npy::shapeStr(hs));
    p.h0 = std::move(h0.f);
  }
  p.bind();
  return "";
}

bool anyNaN(const std::vector<float> &x) {
  for (float f : x)
    if (std::isnan(f))
      return true;
  return false;
}

} // namespace

Exit runRun(const RunOptions &opts) {
  const bool cuda = opts.backend == "cuda";
  if (!cuda && opts.backend != "cpu") {
    userError("unknown backend '" + opts.backend + "'; expected cpu or cuda");
    return Exit::UserError;
  }
  if (opts.random.empty() == opts.inputsDir.empty()) {
    userError("give exactly one of --random B,T,H and --inputs DIR");
    return Exit::UserError;
  }
  if (opts.chunkSize != 0 && opts.chunkSize != 16 && opts.chunkSize != 32 &&
      opts.chunkSize != 64 && opts.chunkSize != 128) {
    userError(fmt::format("chunk size must be 16, 32, 64 or 128, got {}", opts.chunkSize));
    return Exit::UserError;
  }
  int64_t B = 0, T = 0, H = 0;
  if (!opts.random.empty() && !parseShape(opts.random, B, T, H)) {
    userError("--random takes B,T,H (positive integers, B*T*H <= 2^28), got '" + opts.random + "'");
    return Exit::UserError;
  }
  auto buf = llvm::MemoryBuffer::getFile(opts.specPath, /*IsText=*/true);
  if (!buf) {
    userError("cannot read '" + opts.specPath + "': " + buf.getError().message());
    return Exit::UserError;
  }
  std::string error;
  bool badSpec = false;
  auto cs = driver::compileForCpu(opts.specPath, (*buf)->getBuffer().str(),
                                  {opts.sequential, opts.chunkSize}, error, badSpec, std::cerr);
  if (!cs) {
    if (badSpec)
      return Exit::UserError;
    fmt::print(stderr, "deltac run: internal error: {}\n", error);
    return Exit::InternalError;
  }
  // The GPU kernel: a bundle compiled in memory, storage type --dtype.
  std::string bundle;
  if (cuda) {
    CompileOptions co;
    co.sequential = opts.sequential;
    co.dtype = opts.dtype;
    bool bad = false;
    if (!compileBundle(opts.specPath, (*buf)->getBuffer().str(), co, bundle, error, bad)) {
      if (bad)
        return Exit::UserError;
      fmt::print(stderr, "deltac run: internal error: {}\n", error);
      return Exit::InternalError;
    }
  }
  if (!opts.random.empty()) {
    // q, k, v, o and the inputs live in memory at once (and the reference's
    // doubles with --check): refuse sizes that cannot fit instead of dying.
    const int64_t K = cs->checked.K, V = cs->checked.V;
    const double bytes = double(B) * T * H * (2 * K + 2 * V + cs->checked.inputs.size()) * 4 *
                         (opts.check ? 2 : 1);
    if (bytes > 16e9) {
      userError(fmt::format("--random {} needs about {:.1f} GB of host memory; at most 16 GB",
                            opts.random, bytes / 1e9));
      return Exit::UserError;
    }
  }
  driver::Problem p;
  uint64_t seed = opts.seed >= 0 ? static_cast<uint64_t>(opts.seed) : std::random_device{}();
  if (!opts.random.empty()) {
    driver::RandomOptions ro;
    ro.B = B, ro.T = T, ro.H = H, ro.seed = seed, ro.withH0 = opts.randomH0;
    if (!opts.varlen.empty()) {
      ro.cuSeqlens = {0};
      for (size_t pos = 0; pos <= opts.varlen.size();) {
        size_t c = opts.varlen.find(',', pos);
        long long len = std::atoll(opts.varlen.substr(pos, c - pos).c_str());
        if (len <= 0) {
          userError("--varlen takes positive lengths L1,L2,..., got '" + opts.varlen + "'");
          return Exit::UserError;
        }
        ro.cuSeqlens.push_back(ro.cuSeqlens.back() + len);
        pos = c == std::string::npos ? opts.varlen.size() + 1 : c + 1;
      }
      if (B != 1 || ro.cuSeqlens.back() != T) {
        userError(fmt::format("--varlen needs B = 1 and lengths summing to T = {}", T));
        return Exit::UserError;
      }
    }
    p = driver::randomProblem(cs->checked, ro);
  } else {
    std::string err = loadInputs(opts.inputsDir, cs->checked, p);
    if (!err.empty()) {
      userError(err);
      return Exit::UserError;
    }
  }
  if (opts.dtype != "f32") { // the values a kernel with this storage type reads
    for (std::vector<float> *x : {&p.q, &p.k, &p.v})
      for (float &y : *x)
        y = npy::roundTo(opts.dtype, y);
    for (std::vector<float> &x : p.inputs)
      for (float &y : x)
        y = npy::roundTo(opts.dtype, y);
  }
  const HostTensors &t = p.view;
  const int64_t N = t.numSequences();
  std::vector<float> o(t.B * t.T * t.H * t.V), ht(N * t.H * t.K * t.V);
  unsigned threads = opts.threads ? opts.threads : std::max(1u, std::thread::hardware_concurrency());
  double best = INFINITY;
  CudaRun gpu;
  if (cuda) {
    std::string err;
    bool noDevice = false;
    if (!runOnCuda(bundle, t, opts.repeat, o, ht, gpu, err, noDevice)) {
      fmt::print(stderr, "deltac run: error: {}\n", err);
      return noDevice ? Exit::UserError : Exit::InternalError;
    }
    best = gpu.seconds;
  }
  for (unsigned r = 0; !cuda && r < std::max(1u, opts.repeat); ++r) {
    std::fill(o.begin(), o.end(), NAN); // poisoned: unwritten outputs stay NaN
    std::fill(ht.begin(), ht.end(), NAN);
    auto t0 = std::chrono::steady_clock::now();
    cs->kernel->run(t, o.data(), ht.data(), threads);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  if (!opts.saveInputs.empty()) {
    std::string err;
    std::error_code ec = llvm::sys::fs::create_directories(opts.saveInputs);
    bool ok = !ec;
    std::vector<int64_t> qs = {t.B, t.T, t.H, t.K}, vs = {t.B, t.T, t.H, t.V}, ss = {t.B, t.T, t.H};
    ok = ok && npy::writeF32(opts.saveInputs + "/q.npy", qs, p.q, err) &&
         npy::writeF32(opts.saveInputs + "/k.npy", qs, p.k, err) &&
         npy::writeF32(opts.saveInputs + "/v.npy", vs, p.v, err);
    for (size_t i = 0; ok && i < cs->checked.inputs.size(); ++i)
      ok = npy::writeF32(opts.saveInputs + "/" + cs->checked.inputs[i] + ".npy", ss, p.inputs[i], err);
    if (ok && !p.h0.empty())
      ok = npy::writeF32(opts.saveInputs + "/h0.npy", {N, t.H, t.K, t.V}, p.h0, err);
    if (ok && !t.cuSeqlens.empty()) {
      ok = npy::writeI64(opts.saveInputs + "/cu_seqlens.npy", {int64_t(t.cuSeqlens.size())}, t.cuSeqlens, err);
    }
    if (!ok) {
      userError(ec ? "cannot create '" + opts.saveInputs + "': " + ec.message() : err);
      return Exit::UserError;
    }
  }
  std::string checkJson;
  if (opts.check || !opts.referenceOutputs.empty()) {
    auto t0 = std::chrono::steady_clock::now();
    reference::Result ref = reference::run(cs->checked, t);
    if (!opts.referenceOutputs.empty()) {
      std::string err;
      if (llvm::sys::fs::create_directories(opts.referenceOutputs) ||
          !npy::writeF64(opts.referenceOutputs + "/o.npy", {t.B, t.T, t.H, t.V}, ref.o, err) ||
          !npy::writeF64(opts.referenceOutputs + "/ht.npy", {N, t.H, t.K, t.V}, ref.ht, err)) {
        userError("cannot write the reference outputs to '" + opts.referenceOutputs + "' " + err);
        return Exit::UserError;
      }
    }
    double refSec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto num = [](double x) { return std::isfinite(x) ? fmt::format("{:.3e}", x) : std::string("null"); };
    checkJson = fmt::format(
        ", \"check\": {{\"o_rel_err\": {}, \"ht_rel_err\": {}, \"nan\": {}, \"reference_seconds\": "
        "{:.6f}, \"reference_tokens_per_second\": {:.1f}}}",
        num(reference::relativeError(o, ref.o)), num(reference::relativeError(ht, ref.ht)),
        anyNaN(o) || anyNaN(ht) ? "true" : "false", refSec, double(t.B * t.T) / refSec);
  }
  if (!opts.outputsDir.empty()) {
    std::error_code ec = llvm::sys::fs::create_directories(opts.outputsDir);
    std::string err;
    if (ec) {
      userError("cannot create '" + opts.outputsDir + "': " + ec.message());
      return Exit::UserError;
    }
    if (!npy::writeF32(opts.outputsDir + "/o.npy", {t.B, t.T, t.H, t.V}, o, err) ||
        !npy::writeF32(opts.outputsDir + "/ht.npy", {N, t.H, t.K, t.V}, ht, err)) {
      userError(err);
      return Exit::UserError;
    }
  }
  std::string name = cs->checked.name;
  if (cuda) // what the runtime launched and why (no quotes or backslashes in it)
    checkJson += ", \"plan\": \"" + gpu.plan + "\"";
  fmt::print("{{\"backend\": \"{}\", \"spec\": \"{}\", \"path\": \"{}\", \"chunk_size\": {}, "
             "\"shape\": {{\"B\": {}, \"T\": {}, \"H\": {}, \"K\": {}, \"V\": {}, \"N\": {}}}, "
             "\"threads\": {}, \"seed\": {}, \"seconds\": {:.6f}, \"tokens_per_second\": {:.1f}{}}}\n",
             cuda ? "cuda" : "cpu", name, opts.sequential ? "sequential" : "chunked",
             cuda ? int64_t(64) : cs->chunkSize, t.B, t.T, t.H, t.K,
             t.V, N, threads, opts.random.empty() ? std::string("null") : std::to_string(seed),
             best, double(t.B * t.T) / best, checkJson);
  return Exit::Ok;
}

} // namespace deltac::tool
