// The syntax tree of a mixer spec.
#ifndef MIXC_FRONTEND_SPEC_AST_H
#define MIXC_FRONTEND_SPEC_AST_H

#include "frontend/spec/Source.h"

#include <memory>
#include <string>
#include <vector>

namespace mixc::spec {

struct Expr {
  enum Kind { Number, Ident, Call, Neg, Add, Sub, Mul, Div, Pow, MatMul, Transpose };
  Kind kind;
  Loc loc;
  double number = 0;   // Number
  std::string name;    // Ident, Call
  std::vector<std::unique_ptr<Expr>> args; // operands, call arguments
  Expr(Kind k, Loc l) : kind(k), loc(l) {}
  const Expr &arg(size_t i) const { return *args[i]; }
};
using ExprPtr = std::unique_ptr<Expr>;

/// A declared dimension of an input or parameter: empty (scalar), [K], [V], [K, V].
struct DimList {
  std::vector<std::string> dims;
  std::vector<Loc> locs;
};

struct InputDecl {
  std::string name;
  Loc loc;
  DimList dims;
  bool grouped = false; // `q[K] grouped`: one row per group of G heads (G = H / the input's heads)
  bool routed = false;  // `k[K] routed`: one row per memory the token chose (Mixture-of-Memories)
  Loc attrLoc;          // of the attribute word
};

struct Stmt {
  enum Kind { Param, Assign, Memories };
  Kind kind;
  std::string name; // parameter or assigned name
  Loc loc;          // of the name
  DimList dims;     // Param
  ExprPtr value;    // Assign
  // Memories: `memories M top k`, the numbers as written and where.
  double memories = 0, top = 0;
  Loc memoriesLoc, topLoc;
};

struct Spec {
  std::string name;
  Loc nameLoc;
  std::string direction = "forward";
  Loc directionLoc;
  std::vector<InputDecl> inputs;
  std::vector<Stmt> body;
};

} // namespace mixc::spec

#endif
