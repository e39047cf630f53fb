// Parses a spec file into its syntax tree.
#ifndef MIXC_FRONTEND_SPEC_PARSER_H
#define MIXC_FRONTEND_SPEC_PARSER_H

#include "frontend/spec/AST.h"

namespace mixc::spec {

/// Throws SpecError at the first syntax error.
Spec parse(const SourceFile &src);

} // namespace mixc::spec

#endif
