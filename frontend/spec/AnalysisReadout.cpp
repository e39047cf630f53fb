// Part of the spec analyzer (Analyzer.h): the readout o = ... (the state read,
// its normalizer and stabilizer, the bonus and the skip).
#include "frontend/spec/Analyzer.h"

namespace mixc::spec::analysis {

int Analyzer::stateIndex(const Expr &e, bool wantStabilizer) {
  if (e.kind != Expr::Ident) return -1;
  for (size_t i = 0; i < states.size(); ++i)
    if (states[i].name == e.name && states[i].isStabilizer == wantStabilizer) return (int)i;
  return -1;
}

int Analyzer::queryOf(const Expr &e) {
  Val q = eval(e);
  if (q.kind != Val::Tensor || q.transposed || tnode(q).dims.size() != 1 || tnode(q).dims[0] != d.keyDim ||
      tnode(q).var != Var::Token)
    fail(e.loc, std::string("the query must be a per-token [") + dimName(d.keyDim) + "] vector, got " + kindStr(q));
  return q.node;
}

// z^T q with z a vector state: returns the state.
int Analyzer::normRead(const Expr &e, int q) {
  if (e.kind != Expr::MatMul || e.arg(0).kind != Expr::Transpose) return -1;
  int z = stateIndex(e.arg(0).arg(0), false);
  if (z < 0 || z == matrixState) return -1;
  if (queryOf(e.arg(1)) != q) fail(e.arg(1).loc, "the normalizer must read the same query as the state");
  return z;
}

int Analyzer::constNode(const Expr &e, const std::string &what) {
  Val v = eval(e);
  if (v.kind != Val::Tensor || !tnode(v).dims.empty() || tnode(v).var != Var::Const)
    fail(e.loc, what + " must be a constant scalar, got " +
                    (v.kind == Val::Tensor && tnode(v).dims.empty() ? std::string("a value that varies") : kindStr(v)));
  return v.node;
}

void Analyzer::denominator(const Expr &e, Readout &r) {
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
void Analyzer::factors(const Expr &e, std::vector<const Expr *> &num, std::vector<const Expr *> &den, bool inv, int &sign) {
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

bool Analyzer::isStateRead(const Expr &e) {
  if (e.kind != Expr::MatMul || e.arg(0).kind != Expr::Transpose) return false;
  const Expr &s = e.arg(0).arg(0);
  if (s.kind == Expr::Ident) return stateIndex(s, false) == matrixState;
  return (s.kind == Expr::Add) && (stateIndex(s.arg(0), false) == matrixState || stateIndex(s.arg(1), false) == matrixState);
}

bool Analyzer::mentionsState(const Expr &e) {
  for (const StateInfo &s : states)
    if (mentions(e, s.name)) return true;
  return false;
}

Analyzer::Readout Analyzer::readout(const Expr &e, int sign) {
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


// An elementwise recurrence over a [V] vector, h = f . h + x (HGRN): the
// unified form with K = 1, q = k = 1 and an elementwise decay exp(1 * log f).
MixerDesc Analyzer::vectorStateMixer(int si, const Stmt *outStmt, std::map<std::string, Binding> &outEnv, const std::vector<bool> &updatedAtOutput) {
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

} // namespace mixc::spec::analysis
