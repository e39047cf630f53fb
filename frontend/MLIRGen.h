// Emits the mixer dialect for an analyzed spec.
#ifndef MIXC_FRONTEND_MLIRGEN_H
#define MIXC_FRONTEND_MLIRGEN_H

#include "frontend/spec/Analysis.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"

namespace mixc {

/// Builds `func.func @<name>` holding the pre-processing ops and one
/// `mixer.recurrence`. H, K and V are static (kernels specialize on them);
/// batch and time are dynamic. Arguments carry their spec names in the
/// `mixer.name` argument attribute.
mlir::OwningOpRef<mlir::ModuleOp> emitMLIR(mlir::MLIRContext &ctx, const spec::SourceFile &src,
                                           const spec::MixerDesc &desc, const spec::Sizes &sizes,
                                           mlir::Type elementType);

/// Registers the dialects the frontend emits.
void loadDialects(mlir::MLIRContext &ctx);

} // namespace mixc

#endif
