//===- Reference.h - the sequential recurrence in long double ---*- C++ -*-===//
//
// The reference every compiled path is checked against: the discrete
// recurrence S_t = g (S - a k k^T S) + b k v^T run token by token in long
// double, with (g, a, b) computed here from MATH.md's formula
//   g = R(-h gam), a = (g - R(-x)) / (g lam), b = d (1 - R(-x)) / (gam + c lam)
// (and their lam -> 0 limits). It shares no numerical code with the
// compiler's emitted code.
//
//===----------------------------------------------------------------------===//
#ifndef DELTAC_REFERENCE_REFERENCE_H
#define DELTAC_REFERENCE_REFERENCE_H

#include "deltac/Frontend/Family.h"
#include "deltac/Target/HostTensors.h"

#include <cstdint>
#include <vector>

namespace deltac::reference {

using Tensors = HostTensors;

struct Result {
  std::vector<double> o;  ///< [B, T, H, V]
  std::vector<double> ht; ///< [N, H, K, V]
};

/// Runs the spec's recurrence over `t` in long double.
Result run(const frontend::CheckedSpec &spec, const Tensors &t);

/// ||x - ref|| / ||ref|| (0 when both are 0); NaN in x gives NaN.
double relativeError(const std::vector<float> &x, const std::vector<double> &ref);

} // namespace deltac::reference

#endif
