//===- Passes.h - deltac's passes -------------------------------*- C++ -*-===//
#ifndef DELTAC_TRANSFORMS_PASSES_H
#define DELTAC_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Pass/Pass.h"

namespace deltac {

#define GEN_PASS_DECL
#include "deltac/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "deltac/Transforms/Passes.h.inc"


} // namespace deltac

#endif
