//===- Diagnostics.cpp - located diagnostics for .delta specs -------------===//
#include "deltac/Frontend/Diagnostics.h"

#include <algorithm>
#include <sstream>

namespace deltac::frontend {

SourceFile::SourceFile(std::string name, std::string text)
    : name_(std::move(name)), text_(std::move(text)) {
  lineStarts_.push_back(0);
  for (uint32_t i = 0; i < text_.size(); ++i)
    if (text_[i] == '\n')
      lineStarts_.push_back(i + 1);
}

std::pair<unsigned, unsigned> SourceFile::lineCol(uint32_t offset) const {
  if (offset > text_.size())
    offset = static_cast<uint32_t>(text_.size());
  auto it = std::upper_bound(lineStarts_.begin(), lineStarts_.end(), offset);
  unsigned line = static_cast<unsigned>(it - lineStarts_.begin());
  return {line, offset - lineStarts_[line - 1] + 1};
}

std::string_view SourceFile::lineText(unsigned line) const {
  if (line == 0 || line > lineStarts_.size())
    return {};
  uint32_t b = lineStarts_[line - 1];
  uint32_t e = line < lineStarts_.size() ? lineStarts_[line] : static_cast<uint32_t>(text_.size());
  std::string_view s(text_.data() + b, e - b);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::string_view SourceFile::slice(SourceRange r) const {
  uint32_t b = std::min<uint32_t>(r.begin, text_.size());
  uint32_t e = std::min<uint32_t>(std::max(r.end, b), text_.size());
  return std::string_view(text_.data() + b, e - b);
}

void DiagnosticEngine::error(SourceRange r, std::string message, std::string hint) {
  ++numErrors_;
  diags_.push_back({Severity::Error, r, std::move(message), std::move(hint)});
}
void DiagnosticEngine::warning(SourceRange r, std::string message, std::string hint) {
  diags_.push_back({Severity::Warning, r, std::move(message), std::move(hint)});
}
void DiagnosticEngine::note(SourceRange r, std::string message) {
  diags_.push_back({Severity::Note, r, std::move(message), {}});
}

std::string DiagnosticEngine::render(const SourceFile &file, const Diagnostic &d) {
  std::ostringstream os;
  auto [line, col] = file.lineCol(d.range.begin);
  const char *sev = d.severity == Severity::Error     ? "error"
                    : d.severity == Severity::Warning ? "warning"
                                                      : "note";
  os << file.name() << ":" << line << ":" << col << ": " << sev << ": " << d.message << "\n";
  std::string_view text = file.lineText(line);
  // Show the line (printable ASCII only, tabs kept so the caret lines up).
  std::string shown, marks;
  for (size_t i = 0; i < text.size() && i < 240; ++i) {
    unsigned char ch = static_cast<unsigned char>(text[i]);
    shown += (ch == '\t' || (ch >= 0x20 && ch < 0x7f)) ? static_cast<char>(ch) : '?';
  }
  size_t c0 = col - 1;
  uint32_t lineEnd = d.range.begin + static_cast<uint32_t>(text.size() - std::min(text.size(), c0));
  uint32_t end = std::min(std::max(d.range.end, d.range.begin + 1), std::max(lineEnd, d.range.begin + 1));
  for (size_t i = 0; i < c0 && i < shown.size(); ++i)
    marks += shown[i] == '\t' ? '\t' : ' ';
  if (c0 > shown.size())
    marks.append(c0 - shown.size(), ' ');
  marks += '^';
  for (uint32_t i = d.range.begin + 1; i < end && marks.size() < 241; ++i)
    marks += '~';
  os << "  " << shown << "\n  " << marks << "\n";
  if (!d.hint.empty())
    os << "  hint: " << d.hint << "\n";
  return os.str();
}

void DiagnosticEngine::print(std::ostream &os) const {
  for (const Diagnostic &d : diags_)
    os << render(file_, d);
  if (numErrors_ >= kMaxErrors)
    os << file_.name() << ": note: stopped after " << kMaxErrors << " errors\n";
}

// Edit distance where swapping two neighbours counts as one edit.
static size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i)
    d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j)
    d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1,
                          d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

std::string closestMatch(std::string_view word, const std::vector<std::string> &candidates) {
  if (word.size() > 64)
    return {};
  std::string best;
  size_t bestD = std::max<size_t>(1, word.size() / 3) + 1;
  for (const std::string &c : candidates) {
    size_t d = editDistance(word, c);
    if (d < bestD && c != word) {
      bestD = d;
      best = c;
    }
  }
  return best;
}

std::string didYouMean(std::string_view word, const std::vector<std::string> &candidates) {
  std::string m = closestMatch(word, candidates);
  return m.empty() ? std::string() : "did you mean '" + m + "'?";
}

} // namespace deltac::frontend
