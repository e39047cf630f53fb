#include "runtime/DiskCache.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

namespace mixc {

std::string cacheDirectory() {
  if (const char *d = std::getenv("MIXC_CACHE_DIR"); d && *d) return d;
  if (const char *d = std::getenv("XDG_CACHE_HOME"); d && *d) return std::string(d) + "/mixc";
  if (const char *d = std::getenv("HOME"); d && *d) return std::string(d) + "/.cache/mixc";
  return "/tmp/mixc-cache";
}

uint64_t fnv1a(const std::string &s, uint64_t h) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string hexKey(uint64_t h) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
  return hex;
}

bool fileExists(const std::string &p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

void makeDirs(const std::string &path) {
  for (size_t i = 1; i <= path.size(); ++i)
    if (i == path.size() || path[i] == '/') mkdir(path.substr(0, i).c_str(), 0755);
}

std::string runLogged(const std::string &cmd, const std::string &log) {
  if (std::system((cmd + " > " + log + " 2>&1").c_str()) == 0) return "";
  std::ifstream l(log);
  std::stringstream ss;
  ss << l.rdbuf();
  return "(" + cmd + "):\n" + ss.str();
}

} // namespace mixc
