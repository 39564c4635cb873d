//===- Lexer.cpp - tokens of the .delta spec language ---------------------===//
#include "deltac/Frontend/Lexer.h"

#include <cctype>
#include <cstdio>

namespace deltac::frontend {

const char *tokenName(Tok t) {
  switch (t) {
  case Tok::Eof: return "end of file";
  case Tok::Newline: return "end of line";
  case Tok::Ident: return "a name";
  case Tok::Number: return "a number";
  case Tok::LBrace: return "'{'";
  case Tok::RBrace: return "'}'";
  case Tok::LParen: return "'('";
  case Tok::RParen: return "')'";
  case Tok::LBracket: return "'['";
  case Tok::RBracket: return "']'";
  case Tok::Comma: return "','";
  case Tok::Equal: return "'='";
  case Tok::Plus: return "'+'";
  case Tok::Minus: return "'-'";
  case Tok::Star: return "'*'";
  case Tok::Slash: return "'/'";
  case Tok::Caret: return "'^'";
  }
  return "token";
}

static bool isDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }
static bool isIdentStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
static bool isIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

std::vector<Token> lex(const SourceFile &file, DiagnosticEngine &diags) {
  const std::string &s = file.text();
  std::vector<Token> out;
  int depth = 0; // nesting of ( and [
  bool space = true;
  auto push = [&](Tok k, size_t b, size_t e) {
    out.push_back({k, {static_cast<uint32_t>(b), static_cast<uint32_t>(e)},
                   std::string_view(s.data() + b, e - b), space});
    space = false;
  };
  size_t i = 0, n = s.size();
  while (i < n) {
    if (diags.tooMany())
      break;
    char c = s[i];
    if (c == '#') {
      while (i < n && s[i] != '\n')
        ++i;
      continue;
    }
    if (c == '\n' || c == ';') {
      if (depth == 0 && !(out.size() && out.back().kind == Tok::Newline))
        push(Tok::Newline, i, i + 1);
      ++i;
      space = true;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
      ++i;
      space = true;
      continue;
    }
    if (isIdentStart(c)) {
      size_t b = i;
      while (i < n && isIdentChar(s[i]))
        ++i;
      push(Tok::Ident, b, i);
      continue;
    }
    if (isDigit(c) || (c == '.' && i + 1 < n && isDigit(s[i + 1]))) {
      size_t b = i;
      while (i < n && isDigit(s[i]))
        ++i;
      if (i < n && s[i] == '.') {
        ++i;
        while (i < n && isDigit(s[i]))
          ++i;
      }
      if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < n && (s[j] == '+' || s[j] == '-'))
          ++j;
        if (j < n && isDigit(s[j])) {
          i = j;
          while (i < n && isDigit(s[i]))
            ++i;
        }
      }
      if (i < n && isIdentStart(s[i])) {
        size_t e = i;
        while (e < n && isIdentChar(s[e]))
          ++e;
        diags.error({static_cast<uint32_t>(b), static_cast<uint32_t>(e)},
                    "malformed number '" + s.substr(b, e - b) + "'",
                    "put a space or '*' between a number and a name");
        i = e;
        continue;
      }
      push(Tok::Number, b, i);
      continue;
    }
    Tok k;
    switch (c) {
    case '{': k = Tok::LBrace; break;
    case '}': k = Tok::RBrace; break;
    case '(': k = Tok::LParen; ++depth; break;
    case ')': k = Tok::RParen; depth = depth > 0 ? depth - 1 : 0; break;
    case '[': k = Tok::LBracket; ++depth; break;
    case ']': k = Tok::RBracket; depth = depth > 0 ? depth - 1 : 0; break;
    case ',': k = Tok::Comma; break;
    case '=': k = Tok::Equal; break;
    case '+': k = Tok::Plus; break;
    case '-': k = Tok::Minus; break;
    case '*': k = Tok::Star; break;
    case '/': k = Tok::Slash; break;
    case '^': k = Tok::Caret; break;
    default: {
      size_t b = i++;
      // One error per UTF-8 sequence, not per byte.
      while (i < n && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80)
        ++i;
      unsigned char uc = static_cast<unsigned char>(c);
      std::string what;
      if (uc >= 0x20 && uc < 0x7f) {
        what = std::string("'") + c + "'";
      } else {
        char buf[16];
        std::snprintf(buf, sizeof buf, "byte 0x%02X", uc);
        what = buf;
      }
      diags.error({static_cast<uint32_t>(b), static_cast<uint32_t>(i)},
                  "unexpected character " + what,
                  uc >= 0x80 ? "specs are plain ASCII: write k^T, not a Unicode symbol" : "");
      continue;
    }
    }
    push(k, i, i + 1);
    ++i;
  }
  if (!out.empty() && out.back().kind != Tok::Newline)
    push(Tok::Newline, n, n);
  push(Tok::Eof, n, n);
  return out;
}

} // namespace deltac::frontend
