// Tokens of the spec language. Newlines end statements, except inside
// parentheses or brackets.
#ifndef MIXC_FRONTEND_SPEC_LEXER_H
#define MIXC_FRONTEND_SPEC_LEXER_H

#include "frontend/spec/Source.h"

#include <string>
#include <vector>

namespace mixc::spec {

struct Token {
  enum Kind { Ident, Number, LParen, RParen, LBracket, RBracket, LBrace, RBrace, Comma,
              Equal, Plus, Minus, Star, Slash, Caret, Bar, Newline, End };
  Kind kind;
  Loc loc;
  std::string text;
  double number = 0;
};

/// Splits the whole file into tokens; throws SpecError at the first bad byte.
std::vector<Token> lex(const SourceFile &src);

const char *describe(Token::Kind kind);

} // namespace mixc::spec

#endif
