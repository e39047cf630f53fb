// Reading and writing NumPy .npy files (little-endian float16/32/64, C order).
#ifndef MIXC_RUNTIME_NPY_H
#define MIXC_RUNTIME_NPY_H

#include <cstdint>
#include <string>
#include <vector>

namespace mixc {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<double> data; // values widened to float64
  std::string dtype;        // "f2", "f4" or "f8" as read
};

/// Returns an empty string on success, otherwise why the file was refused.
std::string readNpy(const std::string &path, NpyArray &out);
/// Writes `data` as float32 ("f4") or float64 ("f8").
std::string writeNpy(const std::string &path, const std::vector<int64_t> &shape,
                     const std::vector<double> &data, const std::string &dtype);

} // namespace mixc

#endif
