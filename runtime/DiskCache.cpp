#include "runtime/DiskCache.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace mixc {

std::string cacheDirectory() {
  if (const char *d = std::getenv("MIXC_CACHE_DIR"); d && *d) return d;
  if (const char *d = std::getenv("XDG_CACHE_HOME"); d && *d) return std::string(d) + "/mixc";
  if (const char *d = std::getenv("HOME"); d && *d) return std::string(d) + "/.cache/mixc";
  return "/tmp/mixc-cache";
}

std::string hexKey(uint64_t h) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
  return hex;
}

namespace {
uint64_t fnv1a(const std::string &s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
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
} // namespace

uint64_t cacheKey(const std::string &source, const std::vector<std::pair<std::string, std::string>> &files,
                  const std::string &compiler) {
  uint64_t h = fnv1a(source);
  for (const auto &[name, text] : files) h = fnv1a(text, fnv1a(name, h));
  return fnv1a(compiler, h);
}

std::string buildCached(const std::string &dir, const std::string &object,
                        const std::vector<std::pair<std::string, std::string>> &files, const std::string &command,
                        const std::string &what, bool &cached) {
  cached = fileExists(object);
  if (cached) return "";
  makeDirs(dir);
  for (const auto &[name, text] : files) std::ofstream(dir + "/" + name) << text;
  const std::string tmp = object + ".tmp" + std::to_string(getpid());
  const std::string cmd = command + " -o " + tmp;
  if (std::string e = runLogged(cmd, dir + "/compile.log"); !e.empty() || !fileExists(tmp))
    return what + " failed " + (e.empty() ? "(" + cmd + ")" : e);
  if (std::rename(tmp.c_str(), object.c_str()) != 0) return "cannot move the kernel into the cache at " + object;
  return "";
}

} // namespace mixc
