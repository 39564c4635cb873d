//===- SpecFuzzer.cpp - libFuzzer target: parse and check any input -------===//
#include "deltac/Frontend/Family.h"
#include "deltac/Frontend/Parser.h"

#include <cstddef>
#include <cstdint>
#include <sstream>

using namespace deltac::frontend;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  SourceFile file("fuzz.delta", std::string(reinterpret_cast<const char *>(data), size));
  DiagnosticEngine diags(file);
  std::unique_ptr<Spec> spec = parseSpec(file, diags);
  if (spec)
    (void)checkSpec(*spec, file, diags);
  std::ostringstream os;
  diags.print(os); // rendering (carets, line slicing) is fuzzed too
  // Every failure must come with at least one located error.
  if (!spec && !diags.hasErrors())
    __builtin_trap();
  return 0;
}
