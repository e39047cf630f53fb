#include "codegen/ReferenceGrad.h"

#include "dialect/MixerOps.h"
#include "runtime/reference/ArrayGrad.h"
#include "runtime/reference/RecurrenceGrad.h"

#include <cmath>

using namespace mlir;

namespace mixc {

namespace {
const char *outputName(size_t i) {
  static const char *names[] = {"o", "final_state", "final_m"};
  return names[std::min<size_t>(i, 2)];
}

double dotWith(const NamedArrays &upstream, const NamedArrays &outputs) {
  double l = 0;
  for (auto &[name, g] : upstream) {
    auto it = outputs.find(name);
    if (it == outputs.end()) continue;
    for (int64_t i = 0; i < std::min(g.size(), it->second.size()); ++i) l += g.data[i] * it->second.data[i];
  }
  return l;
}

// Adds per-row `s * x` scaled rows' gradients: rows = s[b, t, h] * x[b, t, h, :].
void scaledRowsGrad(const ref::Array &s, const ref::Array &x, const ref::Array &g, ref::Array &gs, ref::Array &gx) {
  if (g.data.empty()) return;
  if (gs.data.empty()) gs = ref::Array(s.shape);
  if (gx.data.empty()) gx = ref::Array(x.shape);
  const int64_t D = x.shape.back();
  for (int64_t row = 0; row < x.size() / D; ++row) {
    const int64_t bi = row / (x.shape[1] * x.shape[2]), ti = row / x.shape[2] % x.shape[1], hi = row % x.shape[2];
    const double f = s.at({bi, ti, hi});
    double dot = 0;
    for (int64_t i = 0; i < D; ++i) {
      dot += g.data[row * D + i] * x.data[row * D + i];
      gx.data[row * D + i] += f * g.data[row * D + i];
    }
    // s is [B, T, H] (or broadcast): the element this row read.
    int64_t off = 0;
    const std::vector<int64_t> idx = {bi, ti, hi};
    for (size_t d = 0; d < s.shape.size(); ++d) off = off * s.shape[d] + (d < 3 && s.shape[d] != 1 ? idx[d] : 0);
    gs.data[off] += dot;
  }
}
} // namespace

std::string runReferenceGrad(func::FuncOp spec, const NamedArrays &inputs, const NamedArrays &upstream,
                             NamedArrays &outputs, NamedArrays &grads) {
  ReferenceInterpreter interp(spec);
  if (std::string e = interp.run(inputs, outputs); !e.empty()) return e;
  func::FuncOp func = interp.func();
  llvm::DenseMap<Value, ref::Array> adj; // dL/d(value), shaped like the value
  auto add = [&](Value v, const ref::Array &g) {
    if (v && !g.data.empty()) ref::accumulate(adj[v], g);
  };
  Block &body = func.getBody().front();
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  for (auto [i, v] : llvm::enumerate(ret.getOperands()))
    if (auto it = upstream.find(outputName(i)); it != upstream.end()) {
      const ref::Array &value = *interp.valueOf(v);
      if (it->second.size() != value.size())
        return "upstream gradient '" + std::string(outputName(i)) + "' has shape " + it->second.shapeString() +
               ", expected " + value.shapeString();
      ref::Array g = it->second;
      g.shape = value.shape;
      add(v, g);
    }
  for (Operation &op : llvm::reverse(body.without_terminator())) {
    // Ops whose results no gradient reaches cost nothing.
    bool reached = llvm::any_of(op.getResults(), [&](Value r) { return adj.count(r); });
    if (!reached) continue;
    auto gradOf = [&](Value v) -> const ref::Array & {
      static const ref::Array empty;
      auto it = adj.find(v);
      return it == adj.end() ? empty : it->second;
    };
    if (auto m = dyn_cast<mixer::MapOp>(op)) {
      ref::Array gx;
      const std::string fn = mixer::stringifyUnaryFn(m.getFn()).str();
      if (!ref::addUnaryGrad(fn, *interp.valueOf(m.getInput()), *interp.valueOf(m.getResult()), gradOf(m.getResult()),
                             gx))
        return "no derivative for '" + fn + "'";
      add(m.getInput(), gx);
    } else if (auto bin = dyn_cast<mixer::BinaryOp>(op)) {
      ref::Array gl, gr;
      const std::string fn = mixer::stringifyBinaryFn(bin.getFn()).str();
      if (!ref::addBinaryGrad(fn, *interp.valueOf(bin.getLhs()), *interp.valueOf(bin.getRhs()),
                              gradOf(bin.getResult()), gl, gr))
        return "no derivative for '" + fn + "'";
      add(bin.getLhs(), gl);
      add(bin.getRhs(), gr);
    } else if (auto n = dyn_cast<mixer::NormalizeOp>(op)) {
      // o_j = scale x_j / den', den' = den + eps or max(|den|, eps), den = x_V.
      const ref::Array &x = *interp.valueOf(n.getInput()), &g = gradOf(n.getResult());
      ref::Array gx(x.shape);
      const int64_t Vs = x.shape.back(), V = Vs - 1, rows = x.size() / Vs;
      const double eps = n.getEps().convertToDouble(), scale = n.getScale().convertToDouble();
      for (int64_t r = 0; r < rows; ++r) {
        const double den = x.data[r * Vs + V];
        const bool maxAbs = n.getMaxAbs();
        const double d = maxAbs ? std::max(std::fabs(den), eps) : den + eps;
        const double dd = maxAbs ? (std::fabs(den) > eps ? (den > 0 ? 1.0 : -1.0) : 0.0) : 1.0;
        double acc = 0;
        for (int64_t j = 0; j < V; ++j) {
          gx.data[r * Vs + j] = scale * g.data[r * V + j] / d;
          acc += g.data[r * V + j] * scale * x.data[r * Vs + j];
        }
        gx.data[r * Vs + V] = -acc / (d * d) * dd;
      }
      add(n.getInput(), gx);
    } else if (isa<mixer::ConstantOp, mixer::HeadIndexOp>(op)) {
      // constants: no inputs to reach
    } else if (auto r = dyn_cast<mixer::RecurrenceOp>(op)) {
      ref::Array aRows, kRows;
      ref::RecurrenceInputs in = interp.recurrenceInputs(r, aRows, kRows);
      const ref::Array &dO = gradOf(r.getO()), &dFinal = gradOf(r.getFinalState());
      // The stabilizer m is an output for chaining decodes, not a value a loss
      // reads: no gradient flows from it (RecurrenceGrad.h).
      ref::RecurrenceGrads g;
      if (std::string e = ref::runRecurrenceGrad(in, dO.data.empty() ? nullptr : &dO,
                                                 dFinal.data.empty() ? nullptr : &dFinal, g);
          !e.empty())
        return e;
      add(r.getQ(), g.q);
      add(r.getV(), g.v);
      add(r.getDecay(), g.decay);
      add(r.getDt(), g.dt);
      add(r.getIgate(), g.igate);
      add(r.getBonus(), g.bonus);
      add(r.getSkipWeight(), g.skipWeight);
      add(r.getSkipInput(), g.skipInput);
      add(r.getInit(), g.init);
      add(r.getInitM(), g.initM);
      // The scaled forms: a = s b and the key c k, as the interpreter expanded them.
      ref::Array gA, gB = g.b, gK;
      if (r.getAScale() && interp.valueOf(r.getAScale())) {
        ref::Array gS;
        scaledRowsGrad(*interp.valueOf(r.getAScale()), *interp.valueOf(r.getB()), g.a, gS, gB);
        add(r.getAScale(), gS);
      } else {
        add(r.getA(), g.a);
      }
      add(r.getB(), gB);
      if (r.getKScale() && interp.valueOf(r.getKScale())) {
        ref::Array gS;
        scaledRowsGrad(*interp.valueOf(r.getKScale()), *interp.valueOf(r.getK()), g.k, gS, gK);
        add(r.getKScale(), gS);
        add(r.getK(), gK);
      } else {
        add(r.getK(), g.k);
      }
    } else {
      return "the reference cannot differentiate '" + op.getName().getStringRef().str() + "'";
    }
  }
  // Per argument, in the shape the caller gave (per-head inputs may omit [1, 1]).
  std::vector<ArgumentSpec> specs = argumentSpecs(func);
  for (unsigned i = 0; i < specs.size(); ++i) {
    auto in = inputs.find(specs[i].name);
    if (in == inputs.end()) continue;
    ref::Array g = adj.count(func.getArgument(i)) ? adj[func.getArgument(i)] : ref::Array(in->second.shape);
    g.shape = in->second.shape;
    grads[specs[i].name] = std::move(g);
  }
  return "";
}

std::string finiteDifferenceGrad(func::FuncOp spec, const NamedArrays &inputs, const NamedArrays &upstream, double h,
                                 NamedArrays &grads) {
  ReferenceInterpreter interp(spec);
  NamedArrays x = inputs, out;
  auto loss = [&](double &l) -> std::string {
    out.clear();
    if (std::string e = interp.run(x, out); !e.empty()) return e;
    l = dotWith(upstream, out);
    return "";
  };
  for (auto &[name, arr] : inputs) {
    ref::Array g(arr.shape);
    for (int64_t i = 0; i < arr.size(); ++i) {
      double &xi = x[name].data[i], lp, lm;
      const double x0 = xi;
      xi = x0 + h;
      if (std::string e = loss(lp); !e.empty()) return e;
      xi = x0 - h;
      if (std::string e = loss(lm); !e.empty()) return e;
      xi = x0;
      g.data[i] = (lp - lm) / (2 * h);
    }
    grads[name] = std::move(g);
  }
  return "";
}

} // namespace mixc
