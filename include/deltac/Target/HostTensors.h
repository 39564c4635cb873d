//===- HostTensors.h - a problem's tensors in host memory -------*- C++ -*-===//
#ifndef DELTAC_TARGET_HOSTTENSORS_H
#define DELTAC_TARGET_HOSTTENSORS_H

#include <cstdint>
#include <utility>
#include <vector>

namespace deltac {

/// Host tensors in FLA's layout, all float32.
struct HostTensors {
  int64_t B = 0, T = 0, H = 0, K = 0, V = 0;
  const float *q = nullptr, *k = nullptr, *v = nullptr; ///< [B, T, H, K|V]
  std::vector<const float *> inputs;                    ///< [B, T, H] each, spec order
  const float *h0 = nullptr;                            ///< [N, H, K, V] or null
  std::vector<int64_t> cuSeqlens;                       ///< N + 1 offsets (B == 1) or empty
  int64_t numSequences() const {
    return cuSeqlens.empty() ? B : static_cast<int64_t>(cuSeqlens.size()) - 1;
  }
  /// Token range [begin, end) of sequence n in the flattened B*T axis.
  std::pair<int64_t, int64_t> sequence(int64_t n) const {
    if (cuSeqlens.empty())
      return {n * T, (n + 1) * T};
    return {cuSeqlens[n], cuSeqlens[n + 1]};
  }
};

} // namespace deltac

#endif
