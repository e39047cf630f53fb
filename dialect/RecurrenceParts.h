// The operands and attributes of a mixer.recurrence as one editable value, so
// that a pass rewrites an op by changing a few parts and building anew.
#ifndef MIXC_DIALECT_RECURRENCEPARTS_H
#define MIXC_DIALECT_RECURRENCEPARTS_H

#include "dialect/MixerOps.h"
#include "mlir/IR/Builders.h"

namespace mixc {

struct RecurrenceParts {
  mixer::Structure structure;
  mixer::Direction direction;
  mlir::Value q, k, v, decay, dt, a, b, aScale, kScale, igate, bonus, skipWeight, skipInput, init, initM;
  mixer::DiagKindAttr diag;
  mixer::DecayFormAttr decayForm;
  mixer::NormalizerAttr normalizer;
  mlir::FloatAttr eps, scale;
  mlir::UnitAttr decayedB, l2normQ, l2normB;
  mlir::Type oType, stateType, mType;

  explicit RecurrenceParts(mixer::RecurrenceOp op)
      : structure(op.getStructure()), direction(op.getDirection()), q(op.getQ()), k(op.getK()), v(op.getV()),
        decay(op.getDecay()), dt(op.getDt()), a(op.getA()), b(op.getB()), aScale(op.getAScale()),
        kScale(op.getKScale()), igate(op.getIgate()), bonus(op.getBonus()), skipWeight(op.getSkipWeight()),
        skipInput(op.getSkipInput()), init(op.getInit()), initM(op.getInitM()), diag(op.getDiagAttr()),
        decayForm(op.getDecayFormAttr()), normalizer(op.getNormalizerAttr()), eps(op.getEpsAttr()), scale(op.getScaleAttr()),
        decayedB(op.getDecayedBAttr()), l2normQ(op.getL2normQAttr()), l2normB(op.getL2normBAttr()),
        oType(op.getO().getType()), stateType(op.getFinalState().getType()),
        mType(op.getFinalM() ? op.getFinalM().getType() : mlir::Type()) {}

  mixer::RecurrenceOp build(mlir::OpBuilder &builder, mlir::Location loc) const {
    return mixer::RecurrenceOp::create(builder, loc, oType, stateType, mType, structure, direction, q, k, v, decay,
                                       dt, a, b, aScale, kScale, igate, bonus, skipWeight, skipInput, init, initM,
                                       diag, decayForm, normalizer, eps, scale, bool(decayedB),
                                       bool(l2normQ), bool(l2normB));
  }
};

/// `tensor<... x D x elem>` with the last dimension replaced.
inline mlir::RankedTensorType withLastDim(mlir::Type type, int64_t d) {
  auto t = mlir::cast<mlir::RankedTensorType>(type);
  llvm::SmallVector<int64_t> shape(t.getShape());
  shape.back() = d;
  return mlir::RankedTensorType::get(shape, t.getElementType());
}

} // namespace mixc

#endif
