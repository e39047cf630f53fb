// The mixer dialect: the unified recurrence op and per-token pre-processing.
#ifndef MIXC_DIALECT_MIXEROPS_H
#define MIXC_DIALECT_MIXEROPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialect/MixerDialect.h.inc"
#include "dialect/MixerEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialect/MixerAttrs.h.inc"

#define GET_OP_CLASSES
#include "dialect/MixerOps.h.inc"

namespace mixc::mixer {
/// Whether a map acts on each element alone (not over the feature
/// dimension, as l2norm, taylor2, ones, append_one, sum and softmax do).
/// Every case is listed: a new function must say which it is.
inline bool isPointwise(UnaryFn fn) {
  switch (fn) {
  case UnaryFn::neg: case UnaryFn::exp: case UnaryFn::log: case UnaryFn::sigmoid: case UnaryFn::logsigmoid:
  case UnaryFn::softplus: case UnaryFn::silu: case UnaryFn::elu: case UnaryFn::relu: case UnaryFn::abs:
  case UnaryFn::sqrt: case UnaryFn::tanh:
    return true;
  case UnaryFn::l2norm: case UnaryFn::taylor2: case UnaryFn::ones: case UnaryFn::append_one: case UnaryFn::sum:
  case UnaryFn::softmax:
    return false;
  }
  return false;
}
/// The same for binaries (dot, vecmat and concat act on rows).
inline bool isPointwise(BinaryFn fn) {
  switch (fn) {
  case BinaryFn::add: case BinaryFn::sub: case BinaryFn::mul: case BinaryFn::div: case BinaryFn::max:
  case BinaryFn::min: case BinaryFn::pow:
    return true;
  case BinaryFn::dot: case BinaryFn::vecmat: case BinaryFn::concat:
    return false;
  }
  return false;
}
} // namespace mixc::mixer

#endif
