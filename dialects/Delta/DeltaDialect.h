//===- DeltaDialect.h - the delta dialect -----------------------*- C++ -*-===//
#ifndef DELTAC_DIALECT_DELTA_DELTADIALECT_H
#define DELTAC_DIALECT_DELTA_DELTADIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "Delta/DeltaDialect.h.inc"
#include "Delta/DeltaEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "Delta/DeltaAttrs.h.inc"

#define GET_OP_CLASSES
#include "Delta/DeltaOps.h.inc"

#endif // DELTAC_DIALECT_DELTA_DELTADIALECT_H
