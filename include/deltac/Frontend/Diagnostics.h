//===- Diagnostics.h - located diagnostics for .delta specs -----*- C++ -*-===//
//
// Every problem in a spec is reported as
//
//   file:line:col: error: message
//     <source line>
//     ^~~~~
//     hint: what to write instead
//
//===----------------------------------------------------------------------===//
#ifndef DELTAC_FRONTEND_DIAGNOSTICS_H
#define DELTAC_FRONTEND_DIAGNOSTICS_H

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace deltac::frontend {

/// A half-open range of byte offsets into a SourceFile.
struct SourceRange {
  uint32_t begin = 0, end = 0;
  static SourceRange merge(SourceRange a, SourceRange b) {
    if (a.begin == a.end)
      return b;
    if (b.begin == b.end)
      return a;
    return {a.begin < b.begin ? a.begin : b.begin, a.end > b.end ? a.end : b.end};
  }
};

class SourceFile {
public:
  SourceFile(std::string name, std::string text);
  const std::string &name() const { return name_; }
  const std::string &text() const { return text_; }
  /// 1-based line and column of a byte offset.
  std::pair<unsigned, unsigned> lineCol(uint32_t offset) const;
  std::string_view lineText(unsigned line) const;
  std::string_view slice(SourceRange r) const;

private:
  std::string name_, text_;
  std::vector<uint32_t> lineStarts_;
};

enum class Severity { Error, Warning, Note };

struct Diagnostic {
  Severity severity;
  SourceRange range;
  std::string message;
  std::string hint;
};

class DiagnosticEngine {
public:
  explicit DiagnosticEngine(const SourceFile &file) : file_(file) {}
  void error(SourceRange r, std::string message, std::string hint = {});
  void warning(SourceRange r, std::string message, std::string hint = {});
  void note(SourceRange r, std::string message);
  bool hasErrors() const { return numErrors_ > 0; }
  unsigned numErrors() const { return numErrors_; }
  /// True once so many errors were reported that parsing should stop.
  bool tooMany() const { return numErrors_ >= kMaxErrors; }
  const std::vector<Diagnostic> &diagnostics() const { return diags_; }
  void print(std::ostream &os) const;
  static std::string render(const SourceFile &file, const Diagnostic &d);

  static constexpr unsigned kMaxErrors = 20;

private:
  const SourceFile &file_;
  std::vector<Diagnostic> diags_;
  unsigned numErrors_ = 0;
};

/// The candidate closest to `word` by edit distance, or "" if none is close.
std::string closestMatch(std::string_view word, const std::vector<std::string> &candidates);
/// "did you mean 'x'?" or "" when nothing is close.
std::string didYouMean(std::string_view word, const std::vector<std::string> &candidates);

} // namespace deltac::frontend

#endif
