#include "runtime/Npy.h"

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>

TEST_CASE("npy files round-trip in float32 and float64", "[npy]") {
  std::vector<double> data = {1.5, -2.25, 3.0, 1e-3, 0.1, 7};
  for (const char *dtype : {"f4", "f8"}) {
    std::string path = std::string("/tmp/mixc-npy-test-") + dtype + ".npy";
    REQUIRE(mixc::writeNpy(path, {2, 3}, data, dtype).empty());
    mixc::NpyArray a;
    REQUIRE(mixc::readNpy(path, a).empty());
    CHECK(a.shape == std::vector<int64_t>{2, 3});
    CHECK(a.dtype == dtype);
    for (size_t i = 0; i < data.size(); ++i) CHECK(a.data[i] == Approx(data[i]).epsilon(1e-7));
    std::remove(path.c_str());
  }
}

TEST_CASE("bad npy files are refused with a reason", "[npy]") {
  mixc::NpyArray a;
  CHECK(mixc::readNpy("/nonexistent/x.npy", a).find("cannot open") != std::string::npos);
  std::string path = "/tmp/mixc-npy-bad.npy";
  { std::ofstream(path) << "not a numpy file"; }
  CHECK(mixc::readNpy(path, a).find("is not a .npy file") != std::string::npos);
  // A valid header with an unsigned integer dtype.
  std::vector<double> d = {1};
  REQUIRE(mixc::writeNpy(path, {1}, d, "f4").empty());
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(f)), {});
    all.replace(all.find("<f4"), 3, "<u4");
    f.seekp(0);
    f << all;
  }
  CHECK(mixc::readNpy(path, a).find("is not supported") != std::string::npos);
  std::remove(path.c_str());
}
