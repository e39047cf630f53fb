// The on-disk kernel cache both compilers use (host C++ and nvcc): where it
// lives, how an entry is named, and how one is built.
#ifndef MIXC_RUNTIME_DISKCACHE_H
#define MIXC_RUNTIME_DISKCACHE_H

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mixc {

/// $MIXC_CACHE_DIR, else $XDG_CACHE_HOME/mixc, else ~/.cache/mixc.
std::string cacheDirectory();
/// The cache key of a kernel: its source, the files built beside it (name,
/// text) and the compiler command with its flags (FNV-1a over them).
uint64_t cacheKey(const std::string &source, const std::vector<std::pair<std::string, std::string>> &files,
                  const std::string &compiler);
/// A key as 16 hex digits (a cache entry's directory name).
std::string hexKey(uint64_t h);
/// Builds `object` (a path in `dir`) unless the cache has it (`cached`):
/// writes `files` into `dir`, runs `command` (the compiler and its inputs;
/// ` -o OUT` is appended) with its output in dir/compile.log, into a private
/// name first, then renamed, so that a concurrent user never loads a
/// half-written object. "" or `what` failed, with the command and the log.
std::string buildCached(const std::string &dir, const std::string &object,
                        const std::vector<std::pair<std::string, std::string>> &files, const std::string &command,
                        const std::string &what, bool &cached);

} // namespace mixc

#endif
