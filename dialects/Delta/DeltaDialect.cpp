//===- DeltaDialect.cpp - the delta dialect -------------------------------===//
#include "Delta/DeltaDialect.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace deltac::delta;

#include "Delta/DeltaDialect.cpp.inc"
#include "Delta/DeltaEnums.cpp.inc"

void DeltaDialect::initialize() {
  registerAttributes();
  addOperations<
#define GET_OP_LIST
#include "Delta/DeltaOps.cpp.inc"
      >();
}
