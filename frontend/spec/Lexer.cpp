#include "frontend/spec/Lexer.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

namespace mixc::spec {

const char *describe(Token::Kind kind) {
  switch (kind) {
  case Token::Ident: return "a name";
  case Token::Number: return "a number";
  case Token::LParen: return "'('";
  case Token::RParen: return "')'";
  case Token::LBracket: return "'['";
  case Token::RBracket: return "']'";
  case Token::LBrace: return "'{'";
  case Token::RBrace: return "'}'";
  case Token::Comma: return "','";
  case Token::Equal: return "'='";
  case Token::Plus: return "'+'";
  case Token::Minus: return "'-'";
  case Token::Star: return "'*'";
  case Token::Slash: return "'/'";
  case Token::Caret: return "'^'";
  case Token::Bar: return "'|'";
  case Token::Newline: return "end of line";
  case Token::End: return "end of file";
  }
  return "a token";
}

std::vector<Token> lex(const SourceFile &src) {
  const std::string &s = src.text;
  std::vector<Token> out;
  int depth = 0; // ( and [ nesting: newlines inside are whitespace
  size_t i = 0;
  auto push = [&](Token::Kind k, size_t start, size_t len) {
    out.push_back(Token{k, Loc{start, len}, s.substr(start, len)});
  };
  while (i < s.size()) {
    unsigned char c = s[i];
    if (c == '\n') {
      if (depth == 0 && (out.empty() || out.back().kind != Token::Newline))
        push(Token::Newline, i, 1);
      ++i;
    } else if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
    } else if (c == '#' || (c == '/' && i + 1 < s.size() && s[i + 1] == '/')) {
      while (i < s.size() && s[i] != '\n') ++i;
    } else if (std::isalpha(c) || c == '_') {
      size_t start = i;
      while (i < s.size() && (std::isalnum((unsigned char)s[i]) || s[i] == '_')) ++i;
      if (i - start > 128) throw SpecError({start, i - start}, "name longer than 128 characters");
      push(Token::Ident, start, i - start);
    } else if (std::isdigit(c) || (c == '.' && i + 1 < s.size() && std::isdigit((unsigned char)s[i + 1]))) {
      size_t start = i;
      while (i < s.size() && (std::isdigit((unsigned char)s[i]) || s[i] == '.')) ++i;
      if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
        if (j < s.size() && std::isdigit((unsigned char)s[j])) {
          i = j;
          while (i < s.size() && std::isdigit((unsigned char)s[i])) ++i;
        }
      }
      std::string text = s.substr(start, i - start);
      if (text.size() > 64) throw SpecError({start, text.size()}, "number literal longer than 64 characters");
      char *end = nullptr;
      double v = std::strtod(text.c_str(), &end);
      if (end != text.c_str() + text.size())
        throw SpecError({start, text.size()}, "malformed number '" + text + "'");
      if (!std::isfinite(v) || (v != 0 && std::fabs(v) < 1e-300))
        throw SpecError({start, text.size()}, "number '" + text + "' is out of range");
      push(Token::Number, start, text.size());
      out.back().number = v;
    } else {
      Token::Kind k;
      switch (c) {
      case '(': k = Token::LParen; ++depth; break;
      case ')': k = Token::RParen; depth = depth > 0 ? depth - 1 : 0; break;
      case '[': k = Token::LBracket; ++depth; break;
      case ']': k = Token::RBracket; depth = depth > 0 ? depth - 1 : 0; break;
      case '{': k = Token::LBrace; break;
      case '}': k = Token::RBrace; break;
      case ',': k = Token::Comma; break;
      case '=': k = Token::Equal; break;
      case '+': k = Token::Plus; break;
      case '-': k = Token::Minus; break;
      case '*': k = Token::Star; break;
      case '/': k = Token::Slash; break;
      case '^': k = Token::Caret; break;
      case '|': k = Token::Bar; break; // |x|: the absolute value
      default: {
        std::string shown = std::isprint(c) ? std::string("'") + (char)c + "'" : [&] {
          char buf[8];
          std::snprintf(buf, sizeof buf, "0x%02x", c);
          return std::string(buf);
        }();
        throw SpecError({i, 1}, "unexpected character " + shown);
      }
      }
      push(k, i, 1);
      ++i;
    }
  }
  out.push_back(Token{Token::End, Loc{s.size(), 1}, ""});
  return out;
}

} // namespace mixc::spec
