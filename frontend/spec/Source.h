// A spec file in memory and the errors reported against it.
#ifndef MIXC_FRONTEND_SPEC_SOURCE_H
#define MIXC_FRONTEND_SPEC_SOURCE_H

#include <cstddef>
#include <stdexcept>
#include <string>

namespace mixc::spec {

struct SourceFile {
  std::string name;
  std::string text;
};

/// A byte offset into the source, resolved to line:col only when printed.
struct Loc {
  size_t offset = 0;
  size_t length = 1;
};

/// The one error kind of the spec library. It is thrown inside the library and
/// caught at its API boundary, so callers only see `Result`s.
struct SpecError : std::runtime_error {
  Loc loc;
  SpecError(Loc l, const std::string &msg) : std::runtime_error(msg), loc(l) {}
};

/// `file:line:col: error: msg`, the offending line and a caret under the text.
std::string renderError(const SourceFile &src, Loc loc, const std::string &msg);

} // namespace mixc::spec

#endif
