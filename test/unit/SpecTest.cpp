// The spec library on hostile input: every input ends in a result or an error.
#include "frontend/spec/Analysis.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

using namespace mixc::spec;

TEST_CASE("deep nesting is an error, not a stack overflow", "[spec]") {
  std::string deep = "mixer m(q[K], k[K], v[V]) {\n  S = S + k v^T\n  o = S^T q * " + std::string(100000, '(') + "1" +
                     std::string(100000, ')') + "\n}\n";
  AnalysisResult r = analyze({"deep.mixer", deep});
  REQUIRE(!r.desc);
  CHECK(r.error.find("deep.mixer:3:") == 0);
  CHECK(r.error.find("nested too deeply") != std::string::npos);
}

TEST_CASE("random bytes and truncations never crash", "[spec]") {
  const std::string good = "mixer gdn(q[K], k[K], v[V], g, beta) {\n  k = l2norm(k)\n"
                           "  S = exp(g) * (I - beta * k k^T) S + beta * k v^T\n  o = S^T q * K^-0.5\n}\n";
  REQUIRE(analyze({"good.mixer", good}).desc);
  std::mt19937 rng(3);
  for (size_t cut = 0; cut < good.size(); ++cut) {
    AnalysisResult r = analyze({"cut.mixer", good.substr(0, cut)});
    CHECK((r.desc.has_value() || r.error.find("cut.mixer:") == 0));
  }
  for (int i = 0; i < 2000; ++i) {
    std::string s = good;
    for (int j = 0; j < 3; ++j) s[rng() % s.size()] = (char)(rng() % 256);
    AnalysisResult r = analyze({"mut.mixer", s});
    CHECK((r.desc.has_value() || r.error.find("mut.mixer:") == 0));
  }
}

TEST_CASE("constants fold with the sizes", "[spec]") {
  AnalysisResult r = analyze({"s.mixer", "mixer m(q[K], k[K], v[V]) {\n S = S + k v^T\n o = S^T q * K^-0.5 / 2\n}\n"});
  REQUIRE(r.desc);
  Sizes sizes;
  sizes.K = 16;
  CHECK(evalConst(*r.desc, r.desc->scale, sizes) == Approx(0.125));
}

TEST_CASE("inputs the fuzzer once crashed on are handled", "[spec]") {
  int n = 0;
  for (const auto &entry : std::filesystem::directory_iterator(MIXC_FUZZ_REGRESSIONS)) {
    std::ifstream f(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    AnalysisResult r = analyze({"regression.mixer", ss.str()});
    CHECK((r.desc.has_value() || r.error.find("regression.mixer:") == 0));
    ++n;
  }
  CHECK(n > 0);
}
