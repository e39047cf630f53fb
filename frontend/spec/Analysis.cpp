#include "frontend/spec/Analysis.h"

#include "frontend/spec/Parser.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <tuple>

namespace mixc::spec {

const char *dimName(Dim d) { return d == Dim::K ? "K" : d == Dim::V ? "V" : d == Dim::F ? "F" : "1"; }

int64_t dimSize(Dim d, const Sizes &s) {
  return d == Dim::K ? s.K : d == Dim::V ? s.V : d == Dim::F ? 1 + s.K + s.K * s.K : 1;
}

namespace {

std::string shapeStr(const std::vector<Dim> &dims, bool transposed = false) {
  if (dims.empty()) return "a scalar";
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::string(dimName(dims[i]));
  return s + "]" + (transposed ? "^T" : "");
}

const std::set<std::string> kUnaryFns = {"exp", "log", "sigmoid", "logsigmoid", "softplus", "silu",
                                         "elu", "relu", "abs", "sqrt", "tanh", "l2norm", "taylor2", "sum",
                                         "softmax"};
const std::set<std::string> kReserved = {"I", "K", "V", "H", "h", "T", "param", "mixer"};

// One addend of a linear map on the state X:
//   diagonal type: X -> coef * Diag(diag) * (elem . X)     (ra == -1)
//   rank one:      X -> ra (rb^T X)
struct Term {
  int coef = -1, diag = -1, elem = -1, ra = -1, rb = -1;
  int vdiag = -1; // a [V] decay: only for a vector state of values (HGRN)
  bool rankOne() const { return ra >= 0; }
};

// An S-free rank-one matrix a b^T with scalars folded into a.
struct Outer {
  int a = -1, b = -1;
};

// The abstract value of an expression.
struct Val {
  enum Kind { Tensor, Op, OuterSum, Affine } kind = Tensor;
  Loc loc;
  int node = -1;            // Tensor
  bool transposed = false;  // Tensor row vector
  std::vector<Term> terms;  // Op (K x K operator), Affine (the linear part in the state)
  std::vector<Outer> outers; // OuterSum; Affine free part of a matrix state
  std::vector<int> freeNodes; // Affine free part of a vector state
  int state = -1;           // Affine
};

struct StateInfo {
  std::string name;
  Loc loc;
  bool updated = false;
  bool isStabilizer = false;
  const Expr *update = nullptr;
  Val value; // the evaluated update (Affine)
  size_t stmtIndex = 0;
};

struct Binding {
  enum Kind { Value, State } kind;
  Val val;
  int state = -1;
};

class Analyzer {
public:
  explicit Analyzer(const Spec &spec) : spec(spec) {}

private:
  const Spec &spec;
  MixerDesc d;
  std::map<std::tuple<int, std::string, double, int, int, int>, int> intern;
  std::map<std::string, Binding> env;
  std::vector<StateInfo> states;

  [[noreturn]] void fail(Loc loc, const std::string &msg) { throw SpecError(loc, msg); }

  // ---- the DAG ---------------------------------------------------------
  int addNode(Node n) {
    auto key = std::make_tuple((int)n.kind, n.name, n.value, n.a, n.b, (int)n.columnBroadcast);
    if (n.kind == Node::Input || n.kind == Node::Param) key = std::make_tuple((int)n.kind, n.name, 0.0, (int)d.nodes.size(), 0, 0);
    auto it = intern.find(key);
    if (it != intern.end()) return it->second;
    d.nodes.push_back(std::move(n));
    int id = (int)d.nodes.size() - 1;
    intern[key] = id;
    return id;
  }
  const Node &node(int id) const { return d.nodes[id]; }

  int constant(double v, Loc loc) {
    Node n{Node::Const};
    n.value = v;
    n.loc = loc;
    return addNode(n);
  }

  int unary(const std::string &fn, int x, Loc loc) {
    const Node &in = node(x);
    if (in.kind == Node::Const && fn == "neg") return constant(-in.value, loc);
    if (fn == "neg" && in.kind == Node::Unary && in.name == "neg") return in.a;
    if (fn == "log" && in.kind == Node::Unary && in.name == "exp") return in.a;
    Node n{Node::Unary};
    n.name = fn;
    n.a = x;
    n.dims = in.dims;
    n.var = in.var;
    n.loc = loc;
    if (fn == "ones") n.dims = {Dim::One};
    if (fn == "sum") {
      if (in.dims.size() != 1) fail(loc, "sum expects a vector, got " + shapeStr(in.dims));
      n.dims = {};
    }
    if (fn == "l2norm" || fn == "taylor2" || fn == "softmax") {
      if (in.dims.size() != 1)
        fail(loc, fn + " expects a vector, got " + shapeStr(in.dims));
      if (fn == "taylor2") {
        if (in.dims[0] != Dim::K) fail(loc, "taylor2 expects a [K] vector, got " + shapeStr(in.dims));
        n.dims = {Dim::F};
      }
    }
    return addNode(n);
  }

  int binary(const std::string &fn, int x, int y, Loc loc) {
    const Node &l = node(x), &r = node(y);
    if (l.kind == Node::Const && r.kind == Node::Const) {
      double a = l.value, b = r.value, v = 0;
      if (fn == "add") v = a + b;
      else if (fn == "sub") v = a - b;
      else if (fn == "mul") v = a * b;
      else if (fn == "div") v = a / b;
      else if (fn == "max") v = std::max(a, b);
      else if (fn == "min") v = std::min(a, b);
      else v = std::pow(a, b);
      if (!std::isfinite(v)) fail(loc, "constant expression is not finite");
      return constant(v, loc);
    }
    if (fn == "mul" && l.kind == Node::Const && l.value == 1) return y;
    if ((fn == "mul" || fn == "div") && r.kind == Node::Const && r.value == 1) return x;
    bool commutative = fn == "add" || fn == "mul" || fn == "max" || fn == "min" || fn == "dot";
    if (commutative && x > y) std::swap(x, y);
    const Node &p = node(x), &s = node(y);
    Node n{Node::Binary};
    n.name = fn;
    n.a = x;
    n.b = y;
    n.loc = loc;
    n.var = std::max(p.var, s.var);
    // Broadcast by dimension name; a dot product of two vectors is a scalar.
    if (fn == "dot") n.dims = {};
    else if (p.dims == s.dims || s.dims.empty()) n.dims = p.dims;
    else if (p.dims.empty()) n.dims = s.dims;
    else {
      const auto &vec = p.dims.size() == 1 ? p.dims : s.dims;
      const auto &mat = p.dims.size() == 2 ? p.dims : s.dims;
      if (vec.size() == 1 && mat.size() == 2 && vec[0] == mat[0]) n.dims = mat;
      else if (vec.size() == 1 && mat.size() == 2 && vec[0] == mat[1]) {
        n.dims = mat;
        n.columnBroadcast = true;
      } else
        fail(loc, "shapes " + shapeStr(p.dims) + " and " + shapeStr(s.dims) + " do not match");
    }
    return addNode(n);
  }

  int mulOpt(int x, int y, Loc loc) { return x < 0 ? y : y < 0 ? x : binary("mul", x, y, loc); }

  // ---- values ----------------------------------------------------------
  Val tensor(int n, Loc loc, bool transposed = false) {
    Val v;
    v.kind = Val::Tensor;
    v.node = n;
    v.loc = loc;
    v.transposed = transposed;
    return v;
  }

  const Node &tnode(const Val &v) { return node(v.node); }
  bool isScalar(const Val &v) { return v.kind == Val::Tensor && tnode(v).dims.empty(); }

  std::string kindStr(const Val &v) {
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
  Val scaleBy(const Val &t, Val v, Loc loc) {
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

  Val negate(Val v, Loc loc) {
    if (v.kind == Val::Tensor) return tensor(unary("neg", v.node, loc), loc, v.transposed);
    return scaleBy(tensor(constant(-1, loc), loc), v, loc);
  }

  Val add(Val x, Val y, Loc loc) {
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

  Val multiply(Val x, Val y, Loc loc) {
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
  Term compose(const Term &p, const Term &t, Loc loc) {
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

  Val matmul(Val x, Val y, Loc loc) {
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

  Val call(const Expr &e) {
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
    if (kUnaryFns.count(fn)) {
      want(1);
      Val x = tensorArg(0);
      return tensor(unary(fn, x.node, e.loc), e.loc);
    }
    fail(e.loc, "unknown function '" + fn + "'");
  }

  Val ident(const Expr &e) {
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

  Val eval(const Expr &e) {
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
      if (x.kind == Val::Tensor && tnode(x).dims.size() <= 1) {
        x.transposed = !x.transposed && !tnode(x).dims.empty();
        x.loc = e.loc;
        return x;
      }
      if (x.kind == Val::Affine) fail(e.loc, "the transposed state S^T may only appear in the readout 'o = S^T q'");
      fail(e.loc, "cannot transpose " + kindStr(x));
    }
    }
    fail(e.loc, "unsupported expression");
  }

  // ---- statements --------------------------------------------------------
  static bool mentions(const Expr &e, const std::string &name) {
    // Iterative walk: the parser bounds depth, but stay frugal anyway.
    std::vector<const Expr *> stack{&e};
    while (!stack.empty()) {
      const Expr *x = stack.back();
      stack.pop_back();
      if (x->kind == Expr::Ident && x->name == name) return true;
      for (const auto &a : x->args) stack.push_back(a.get());
    }
    return false;
  }

  std::vector<Dim> declDims(const DimList &dl, bool allowMatrix) {
    std::vector<Dim> dims;
    for (size_t i = 0; i < dl.dims.size(); ++i) {
      const std::string &n = dl.dims[i];
      if (n != "K" && n != "V") fail(dl.locs[i], "unknown dimension '" + n + "' (expected K or V)");
      dims.push_back(n == "K" ? Dim::K : Dim::V);
    }
    if (dims.size() > 2 || (dims.size() == 2 && (!allowMatrix || dims[0] != Dim::K || dims[1] != Dim::V)))
      fail(dl.locs.back(), allowMatrix ? "a parameter is a scalar, [K], [V] or [K, V]"
                                       : "an input is a per-token scalar, [K] or [V]");
    return dims;
  }

  void declare(const std::string &name, Loc loc, bool isParam, std::vector<Dim> dims) {
    if (kReserved.count(name)) fail(loc, "'" + name + "' is a reserved name");
    if (env.count(name)) fail(loc, "'" + name + "' is already declared");
    Node n{isParam ? Node::Param : Node::Input};
    n.name = name;
    n.dims = std::move(dims);
    n.var = isParam ? Var::Head : Var::Token;
    n.loc = loc;
    int id = addNode(n);
    d.args.push_back({name, isParam, id});
    env[name] = Binding{Binding::Value, tensor(id, loc)};
  }

  void findStates() {
    std::set<std::string> bound;
    for (const auto &in : spec.inputs) bound.insert(in.name);
    for (size_t i = 0; i < spec.body.size(); ++i) {
      const Stmt &st = spec.body[i];
      if (st.kind == Stmt::Param) {
        bound.insert(st.name);
        continue;
      }
      if (!bound.count(st.name) && st.name != "o" && mentions(*st.value, st.name)) {
        StateInfo s;
        s.name = st.name;
        s.loc = st.loc;
        s.update = st.value.get();
        s.stmtIndex = i;
        const Expr &v = *st.value;
        s.isStabilizer = v.kind == Expr::Call && v.name == "max";
        states.push_back(s);
      }
      bound.insert(st.name);
    }
  }

  // ---- structure ----------------------------------------------------------
  struct Transition {
    std::string structure, dplrDiag = "none";
    int decay = -1, dt = -1, a = -1, b = -1;
    bool operator==(const Transition &o) const {
      return structure == o.structure && dplrDiag == o.dplrDiag && decay == o.decay && dt == o.dt &&
             a == o.a && b == o.b;
    }
  };

  int logOf(int n, Loc loc) { return unary("log", n, loc); }

  Transition classify(const StateInfo &s) {
    const Val &v = s.value;
    Transition t;
    const Term *diag = nullptr, *rank1 = nullptr;
    for (const Term &term : v.terms) {
      if (term.rankOne()) {
        if (rank1) fail(v.loc, "the transition of '" + s.name + "' has rank > 1; only diagonal plus rank one is supported");
        rank1 = &term;
      } else {
        if (diag) fail(v.loc, "the transition of '" + s.name + "' has two diagonal parts; factor them into one");
        diag = &term;
      }
    }
    if (!diag) fail(v.loc, "the transition of '" + s.name + "' has no diagonal part (A_t = a b^T alone is singular)");
    Loc loc = v.loc;
    if (diag->vdiag >= 0)
      fail(node(diag->vdiag).loc, "a decay along V on a matrix state must be written as exp(A * dt) with A a "
                                  "per-head [K, V] parameter");
    if (diag->elem >= 0) {
      if (diag->coef >= 0 || diag->diag >= 0)
        fail(loc, "an elementwise decay cannot be combined with another decay factor; fold it into exp(A * dt)");
      t.structure = "elementwise";
      int x = logOf(diag->elem, loc);
      const Node &n = node(x);
      auto isHeadMatrix = [&](int id) { return node(id).var != Var::Token && node(id).dims.size() == 2; };
      auto isTokenV = [&](int id) {
        const Node &m = node(id);
        return m.var == Var::Token && (m.dims.empty() || (m.dims.size() == 1 && m.dims[0] == Dim::V));
      };
      if (n.kind == Node::Binary && n.name == "mul" && isHeadMatrix(n.a) && isTokenV(n.b)) {
        t.decay = n.a;
        t.dt = n.b;
      } else if (n.kind == Node::Binary && n.name == "mul" && isHeadMatrix(n.b) && isTokenV(n.a)) {
        t.decay = n.b;
        t.dt = n.a;
      } else if (isHeadMatrix(x)) {
        t.decay = x;
      } else {
        fail(node(diag->elem).loc, "an elementwise decay must be exp(A * dt) with A a per-head [K, V] "
                                   "parameter and dt a per-token [V] vector or scalar");
      }
      return t;
    }
    int logDecay = -1;
    if (diag->coef >= 0) logDecay = logOf(diag->coef, loc);
    if (diag->diag >= 0) {
      int l = logOf(diag->diag, loc);
      logDecay = logDecay < 0 ? l : binary("add", logDecay, l, loc);
    }
    if (rank1) {
      t.structure = "dplr";
      t.a = rank1->ra;
      t.b = rank1->rb;
      for (int x : {t.a, t.b})
        if (node(x).var != Var::Token)
          fail(node(x).loc, "the rank-one factors of the transition must vary per token");
      if (logDecay >= 0) {
        if (node(logDecay).var != Var::Token)
          fail(loc, "a constant decay in a diagonal-plus-low-rank transition is not supported; "
                    "it must vary per token");
        t.dplrDiag = node(logDecay).dims.empty() ? "scalar" : "vector";
        t.decay = logDecay;
      }
      return t;
    }
    if (logDecay < 0) {
      t.structure = "identity";
    } else if (!node(logDecay).dims.empty()) {
      if (node(logDecay).var != Var::Token)
        fail(loc, "a constant vector decay is not supported; it must vary per token");
      t.structure = "vector";
      t.decay = logDecay;
    } else {
      t.structure = node(logDecay).var == Var::Token ? "scalar" : "const_scalar";
      t.decay = logDecay;
    }
    return t;
  }

  // ---- the readout ---------------------------------------------------------
  struct Readout {
    int q = -1;
    int scale = -1;
    Outer bonus;    // (u * k) v^T of the bonus form, when present
    Loc bonusLoc;
    bool readsPrevious = false;
    std::string normalizer = "none";
    int eps = -1;
    int normState = -1, stabState = -1;
    Loc loc;
  };

  int stateIndex(const Expr &e, bool wantStabilizer) {
    if (e.kind != Expr::Ident) return -1;
    for (size_t i = 0; i < states.size(); ++i)
      if (states[i].name == e.name && states[i].isStabilizer == wantStabilizer) return (int)i;
    return -1;
  }

  int queryOf(const Expr &e) {
    Val q = eval(e);
    if (q.kind != Val::Tensor || q.transposed || tnode(q).dims.size() != 1 || tnode(q).dims[0] != d.keyDim ||
        tnode(q).var != Var::Token)
      fail(e.loc, std::string("the query must be a per-token [") + dimName(d.keyDim) + "] vector, got " + kindStr(q));
    return q.node;
  }

  // z^T q with z a vector state: returns the state.
  int normRead(const Expr &e, int q) {
    if (e.kind != Expr::MatMul || e.arg(0).kind != Expr::Transpose) return -1;
    int z = stateIndex(e.arg(0).arg(0), false);
    if (z < 0 || z == matrixState) return -1;
    if (queryOf(e.arg(1)) != q) fail(e.arg(1).loc, "the normalizer must read the same query as the state");
    return z;
  }

  int constNode(const Expr &e, const std::string &what) {
    Val v = eval(e);
    if (v.kind != Val::Tensor || !tnode(v).dims.empty() || tnode(v).var != Var::Const)
      fail(e.loc, what + " must be a constant scalar, got " +
                      (v.kind == Val::Tensor && tnode(v).dims.empty() ? std::string("a value that varies") : kindStr(v)));
    return v.node;
  }

  void denominator(const Expr &e, Readout &r) {
    if (r.normalizer != "none") fail(e.loc, "the readout has two normalizers");
    // (z^T q + eps), z^T q
    const Expr *x = &e;
    if (x->kind == Expr::Add) {
      int z = normRead(x->arg(0), r.q);
      const Expr *epsE = &x->arg(1);
      if (z < 0) {
        z = normRead(x->arg(1), r.q);
        epsE = &x->arg(0);
      }
      if (z >= 0) {
        r.normalizer = "sum";
        r.normState = z;
        r.eps = constNode(*epsE, "the normalizer's epsilon");
        return;
      }
    }
    if (int z = normRead(*x, r.q); z >= 0) {
      r.normalizer = "sum";
      r.normState = z;
      return;
    }
    // max(abs(n^T q), exp(-m))
    if (x->kind == Expr::Call && x->name == "max" && x->args.size() == 2) {
      for (int i = 0; i < 2; ++i) {
        const Expr &absE = x->arg(i), &expE = x->arg(1 - i);
        if (absE.kind == Expr::Call && absE.name == "abs" && absE.args.size() == 1 && expE.kind == Expr::Call &&
            expE.name == "exp" && expE.args.size() == 1 && expE.arg(0).kind == Expr::Neg) {
          int z = normRead(absE.arg(0), r.q);
          int m = stateIndex(expE.arg(0).arg(0), true);
          if (z >= 0 && m >= 0) {
            r.normalizer = "mlstm";
            r.normState = z;
            r.stabState = m;
            return;
          }
        }
        // max(abs(z^T q), c): a floor c > 0 under |z^T q|.
        if (absE.kind == Expr::Call && absE.name == "abs" && absE.args.size() == 1) {
          int z = normRead(absE.arg(0), r.q);
          if (z < 0) continue;
          r.normalizer = "max_abs";
          r.normState = z;
          r.eps = constNode(expE, "the normalizer's floor");
          if (!(node(r.eps).kind == Node::Const && node(r.eps).value > 0))
            fail(expE.loc, "the normalizer's floor must be a positive number");
          return;
        }
      }
    }
    Val v = eval(e);
    if (v.kind == Val::Tensor && tnode(v).dims.empty() && tnode(v).var == Var::Const) {
      r.scale = binary("div", r.scale < 0 ? constant(1, e.loc) : r.scale, v.node, e.loc);
      return;
    }
    fail(e.loc, "unsupported denominator: expected a constant, z^T q, (z^T q + eps), max(abs(z^T q), c) or "
                "max(abs(n^T q), exp(-m))");
  }

  // Flattens a product into numerator and denominator factors. A read x^T q
  // (the state's or a normalizer's, z^T q) stays one factor.
  void factors(const Expr &e, std::vector<const Expr *> &num, std::vector<const Expr *> &den, bool inv, int &sign) {
    if (e.kind == Expr::Mul ||
        (e.kind == Expr::MatMul && !isStateRead(e) && e.arg(0).kind != Expr::Transpose)) {
      factors(e.arg(0), num, den, inv, sign);
      factors(e.arg(1), num, den, inv, sign);
    } else if (e.kind == Expr::Div) {
      factors(e.arg(0), num, den, inv, sign);
      factors(e.arg(1), num, den, !inv, sign);
    } else if (e.kind == Expr::Neg) {
      sign = -sign;
      factors(e.arg(0), num, den, inv, sign);
    } else {
      (inv ? den : num).push_back(&e);
    }
  }

  bool isStateRead(const Expr &e) {
    if (e.kind != Expr::MatMul || e.arg(0).kind != Expr::Transpose) return false;
    const Expr &s = e.arg(0).arg(0);
    if (s.kind == Expr::Ident) return stateIndex(s, false) == matrixState;
    return (s.kind == Expr::Add) && (stateIndex(s.arg(0), false) == matrixState || stateIndex(s.arg(1), false) == matrixState);
  }

  bool mentionsState(const Expr &e) {
    for (const StateInfo &s : states)
      if (mentions(e, s.name)) return true;
    return false;
  }

  Readout readout(const Expr &e, int sign) {
    Readout r;
    r.loc = e.loc;
    std::vector<const Expr *> num, den;
    factors(e, num, den, false, sign);
    const Expr *read = nullptr;
    for (const Expr *f : num)
      if (isStateRead(*f)) {
        if (read) fail(f->loc, "the readout reads the state twice");
        read = f;
      }
    if (!read) fail(e.loc, "expected the readout S^T q");
    r.q = queryOf(read->arg(1));
    const Expr &s = read->arg(0).arg(0);
    r.readsPrevious = !states[matrixState].updated;
    if (s.kind == Expr::Add) {
      const Expr &bonusE = stateIndex(s.arg(0), false) == matrixState ? s.arg(1) : s.arg(0);
      Val bv = eval(bonusE);
      if (bv.kind != Val::OuterSum || bv.outers.size() != 1)
        fail(bonusE.loc, "the bonus term must be (u * k) v^T, got " + kindStr(bv));
      r.bonus = bv.outers[0];
      r.bonusLoc = bonusE.loc;
    }
    for (const Expr *f : num) {
      if (f == read) continue;
      int c = constNode(*f, "a factor of the readout");
      r.scale = r.scale < 0 ? c : binary("mul", r.scale, c, f->loc);
    }
    for (const Expr *f : den) denominator(*f, r);
    if (sign < 0) r.scale = binary("mul", r.scale < 0 ? constant(1, e.loc) : r.scale, constant(-1, e.loc), e.loc);
    return r;
  }

  int matrixState = -1;

  // An elementwise recurrence over a [V] vector, h = f . h + x (HGRN): the
  // unified form with K = 1, q = k = 1 and an elementwise decay exp(1 * log f).
  MixerDesc vectorStateMixer(int si, const Stmt *outStmt, std::map<std::string, Binding> &outEnv,
                             const std::vector<bool> &updatedAtOutput) {
    StateInfo &h = states[si];
    for (size_t i = 0; i < states.size(); ++i)
      if ((int)i != si) fail(states[i].loc, "the state '" + states[i].name + "' is never read by the output");
    const Val &v = h.value;
    if (v.terms.size() != 1 || v.terms[0].rankOne() || v.terms[0].diag >= 0 || v.terms[0].elem >= 0)
      fail(h.update->loc, "a [V] state must be updated as f * " + h.name + " + x with f a per-token [V] gate");
    const Term &t = v.terms[0];
    int logDecay = -1;
    if (t.vdiag >= 0) logDecay = logOf(t.vdiag, v.loc);
    if (t.coef >= 0) logDecay = logDecay < 0 ? logOf(t.coef, v.loc) : binary("add", logDecay, logOf(t.coef, v.loc), v.loc);
    if (logDecay < 0 || node(logDecay).var != Var::Token)
      fail(h.update->loc, "a [V] state needs a decay gate that varies per token");
    if (!outStmt) fail(spec.nameLoc, "the mixer has no output: expected 'o = " + h.name + "'");
    if (!updatedAtOutput[si]) fail(outStmt->loc, "the output must follow the update of '" + h.name + "'");
    int x = v.freeNodes[0];
    if (node(x).var != Var::Token) fail(node(x).loc, "the written value must vary per token");
    d.structure = "elementwise";
    d.keyDim = Dim::One;
    d.decay = constant(1.0, v.loc);
    d.dt = logDecay;
    d.v = x;
    d.k = d.q = unary("ones", x, v.loc);
    d.stateLoc = h.loc;
    d.stateNames.push_back(h.name);
    std::swap(env, outEnv);
    // o = c * h, c a constant.
    std::vector<const Expr *> num, den;
    int sign = 1;
    factors(*outStmt->value, num, den, false, sign);
    bool read = false;
    for (const Expr *f : num) {
      if (f->kind == Expr::Ident && f->name == h.name && !read) {
        read = true;
        continue;
      }
      int c = constNode(*f, "a factor of the output");
      d.scale = d.scale < 0 ? c : binary("mul", d.scale, c, f->loc);
    }
    for (const Expr *f : den) {
      int c = constNode(*f, "a divisor of the output");
      d.scale = binary("div", d.scale < 0 ? constant(1, f->loc) : d.scale, c, f->loc);
    }
    if (sign < 0) d.scale = binary("mul", d.scale < 0 ? constant(1, outStmt->loc) : d.scale, constant(-1, outStmt->loc), outStmt->loc);
    if (!read) fail(outStmt->value->loc, "the output must read the state: expected 'o = " + h.name + "'");
    return d;
  }

public:
  MixerDesc analyze();
};

MixerDesc Analyzer::analyze() {
  d.name = spec.name;
  d.direction = spec.direction;
  for (const InputDecl &in : spec.inputs) declare(in.name, in.loc, false, declDims(in.dims, false));
  findStates();
  for (size_t i = 0; i < states.size(); ++i)
    if (kReserved.count(states[i].name)) fail(states[i].loc, "'" + states[i].name + "' is a reserved name");

  const Stmt *outStmt = nullptr;
  std::map<std::string, Binding> outEnv;
  std::vector<bool> updatedAtOutput;
  for (size_t i = 0; i < spec.body.size(); ++i) {
    const Stmt &st = spec.body[i];
    if (st.kind == Stmt::Param) {
      declare(st.name, st.loc, true, declDims(st.dims, true));
      continue;
    }
    if (st.name == "o") {
      if (outStmt) fail(st.loc, "the output 'o' is assigned twice");
      outStmt = &st;
      outEnv = env;
      for (const StateInfo &s : states) updatedAtOutput.push_back(s.updated);
      continue;
    }
    auto stateIt = std::find_if(states.begin(), states.end(), [&](const StateInfo &s) { return s.stmtIndex == i; });
    if (stateIt != states.end()) {
      int si = (int)(stateIt - states.begin());
      // Every state is visible from its own update on (and to the readout).
      for (size_t j = 0; j < states.size(); ++j)
        if (!env.count(states[j].name)) env[states[j].name] = Binding{Binding::State, Val{}, (int)j};
      if (stateIt->isStabilizer) {
        stateIt->updated = true;
        continue; // checked against the matrix state below
      }
      Val v = eval(*st.value);
      if (v.kind != Val::Affine || v.state != si)
        fail(st.value->loc, "the update of '" + st.name + "' is not linear in '" + st.name + "'");
      stateIt->value = v;
      stateIt->updated = true;
      continue;
    }
    if (env.count(st.name) && env[st.name].kind == Binding::State)
      fail(st.loc, "the state '" + st.name + "' is updated twice");
    if (mentionsState(*st.value)) {
      for (const StateInfo &s : states)
        if (mentions(*st.value, s.name))
          fail(st.value->loc, "'" + st.name + "' depends on the state '" + s.name +
                                  "'; only the state's own update and the output may");
    }
    Val v = eval(*st.value);
    if (kReserved.count(st.name)) fail(st.loc, "'" + st.name + "' is a reserved name");
    env[st.name] = Binding{Binding::Value, v};
  }

  // The matrix state: the one whose update writes an outer product.
  for (size_t i = 0; i < states.size(); ++i) {
    if (states[i].isStabilizer) continue;
    if (!states[i].value.outers.empty()) {
      if (matrixState >= 0)
        fail(states[i].loc, "a second matrix state '" + states[i].name + "'; a mixer has one");
      matrixState = (int)i;
    }
  }
  if (matrixState < 0) {
    for (size_t i = 0; i < states.size(); ++i)
      if (!states[i].isStabilizer && states[i].value.freeNodes.size() == 1 &&
          node(states[i].value.freeNodes[0]).dims == std::vector<Dim>{Dim::V})
        return vectorStateMixer((int)i, outStmt, outEnv, updatedAtOutput);
  }
  if (matrixState < 0)
    fail(states.empty() ? spec.nameLoc : states[0].loc,
         states.empty() ? "the mixer has no state: expected an update such as 'S = A S + k v^T'"
                        : "the update of '" + states[0].name + "' writes no outer product k v^T");
  StateInfo &S = states[matrixState];
  d.stateLoc = S.loc;
  if (S.value.outers.size() != 1 || !S.value.freeNodes.empty())
    fail(S.update->loc, "the update of '" + S.name + "' must write exactly one outer product k v^T");
  Outer w = S.value.outers[0];
  d.keyDim = node(w.a).dims[0];
  for (int x : {w.a, w.b})
    if (node(x).var != Var::Token) fail(node(x).loc, "the written key and value must vary per token");
  Transition tr = classify(S);
  d.structure = tr.structure;
  d.dplrDiag = tr.dplrDiag;
  d.decay = tr.decay;
  d.dt = tr.dt;
  d.a = tr.a;
  d.b = tr.b;
  d.k = w.a;
  d.v = w.b;
  d.stateNames.push_back(S.name);

  if (!outStmt) fail(spec.nameLoc, "the mixer has no output: expected 'o = S^T q'");
  // Evaluate the output in the environment it was written in.
  std::swap(env, outEnv);
  for (size_t i = 0; i < states.size(); ++i) {
    states[i].updated = updatedAtOutput[i];
    env[states[i].name] = Binding{Binding::State, Val{}, (int)i};
  }
  // o = [sign] readout [+ D * x]
  std::vector<std::pair<const Expr *, int>> addends;
  std::function<void(const Expr &, int)> flatten = [&](const Expr &e, int sign) {
    if (e.kind == Expr::Add || e.kind == Expr::Sub) {
      flatten(e.arg(0), sign);
      flatten(e.arg(1), e.kind == Expr::Sub ? -sign : sign);
    } else {
      addends.push_back({&e, sign});
    }
  };
  flatten(*outStmt->value, 1);
  const Expr *readE = nullptr;
  int readSign = 1;
  for (auto [e, sign] : addends) {
    if (mentionsState(*e)) {
      if (readE) fail(e->loc, "the output reads the state twice");
      readE = e;
      readSign = sign;
      continue;
    }
    Val sk = eval(*e);
    const Node *n = sk.kind == Val::Tensor ? &tnode(sk) : nullptr;
    if (!n || n->kind != Node::Binary || n->name != "mul" || sign < 0 ||
        n->dims != std::vector<Dim>{Dim::V} || n->var != Var::Token)
      fail(e->loc, "a term added to the readout must be a skip D * x, D a [V] parameter and x a [V] input");
    int p = n->a, x = n->b;
    if (node(p).var == Var::Token) std::swap(p, x);
    if (node(p).var == Var::Token || node(p).dims.size() != 1 || node(x).dims.size() != 1)
      fail(e->loc, "a skip term must be D * x with D a per-head [V] parameter and x a per-token [V] vector");
    if (d.skipWeight >= 0) fail(e->loc, "the output has two skip terms");
    d.skipWeight = p;
    d.skipInput = x;
  }
  if (!readE) fail(outStmt->value->loc, "the output does not read the state: expected 'o = S^T q'");
  Readout r = readout(*readE, readSign);
  d.q = r.q;
  d.scale = r.scale;
  d.normalizer = r.normalizer;
  d.eps = r.eps;
  if (r.readsPrevious != (r.bonus.a >= 0)) {
    if (r.readsPrevious)
      fail(readE->loc, "the output reads '" + S.name + "' before its update; that form needs the bonus "
                       "(" + S.name + " + (u * k) v^T)^T q");
    fail(r.bonusLoc, "a bonus term reads the state before its update: move 'o = ...' above the update of '" +
                              S.name + "'");
  }
  if (r.bonus.a >= 0) {
    if (r.bonus.b != d.v) fail(r.bonusLoc, "the bonus must write the same value v as the update");
    const Node &ua = node(r.bonus.a);
    int u = -1;
    if (ua.kind == Node::Binary && ua.name == "mul") {
      if (ua.b == d.k) u = ua.a;
      else if (ua.a == d.k) u = ua.b;
    }
    if (u < 0 || node(u).var == Var::Token || node(u).dims != std::vector<Dim>{d.keyDim})
      fail(r.bonusLoc, "the bonus must be (u * k) v^T with u a per-head [K] parameter and k the written key");
    d.bonus = u;
  }

  // Normalizer and stabilizer states must follow the matrix state.
  std::set<int> used{matrixState};
  if (r.normState >= 0) {
    StateInfo &z = states[r.normState];
    if (d.structure == "elementwise")
      fail(z.loc, "a normalizer is not defined for an elementwise decay");
    if (!updatedAtOutput[r.normState]) fail(z.loc, "the normalizer '" + z.name + "' must be updated before the output");
    if (z.value.freeNodes.size() != 1 || !z.value.outers.empty())
      fail(z.update->loc, "the normalizer '" + z.name + "' must be updated as A " + z.name + " + k");
    Transition tz = classify(z);
    if (!(tz == tr)) fail(z.update->loc, "the normalizer '" + z.name + "' must have the same transition as '" + S.name + "'");
    if (z.value.freeNodes[0] != d.k) fail(z.update->loc, "the normalizer '" + z.name + "' must add the key written to '" + S.name + "'");
    used.insert(r.normState);
    d.stateNames.push_back(z.name);
  }
  if (r.normalizer == "mlstm") {
    StateInfo &m = states[r.stabState];
    if (!updatedAtOutput[r.stabState]) fail(m.loc, "the stabilizer '" + m.name + "' must be updated before the output");
    if (d.structure != "scalar" && d.structure != "const_scalar")
      fail(S.update->loc, "an mLSTM state needs a scalar decay exp(g) * " + S.name);
    // The write is exp(i) * k v^T: split off the input gate.
    const Node &wk = node(d.k);
    int gate = -1, key = -1;
    if (wk.kind == Node::Binary && wk.name == "mul") {
      if (node(wk.a).kind == Node::Unary && node(wk.a).name == "exp") gate = node(wk.a).a, key = wk.b;
      else if (node(wk.b).kind == Node::Unary && node(wk.b).name == "exp") gate = node(wk.b).a, key = wk.a;
    }
    if (gate < 0 || !node(gate).dims.empty())
      fail(S.update->loc, "an mLSTM update must write exp(i) * k v^T with i a per-token scalar input gate");
    // m = max(g + m, i)
    const Expr &mx = *m.update;
    bool ok = mx.args.size() == 2;
    if (ok) {
      ok = false;
      for (int j = 0; j < 2 && !ok; ++j) {
        const Expr &sum = mx.arg(j), &ig = mx.arg(1 - j);
        if (sum.kind != Expr::Add) continue;
        for (int l = 0; l < 2 && !ok; ++l) {
          if (stateIndex(sum.arg(l), true) != r.stabState) continue;
          Val g = eval(sum.arg(1 - l)), i = eval(ig);
          ok = g.kind == Val::Tensor && i.kind == Val::Tensor && g.node == d.decay && i.node == gate;
        }
      }
    }
    if (!ok)
      fail(mx.loc, "the stabilizer must be " + m.name + " = max(g + " + m.name + ", i) with exp(g) the decay of '" +
                       S.name + "' and exp(i) its input gate");
    d.igate = gate;
    d.k = key;
    used.insert(r.stabState);
    d.stateNames.push_back(m.name);
  }
  for (size_t i = 0; i < states.size(); ++i)
    if (!used.count((int)i)) fail(states[i].loc, "the state '" + states[i].name + "' is never read by the output");

  // Every node MLIR will emit must have a plain broadcast.
  std::vector<int> roots = {d.q, d.k, d.v, d.decay, d.dt, d.a, d.b, d.igate, d.bonus, d.skipWeight, d.skipInput};
  std::vector<bool> seen(d.nodes.size());
  while (!roots.empty()) {
    int n = roots.back();
    roots.pop_back();
    if (n < 0 || seen[n]) continue;
    seen[n] = true;
    if (d.nodes[n].columnBroadcast)
      fail(d.nodes[n].loc, "a [V] vector times a [K, V] matrix is only supported as the decay exp(A * dt)");
    roots.push_back(d.nodes[n].a);
    roots.push_back(d.nodes[n].b);
  }
  for (int x : {d.q, d.k, d.v})
    if (node(x).var != Var::Token) fail(node(x).loc, "q, k and v must vary per token");
  if (d.direction == "bidirectional" && (d.bonus >= 0 || d.normalizer == "mlstm"))
    fail(spec.directionLoc, "a bidirectional mixer cannot have a bonus or an mLSTM normalizer");
  return d;
}

} // namespace

AnalysisResult analyze(const SourceFile &src) {
  AnalysisResult r;
  try {
    Spec spec = parse(src);
    r.desc = Analyzer(spec).analyze();
  } catch (const SpecError &e) {
    r.error = renderError(src, e.loc, e.what());
  }
  return r;
}

double evalConst(const MixerDesc &desc, int id, const Sizes &sizes) {
  const Node &n = desc.nodes[id];
  switch (n.kind) {
  case Node::Const: return n.value;
  // K is the declared key size, also where a feature map widens the state.
  case Node::DimValue: return n.name == "K" ? sizes.K : n.name == "V" ? sizes.V : sizes.H;
  case Node::Unary: {
    double x = evalConst(desc, n.a, sizes);
    if (n.name == "neg") return -x;
    if (n.name == "exp") return std::exp(x);
    if (n.name == "log") return std::log(x);
    if (n.name == "sqrt") return std::sqrt(x);
    if (n.name == "abs") return std::fabs(x);
    if (n.name == "sigmoid") return 1 / (1 + std::exp(-x));
    if (n.name == "tanh") return std::tanh(x);
    if (n.name == "softplus") return std::log1p(std::exp(x));
    if (n.name == "logsigmoid") return -std::log1p(std::exp(-x));
    if (n.name == "relu") return std::max(x, 0.0);
    return x;
  }
  case Node::Binary: {
    double a = evalConst(desc, n.a, sizes), b = evalConst(desc, n.b, sizes);
    if (n.name == "add") return a + b;
    if (n.name == "sub") return a - b;
    if (n.name == "mul") return a * b;
    if (n.name == "div") return a / b;
    if (n.name == "max") return std::max(a, b);
    if (n.name == "min") return std::min(a, b);
    return std::pow(a, b);
  }
  default: return 0;
  }
}

std::string describe(const MixerDesc &d) {
  std::string s = "mixer " + d.name + "\n";
  std::string st = d.structure;
  static const std::map<std::string, std::string> what = {
      {"identity", "A_t = I"},
      {"const_scalar", "A_t = gamma_h I (constant per head)"},
      {"scalar", "A_t = exp(g_t) I"},
      {"vector", "A_t = Diag(exp(g_t)), g_t in R^K"},
      {"elementwise", "S <- exp(A * dt_t) . S over the whole state"},
      {"dplr", "A_t = D_t + a_t b_t^T (diagonal plus low rank)"}};
  s += "  structure:  " + st + "  (" + what.at(st) + ")\n";
  if (st == "dplr") s += "  diagonal:   " + std::string(d.dplrDiag == "none" ? "I" : d.dplrDiag == "scalar" ? "exp(g_t) I" : "Diag(exp(g_t))") + "\n";
  s += "  state:      " + d.stateNames[0] + " [" + dimName(d.keyDim) + ", V]";
  for (size_t i = 1; i < d.stateNames.size(); ++i) s += ", " + d.stateNames[i];
  s += "\n  direction:  " + d.direction + "\n";
  s += "  normalizer: " + d.normalizer + "\n";
  std::string parts;
  if (d.bonus >= 0) parts += " bonus";
  if (d.skipWeight >= 0) parts += " skip";
  if (d.scale >= 0) parts += " scale";
  if (!parts.empty()) s += "  extras:    " + parts + "\n";
  s += "  inputs:    ";
  for (const Argument &a : d.args) {
    const Node &n = d.nodes[a.node];
    s += " " + a.name;
    if (!n.dims.empty()) {
      s += "[";
      for (size_t i = 0; i < n.dims.size(); ++i) s += (i ? "," : "") + std::string(dimName(n.dims[i]));
      s += "]";
    }
    if (a.isParam) s += "(per head)";
  }
  return s + "\n";
}

} // namespace mixc::spec
