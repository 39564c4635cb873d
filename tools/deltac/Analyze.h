//===- Analyze.h - deltac analyze -------------------------------*- C++ -*-===//
#ifndef DELTAC_TOOLS_ANALYZE_H
#define DELTAC_TOOLS_ANALYZE_H

#include "Pipeline.h"

namespace deltac::tool {

/// Prints R(z), its order, its stability interval on the negative real axis,
/// the coefficient formulas the compiler emits, and stability warnings;
/// optionally draws |R(-x)| against exp(-x) to an SVG file.
Exit runAnalyze(const std::string &specPath, const std::string &plotPath);

} // namespace deltac::tool

#endif
