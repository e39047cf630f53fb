// Part of the spec analyzer (Analyzer.h): the abstract values of expressions
// (tensors, operators on the state, outer products, affine updates) and their algebra.
#include "frontend/spec/Analyzer.h"

namespace mixc::spec::analysis {

Val Analyzer::tensor(int n, Loc loc, bool transposed) {
  Val v;
  v.kind = Val::Tensor;
  v.node = n;
  v.loc = loc;
  v.transposed = transposed;
  return v;
}

const Node &Analyzer::tnode(const Val &v) { return node(v.node); }
bool Analyzer::isScalar(const Val &v) { return v.kind == Val::Tensor && tnode(v).dims.empty(); }

std::string Analyzer::kindStr(const Val &v) {
  switch (v.kind) {
  case Val::Tensor: return shapeStr(tnode(v).dims, v.transposed);
  case Val::Op: return "a [K, K] matrix";
  case Val::OuterSum: return "a [K, V] outer product";
  case Val::Affine: return "an expression of the state '" + states[v.state].name + "'";
  }
  return "";
}

// Multiplies every part of an operator or affine value by a tensor from the
// left: a scalar scales, a [K] vector is Diag(x), a [K, V] matrix is elementwise.
Val Analyzer::scaleBy(const Val &t, Val v, Loc loc) {
  const Node &n = tnode(t);
  bool isMatrixState = v.kind == Val::Affine && !states[v.state].isStabilizer;
  auto scaleTerm = [&](Term &term) {
    if (n.dims.empty()) {
      if (term.rankOne()) term.ra = mulOpt(term.ra, t.node, loc);
      else term.coef = mulOpt(term.coef, t.node, loc);
    } else if (n.dims.size() == 1 && n.dims[0] != Dim::V) {
      if (term.rankOne()) term.ra = mulOpt(term.ra, t.node, loc);
      else term.diag = mulOpt(term.diag, t.node, loc);
    } else if (n.dims.size() == 2 && v.kind == Val::Affine && isMatrixState) {
      if (term.rankOne()) fail(loc, "an elementwise gate on a rank-one term is not supported");
      term.elem = mulOpt(term.elem, t.node, loc);
    } else if (n.dims.size() == 1 && n.dims[0] == Dim::V && v.kind == Val::Affine && !term.rankOne()) {
      term.vdiag = mulOpt(term.vdiag, t.node, loc); // valid only for a [V] state, checked later
    } else {
      fail(loc, "cannot multiply " + shapeStr(n.dims) + " with " + kindStr(v));
    }
  };
  for (Term &term : v.terms) scaleTerm(term);
  for (Outer &o : v.outers) {
    if (n.dims.empty() || n.dims[0] != Dim::V) {
      if (n.dims.size() > 1) fail(loc, "cannot multiply " + shapeStr(n.dims) + " with an outer product");
      o.a = binary("mul", o.a, t.node, loc);
    } else {
      o.b = binary("mul", o.b, t.node, loc);
    }
  }
  for (int &f : v.freeNodes) f = binary("mul", f, t.node, loc);
  v.loc = loc;
  return v;
}

Val Analyzer::negate(Val v, Loc loc) {
  if (v.kind == Val::Tensor) return tensor(unary("neg", v.node, loc), loc, v.transposed);
  return scaleBy(tensor(constant(-1, loc), loc), v, loc);
}

Val Analyzer::add(Val x, Val y, Loc loc) {
  if (x.kind == Val::Tensor && y.kind == Val::Tensor) {
    if (x.transposed != y.transposed && !isScalar(x) && !isScalar(y))
      fail(loc, "cannot add " + kindStr(x) + " and " + kindStr(y));
    Val r = tensor(binary("add", x.node, y.node, loc), loc, x.transposed || y.transposed);
    return r;
  }
  if (x.kind == Val::Affine || y.kind == Val::Affine) {
    if (x.kind != Val::Affine) std::swap(x, y);
    if (y.kind == Val::Affine) {
      if (y.state != x.state)
        fail(loc, "the update mixes two states, '" + states[x.state].name + "' and '" +
                      states[y.state].name + "'");
      x.terms.insert(x.terms.end(), y.terms.begin(), y.terms.end());
      x.outers.insert(x.outers.end(), y.outers.begin(), y.outers.end());
      x.freeNodes.insert(x.freeNodes.end(), y.freeNodes.begin(), y.freeNodes.end());
    } else if (y.kind == Val::OuterSum) {
      x.outers.insert(x.outers.end(), y.outers.begin(), y.outers.end());
    } else if (y.kind == Val::Tensor) {
      x.freeNodes.push_back(y.node);
    } else {
      fail(loc, "cannot add " + kindStr(y) + " to " + kindStr(x));
    }
    x.loc = loc;
    return x;
  }
  if (x.kind == Val::Op && y.kind == Val::Op) {
    x.terms.insert(x.terms.end(), y.terms.begin(), y.terms.end());
    return x;
  }
  if (x.kind == Val::OuterSum && y.kind == Val::OuterSum) {
    x.outers.insert(x.outers.end(), y.outers.begin(), y.outers.end());
    return x;
  }
  fail(loc, "cannot add " + kindStr(x) + " and " + kindStr(y));
}

Val Analyzer::multiply(Val x, Val y, Loc loc) {
  if (x.kind == Val::Tensor && y.kind == Val::Tensor) {
    if (x.transposed != y.transposed && !isScalar(x) && !isScalar(y))
      fail(loc, "cannot multiply " + kindStr(x) + " and " + kindStr(y) + " elementwise");
    return tensor(binary("mul", x.node, y.node, loc), loc, x.transposed || y.transposed);
  }
  if (y.kind == Val::Tensor) std::swap(x, y);
  if (x.kind != Val::Tensor) fail(loc, "cannot multiply " + kindStr(x) + " and " + kindStr(y) + " elementwise");
  return scaleBy(x, y, loc);
}

// Composes two linear maps: p applied after t.
Term Analyzer::compose(const Term &p, const Term &t, Loc loc) {
  Term r;
  if (!p.rankOne()) {
    if (p.elem >= 0) fail(loc, "an elementwise matrix cannot act as a matrix product");
    if (!t.rankOne()) {
      r.coef = mulOpt(p.coef, t.coef, loc);
      r.diag = mulOpt(p.diag, t.diag, loc);
      r.elem = t.elem;
    } else {
      r.ra = mulOpt(mulOpt(t.ra, p.coef, loc), p.diag, loc);
      r.rb = t.rb;
    }
    return r;
  }
  if (t.rankOne()) fail(loc, "a product of two rank-one terms is not supported");
  if (t.elem >= 0) fail(loc, "a rank-one term applied to an elementwise decay is not supported");
  r.ra = p.ra;
  r.rb = mulOpt(mulOpt(p.rb, t.coef, loc), t.diag, loc);
  return r;
}

Val Analyzer::matmul(Val x, Val y, Loc loc) {
  if (isScalar(x) || isScalar(y)) return multiply(x, y, loc);
  if (x.kind == Val::Tensor && y.kind == Val::Tensor) {
    const Node &l = tnode(x), &r = tnode(y);
    if (l.dims.size() == 1 && r.dims.size() == 1 && !x.transposed && y.transposed) {
      if (l.dims[0] == Dim::V)
        fail(x.loc, "the left factor of an outer product must be a key vector, got " + shapeStr(l.dims));
      Val v;
      v.loc = loc;
      if (r.dims[0] == l.dims[0]) {
        v.kind = Val::Op;
        Term t;
        t.ra = x.node;
        t.rb = y.node;
        v.terms.push_back(t);
      } else if (r.dims[0] == Dim::V) {
        v.kind = Val::OuterSum;
        v.outers.push_back({x.node, y.node});
      } else {
        fail(loc, "cannot form the outer product of " + shapeStr(l.dims) + " and " + shapeStr(r.dims, true));
      }
      return v;
    }
    // x^T y of two per-token (or per-head) vectors: a scalar per token, in
    // the pre-processing (Longhorn's k^T k).
    if (x.transposed && !y.transposed && l.dims.size() == 1 && r.dims.size() == 1) {
      if (l.dims[0] != r.dims[0])
        fail(loc, "a dot product needs two vectors of one size, got " + shapeStr(l.dims, true) + " and " +
                      shapeStr(r.dims));
      return tensor(binary("dot", x.node, y.node, loc), loc);
    }
    // W^T x: a per-head matrix parameter W [K, F] applied to a vector [K]
    // (learned feature maps), a row of F per token.
    if (l.dims.size() == 2 && x.transposed && r.dims.size() == 1 && !y.transposed) {
      if (l.kind != Node::Param) fail(x.loc, "the matrix of W^T x must be a parameter, got " + kindStr(x));
      if (r.dims[0] != l.dims[0])
        fail(loc, "W^T x needs x of W's first dimension, got " + shapeStr(l.dims, true) + " and " + shapeStr(r.dims));
      return tensor(binary("vecmat", y.node, x.node, loc), loc);
    }
    if (l.dims.size() == 2 && !x.transposed && r.dims.size() == 1 && !y.transposed)
      fail(x.loc, "a matrix parameter applies to a vector transposed: declare W[K, F] and write W^T x");
    fail(loc, "cannot multiply " + kindStr(x) + " by " + kindStr(y));
  }
  if (x.kind == Val::Op && (y.kind == Val::Op || y.kind == Val::Affine)) {
    Val r = y;
    r.terms.clear();
    for (const Term &p : x.terms)
      for (const Term &t : y.terms) r.terms.push_back(compose(p, t, loc));
    if (!y.outers.empty() || !y.freeNodes.empty())
      fail(loc, "a matrix applied to a state-free term is not supported; expand the product");
    r.loc = loc;
    return r;
  }
  if (y.kind == Val::Affine) fail(loc, "cannot apply " + kindStr(x) + " to the state");
  if (x.kind == Val::Affine) fail(loc, "the state must be multiplied from the left: write A S");
  fail(loc, "cannot multiply " + kindStr(x) + " by " + kindStr(y));
}

Val Analyzer::call(const Expr &e) {
  const std::string &fn = e.name;
  auto want = [&](size_t n) {
    if (e.args.size() != n)
      fail(e.loc, fn + " expects " + std::to_string(n) + " argument" + (n == 1 ? "" : "s") + ", got " +
                      std::to_string(e.args.size()));
  };
  auto tensorArg = [&](size_t i) {
    Val v = eval(e.arg(i));
    if (v.kind != Val::Tensor) fail(e.arg(i).loc, fn + " expects a state-free value, got " + kindStr(v));
    if (v.transposed) fail(e.arg(i).loc, fn + " expects a column vector");
    return v;
  };
  if (fn == "diag") {
    want(1);
    Val x = tensorArg(0);
    if (tnode(x).dims.size() != 1 || tnode(x).dims[0] == Dim::V)
      fail(e.arg(0).loc, "diag expects a [K] vector, got " + shapeStr(tnode(x).dims));
    Val v;
    v.kind = Val::Op;
    v.loc = e.loc;
    Term t;
    t.diag = x.node;
    v.terms.push_back(t);
    return v;
  }
  if (fn == "norm") { // the Euclidean norm of a vector: sqrt(x^T x)
    want(1);
    Val x = tensorArg(0);
    if (tnode(x).dims.size() != 1) fail(e.arg(0).loc, "norm expects a vector, got " + shapeStr(tnode(x).dims));
    return tensor(unary("sqrt", binary("dot", x.node, x.node, e.loc), e.loc), e.loc);
  }
  if (fn == "max" || fn == "min") {
    want(2);
    Val a = tensorArg(0), b = tensorArg(1);
    return tensor(binary(fn, a.node, b.node, e.loc), e.loc);
  }
  if (fn == "concat") { // two rows side by side: [a, b]
    want(2);
    Val a = tensorArg(0), b = tensorArg(1);
    const Node &na = tnode(a), &nb = tnode(b);
    if (na.dims.size() != 1 || (na.dims[0] != Dim::K && na.dims[0] != Dim::F))
      fail(e.arg(0).loc, "concat joins two [K] or two [F] vectors, got " + shapeStr(na.dims));
    if (nb.dims != na.dims)
      fail(e.arg(1).loc, "concat joins two vectors of one size, got " + shapeStr(na.dims) + " and " +
                             shapeStr(nb.dims));
    return tensor(binary("concat", a.node, b.node, e.loc), e.loc);
  }
  if (kUnaryFns.count(fn)) {
    want(1);
    Val x = tensorArg(0);
    return tensor(unary(fn, x.node, e.loc), e.loc);
  }
  fail(e.loc, "unknown function '" + fn + "'");
}

Val Analyzer::ident(const Expr &e) {
  const std::string &n = e.name;
  auto it = env.find(n);
  if (it != env.end()) {
    if (it->second.kind == Binding::State) {
      int s = it->second.state;
      if (states[s].isStabilizer) fail(e.loc, "the stabilizer '" + n + "' may only appear in max(...) and exp(-" + n + ")");
      Val v;
      v.kind = Val::Affine;
      v.state = s;
      v.loc = e.loc;
      v.terms.push_back(Term{});
      return v;
    }
    Val v = it->second.val;
    v.loc = e.loc;
    return v;
  }
  if (n == "I") {
    Val v;
    v.kind = Val::Op;
    v.loc = e.loc;
    v.terms.push_back(Term{});
    return v;
  }
  if (n == "K" || n == "V" || n == "H") {
    Node d{Node::DimValue};
    d.name = n;
    d.loc = e.loc;
    return tensor(addNode(d), e.loc);
  }
  if (n == "h") {
    Node d{Node::HeadIndex};
    d.var = Var::Head;
    d.loc = e.loc;
    return tensor(addNode(d), e.loc);
  }
  fail(e.loc, "unknown name '" + n + "'");
}

Val Analyzer::eval(const Expr &e) {
  switch (e.kind) {
  case Expr::Number: return tensor(constant(e.number, e.loc), e.loc);
  case Expr::Ident: return ident(e);
  case Expr::Call: return call(e);
  case Expr::Neg: return negate(eval(e.arg(0)), e.loc);
  // Operands left to right (a call's arguments are evaluated in no fixed
  // order), so that an error in both reports the first one on the line.
  case Expr::Add: {
    Val x = eval(e.arg(0)), y = eval(e.arg(1));
    return add(x, y, e.loc);
  }
  case Expr::Sub: {
    Val x = eval(e.arg(0)), y = eval(e.arg(1));
    return add(x, negate(y, e.loc), e.loc);
  }
  case Expr::Mul: {
    Val x = eval(e.arg(0)), y = eval(e.arg(1));
    return multiply(x, y, e.loc);
  }
  case Expr::Div: {
    Val x = eval(e.arg(0)), y = eval(e.arg(1));
    if (y.kind != Val::Tensor || !tnode(y).dims.empty()) {
      if (x.kind == Val::Tensor && y.kind == Val::Tensor && !y.transposed && !x.transposed)
        return tensor(binary("div", x.node, y.node, e.loc), e.loc);
      fail(e.arg(1).loc, "can only divide by a scalar or elementwise by a vector, got " + kindStr(y));
    }
    if (x.kind == Val::Tensor) return tensor(binary("div", x.node, y.node, e.loc), e.loc, x.transposed);
    return scaleBy(tensor(binary("div", constant(1, e.loc), y.node, e.loc), e.loc), x, e.loc);
  }
  case Expr::Pow: {
    Val x = eval(e.arg(0)), y = eval(e.arg(1));
    if (x.kind != Val::Tensor || y.kind != Val::Tensor || x.transposed || y.transposed)
      fail(e.loc, "'^' needs state-free values (use ^T to transpose)");
    return tensor(binary("pow", x.node, y.node, e.loc), e.loc);
  }
  case Expr::MatMul: {
    Val x = eval(e.arg(0)), y = eval(e.arg(1));
    return matmul(x, y, e.loc);
  }
  case Expr::Transpose: {
    Val x = eval(e.arg(0));
    // Vectors, and matrices for W^T x (checked where the product is formed).
    if (x.kind == Val::Tensor && tnode(x).dims.size() <= 2) {
      x.transposed = !x.transposed && !tnode(x).dims.empty();
      if (tnode(x).dims.size() < 2) x.loc = e.loc; // a matrix's errors point at the matrix
      return x;
    }
    if (x.kind == Val::Affine) fail(e.loc, "the transposed state S^T may only appear in the readout 'o = S^T q'");
    fail(e.loc, "cannot transpose " + kindStr(x));
  }
  }
  fail(e.loc, "unsupported expression");
}

} // namespace mixc::spec::analysis
