//===- deltart_run.cpp - run a kernel bundle on the GPU -------------------===//
//
//   deltart-run BUNDLE --inputs DIR [--outputs DIR] [--repeat N]
//   deltart-run BUNDLE --bench B,T,H [--repeat N] [--rotate R]
//   deltart-run BUNDLE --bench B,T,H --rotate R --concurrent [--repeat N]
//
// Loads a bundle with libdeltart, uploads .npy inputs (q, k, v, one file per
// per-token input named in the manifest, optional h0 and cu_seqlens) or
// random ones, poisons the outputs with NaN, runs, and prints one JSON line
// (median time over the repeats, measured with CUDA events; "plan": what
// the runtime launched for the last forward and why). With
// --concurrent: the R input sets' forwards on R streams at once, each into
// outputs of its own, then one after the other; the outputs must agree bit
// for bit (else exit status 1). No LLVM inside.
//
//===----------------------------------------------------------------------===//
#include "../src/cuda_driver.h"
#include "deltart/deltart.h"
#include "deltart/npy.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <vector>

using namespace deltart;
namespace npy = deltac::npy;

namespace {

int die(const std::string &msg) {
  std::fprintf(stderr, "deltart-run: error: %s\n", msg.c_str());
  return 1;
}

struct DeviceBuffer {
  CUdeviceptr ptr = 0;
  size_t bytes = 0;
};

} // namespace

int main(int argc, char **argv) {
  if (argc < 3)
    return die("usage: deltart-run BUNDLE (--inputs DIR [--outputs DIR] | --bench B,T,H [--rotate R] [--concurrent]) "
               "[--repeat N]");
  std::string bundlePath = argv[1], inputs, outputs, bench;
  int repeat = 1, rotate = 1; // --rotate: R input sets, used in turn, so no run finds its inputs in L2
  bool concurrent = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--inputs") inputs = next();
    else if (a == "--outputs") outputs = next();
    else if (a == "--bench") bench = next();
    else if (a == "--repeat") repeat = std::max(1, std::atoi(next().c_str()));
    else if (a == "--rotate") rotate = std::max(1, std::atoi(next().c_str()));
    else if (a == "--concurrent") concurrent = true;
    else return die("unknown option '" + a + "'");
  }
  deltart_bundle *bundle = nullptr;
  if (deltart_status s = deltart_bundle_open_file(bundlePath.c_str(), &bundle))
    return die(std::string(deltart_status_string(s)) + ": " + deltart_last_error());
  const int64_t K = std::atoll(deltart_bundle_manifest(bundle, "key_dim"));
  const int64_t V = std::atoll(deltart_bundle_manifest(bundle, "value_dim"));
  std::vector<std::string> names;
  if (std::string in = deltart_bundle_manifest(bundle, "inputs"); in != "-")
    for (size_t p = 0; p <= in.size();) {
      size_t c = in.find(',', p);
      names.push_back(in.substr(p, c == std::string::npos ? std::string::npos : c - p));
      p = c == std::string::npos ? in.size() + 1 : c + 1;
    }
  std::string err;
  const Driver *d = driver(err);
  if (!d)
    return die(err);
  if (!ensureContext(*d, err))
    return die(err);

  int64_t B = 0, T = 0, H = 0;
  std::vector<float> q, k, v, h0;
  std::vector<std::vector<float>> in(names.size());
  std::vector<int64_t> cu;
  uint64_t round = 0;
  // Fresh random q, k, v and inputs (benchmark), filled by several threads,
  // each with its own stream (seeded by the input set and the piece).
  auto generate = [&]() {
    const int64_t rows = B * T * H;
    q.resize(rows * K), k.resize(rows * K), v.resize(rows * V);
    for (auto &x : in)
      x.resize(rows);
    const unsigned pieces = std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
    auto fill = [&](unsigned piece) {
      std::mt19937_64 rng(round * 1000003 + piece + 1);
      std::normal_distribution<float> normal;
      std::uniform_real_distribution<float> unit(0.05f, 1.0f);
      auto span = [&](std::vector<float> &x) {
        const size_t n = x.size(), lo = n * piece / pieces, hi = n * (piece + 1) / pieces;
        return std::pair{x.data() + lo, x.data() + hi};
      };
      for (auto [a, e] = span(q); a != e; ++a) *a = normal(rng);
      for (auto [a, e] = span(k); a != e; ++a) *a = normal(rng) / std::sqrt(float(K)); // key norms about 1
      for (auto [a, e] = span(v); a != e; ++a) *a = normal(rng);
      // The inputs in (0.05, 1); a log decay (FLA's name for it: g) in
      // (-1, -0.05), so that gated states stay finite.
      for (size_t i = 0; i < in.size(); ++i)
        for (auto [a, e] = span(in[i]); a != e; ++a) *a = names[i] == "g" ? -unit(rng) : unit(rng);
    };
    std::vector<std::thread> threads;
    for (unsigned p = 0; p < pieces; ++p)
      threads.emplace_back(fill, p);
    for (auto &t : threads)
      t.join();
    ++round;
  };
  if (!bench.empty()) {
    long long b, t, h;
    if (std::sscanf(bench.c_str(), "%lld,%lld,%lld", &b, &t, &h) != 3 || b <= 0 || t <= 0 || h <= 0)
      return die("--bench takes B,T,H");
    B = b, T = t, H = h;
    generate();
  } else if (!inputs.empty()) {
    npy::Array a;
    auto load = [&](const std::string &n, std::vector<float> &dst) {
      if (!npy::read(inputs + "/" + n + ".npy", a, err))
        return false;
      dst = std::move(a.f);
      return true;
    };
    if (!load("q", q) || !load("k", k) || !load("v", v))
      return die(err);
    B = a.shape.size() == 4 ? a.shape[0] : 0, T = a.shape.size() == 4 ? a.shape[1] : 0;
    H = a.shape.size() == 4 ? a.shape[2] : 0;
    for (size_t i = 0; i < names.size(); ++i)
      if (!load(names[i], in[i]))
        return die(err);
    struct stat st;
    if (stat((inputs + "/h0.npy").c_str(), &st) == 0 && !load("h0", h0))
      return die(err);
    if (stat((inputs + "/cu_seqlens.npy").c_str(), &st) == 0) {
      if (!npy::read(inputs + "/cu_seqlens.npy", a, err))
        return die(err);
      cu = a.i;
    }
  } else {
    return die("give --inputs DIR or --bench B,T,H");
  }
  const int64_t rows = B * T * H, N = cu.empty() ? B : int64_t(cu.size()) - 1;
  auto upload = [&](const void *data, size_t bytes, DeviceBuffer &buf) {
    buf.bytes = bytes;
    if (CUresult rc = d->cuMemAlloc(&buf.ptr, std::max<size_t>(bytes, 8)))
      return die(cudaError(*d, "cuMemAlloc", rc)) == 0;
    if (data && bytes)
      if (CUresult rc = d->cuMemcpyHtoD(buf.ptr, data, bytes))
        return die(cudaError(*d, "cuMemcpyHtoD", rc)) == 0;
    return true;
  };
  // q, k, v, the inputs and o in the bundle's storage type; h0, ht in f32.
  const std::string dtype = deltart_bundle_manifest(bundle, "dtype") ? deltart_bundle_manifest(bundle, "dtype") : "f32";
  const size_t ioBytes = dtype == "f32" ? 4 : 2;
  auto uploadIO = [&](const std::vector<float> &x, DeviceBuffer &buf) {
    if (dtype == "f32")
      return upload(x.data(), x.size() * 4, buf);
    std::vector<uint16_t> h = npy::toStorage16(dtype, x.data(), x.size());
    return upload(h.data(), h.size() * 2, buf);
  };
  struct InputSet {
    DeviceBuffer q, k, v;
    std::vector<DeviceBuffer> in;
    std::vector<uint64_t> inPtrs;
  };
  const int sets = bench.empty() ? 1 : rotate;
  std::vector<InputSet> set(sets);
  DeviceBuffer dh0, dout, dht, dcu;
  bool ok = upload(nullptr, rows * V * ioBytes, dout) && upload(nullptr, N * H * K * V * 4, dht) &&
            (h0.empty() || upload(h0.data(), h0.size() * 4, dh0)) &&
            (cu.empty() || upload(cu.data(), cu.size() * 8, dcu));
  for (int r = 0; ok && r < sets; ++r) {
    if (r > 0)
      generate();
    InputSet &st = set[r];
    st.in.resize(names.size());
    ok = uploadIO(q, st.q) && uploadIO(k, st.k) && uploadIO(v, st.v);
    for (size_t i = 0; ok && i < names.size(); ++i)
      ok = uploadIO(in[i], st.in[i]);
    for (auto &b : st.in)
      st.inPtrs.push_back(b.ptr);
  }
  if (!ok)
    return 1;
  std::vector<deltart_forward_args> argSets(sets);
  for (int r = 0; r < sets; ++r) {
    deltart_forward_args &args = argSets[r];
    args.q = set[r].q.ptr, args.k = set[r].k.ptr, args.v = set[r].v.ptr;
    args.inputs = set[r].inPtrs.data(), args.num_inputs = set[r].inPtrs.size();
    args.h0 = dh0.ptr, args.o = dout.ptr, args.ht = dht.ptr;
    args.B = B, args.T = T, args.H = H, args.K = K, args.V = V;
    args.cu_seqlens = dcu.ptr, args.N = N;
  }
  // Poisoned outputs: whatever the kernel does not write stays NaN.
  auto poison = [&](CUdeviceptr o, CUdeviceptr ht) {
    if (ioBytes == 4)
      d->cuMemsetD32(o, 0x7fc00000u, rows * V);
    else
      d->cuMemsetD16(o, npy::nan16(dtype), rows * V);
    d->cuMemsetD32(ht, 0x7fc00000u, N * H * K * V);
  };
  if (concurrent) {
    if (bench.empty() || sets < 2)
      return die("--concurrent needs --bench and --rotate 2 or more");
    // Each set's outputs on a stream of its own, all launched before any
    // wait; then each again alone on the default stream.
    std::vector<DeviceBuffer> os(sets), hts(sets);
    std::vector<CUstream> streams(sets);
    for (int r = 0; r < sets; ++r) {
      if (!upload(nullptr, rows * V * ioBytes, os[r]) || !upload(nullptr, N * H * K * V * 4, hts[r]))
        return 1;
      if (CUresult rc = d->cuStreamCreate(&streams[r], CU_STREAM_NON_BLOCKING))
        return die(cudaError(*d, "cuStreamCreate", rc));
      argSets[r].o = os[r].ptr, argSets[r].ht = hts[r].ptr;
    }
    float msTogether = 0, msAlone = 0;
    auto run = [&](bool together) -> std::vector<std::vector<unsigned char>> {
      for (int r = 0; r < sets; ++r)
        poison(os[r].ptr, hts[r].ptr);
      d->cuCtxSynchronize();
      auto wall = std::chrono::steady_clock::now();
      for (int rep = 0; rep < repeat; ++rep)
        for (int r = 0; r < sets; ++r) {
          if (deltart_status s = deltart_forward(bundle, nullptr, &argSets[r], together ? streams[r] : nullptr)) {
            die(std::string(deltart_status_string(s)) + ": " + deltart_last_error());
            return {};
          }
          if (!together)
            d->cuCtxSynchronize();
        }
      if (CUresult rc = d->cuCtxSynchronize()) {
        die(cudaError(*d, "kernel", rc));
        return {};
      }
      (together ? msTogether : msAlone) =
          std::chrono::duration<float, std::milli>(std::chrono::steady_clock::now() - wall).count();
      std::vector<std::vector<unsigned char>> out;
      for (int r = 0; r < sets; ++r)
        for (const DeviceBuffer *buf : {&os[r], &hts[r]}) {
          out.emplace_back(buf->bytes);
          d->cuMemcpyDtoH(out.back().data(), buf->ptr, buf->bytes);
        }
      return out;
    };
    std::vector<std::vector<unsigned char>> together = run(true), alone = run(false);
    if (together.empty() || alone.empty())
      return 1;
    size_t differ = 0;
    for (size_t i = 0; i < together.size(); ++i)
      differ += together[i] != alone[i];
    // The check has power only if the sets' outputs differ from each other.
    size_t alike = 0;
    for (int r = 1; r < sets; ++r)
      alike += alone[2 * r] == alone[0];
    std::printf("{\"bundle\": \"%s\", \"B\": %lld, \"T\": %lld, \"H\": %lld, \"streams\": %d, \"repeat\": %d, "
                "\"ms_wall_together\": %.3f, \"ms_wall_alone\": %.3f, \"outputs_differing\": %zu, "
                "\"sets_alike\": %zu}\n",
                bundlePath.c_str(), (long long)B, (long long)T, (long long)H, sets, repeat, msTogether, msAlone,
                differ, alike);
    for (CUstream st : streams)
      d->cuStreamDestroy(st);
    deltart_bundle_close(bundle);
    return differ ? 1 : 0;
  }
  poison(dout.ptr, dht.ptr);
  CUevent start, stop;
  d->cuEventCreate(&start, 0);
  d->cuEventCreate(&stop, 0);
  std::vector<float> ms;
  int warmup = bench.empty() ? 0 : 3;
  for (int r = 0; r < warmup + repeat; ++r) {
    d->cuEventRecord(start, nullptr);
    if (deltart_status s = deltart_forward(bundle, nullptr, &argSets[r % sets], nullptr))
      return die(std::string(deltart_status_string(s)) + ": " + deltart_last_error());
    d->cuEventRecord(stop, nullptr);
    if (CUresult rc = d->cuEventSynchronize(stop))
      return die(cudaError(*d, "kernel", rc));
    float t = 0;
    d->cuEventElapsedTime(&t, start, stop);
    if (r >= warmup)
      ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  std::vector<float> o(rows * V), ht(N * H * K * V);
  if (ioBytes == 4) {
    d->cuMemcpyDtoH(o.data(), dout.ptr, o.size() * 4);
  } else {
    std::vector<uint16_t> h(o.size());
    d->cuMemcpyDtoH(h.data(), dout.ptr, h.size() * 2);
    for (size_t i = 0; i < h.size(); ++i)
      o[i] = npy::fromStorage16(dtype, h[i]);
  }
  d->cuMemcpyDtoH(ht.data(), dht.ptr, ht.size() * 4);
  size_t nan = 0;
  for (float x : o) nan += std::isnan(x);
  for (float x : ht) nan += std::isnan(x);
  if (!outputs.empty()) {
    mkdir(outputs.c_str(), 0755);
    if (!npy::writeF32(outputs + "/o.npy", {B, T, H, V}, o, err) ||
        !npy::writeF32(outputs + "/ht.npy", {N, H, K, V}, ht, err))
      return die(err);
  }
  std::printf(
      "{\"bundle\": \"%s\", \"name\": \"%s\", \"dtype\": \"%s\", \"B\": %lld, \"T\": %lld, \"H\": %lld, \"K\": %lld, "
      "\"V\": %lld, \"N\": %lld, \"repeat\": %d, \"rotate\": %d, \"ms_median\": %.4f, \"ms_min\": %.4f, "
      "\"nan_outputs\": %zu, \"plan\": \"%s\"}\n",
      bundlePath.c_str(), deltart_bundle_manifest(bundle, "name"), dtype.c_str(), (long long)B, (long long)T,
      (long long)H, (long long)K, (long long)V, (long long)N, repeat, sets, ms[ms.size() / 2], ms[0], nan,
      deltart_last_plan());
  deltart_bundle_close(bundle);
  return 0;
}
