#include "runtime/Npy.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

namespace mixc {
namespace {

double halfToDouble(uint16_t h) {
  int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  double v;
  if (exp == 0) v = std::ldexp(mant, -24);
  else if (exp == 31) v = mant ? NAN : INFINITY;
  else v = std::ldexp(mant + 1024, exp - 25);
  return sign ? -v : v;
}

// The value of `key` in the header dict, as raw text up to the next ',' or '}'
// (or the closing ')' of a tuple).
std::string headerField(const std::string &h, const std::string &key) {
  size_t p = h.find("'" + key + "'");
  if (p == std::string::npos) return "";
  p = h.find(':', p);
  if (p == std::string::npos) return "";
  ++p;
  while (p < h.size() && h[p] == ' ') ++p;
  size_t end = h[p] == '(' ? h.find(')', p) + 1 : h.find_first_of(",}", p);
  if (end == std::string::npos || end < p) return "";
  return h.substr(p, end - p);
}

} // namespace

std::string readNpy(const std::string &path, NpyArray &out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return "cannot open '" + path + "'";
  char magic[8];
  if (!f.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) return "'" + path + "' is not a .npy file";
  uint32_t hlen = 0;
  if (magic[6] == 1) {
    unsigned char b[2];
    if (!f.read((char *)b, 2)) return "'" + path + "': truncated header";
    hlen = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    if (!f.read((char *)b, 4)) return "'" + path + "': truncated header";
    hlen = b[0] | (b[1] << 8) | (b[2] << 16) | ((uint32_t)b[3] << 24);
  }
  if (hlen > (1u << 20)) return "'" + path + "': header too large";
  std::string header(hlen, '\0');
  if (!f.read(header.data(), hlen)) return "'" + path + "': truncated header";
  std::string descr = headerField(header, "descr");
  std::string order = headerField(header, "fortran_order");
  std::string shape = headerField(header, "shape");
  if (order.find("True") != std::string::npos) return "'" + path + "': Fortran order is not supported";
  if (descr.find("<f4") != std::string::npos) out.dtype = "f4";
  else if (descr.find("<f8") != std::string::npos) out.dtype = "f8";
  else if (descr.find("<f2") != std::string::npos) out.dtype = "f2";
  else if (descr.find("<i8") != std::string::npos) out.dtype = "i8"; // indices (a mixture of memories' route)
  else if (descr.find("<i4") != std::string::npos) out.dtype = "i4";
  else return "'" + path + "': dtype " + descr + " is not supported (float16, float32, float64, int32 or int64)";
  if (shape.size() < 2 || shape.front() != '(') return "'" + path + "': malformed shape";
  out.shape.clear();
  std::stringstream ss(shape.substr(1, shape.size() - 2));
  std::string item;
  int64_t n = 1;
  while (std::getline(ss, item, ',')) {
    if (item.find_first_not_of(' ') == std::string::npos) continue;
    long long d = std::atoll(item.c_str());
    if (d < 0 || d > (1ll << 32)) return "'" + path + "': bad dimension " + item;
    out.shape.push_back(d);
    n *= d;
    if (n > (1ll << 34)) return "'" + path + "': too large";
  }
  size_t width = out.dtype == "f8" || out.dtype == "i8" ? 8 : out.dtype == "f4" || out.dtype == "i4" ? 4 : 2;
  std::vector<char> raw(n * width);
  if (!f.read(raw.data(), raw.size())) return "'" + path + "': truncated data";
  out.data.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    if (out.dtype == "i8") { int64_t v; std::memcpy(&v, &raw[i * 8], 8); out.data[i] = (double)v; }
    else if (out.dtype == "i4") { int32_t v; std::memcpy(&v, &raw[i * 4], 4); out.data[i] = v; }
    else if (width == 8) { double v; std::memcpy(&v, &raw[i * 8], 8); out.data[i] = v; }
    else if (width == 4) { float v; std::memcpy(&v, &raw[i * 4], 4); out.data[i] = v; }
    else { uint16_t v; std::memcpy(&v, &raw[i * 2], 2); out.data[i] = halfToDouble(v); }
  }
  return "";
}

std::string writeNpy(const std::string &path, const std::vector<int64_t> &shape, const std::vector<double> &data,
                     const std::string &dtype) {
  std::string sh = "(";
  for (size_t i = 0; i < shape.size(); ++i) sh += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
  sh += ")";
  std::string header = "{'descr': '<" + dtype + "', 'fortran_order': False, 'shape': " + sh + ", }";
  size_t total = 10 + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  std::ofstream f(path, std::ios::binary);
  if (!f) return "cannot write '" + path + "'";
  f.write("\x93NUMPY\x01\x00", 8);
  uint16_t hl = (uint16_t)header.size();
  char b[2] = {(char)(hl & 0xff), (char)(hl >> 8)};
  f.write(b, 2);
  f.write(header.data(), header.size());
  for (double v : data) {
    if (dtype == "f8") f.write((const char *)&v, 8);
    else { float x = (float)v; f.write((const char *)&x, 4); }
  }
  return f ? "" : "error writing '" + path + "'";
}

} // namespace mixc
