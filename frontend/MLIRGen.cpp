#include "frontend/MLIRGen.h"

#include "dialect/MixerOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

#include <algorithm>

using namespace mlir;

namespace mixc {
namespace {

class Generator {
public:
  Generator(MLIRContext &ctx, const spec::SourceFile &src, const spec::MixerDesc &desc, const spec::Sizes &sizes,
            Type elem)
      : ctx(ctx), b(&ctx), src(src), d(desc), sizes(sizes), elem(elem), values(desc.nodes.size()) {}

  OwningOpRef<ModuleOp> run();

private:
  MLIRContext &ctx;
  OpBuilder b;
  const spec::SourceFile &src;
  const spec::MixerDesc &d;
  spec::Sizes sizes;
  Type elem;
  std::vector<Value> values;

  Location loc(spec::Loc l) {
    size_t off = std::min(l.offset, src.text.size());
    unsigned line = 1 + std::count(src.text.begin(), src.text.begin() + off, '\n');
    size_t start = src.text.rfind('\n', off ? off - 1 : 0);
    unsigned col = off - (start == std::string::npos || off == 0 ? 0 : start + 1) + 1;
    return FileLineColLoc::get(&ctx, src.name, line, col);
  }

  static constexpr int64_t kDyn = ShapedType::kDynamic;

  Value constant(Location l, double value) {
    auto type = RankedTensorType::get({}, elem);
    APFloat v(value);
    bool lost;
    v.convert(cast<FloatType>(elem).getFloatSemantics(), APFloat::rmNearestTiesToEven, &lost);
    return mixer::ConstantOp::create(b, l, DenseElementsAttr::get(type, v));
  }

  RankedTensorType typeOf(const spec::Node &n) {
    SmallVector<int64_t> shape;
    if (n.var == spec::Var::Token) shape = {kDyn, kDyn, sizes.H};
    else if (n.var == spec::Var::Head) shape = {1, 1, sizes.H};
    for (spec::Dim dim : n.dims) shape.push_back(spec::dimSize(dim, sizes));
    return RankedTensorType::get(shape, elem);
  }

  Value emit(int id) {
    if (id < 0) return nullptr;
    if (values[id]) return values[id];
    const spec::Node &n = d.nodes[id];
    Location l = loc(n.loc);
    Value v;
    // Anything built from literals and sizes alone is one constant.
    if (n.var == spec::Var::Const && n.dims.empty() && n.kind != spec::Node::Input && n.kind != spec::Node::Param) {
      v = constant(l, spec::evalConst(d, id, sizes));
      return values[id] = v;
    }
    switch (n.kind) {
    case spec::Node::Input:
    case spec::Node::Param: break; // block arguments, bound up front
    case spec::Node::Const:
    case spec::Node::DimValue:
      v = constant(l, spec::evalConst(d, id, sizes));
      break;
    case spec::Node::HeadIndex: v = mixer::HeadIndexOp::create(b, l, typeOf(n)); break;
    case spec::Node::Unary:
      v = mixer::MapOp::create(b, l, typeOf(n), *mixer::symbolizeUnaryFn(n.name), emit(n.a));
      break;
    case spec::Node::Binary:
      v = mixer::BinaryOp::create(b, l, typeOf(n), *mixer::symbolizeBinaryFn(n.name), emit(n.a), emit(n.b));
      break;
    }
    return values[id] = v;
  }
};

OwningOpRef<ModuleOp> Generator::run() {
  Location fileLoc = loc(d.stateLoc);
  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  b.setInsertionPointToEnd(module->getBody());

  const bool norm = d.normalizer != "none", mlstm = d.normalizer == "mlstm";
  int64_t K = spec::dimSize(d.keyDim, sizes), V = sizes.V, Vs = V + (norm ? 1 : 0);
  auto stateType = RankedTensorType::get({kDyn, sizes.H, K, Vs}, elem);
  auto mType = RankedTensorType::get({kDyn, sizes.H}, elem);
  auto oType = RankedTensorType::get({kDyn, kDyn, sizes.H, V}, elem);

  // A mixture of memories: the recurrence runs over B x M sequences (one per
  // batch row and memory); its caller sees states [B, M, H, K, V].
  const int64_t M = d.memories, topk = d.topk;
  auto callerStateType = M ? RankedTensorType::get({kDyn, M, sizes.H, K, Vs}, elem) : stateType;
  auto routeType = RankedTensorType::get({kDyn, kDyn, topk}, b.getI64Type());
  auto weightType = RankedTensorType::get({kDyn, kDyn, topk}, elem);

  SmallVector<Type> argTypes;
  SmallVector<std::string> argNames;
  for (const spec::Argument &a : d.args) {
    RankedTensorType t = typeOf(d.nodes[a.node]);
    SmallVector<int64_t> shape(t.getShape());
    if (a.grouped) shape[2] = sizes.H / sizes.G; // one row per group of G heads
    if (a.routed) shape.insert(shape.begin() + 2, topk); // one row per chosen memory
    argTypes.push_back(RankedTensorType::get(shape, elem));
    argNames.push_back(a.name);
  }
  if (M) {
    argTypes.append({routeType, weightType});
    argNames.append({"route", "route_weight"});
  }
  const bool bidir = d.direction == "bidirectional";
  if (!bidir) { // a bidirectional scan has no initial state
    argTypes.push_back(callerStateType);
    argNames.push_back("init");
  }
  if (mlstm) {
    argTypes.push_back(mType);
    argNames.push_back("init_m");
  }
  SmallVector<Type> resultTypes = {oType, callerStateType};
  if (mlstm) resultTypes.push_back(mType);

  auto func = func::FuncOp::create(b, fileLoc, d.name, b.getFunctionType(argTypes, resultTypes));
  for (auto [i, name] : llvm::enumerate(argNames))
    func.setArgAttr(i, "mixer.name", b.getStringAttr(name));
  Block *body = func.addEntryBlock();
  b.setInsertionPointToStart(body);
  for (auto [i, a] : llvm::enumerate(d.args)) {
    Location l = loc(d.nodes[a.node].loc);
    values[a.node] = body->getArgument(i);
    if (a.routed) // the slot rows, pre-processed like tokens
      values[a.node] = mixer::RouteSlotsOp::create(b, l, typeOf(d.nodes[a.node]), body->getArgument(i));
    if (a.grouped && sizes.G > 1) // spread over the heads: the kernels read row h / G
      values[a.node] = mixer::RepeatHeadsOp::create(b, l, typeOf(d.nodes[a.node]), body->getArgument(i),
                                                    b.getI64IntegerAttr(sizes.G));
  }
  unsigned next = d.args.size();
  Value route = M ? body->getArgument(next++) : Value(), weight = M ? body->getArgument(next++) : Value();
  Value init = bidir ? Value() : body->getArgument(next++);
  Value initM = mlstm ? body->getArgument(next) : Value();
  if (M) init = mixer::MemoryStatesOp::create(b, fileLoc, stateType, init, b.getI64IntegerAttr(M));

  // The recurrence's per-token operands, gathered into the memories' sequences.
  llvm::DenseMap<int, Value> gathered;
  auto operand = [&](int node) -> Value {
    Value v = emit(node);
    if (!M || node < 0 || d.nodes[node].var != spec::Var::Token) return v;
    Value &g = gathered[node];
    if (!g)
      g = mixer::RouteGatherOp::create(b, v.getLoc(), v.getType(), v, route, Value(), b.getI64IntegerAttr(M),
                                       d.nodes[node].routed ? b.getUnitAttr() : UnitAttr());
    return g;
  };

  auto f64 = [&](int node) { return node < 0 ? FloatAttr() : b.getF64FloatAttr(spec::evalConst(d, node, sizes)); };
  auto op = mixer::RecurrenceOp::create(b, 
      loc(d.stateLoc), oType, stateType, mlstm ? Type(mType) : Type(),
      *mixer::symbolizeStructure(d.structure), *mixer::symbolizeDirection(d.direction), operand(d.q), operand(d.k),
      operand(d.v), operand(d.decay), operand(d.dt), operand(d.a), operand(d.b), Value(), Value(), operand(d.igate),
      operand(d.bonus), operand(d.skipWeight), operand(d.skipInput), init, initM,
      d.structure == "dplr" ? mixer::DiagKindAttr::get(&ctx, *mixer::symbolizeDiagKind(d.dplrDiag)) : mixer::DiagKindAttr(),
      mixer::DecayFormAttr(), norm ? mixer::NormalizerAttr::get(&ctx, *mixer::symbolizeNormalizer(d.normalizer)) : mixer::NormalizerAttr(),
      f64(d.eps), f64(d.scale), /*decayed_b=*/false, /*l2norm_q=*/false, /*l2norm_b=*/false);
  if (M) {
    Value o = mixer::RouteScatterOp::create(b, fileLoc, oType, op.getO(), route, weight, b.getI64IntegerAttr(M),
                                            UnitAttr());
    Value fs = mixer::MemoryStatesOp::create(b, fileLoc, callerStateType, op.getFinalState(), b.getI64IntegerAttr(M));
    func::ReturnOp::create(b, fileLoc, ValueRange{o, fs});
    return module;
  }
  func::ReturnOp::create(b, fileLoc, op->getResults());
  return module;
}

} // namespace

OwningOpRef<ModuleOp> emitMLIR(MLIRContext &ctx, const spec::SourceFile &src, const spec::MixerDesc &desc,
                               const spec::Sizes &sizes, Type elementType) {
  return Generator(ctx, src, desc, sizes, elementType).run();
}

void loadDialects(MLIRContext &ctx) {
  ctx.loadDialect<mixer::MixerDialect, func::FuncDialect>();
}

} // namespace mixc
