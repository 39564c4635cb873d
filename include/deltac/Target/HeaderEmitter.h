//===- HeaderEmitter.h - a C header for a kernel's object file --*- C++ -*-===//
#ifndef DELTAC_TARGET_HEADEREMITTER_H
#define DELTAC_TARGET_HEADEREMITTER_H

#include "mlir/IR/BuiltinOps.h"

#include <string>

namespace deltac {

/// A C header declaring the entry point of the kernel in `module` (the output
/// of delta-chunk or delta-sequential, before lowering) and a typed
/// `<name>_forward` that runs every (sequence, head) pair of a problem in
/// FLA's layout. Returns false with `error` if the module holds no kernel.
bool emitCHeader(mlir::ModuleOp module, std::string &out, std::string &error);

} // namespace deltac

#endif
