#include "frontend/spec/Analyzer.h"

#include <cmath>

namespace mixc::spec {

const char *dimName(Dim d) {
  switch (d) {
  case Dim::K: return "K";
  case Dim::V: return "V";
  case Dim::F: return "F";
  case Dim::Taylor: return "1+K+K^2";
  case Dim::One: return "1";
  case Dim::K2: return "2K";
  case Dim::F2: return "2F";
  }
  return "?";
}

int64_t dimSize(Dim d, const Sizes &s) {
  switch (d) {
  case Dim::K: return s.K;
  case Dim::V: return s.V;
  case Dim::F: return s.F > 0 ? s.F : s.K;
  case Dim::Taylor: return 1 + s.K + s.K * s.K;
  case Dim::One: return 1;
  case Dim::K2: return 2 * s.K;
  case Dim::F2: return 2 * (s.F > 0 ? s.F : s.K);
  }
  return 1;
}

bool usesDim(const MixerDesc &desc, Dim d) {
  for (const Node &n : desc.nodes)
    if (std::find(n.dims.begin(), n.dims.end(), d) != n.dims.end()) return true;
  return false;
}

namespace analysis {

bool Analyzer::mentions(const Expr &e, const std::string &name) {
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

std::vector<Dim> Analyzer::declDims(const DimList &dl, bool allowMatrix) {
  std::vector<Dim> dims;
  for (size_t i = 0; i < dl.dims.size(); ++i) {
    const std::string &n = dl.dims[i];
    if (n != "K" && n != "V" && n != "F") fail(dl.locs[i], "unknown dimension '" + n + "' (expected K, V or F)");
    dims.push_back(n == "K" ? Dim::K : n == "V" ? Dim::V : Dim::F);
  }
  // A parameter may be a matrix [K, V] (Mamba's A) or [K, F] (a learned
  // feature map's W); F only through such a W (the width it maps to).
  const bool matrixOk = dims.size() == 2 && dims[0] == Dim::K && (dims[1] == Dim::V || dims[1] == Dim::F);
  if (dims.size() > 2 || (dims.size() == 2 && (!allowMatrix || !matrixOk)) ||
      (!allowMatrix && !dims.empty() && dims[0] == Dim::F))
    fail(dl.locs.back(), allowMatrix ? "a parameter is a scalar, [K], [V], [F], [K, V] or [K, F]"
                                     : "an input is a per-token scalar, [K] or [V]");
  return dims;
}

void Analyzer::declare(const std::string &name, Loc loc, bool isParam, std::vector<Dim> dims) {
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

void Analyzer::findStates() {
  std::set<std::string> bound;
  for (const auto &in : spec.inputs) bound.insert(in.name);
  for (size_t i = 0; i < spec.body.size(); ++i) {
    const Stmt &st = spec.body[i];
    if (st.kind == Stmt::Memories) continue;
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

int Analyzer::logOf(int n, Loc loc) { return unary("log", n, loc); }

Analyzer::Transition Analyzer::classify(const StateInfo &s) {
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

// A Mixture-of-Memories spec: `memories M top k` and its routed inputs.
MixerDesc Analyzer::analyze() {
  const Stmt *mem = nullptr;
  for (const Stmt &st : spec.body)
    if (st.kind == Stmt::Memories) {
      if (mem) fail(st.loc, "'memories' is given twice");
      mem = &st;
    }
  bool anyRouted = false;
  for (const InputDecl &in : spec.inputs) {
    if (!in.routed) continue;
    anyRouted = true;
    if (!mem) fail(in.attrLoc, "a routed input needs a 'memories M top k' statement in the body");
    if (in.grouped) fail(in.attrLoc, "an input cannot be both grouped and routed");
  }
  if (mem) {
    if (!anyRouted) fail(mem->loc, "a mixture of memories needs a routed input (e.g. 'k[K] routed')");
    if (mem->memories != std::floor(mem->memories) || mem->memories < 1 || mem->memories > 4096)
      fail(mem->memoriesLoc, "the number of memories must be a whole number from 1 to 4096");
    if (mem->top != std::floor(mem->top) || mem->top < 1 || mem->top > mem->memories)
      fail(mem->topLoc, "top k must be a whole number from 1 to the number of memories");
    if (spec.direction != "forward") fail(spec.directionLoc, "a mixture of memories runs forward only");
  }
  MixerDesc desc = analyzeMixer();
  if (mem) {
    if (desc.normalizer == "mlstm")
      fail(mem->loc, "a mixture of memories with an mLSTM stabilizer is not supported");
    desc.memories = (int64_t)mem->memories;
    desc.topk = (int64_t)mem->top;
  }
  return desc;
}

MixerDesc Analyzer::analyzeMixer() {
  d.name = spec.name;
  d.direction = spec.direction;
  for (const InputDecl &in : spec.inputs) {
    declare(in.name, in.loc, false, declDims(in.dims, false));
    d.args.back().grouped = in.grouped;
    d.args.back().routed = in.routed;
    d.nodes[d.args.back().node].routed = in.routed;
  }
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
    if (st.kind == Stmt::Memories) continue; // read by analyze()
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
    // A transposed matrix only exists as the left factor of W^T x.
    if (v.kind == Val::Tensor && v.transposed && tnode(v).dims.size() == 2)
      fail(st.value->loc, "cannot transpose " + shapeStr(tnode(v).dims) + " except to apply it to a vector: W^T x");
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

} // namespace analysis

using analysis::Analyzer;

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
    if (a.grouped) s += "(grouped)";
    if (a.routed) s += "(routed)";
  }
  if (d.memories) s += "\n  memories:   " + std::to_string(d.memories) + ", each token updates its top " +
                       std::to_string(d.topk) + " (routed)";
  return s + "\n";
}

} // namespace mixc::spec
