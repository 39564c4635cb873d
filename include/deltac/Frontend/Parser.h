//===- Parser.h - .delta spec parser ----------------------------*- C++ -*-===//
#ifndef DELTAC_FRONTEND_PARSER_H
#define DELTAC_FRONTEND_PARSER_H

#include "deltac/Frontend/AST.h"

namespace deltac::frontend {

/// Parses one `recurrence NAME { ... }` block. Returns null after reporting
/// errors to `diags`; never throws, asserts or loops forever on bad input.
std::unique_ptr<Spec> parseSpec(const SourceFile &file, DiagnosticEngine &diags);

} // namespace deltac::frontend

#endif
