#include "codegen/ReferenceGrad.h"

#include "dialect/MixerOps.h"
#include "passes/Passes.h"
#include "runtime/reference/ArrayGrad.h"
#include "runtime/reference/RecurrenceGrad.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

#include <set>

#include <cmath>

using namespace mlir;

namespace mixc {

namespace {
double dotWith(const NamedArrays &upstream, const NamedArrays &outputs) {
  double l = 0;
  for (auto &[name, g] : upstream) {
    auto it = outputs.find(name);
    if (it == outputs.end()) continue;
    for (int64_t i = 0; i < std::min(g.size(), it->second.size()); ++i) l += g.data[i] * it->second.data[i];
  }
  return l;
}

// The gradients of a scaled row's factors: rows = s[b, t, h] * x[b, t, h, :].
void scaledRowsGrad(const ref::Array &s, const ref::Array &x, const ref::Array &g, ref::Array &gs, ref::Array &gx) {
  if (gs.data.empty()) gs = ref::Array(s.shape);
  if (gx.data.empty()) gx = ref::Array(x.shape);
  if (g.data.empty()) return;
  const int64_t D = x.shape.back();
  for (int64_t row = 0; row < x.size() / D; ++row) {
    const int64_t bi = row / (x.shape[1] * x.shape[2]), ti = row / x.shape[2] % x.shape[1], hi = row % x.shape[2];
    const double f = s.at({bi, ti, hi});
    double dot = 0;
    for (int64_t i = 0; i < D; ++i) {
      dot += g.data[row * D + i] * x.data[row * D + i];
      gx.data[row * D + i] += f * g.data[row * D + i];
    }
    int64_t off = 0; // the element of s this row read (s may broadcast)
    const int64_t idx[3] = {bi, ti, hi};
    for (size_t d = 0; d < s.shape.size(); ++d) off = off * s.shape[d] + (d < 3 && s.shape[d] != 1 ? idx[d] : 0);
    gs.data[off] += dot;
  }
}

std::string evalRecurrenceGrad(ReferenceInterpreter &interp, mixer::RecurrenceGradOp r) {
  if (r.getDecayedB()) // (derived only after mixer-tile{target=cuda}; the reference derives from the plain form)
    return "the reference interprets the adjoint in the plain form (b's rows as given), not with decayed_b";
  if (r.getL2normQ() || r.getL2normB()) // likewise
    return "the reference interprets the adjoint of the operands as they are, not with l2norm_q / l2norm_b";
  ref::Array aRows, kRows;
  ref::RecurrenceInputs in = interp.recurrenceInputs(r, aRows, kRows);
  const ref::Array *dO = interp.valueOf(r.getDO()), *dFinal = interp.valueOf(r.getDFinal());
  ref::RecurrenceGrads g;
  if (std::string e = ref::runRecurrenceGrad(in, dO, dFinal, g); !e.empty()) return e;
  // The scaled forms: a = s b and the key c k, as recurrenceInputs expanded them.
  ref::Array gAScale, gB = g.b, gKScale, gK = g.k;
  if (r.getAScale()) {
    gB = ref::Array(); // s . g.a, then b's own gradient
    scaledRowsGrad(*interp.valueOf(r.getAScale()), *interp.valueOf(r.getB()), g.a, gAScale, gB);
    ref::accumulate(gB, g.b);
  }
  if (r.getKScale()) {
    gK = ref::Array();
    scaledRowsGrad(*interp.valueOf(r.getKScale()), *interp.valueOf(r.getK()), g.k, gKScale, gK);
  }
  auto filled = [&](Value x, const ref::Array &gx) {
    return gx.data.empty() ? ref::Array(interp.valueOf(x)->shape) : gx;
  };
  const std::pair<Value, const ref::Array *> parts[] = {
      {r.getQ(), &g.q},           {r.getK(), &gK},           {r.getV(), &g.v},
      {r.getDecay(), &g.decay},   {r.getDt(), &g.dt},        {r.getA(), &g.a},
      {r.getB(), &gB},            {r.getAScale(), &gAScale}, {r.getKScale(), &gKScale},
      {r.getIgate(), &g.igate},   {r.getBonus(), &g.bonus},  {r.getSkipWeight(), &g.skipWeight},
      {r.getSkipInput(), &g.skipInput}, {r.getInit(), &g.init}, {r.getInitM(), &g.initM}};
  // By position: one operand may appear twice (a delta rule's b is its k).
  unsigned next = 0;
  for (auto [x, gx] : parts)
    if (x) interp[r.getGrads()[next++]] = filled(x, *gx);
  return "";
}
// The token and state ops of mixer-lower-adjoint; batch row b is one sequence.
std::vector<int64_t> shapeOf(Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  return std::vector<int64_t>(t.getShape().begin(), t.getShape().end());
}

// `x` broadcast (left-aligned, as Array::at) to `shape`.
ref::Array broadcastArray(const ref::Array &x, std::vector<int64_t> shape) {
  ref::Array out(shape);
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t e = 0; e < out.size(); ++e) {
    out.data[e] = x.at(idx);
    for (int64_t i = (int64_t)shape.size() - 1; i >= 0; --i) {
      if (++idx[i] < shape[i]) break;
      idx[i] = 0;
    }
  }
  return out;
}

} // namespace

std::string evalTokenOp(ReferenceInterpreter &interp, Operation *op, int64_t B, int64_t T) {
  auto resolve = [&](std::vector<int64_t> s, bool tokens) {
    if (!s.empty() && ShapedType::isDynamic(s[0])) s[0] = B;
    if (tokens && s.size() > 1 && ShapedType::isDynamic(s[1])) s[1] = T;
    return s;
  };
  if (auto sh = dyn_cast<mixer::ShiftTokensOp>(op)) {
    ref::Array x = broadcastArray(*interp.valueOf(sh.getInput()), resolve(shapeOf(sh.getResult()), true));
    ref::Array y(x.shape);
    const int64_t row = x.size() / (B * T), by = sh.getBy();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        if (t + by >= 0 && t + by < T)
          for (int64_t j = 0; j < row; ++j) y.data[(b * T + t) * row + j] = x.data[(b * T + t + by) * row + j];
    interp[sh.getResult()] = std::move(y);
  } else if (auto cs = dyn_cast<mixer::TokenCumsumOp>(op)) {
    const ref::Array &x = *interp.valueOf(cs.getInput());
    ref::Array y(x.shape);
    const int64_t row = x.size() / (B * T);
    const ref::Array *init = cs.getInit() ? interp.valueOf(cs.getInit()) : nullptr;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < row; ++j) {
        double acc = init ? init->data[b * row + j] : 0.0;
        for (int64_t step = 0; step < T; ++step) {
          const int64_t t = cs.getReverse() ? T - 1 - step : step;
          acc += x.data[(b * T + t) * row + j];
          y.data[(b * T + t) * row + j] = acc;
        }
      }
    interp[cs.getResult()] = std::move(y);
  } else if (auto e = dyn_cast<mixer::EdgeTokenOp>(op)) {
    std::vector<int64_t> out = resolve(shapeOf(e.getResult()), false), tokens = out;
    tokens.insert(tokens.begin() + 1, T);
    ref::Array x = broadcastArray(*interp.valueOf(e.getInput()), tokens);
    ref::Array y(out);
    const int64_t row = y.size() / B, t = e.getLast() ? T - 1 : 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < row; ++j) y.data[b * row + j] = x.data[(b * T + t) * row + j];
    interp[e.getResult()] = std::move(y);
  } else if (auto tr = dyn_cast<mixer::TransposeStateOp>(op)) {
    const ref::Array &x = *interp.valueOf(tr.getInput());
    const int64_t N = x.shape[0], H = x.shape[1], K = x.shape[2], V = x.shape[3];
    ref::Array y({N, H, V, K});
    for (int64_t n = 0; n < N * H; ++n)
      for (int64_t i = 0; i < K; ++i)
        for (int64_t j = 0; j < V; ++j) y.data[(n * V + j) * K + i] = x.data[(n * K + i) * V + j];
    interp[tr.getResult()] = std::move(y);
  } else if (isa<mixer::RepeatHeadsOp, mixer::SumHeadsOp>(op)) {
    // Head h of the many-heads side is head h / G of the few: [B, T, heads, ...].
    const ref::Array &x = *interp.valueOf(op->getOperand(0));
    const bool repeat = isa<mixer::RepeatHeadsOp>(op);
    const int64_t G = repeat ? cast<mixer::RepeatHeadsOp>(op).getGroup() : cast<mixer::SumHeadsOp>(op).getGroup();
    std::vector<int64_t> out = x.shape;
    out[2] = repeat ? x.shape[2] * G : x.shape[2] / G;
    ref::Array y(out);
    const int64_t many = repeat ? out[2] : x.shape[2], rows = x.shape[0] * x.shape[1];
    int64_t w = 1;
    for (size_t d = 3; d < out.size(); ++d) w *= out[d];
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t h = 0; h < many; ++h)
        for (int64_t j = 0; j < w; ++j) {
          const int64_t m = (r * many + h) * w + j, f = (r * (many / G) + h / G) * w + j;
          if (repeat) y.data[m] = x.data[f];
          else y.data[f] += x.data[m];
        }
    interp[op->getResult(0)] = std::move(y);
  } else if (auto st = dyn_cast<mixer::SumToOp>(op)) {
    const ref::Array &x = *interp.valueOf(st.getInput());
    std::vector<int64_t> out = shapeOf(st.getResult());
    for (size_t i = 0; i < out.size(); ++i)
      if (ShapedType::isDynamic(out[i])) out[i] = x.shape[i];
    ref::Array y = ref::sumTo(x, out);
    interp[st.getResult()] = std::move(y);
  } else {
    return "not a token op: '" + op->getName().getStringRef().str() + "'";
  }
  return "";
}

std::string evalAdjointOp(ReferenceInterpreter &interp, Operation *op) {
  if (auto m = dyn_cast<mixer::MapVjpOp>(op)) {
    ref::Array gx;
    const std::string fn = mixer::stringifyUnaryFn(m.getFn()).str();
    if (!ref::addUnaryGrad(fn, *interp.valueOf(m.getInput()), *interp.valueOf(m.getResult()),
                           *interp.valueOf(m.getGrad()), gx))
      return "no derivative for '" + fn + "'";
    interp[m.getInputGrad()] = std::move(gx);
  } else if (auto bin = dyn_cast<mixer::BinaryVjpOp>(op)) {
    ref::Array gl, gr;
    const std::string fn = mixer::stringifyBinaryFn(bin.getFn()).str();
    if (!ref::addBinaryGrad(fn, *interp.valueOf(bin.getLhs()), *interp.valueOf(bin.getRhs()),
                            *interp.valueOf(bin.getGrad()), gl, gr))
      return "no derivative for '" + fn + "'";
    interp[bin.getOperandGrad()] = std::move(bin.getOperand() == 0 ? gl : gr);
  } else if (auto n = dyn_cast<mixer::NormalizeVjpOp>(op)) {
    // o_j = scale x_j / den', den' = den + eps or max(|den|, eps), den = x_V.
    const ref::Array &x = *interp.valueOf(n.getInput()), &g = *interp.valueOf(n.getGrad());
    ref::Array gx(x.shape);
    const int64_t Vs = x.shape.back(), V = Vs - 1, rows = x.size() / Vs;
    const double eps = n.getEps().convertToDouble(), scale = n.getScale().convertToDouble();
    for (int64_t r = 0; r < rows; ++r) {
      const double den = x.data[r * Vs + V];
      const double d = n.getMaxAbs() ? std::max(std::fabs(den), eps) : den + eps;
      const double dd = n.getMaxAbs() ? (std::fabs(den) > eps ? (den > 0 ? 1.0 : -1.0) : 0.0) : 1.0;
      double acc = 0;
      for (int64_t j = 0; j < V; ++j) {
        gx.data[r * Vs + j] = scale * g.data[r * V + j] / d;
        acc += g.data[r * V + j] * scale * x.data[r * Vs + j];
      }
      gx.data[r * Vs + V] = -acc / (d * d) * dd;
    }
    interp[n.getInputGrad()] = std::move(gx);
  } else if (auto z = dyn_cast<mixer::ZerosLikeOp>(op)) {
    interp[z.getResult()] = ref::Array(interp.valueOf(z.getInput())->shape);
  } else if (auto r = dyn_cast<mixer::RecurrenceGradOp>(op)) {
    return evalRecurrenceGrad(interp, r);
  } else {
    return "not an adjoint op: '" + op->getName().getStringRef().str() + "'";
  }
  return "";
}

std::string runReferenceGrad(func::FuncOp spec, const NamedArrays &inputs, const NamedArrays &upstream,
                             NamedArrays &outputs, NamedArrays &grads, const std::string &adjoint) {
  if (std::string e = runReference(spec, inputs, outputs); !e.empty()) return e;
  // Derive the backward on a copy: canonical forms first (a factor decay that
  // may be negative has no real log), then reverse mode.
  OwningOpRef<ModuleOp> module = ModuleOp::create(spec.getLoc());
  module->push_back(cast<func::FuncOp>(spec->clone()));
  PassManager pm(spec.getContext());
  pm.addNestedPass<func::FuncOp>(createCanonicalizerPass());
  pm.addPass(createMixerDeriveBackward());
  pm.addPass(createCanonicalizerPass());
  MixerLowerAdjointOptions lowering;
  lowering.adjoint = adjoint;
  pm.addNestedPass<func::FuncOp>(createMixerLowerAdjoint(lowering));
  if (failed(pm.run(*module))) return "mixer-derive-backward failed";
  func::FuncOp backward;
  for (auto f : module->getOps<func::FuncOp>())
    if (f->hasAttr("mixer.backward_of")) backward = f;
  // The backward's inputs: the forward's (omitted states as zeros) and the
  // upstream gradients (a missing one is zero).
  NamedArrays in = inputs;
  std::vector<ArgumentSpec> specs = argumentSpecs(spec);
  const int64_t B = outputs.at("o").shape[0];
  for (const ArgumentSpec &a : specs)
    if (a.isState && !in.count(a.name)) {
      std::vector<int64_t> s = a.shape;
      s[0] = B;
      in[a.name] = ref::Array(s);
    }
  for (const char *name : {"o", "final_state"}) {
    auto it = upstream.find(name);
    const ref::Array &out = outputs.at(name);
    if (it != upstream.end() && it->second.size() != out.size())
      return "upstream gradient '" + std::string(name) + "' has shape " + it->second.shapeString() + ", expected " +
             out.shapeString();
    ref::Array g = it != upstream.end() ? it->second : ref::Array(out.shape);
    g.shape = out.shape;
    in[std::string("d") + name] = std::move(g);
  }
  NamedArrays dOut;
  if (std::string e = ReferenceInterpreter(backward).run(in, dOut); !e.empty()) return e;
  // Per input, in the shape the caller gave (per-head inputs may omit [1, 1]).
  for (auto &[name, arr] : inputs) {
    if (!dOut.count("d" + name)) continue; // an index input (a mixture's route) has no gradient
    ref::Array g = dOut.at("d" + name);
    g.shape = arr.shape;
    grads[name] = std::move(g);
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
  std::set<std::string> indices; // a mixture's route: not differentiable
  for (const ArgumentSpec &a : argumentSpecs(spec))
    if (a.isIndex) indices.insert(a.name);
  for (auto &[name, arr] : inputs) {
    if (indices.count(name)) continue;
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
