// Semantic analysis of a spec: shapes, the pre-processing DAG, and the
// transition structure found from the state update, MLIR-free.
#ifndef MIXC_FRONTEND_SPEC_ANALYSIS_H
#define MIXC_FRONTEND_SPEC_ANALYSIS_H

#include "frontend/spec/AST.h"

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace mixc::spec {

/// Feature dimensions: keys K, values V, a learned feature width F (the
/// columns of a `param W[K, F]`), Taylor = 1 + K + K^2 after taylor2, One for
/// the K = 1 state of an elementwise vector recurrence (HGRN), and K2 / F2 for
/// two rows of K or F side by side (concat).
enum class Dim { K, V, F, Taylor, One, K2, F2 };
/// How a value varies: a literal constant, per head, or per token.
enum class Var { Const, Head, Token };

/// One node of the per-token pre-processing DAG (hash-consed: equal
/// expressions are one node, which is how the analysis compares them).
struct Node {
  enum Kind { Input, Param, Const, DimValue, HeadIndex, Unary, Binary };
  Kind kind;
  std::string name; // Input / Param / DimValue ("K", "V", "H"); Unary / Binary: the function
  double value = 0; // Const
  int a = -1, b = -1;
  std::vector<Dim> dims; // feature dims: {} scalar, {K} vector, {K, V} matrix
  Var var = Var::Const;
  Loc loc;
  // A [V] vector times a [K, V] matrix: only valid as the elementwise decay.
  bool columnBroadcast = false;
  // Per routed row (one per token and memory it chose) rather than per token.
  bool routed = false;
};

struct Argument {
  std::string name;
  bool isParam;
  int node;
  bool grouped = false; // a per-token input with one row per group of G heads
  bool routed = false;  // a per-token input with one row per memory the token chose
};

/// Concrete sizes, needed only to fold constants such as K^-0.5.
struct Sizes {
  int64_t H = 4, K = 64, V = 64;
  int64_t F = 0; // the learned feature width of `param W[K, F]`; 0: not given (then K)
  int64_t G = 1; // heads per group: `grouped` inputs have H / G heads
};

/// What the frontend found: everything MLIR emission needs.
struct MixerDesc {
  std::string name;
  std::string structure;        // identity | const_scalar | scalar | vector | elementwise | dplr
  std::string dplrDiag = "none"; // dplr only: none | scalar | vector
  std::string direction = "forward";
  std::string normalizer = "none"; // none | sum | mlstm
  Dim keyDim = Dim::K;
  // A deque: references to nodes stay valid while the analysis adds more.
  std::deque<Node> nodes;
  std::vector<Argument> args; // spec inputs and parameters, in declaration order
  int q = -1, k = -1, v = -1, decay = -1, dt = -1, a = -1, b = -1, igate = -1, bonus = -1,
      skipWeight = -1, skipInput = -1;
  int scale = -1, eps = -1; // constant nodes
  Loc stateLoc;
  std::vector<std::string> stateNames; // the matrix state, then normalizer and stabilizer
  // Mixture-of-Memories (`memories M top k`): 0 for a plain mixer.
  int64_t memories = 0, topk = 0;
};

struct AnalysisResult {
  std::optional<MixerDesc> desc;
  std::string error; // rendered `file:line:col: error: ...`, empty on success
};

/// Parses and analyzes a spec; never throws, never aborts.
AnalysisResult analyze(const SourceFile &src);

/// Folds a constant node (numbers, K, V, H and functions of them).
double evalConst(const MixerDesc &desc, int node, const Sizes &sizes);
/// The size of a feature dimension.
int64_t dimSize(Dim d, const Sizes &sizes);
const char *dimName(Dim d);
/// Whether any value of the spec has the feature dimension `d` (a spec that
/// uses F needs its size).
bool usesDim(const MixerDesc &desc, Dim d);
/// A human-readable account of the recognized structure, for `mixc check`.
std::string describe(const MixerDesc &desc);

} // namespace mixc::spec

#endif
