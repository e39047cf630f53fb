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

#endif
