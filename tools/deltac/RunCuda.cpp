//===- RunCuda.cpp - deltac run --backend=cuda ----------------------------===//
#include "RunCuda.h"

#include "deltart/deltart.h"
#include "deltart/npy.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>

namespace deltac::tool {
namespace {

/// Device buffers, freed on every path out.
struct Buffers {
  std::vector<uint64_t> ptrs;
  ~Buffers() {
    for (uint64_t p : ptrs)
      deltart_device_free(p);
  }
  deltart_status alloc(uint64_t &p, size_t bytes) {
    deltart_status s = deltart_device_alloc(&p, bytes);
    if (s == DELTART_OK)
      ptrs.push_back(p);
    return s;
  }
};

} // namespace

bool runOnCuda(const std::string &bundleBytes, const HostTensors &t, unsigned repeat, std::vector<float> &o,
               std::vector<float> &ht, CudaRun &info, std::string &error, bool &noDevice) {
  noDevice = false;
  auto failed = [&](deltart_status s, const char *what) {
    noDevice = s == DELTART_ERROR_NO_DRIVER || s == DELTART_ERROR_NO_DEVICE;
    error = (noDevice ? "no GPU to run on: " : "") + std::string(what) + ": " + deltart_last_error();
    return false;
  };
  deltart_bundle *bundle = nullptr;
  if (deltart_status s = deltart_bundle_open_memory(bundleBytes.data(), bundleBytes.size(), &bundle))
    return failed(s, "opening the bundle");
  std::unique_ptr<deltart_bundle, void (*)(deltart_bundle *)> own(bundle, deltart_bundle_close);
  const char *dt = deltart_bundle_manifest(bundle, "dtype");
  info.dtype = dt ? dt : "f32";
  const bool wide = info.dtype == "f32";
  const int64_t N = t.numSequences(), rows = t.B * t.T * t.H, states = N * t.H * t.K * t.V;
  Buffers buf;
  // q, k, v and the inputs in the storage type.
  auto upload = [&](const float *x, int64_t n, uint64_t &dev) {
    std::vector<uint16_t> narrow;
    const void *src = x;
    if (!wide) {
      narrow = npy::toStorage16(info.dtype, x, n);
      src = narrow.data();
    }
    size_t bytes = size_t(n) * (wide ? 4 : 2);
    deltart_status s = buf.alloc(dev, bytes);
    if (s == DELTART_OK)
      s = deltart_copy_to_device(dev, src, bytes);
    return s;
  };
  uint64_t q, k, v, h0 = 0, dout, dht, cu = 0;
  std::vector<uint64_t> in(t.inputs.size());
  deltart_status s = upload(t.q, rows * t.K, q);
  if (!s) s = upload(t.k, rows * t.K, k);
  if (!s) s = upload(t.v, rows * t.V, v);
  for (size_t i = 0; !s && i < in.size(); ++i)
    s = upload(t.inputs[i], rows, in[i]);
  if (!s && t.h0 && !(s = buf.alloc(h0, states * 4)))
    s = deltart_copy_to_device(h0, t.h0, states * 4);
  if (!s && !t.cuSeqlens.empty() && !(s = buf.alloc(cu, t.cuSeqlens.size() * 8)))
    s = deltart_copy_to_device(cu, t.cuSeqlens.data(), t.cuSeqlens.size() * 8);
  if (!s) s = buf.alloc(dout, rows * t.V * (wide ? 4 : 2));
  if (!s) s = buf.alloc(dht, states * 4);
  if (s)
    return failed(s, "copying the inputs to the GPU");

  deltart_forward_args a{};
  a.q = q, a.k = k, a.v = v, a.inputs = in.data(), a.num_inputs = in.size();
  a.h0 = h0, a.o = dout, a.ht = dht, a.B = t.B, a.T = t.T, a.H = t.H, a.K = t.K, a.V = t.V;
  a.cu_seqlens = cu, a.N = N;
  // Poison: NaN in the storage type.
  std::vector<float> nanF(std::max(rows * t.V, states), NAN);
  std::vector<uint16_t> nanH(wide ? 0 : rows * t.V, npy::nan16(info.dtype));
  info.seconds = INFINITY;
  for (unsigned r = 0; r < std::max(1u, repeat); ++r) {
    if ((s = deltart_copy_to_device(dout, wide ? (const void *)nanF.data() : nanH.data(),
                                    rows * t.V * (wide ? 4 : 2))) ||
        (s = deltart_copy_to_device(dht, nanF.data(), states * 4)) || (s = deltart_synchronize()))
      return failed(s, "poisoning the outputs");
    auto t0 = std::chrono::steady_clock::now();
    if ((s = deltart_forward(bundle, nullptr, &a, nullptr)))
      return failed(s, "launching the kernel");
    info.plan = deltart_last_plan();
    if ((s = deltart_synchronize()))
      return failed(s, "running the kernel");
    info.seconds = std::min(info.seconds, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  o.assign(rows * t.V, 0);
  ht.assign(states, 0);
  if (wide) {
    s = deltart_copy_to_host(o.data(), dout, o.size() * 4);
  } else {
    std::vector<uint16_t> h(o.size());
    s = deltart_copy_to_host(h.data(), dout, h.size() * 2);
    for (size_t i = 0; i < h.size(); ++i)
      o[i] = npy::fromStorage16(info.dtype, h[i]);
  }
  if (!s)
    s = deltart_copy_to_host(ht.data(), dht, ht.size() * 4);
  if (s)
    return failed(s, "copying the outputs back");
  return true;
}

} // namespace deltac::tool
