//===- Methods.cpp - the named integrators --------------------------------===//
#include "deltac/Integrators/Methods.h"

#include "llvm/ADT/STLExtras.h"

namespace deltac {

llvm::ArrayRef<llvm::StringRef> namedIntegrators() {
  static const llvm::StringRef names[] = {
      "euler", "backward_euler", "trapezoid", "midpoint", "heun", "ralston",
      "ssprk3", "rk3", "rk4", "rk1", "rk2", "rk5", "rk6", "rk7", "rk8", "exact"};
  return names;
}

bool isNamedIntegrator(llvm::StringRef name) {
  return llvm::is_contained(namedIntegrators(), name);
}

} // namespace deltac
