//===- Lexer.h - tokens of the .delta spec language -------------*- C++ -*-===//
#ifndef DELTAC_FRONTEND_LEXER_H
#define DELTAC_FRONTEND_LEXER_H

#include "deltac/Frontend/Diagnostics.h"

#include <string_view>
#include <vector>

namespace deltac::frontend {

enum class Tok {
  Eof, Newline, Ident, Number,
  LBrace, RBrace, LParen, RParen, LBracket, RBracket,
  Comma, Equal, Plus, Minus, Star, Slash, Caret,
};

struct Token {
  Tok kind;
  SourceRange range;
  std::string_view text;
  bool spaceBefore = false; ///< whitespace (or a line start) precedes it
};

const char *tokenName(Tok t);

/// Splits a spec into tokens. Statements end at a newline or ';' (both give
/// Tok::Newline) except inside (...) or [...]. '#' starts a comment.
std::vector<Token> lex(const SourceFile &file, DiagnosticEngine &diags);

} // namespace deltac::frontend

#endif
