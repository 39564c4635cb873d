//===- Methods.h - the named integrators ------------------------*- C++ -*-===//
#ifndef DELTAC_INTEGRATORS_METHODS_H
#define DELTAC_INTEGRATORS_METHODS_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

namespace deltac {

/// Every integrator a spec may name: euler, backward_euler, trapezoid,
/// midpoint, heun, ralston, ssprk3, rk3, rk4, rk1..rk8, exact.
llvm::ArrayRef<llvm::StringRef> namedIntegrators();
bool isNamedIntegrator(llvm::StringRef name);

} // namespace deltac

#endif
