//===- ObjectEmitter.h - host object files from LLVM-dialect modules -*- C++ -*-===//
#ifndef DELTAC_TARGET_OBJECTEMITTER_H
#define DELTAC_TARGET_OBJECTEMITTER_H

#include "mlir/IR/BuiltinOps.h"

#include <string>

namespace deltac {

/// Translates a module in the LLVM dialect to LLVM IR, optimises it (-O3 for
/// the host CPU) and emits a relocatable object into `out`.
bool emitObjectFile(mlir::ModuleOp module, std::string &out, std::string &error);

} // namespace deltac

#endif
