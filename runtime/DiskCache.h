// The on-disk kernel cache both compilers use (host C++ and nvcc): where it
// lives and how an entry is named and written.
#ifndef MIXC_RUNTIME_DISKCACHE_H
#define MIXC_RUNTIME_DISKCACHE_H

#include <cstdint>
#include <string>

namespace mixc {

/// $MIXC_CACHE_DIR, else $XDG_CACHE_HOME/mixc, else ~/.cache/mixc.
std::string cacheDirectory();
/// FNV-1a over s, continuing from h: the cache key of a kernel's texts.
uint64_t fnv1a(const std::string &s, uint64_t h = 1469598103934665603ull);
/// h as 16 hex digits (a cache entry's directory name).
std::string hexKey(uint64_t h);
bool fileExists(const std::string &path);
/// mkdir -p.
void makeDirs(const std::string &path);
/// Runs a shell command with its output in `log`; "" or the command and the log.
std::string runLogged(const std::string &cmd, const std::string &log);

} // namespace mixc

#endif
