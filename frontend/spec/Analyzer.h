// The analyzer behind spec::analyze: the expression DAG and abstract values
// (AnalysisValues.cpp), the statements and the transition's structure
// (Analysis.cpp), the readout (AnalysisReadout.cpp). Internal to frontend/spec.
#ifndef MIXC_FRONTEND_SPEC_ANALYZER_H
#define MIXC_FRONTEND_SPEC_ANALYZER_H

#include "frontend/spec/Analysis.h"
#include "frontend/spec/Parser.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <tuple>

namespace mixc::spec::analysis {

inline std::string shapeStr(const std::vector<Dim> &dims, bool transposed = false) {
  if (dims.empty()) return "a scalar";
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::string(dimName(dims[i]));
  return s + "]" + (transposed ? "^T" : "");
}

inline const std::set<std::string> kUnaryFns = {"exp", "log", "sigmoid", "logsigmoid", "softplus", "silu",
                                         "elu", "relu", "abs", "sqrt", "tanh", "l2norm", "taylor2", "sum",
                                         "softmax"};
inline const std::set<std::string> kReserved = {"I", "K", "V", "H", "h", "T", "param", "mixer"};

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
    n.routed = in.routed;
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
        n.dims = {Dim::Taylor};
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
    // A routed row is one memory's view of a token; a per-token value has no
    // memory, so the two do not combine row by row.
    if (p.var == Var::Token && s.var == Var::Token && p.routed != s.routed)
      fail(loc, "mixes a routed value (a row per chosen memory) with an unrouted one (a row per token)");
    n.routed = p.routed || s.routed;
    // Broadcast by dimension name; a dot product of two vectors is a scalar,
    // x^T W a row of W's columns, concat the rows side by side.
    if (fn == "dot") n.dims = {};
    else if (fn == "vecmat") n.dims = {s.dims[1]};
    else if (fn == "concat") n.dims = {p.dims[0] == Dim::K ? Dim::K2 : Dim::F2};
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
  Val tensor(int n, Loc loc, bool transposed = false);
  const Node &tnode(const Val &v);
  bool isScalar(const Val &v);
  std::string kindStr(const Val &v);
  Val scaleBy(const Val &t, Val v, Loc loc);
  Val negate(Val v, Loc loc);
  Val add(Val x, Val y, Loc loc);
  Val multiply(Val x, Val y, Loc loc);
  Term compose(const Term &p, const Term &t, Loc loc);
  Val matmul(Val x, Val y, Loc loc);
  Val call(const Expr &e);
  Val ident(const Expr &e);
  Val eval(const Expr &e);

  // ---- statements --------------------------------------------------------
  static bool mentions(const Expr &e, const std::string &name);
  std::vector<Dim> declDims(const DimList &dl, bool allowMatrix);
  void declare(const std::string &name, Loc loc, bool isParam, std::vector<Dim> dims);
  void findStates();
  struct Transition {
    std::string structure, dplrDiag = "none";
    int decay = -1, dt = -1, a = -1, b = -1;
    bool operator==(const Transition &o) const {
      return structure == o.structure && dplrDiag == o.dplrDiag && decay == o.decay && dt == o.dt &&
             a == o.a && b == o.b;
    }
  };
  int logOf(int n, Loc loc);
  Transition classify(const StateInfo &s);


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
  int stateIndex(const Expr &e, bool wantStabilizer);
  int queryOf(const Expr &e);
  int normRead(const Expr &e, int q);
  int constNode(const Expr &e, const std::string &what);
  void denominator(const Expr &e, Readout &r);
  void factors(const Expr &e, std::vector<const Expr *> &num, std::vector<const Expr *> &den, bool inv, int &sign);
  bool isStateRead(const Expr &e);
  bool mentionsState(const Expr &e);
  Readout readout(const Expr &e, int sign);
  int matrixState = -1;
  MixerDesc vectorStateMixer(int si, const Stmt *outStmt, std::map<std::string, Binding> &outEnv,
                             const std::vector<bool> &updatedAtOutput);
  MixerDesc analyzeMixer();
public:
  MixerDesc analyze();
};

} // namespace mixc::spec::analysis

#endif
