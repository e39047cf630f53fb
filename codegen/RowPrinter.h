// Prints the pre-processing of one row (b, t, h) of a mixer function as C++
// statements: pointwise chains inlined into one loop, feature maps and
// reductions through the row helpers that both tile libraries define
// (runtime/cpu/mixc_cpu.h, runtime/cuda/mixc_cuda.cuh). The same text is a
// lambda body on the CPU and device code on the GPU; only the leaves (inputs,
// per-head values, scan results) differ per target.
#ifndef MIXC_CODEGEN_ROWPRINTER_H
#define MIXC_CODEGEN_ROWPRINTER_H

#include "dialect/MixerOps.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace mixc {

const char *unaryExpr(mixer::UnaryFn fn);   // in `x`; null for non-pointwise maps
const char *binaryExpr(mixer::BinaryFn fn); // in `a`, `b`; null for dot, vecmat, concat
std::string floatLiteral(double x);
/// d y / d x of a pointwise map y = f(x), in `x` and `y`; null for the maps over rows.
const char *unaryDerivative(mixer::UnaryFn fn);
/// The partial derivative of a pointwise f(a, b) by operand 0 (a) or 1 (b), in `a` and `b`.
const char *binaryDerivative(mixer::BinaryFn fn, int operand);

class RowPrinter {
public:
  explicit RowPrinter(llvm::raw_ostream &os) : os(os) {}
  virtual ~RowPrinter() = default;

  /// A value varies per token when it is (or is computed from) a per-token
  /// input; a scan's output o also has a row per token.
  static bool isToken(mlir::Value v);
  /// A per-token value computed whole before the rows read it (a scan's o,
  /// a gradient, the adjoint's shifted tokens): not a map, binary or normalize.
  static bool isMaterializedToken(mlir::Value v);
  /// Feature width of one row: the dimensions after [B, T, H] (or [1, 1, H]).
  static int64_t rowWidth(mlir::Value v);

  /// The name of a float array holding `v`'s row; with `dest`, a value
  /// computed here is written straight into that array.
  std::string rowOf(mlir::Value v, const std::string &dest = "");
  /// An expression for element `j` of `v`'s row (pointwise ops used once inline).
  std::string rowExpr(mlir::Value v, const std::string &j);
  /// An operand of a pointwise op at `j`; a scalar chain under a wide op is
  /// computed once, before the loop.
  std::string operandExpr(mlir::Value x, bool wide, const std::string &j);
  void clearRows() {
    rows.clear();
    preferredDest.clear();
  }
  /// Makes `v`, if it is computed here, be written straight into `dest`
  /// whenever it is first needed (also as another row's operand), so that
  /// the array a consumer reads needs no copy. The first call for a value wins.
  void preferDest(mlir::Value v, const std::string &dest) { preferredDest.try_emplace(v, dest); }

protected:
  /// Whether `v` is read (or pointed at) as a whole rather than computed
  /// here: by default inputs, per-head values and scan results.
  virtual bool isLeaf(mlir::Value v);
  /// Declares the row array of a leaf (an input, a per-head value, a scan
  /// result) named `n`, of width `w`, or makes `n` point at it.
  virtual void leaf(mlir::Value v, const std::string &n, int64_t w, const std::string &dest) = 0;
  /// The matrix operand of vecmatRow (a per-head parameter W [D, F]): by
  /// default its row, a pointer to head h's block.
  virtual std::string matrixRow(mlir::Value w) { return rowOf(w); }
  std::string fresh(const char *prefix) { return prefix + std::to_string(counter++); }
  /// Declares `n` as a row array of width `w`, or as a pointer to `dest`.
  void declare(const std::string &n, int64_t w, const std::string &dest);

  llvm::raw_ostream &os;
  llvm::DenseMap<mlir::Value, std::string> rows;
  llvm::DenseMap<mlir::Value, std::string> preferredDest;
  int counter = 0;
  std::string indent = "    ";
};

} // namespace mixc

#endif
