#include "frontend/spec/Parser.h"

#include "frontend/spec/Lexer.h"

namespace mixc::spec {
namespace {

// Deeper nesting is refused rather than risking the stack on hostile input.
constexpr int kMaxDepth = 200;

class Parser {
public:
  explicit Parser(const SourceFile &src) : toks(lex(src)) {}

  Spec parseSpec() {
    Spec spec;
    skipNewlines();
    const Token &kw = expect(Token::Ident, "'mixer'");
    if (kw.text != "mixer") throw SpecError(kw.loc, "expected 'mixer', got '" + kw.text + "'");
    const Token &name = expect(Token::Ident, "the mixer's name");
    spec.name = name.text;
    spec.nameLoc = name.loc;
    expect(Token::LParen, "'(' after the mixer's name");
    if (!at(Token::RParen)) {
      do {
        const Token &in = expect(Token::Ident, "an input name");
        InputDecl decl{in.text, in.loc, {}};
        if (accept(Token::LBracket)) decl.dims = parseDims();
        while (at(Token::Ident) && (peek().text == "grouped" || peek().text == "routed")) {
          const Token &attr = next();
          (attr.text == "grouped" ? decl.grouped : decl.routed) = true;
          decl.attrLoc = attr.loc;
        }
        if (at(Token::Ident))
          throw SpecError(peek().loc, "unknown input attribute '" + peek().text +
                                          "' (expected 'grouped', 'routed', ',' or ')')");
        spec.inputs.push_back(std::move(decl));
      } while (accept(Token::Comma));
    }
    expect(Token::RParen, "')' or ',' in the input list");
    if (at(Token::Ident)) {
      const Token &dir = next();
      if (dir.text != "forward" && dir.text != "reverse" && dir.text != "bidirectional")
        throw SpecError(dir.loc, "unknown direction '" + dir.text +
                                     "' (expected forward, reverse or bidirectional)");
      spec.direction = dir.text;
      spec.directionLoc = dir.loc;
    }
    skipNewlines();
    expect(Token::LBrace, "'{' to open the mixer's body");
    while (true) {
      skipNewlines();
      if (accept(Token::RBrace)) break;
      spec.body.push_back(parseStmt());
      if (!at(Token::RBrace)) expect(Token::Newline, "end of line after the statement");
    }
    skipNewlines();
    if (!at(Token::End)) throw SpecError(peek().loc, "unexpected text after the mixer's closing '}'");
    return spec;
  }

private:
  std::vector<Token> toks;
  size_t pos = 0;
  int depth = 0;

  const Token &peek(size_t ahead = 0) const {
    return toks[std::min(pos + ahead, toks.size() - 1)];
  }
  bool at(Token::Kind k) const { return peek().kind == k; }
  const Token &next() {
    const Token &t = peek();
    if (pos < toks.size() - 1) ++pos;
    return t;
  }
  bool accept(Token::Kind k) {
    if (!at(k)) return false;
    next();
    return true;
  }
  const Token &expect(Token::Kind k, const std::string &what) {
    if (!at(k)) {
      const Token &t = peek();
      std::string got = t.kind == Token::Ident || t.kind == Token::Number ? "'" + t.text + "'"
                                                                         : describe(t.kind);
      throw SpecError(t.loc, "expected " + what + ", got " + got);
    }
    return next();
  }
  void skipNewlines() {
    while (accept(Token::Newline)) {}
  }

  DimList parseDims() {
    DimList d;
    do {
      const Token &t = expect(Token::Ident, "a dimension (K or V)");
      d.dims.push_back(t.text);
      d.locs.push_back(t.loc);
    } while (accept(Token::Comma));
    expect(Token::RBracket, "']' after the dimensions");
    return d;
  }

  Stmt parseStmt() {
    const Token &name = expect(Token::Ident, "a statement ('param NAME' or 'NAME = expression')");
    Stmt st;
    if (name.text == "param" && at(Token::Ident)) {
      const Token &p = next();
      st.kind = Stmt::Param;
      st.name = p.text;
      st.loc = p.loc;
      if (accept(Token::LBracket)) st.dims = parseDims();
      return st;
    }
    if (name.text == "memories" && at(Token::Number)) { // memories M top k
      st.kind = Stmt::Memories;
      st.name = name.text;
      st.loc = name.loc;
      const Token &m = next();
      st.memories = m.number;
      st.memoriesLoc = m.loc;
      const Token &top = expect(Token::Ident, "'top' after the number of memories");
      if (top.text != "top") throw SpecError(top.loc, "expected 'top' after the number of memories, got '" + top.text + "'");
      const Token &k = expect(Token::Number, "the memories each token updates ('top k')");
      st.top = k.number;
      st.topLoc = k.loc;
      return st;
    }
    st.kind = Stmt::Assign;
    st.name = name.text;
    st.loc = name.loc;
    expect(Token::Equal, "'=' after '" + name.text + "'");
    st.value = parseExpr();
    return st;
  }

  struct DepthGuard {
    Parser &p;
    DepthGuard(Parser &p, Loc loc) : p(p) {
      if (++p.depth > kMaxDepth) throw SpecError(loc, "expression nested too deeply");
    }
    ~DepthGuard() { --p.depth; }
  };

  static ExprPtr make(Expr::Kind k, Loc loc, ExprPtr a, ExprPtr b = nullptr) {
    auto e = std::make_unique<Expr>(k, loc);
    e->args.push_back(std::move(a));
    if (b) e->args.push_back(std::move(b));
    return e;
  }

  ExprPtr parseExpr() {
    DepthGuard g(*this, peek().loc);
    ExprPtr lhs = parseMultiplicative();
    while (at(Token::Plus) || at(Token::Minus)) {
      const Token &op = next();
      ExprPtr rhs = parseMultiplicative();
      lhs = make(op.kind == Token::Plus ? Expr::Add : Expr::Sub, op.loc, std::move(lhs), std::move(rhs));
    }
    return lhs;
  }

  ExprPtr parseMultiplicative() {
    ExprPtr lhs = parseUnary();
    while (at(Token::Star) || at(Token::Slash)) {
      const Token &op = next();
      ExprPtr rhs = parseUnary();
      lhs = make(op.kind == Token::Star ? Expr::Mul : Expr::Div, op.loc, std::move(lhs), std::move(rhs));
    }
    return lhs;
  }

  ExprPtr parseUnary() {
    DepthGuard g(*this, peek().loc);
    if (at(Token::Minus)) {
      Loc loc = next().loc;
      return make(Expr::Neg, loc, parseUnary());
    }
    if (at(Token::Plus)) {
      next();
      return parseUnary();
    }
    return parseMatMul();
  }

  static bool startsPrimary(const Token &t) {
    return t.kind == Token::Ident || t.kind == Token::Number || t.kind == Token::LParen;
  }

  // Juxtaposition is the matrix product: `k v^T`, `(I - b k k^T) S`, `S^T q`.
  ExprPtr parseMatMul() {
    ExprPtr lhs = parsePower();
    while (startsPrimary(peek())) {
      Loc loc = peek().loc;
      ExprPtr rhs = parsePower();
      lhs = make(Expr::MatMul, loc, std::move(lhs), std::move(rhs));
    }
    return lhs;
  }

  ExprPtr parsePower() {
    DepthGuard g(*this, peek().loc);
    ExprPtr base = parsePrimary();
    while (at(Token::Caret)) {
      Loc loc = next().loc;
      if (at(Token::Ident) && peek().text == "T") {
        next();
        base = make(Expr::Transpose, loc, std::move(base));
        continue;
      }
      // Right-associative exponent, which may carry its own sign: K^-0.5.
      ExprPtr exp;
      if (at(Token::Minus)) {
        Loc m = next().loc;
        exp = make(Expr::Neg, m, parsePower());
      } else {
        exp = parsePower();
      }
      return make(Expr::Pow, loc, std::move(base), std::move(exp));
    }
    return base;
  }

  ExprPtr parsePrimary() {
    const Token &t = peek();
    if (t.kind == Token::Number) {
      next();
      auto e = std::make_unique<Expr>(Expr::Number, t.loc);
      e->number = t.number;
      return e;
    }
    if (t.kind == Token::Ident) {
      next();
      // `f(x)` is a call; `B (x)` with a space is the product of B and x.
      if (at(Token::LParen) && peek().loc.offset == t.loc.offset + t.loc.length) {
        next();
        auto call = std::make_unique<Expr>(Expr::Call, t.loc);
        call->name = t.text;
        if (!at(Token::RParen)) {
          do call->args.push_back(parseExpr());
          while (accept(Token::Comma));
        }
        expect(Token::RParen, "')' or ',' in the call of '" + t.text + "'");
        return call;
      }
      auto e = std::make_unique<Expr>(Expr::Ident, t.loc);
      e->name = t.text;
      return e;
    }
    if (t.kind == Token::LParen) {
      next();
      ExprPtr inner = parseExpr();
      expect(Token::RParen, "')'");
      return inner;
    }
    if (t.kind == Token::Bar) { // |x| as papers write it: abs(x)
      Loc open = t.loc;
      next();
      auto call = std::make_unique<Expr>(Expr::Call, open);
      call->name = "abs";
      call->args.push_back(parseExpr());
      expect(Token::Bar, "'|' closing the absolute value");
      return call;
    }
    std::string got = t.kind == Token::Ident || t.kind == Token::Number ? "'" + t.text + "'" : describe(t.kind);
    throw SpecError(t.loc, "expected an expression, got " + got);
  }
};

} // namespace

Spec parse(const SourceFile &src) { return Parser(src).parseSpec(); }

} // namespace mixc::spec
