//===- MLIRGen.h - checked spec -> delta dialect ----------------*- C++ -*-===//
#ifndef DELTAC_FRONTEND_MLIRGEN_H
#define DELTAC_FRONTEND_MLIRGEN_H

#include "deltac/Frontend/Family.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace deltac::frontend {

/// Builds a module holding one delta.ode (continuous form) or
/// delta.recurrence (discrete form) for the spec; locations point into `file`.
mlir::OwningOpRef<mlir::ModuleOp> buildModule(const CheckedSpec &spec, const SourceFile &file,
                                              mlir::MLIRContext &ctx);

/// Reads, parses, checks and builds a spec in one go. Diagnostics go to
/// `diags`; returns null on any error.
mlir::OwningOpRef<mlir::ModuleOp> compileSpecToModule(const SourceFile &file,
                                                      DiagnosticEngine &diags,
                                                      mlir::MLIRContext &ctx);

} // namespace deltac::frontend

#endif
